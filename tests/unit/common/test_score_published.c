/*
 * test_score_published.c - the shipped provincial framework of Decision 922
 * (data/frameworks/dti-922-province-2022.json) reproduces the published DTI
 * 2022: every row of the shared dti-2022-published.csv (main-indicator values
 * v1..v9 without v6, then dti) scores within 0.0001 of its published DTI, and
 * score_rank over the rows orders them as the published ranks do. Skipped, with a
 * message, only when the shared file is absent; zero rows checked is a
 * failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "framework.h"
#include "score.h"
#include "util.h"
#include "value.h"

#define PUBLISHED DTI_SHARED_DATA_DIR "/dti-2022-published.csv"
#define FRAMEWORK DTI_SOURCE_DIR "/data/frameworks/dti-922-province-2022.json"
#define MAX_ROWS 128

static struct framework *load_framework(void)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(read_file_bounded(FRAMEWORK, FRAMEWORK_FILE_MAX, &text, &len), 0);
    struct fw_problems pr = {0};
    struct framework *fw = NULL;
    int r = framework_parse(text, len, FRAMEWORK, &fw, &pr);
    char line[600];
    for (size_t i = 0; i < pr.n; i++) {
        fw_problem_format(&pr, i, line, sizeof(line));
        print_error("%s\n", line);
    }
    assert_int_equal(r, 0);
    fw_problems_release(&pr);
    free(text);
    return fw;
}

static void test_published_dti_2022(void **state)
{
    (void)state;
    if (access(PUBLISHED, R_OK) != 0) {
        print_message("skipped: %s is not there\n", PUBLISHED);
        skip();
    }
    struct framework *fw = load_framework();
    FILE *f = fopen(PUBLISHED, "r");
    assert_non_null(f);
    struct csv *c = NULL;
    assert_int_equal(csv_open(&c, f), 0);

    struct dti_err e = {0};
    char **fields = NULL;
    size_t nf = 0;
    assert_int_equal(csv_next(c, &fields, &nf, &e), 1);
    /* header: which column feeds which element; where dti and rank are */
    long col_el[CSV_MAX_FIELDS];
    long col_dti = -1, col_rank = -1, col_name = -1;
    size_t nvalues = 0;
    for (size_t k = 0; k < nf; k++) {
        size_t i;
        col_el[k] = -1;
        if (!strcmp(fields[k], "dti"))
            col_dti = (long)k;
        else if (!strcmp(fields[k], "rank"))
            col_rank = (long)k;
        else if (!strcmp(fields[k], "province"))
            col_name = (long)k;
        else if (framework_find_element(fw, fields[k], &i)) {
            col_el[k] = (long)i;
            nvalues++;
        }
    }
    size_t ncols = nf;
    assert_true(col_dti >= 0);
    assert_int_equal(nvalues, 8); /* v1..v9 without v6 */

    double dti[MAX_ROWS];
    unsigned published_rank[MAX_ROWS], rank[MAX_ROWS];
    size_t rows = 0;
    struct value *inputs = xcalloc(fw->nelements, sizeof(*inputs));
    int r;
    while ((r = csv_next(c, &fields, &nf, &e)) == 1) {
        assert_int_equal(nf, ncols);
        assert_true(rows < MAX_ROWS);
        memset(inputs, 0, fw->nelements * sizeof(*inputs));
        for (size_t k = 0; k < nf; k++) {
            if (col_el[k] < 0)
                continue;
            struct value *v = &inputs[col_el[k]];
            assert_int_equal(value_parse(fields[k], v, &e), 0);
            assert_int_equal(framework_check_value(fw, fw->elements[col_el[k]].code, v, &e), 0);
        }
        double want;
        assert_int_equal(parse_double(fields[col_dti], &want), 0);
        struct score_result *res = NULL;
        assert_int_equal(score_unit(fw, inputs, &res), 0);
        print_message("%-20s published %.4f scored %.6f (%.4f points)\n",
                      col_name >= 0 ? fields[col_name] : "", want, res->dti, res->points);
        if (fabs(res->dti - want) > 0.0001) {
            print_error("%s: published DTI %.4f, scored %.6f\n",
                        col_name >= 0 ? fields[col_name] : "?", want, res->dti);
            fail();
        }
        assert_true(res->completeness == 1.0);
        dti[rows] = res->dti;
        if (col_rank >= 0) {
            uint64_t pr;
            assert_int_equal(parse_u64(fields[col_rank], 100000, &pr), 0);
            published_rank[rows] = (unsigned)pr;
        }
        rows++;
        score_result_free(res);
    }
    assert_int_equal(r, 0);
    csv_free(c);
    fclose(f);
    free(inputs);
    framework_free(fw);
    if (rows == 0) {
        print_error("%s has no rows: nothing was checked\n", PUBLISHED);
        fail();
    }
    if (col_rank >= 0) {
        /* The rows may be any subset of the provinces: compare with the published
         * ranks re-ranked within the subset. */
        double neg[MAX_ROWS];
        unsigned want_rank[MAX_ROWS];
        for (size_t i = 0; i < rows; i++)
            neg[i] = -(double)published_rank[i];
        score_rank(neg, rows, want_rank);
        score_rank(dti, rows, rank);
        for (size_t i = 0; i < rows; i++)
            assert_int_equal(rank[i], want_rank[i]);
    }
    print_message("%zu published rows reproduced\n", rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_dti_2022),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
