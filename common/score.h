/*
 * score.h - the one scoring engine: a framework and one unit's inputs in,
 * points per component, main indicator, pillar and group, the total, the DTI
 * value, band, completeness and an input hash out. The agent's provisional
 * self-assessment and the hub's authoritative score both call score_unit, so
 * they agree to the last digit on the same inputs.
 *
 * Pure: no I/O, no clock, no globals, no logging. The only allocation that
 * outlives a call is the result, which the caller frees.
 *
 * Determinism: every figure is computed in one fixed order (components in
 * framework order). Each component's points are rounded to 4 decimal places
 * (half away from zero, on the value scaled by 10^4: round(x * 1e4) / 1e4) and
 * the sums - indicator, pillar, group, total - add the rounded numbers in
 * framework order and are rounded the same way, which only removes binary
 * noise. Values (points / max) are not rounded. docs/internals/SCORING.md has
 * the formulas.
 */
#ifndef DTI_SCORE_H
#define DTI_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "framework.h"
#include "value.h"

/* Why a component earned what it did. */
enum score_note {
    SCORE_OK,               /* scored from its inputs */
    SCORE_MISSING,          /* an input was not collected: 0 (checks: the ones met) */
    SCORE_ZERO_DENOMINATOR, /* ratio with denominator 0: 0, or max with "zero_denominator": "full"
                             */
    SCORE_CAPPED,           /* the method gave more than the max: capped at max */
    SCORE_UNKNOWN_CATEGORY, /* categorical value that is not a category of the element: 0 */
    SCORE_INVALID,          /* an input of the wrong kind (e.g. text for a number): 0 */
    SCORE_INFORMATIONAL,    /* max_points 0: not scored */
};

struct score_component {
    double points;    /* 0..max, rounded to 4 decimals */
    double max;       /* the component's max_points */
    unsigned missing; /* inputs of this component not collected */
    enum score_note note;
};

struct score_indicator {
    double points; /* sum of its components' points */
    double max;
    double value; /* points / max; 0 when not scored */
    bool scored;  /* max > 0 */
};

/* A pillar or a group. */
struct score_group {
    double points; /* sum of its indicators' points */
    double max;
    double value; /* points / max; 0 when max is 0 */
};

/* The score of one unit. Arrays are parallel to the framework's
 * (components[i] is fw->components[i], ...). */
struct score_result {
    struct score_component *components;
    size_t ncomponents;
    struct score_indicator *indicators;
    size_t nindicators;
    struct score_group *pillars;
    size_t npillars;
    struct score_group *groups;
    size_t ngroups;
    double points;          /* total */
    double max;             /* fw->max_points */
    double dti;             /* points / max */
    long band;              /* index into fw->bands, or -1 when the framework has none */
    const char *band_name;  /* fw->bands[band].name (borrowed from fw), or NULL */
    size_t inputs_required; /* distinct elements read by scored components */
    size_t inputs_present;  /* ... of which collected (not VALUE_NONE) */
    double completeness;    /* present / required; 1 when nothing is required */
    uint8_t input_hash[CRYPTO_SHA256_LEN];
};

/*
 * Score one unit. inputs has fw->nelements entries, parallel to fw->elements;
 * VALUE_NONE means not collected (scores 0, reported missing; a reported 0 is
 * not missing). Values are expected to have passed framework_check_value; a
 * value of the wrong kind scores 0 with SCORE_INVALID, never crashes. *out is
 * a new result the caller frees with score_result_free; it borrows band_name
 * from fw. Always 0 (out of memory aborts).
 */
int score_unit(const struct framework *fw, const struct value *inputs, struct score_result **out);
/* Free a result; NULL is a no-op. */
void score_result_free(struct score_result *r);

/*
 * The input hash alone (score_unit fills result->input_hash with it): SHA-256
 * over "dtisync-score-inputs-v1\0", the framework hash, then for every element
 * in code order its code, a NUL and its value: 0x00 not collected; 0x01 and
 * the number as 8 bytes of big-endian IEEE 754 binary64 (-0 as 0); 0x02 and
 * one byte 0/1 for a boolean; 0x03, a 4-byte big-endian length and the bytes
 * of a text.
 */
void score_input_hash(const struct framework *fw, const struct value *inputs,
                      uint8_t out[CRYPTO_SHA256_LEN]);

/* x rounded to 4 decimal places, half away from zero: round(x * 1e4) / 1e4. */
double score_round4(double x);

/*
 * Competition ranking ("1224"): ranks[i] = 1 + the number of values strictly
 * greater than values[i], both rounded with score_round4 first, so values
 * equal to 4 decimals share a rank and the next rank is skipped. values must
 * be finite; n <= UINT_MAX. Uses a scratch array of n entries (xmalloc).
 */
void score_rank(const double *values, size_t n, unsigned *ranks);
/*
 * Rank all n values (rank_all) and, separately, the values that share a group
 * (rank_group: groups[i] names i's group, e.g. its parent unit); group_size,
 * if not NULL, gets the size of i's group. Same rule as score_rank.
 */
void score_rank_grouped(const double *values, const char *const *groups, size_t n,
                        unsigned *rank_all, unsigned *rank_group, size_t *group_size);

/* "ok", "missing", "zero_denominator", "capped", "unknown_category", "invalid",
 * "informational". */
const char *score_note_name(enum score_note note);

#endif
