/*
 * test_summary.c - the pure roll-up engine (common/summary.c): counts,
 * completeness, DTI mean/min/max, ranks with a tie, sum / mean /
 * weighted_mean aggregates (units without a figure or a weight left out,
 * weights summing to zero give none), bit-identical results whatever order
 * the units come in, an empty set, and the JSON layout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "summary.h"
#include "util.h"

static const char FW[] =
    "{\"id\":\"t\",\"name\":\"t\",\"level\":\"commune\",\"period\":\"2023\",\"max_points\":10,"
    "\"elements\":["
    "{\"code\":\"n\",\"name\":\"N\",\"type\":\"integer\",\"aggregate\":\"sum\"},"
    "{\"code\":\"m\",\"name\":\"M\",\"type\":\"number\",\"aggregate\":\"mean\"},"
    "{\"code\":\"w\",\"name\":\"W\",\"type\":\"number\"},"
    "{\"code\":\"p\",\"name\":\"P\",\"type\":\"percent\",\"aggregate\":\"weighted_mean:w\"},"
    "{\"code\":\"t\",\"name\":\"T\",\"type\":\"text\"}],"
    "\"indicators\":[{\"code\":\"1\",\"name\":\"I\",\"max_points\":10,\"components\":["
    "{\"code\":\"1.1\",\"name\":\"C\",\"max_points\":10,\"method\":{\"kind\":\"value\","
    "\"input\":\"m\"}}]}]}";

static struct framework *load(void)
{
    struct framework *fw = NULL;
    struct fw_problems pr = {0};
    if (framework_parse(FW, strlen(FW), "t.json", &fw, &pr) < 0)
        fail_msg("framework does not parse");
    fw_problems_release(&pr);
    return fw;
}

#define NUM(x)                                                                                     \
    {                                                                                              \
        .kind = VALUE_NUMBER, .num = (x)                                                           \
    }
#define NONE                                                                                       \
    {                                                                                              \
        .kind = VALUE_NONE                                                                         \
    }

static const struct value in_a[5] = {NUM(3), NUM(0.1), NUM(200), NUM(50), NONE};
static const struct value in_b[5] = {NUM(4), NUM(0.2), NUM(100), NUM(80), NONE};
static const struct value in_c[5] = {NONE, NONE, NONE, NUM(20), NONE}; /* no weight */
static const struct value in_d[5] = {NONE, NONE, NONE, NONE, {.kind = VALUE_TEXT, .text = "x"}};

static void units(struct summary_unit u[4])
{
    u[0] = (struct summary_unit){"22747", "A", 5, 0.5, 2, 2, in_a};
    u[1] = (struct summary_unit){"22738", "B", 7, 0.7, 2, 1, in_b};
    u[2] = (struct summary_unit){"22750", NULL, 5, 0.5, 2, 0, in_c};
    u[3] = (struct summary_unit){"22741", "D", 0, 0, 0, 0, in_d};
}

static void test_figures(void **state)
{
    (void)state;
    struct framework *fw = load();
    struct summary_unit u[4];
    units(u);
    struct summary s;
    summary_compute(fw, u, 4, &s);
    assert_int_equal(s.units, 4);
    assert_int_equal(s.reporting, 4); /* d reports a text figure */
    assert_true(s.completeness == (1.0 + 0.5 + 0.0 + 1.0) / 4);
    assert_true(s.dti_min == 0 && s.dti_max == 0.7);
    assert_true(s.dti_mean == (0.7 + 0 + 0.5 + 0.5) / 4);
    assert_int_equal(s.rank[0], 2);
    assert_int_equal(s.rank[1], 1);
    assert_int_equal(s.rank[2], 2);
    assert_int_equal(s.rank[3], 4);
    assert_int_equal(s.nelements, 3);
    assert_int_equal(s.elements[0].element, 0); /* n: sum */
    assert_true(s.elements[0].has_value && s.elements[0].value == 7);
    assert_int_equal(s.elements[0].units, 2);
    assert_true(s.elements[1].value == (0.2 + 0.1) / 2); /* m: mean, code order */
    assert_int_equal(s.elements[2].units, 2);            /* p: c has no weight */
    assert_true(s.elements[2].value == (80.0 * 100 + 50.0 * 200) / 300);

    /* any order in, the same bits out */
    struct summary_unit r[4] = {u[2], u[0], u[3], u[1]};
    struct summary s2;
    summary_compute(fw, r, 4, &s2);
    assert_memory_equal(&s.dti_mean, &s2.dti_mean, sizeof(double));
    assert_memory_equal(&s.elements[1].value, &s2.elements[1].value, sizeof(double));
    assert_int_equal(s2.rank[1], 2);
    json_t *j1 = summary_json(fw, u, 4, &s), *j2 = summary_json(fw, r, 4, &s2);
    char *t1 = json_dumps(j1, JSON_SORT_KEYS), *t2 = json_dumps(j2, JSON_SORT_KEYS);
    assert_string_equal(t1, t2);
    json_t *rk = json_object_get(j1, "ranking");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rk, 0), "code")), "22738");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rk, 1), "code")),
                        "22747"); /* the tie in code order */
    assert_true(json_is_null(json_object_get(json_array_get(rk, 2), "name")));
    const json_t *p = json_array_get(json_object_get(j1, "elements"), 2);
    assert_string_equal(json_string_value(json_object_get(p, "weight")), "w");
    free(t1);
    free(t2);
    json_decref(j1);
    json_decref(j2);
    summary_release(&s);
    summary_release(&s2);

    /* only units without figures: no sum, no mean; zero weights: none */
    static const struct value z[5] = {NONE, NONE, NUM(0), NUM(10), NONE};
    struct summary_unit one = {"1", NULL, 0, 0, 1, 0, z};
    summary_compute(fw, &one, 1, &s);
    assert_int_equal(s.reporting, 1);
    assert_false(s.elements[0].has_value);
    assert_false(s.elements[1].has_value);
    assert_false(s.elements[2].has_value);
    assert_int_equal(s.elements[2].units, 1);
    summary_release(&s);

    summary_compute(fw, NULL, 0, &s);
    assert_int_equal(s.units, 0);
    json_t *j = summary_json(fw, NULL, 0, &s);
    assert_true(json_is_null(json_object_get(j, "dti")));
    json_decref(j);
    summary_release(&s);
    framework_free(fw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_figures)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
