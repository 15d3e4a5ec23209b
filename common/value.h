/*
 * value.h - a data value and the identifiers of the data model: unit codes,
 * element codes and periods. Plain types; the text of a value is borrowed.
 *
 * "Not collected" is the absence of a value (VALUE_NONE), never zero.
 */
#ifndef DTI_VALUE_H
#define DTI_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define VALUE_TEXT_MAX 2000 /* bytes of UTF-8 in a text value */
#define ELEMENT_CODE_MAX 64
#define UNIT_CODE_MAX 32
#define PERIOD_MAX 7     /* "2023-01" */
#define AUTHOR_MAX 200   /* bytes of UTF-8 */
#define COMMENT_MAX 2000 /* bytes of UTF-8 */
#define AGENT_ID_LEN 16  /* lowercase hex */
#define ORIGIN_HUB "hub" /* origin of versions made by the hub operator */

enum value_kind {
    VALUE_NONE = 0, /* not collected */
    VALUE_NUMBER,
    VALUE_BOOL,
    VALUE_TEXT,
};

struct value {
    enum value_kind kind;
    double num;       /* VALUE_NUMBER: finite */
    bool b;           /* VALUE_BOOL */
    const char *text; /* VALUE_TEXT: borrowed, valid UTF-8, <= VALUE_TEXT_MAX bytes */
};

/*
 * Read a value as a person types it: "true"/"false" (also "có"/"không",
 * "yes"/"no") are booleans, a plain decimal ("12", "-3.5", "1e3") is a
 * number, anything else is text. v->text points into s. 0 or DTI_EVALUE
 * (empty, too long, not UTF-8) with the reason in e.
 */
int value_parse(const char *s, struct value *v, struct dti_err *e);
/* Validate a value that arrived from the wire. 0 or DTI_EVALUE. */
int value_check(const struct value *v, struct dti_err *e);
/* Canonical text: numbers in the shortest form that reads back exactly
 * ("12", "0.1", "1e+21"), booleans "true"/"false", text as is. */
void value_format(const struct value *v, char *out, size_t n);
/* Number as shortest round-trip decimal into out (>= 32 bytes). */
void value_format_number(double d, char out[32]);
/* True when a and b are the same kind and the same value. */
bool value_equal(const struct value *a, const struct value *b);
/* "number", "boolean", "text" or "none". */
const char *value_kind_name(enum value_kind k);

/* 1-64 characters of [A-Za-z0-9._-]. */
bool element_code_valid(const char *s);
/* 1-32 characters of [A-Za-z0-9._-]. */
bool unit_code_valid(const char *s);
/* "2023", "2023Q1".."2023Q4", "2023-01".."2023-12"; years 2000-2099. */
bool period_valid(const char *s);
/* 16 lowercase hex characters, or "hub". */
bool origin_valid(const char *s);

/* Check element, unit and period together, naming the bad one in e.
 * 0, DTI_EELEMENT, DTI_EUNIT or DTI_EPERIOD. */
int key_check(const char *unit, const char *element, const char *period, struct dti_err *e);

#endif
