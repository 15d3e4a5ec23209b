/*
 * import.c - reading a CSV file of figures into edits (see import.h).
 */
#include "import.h"
#include "csv.h"
#include "util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_FIELDS 6 /* unit,element,period,value,comment,author */

static const char *const import_columns[IMPORT_FIELDS] = {"unit",  "element", "period",
                                                          "value", "comment", "author"};

void import_release(struct import *im)
{
    if (!im)
        return;
    for (size_t i = 0; i < im->nowned; i++)
        free(im->owned[i]);
    free(im->owned);
    free(im->edits);
    free(im->lines);
    free(im->name);
    memset(im, 0, sizeof(*im));
}

/* A header row: its columns among the first six must be the importer's. */
static int import__header(const char *name, size_t line, char **fld, size_t nf, struct dti_err *e)
{
    for (size_t i = 2; i < nf && i < IMPORT_FIELDS; i++)
        if (strcmp(fld[i], import_columns[i]) != 0)
            return dti_errf(e, DTI_EPARSE, "%s:%zu: header column %zu is '%s', expected '%s'", name,
                            line, i + 1, fld[i], import_columns[i]);
    return 0;
}

int import_read(FILE *f, const char *name, struct import *im, struct dti_err *e)
{
    struct csv *c = NULL;
    size_t cap = 0;
    size_t header = 0; /* fields in the header row; 0 = none */
    bool first = true;
    char **fld;
    size_t nf;
    int r;
    im->name = xstrdup(name);
    if ((r = csv_open(&c, f)) < 0)
        goto out;
    while ((r = csv_next(c, &fld, &nf, e)) > 0) {
        size_t line = csv_line(c);
        if (first && nf >= 4 && !strcmp(fld[0], "unit") && !strcmp(fld[1], "element")) {
            first = false;
            if ((r = import__header(name, line, fld, nf, e)) < 0)
                goto out;
            header = nf;
            continue;
        }
        first = false;
        size_t max = header > IMPORT_FIELDS ? header : IMPORT_FIELDS;
        if (nf < 4 || nf > max) {
            if (max > IMPORT_FIELDS)
                r = dti_errf(e, DTI_EPARSE,
                             "%s:%zu: %zu fields, expected unit,element,period,value[,comment,"
                             "author] and at most the %zu columns the header names",
                             name, line, nf, max);
            else
                r = dti_errf(e, DTI_EPARSE,
                             "%s:%zu: %zu fields, expected unit,element,period,value[,comment,"
                             "author]",
                             name, line, nf);
            goto out;
        }
        if (!*fld[3]) { /* left blank: not collected stays not collected */
            im->skipped++;
            continue;
        }
        if (im->n == IMPORT_MAX_ROWS) {
            r = dti_errf(e, DTI_ETOOBIG, "%s: more than %d rows", name, IMPORT_MAX_ROWS);
            goto out;
        }
        if (im->n == cap) {
            cap = cap ? cap * 2 : 256;
            im->edits = xrealloc(im->edits, cap * sizeof(*im->edits));
            im->lines = xrealloc(im->lines, cap * sizeof(*im->lines));
            im->owned = xrealloc(im->owned, cap * IMPORT_FIELDS * sizeof(char *));
        }
        const char *v[IMPORT_FIELDS] = {NULL};
        for (size_t i = 0; i < nf && i < IMPORT_FIELDS; i++)
            v[i] = im->owned[im->nowned++] = xstrdup(fld[i]);
        struct edit *ed = &im->edits[im->n];
        memset(ed, 0, sizeof(*ed));
        ed->unit = v[0];
        ed->element = v[1];
        ed->period = v[2];
        ed->comment = v[4] && *v[4] ? v[4] : NULL;
        ed->author = v[5] && *v[5] ? v[5] : NULL;
        if ((r = value_parse(v[3], &ed->value, e)) < 0) {
            char where[300];
            snprintf(where, sizeof(where), "%s:%zu", name, line);
            dti_err_prefix(e, r, where);
            goto out;
        }
        im->lines[im->n++] = line;
    }
    if (r < 0)
        dti_err_prefix(e, r, name);
out:
    csv_free(c);
    return r < 0 ? r : 0;
}

int import_record(struct store *st, const struct import *im, uint64_t now_ms, struct dti_err *e)
{
    size_t bad = 0;
    int r = store_record(st, im->edits, im->n, now_ms, &bad, e);
    if (r < 0) {
        char where[300];
        snprintf(where, sizeof(where), "%s:%zu", im->name ? im->name : "",
                 im->n ? im->lines[bad] : 0);
        dti_err_prefix(e, r, where);
    }
    return r;
}
