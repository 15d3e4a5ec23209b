/*
 * rollup.h - a district office's view of its communes together: for a period,
 * every commune in this agent's scope scored provisionally on what the agent
 * holds (its own figures and those pulled for its scope), exactly as
 * preview.c scores one unit, then summarised by the pure roll-up engine
 * (common/summary.h) the hub's `report --group-by` uses. Same framework, same
 * inputs: the same counts, averages, ranks and aggregates as the hub's
 * report for the district. Nothing here prints.
 */
#ifndef DTI_AGENT_ROLLUP_H
#define DTI_AGENT_ROLLUP_H

#include <jansson.h>

#include "err.h"
#include "store.h"

/*
 * The roll-up of period as a new JSON document (the caller decrefs): code
 * (this agent's unit), period, level ("commune"), framework {id, version},
 * then the summary (summary_json): units, reporting, completeness, dti,
 * ranking[], elements[]. DTI_ENOTFOUND when no commune is in scope or no
 * framework for communes and period is held yet.
 */
int rollup_build(struct store *st, const char *period, json_t **out, struct dti_err *e);

#endif
