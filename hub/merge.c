/*
 * merge.c - conflict rules (see merge.h and docs/internals/MERGE.md).
 */
#include "merge.h"
#include "hlc.h"
#include "receipt.h"

#include <string.h>

uint64_t merge_effective_hlc(uint64_t hlc, uint64_t hub_hlc, uint64_t max_future_ms)
{
    uint64_t ms = hlc_ms(hub_hlc); /* <= HLC_MS_MAX: the sum saturates, never wraps */
    uint64_t bound =
        hlc_make(max_future_ms > HLC_MS_MAX - ms ? HLC_MS_MAX : ms + max_future_ms, 0xffff);
    return hlc > bound ? bound : hlc;
}

static bool same_version(uint64_t h1, const char *o1, uint64_t h2, const char *o2)
{
    return h1 == h2 && strcmp(o1, o2) == 0;
}

/* The deterministic winner of two concurrent versions of equal authority: a
 * clock beyond the bound (clamped) never beats one within it; then the
 * effective HLC, the origin, and the HLC as sent. A total order, so the
 * winner does not depend on which version arrived first. */
static bool wins(const struct merge_version *a, uint64_t eff_a, const struct merge_version *b,
                 uint64_t eff_b)
{
    bool clamped_a = eff_a != a->hlc, clamped_b = eff_b != b->hlc;
    if (clamped_a != clamped_b)
        return clamped_b;
    if (eff_a != eff_b)
        return eff_a > eff_b;
    int o = strcmp(a->origin, b->origin);
    return o != 0 ? o > 0 : a->hlc > b->hlc;
}

void merge_decide(const struct merge_input *in, struct merge_result *out)
{
    memset(out, 0, sizeof(*out));
    const struct merge_version *cur = &in->current, *inc = &in->incoming;
    uint64_t eff_in = merge_effective_hlc(inc->hlc, in->hub_hlc, in->max_future_ms);
    out->future_clamped = eff_in != inc->hlc;

    if (in->known_version ||
        (in->has_current && same_version(cur->hlc, cur->origin, inc->hlc, inc->origin))) {
        out->outcome = OUTCOME_DUPLICATE;
        return;
    }
    if (in->locked) {
        out->outcome = OUTCOME_AMENDMENT;
        return;
    }
    if (!in->has_current ||
        (in->base_hlc && same_version(in->base_hlc, in->base_origin, cur->hlc, cur->origin))) {
        out->outcome = OUTCOME_ACCEPTED;
        out->becomes_current = true;
        return;
    }
    /* concurrent: neither saw the other */
    if (inc->auth != cur->auth) {
        out->conflict = MERGE_CONFLICT_BY_AUTHORITY;
        out->becomes_current = inc->auth > cur->auth;
        out->outcome = out->becomes_current ? OUTCOME_ACCEPTED : OUTCOME_SUPERSEDED;
        return;
    }
    uint64_t eff_cur = merge_effective_hlc(cur->hlc, in->hub_hlc, in->max_future_ms);
    out->conflict = MERGE_CONFLICT_OPEN;
    out->becomes_current = wins(inc, eff_in, cur, eff_cur);
    /* the office must know whether its version is the one in use: the change feed
     * never echoes an agent's own versions back to it */
    out->outcome = out->becomes_current ? OUTCOME_CONFLICT_CURRENT : OUTCOME_CONFLICT;
}
