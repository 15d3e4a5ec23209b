/*
 * framework.c - parsing and validation of framework files, lookups, and the
 * check of a value against its element.
 *
 * The file is read with Jansson (duplicate keys refused), then walked once
 * with a JSON path kept alongside, so every problem names where it is. The
 * walk never stops at the first problem: each field is checked on its own and
 * a check that depends on a broken field is skipped (so one mistake is one
 * problem, not a cascade). Jansson keeps no positions, so when there are
 * problems a small scanner re-reads the (valid) text to find the line of each
 * path. A framework's strings point into the parsed document it keeps.
 */
#include "framework.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_PATH_MAX 512
#define NO_INDEX ((size_t)-1)
#define SUM_EPSILON 1e-6

/* ---- problems ---- */

void fw_problems_release(struct fw_problems *probs)
{
    if (!probs)
        return;
    for (size_t i = 0; i < probs->n; i++) {
        free(probs->items[i].path);
        free(probs->items[i].message);
    }
    free(probs->items);
    free(probs->source);
    memset(probs, 0, sizeof(*probs));
}

void fw_problem_format(const struct fw_problems *probs, size_t i, char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    if (!probs || i >= probs->n)
        return;
    const struct fw_problem *pr = &probs->items[i];
    char where[32] = "";
    if (pr->line > 0)
        snprintf(where, sizeof(where), ":%d", pr->line);
    const char *src = probs->source ? probs->source : "";
    bool lead = src[0] || where[0];
    snprintf(out, n, "%s%s%s%s%s%s", src, where, lead ? ": " : "", pr->path,
             pr->path[0] ? ": " : "", pr->message);
}

/* ---- code sets: open addressing, for duplicate checks and references ---- */

struct codeset {
    const char **keys;
    size_t *vals;
    size_t cap; /* a power of two, more than twice the entries */
};

static void codeset_init(struct codeset *cs, size_t n)
{
    cs->cap = 16;
    while (cs->cap < 2 * n + 2)
        cs->cap *= 2;
    cs->keys = xcalloc(cs->cap, sizeof(*cs->keys));
    cs->vals = xcalloc(cs->cap, sizeof(*cs->vals));
}

static void codeset_release(struct codeset *cs)
{
    free(cs->keys);
    free(cs->vals);
    memset(cs, 0, sizeof(*cs));
}

static size_t codeset_slot(const struct codeset *cs, const char *key)
{
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *s = (const unsigned char *)key; *s; s++)
        h = (h ^ *s) * 1099511628211u;
    size_t i = (size_t)h & (cs->cap - 1);
    while (cs->keys[i] && strcmp(cs->keys[i], key) != 0)
        i = (i + 1) & (cs->cap - 1);
    return i;
}

/* Add key -> val. false (and *prev) when the key is already there. */
static bool codeset_add(struct codeset *cs, const char *key, size_t val, size_t *prev)
{
    size_t i = codeset_slot(cs, key);
    if (cs->keys[i]) {
        *prev = cs->vals[i];
        return false;
    }
    cs->keys[i] = key;
    cs->vals[i] = val;
    return true;
}

static bool codeset_get(const struct codeset *cs, const char *key, size_t *val)
{
    if (!cs->keys)
        return false;
    size_t i = codeset_slot(cs, key);
    if (!cs->keys[i])
        return false;
    *val = cs->vals[i];
    return true;
}

/* ---- the parse context ---- */

struct fwp {
    struct fw_problems *probs; /* may be NULL: problems are only counted */
    size_t nprob;
    bool toobig;
    char path[FW_PATH_MAX];
    size_t plen;
    struct framework *fw;
    struct codeset elements, indicators, components, pillars, groups;
    bool *el_typed;           /* element i has a valid type (and categories) */
    const char **weight_code; /* element i: the element of "weighted_mean:<code>" */
};

static void add_problem(struct fwp *p, const char *path, int line, const char *msg)
{
    p->nprob++;
    struct fw_problems *pl = p->probs;
    if (!pl || pl->n > FW_PROBLEMS_MAX)
        return;
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 16;
        pl->items = xrealloc(pl->items, pl->cap * sizeof(*pl->items));
    }
    struct fw_problem *pr = &pl->items[pl->n++];
    if (pl->n == FW_PROBLEMS_MAX + 1) {
        pr->path = xstrdup("");
        pr->message = xasprintf("too many problems; only the first %d are listed", FW_PROBLEMS_MAX);
        pr->line = 0;
        return;
    }
    pr->path = xstrdup(path);
    pr->message = xstrdup(msg);
    pr->line = line;
}

static size_t path_key(struct fwp *p, const char *key)
{
    size_t old = p->plen;
    int k = snprintf(p->path + p->plen, sizeof(p->path) - p->plen, "%s%s", p->plen ? "." : "", key);
    if (k > 0)
        p->plen = strlen(p->path);
    return old;
}

static size_t path_index(struct fwp *p, size_t i)
{
    size_t old = p->plen;
    int k = snprintf(p->path + p->plen, sizeof(p->path) - p->plen, "[%zu]", i);
    if (k > 0)
        p->plen = strlen(p->path);
    return old;
}

static void path_restore(struct fwp *p, size_t old)
{
    p->plen = old;
    p->path[old] = '\0';
}

static void vproblem(struct fwp *p, const char *key, const char *fmt, va_list ap)
{
    char msg[600];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t old = key ? path_key(p, key) : p->plen;
    add_problem(p, p->path, 0, msg);
    path_restore(p, old);
}

/* A problem at the current path. */
static void problem(struct fwp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fwp *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(p, NULL, fmt, ap);
    va_end(ap);
}

/* A problem at member key of the current path. */
static void problem_at(struct fwp *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem_at(struct fwp *p, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(p, key, fmt, ap);
    va_end(ap);
}

/* ---- typed access to members ---- */

enum jkind { J_STRING, J_NUMBER, J_OBJECT, J_ARRAY };

static const char *json_kind_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        break;
    }
    return "null";
}

static bool json_is_kind(const json_t *j, enum jkind k)
{
    switch (k) {
    case J_STRING:
        return json_is_string(j);
    case J_NUMBER:
        return json_is_number(j);
    case J_OBJECT:
        return json_is_object(j);
    case J_ARRAY:
        return json_is_array(j);
    }
    return false;
}

static const char *jkind_name(enum jkind k)
{
    static const char *const names[] = {"a string", "a number", "an object", "an array"};
    return names[k];
}

/* Member key of obj when it has kind k; NULL (with a problem when required or
 * of the wrong kind) otherwise. */
static json_t *member(struct fwp *p, json_t *obj, const char *key, enum jkind k, bool required)
{
    json_t *j = json_object_get(obj, key);
    if (!j) {
        if (required)
            problem(p, "missing '%s'", key);
        return NULL;
    }
    if (!json_is_kind(j, k)) {
        problem_at(p, key, "expected %s, got %s", jkind_name(k), json_kind_name(j));
        return NULL;
    }
    return j;
}

/* Check a JSON string as text of at most max bytes; NULL with a problem at key. */
static const char *text_of(struct fwp *p, json_t *j, const char *key, size_t max)
{
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (n == 0) {
        problem_at(p, key, "is empty");
        return NULL;
    }
    if (n > max) {
        problem_at(p, key, "is longer than %zu bytes", max);
        return NULL;
    }
    if (!utf8_valid_text(s, n)) {
        problem_at(p, key, "contains control characters");
        return NULL;
    }
    return s;
}

static const char *get_text(struct fwp *p, json_t *obj, const char *key, bool required, size_t max)
{
    json_t *j = member(p, obj, key, J_STRING, required);
    return j ? text_of(p, j, key, max) : NULL;
}

/* A code: element_code_valid syntax. */
static const char *get_code(struct fwp *p, json_t *obj, const char *key)
{
    const char *s = get_text(p, obj, key, true, ELEMENT_CODE_MAX);
    if (s && !element_code_valid(s)) {
        problem_at(p, key, "'%s' is not a valid code: 1-%d letters, digits, '.', '_' or '-'", s,
                   ELEMENT_CODE_MAX);
        return NULL;
    }
    return s;
}

static bool get_number(struct fwp *p, json_t *obj, const char *key, bool required, double *out)
{
    json_t *j = member(p, obj, key, J_NUMBER, required);
    if (!j)
        return false;
    double d = json_number_value(j);
    if (!isfinite(d)) {
        problem_at(p, key, "is not a finite number");
        return false;
    }
    *out = d;
    return true;
}

/* max_points: a number >= 0. */
static bool get_points(struct fwp *p, json_t *obj, const char *key, double *out)
{
    double d;
    if (!get_number(p, obj, key, true, &d))
        return false;
    if (d < 0) {
        problem_at(p, key, "must not be negative");
        return false;
    }
    *out = d;
    return true;
}

static void check_keys(struct fwp *p, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            problem_at(p, key, "unknown key '%s'", key);
    }
}

static void fmt_num(double d, char out[32])
{
    value_format_number(d, out);
}

static bool same_points(double a, double b)
{
    return fabs(a - b) <= SUM_EPSILON;
}

/* ---- names ---- */

static const char *const level_names[] = {"commune", "district", "department", "province"};
static const char *const type_names[] = {"integer", "number",   "percent",
                                         "boolean", "category", "text"};
static const char *const method_names[] = {"none",   "ratio",   "tiers", "categorical",
                                           "checks", "boolean", "value"};
static const char *const aggregate_names[] = {"none", "sum", "mean", "weighted_mean"};

const char *fw_level_name(enum fw_level level)
{
    return (size_t)level < ARRAY_SIZE(level_names) ? level_names[level] : "?";
}

int fw_level_parse(const char *s, enum fw_level *out)
{
    for (size_t i = 0; s && i < ARRAY_SIZE(level_names); i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum fw_level)i;
            return 0;
        }
    return DTI_EINVAL;
}

const char *fw_type_name(enum fw_type type)
{
    return (size_t)type < ARRAY_SIZE(type_names) ? type_names[type] : "?";
}

const char *fw_method_name(enum fw_method_kind kind)
{
    return (size_t)kind < ARRAY_SIZE(method_names) ? method_names[kind] : "?";
}

const char *fw_aggregate_name(enum fw_aggregate agg)
{
    return (size_t)agg < ARRAY_SIZE(aggregate_names) ? aggregate_names[agg] : "?";
}

static int name_index(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

static bool type_numeric(enum fw_type t)
{
    return t == FW_TYPE_INTEGER || t == FW_TYPE_NUMBER || t == FW_TYPE_PERCENT;
}

/* ---- elements ---- */

static void parse_categories(struct fwp *p, json_t *arr, struct fw_element *el, bool *ok)
{
    size_t n = json_array_size(arr);
    if (n == 0) {
        problem(p, "a category element lists at least one category");
        *ok = false;
        return;
    }
    if (n > FRAMEWORK_CATEGORIES_MAX) {
        problem(p, "more than %d categories", FRAMEWORK_CATEGORIES_MAX);
        *ok = false;
        return;
    }
    el->categories = xcalloc(n, sizeof(*el->categories));
    el->ncategories = n;
    static const char *const keys[] = {"code", "name", NULL};
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(arr, i);
        size_t old = path_index(p, i);
        struct fw_category *cat = &el->categories[i];
        if (json_is_string(c)) {
            cat->code = text_of(p, c, NULL, FRAMEWORK_NAME_MAX);
        } else if (json_is_object(c)) {
            check_keys(p, c, keys);
            cat->code = get_text(p, c, "code", true, FRAMEWORK_NAME_MAX);
            cat->name = get_text(p, c, "name", false, FRAMEWORK_NAME_MAX);
        } else {
            problem(p, "expected a string or an object {code, name}, got %s", json_kind_name(c));
        }
        if (!cat->code) {
            *ok = false;
        } else {
            for (size_t k = 0; k < i; k++)
                if (el->categories[k].code && strcmp(el->categories[k].code, cat->code) == 0) {
                    problem(p, "category '%s' is listed twice", cat->code);
                    *ok = false;
                    break;
                }
        }
        path_restore(p, old);
    }
}

static void parse_element(struct fwp *p, json_t *j, size_t i)
{
    static const char *const keys[] = {"code", "name",       "description", "type", "min",
                                       "max",  "categories", "aggregate",   NULL};
    struct fw_element *el = &p->fw->elements[i];
    if (!json_is_object(j)) {
        problem(p, "expected an object, got %s", json_kind_name(j));
        return;
    }
    check_keys(p, j, keys);
    el->code = get_code(p, j, "code");
    if (el->code) {
        size_t prev;
        if (!codeset_add(&p->elements, el->code, i, &prev)) {
            problem_at(p, "code", "duplicate element code '%s' (also elements[%zu])", el->code,
                       prev);
        }
    }
    el->name = get_text(p, j, "name", true, FRAMEWORK_NAME_MAX);
    el->description = get_text(p, j, "description", false, FRAMEWORK_TEXT_MAX);

    bool typed = false;
    json_t *t = member(p, j, "type", J_STRING, true);
    if (t) {
        int k = name_index(json_string_value(t), type_names, ARRAY_SIZE(type_names));
        if (k < 0)
            problem_at(p, "type",
                       "unknown type '%s': expected integer, number, percent, boolean, category "
                       "or text",
                       json_string_value(t));
        else {
            el->type = (enum fw_type)k;
            typed = true;
        }
    }

    bool has_min = json_object_get(j, "min") != NULL, has_max = json_object_get(j, "max") != NULL;
    if (typed && !type_numeric(el->type) && (has_min || has_max)) {
        problem_at(p, has_min ? "min" : "max",
                   "only integer, number and percent elements have "
                   "bounds");
    } else if (typed) {
        if (el->type == FW_TYPE_PERCENT) {
            el->has_min = el->has_max = true;
            el->min = 0;
            el->max = 100;
        }
        double d;
        if (has_min && get_number(p, j, "min", false, &d)) {
            el->min = d;
            el->has_min = true;
        }
        if (has_max && get_number(p, j, "max", false, &d)) {
            el->max = d;
            el->has_max = true;
        }
        if (el->type == FW_TYPE_INTEGER) {
            if (has_min && el->has_min && el->min != floor(el->min))
                problem_at(p, "min", "an integer element has integer bounds");
            if (has_max && el->has_max && el->max != floor(el->max))
                problem_at(p, "max", "an integer element has integer bounds");
        }
        if (el->has_min && el->has_max && el->min > el->max) {
            char a[32], b[32];
            fmt_num(el->min, a);
            fmt_num(el->max, b);
            problem_at(p, "max", "max %s is below min %s", b, a);
        }
    }

    json_t *cats = json_object_get(j, "categories");
    if (typed && el->type == FW_TYPE_CATEGORY) {
        cats = member(p, j, "categories", J_ARRAY, true);
        if (cats) {
            size_t old = path_key(p, "categories");
            parse_categories(p, cats, el, &typed);
            path_restore(p, old);
        } else {
            typed = false;
        }
    } else if (typed && cats) {
        problem_at(p, "categories", "only category elements list categories");
    }

    json_t *agg = member(p, j, "aggregate", J_STRING, false);
    if (agg) {
        const char *s = json_string_value(agg);
        const char *wm = "weighted_mean:";
        if (strcmp(s, "none") == 0)
            el->aggregate = FW_AGG_NONE;
        else if (strcmp(s, "sum") == 0)
            el->aggregate = FW_AGG_SUM;
        else if (strcmp(s, "mean") == 0)
            el->aggregate = FW_AGG_MEAN;
        else if (strncmp(s, wm, strlen(wm)) == 0) {
            el->aggregate = FW_AGG_WEIGHTED_MEAN;
            p->weight_code[i] = s + strlen(wm);
        } else {
            problem_at(p, "aggregate",
                       "unknown aggregate '%s': expected sum, mean, weighted_mean:<element> or "
                       "none",
                       s);
        }
        if (typed && el->aggregate != FW_AGG_NONE && !type_numeric(el->type))
            problem_at(p, "aggregate", "aggregate '%s' needs an integer, number or percent element",
                       fw_aggregate_name(el->aggregate));
    }
    p->el_typed[i] = typed;
}

/* Second pass: the weighting elements of weighted means. */
static void resolve_weights(struct fwp *p)
{
    struct framework *fw = p->fw;
    for (size_t i = 0; i < fw->nelements; i++) {
        const char *w = p->weight_code[i];
        if (!w)
            continue;
        size_t o1 = path_key(p, "elements"), o2 = path_index(p, i);
        size_t k;
        if (!*w)
            problem_at(p, "aggregate", "weighted_mean names no element");
        else if (!codeset_get(&p->elements, w, &k))
            problem_at(p, "aggregate", "weighted_mean by unknown element '%s'", w);
        else if (k == i)
            problem_at(p, "aggregate", "element '%s' cannot be weighted by itself", w);
        else if (p->el_typed[k] && !type_numeric(fw->elements[k].type))
            problem_at(p, "aggregate",
                       "weighted_mean by element '%s' of type %s: it needs a number", w,
                       fw_type_name(fw->elements[k].type));
        else
            fw->elements[i].weight = k;
        path_restore(p, o2);
        path_restore(p, o1);
    }
}

/* ---- methods ---- */

#define T_BIT(t) (1u << (t))
#define T_NUMERIC (T_BIT(FW_TYPE_INTEGER) | T_BIT(FW_TYPE_NUMBER) | T_BIT(FW_TYPE_PERCENT))

static const char *types_wanted(unsigned mask)
{
    if (mask == T_NUMERIC)
        return "an integer, number or percent";
    if (mask == (T_BIT(FW_TYPE_NUMBER) | T_BIT(FW_TYPE_PERCENT)))
        return "a number (0..1) or percent";
    if (mask == T_BIT(FW_TYPE_BOOLEAN))
        return "a boolean";
    if (mask == T_BIT(FW_TYPE_CATEGORY))
        return "a category";
    return "another type";
}

/* Resolve the element code in JSON string j (at member key, or at the current
 * path when key is NULL) to an index whose type is in mask; NO_INDEX with a
 * problem otherwise. */
static size_t element_ref(struct fwp *p, json_t *j, const char *key, unsigned mask,
                          const char *kind)
{
    if (!json_is_string(j)) {
        if (key)
            problem_at(p, key, "expected an element code, got %s", json_kind_name(j));
        else
            problem(p, "expected an element code, got %s", json_kind_name(j));
        return NO_INDEX;
    }
    const char *code = json_string_value(j);
    size_t k;
    if (!codeset_get(&p->elements, code, &k)) {
        if (key)
            problem_at(p, key, "unknown element '%s'", code);
        else
            problem(p, "unknown element '%s'", code);
        return NO_INDEX;
    }
    if (!p->el_typed[k])
        return NO_INDEX; /* its own problem is already listed */
    enum fw_type t = p->fw->elements[k].type;
    if (!(mask & T_BIT(t))) {
        if (key)
            problem_at(p, key, "element '%s' is %s; %s reads %s", code, fw_type_name(t), kind,
                       types_wanted(mask));
        else
            problem(p, "element '%s' is %s; %s reads %s", code, fw_type_name(t), kind,
                    types_wanted(mask));
        return NO_INDEX;
    }
    return k;
}

static size_t input_ref(struct fwp *p, json_t *m, const char *key, unsigned mask, const char *kind)
{
    json_t *j = json_object_get(m, key);
    if (!j) {
        problem(p, "missing '%s'", key);
        return NO_INDEX;
    }
    return element_ref(p, j, key, mask, kind);
}

static void method_inputs(struct fw_method *me, size_t n)
{
    me->inputs = xcalloc(n ? n : 1, sizeof(size_t));
    me->ninputs = n;
}

static void parse_tiers(struct fwp *p, json_t *arr, struct fw_method *me, double max, bool scored)
{
    size_t n = json_array_size(arr);
    if (n == 0) {
        problem(p, "lists no tiers");
        return;
    }
    if (n > FRAMEWORK_TIERS_MAX) {
        problem(p, "more than %d tiers", FRAMEWORK_TIERS_MAX);
        return;
    }
    me->tiers = xcalloc(n, sizeof(*me->tiers));
    me->ntiers = n;
    bool prev_ok = false;
    double prev = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        size_t old = path_index(p, i);
        json_t *a = json_array_get(t, 0), *b = json_array_get(t, 1);
        if (!json_is_array(t) || json_array_size(t) != 2 || !json_is_number(a) ||
            !json_is_number(b)) {
            problem(p, "expected [threshold, points]");
            prev_ok = false;
            path_restore(p, old);
            continue;
        }
        struct fw_tier *ti = &me->tiers[i];
        ti->threshold = json_number_value(a);
        ti->points = json_number_value(b);
        char x[32], y[32];
        if (prev_ok && !(ti->threshold < prev)) {
            fmt_num(ti->threshold, x);
            fmt_num(prev, y);
            problem(p, "tiers must be sorted by threshold, descending: %s comes after %s", x, y);
        }
        if (ti->points < 0) {
            problem(p, "tier points must not be negative");
        } else if (scored && ti->points > max + SUM_EPSILON) {
            fmt_num(ti->points, x);
            fmt_num(max, y);
            problem(p, "tier points %s exceed the component's max_points %s", x, y);
        }
        prev = ti->threshold;
        prev_ok = true;
        path_restore(p, old);
    }
}

static void parse_map(struct fwp *p, json_t *obj, struct fw_method *me, size_t input)
{
    size_t n = json_object_size(obj);
    if (n == 0) {
        problem(p, "maps no category");
        return;
    }
    if (n > FRAMEWORK_CATEGORIES_MAX) {
        problem(p, "more than %d categories", FRAMEWORK_CATEGORIES_MAX);
        return;
    }
    me->map = xcalloc(n, sizeof(*me->map));
    const struct fw_element *el = input == NO_INDEX ? NULL : &p->fw->elements[input];
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        struct fw_category_points *cp = &me->map[me->nmap++];
        cp->category = key;
        cp->index = NO_INDEX;
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
            problem_at(p, key, "expected a fraction of the max points from 0 to 1");
        } else {
            cp->fraction = json_number_value(v);
        }
        if (!el)
            continue;
        for (size_t c = 0; c < el->ncategories; c++)
            if (el->categories[c].code && strcmp(el->categories[c].code, key) == 0)
                cp->index = c;
        if (cp->index == NO_INDEX)
            problem_at(p, key, "'%s' is not a category of element '%s'", key, el->code);
    }
}

static void parse_method(struct fwp *p, json_t *m, struct fw_method *me, double max, bool scored)
{
    if (!json_is_object(m)) {
        problem(p, "expected an object, got %s", json_kind_name(m));
        return;
    }
    json_t *kj = member(p, m, "kind", J_STRING, true);
    if (!kj)
        return;
    const char *kind = json_string_value(kj);
    int k = name_index(kind, method_names, ARRAY_SIZE(method_names));
    if (k <= 0) {
        problem_at(p, "kind",
                   "unknown method '%s': expected ratio, tiers, categorical, checks, boolean or "
                   "value",
                   kind);
        return;
    }
    me->kind = (enum fw_method_kind)k;
    switch (me->kind) {
    case FW_METHOD_RATIO: {
        static const char *const keys[] = {"kind",   "numerator",        "denominator",
                                           "target", "zero_denominator", NULL};
        check_keys(p, m, keys);
        method_inputs(me, 2);
        me->inputs[0] = input_ref(p, m, "numerator", T_NUMERIC, "a ratio");
        me->inputs[1] = input_ref(p, m, "denominator", T_NUMERIC, "a ratio");
        if (json_object_get(m, "target") && get_number(p, m, "target", false, &me->target)) {
            if (me->target <= 0)
                problem_at(p, "target", "must be above 0");
            else
                me->has_target = true;
        }
        json_t *zd = member(p, m, "zero_denominator", J_STRING, false);
        if (zd) {
            const char *s = json_string_value(zd);
            if (strcmp(s, "full") == 0)
                me->zero_full = true;
            else if (strcmp(s, "zero") != 0)
                problem_at(p, "zero_denominator", "expected \"zero\" or \"full\", got '%s'", s);
        }
        break;
    }
    case FW_METHOD_TIERS: {
        static const char *const keys[] = {"kind", "input", "tiers", NULL};
        check_keys(p, m, keys);
        method_inputs(me, 1);
        me->inputs[0] = input_ref(p, m, "input", T_NUMERIC, "tiers");
        json_t *t = member(p, m, "tiers", J_ARRAY, true);
        if (t) {
            size_t old = path_key(p, "tiers");
            parse_tiers(p, t, me, max, scored);
            path_restore(p, old);
        }
        break;
    }
    case FW_METHOD_CATEGORICAL: {
        static const char *const keys[] = {"kind", "input", "map", NULL};
        check_keys(p, m, keys);
        method_inputs(me, 1);
        me->inputs[0] = input_ref(p, m, "input", T_BIT(FW_TYPE_CATEGORY), "categorical");
        json_t *map = member(p, m, "map", J_OBJECT, true);
        if (map) {
            size_t old = path_key(p, "map");
            parse_map(p, map, me, me->inputs[0]);
            path_restore(p, old);
        }
        break;
    }
    case FW_METHOD_CHECKS: {
        static const char *const keys[] = {"kind", "inputs", NULL};
        check_keys(p, m, keys);
        json_t *arr = member(p, m, "inputs", J_ARRAY, true);
        if (!arr)
            break;
        size_t n = json_array_size(arr);
        size_t old = path_key(p, "inputs");
        if (n == 0) {
            problem(p, "lists no inputs");
        } else if (n > FRAMEWORK_CHECKS_MAX) {
            problem(p, "more than %d inputs", FRAMEWORK_CHECKS_MAX);
        } else {
            method_inputs(me, n);
            for (size_t i = 0; i < n; i++) {
                size_t o2 = path_index(p, i);
                me->inputs[i] =
                    element_ref(p, json_array_get(arr, i), NULL, T_BIT(FW_TYPE_BOOLEAN), "checks");
                for (size_t q = 0; q < i && me->inputs[i] != NO_INDEX; q++)
                    if (me->inputs[q] == me->inputs[i])
                        problem(p, "element '%s' is listed twice",
                                p->fw->elements[me->inputs[i]].code);
                path_restore(p, o2);
            }
        }
        path_restore(p, old);
        break;
    }
    case FW_METHOD_BOOLEAN: {
        static const char *const keys[] = {"kind", "input", NULL};
        check_keys(p, m, keys);
        method_inputs(me, 1);
        me->inputs[0] = input_ref(p, m, "input", T_BIT(FW_TYPE_BOOLEAN), "boolean");
        break;
    }
    case FW_METHOD_VALUE: {
        static const char *const keys[] = {"kind", "input", NULL};
        check_keys(p, m, keys);
        method_inputs(me, 1);
        me->inputs[0] =
            input_ref(p, m, "input", T_BIT(FW_TYPE_NUMBER) | T_BIT(FW_TYPE_PERCENT), "value");
        break;
    }
    case FW_METHOD_NONE:
        break;
    }
}

/* ---- indicators and components ---- */

static void parse_component(struct fwp *p, json_t *j, size_t ci, size_t ind, bool *max_ok)
{
    static const char *const keys[] = {"code",        "name",        "description",
                                       "max_points",  "method",      "evidence",
                                       "supplied_by", "verified_by", NULL};
    struct fw_component *c = &p->fw->components[ci];
    c->indicator = ind;
    if (!json_is_object(j)) {
        problem(p, "expected an object, got %s", json_kind_name(j));
        *max_ok = false;
        return;
    }
    check_keys(p, j, keys);
    c->code = get_code(p, j, "code");
    if (c->code) {
        size_t prev;
        if (!codeset_add(&p->components, c->code, ci, &prev)) {
            const struct fw_component *o = &p->fw->components[prev];
            problem_at(
                p, "code", "duplicate component code '%s' (also indicators[%zu].components[%zu])",
                c->code, o->indicator, prev - p->fw->indicators[o->indicator].first_component);
        }
    }
    c->name = get_text(p, j, "name", true, FRAMEWORK_NAME_MAX);
    c->description = get_text(p, j, "description", false, FRAMEWORK_TEXT_MAX);
    c->evidence = get_text(p, j, "evidence", false, FRAMEWORK_TEXT_MAX);
    c->supplied_by = get_text(p, j, "supplied_by", false, FRAMEWORK_TEXT_MAX);
    c->verified_by = get_text(p, j, "verified_by", false, FRAMEWORK_TEXT_MAX);
    bool have_max = get_points(p, j, "max_points", &c->max_points);
    if (!have_max)
        *max_ok = false;
    json_t *m = json_object_get(j, "method");
    if (!m) {
        if (have_max && c->max_points > 0)
            problem(p, "missing 'method' (only a component with max_points 0 may have none)");
        return;
    }
    size_t old = path_key(p, "method");
    parse_method(p, m, &c->method, c->max_points, have_max && c->max_points > 0);
    path_restore(p, old);
}

static void parse_indicator(struct fwp *p, json_t *j, size_t ii, size_t *next_comp, bool *max_ok)
{
    static const char *const keys[] = {"code",       "name",       "description",
                                       "max_points", "components", NULL};
    struct fw_indicator *ind = &p->fw->indicators[ii];
    ind->first_component = *next_comp;
    if (!json_is_object(j)) {
        problem(p, "expected an object, got %s", json_kind_name(j));
        *max_ok = false;
        return;
    }
    check_keys(p, j, keys);
    ind->code = get_code(p, j, "code");
    if (ind->code) {
        size_t prev;
        if (!codeset_add(&p->indicators, ind->code, ii, &prev))
            problem_at(p, "code", "duplicate indicator code '%s' (also indicators[%zu])", ind->code,
                       prev);
    }
    ind->name = get_text(p, j, "name", true, FRAMEWORK_NAME_MAX);
    ind->description = get_text(p, j, "description", false, FRAMEWORK_TEXT_MAX);
    bool have_max = get_points(p, j, "max_points", &ind->max_points);
    if (!have_max)
        *max_ok = false;
    json_t *comps = member(p, j, "components", J_ARRAY, true);
    if (!comps)
        return;
    size_t n = json_array_size(comps);
    bool sum_ok = true;
    double sum = 0;
    size_t old = path_key(p, "components");
    for (size_t i = 0; i < n; i++) {
        size_t o2 = path_index(p, i);
        size_t ci = (*next_comp)++;
        ind->ncomponents++;
        parse_component(p, json_array_get(comps, i), ci, ii, &sum_ok);
        sum += p->fw->components[ci].max_points;
        path_restore(p, o2);
    }
    path_restore(p, old);
    if (have_max && sum_ok && !same_points(sum, ind->max_points)) {
        char a[32], b[32];
        fmt_num(ind->max_points, a);
        fmt_num(sum, b);
        problem_at(p, "max_points",
                   "max_points %s is not the sum of its components' max_points (%s)", a, b);
    }
    if (have_max && ind->max_points > 0 && n == 0)
        problem_at(p, "components", "a scored indicator has at least one component");
}

/* ---- pillars, groups and bands ---- */

static void parse_groups(struct fwp *p, json_t *arr, const char *what, struct codeset *cs,
                         struct fw_group **out, size_t *nout, bool ind_max_ok)
{
    size_t n = json_array_size(arr);
    if (n > FRAMEWORK_GROUPS_MAX) {
        problem(p, "more than %d %s", FRAMEWORK_GROUPS_MAX, what);
        return;
    }
    codeset_init(cs, n);
    struct fw_group *gs = xcalloc(n ? n : 1, sizeof(*gs));
    *out = gs;
    *nout = n;
    static const char *const keys[] = {"code",       "name",       "description",
                                       "indicators", "max_points", NULL};
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_array_get(arr, i);
        struct fw_group *g = &gs[i];
        size_t old = path_index(p, i);
        if (!json_is_object(j)) {
            problem(p, "expected an object, got %s", json_kind_name(j));
            path_restore(p, old);
            continue;
        }
        check_keys(p, j, keys);
        g->code = get_code(p, j, "code");
        size_t prev;
        if (g->code && !codeset_add(cs, g->code, i, &prev))
            problem_at(p, "code", "duplicate code '%s' (also %s[%zu])", g->code, what, prev);
        g->name = get_text(p, j, "name", true, FRAMEWORK_NAME_MAX);
        get_text(p, j, "description", false, FRAMEWORK_TEXT_MAX);
        json_t *inds = member(p, j, "indicators", J_ARRAY, true);
        bool sum_ok = ind_max_ok;
        if (inds) {
            size_t m = json_array_size(inds);
            size_t o2 = path_key(p, "indicators");
            if (m == 0)
                problem(p, "names no indicator");
            if (m > FRAMEWORK_INDICATORS_MAX) {
                problem(p, "more than %d indicators", FRAMEWORK_INDICATORS_MAX);
                m = 0;
            }
            g->indicators = xcalloc(m ? m : 1, sizeof(size_t));
            for (size_t k = 0; k < m; k++) {
                json_t *c = json_array_get(inds, k);
                size_t o3 = path_index(p, k);
                size_t idx;
                if (!json_is_string(c)) {
                    problem(p, "expected an indicator code, got %s", json_kind_name(c));
                    sum_ok = false;
                } else if (!codeset_get(&p->indicators, json_string_value(c), &idx)) {
                    problem(p, "unknown indicator '%s'", json_string_value(c));
                    sum_ok = false;
                } else {
                    bool dup = false;
                    for (size_t q = 0; q < g->nindicators; q++)
                        dup = dup || g->indicators[q] == idx;
                    if (dup)
                        problem(p, "indicator '%s' is listed twice", json_string_value(c));
                    else {
                        g->indicators[g->nindicators++] = idx;
                        g->max_points += p->fw->indicators[idx].max_points;
                    }
                }
                path_restore(p, o3);
            }
            path_restore(p, o2);
        } else {
            sum_ok = false;
        }
        double mp;
        if (json_object_get(j, "max_points") && get_points(p, j, "max_points", &mp) && sum_ok &&
            !same_points(mp, g->max_points)) {
            char a[32], b[32];
            fmt_num(mp, a);
            fmt_num(g->max_points, b);
            problem_at(p, "max_points",
                       "max_points %s is not the sum of its indicators' max_points (%s)", a, b);
        }
        path_restore(p, old);
    }
}

static void parse_bands(struct fwp *p, json_t *arr)
{
    struct framework *fw = p->fw;
    size_t n = json_array_size(arr);
    if (n > FRAMEWORK_BANDS_MAX) {
        problem(p, "more than %d bands", FRAMEWORK_BANDS_MAX);
        return;
    }
    fw->bands = xcalloc(n ? n : 1, sizeof(*fw->bands));
    fw->nbands = n;
    static const char *const keys[] = {"name", "min", NULL};
    bool prev_ok = false, last_ok = false;
    double prev = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_array_get(arr, i);
        struct fw_band *b = &fw->bands[i];
        size_t old = path_index(p, i);
        last_ok = false;
        if (!json_is_object(j)) {
            problem(p, "expected an object, got %s", json_kind_name(j));
            prev_ok = false;
            path_restore(p, old);
            continue;
        }
        check_keys(p, j, keys);
        b->name = get_text(p, j, "name", true, FRAMEWORK_NAME_MAX);
        for (size_t k = 0; b->name && k < i; k++)
            if (fw->bands[k].name && strcmp(fw->bands[k].name, b->name) == 0)
                problem_at(p, "name", "duplicate band '%s'", b->name);
        if (get_number(p, j, "min", true, &b->min)) {
            char x[32], y[32];
            fmt_num(b->min, x);
            if (b->min < 0 || b->min > 1) {
                problem_at(p, "min", "min %s is outside 0..1 (bands apply to the DTI value)", x);
            } else if (prev_ok && !(b->min < prev)) {
                fmt_num(prev, y);
                problem_at(p, "min", "bands must be sorted by min, descending: %s comes after %s",
                           x, y);
            }
            prev = b->min;
            prev_ok = last_ok = true;
        } else {
            prev_ok = false;
        }
        path_restore(p, old);
    }
    if (n > 0 && last_ok && fw->bands[n - 1].min != 0) {
        size_t old = path_index(p, n - 1);
        problem_at(p, "min", "the last band has min 0, so every value falls in a band");
        path_restore(p, old);
    }
}

/* ---- the whole document ---- */

struct code_idx {
    const char *code;
    size_t idx;
};

static int cmp_code_idx(const void *a, const void *b)
{
    const struct code_idx *x = a, *y = b;
    int c = strcmp(x->code, y->code);
    if (c)
        return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void build_indexes(struct framework *fw)
{
    size_t n = fw->nelements;
    struct code_idx *ci = xcalloc(n ? n : 1, sizeof(*ci));
    for (size_t i = 0; i < n; i++) {
        ci[i].code = fw->elements[i].code;
        ci[i].idx = i;
    }
    qsort(ci, n, sizeof(*ci), cmp_code_idx);
    fw->by_code = xcalloc(n ? n : 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        fw->by_code[i] = ci[i].idx;
    free(ci);

    bool *read = xcalloc(n ? n : 1, sizeof(bool));
    for (size_t c = 0; c < fw->ncomponents; c++) {
        const struct fw_component *co = &fw->components[c];
        if (co->max_points <= 0)
            continue;
        for (size_t k = 0; k < co->method.ninputs; k++)
            read[co->method.inputs[k]] = true;
    }
    fw->required = xcalloc(n ? n : 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        if (read[fw->by_code[i]])
            fw->required[fw->nrequired++] = fw->by_code[i];
    free(read);
}

static size_t count_components(json_t *inds)
{
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(inds); i++) {
        json_t *c = json_object_get(json_array_get(inds, i), "components");
        if (json_is_array(c))
            total += json_array_size(c);
    }
    return total;
}

static void parse_root(struct fwp *p, json_t *root)
{
    static const char *const keys[] = {"id",         "name",     "description", "level",   "period",
                                       "max_points", "elements", "indicators",  "pillars", "groups",
                                       "bands",      "sources",  NULL};
    struct framework *fw = p->fw;
    if (!json_is_object(root)) {
        problem(p, "expected a JSON object at the top level, got %s", json_kind_name(root));
        return;
    }
    check_keys(p, root, keys);
    fw->id = get_code(p, root, "id");
    fw->name = get_text(p, root, "name", true, FRAMEWORK_NAME_MAX);
    fw->description = get_text(p, root, "description", false, FRAMEWORK_TEXT_MAX);
    json_t *lv = member(p, root, "level", J_STRING, true);
    if (lv && fw_level_parse(json_string_value(lv), &fw->level) < 0)
        problem_at(p, "level",
                   "unknown level '%s': expected commune, district, department or province",
                   json_string_value(lv));
    json_t *pe = member(p, root, "period", J_STRING, true);
    if (pe) {
        fw->period = json_string_value(pe);
        if (!period_valid(fw->period))
            problem_at(p, "period", "invalid period '%s': expected YYYY, YYYYQn or YYYY-MM",
                       fw->period);
    }
    bool have_max = get_points(p, root, "max_points", &fw->max_points);
    if (have_max && fw->max_points <= 0) {
        problem_at(p, "max_points", "must be above 0");
        have_max = false;
    }
    json_t *srcs = member(p, root, "sources", J_ARRAY, false);
    for (size_t i = 0; srcs && i < json_array_size(srcs); i++) {
        size_t old = path_key(p, "sources");
        size_t o2 = path_index(p, i);
        json_t *s = json_array_get(srcs, i);
        if (!json_is_string(s))
            problem(p, "expected a string, got %s", json_kind_name(s));
        else
            text_of(p, s, NULL, FRAMEWORK_TEXT_MAX);
        path_restore(p, o2);
        path_restore(p, old);
    }

    /* Elements first: methods refer to them. */
    json_t *els = member(p, root, "elements", J_ARRAY, true);
    size_t nel = els ? json_array_size(els) : 0;
    if (nel > FRAMEWORK_ELEMENTS_MAX) {
        problem_at(p, "elements", "more than %d elements", FRAMEWORK_ELEMENTS_MAX);
        p->toobig = true;
        return;
    }
    if (els && nel == 0)
        problem_at(p, "elements", "lists no element");
    fw->elements = xcalloc(nel ? nel : 1, sizeof(*fw->elements));
    fw->nelements = nel;
    p->el_typed = xcalloc(nel ? nel : 1, sizeof(bool));
    p->weight_code = xcalloc(nel ? nel : 1, sizeof(char *));
    codeset_init(&p->elements, nel);
    for (size_t i = 0; i < nel; i++) {
        size_t old = path_key(p, "elements");
        size_t o2 = path_index(p, i);
        parse_element(p, json_array_get(els, i), i);
        path_restore(p, o2);
        path_restore(p, old);
    }
    resolve_weights(p);

    json_t *inds = member(p, root, "indicators", J_ARRAY, true);
    size_t nind = inds ? json_array_size(inds) : 0;
    size_t ncomp = inds ? count_components(inds) : 0;
    if (nind > FRAMEWORK_INDICATORS_MAX || ncomp > FRAMEWORK_COMPONENTS_MAX) {
        if (nind > FRAMEWORK_INDICATORS_MAX)
            problem_at(p, "indicators", "more than %d indicators", FRAMEWORK_INDICATORS_MAX);
        else
            problem_at(p, "indicators", "more than %d components", FRAMEWORK_COMPONENTS_MAX);
        p->toobig = true;
        return;
    }
    if (inds && nind == 0)
        problem_at(p, "indicators", "lists no indicator");
    fw->indicators = xcalloc(nind ? nind : 1, sizeof(*fw->indicators));
    fw->nindicators = nind;
    fw->components = xcalloc(ncomp ? ncomp : 1, sizeof(*fw->components));
    fw->ncomponents = ncomp;
    codeset_init(&p->indicators, nind);
    codeset_init(&p->components, ncomp);
    size_t next = 0;
    bool ind_max_ok = inds != NULL;
    double sum = 0;
    for (size_t i = 0; i < nind; i++) {
        size_t old = path_key(p, "indicators");
        size_t o2 = path_index(p, i);
        parse_indicator(p, json_array_get(inds, i), i, &next, &ind_max_ok);
        sum += fw->indicators[i].max_points;
        path_restore(p, o2);
        path_restore(p, old);
    }
    if (have_max && ind_max_ok && nind > 0 && !same_points(sum, fw->max_points)) {
        char a[32], b[32];
        fmt_num(fw->max_points, a);
        fmt_num(sum, b);
        problem_at(p, "max_points",
                   "max_points %s is not the sum of the indicators' max_points (%s)", a, b);
    }

    json_t *pil = member(p, root, "pillars", J_ARRAY, false);
    if (pil) {
        size_t old = path_key(p, "pillars");
        parse_groups(p, pil, "pillars", &p->pillars, &fw->pillars, &fw->npillars, ind_max_ok);
        path_restore(p, old);
    }
    json_t *grp = member(p, root, "groups", J_ARRAY, false);
    if (grp) {
        size_t old = path_key(p, "groups");
        parse_groups(p, grp, "groups", &p->groups, &fw->groups, &fw->ngroups, ind_max_ok);
        path_restore(p, old);
    }
    json_t *bands = member(p, root, "bands", J_ARRAY, false);
    if (bands) {
        size_t old = path_key(p, "bands");
        parse_bands(p, bands);
        path_restore(p, old);
    }
}

/* ---- lines for paths: re-read the (valid) JSON text ---- */

struct scan {
    const char *s;
    size_t n, i;
    int line;
    char path[FW_PATH_MAX];
    size_t plen;
    struct fw_problem *items; /* the problems to place */
    size_t count;
    size_t *best; /* per problem: 1 + length of the longest path prefix seen, 0 = none */
};

static void scan_ws(struct scan *sc)
{
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c == '\n')
            sc->line++;
        else if (c != ' ' && c != '\t' && c != '\r')
            break;
        sc->i++;
    }
}

static void scan_note(struct scan *sc)
{
    for (size_t k = 0; k < sc->count; k++) {
        const char *pp = sc->items[k].path;
        if (sc->items[k].line > 0 && sc->best[k] == 0)
            continue; /* the line came from the parser itself */
        if (strncmp(pp, sc->path, sc->plen) != 0)
            continue;
        char next = pp[sc->plen];
        if (sc->plen > 0 && next != '\0' && next != '.' && next != '[')
            continue;
        if (sc->plen + 1 > sc->best[k]) {
            sc->best[k] = sc->plen + 1;
            sc->items[k].line = sc->line;
        }
    }
}

static unsigned hexval(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (unsigned)(c - 'A' + 10);
    return 0;
}

static void scan_put(struct scan *sc, char c)
{
    if (sc->plen + 1 < sizeof(sc->path)) {
        sc->path[sc->plen++] = c;
        sc->path[sc->plen] = '\0';
    }
}

static unsigned scan_u4(struct scan *sc)
{
    unsigned u = 0;
    for (int k = 0; k < 4 && sc->i < sc->n; k++)
        u = u * 16 + hexval(sc->s[sc->i++]);
    return u;
}

/* Read a string at sc->i (the opening quote), appending its decoded text to
 * the path when append is set. */
static void scan_string(struct scan *sc, bool append)
{
    sc->i++;
    while (sc->i < sc->n && sc->s[sc->i] != '"') {
        char c = sc->s[sc->i++];
        if (c != '\\') {
            if (append)
                scan_put(sc, c);
            continue;
        }
        if (sc->i >= sc->n)
            break;
        char e = sc->s[sc->i++];
        unsigned u;
        switch (e) {
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        case 'u':
            u = scan_u4(sc);
            if (u >= 0xD800 && u < 0xDC00 && sc->i + 1 < sc->n && sc->s[sc->i] == '\\' &&
                sc->s[sc->i + 1] == 'u') {
                sc->i += 2;
                unsigned lo = scan_u4(sc);
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (!append)
                continue;
            if (u < 0x80) {
                scan_put(sc, (char)u);
            } else if (u < 0x800) {
                scan_put(sc, (char)(0xC0 | (u >> 6)));
                scan_put(sc, (char)(0x80 | (u & 0x3F)));
            } else if (u < 0x10000) {
                scan_put(sc, (char)(0xE0 | (u >> 12)));
                scan_put(sc, (char)(0x80 | ((u >> 6) & 0x3F)));
                scan_put(sc, (char)(0x80 | (u & 0x3F)));
            } else {
                scan_put(sc, (char)(0xF0 | (u >> 18)));
                scan_put(sc, (char)(0x80 | ((u >> 12) & 0x3F)));
                scan_put(sc, (char)(0x80 | ((u >> 6) & 0x3F)));
                scan_put(sc, (char)(0x80 | (u & 0x3F)));
            }
            continue;
        default:
            c = e; /* \" \\ \/ */
            break;
        }
        if (append)
            scan_put(sc, c);
    }
    sc->i++; /* closing quote */
}

static void scan_value(struct scan *sc)
{
    scan_ws(sc);
    if (sc->i >= sc->n)
        return;
    scan_note(sc);
    char c = sc->s[sc->i];
    size_t old = sc->plen;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        size_t idx = 0;
        sc->i++;
        for (;;) {
            scan_ws(sc);
            if (sc->i >= sc->n)
                return;
            if (sc->s[sc->i] == (obj ? '}' : ']')) {
                sc->i++;
                return;
            }
            if (obj) {
                if (sc->s[sc->i] != '"')
                    return;
                if (sc->plen > 0)
                    scan_put(sc, '.');
                scan_string(sc, true);
                scan_ws(sc);
                if (sc->i >= sc->n || sc->s[sc->i] != ':')
                    return;
                sc->i++;
            } else {
                char ix[24];
                snprintf(ix, sizeof(ix), "[%zu]", idx++);
                for (const char *q = ix; *q; q++)
                    scan_put(sc, *q);
            }
            scan_value(sc);
            sc->plen = old;
            sc->path[old] = '\0';
            scan_ws(sc);
            if (sc->i < sc->n && sc->s[sc->i] == ',')
                sc->i++;
        }
    }
    if (c == '"') {
        scan_string(sc, false);
        return;
    }
    while (sc->i < sc->n && !strchr(",]} \t\r\n", sc->s[sc->i]))
        sc->i++;
}

/* Give each problem from index first on the line of its path, or of the
 * nearest enclosing value that exists in the text. */
static void place_lines(const char *text, size_t len, struct fw_problems *probs, size_t first)
{
    if (!probs || probs->n <= first)
        return;
    struct scan sc = {.s = text, .n = len, .line = 1};
    sc.items = probs->items + first;
    sc.count = probs->n - first;
    sc.best = xcalloc(sc.count, sizeof(size_t));
    scan_value(&sc);
    free(sc.best);
}

/* ---- parse, free, hash ---- */

int framework_parse(const char *text, size_t len, const char *source_name, struct framework **out,
                    struct fw_problems *probs)
{
    struct fwp p = {.probs = probs};
    json_t *root = NULL;
    int r;
    size_t first = probs ? probs->n : 0;
    if (probs) {
        free(probs->source);
        probs->source = source_name ? xstrdup(source_name) : NULL;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    if (len > FRAMEWORK_FILE_MAX) {
        char msg[80];
        snprintf(msg, sizeof(msg), "file is larger than %u bytes", FRAMEWORK_FILE_MAX);
        add_problem(&p, "", 0, msg);
        return DTI_ETOOBIG;
    }
    json_error_t je;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        add_problem(&p, "", je.line > 0 ? je.line : 0, je.text);
        return DTI_EPARSE;
    }
    p.fw = xcalloc(1, sizeof(*p.fw));
    p.fw->doc = root;
    parse_root(&p, root);
    if (p.nprob > 0) {
        place_lines(text, len, probs, first);
        r = p.toobig ? DTI_ETOOBIG : DTI_EPARSE;
        goto out;
    }
    build_indexes(p.fw);
    char *canon = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    if (!canon) {
        add_problem(&p, "", 0, "cannot serialise the framework");
        r = DTI_ENOMEM;
        goto out;
    }
    crypto_sha256(canon, strlen(canon), p.fw->hash);
    free(canon);
    *out = p.fw;
    p.fw = NULL;
    r = 0;
out:
    framework_free(p.fw);
    codeset_release(&p.elements);
    codeset_release(&p.indicators);
    codeset_release(&p.components);
    codeset_release(&p.pillars);
    codeset_release(&p.groups);
    free(p.el_typed);
    free(p.weight_code);
    return r;
}

static void groups_free(struct fw_group *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        free(g[i].indicators);
    free(g);
}

void framework_free(struct framework *fw)
{
    if (!fw)
        return;
    for (size_t i = 0; fw->elements && i < fw->nelements; i++)
        free(fw->elements[i].categories);
    free(fw->elements);
    for (size_t i = 0; fw->components && i < fw->ncomponents; i++) {
        struct fw_method *m = &fw->components[i].method;
        free(m->inputs);
        free(m->tiers);
        free(m->map);
    }
    free(fw->components);
    free(fw->indicators);
    groups_free(fw->pillars, fw->npillars);
    groups_free(fw->groups, fw->ngroups);
    free(fw->bands);
    free(fw->by_code);
    free(fw->required);
    json_decref((json_t *)fw->doc);
    free(fw);
}

void framework_hash(const struct framework *fw, uint8_t out[CRYPTO_SHA256_LEN])
{
    memcpy(out, fw->hash, CRYPTO_SHA256_LEN);
}

/* ---- lookups ---- */

bool framework_find_element(const struct framework *fw, const char *code, size_t *index)
{
    size_t lo = 0, hi = fw->nelements;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(fw->elements[fw->by_code[mid]].code, code);
        if (c == 0) {
            *index = fw->by_code[mid];
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool framework_find_indicator(const struct framework *fw, const char *code, size_t *index)
{
    for (size_t i = 0; i < fw->nindicators; i++)
        if (strcmp(fw->indicators[i].code, code) == 0) {
            *index = i;
            return true;
        }
    return false;
}

bool framework_find_component(const struct framework *fw, const char *code, size_t *index)
{
    for (size_t i = 0; i < fw->ncomponents; i++)
        if (strcmp(fw->components[i].code, code) == 0) {
            *index = i;
            return true;
        }
    return false;
}

/* ---- values ---- */

long fw_element_category(const struct fw_element *el, const struct value *v)
{
    char num[32];
    const char *s;
    if (v->kind == VALUE_TEXT && v->text)
        s = v->text;
    else if (v->kind == VALUE_NUMBER) {
        value_format_number(v->num, num);
        s = num;
    } else
        return -1;
    for (size_t i = 0; i < el->ncategories; i++)
        if (strcmp(el->categories[i].code, s) == 0)
            return (long)i;
    return -1;
}

static const char *article(const char *noun)
{
    return strchr("aeiou", noun[0]) ? "an" : "a";
}

int framework_check_value(const struct framework *fw, const char *element, const struct value *v,
                          struct dti_err *e)
{
    size_t i;
    if (!element || !framework_find_element(fw, element, &i))
        return dti_errf(e, DTI_EELEMENT, "element '%s' is not in framework %s",
                        element ? element : "", fw->id);
    const struct fw_element *el = &fw->elements[i];
    if (v->kind == VALUE_NONE)
        return 0;
    const char *tn = fw_type_name(el->type);
    char a[32], b[32];
    switch (el->type) {
    case FW_TYPE_INTEGER:
    case FW_TYPE_NUMBER:
    case FW_TYPE_PERCENT:
        if (v->kind != VALUE_NUMBER)
            return dti_errf(e, DTI_EVALUE, "%s expects %s %s, got %s", el->code, article(tn), tn,
                            value_kind_name(v->kind));
        if (!isfinite(v->num))
            return dti_errf(e, DTI_EVALUE, "%s expects a finite number", el->code);
        value_format_number(v->num, a);
        if (el->type == FW_TYPE_INTEGER && v->num != floor(v->num))
            return dti_errf(e, DTI_EVALUE, "%s %s is not an integer", el->code, a);
        if (el->has_min && v->num < el->min) {
            value_format_number(el->min, b);
            return dti_errf(e, DTI_EVALUE, "%s %s is below the minimum %s", el->code, a, b);
        }
        if (el->has_max && v->num > el->max) {
            value_format_number(el->max, b);
            return dti_errf(e, DTI_EVALUE, "%s %s is above the maximum %s", el->code, a, b);
        }
        return 0;
    case FW_TYPE_BOOLEAN:
        if (v->kind != VALUE_BOOL)
            return dti_errf(e, DTI_EVALUE, "%s expects a boolean, got %s", el->code,
                            value_kind_name(v->kind));
        return 0;
    case FW_TYPE_CATEGORY: {
        if (fw_element_category(el, v) >= 0)
            return 0;
        char list[300] = "";
        size_t n = 0;
        for (size_t k = 0; k < el->ncategories && n < sizeof(list); k++) {
            int w =
                snprintf(list + n, sizeof(list) - n, "%s%s", k ? ", " : "", el->categories[k].code);
            if (w < 0)
                break;
            n += (size_t)w;
        }
        if (n >= sizeof(list))
            memcpy(list + sizeof(list) - 4, "...", 4);
        if (v->kind == VALUE_BOOL)
            return dti_errf(e, DTI_EVALUE, "%s expects one of its categories (%s), got a boolean",
                            el->code, list);
        char got[64];
        value_format(v, got, sizeof(got));
        return dti_errf(e, DTI_EVALUE, "%s '%s' is not one of its categories: %s", el->code, got,
                        list);
    }
    case FW_TYPE_TEXT:
        return 0;
    }
    return dti_errf(e, DTI_EVALUE, "%s has an unknown type", el->code);
}
