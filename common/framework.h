/*
 * framework.h - an indicator framework: the JSON file that says, for one level
 * (commune, district, department, province) and one period, which data
 * elements a unit reports, how they turn into points (main indicators ->
 * components -> scoring methods), how indicators group into pillars, and the
 * bands a DTI value falls in. Frameworks are data, never code; the format is
 * in docs/internals/SCORING.md.
 *
 * framework_parse validates a whole file and reports every problem it finds
 * (path, message, line when known) into a caller-owned list, or returns a
 * framework that is consistent: every code unique, every reference resolved,
 * every sum adding up. A parsed framework is a plain, read-only value: callers
 * walk its arrays directly. It owns all its strings; framework_free frees it.
 *
 * Pure: no I/O, no clock, no logging. The scoring engine is score.h.
 */
#ifndef DTI_FRAMEWORK_H
#define DTI_FRAMEWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "value.h"

/* Ceilings on what a framework file may hold; past one, the file is refused. */
#define FRAMEWORK_FILE_MAX (4u << 20) /* bytes of JSON */
#define FRAMEWORK_ELEMENTS_MAX 4096
#define FRAMEWORK_INDICATORS_MAX 256
#define FRAMEWORK_COMPONENTS_MAX 4096 /* over all indicators */
#define FRAMEWORK_GROUPS_MAX 64       /* pillars, and groups, each */
#define FRAMEWORK_BANDS_MAX 32
#define FRAMEWORK_CATEGORIES_MAX 256 /* per element */
#define FRAMEWORK_TIERS_MAX 64
#define FRAMEWORK_CHECKS_MAX 64
#define FRAMEWORK_NAME_MAX 500  /* bytes of UTF-8 in a name */
#define FRAMEWORK_TEXT_MAX 2000 /* bytes of UTF-8 in a description, evidence, ... */
#define FW_PROBLEMS_MAX 200     /* problems kept; one more says there were more */

enum fw_level {
    FW_LEVEL_COMMUNE,
    FW_LEVEL_DISTRICT,
    FW_LEVEL_DEPARTMENT,
    FW_LEVEL_PROVINCE,
};

enum fw_type {
    FW_TYPE_INTEGER,  /* a number without fraction */
    FW_TYPE_NUMBER,   /* any finite number */
    FW_TYPE_PERCENT,  /* a number, bounds 0..100 unless given */
    FW_TYPE_BOOLEAN,  /* true / false */
    FW_TYPE_CATEGORY, /* one of a listed set of codes */
    FW_TYPE_TEXT,     /* free text (document numbers, notes) */
};

/* How the level above combines the element over its units (a hint for roll-ups). */
enum fw_aggregate {
    FW_AGG_NONE,
    FW_AGG_SUM,
    FW_AGG_MEAN,
    FW_AGG_WEIGHTED_MEAN, /* weighted by another element: fw_element.weight */
};

enum fw_method_kind {
    FW_METHOD_NONE, /* informational component without a method */
    FW_METHOD_RATIO,
    FW_METHOD_TIERS,
    FW_METHOD_CATEGORICAL,
    FW_METHOD_CHECKS,
    FW_METHOD_BOOLEAN,
    FW_METHOD_VALUE,
};

struct fw_category {
    const char *code; /* what a unit reports */
    const char *name; /* label for people; NULL when the file gave only the code */
};

struct fw_element {
    const char *code; /* element_code_valid */
    const char *name;
    const char *description; /* NULL if absent */
    enum fw_type type;
    bool has_min, has_max; /* numeric types only; percent always has both */
    double min, max;
    struct fw_category *categories; /* FW_TYPE_CATEGORY only, >= 1 */
    size_t ncategories;
    enum fw_aggregate aggregate;
    size_t weight; /* FW_AGG_WEIGHTED_MEAN: index of the weighting element */
};

struct fw_tier {
    double threshold; /* tiers are sorted by threshold, strictly descending */
    double points;
};

struct fw_category_points {
    const char *category; /* one of the input element's category codes */
    size_t index;         /* ... and its index in that element's categories */
    double fraction;      /* 0..1 of the component's max points */
};

struct fw_method {
    enum fw_method_kind kind;
    /* Element indices read: ratio [numerator, denominator]; checks the listed
     * booleans; tiers, categorical, boolean and value [input]; none []. */
    size_t *inputs;
    size_t ninputs;
    bool has_target; /* ratio: ratio at which full points are reached */
    double target;
    bool zero_full; /* ratio: a zero denominator earns full points (default 0) */
    struct fw_tier *tiers;
    size_t ntiers;
    struct fw_category_points *map; /* categorical, in file order */
    size_t nmap;
};

struct fw_component {
    const char *code; /* unique over the framework */
    const char *name;
    const char *description, *evidence, *supplied_by, *verified_by; /* NULL if absent */
    double max_points; /* 0: informational, not scored */
    size_t indicator;  /* index of its main indicator */
    struct fw_method method;
};

struct fw_indicator {
    const char *code;
    const char *name;
    const char *description; /* NULL if absent */
    double max_points;       /* sum of its components'; 0: not scored */
    size_t first_component;  /* its components are components[first .. first + n) */
    size_t ncomponents;
};

/* A pillar (digital government, economy, society) or a group: a named set of
 * main indicators. Sets may overlap. */
struct fw_group {
    const char *code;
    const char *name;
    size_t *indicators; /* indices, in file order */
    size_t nindicators;
    double max_points; /* sum of the indicators' max points */
};

struct fw_band {
    const char *name;
    double min; /* a DTI value >= min falls in this band; sorted descending, last 0 */
};

struct framework {
    const char *id; /* element_code_valid syntax, e.g. "ninh-thuan-commune-2023" */
    const char *name;
    const char *description; /* NULL if absent */
    enum fw_level level;
    const char *period; /* period_valid */
    double max_points;  /* sum of the indicators' max points, > 0 */
    struct fw_element *elements;
    size_t nelements;
    struct fw_indicator *indicators;
    size_t nindicators;
    struct fw_component *components; /* all of them, indicator by indicator */
    size_t ncomponents;
    struct fw_group *pillars;
    size_t npillars;
    struct fw_group *groups;
    size_t ngroups;
    struct fw_band *bands; /* may be empty: no bands */
    size_t nbands;
    size_t *by_code;  /* element indices in code order (strcmp) */
    size_t *required; /* distinct elements read by scored components, in code order */
    size_t nrequired;
    uint8_t hash[CRYPTO_SHA256_LEN]; /* framework_hash */
    void *doc;                       /* private: the parsed document that owns the strings */
};

/* One problem in a framework file. */
struct fw_problem {
    char *path;    /* JSON path, e.g. "indicators[2].components[0].method.input"; "" = file */
    char *message; /* lower case, no full stop */
    int line;      /* 1-based; 0 when not known */
};

/* A caller-owned list of problems: zero-initialise, pass to framework_parse,
 * then fw_problems_release. Holds at most FW_PROBLEMS_MAX + 1 entries. */
struct fw_problems {
    struct fw_problem *items;
    size_t n, cap;
    char *source; /* source_name of the last parse; NULL if none */
};

/*
 * Parse and fully validate a framework file of len bytes (a UTF-8 BOM is
 * skipped). source_name (borrowed; e.g. the file name) is only used to label
 * problems. On success *out is a new framework the caller frees with
 * framework_free. Otherwise every problem found is appended to probs (if not
 * NULL) and the code is DTI_EPARSE (malformed or inconsistent) or
 * DTI_ETOOBIG (over FRAMEWORK_FILE_MAX or another ceiling); *out is untouched.
 */
int framework_parse(const char *text, size_t len, const char *source_name, struct framework **out,
                    struct fw_problems *probs);
/* Free a framework; NULL is a no-op. */
void framework_free(struct framework *fw);

/* Free the entries of probs; the list is empty and reusable afterwards. */
void fw_problems_release(struct fw_problems *probs);
/* Problem i as "SOURCE:LINE: PATH: MESSAGE" (parts that are unknown are left out) into out. */
void fw_problem_format(const struct fw_problems *probs, size_t i, char *out, size_t n);

/* The framework's content hash: SHA-256 of the parsed document as canonical
 * JSON (sorted keys, compact). Identical content gives the identical hash
 * whatever the formatting or key order of the file. */
void framework_hash(const struct framework *fw, uint8_t out[CRYPTO_SHA256_LEN]);

/* Index of the element with this code. true and *index, or false. O(log n). */
bool framework_find_element(const struct framework *fw, const char *code, size_t *index);
/* Index of the main indicator / component with this code. true and *index, or false. */
bool framework_find_indicator(const struct framework *fw, const char *code, size_t *index);
bool framework_find_component(const struct framework *fw, const char *code, size_t *index);

/*
 * Check a value for entry into element `element`: 0, DTI_EELEMENT (not in
 * the framework) or DTI_EVALUE naming what is wrong, e.g. "so_cuoc_hop 400 is
 * above the maximum 366", "co_ke_hoach expects a boolean, got number". Text
 * elements take any value; category elements take one of their codes (a
 * number matches the code it is written as). VALUE_NONE (not collected) is
 * always acceptable.
 */
int framework_check_value(const struct framework *fw, const char *element, const struct value *v,
                          struct dti_err *e);
/* Index of the category of element el that v names, or -1. */
long fw_element_category(const struct fw_element *el, const struct value *v);

/* "commune", "district", "department", "province". */
const char *fw_level_name(enum fw_level level);
/* The level named s. 0 or DTI_EINVAL. */
int fw_level_parse(const char *s, enum fw_level *out);
/* "integer", "number", "percent", "boolean", "category", "text". */
const char *fw_type_name(enum fw_type type);
/* "none", "ratio", "tiers", "categorical", "checks", "boolean", "value". */
const char *fw_method_name(enum fw_method_kind kind);
/* "none", "sum", "mean", "weighted_mean". */
const char *fw_aggregate_name(enum fw_aggregate agg);

#endif
