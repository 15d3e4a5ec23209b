/*
 * import.h - `dti-agent import`: a CSV file of figures read into edits and
 * recorded all or none.
 *
 * Rows are unit,element,period,value[,comment,author]. An optional header
 * row starts with "unit,element"; the columns it names among the first six
 * must be those, in that order. A file with a header may carry more columns
 * after the sixth (the fill-in template's helper columns): they are ignored,
 * and a row may have no more fields than the header. Without a header a row
 * has 4 to 6 fields. A row whose value cell is empty records nothing (a blank
 * template row: not collected stays not collected) and is counted as
 * skipped. A UTF-8 byte-order mark is skipped. Any other problem refuses the
 * whole file, naming the file and line.
 */
#ifndef DTI_IMPORT_H
#define DTI_IMPORT_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "store.h"

#define IMPORT_MAX_ROWS 1000000

/* The rows of one file; owns every string its edits point to. */
struct import {
    struct edit *edits;
    size_t n;
    size_t *lines;  /* line of each edit in the file */
    size_t skipped; /* rows without a value */
    char **owned;
    size_t nowned;
    char *name; /* the file's name, for messages */
};

/*
 * Read every row of f (borrowed) into *im, which must be zeroed; name labels
 * messages ("name:line: ..."). Each value is parsed (value_parse); keys,
 * scope and bounds are checked when recording. On failure im holds nothing
 * usable but must still be released.
 */
int import_read(FILE *f, const char *name, struct import *im, struct dti_err *e);
/* Record every edit read, all or none (store_record); a refusal names the
 * file and the line of the first bad row. */
int import_record(struct store *st, const struct import *im, uint64_t now_ms, struct dti_err *e);
/* Free what import_read filled in; the struct is zeroed and reusable. */
void import_release(struct import *im);

#endif
