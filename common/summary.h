/*
 * summary.h - the pure roll-up engine: a set of units of one level scored on
 * one framework (a district's communes), summarised the same way wherever it
 * runs - the hub's group-by report and a district agent's `rollup` call this
 * one function on the same inputs and print the same digits.
 *
 * Counts (units, units reporting any figure of the framework), completeness
 * (the mean of each unit's inputs present / required), the DTI value's mean,
 * minimum and maximum, a competition ranking inside the set, and per element
 * with an aggregate hint (framework.h: sum, mean, weighted_mean:<element>)
 * the aggregate of the units' raw figures. Sums run in unit-code order, so
 * the result does not depend on the order the caller found the units in.
 * No I/O, no clock. The rules are in docs/internals/SCORING.md ("Roll-ups").
 */
#ifndef DTI_SUMMARY_H
#define DTI_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "framework.h"
#include "value.h"

/* One unit's part: its score and the inputs it was scored on (parallel to
 * fw->elements, VALUE_NONE = not collected). Everything borrowed. */
struct summary_unit {
    const char *code;
    const char *name; /* NULL: none known */
    double points, dti;
    size_t required, present;
    const struct value *inputs;
};

/* One element with an aggregate hint. */
struct summary_element {
    size_t element; /* index in fw->elements */
    size_t units;   /* units whose figure counted (and its weight, for weighted_mean) */
    bool has_value; /* false: no unit had a figure, or the weights summed to 0 */
    double value;
};

struct summary {
    size_t units;        /* in the set */
    size_t reporting;    /* with at least one figure of the framework collected */
    double completeness; /* mean over units of present / required (1 when none required) */
    double dti_mean, dti_min, dti_max; /* 0 when the set is empty */
    unsigned *rank; /* parallel to the caller's units: competition rank by DTI value */
    struct summary_element *elements; /* aggregated elements, in framework order */
    size_t nelements;
};

/* Summarise units[0..n) scored on fw into *out (summary_release frees it). */
void summary_compute(const struct framework *fw, const struct summary_unit *units, size_t n,
                     struct summary *out);
void summary_release(struct summary *r);

/*
 * The summary as a new JSON object: units, reporting, completeness, dti
 * {mean, min, max} (null when the set is empty), ranking[] {rank, code,
 * name, points, dti, completeness} in rank then code order, and elements[]
 * {code, name, aggregate, weight (weighted_mean only), value (null when
 * none), units}.
 */
json_t *summary_json(const struct framework *fw, const struct summary_unit *units, size_t n,
                     const struct summary *r);

#endif
