/*
 * rollup.c - the district office's roll-up of its communes (see rollup.h).
 */
#include "rollup.h"
#include "db.h"
#include "preview.h"
#include "summary.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* One commune scored here. */
struct scored_commune {
    char code[UNIT_CODE_MAX + 1];
    struct score_result *res;
    struct preview_inputs in;
};

/* The communes in scope under this agent's own unit, by code. */
static int scope_communes(struct store *st, const char *own, char (**codes)[UNIT_CODE_MAX + 1],
                          size_t *n, struct dti_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = db_prepare(
        store_db(st), &s,
        "SELECT unit FROM scope WHERE level = 'commune' AND unit <> ?1 ORDER BY unit", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(s, 1, own, -1, SQLITE_STATIC);
    size_t cnt = 0, cap = 16;
    char(*v)[UNIT_CODE_MAX + 1] = xmalloc(cap * sizeof(*v));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        snprintf(v[cnt++], UNIT_CODE_MAX + 1, "%s", db_column_str(s, 0));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(v);
        return db_fail(store_db(st), e, "read scope");
    }
    *codes = v;
    *n = cnt;
    return 0;
}

int rollup_build(struct store *st, const char *period, json_t **out, struct dti_err *e)
{
    struct store_identity id;
    char(*codes)[UNIT_CODE_MAX + 1] = NULL;
    struct scored_commune *c = NULL;
    struct summary_unit *su = NULL;
    struct framework *fw = NULL;
    uint64_t version = 0;
    size_t n = 0, done = 0;
    int r;
    if ((r = store_identity(st, &id, e)) < 0 ||
        (r = scope_communes(st, id.unit, &codes, &n, e)) < 0)
        return r;
    if (n == 0) {
        r = dti_errf(e, DTI_ENOTFOUND,
                     "no commune in the scope of unit %s (a roll-up is for a district office)",
                     id.unit);
        goto out;
    }
    c = xcalloc(n, sizeof(*c));
    su = xcalloc(n, sizeof(*su));
    for (; done < n; done++) {
        struct scored_commune *x = &c[done];
        struct framework *f = NULL;
        uint64_t ver = 0;
        snprintf(x->code, sizeof(x->code), "%s", codes[done]);
        if ((r = preview_score(st, x->code, period, &x->res, &f, &ver, &x->in, e)) < 0) {
            if (r == DTI_ENOTFOUND)
                dti_err_set(e, r,
                            "no framework for commune units in period %s yet; run "
                            "'dti-agent sync'",
                            period);
            goto out;
        }
        if (!fw) {
            fw = f;
            version = ver;
        } else {
            framework_free(f); /* the same version: one level, one period */
            if (ver != version) {
                done++;
                r = dti_errf(e, DTI_ESTATE,
                             "communes of period %s scored under two framework "
                             "versions; run 'dti-agent sync'",
                             period);
                goto out;
            }
            /* the result borrowed its band name from f: borrow it from fw, the same
             * version, instead */
            if (x->res->band >= 0)
                x->res->band_name = fw->bands[x->res->band].name;
        }
        su[done] = (struct summary_unit){x->code,
                                         NULL,
                                         x->res->points,
                                         x->res->dti,
                                         x->res->inputs_required,
                                         x->res->inputs_present,
                                         x->in.values};
    }
    /* band names in results are borrowed from fw; it outlives them below */
    struct summary sum;
    summary_compute(fw, su, n, &sum);
    json_t *doc =
        json_pack("{s:s, s:s, s:s}", "code", id.unit, "period", period, "level", "commune");
    json_object_set_new(doc, "framework",
                        json_pack("{s:s, s:I}", "id", fw->id, "version", (json_int_t)version));
    json_t *body = summary_json(fw, su, n, &sum);
    json_object_update(doc, body);
    json_decref(body);
    summary_release(&sum);
    *out = doc;
    r = 0;
out:
    for (size_t i = 0; i < done && c; i++) {
        score_result_free(c[i].res);
        preview_inputs_release(&c[i].in);
    }
    free(c);
    free(su);
    free(codes);
    framework_free(fw);
    return r;
}
