/*
 * template.c - the fill-in template (see template.h): rows of RFC 4180 CSV,
 * UTF-8 with a BOM, CRLF.
 */
#include "template.h"
#include "csv.h"
#include "util.h"
#include "value.h"

#include <stdbool.h>
#include <string.h>

const char *const template_columns[TEMPLATE_COLUMNS] = {
    "unit", "element",  "period",   "value",  "comment",    "author", "ten_chi_tieu",
    "kieu", "gioi_han", "bat_buoc", "chi_so", "minh_chung", "mo_ta",
};

/* The type as an officer reads it. */
static const char *type_label(enum fw_type t)
{
    switch (t) {
    case FW_TYPE_INTEGER:
        return "số nguyên";
    case FW_TYPE_NUMBER:
        return "số";
    case FW_TYPE_PERCENT:
        return "tỷ lệ %";
    case FW_TYPE_BOOLEAN:
        return "có/không";
    case FW_TYPE_CATEGORY:
        return "danh mục";
    case FW_TYPE_TEXT:
        return "văn bản";
    }
    return "";
}

/* A cell read back by 'dti-agent import' (codes, value, comment, author): exact. */
static int put_cell(struct buf *out, const char *s, size_t max, bool first)
{
    return csv_put(out, s, first, false, max);
}

/* A helper cell people only read (names, bounds, evidence): never run as a formula. */
static int put_note(struct buf *out, const char *s, size_t max)
{
    return csv_put(out, s, false, true, max);
}

static void put_number(struct buf *b, double d)
{
    char num[32];
    value_format_number(d, num);
    buf_puts(b, num);
}

/* gioi_han: what may be typed. */
static void bounds(struct buf *b, const struct fw_element *el)
{
    switch (el->type) {
    case FW_TYPE_INTEGER:
    case FW_TYPE_NUMBER:
    case FW_TYPE_PERCENT:
        if (el->has_min && el->has_max) {
            put_number(b, el->min);
            buf_puts(b, "..");
            put_number(b, el->max);
        } else if (el->has_min) {
            buf_puts(b, "≥ ");
            put_number(b, el->min);
        } else if (el->has_max) {
            buf_puts(b, "≤ ");
            put_number(b, el->max);
        }
        break;
    case FW_TYPE_BOOLEAN:
        buf_puts(b, "có / không");
        break;
    case FW_TYPE_CATEGORY:
        for (size_t k = 0; k < el->ncategories; k++) {
            buf_printf(b, "%s%s", k ? "; " : "", el->categories[k].code);
            if (el->categories[k].name)
                buf_printf(b, " = %s", el->categories[k].name);
        }
        break;
    case FW_TYPE_TEXT:
        break;
    }
}

static bool reads(const struct fw_component *c, size_t element)
{
    for (size_t k = 0; k < c->method.ninputs; k++)
        if (c->method.inputs[k] == element)
            return true;
    return false;
}

static bool is_required(const struct framework *fw, size_t element)
{
    for (size_t k = 0; k < fw->nrequired; k++)
        if (fw->required[k] == element)
            return true;
    return false;
}

/* A figure held, as it reads back through value_parse (booleans in Vietnamese). */
static void held_value(const struct value *v, char *out, size_t n)
{
    if (v->kind == VALUE_BOOL)
        snprintf(out, n, "%s", v->b ? "có" : "không");
    else if (v->kind == VALUE_NONE)
        out[0] = '\0';
    else
        value_format(v, out, n);
}

static int put_row(struct buf *out, const struct framework *fw, size_t i, const char *unit,
                   const char *period, const struct preview_inputs *held, struct buf *scratch)
{
    const struct fw_element *el = &fw->elements[i];
    char value[VALUE_TEXT_MAX + 1] = "";
    const char *comment = "", *author = "";
    if (held && i < held->n && held->values[i].kind != VALUE_NONE) {
        held_value(&held->values[i], value, sizeof(value));
        comment = held->comments[i] ? held->comments[i] : "";
        author = held->authors[i] ? held->authors[i] : "";
    }
    int r;
    if ((r = put_cell(out, unit, UNIT_CODE_MAX, true)) < 0 ||
        (r = put_cell(out, el->code, ELEMENT_CODE_MAX, false)) < 0 ||
        (r = put_cell(out, period, PERIOD_MAX, false)) < 0 ||
        (r = put_cell(out, value, VALUE_TEXT_MAX, false)) < 0 ||
        (r = put_cell(out, comment, COMMENT_MAX, false)) < 0 ||
        (r = put_cell(out, author, AUTHOR_MAX, false)) < 0 ||
        (r = put_note(out, el->name, FRAMEWORK_NAME_MAX)) < 0 ||
        (r = put_note(out, type_label(el->type), TEMPLATE_HELPER_MAX)) < 0)
        return r;
    buf_reset(scratch);
    bounds(scratch, el);
    if ((r = put_note(out, scratch->data ? (char *)scratch->data : "", TEMPLATE_HELPER_MAX)) < 0 ||
        (r = put_cell(out, is_required(fw, i) ? "có" : "không", TEMPLATE_HELPER_MAX, false)) < 0)
        return r;
    /* chi_so: the components that read the element; minh_chung: their evidence */
    buf_reset(scratch);
    for (size_t c = 0; c < fw->ncomponents; c++)
        if (reads(&fw->components[c], i))
            buf_printf(scratch, "%s%s", scratch->len ? "; " : "", fw->components[c].code);
    if ((r = put_note(out, scratch->data ? (char *)scratch->data : "", TEMPLATE_HELPER_MAX)) < 0)
        return r;
    buf_reset(scratch);
    for (size_t c = 0; c < fw->ncomponents; c++)
        if (reads(&fw->components[c], i) && fw->components[c].evidence)
            buf_printf(scratch, "%s%s: %s", scratch->len ? " | " : "", fw->components[c].code,
                       fw->components[c].evidence);
    if ((r = put_note(out, scratch->data ? (char *)scratch->data : "", TEMPLATE_HELPER_MAX)) < 0 ||
        (r = put_note(out, el->description ? el->description : "", TEMPLATE_HELPER_MAX)) < 0)
        return r;
    return buf_puts(out, "\r\n");
}

int template_build(struct buf *out, const struct framework *fw, const char *unit,
                   const char *period, const struct preview_inputs *held)
{
    struct buf scratch;
    buf_init(&scratch, BUF_UNLIMITED); /* bounded by the framework's own ceilings */
    int r = buf_puts(out, "\xef\xbb\xbf");
    for (size_t c = 0; r == 0 && c < TEMPLATE_COLUMNS; c++)
        r = put_cell(out, template_columns[c], TEMPLATE_HELPER_MAX, c == 0);
    if (r == 0)
        r = buf_puts(out, "\r\n");
    for (size_t i = 0; r == 0 && i < fw->nelements; i++)
        r = put_row(out, fw, i, unit, period, held, &scratch);
    buf_release(&scratch);
    return r;
}
