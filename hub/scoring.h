/*
 * scoring.h - the hub's authoritative scoring of a period: every unit whose
 * level has a framework in force for the period is scored with the pure
 * engine (common/score.h) from its current values, beside the score of what
 * the unit itself submitted (self-assessment); units are ranked within their
 * level and within their parent, compared with the previous year's result,
 * and everything is stored as one run (tables score_runs and results) in one
 * transaction. Every run is kept; reports show the latest run of a period.
 *
 * The rules - which units, which values, ranks, growth, the stored detail -
 * are in docs/internals/SCORING.md ("Stored results").
 */
#ifndef DTI_SCORING_H
#define DTI_SCORING_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "value.h"

#define SCORING_LEVELS 4 /* commune, district, department, province */

/* What one run did, per level that has a framework in force. */
struct scoring_level {
    char level[16];            /* "commune", ... */
    int64_t framework_version; /* the version in force it was scored with */
    size_t units;              /* units of that level scored */
};

struct scoring_summary {
    int64_t run; /* score_runs.id */
    char period[PERIOD_MAX + 1];
    size_t units; /* over all levels */
    struct scoring_level levels[SCORING_LEVELS];
    size_t nlevels; /* levels with a framework in force, in the order province,
                       department, district, commune */
};

/*
 * Score every unit of every level that has a framework in force for period,
 * and store the run (ran by `by` at now_ms) in one transaction; *summary says
 * what was done. DTI_EPERIOD for a malformed period, DTI_ENOTFOUND when no
 * level has a framework for it. Nothing is stored on failure.
 */
int scoring_run(sqlite3 *db, const char *period, const char *by, uint64_t now_ms,
                struct scoring_summary *summary, struct dti_err *e);

/* The period one year before p in the same form (2023 -> 2022, 2023Q1 ->
 * 2022Q1, 2023-01 -> 2022-01) into out. false when p is not a valid period
 * or the year before is out of range. */
bool scoring_previous_period(const char *p, char out[PERIOD_MAX + 1]);

/* The id of the latest run of period. DTI_ENOTFOUND when it was never scored. */
int scoring_latest_run(sqlite3 *db, const char *period, int64_t *run, struct dti_err *e);

#endif
