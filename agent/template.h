/*
 * template.h - the fill-in template an office prints for one period: one row
 * per element of the framework in force, in the framework's order, as CSV
 * that Excel and LibreOffice open with Vietnamese text intact (UTF-8 with a
 * byte-order mark, CRLF line ends, RFC 4180 quoting).
 *
 * The first six columns are exactly what `dti-agent import` reads -
 * unit,element,period,value,comment,author - so the filled file imports as
 * it is; a row whose value is left empty records nothing. The value, comment
 * and author of a figure already held here are filled in. The columns after
 * them are for people and the importer ignores them: ten_chi_tieu (the
 * element's name), kieu (its type), gioi_han (bounds, or the category codes
 * to type), bat_buoc ("có" when a scored component reads it), chi_so (the
 * components that read it), minh_chung (their evidence) and mo_ta (the
 * element's description). Helper cells are cut (with "…") so every row stays
 * within the CSV reader's record ceiling.
 *
 * Pure: builds bytes in a buffer, no I/O.
 */
#ifndef DTI_TEMPLATE_H
#define DTI_TEMPLATE_H

#include "buf.h"
#include "framework.h"
#include "preview.h"

#define TEMPLATE_HELPER_MAX 6000 /* bytes of UTF-8 in one helper cell */

/* The header row's names, in order (TEMPLATE_COLUMNS of them). */
#define TEMPLATE_COLUMNS 13
extern const char *const template_columns[TEMPLATE_COLUMNS];

/*
 * Append the template for unit and period under fw to out. held (may be
 * NULL) gives the figures already held, parallel to fw->elements
 * (preview_inputs). 0, or DTI_ETOOBIG when out's limit is reached (out may
 * then hold part of the template).
 */
int template_build(struct buf *out, const struct framework *fw, const char *unit,
                   const char *period, const struct preview_inputs *held);

#endif
