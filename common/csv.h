/*
 * csv.h - a bounded RFC 4180 reader for UTF-8 CSV files.
 *
 * Reads one record at a time from a FILE*. Accepts LF or CRLF line ends, a
 * UTF-8 byte-order mark at the start of the file, quoted fields with ""
 * escapes and embedded separators or newlines. Every field is validated as
 * UTF-8 text (util.h utf8_valid_text, except that newlines and CR are allowed
 * inside quoted fields). Fields, fields per record and record bytes have
 * ceilings; exceeding one is an error naming the line, never a truncation.
 * Lines starting with '#' outside quotes are comments and are skipped.
 */
#ifndef DTI_CSV_H
#define DTI_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"

#define CSV_MAX_FIELDS 64
#define CSV_MAX_RECORD 65536 /* bytes in one record, quotes included */

struct csv;

/* Start reading f (borrowed, not closed by csv_free). */
int csv_open(struct csv **out, FILE *f);
/*
 * Read the next record. On success returns 1 and sets *fields to an array of
 * *nfields NUL-terminated strings owned by the reader, valid until the next
 * call; returns 0 at end of file; a negative DTI_E* code (DTI_EPARSE,
 * DTI_ETOOBIG, DTI_EIO) with e->msg like "line 7: unterminated quoted field".
 * Blank lines are skipped.
 */
int csv_next(struct csv *c, char ***fields, size_t *nfields, struct dti_err *e);
/* Physical line number on which the last returned record started (1-based). */
size_t csv_line(const struct csv *c);
void csv_free(struct csv *c);

/*
 * Append one RFC 4180 field to out: a ',' before it unless first; quoted when
 * it holds a comma, quote, CR or LF (quotes doubled); when max > 0, cut at max
 * bytes on a character boundary with "…" after. With text set, a text a
 * spreadsheet would run as a formula (=, +, -, @, tab or CR first) is written
 * after an apostrophe - for cells people read, never for cells read back
 * (a value of -5 must stay -5). 0 or DTI_ETOOBIG (out's ceiling).
 */
int csv_put(struct buf *out, const char *s, bool first, bool text, size_t max);

#endif
