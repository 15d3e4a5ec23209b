/*
 * summary.c - the pure roll-up engine (see summary.h).
 */
#include "summary.h"
#include "score.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* A unit's place in a sort: its code, rank and index (no globals for qsort). */
struct place {
    const char *code;
    unsigned rank;
    size_t index;
};

static int by_code(const void *a, const void *b)
{
    return strcmp(((const struct place *)a)->code, ((const struct place *)b)->code);
}

static int by_rank(const void *a, const void *b)
{
    const struct place *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->code, y->code);
}

/* Indices of units in code order (or rank, then code, when rank is given). */
static size_t *sorted(const struct summary_unit *u, size_t n, const unsigned *rank)
{
    struct place *p = xmalloc((n ? n : 1) * sizeof(*p));
    for (size_t i = 0; i < n; i++)
        p[i] = (struct place){u[i].code, rank ? rank[i] : 0, i};
    qsort(p, n, sizeof(*p), rank ? by_rank : by_code);
    size_t *ix = xmalloc((n ? n : 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        ix[i] = p[i].index;
    free(p);
    return ix;
}

static double unit_completeness(const struct summary_unit *u)
{
    return u->required ? (double)u->present / (double)u->required : 1.0;
}

void summary_compute(const struct framework *fw, const struct summary_unit *units, size_t n,
                     struct summary *out)
{
    memset(out, 0, sizeof(*out));
    size_t *ix = sorted(units, n, NULL);
    out->units = n;
    out->rank = xcalloc(n ? n : 1, sizeof(unsigned));
    double *dti = xmalloc((n ? n : 1) * sizeof(double));
    double comp = 0, sum = 0;
    for (size_t k = 0; k < n; k++) {
        const struct summary_unit *u = &units[ix[k]];
        bool any = false;
        for (size_t i = 0; i < fw->nelements && !any; i++)
            any = u->inputs[i].kind != VALUE_NONE;
        out->reporting += any;
        comp += unit_completeness(u);
        sum += u->dti;
        if (k == 0 || u->dti < out->dti_min)
            out->dti_min = u->dti;
        if (k == 0 || u->dti > out->dti_max)
            out->dti_max = u->dti;
        dti[k] = u->dti;
    }
    if (n) {
        out->completeness = comp / (double)n;
        out->dti_mean = sum / (double)n;
        unsigned *rk = xmalloc(n * sizeof(unsigned));
        score_rank(dti, n, rk);
        for (size_t k = 0; k < n; k++)
            out->rank[ix[k]] = rk[k];
        free(rk);
    }
    free(dti);

    out->elements = xcalloc(fw->nelements ? fw->nelements : 1, sizeof(*out->elements));
    for (size_t i = 0; i < fw->nelements; i++) {
        const struct fw_element *el = &fw->elements[i];
        if (el->aggregate == FW_AGG_NONE)
            continue;
        struct summary_element *re = &out->elements[out->nelements++];
        re->element = i;
        double num = 0, den = 0;
        for (size_t k = 0; k < n; k++) {
            const struct value *v = &units[ix[k]].inputs[i];
            if (v->kind != VALUE_NUMBER)
                continue;
            if (el->aggregate == FW_AGG_WEIGHTED_MEAN) {
                const struct value *w = &units[ix[k]].inputs[el->weight];
                if (w->kind != VALUE_NUMBER)
                    continue;
                num += v->num * w->num;
                den += w->num;
            } else {
                num += v->num;
                den += 1;
            }
            re->units++;
        }
        if (el->aggregate == FW_AGG_SUM) {
            re->has_value = re->units > 0;
            re->value = num;
        } else if (den != 0) {
            re->has_value = true;
            re->value = num / den;
        }
    }
    free(ix);
}

void summary_release(struct summary *r)
{
    if (!r)
        return;
    free(r->rank);
    free(r->elements);
    memset(r, 0, sizeof(*r));
}

json_t *summary_json(const struct framework *fw, const struct summary_unit *units, size_t n,
                     const struct summary *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "units", json_integer((json_int_t)r->units));
    json_object_set_new(o, "reporting", json_integer((json_int_t)r->reporting));
    json_object_set_new(o, "completeness", json_real(r->completeness));
    json_object_set_new(
        o, "dti",
        n ? json_pack("{s:f, s:f, s:f}", "mean", r->dti_mean, "min", r->dti_min, "max", r->dti_max)
          : json_null());
    size_t *ix = sorted(units, n, r->rank);
    json_t *ranking = json_array();
    for (size_t k = 0; k < n; k++) {
        const struct summary_unit *u = &units[ix[k]];
        json_t *e = json_pack("{s:I, s:s}", "rank", (json_int_t)r->rank[ix[k]], "code", u->code);
        json_object_set_new(e, "name", u->name ? json_string(u->name) : json_null());
        json_object_set_new(e, "points", json_real(u->points));
        json_object_set_new(e, "dti", json_real(u->dti));
        json_object_set_new(e, "completeness", json_real(unit_completeness(u)));
        json_array_append_new(ranking, e);
    }
    free(ix);
    json_object_set_new(o, "ranking", ranking);
    json_t *els = json_array();
    for (size_t k = 0; k < r->nelements; k++) {
        const struct summary_element *re = &r->elements[k];
        const struct fw_element *el = &fw->elements[re->element];
        json_t *e = json_pack("{s:s, s:s, s:s}", "code", el->code, "name", el->name, "aggregate",
                              fw_aggregate_name(el->aggregate));
        if (el->aggregate == FW_AGG_WEIGHTED_MEAN)
            json_object_set_new(e, "weight", json_string(fw->elements[el->weight].code));
        json_object_set_new(e, "value", re->has_value ? json_real(re->value) : json_null());
        json_object_set_new(e, "units", json_integer((json_int_t)re->units));
        json_array_append_new(els, e);
    }
    json_object_set_new(o, "elements", els);
    return o;
}
