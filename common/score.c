/*
 * score.c - the scoring engine: methods, sums, band, completeness, the input
 * hash, and competition ranking. The formulas and the rounding rule are in
 * docs/internals/SCORING.md; keep the two in step.
 */
#include "score.h"
#include "util.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double score_round4(double x)
{
    return round(x * 10000.0) / 10000.0;
}

const char *score_note_name(enum score_note note)
{
    static const char *const names[] = {"ok",           "missing",          "zero_denominator",
                                        "capped",       "unknown_category", "invalid",
                                        "informational"};
    return (size_t)note < ARRAY_SIZE(names) ? names[note] : "?";
}

/* Whether a collected value has the kind the element's type needs. Bounds are
 * not checked here: they are checked at entry, and the methods clamp. */
static bool usable(const struct fw_element *el, const struct value *v)
{
    switch (el->type) {
    case FW_TYPE_INTEGER:
    case FW_TYPE_NUMBER:
    case FW_TYPE_PERCENT:
        return v->kind == VALUE_NUMBER && isfinite(v->num);
    case FW_TYPE_BOOLEAN:
        return v->kind == VALUE_BOOL;
    case FW_TYPE_CATEGORY:
        return (v->kind == VALUE_TEXT && v->text) || (v->kind == VALUE_NUMBER && isfinite(v->num));
    case FW_TYPE_TEXT:
        return v->kind != VALUE_NONE;
    }
    return false;
}

/* Fraction f of max, clamped to 0..1; note CAPPED when f was above 1. */
static double clamp_fraction(double f, enum score_note *note)
{
    if (f > 1) {
        *note = SCORE_CAPPED;
        return 1;
    }
    return f < 0 ? 0 : f;
}

static void score_component(const struct framework *fw, const struct fw_component *c,
                            const struct value *in, struct score_component *out)
{
    const struct fw_method *m = &c->method;
    double max = c->max_points;
    unsigned missing = 0, invalid = 0;
    for (size_t k = 0; k < m->ninputs; k++) {
        const struct value *v = &in[m->inputs[k]];
        if (v->kind == VALUE_NONE)
            missing++;
        else if (!usable(&fw->elements[m->inputs[k]], v))
            invalid++;
    }
    out->max = max;
    out->missing = missing;
    out->points = 0;
    out->note = SCORE_OK;
    if (max <= 0 || m->kind == FW_METHOD_NONE) {
        out->note = SCORE_INFORMATIONAL;
        return;
    }
    double f = 0;    /* fraction of max */
    double raw = -1; /* points given directly (tiers), else f * max */
    enum score_note note = SCORE_OK;
    if (m->kind == FW_METHOD_CHECKS) {
        /* A missing or invalid check is a check not met; the others still count. */
        size_t met = 0;
        for (size_t k = 0; k < m->ninputs; k++) {
            const struct value *v = &in[m->inputs[k]];
            if (v->kind == VALUE_BOOL && v->b)
                met++;
        }
        f = (double)met / (double)m->ninputs;
        note = missing ? SCORE_MISSING : invalid ? SCORE_INVALID : SCORE_OK;
    } else if (missing) {
        note = SCORE_MISSING;
    } else if (invalid) {
        note = SCORE_INVALID;
    } else {
        const struct value *v = &in[m->inputs[0]];
        switch (m->kind) {
        case FW_METHOD_RATIO: {
            double a = v->num, b = in[m->inputs[1]].num;
            if (b == 0) {
                note = SCORE_ZERO_DENOMINATOR;
                f = m->zero_full ? 1 : 0;
                break;
            }
            double r = a / b;
            if (m->has_target)
                r /= m->target;
            f = clamp_fraction(r, &note);
            break;
        }
        case FW_METHOD_TIERS: {
            double pts = 0;
            for (size_t t = 0; t < m->ntiers; t++)
                if (m->tiers[t].threshold <= v->num) {
                    pts = m->tiers[t].points;
                    break;
                }
            if (pts > max) {
                pts = max;
                note = SCORE_CAPPED;
            }
            raw = pts;
            break;
        }
        case FW_METHOD_CATEGORICAL: {
            long idx = fw_element_category(&fw->elements[m->inputs[0]], v);
            if (idx < 0) {
                note = SCORE_UNKNOWN_CATEGORY;
                break;
            }
            for (size_t k = 0; k < m->nmap; k++)
                if (m->map[k].index == (size_t)idx) {
                    f = m->map[k].fraction;
                    break;
                }
            break;
        }
        case FW_METHOD_BOOLEAN:
            f = v->b ? 1 : 0;
            break;
        case FW_METHOD_VALUE: {
            double x = v->num;
            if (fw->elements[m->inputs[0]].type == FW_TYPE_PERCENT)
                x /= 100;
            f = clamp_fraction(x, &note);
            break;
        }
        case FW_METHOD_CHECKS:
        case FW_METHOD_NONE:
            break;
        }
    }
    double pts = score_round4(raw >= 0 ? raw : f * max);
    out->points = pts > max ? max : pts;
    out->note = note;
}

/* ---- input hash ---- */

struct hbuf {
    struct sha256 h;
    unsigned char b[4096];
    size_t n;
};

static void hput(struct hbuf *hb, const void *p, size_t n)
{
    if (hb->n + n > sizeof(hb->b)) {
        sha256_update(&hb->h, hb->b, hb->n);
        hb->n = 0;
    }
    if (n > sizeof(hb->b)) {
        sha256_update(&hb->h, p, n);
        return;
    }
    memcpy(hb->b + hb->n, p, n);
    hb->n += n;
}

static void put_be(unsigned char *out, uint64_t x, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        out[i] = (unsigned char)(x & 0xFF);
        x >>= 8;
    }
}

void score_input_hash(const struct framework *fw, const struct value *inputs,
                      uint8_t out[CRYPTO_SHA256_LEN])
{
    static const char magic[] = "dtisync-score-inputs-v1";
    struct hbuf hb;
    hb.n = 0;
    sha256_init(&hb.h);
    hput(&hb, magic, sizeof(magic)); /* with its NUL */
    hput(&hb, fw->hash, CRYPTO_SHA256_LEN);
    for (size_t k = 0; k < fw->nelements; k++) {
        size_t i = fw->by_code[k];
        const char *code = fw->elements[i].code;
        hput(&hb, code, strlen(code) + 1);
        const struct value *v = &inputs[i];
        unsigned char t[9];
        switch (v->kind) {
        case VALUE_NUMBER: {
            double d = v->num == 0 ? 0.0 : v->num;
            uint64_t bits;
            memcpy(&bits, &d, sizeof(bits));
            t[0] = 0x01;
            put_be(t + 1, bits, 8);
            hput(&hb, t, 9);
            break;
        }
        case VALUE_BOOL:
            t[0] = 0x02;
            t[1] = v->b ? 1 : 0;
            hput(&hb, t, 2);
            break;
        case VALUE_TEXT: {
            const char *s = v->text ? v->text : "";
            size_t n = strlen(s);
            t[0] = 0x03;
            put_be(t + 1, (uint64_t)n, 4);
            hput(&hb, t, 5);
            hput(&hb, s, n);
            break;
        }
        case VALUE_NONE:
        default:
            t[0] = 0x00;
            hput(&hb, t, 1);
            break;
        }
    }
    sha256_update(&hb.h, hb.b, hb.n);
    sha256_final(&hb.h, out);
}

/* ---- the unit's score ---- */

static double ratio_of(double points, double max)
{
    return max > 0 ? points / max : 0;
}

static void score_groups(const struct fw_group *g, size_t n, const struct score_indicator *ind,
                         struct score_group *out)
{
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (size_t k = 0; k < g[i].nindicators; k++)
            sum += ind[g[i].indicators[k]].points;
        out[i].points = score_round4(sum);
        out[i].max = g[i].max_points;
        out[i].value = ratio_of(out[i].points, out[i].max);
    }
}

int score_unit(const struct framework *fw, const struct value *inputs, struct score_result **out)
{
    assert(fw && inputs && out);
    struct score_result *r = xcalloc(1, sizeof(*r));
    r->ncomponents = fw->ncomponents;
    r->nindicators = fw->nindicators;
    r->npillars = fw->npillars;
    r->ngroups = fw->ngroups;
    r->components = xcalloc(fw->ncomponents ? fw->ncomponents : 1, sizeof(*r->components));
    r->indicators = xcalloc(fw->nindicators ? fw->nindicators : 1, sizeof(*r->indicators));
    r->pillars = xcalloc(fw->npillars ? fw->npillars : 1, sizeof(*r->pillars));
    r->groups = xcalloc(fw->ngroups ? fw->ngroups : 1, sizeof(*r->groups));

    double total = 0;
    for (size_t i = 0; i < fw->nindicators; i++) {
        const struct fw_indicator *ind = &fw->indicators[i];
        double sum = 0;
        for (size_t c = ind->first_component; c < ind->first_component + ind->ncomponents; c++) {
            score_component(fw, &fw->components[c], inputs, &r->components[c]);
            sum += r->components[c].points;
        }
        struct score_indicator *si = &r->indicators[i];
        si->points = score_round4(sum);
        si->max = ind->max_points;
        si->scored = ind->max_points > 0;
        si->value = ratio_of(si->points, si->max);
        total += si->points;
    }
    score_groups(fw->pillars, fw->npillars, r->indicators, r->pillars);
    score_groups(fw->groups, fw->ngroups, r->indicators, r->groups);

    r->points = score_round4(total);
    r->max = fw->max_points;
    r->dti = ratio_of(r->points, r->max);
    r->band = -1;
    for (size_t b = 0; b < fw->nbands; b++)
        if (r->dti >= fw->bands[b].min) {
            r->band = (long)b;
            r->band_name = fw->bands[b].name;
            break;
        }

    r->inputs_required = fw->nrequired;
    for (size_t k = 0; k < fw->nrequired; k++)
        if (inputs[fw->required[k]].kind != VALUE_NONE)
            r->inputs_present++;
    r->completeness =
        r->inputs_required ? (double)r->inputs_present / (double)r->inputs_required : 1.0;
    score_input_hash(fw, inputs, r->input_hash);
    *out = r;
    return 0;
}

void score_result_free(struct score_result *r)
{
    if (!r)
        return;
    free(r->components);
    free(r->indicators);
    free(r->pillars);
    free(r->groups);
    free(r);
}

/* ---- ranking ---- */

struct ranked {
    double v;
    size_t i;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

void score_rank(const double *values, size_t n, unsigned *ranks)
{
    assert(n <= UINT_MAX);
    if (n == 0)
        return;
    struct ranked *s = xmalloc(n * sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        assert(isfinite(values[i]));
        s[i].v = score_round4(values[i]) + 0.0; /* -0 and 0 are one value */
        s[i].i = i;
    }
    qsort(s, n, sizeof(*s), cmp_ranked);
    unsigned rank = 1;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && s[k].v != s[k - 1].v)
            rank = (unsigned)(k + 1);
        ranks[s[k].i] = rank;
    }
    free(s);
}

/* A value's place in the sort by group: group, then position (stable). */
struct by_group {
    const char *group;
    size_t index;
};

static int by_group_cmp(const void *a, const void *b)
{
    const struct by_group *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

void score_rank_grouped(const double *values, const char *const *groups, size_t n,
                        unsigned *rank_all, unsigned *rank_group, size_t *group_size)
{
    if (n == 0)
        return;
    score_rank(values, n, rank_all);
    double *v = xmalloc(n * sizeof(*v));
    unsigned *rk = xmalloc(n * sizeof(*rk));
    struct by_group *order = xmalloc(n * sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = (struct by_group){groups[i], i};
    qsort(order, n, sizeof(*order), by_group_cmp);
    for (size_t g = 0; g < n;) {
        size_t end = g + 1;
        while (end < n && !strcmp(order[end].group, order[g].group))
            end++;
        for (size_t k = g; k < end; k++)
            v[k - g] = values[order[k].index];
        score_rank(v, end - g, rk);
        for (size_t k = g; k < end; k++) {
            rank_group[order[k].index] = rk[k - g];
            if (group_size)
                group_size[order[k].index] = end - g;
        }
        g = end;
    }
    free(order);
    free(rk);
    free(v);
}
