/*
 * test_merge.c - direct tests of hub/merge.c beside the data-driven vectors
 * (test_merge_vectors.c): the future bound of merge_effective_hlc at, below
 * and past its edge and where the arithmetic would overflow; that the
 * deterministic winner of two concurrent versions does not depend on which
 * arrived first (future-dated ones included); authority over every pair of
 * levels; a base that matches the current HLC but not its origin; and that
 * every field of the result is written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"
#include "hubdb.h"
#include "merge.h"
#include "receipt.h"
#include "util.h"

#define NOW_MS UINT64_C(1700000000000)
#define MAXF UINT64_C(300000)
#define A "a1a1a1a1a1a1a1a1"
#define B "b2b2b2b2b2b2b2b2"

static void check_hlc(uint64_t got, uint64_t want, const char *what, const char *file, int line)
{
    if (got != want)
        print_error("%s: got %" PRIu64 ":%u, want %" PRIu64 ":%u\n", what, hlc_ms(got),
                    hlc_logical(got), hlc_ms(want), hlc_logical(want));
    _assert_int_equal(got, want, file, line);
}

#define CHECK_HLC(got, want, what) check_hlc((got), (want), (what), __FILE__, __LINE__)

static void test_effective_hlc_bounds(void **state)
{
    uint64_t hub = hlc_make(NOW_MS, 9);
    uint64_t bound = hlc_make(NOW_MS + MAXF, 0xffff);
    CHECK_HLC(merge_effective_hlc(hlc_make(NOW_MS - 60000, 0), hub, MAXF),
              hlc_make(NOW_MS - 60000, 0), "in the past");
    CHECK_HLC(merge_effective_hlc(hub, hub, MAXF), hub, "the hub's own clock");
    CHECK_HLC(merge_effective_hlc(bound - 1, hub, MAXF), bound - 1, "just below the bound");
    CHECK_HLC(merge_effective_hlc(bound, hub, MAXF), bound, "at the bound");
    CHECK_HLC(merge_effective_hlc(bound + 1, hub, MAXF), bound, "just past the bound");
    CHECK_HLC(merge_effective_hlc(hlc_make(NOW_MS + 10 * 86400000ull, 0), hub, MAXF), bound,
              "ten days ahead");
    CHECK_HLC(merge_effective_hlc(UINT64_MAX, hub, MAXF), bound, "the greatest HLC");
    /* the hub's logical counter does not move the bound */
    CHECK_HLC(merge_effective_hlc(bound + 1, hlc_make(NOW_MS, 0), MAXF), bound, "hub logical 0");
    CHECK_HLC(merge_effective_hlc(bound + 1, hlc_make(NOW_MS, 0xffff), MAXF), bound,
              "hub logical max");
    /* no tolerance: anything past the hub's millisecond is clamped */
    CHECK_HLC(merge_effective_hlc(hlc_make(NOW_MS + 1, 0), hub, 0), hlc_make(NOW_MS, 0xffff),
              "max_future_ms 0");
    CHECK_HLC(merge_effective_hlc(hlc_make(NOW_MS, 0xffff), hub, 0), hlc_make(NOW_MS, 0xffff),
              "max_future_ms 0, same millisecond");
}

/* The bound saturates at the greatest HLC instead of wrapping to a small one. */
static void test_effective_hlc_saturates(void **state)
{
    uint64_t hub = hlc_make(NOW_MS, 0);
    uint64_t v = hlc_make(NOW_MS + 1000, 3);
    CHECK_HLC(merge_effective_hlc(v, hub, UINT64_MAX), v, "unbounded future");
    CHECK_HLC(merge_effective_hlc(v, hub, HLC_MS_MAX), v, "a bound of 2^48 ms");
    CHECK_HLC(merge_effective_hlc(UINT64_MAX, hlc_make(HLC_MS_MAX, 0), MAXF), UINT64_MAX,
              "hub clock at its end");
    CHECK_HLC(merge_effective_hlc(UINT64_MAX - 1, hlc_make(HLC_MS_MAX - 1, 0), 1), UINT64_MAX - 1,
              "bound reaching exactly the end");
    CHECK_HLC(merge_effective_hlc(1, 0, 0), 1, "hub clock at zero");
}

static struct merge_input concurrent(uint64_t cur_hlc, const char *cur_origin, uint64_t in_hlc,
                                     const char *in_origin)
{
    struct merge_input in = {
        .has_current = true,
        .current = {cur_hlc, cur_origin, AUTH_COMMUNE},
        .incoming = {in_hlc, in_origin, AUTH_COMMUNE},
        .base_hlc = 0,
        .base_origin = "",
        .hub_hlc = hlc_make(NOW_MS, 0),
        .max_future_ms = MAXF,
    };
    return in;
}

/*
 * Two concurrent versions of equal authority: whichever arrives first, the
 * same one ends up current (X over Y and Y over X pick the same winner).
 */
static void test_winner_independent_of_order(void **state)
{
    const struct {
        uint64_t hlc;
        const char *origin;
    } v[] = {
        {hlc_make(NOW_MS - 60000, 0), A},
        {hlc_make(NOW_MS - 60000, 0), B},
        {hlc_make(NOW_MS - 60000, 1), A},
        {hlc_make(NOW_MS - 1, 0xffff), B},
        {hlc_make(NOW_MS + 240000, 0), A},                  /* ahead, within the bound */
        {hlc_make(NOW_MS + MAXF, 0xffff), B},               /* at the bound */
        {hlc_make(NOW_MS + MAXF + 1, 0), A},                /* just past it */
        {hlc_make(NOW_MS + UINT64_C(864000000), 0), B},     /* ten days ahead */
        {hlc_make(NOW_MS + 2 * UINT64_C(864000000), 0), A}, /* twenty days ahead */
        {hlc_make(NOW_MS + 3 * UINT64_C(864000000), 0), B}, /* thirty days, same origin as ten */
    };
    for (size_t i = 0; i < ARRAY_SIZE(v); i++)
        for (size_t j = 0; j < ARRAY_SIZE(v); j++) {
            if (i == j)
                continue;
            struct merge_input xy = concurrent(v[i].hlc, v[i].origin, v[j].hlc, v[j].origin);
            struct merge_input yx = concurrent(v[j].hlc, v[j].origin, v[i].hlc, v[i].origin);
            struct merge_result rxy, ryx;
            merge_decide(&xy, &rxy);
            merge_decide(&yx, &ryx);
            /* exactly one of the two orders makes the incoming version current, and the
             * outcome says which (conflict_current for the one in use) */
            int want_xy = rxy.becomes_current ? OUTCOME_CONFLICT_CURRENT : OUTCOME_CONFLICT;
            int want_yx = ryx.becomes_current ? OUTCOME_CONFLICT_CURRENT : OUTCOME_CONFLICT;
            if (rxy.outcome != want_xy || ryx.outcome != want_yx ||
                rxy.becomes_current == ryx.becomes_current || rxy.conflict != MERGE_CONFLICT_OPEN ||
                ryx.conflict != MERGE_CONFLICT_OPEN) {
                print_error("versions %zu and %zu: outcomes %s/%s, want conflict\n", i, j,
                            outcome_name(rxy.outcome), outcome_name(ryx.outcome));
                fail();
            }
            if (rxy.becomes_current == ryx.becomes_current) {
                print_error("versions %zu (%" PRIu64 ":%u %s) and %zu (%" PRIu64 ":%u %s): "
                            "incoming wins %s in one order and %s in the other\n",
                            i, hlc_ms(v[i].hlc), hlc_logical(v[i].hlc), v[i].origin, j,
                            hlc_ms(v[j].hlc), hlc_logical(v[j].hlc), v[j].origin,
                            rxy.becomes_current ? "yes" : "no", ryx.becomes_current ? "yes" : "no");
                fail();
            }
        }
}

/* A future-dated version never beats one within the bound, in either role. */
static void test_future_clock_never_wins(void **state)
{
    uint64_t minute_ago = hlc_make(NOW_MS - 60000, 0);
    uint64_t ahead = hlc_make(NOW_MS + UINT64_C(864000000), 0);
    struct merge_result r;
    struct merge_input in = concurrent(minute_ago, A, ahead, B);
    merge_decide(&in, &r);
    assert_int_equal(r.outcome, OUTCOME_CONFLICT);
    assert_false(r.becomes_current);
    assert_true(r.future_clamped);

    in = concurrent(ahead, B, minute_ago, A);
    merge_decide(&in, &r);
    assert_int_equal(r.outcome, OUTCOME_CONFLICT_CURRENT);
    assert_true(r.becomes_current);
    assert_false(r.future_clamped); /* the flag is about the incoming clock */
}

static void test_authority_every_pair(void **state)
{
    for (int c = AUTH_COMMUNE; c <= AUTH_HUB; c++)
        for (int i = AUTH_COMMUNE; i <= AUTH_HUB; i++) {
            struct merge_input in =
                concurrent(hlc_make(NOW_MS - 1000, 0), c == AUTH_HUB ? "hub" : A,
                           hlc_make(NOW_MS - 2000, 0), i == AUTH_HUB ? "hub" : B);
            in.current.auth = c;
            in.incoming.auth = i;
            struct merge_result r;
            merge_decide(&in, &r);
            if (c == i) {
                assert_int_equal(r.conflict, MERGE_CONFLICT_OPEN);
                continue;
            }
            if (r.conflict != MERGE_CONFLICT_BY_AUTHORITY || r.becomes_current != (i > c) ||
                r.outcome != (i > c ? OUTCOME_ACCEPTED : OUTCOME_SUPERSEDED)) {
                print_error("current auth %d, incoming auth %d: %s, becomes_current %d, "
                            "conflict %d\n",
                            c, i, outcome_name(r.outcome), r.becomes_current, (int)r.conflict);
                fail();
            }
        }
}

/* The base must name the current version by HLC and origin both. */
static void test_base_must_match_origin(void **state)
{
    uint64_t cur = hlc_make(NOW_MS - 60000, 0);
    struct merge_input in = concurrent(cur, A, hlc_make(NOW_MS - 1000, 0), B);
    struct merge_result r;
    in.base_hlc = cur;
    in.base_origin = B; /* same HLC, another agent's version */
    merge_decide(&in, &r);
    assert_int_equal(r.outcome, OUTCOME_CONFLICT_CURRENT); /* concurrent; the later wins */
    assert_int_equal(r.conflict, MERGE_CONFLICT_OPEN);

    in.base_origin = A;
    merge_decide(&in, &r);
    assert_int_equal(r.outcome, OUTCOME_ACCEPTED);
    assert_true(r.becomes_current);
    assert_int_equal(r.conflict, MERGE_NO_CONFLICT);

    in.base_hlc = cur + 1; /* same origin, another version */
    merge_decide(&in, &r);
    assert_int_equal(r.outcome, OUTCOME_CONFLICT_CURRENT);
    assert_int_equal(r.conflict, MERGE_CONFLICT_OPEN);
}

/* Every field is written, whatever the caller's struct held before. */
static void test_result_fully_written(void **state)
{
    struct merge_input in =
        concurrent(hlc_make(NOW_MS - 1000, 0), A, hlc_make(NOW_MS - 1000, 0), A);
    struct merge_result r;
    memset(&r, 0xff, sizeof(r));
    merge_decide(&in, &r);
    assert_int_equal(r.outcome, OUTCOME_DUPLICATE);
    assert_false(r.becomes_current);
    assert_int_equal(r.conflict, MERGE_NO_CONFLICT);
    assert_false(r.future_clamped);

    /* a new key with no base origin at all (NULL) */
    in.has_current = false;
    in.current.origin = NULL;
    in.base_origin = NULL;
    memset(&r, 0xff, sizeof(r));
    merge_decide(&in, &r);
    assert_int_equal(r.outcome, OUTCOME_ACCEPTED);
    assert_true(r.becomes_current);
    assert_int_equal(r.conflict, MERGE_NO_CONFLICT);
    assert_false(r.future_clamped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_effective_hlc_bounds),
        cmocka_unit_test(test_effective_hlc_saturates),
        cmocka_unit_test(test_winner_independent_of_order),
        cmocka_unit_test(test_future_clock_never_wins),
        cmocka_unit_test(test_authority_every_pair),
        cmocka_unit_test(test_base_must_match_origin),
        cmocka_unit_test(test_result_fully_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
