/*
 * value.c - parsing, checking and formatting of data values and keys.
 */
#include "value.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool code_chars(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= max)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

bool element_code_valid(const char *s)
{
    return s && code_chars(s, ELEMENT_CODE_MAX);
}

bool unit_code_valid(const char *s)
{
    return s && code_chars(s, UNIT_CODE_MAX);
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool period_valid(const char *s)
{
    if (!s || strlen(s) < 4 || !digits(s, 4) || s[0] != '2' || s[1] != '0')
        return false;
    const char *t = s + 4;
    if (*t == '\0')
        return true;
    if (t[0] == 'Q')
        return t[1] >= '1' && t[1] <= '4' && t[2] == '\0';
    if (t[0] == '-' && digits(t + 1, 2) && t[3] == '\0') {
        int m = (t[1] - '0') * 10 + (t[2] - '0');
        return m >= 1 && m <= 12;
    }
    return false;
}

bool origin_valid(const char *s)
{
    if (!s)
        return false;
    if (strcmp(s, ORIGIN_HUB) == 0)
        return true;
    size_t n = strlen(s);
    if (n != AGENT_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int key_check(const char *unit, const char *element, const char *period, struct dti_err *e)
{
    if (!unit_code_valid(unit))
        return dti_errf(e, DTI_EUNIT, "invalid unit code '%s'", unit ? unit : "");
    if (!element_code_valid(element))
        return dti_errf(e, DTI_EELEMENT,
                        "invalid element code '%s': 1-64 letters, digits, '.', '_' or '-'",
                        element ? element : "");
    if (!period_valid(period))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s': expected YYYY, YYYYQn or YYYY-MM",
                        period ? period : "");
    return 0;
}

static int text_check(const char *s, struct dti_err *e)
{
    size_t n = strlen(s);
    if (n == 0)
        return dti_errf(e, DTI_EVALUE, "empty value");
    if (n > VALUE_TEXT_MAX)
        return dti_errf(e, DTI_EVALUE, "text value longer than %d bytes", VALUE_TEXT_MAX);
    if (!utf8_valid_text(s, n))
        return dti_errf(e, DTI_EVALUE, "text value is not valid UTF-8");
    return 0;
}

int value_parse(const char *s, struct value *v, struct dti_err *e)
{
    memset(v, 0, sizeof(*v));
    if (!s || !*s)
        return dti_errf(e, DTI_EVALUE, "empty value");
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "có")) {
        v->kind = VALUE_BOOL;
        v->b = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "không")) {
        v->kind = VALUE_BOOL;
        v->b = false;
        return 0;
    }
    double d;
    if (parse_double(s, &d) == 0) {
        v->kind = VALUE_NUMBER;
        v->num = d == 0 ? 0.0 : d; /* no negative zero */
        return 0;
    }
    int r = text_check(s, e);
    if (r < 0)
        return r;
    v->kind = VALUE_TEXT;
    v->text = s;
    return 0;
}

int value_check(const struct value *v, struct dti_err *e)
{
    switch (v->kind) {
    case VALUE_NUMBER:
        if (!isfinite(v->num))
            return dti_errf(e, DTI_EVALUE, "number is not finite");
        return 0;
    case VALUE_BOOL:
        return 0;
    case VALUE_TEXT:
        return v->text ? text_check(v->text, e) : dti_errf(e, DTI_EVALUE, "missing text");
    case VALUE_NONE:
        break;
    }
    return dti_errf(e, DTI_EVALUE, "missing value");
}

void value_format_number(double d, char out[32])
{
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(out, 32, "%.0f", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

void value_format(const struct value *v, char *out, size_t n)
{
    char num[32];
    switch (v->kind) {
    case VALUE_NUMBER:
        value_format_number(v->num, num);
        snprintf(out, n, "%s", num);
        break;
    case VALUE_BOOL:
        snprintf(out, n, "%s", v->b ? "true" : "false");
        break;
    case VALUE_TEXT:
        snprintf(out, n, "%s", v->text);
        break;
    case VALUE_NONE:
        snprintf(out, n, "%s", "");
        break;
    }
}

bool value_equal(const struct value *a, const struct value *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case VALUE_NUMBER:
        return a->num == b->num;
    case VALUE_BOOL:
        return a->b == b->b;
    case VALUE_TEXT:
        return strcmp(a->text, b->text) == 0;
    case VALUE_NONE:
        return true;
    }
    return false;
}

const char *value_kind_name(enum value_kind k)
{
    switch (k) {
    case VALUE_NUMBER:
        return "number";
    case VALUE_BOOL:
        return "boolean";
    case VALUE_TEXT:
        return "text";
    case VALUE_NONE:
        break;
    }
    return "none";
}
