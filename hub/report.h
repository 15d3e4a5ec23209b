/*
 * report.h - what the hub publishes from a scoring run: the report of a
 * period (the latest run, optionally one level) as one JSON document, and
 * rendered from that document as CSV (UTF-8 with BOM, CRLF, RFC 4180: opens
 * in Excel and LibreOffice with its Vietnamese intact) or as one
 * self-contained HTML page (inline CSS, inline SVG bar charts, no external
 * assets); and the explanation of one unit's score, component by component.
 *
 * Read-only. Results are written by scoring.c; the layout of the documents is
 * in docs/internals/SCORING.md ("Reports").
 */
#ifndef DTI_REPORT_H
#define DTI_REPORT_H

#include <jansson.h>
#include <sqlite3.h>

#include "buf.h"
#include "err.h"

#define REPORT_MAX (256u << 20) /* bytes of one rendered report */

enum report_format {
    REPORT_CSV,
    REPORT_JSON,
    REPORT_HTML,
};

/* "csv", "json" or "html". 0 or DTI_EINVAL. */
int report_format_parse(const char *s, enum report_format *out);
/* The HTTP Content-Type of a format, with charset. */
const char *report_content_type(enum report_format f);

/*
 * The report of period's latest run as a new JSON document the caller
 * decrefs: period, run, level (NULL for all levels), the frameworks scored
 * with, and units[] ordered by level then rank, each with every figure.
 * DTI_EPERIOD, DTI_EINVAL (unknown level), DTI_ENOTFOUND when the period was
 * never scored or the run has no unit of that level.
 */
int report_json(sqlite3 *db, const char *period, const char *level, json_t **out,
                struct dti_err *e);

/* The same report rendered in format f, appended to out (which should be
 * empty; its ceiling applies: DTI_ETOOBIG). */
int report_render(sqlite3 *db, const char *period, const char *level, enum report_format f,
                  struct buf *out, struct dti_err *e);

/*
 * The roll-up of period's latest run: the units of `level` (commune) grouped
 * under their ancestor of level group_by (district) as units stood on the
 * period's last day, each unit in exactly one group. Per group: code, name,
 * level, and the summary_json summary (common/summary.h): counts, completeness,
 * DTI mean/min/max, the ranking inside the group, element aggregates. Units
 * with no such ancestor then are listed in "ungrouped". DTI_ENOTFOUND when
 * the period was never scored, no unit of level was, or none stands under a
 * group_by unit (2025: no districts); DTI_EINVAL for a bad level.
 */
int report_group_json(sqlite3 *db, const char *period, const char *level, const char *group_by,
                      json_t **out, struct dti_err *e);
/* The same rendered in format f (CSV: one row per group; HTML: per group a
 * summary and its ranking), appended to out. */
int report_group_render(sqlite3 *db, const char *period, const char *level, const char *group_by,
                        enum report_format f, struct buf *out, struct dti_err *e);

/*
 * The report of period's latest run for one level with each unit that
 * existed during the period rolled into the unit its successor chain leads to
 * that is in effect on as_of (YYYY-MM-DD; units in effect then, or whose
 * chain ends at a unit not in effect, stand for themselves): per successor,
 * the units' inputs combined by the elements' aggregate hints and scored with
 * the framework version the run used for the level, then ranked among the
 * successors; "merged_from" lists the units rolled into each. A view: nothing
 * is stored. docs/internals/UNITS.md ("Merged units in reports"). As
 * report_json, plus DTI_EINVAL for a bad as_of or no level, and DTI_EDB when
 * successors form a loop.
 */
int report_merged_json(sqlite3 *db, const char *period, const char *level, const char *as_of,
                       json_t **out, struct dti_err *e);
/* The same rendered in format f (a "merged from" column), appended to out. */
int report_merged_render(sqlite3 *db, const char *period, const char *level, const char *as_of,
                         enum report_format f, struct buf *out, struct dti_err *e);

/* Render an existing report document (from report_json) into out. */
int report_render_doc(const json_t *doc, enum report_format f, struct buf *out, struct dti_err *e);

/*
 * How unit's score in period's latest run was earned, as a new JSON document:
 * every component with the inputs it read (element, name, value or missing),
 * its method and parameters, points, max and note; indicators, pillars,
 * groups, totals, ranks, growth and self-assessment; and whether the stored
 * inputs reproduce the stored input hash and points. DTI_ENOTFOUND when the
 * period was never scored or the unit was not in the run.
 */
int report_explain_json(sqlite3 *db, const char *unit, const char *period, json_t **out,
                        struct dti_err *e);

#endif
