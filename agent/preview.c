/*
 * preview.c - the provisional self-assessment (see preview.h): the values
 * held here, gathered onto the framework's elements, through score_unit.
 */
#include "preview.h"
#include "db.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void preview_inputs_release(struct preview_inputs *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->n; i++) {
        if (in->values[i].kind == VALUE_TEXT)
            free((char *)in->values[i].text);
        free(in->states[i]);
        free(in->authors[i]);
        free(in->comments[i]);
    }
    free(in->values);
    free(in->states);
    free(in->authors);
    free(in->comments);
    memset(in, 0, sizeof(*in));
}

static char *dup_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

int preview_inputs(struct store *st, const struct framework *fw, const char *unit,
                   const char *period, struct preview_inputs *out, struct dti_err *e)
{
    struct preview_inputs in = {0};
    sqlite3_stmt *s = NULL;
    size_t n = fw->nelements ? fw->nelements : 1;
    in.n = fw->nelements;
    in.values = xcalloc(n, sizeof(*in.values));
    in.states = xcalloc(n, sizeof(*in.states));
    in.authors = xcalloc(n, sizeof(*in.authors));
    in.comments = xcalloc(n, sizeof(*in.comments));
    memset(out, 0, sizeof(*out));
    int r = db_prepare(store_db(st), &s,
                       "SELECT element, kind, num, txt, state, author, comment FROM vals "
                       "WHERE unit = ?1 AND period = ?2",
                       e);
    if (r < 0)
        goto out;
    sqlite3_bind_text(s, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, period, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        size_t i;
        if (!framework_find_element(fw, db_column_str(s, 0), &i)) {
            in.outside++; /* recorded before this framework arrived, or under an old one */
            continue;
        }
        struct value v;
        db_column_value(s, 1, &v);
        if (v.kind == VALUE_NONE) /* the store never holds one; not collected if it did */
            continue;
        if (v.kind == VALUE_TEXT)
            v.text = xstrdup(v.text); /* the statement's copy dies at the next step */
        in.values[i] = v;
        in.states[i] = xstrdup(db_column_str(s, 4));
        in.authors[i] = dup_or_null(db_column_str(s, 5));
        in.comments[i] = dup_or_null(db_column_str(s, 6));
        in.held++;
    }
    if (rc != SQLITE_DONE)
        r = db_fail(store_db(st), e, "read values");
out:
    sqlite3_finalize(s);
    if (r < 0) {
        preview_inputs_release(&in);
        return r;
    }
    *out = in;
    return 0;
}

int preview_score(struct store *st, const char *unit, const char *period, struct score_result **out,
                  struct framework **fw, uint64_t *version, struct preview_inputs *inputs,
                  struct dti_err *e)
{
    struct framework *f = NULL;
    struct preview_inputs in = {0};
    struct score_result *res = NULL;
    uint64_t ver = 0;
    int r;
    if ((r = store_check_scope(st, unit, e)) < 0 ||
        (r = store_framework(st, unit, period, &f, &ver, e)) < 0 ||
        (r = preview_inputs(st, f, unit, period, &in, e)) < 0)
        goto out;
    /* the engine itself: exactly what the hub calls on the same framework and inputs */
    if ((r = score_unit(f, in.values, &res)) < 0)
        goto out;
    *out = res;
    *fw = f;
    *version = ver;
    if (inputs)
        *inputs = in;
    else
        preview_inputs_release(&in);
    return 0;
out:
    score_result_free(res);
    preview_inputs_release(&in);
    framework_free(f);
    return r;
}
