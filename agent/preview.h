/*
 * preview.h - the office's provisional self-assessment: the values this
 * agent holds for one unit and period, laid out on the elements of the
 * framework in force, and scored by the one engine (common/score.h) the hub
 * uses for the authoritative score. Same framework, same inputs: the same
 * points to the last bit and the same input hash.
 *
 * Every value held counts, whatever its state (pending, synced, conflict,
 * ...): the preview shows what this office's own figures earn. The program
 * says so, and formats the result; nothing here prints.
 */
#ifndef DTI_PREVIEW_H
#define DTI_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "framework.h"
#include "score.h"
#include "store.h"
#include "value.h"

/* What this office holds for one unit and period, parallel to a framework's
 * elements. Everything is owned; preview_inputs_release frees it. */
struct preview_inputs {
    size_t n;             /* fw->nelements */
    struct value *values; /* VALUE_NONE: not held (not collected) */
    char **states;        /* "pending", "synced", "conflict", ...; NULL when not held */
    char **authors;       /* NULL when not held or none */
    char **comments;      /* NULL when not held or none */
    size_t held;          /* elements of the framework with a value */
    size_t outside;       /* values held for the unit and period under codes fw lacks */
};

/* Read the values held for unit and period onto fw's elements into *out
 * (zeroed first). 0 or a DTI_E* code; on failure *out is empty. */
int preview_inputs(struct store *st, const struct framework *fw, const char *unit,
                   const char *period, struct preview_inputs *out, struct dti_err *e);
/* Free what preview_inputs filled in; the struct is empty afterwards. */
void preview_inputs_release(struct preview_inputs *in);

/*
 * Score unit for period on the values held here: the framework in force for
 * the unit's level and period (store_framework), the inputs (preview_inputs),
 * score_unit. On success *out is a new result (score_result_free), *fw the
 * framework it was scored under (framework_free; *out borrows band names
 * from it), *version its version, and, when inputs is not NULL, *inputs the
 * inputs that were scored (preview_inputs_release). DTI_ENOTFOUND when no
 * framework is held for the unit's level and period yet, DTI_ESCOPE for a
 * unit outside this agent's scope. Outputs are written only on success.
 */
int preview_score(struct store *st, const char *unit, const char *period, struct score_result **out,
                  struct framework **fw, uint64_t *version, struct preview_inputs *inputs,
                  struct dti_err *e);

#endif
