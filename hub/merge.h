/*
 * merge.h - the rules that decide what an incoming version of a value does
 * to the version the hub holds. Pure: no I/O, no clock (the hub's time is an
 * argument), no allocation. See docs/internals/MERGE.md.
 *
 * In order: the same version again is a duplicate; a locked period makes an
 * amendment pending acceptance; an edit based on the current version (or on
 * nothing, where nothing is held) is a fast-forward; otherwise the two are
 * concurrent - higher authority wins and the conflict is resolved by
 * authority, or at equal authority a deterministic winner (HLC, then origin)
 * is used for scoring and the conflict stays open for the operator. A
 * version more than max_future_ms ahead of hub_hlc (the hub's wall clock)
 * never beats one within that bound, so a future-dated clock cannot win.
 */
#ifndef DTI_MERGE_H
#define DTI_MERGE_H

#include <stdbool.h>
#include <stdint.h>

struct merge_version {
    uint64_t hlc;
    const char *origin; /* agent id or "hub" */
    int auth;           /* enum authority */
};

struct merge_input {
    bool has_current;
    struct merge_version current;
    struct merge_version incoming;
    uint64_t base_hlc; /* the version the incoming edit was based on; 0 = none */
    const char *base_origin;
    bool known_version; /* the incoming version is already in the key's history */
    bool locked;        /* the period is locked or approved for this unit */
    uint64_t hub_hlc;   /* the hub's clock now */
    uint64_t max_future_ms;
};

enum merge_conflict {
    MERGE_NO_CONFLICT = 0,
    MERGE_CONFLICT_OPEN,         /* equal authority: a person must decide */
    MERGE_CONFLICT_BY_AUTHORITY, /* decided by authority, recorded as resolved */
};

struct merge_result {
    int outcome; /* enum outcome (receipt.h); an open conflict whose incoming
                  * version wins for now is OUTCOME_CONFLICT_CURRENT */
    bool becomes_current;
    enum merge_conflict conflict;
    bool future_clamped; /* the incoming clock was ahead beyond the bound */
};

void merge_decide(const struct merge_input *in, struct merge_result *out);

/* The HLC used to compare a version: clamped to hub_hlc + max_future_ms. */
uint64_t merge_effective_hlc(uint64_t hlc, uint64_t hub_hlc, uint64_t max_future_ms);

#endif
