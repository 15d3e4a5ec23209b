/*
 * test_merge_successors.c - unit tests of report_merged_json (hub/report.c):
 * a merged unit's figures rolled into its successor on request, as a view of
 * the latest run (a temporary hub database, the Phan Rang wards 22747, 22753
 * and 22756 merged into 22750 on 2024-11-01, an inline commune framework,
 * values written with SQL, scoring_run).
 *
 * Covered: sums, a mean over the units that reported only, a weighted mean,
 * an element without a hint (the successor's own value, else the first
 * unit's by code); merged_from; the successor's name and parent on the as-of
 * date; ranks among the merged units; a unit merged nowhere keeps its stored
 * score exactly; an as-of date before the merge merges nothing; a unit that
 * ended before the period's last day (not in the run) brings its current
 * values; the normal report and the stored results are unchanged; a loop of
 * successors is an error, not a hang; refusals; CSV and HTML columns.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, fmemopen */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "frameworks.h"
#include "hubdb.h"
#include "hubfix.h"
#include "report.h"
#include "scoring.h"
#include "util.h"
#include "value.h"

#define NOW UINT64_C(1700000000000)
#define AS_OF "2026-01-01"

static const char units_2023[] = "code,name,level,parent_code\n"
                                 "58,Tỉnh Ninh Thuận,province,\n"
                                 "582,Thành phố Phan Rang-Tháp Chàm,district,58\n"
                                 "22741,Phường Phước Mỹ,commune,582\n"
                                 "22747,Phường Phủ Hà,commune,582\n"
                                 "22750,Phường Thanh Sơn,commune,582\n"
                                 "22753,Phường Mỹ Hương,commune,582\n"
                                 "22756,Phường Tấn Tài,commune,582\n";

/* the rows of data/units-ninh-thuan-changes.csv for the 2024 ward merge */
static const char units_merge[] = "code,name,level,parent_code,valid_from,valid_to,successor\n"
                                  "22747,Phường Phủ Hà,commune,582,,2024-10-31,22750\n"
                                  "22753,Phường Mỹ Hương,commune,582,,2024-10-31,22750\n"
                                  "22756,Phường Tấn Tài,commune,582,,2024-10-31,22750\n"
                                  "22750,Phường Phủ Hà,commune,582,2024-11-01,,\n";

/* meetings: sum (tiers, 40); share: mean (value, 20); chair: no hint
 * (categorical, 20); rate: a percent weighted by households (value, 20) */
static char *fw_json(const char *period)
{
    return xasprintf(
        "{\"id\":\"merge-commune-%s\",\"name\":\"Bộ chỉ số thử\",\"level\":\"commune\","
        "\"period\":\"%s\",\"max_points\":100,\"elements\":["
        "{\"code\":\"meetings\",\"name\":\"Số cuộc họp\",\"type\":\"integer\",\"min\":0,"
        "\"aggregate\":\"sum\"},"
        "{\"code\":\"share\",\"name\":\"Tỷ lệ\",\"type\":\"number\",\"min\":0,\"max\":1,"
        "\"aggregate\":\"mean\"},"
        "{\"code\":\"chair\",\"name\":\"Trưởng ban\",\"type\":\"category\","
        "\"categories\":[\"chu_tich\",\"pho\"]},"
        "{\"code\":\"households\",\"name\":\"Số hộ\",\"type\":\"integer\",\"aggregate\":\"sum\"},"
        "{\"code\":\"rate\",\"name\":\"Tỷ lệ hộ\",\"type\":\"percent\","
        "\"aggregate\":\"weighted_mean:households\"}],"
        "\"indicators\":[{\"code\":\"1\",\"name\":\"Một\",\"max_points\":100,\"components\":["
        "{\"code\":\"1.1\",\"name\":\"Họp\",\"max_points\":40,\"method\":{\"kind\":\"tiers\","
        "\"input\":\"meetings\",\"tiers\":[[12,40],[8,30],[4,20],[1,10]]}},"
        "{\"code\":\"1.2\",\"name\":\"Tỷ lệ\",\"max_points\":20,\"method\":{\"kind\":\"value\","
        "\"input\":\"share\"}},"
        "{\"code\":\"1.3\",\"name\":\"Trưởng ban\",\"max_points\":20,\"method\":{\"kind\":"
        "\"categorical\",\"input\":\"chair\",\"map\":{\"chu_tich\":1,\"pho\":0.5}}},"
        "{\"code\":\"1.4\",\"name\":\"Hộ\",\"max_points\":20,\"method\":{\"kind\":\"value\","
        "\"input\":\"rate\"}}]}],"
        "\"pillars\":[{\"code\":\"CQS\",\"name\":\"Chính quyền số\",\"indicators\":[\"1\"]}],"
        "\"bands\":[{\"name\":\"Tốt\",\"min\":0.8},{\"name\":\"Yếu\",\"min\":0}]}",
        period, period);
}

/* |a - b| <= eps, else fail naming both values and the place */
#define assert_near(a, b, eps) near_((a), (b), (eps), #a, __FILE__, __LINE__)
static void near_(double a, double b, double eps, const char *what, const char *file, int line)
{
    if (!(a - b <= eps && b - a <= eps))
        fail_msg("%s:%d: %s is %.17g, expected %.17g", file, line, what, a, b);
}

struct fx {
    char *dir;
    sqlite3 *db;
    int64_t chg;
};

static void put(struct fx *f, const char *unit, const char *element, const char *period,
                const char *text)
{
    struct value v;
    struct dti_err e = {0};
    assert_int_equal(value_parse(text, &v, &e), 0);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(f->db,
                           "INSERT OR REPLACE INTO vals(unit, element, period, kind, num, txt, "
                           "hlc, origin, auth, chg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'hub', 4, "
                           "?8)",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    db_bind_value(st, 4, &v);
    f->chg++;
    sqlite3_bind_int64(st, 7, 1000 + f->chg);
    sqlite3_bind_int64(st, 8, f->chg);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static void import_fw(struct fx *f, const char *period)
{
    char *text = fw_json(period);
    struct fw_problems pr = {0};
    struct dti_err e = {0};
    int64_t version;
    bool unchanged;
    int r = frameworks_import(f->db, text, strlen(text), "test.json", "tester", NOW, &version,
                              &unchanged, &pr, &e);
    if (r < 0) {
        char line[512] = "";
        if (pr.n)
            fw_problem_format(&pr, 0, line, sizeof(line));
        fail_msg("frameworks_import: %s %s", e.msg, line);
    }
    fw_problems_release(&pr);
    free(text);
}

static void score(struct fx *f, const char *period)
{
    struct scoring_summary s;
    struct dti_err e = {0};
    if (scoring_run(f->db, period, "tester", NOW, &s, &e) < 0)
        fail_msg("scoring_run %s: %s", period, e.msg);
}

/* 2023: 22747 meetings 10, share 0.4, rate 50 of 200 households, chair
 * chu_tich; 22750 meetings 5, share 0.8, rate 80 of 100; 22753 only a chair
 * (pho); 22756 nothing; 22741 meetings 3, share 0.5, chair chu_tich. The
 * merge is imported after 2023 and before 2024 is scored. */
static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    char tmpl[] = "/tmp/dti-test-msucc.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    f->dir = xstrdup(tmpl);
    struct dti_err e = {0};
    assert_int_equal(hubdb_open(&f->db, f->dir, true, &e), 0);
    *state = f;
    fix_import_units(f->db, units_2023, "2023-01-01");
    import_fw(f, "2023");
    import_fw(f, "2024");
    put(f, "22747", "meetings", "2023", "10");
    put(f, "22747", "share", "2023", "0.4");
    put(f, "22747", "rate", "2023", "50");
    put(f, "22747", "households", "2023", "200");
    put(f, "22747", "chair", "2023", "chu_tich");
    put(f, "22750", "meetings", "2023", "5");
    put(f, "22750", "share", "2023", "0.8");
    put(f, "22750", "rate", "2023", "80");
    put(f, "22750", "households", "2023", "100");
    put(f, "22753", "chair", "2023", "pho");
    put(f, "22741", "meetings", "2023", "3");
    put(f, "22741", "share", "2023", "0.5");
    put(f, "22741", "chair", "2023", "chu_tich");
    fix_import_units(f->db, units_merge, "2024-11-01");
    score(f, "2023");
    /* 2024: 22747 sent 6 meetings before it ended (the run does not score it) */
    put(f, "22747", "meetings", "2024", "6");
    put(f, "22753", "chair", "2024", "chu_tich");
    put(f, "22750", "meetings", "2024", "2");
    put(f, "22750", "chair", "2024", "pho");
    score(f, "2024");
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    db_close(f->db);
    fix_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static json_t *merged(struct fx *f, const char *period, const char *as_of)
{
    json_t *doc = NULL;
    struct dti_err e = {0};
    int r = report_merged_json(f->db, period, "commune", as_of, &doc, &e);
    if (r < 0)
        fail_msg("report_merged_json %s %s: %s", period, as_of, e.msg);
    return doc;
}

static const json_t *unit_of(const json_t *doc, const char *code)
{
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(doc, "units"), i, u)
    {
        if (!strcmp(json_string_value(json_object_get(u, "code")), code))
            return u;
    }
    fail_msg("unit %s is not in the report", code);
    return NULL;
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("%s is not a string", key);
    return s;
}

/* merged_from as "a b c" */
static void from_of(const json_t *u, char *out, size_t n)
{
    const json_t *a = json_object_get(u, "merged_from");
    assert_true(json_is_array(a));
    size_t i;
    json_t *c;
    out[0] = '\0';
    json_array_foreach(a, i, c)
    {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s", i ? " " : "", json_string_value(c));
    }
}

static char *normal_json(struct fx *f, const char *period)
{
    struct buf b;
    struct dti_err e = {0};
    size_t len;
    buf_init(&b, REPORT_MAX);
    if (report_render(f->db, period, "commune", REPORT_JSON, &b, &e) < 0)
        fail_msg("report_render: %s", e.msg);
    return (char *)buf_take(&b, &len);
}

static int64_t count_rows(struct fx *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* ---- the Phủ Hà case ---- */

static void test_rolled_into_successor(void **state)
{
    struct fx *f = *state;
    json_t *doc = merged(f, "2023", AS_OF);
    assert_string_equal(str(json_object_get(doc, "merged_into_successors"), "as_of"), AS_OF);
    assert_int_equal(json_array_size(json_object_get(doc, "units")), 2);

    const json_t *u = unit_of(doc, "22750");
    const json_t *in = json_object_get(u, "inputs");
    char from[128];
    from_of(u, from, sizeof(from));
    assert_string_equal(from, "22747 22753 22756");
    assert_string_equal(str(u, "name"), "Phường Phủ Hà"); /* its name on the as-of date */
    assert_string_equal(str(u, "parent"), "582");
    /* sum: 10 + 5 (22753 and 22756 sent none) */
    assert_near(num(in, "meetings"), 15, 0);
    assert_near(num(in, "households"), 300, 0);
    /* mean over the two units that reported, not over four */
    assert_near(num(in, "share"), (0.4 + 0.8) / 2.0, 0);
    /* weighted: (50 x 200 + 80 x 100) / 300 */
    assert_near(num(in, "rate"), 60, 1e-12);
    /* no hint, 22750 has none: the first unit's by code that has one (22747, not 22753) */
    assert_string_equal(str(in, "chair"), "chu_tich");
    /* 40 (15 meetings) + 12 (0.6) + 20 (chu_tich) + 12 (60 %) */
    assert_near(num(u, "points"), 84, 1e-9);
    assert_string_equal(str(u, "band"), "Tốt");
    assert_int_equal((int)num(json_object_get(u, "rank"), "level"), 1);
    assert_int_equal((int)num(json_object_get(u, "rank"), "level_units"), 2);
    assert_int_equal((int)num(json_object_get(u, "completeness"), "present"), 4);
    assert_true(json_is_null(json_object_get(u, "growth")));
    assert_true(json_is_null(json_object_get(u, "self_assessed")));

    /* 22741 merged nowhere: exactly its stored result */
    json_error_t je;
    char *normal = normal_json(f, "2023");
    json_t *nd = json_loads(normal, 0, &je);
    assert_non_null(nd);
    const json_t *m41 = unit_of(doc, "22741"), *n41 = unit_of(nd, "22741");
    from_of(m41, from, sizeof(from));
    assert_string_equal(from, "");
    assert_true(num(m41, "points") == num(n41, "points"));
    assert_true(num(m41, "dti") == num(n41, "dti"));
    assert_string_equal(str(m41, "input_hash"), str(n41, "input_hash"));
    assert_int_equal((int)num(json_object_get(m41, "rank"), "level"), 2);
    json_decref(nd);
    free(normal);
    json_decref(doc);
}

static void test_normal_report_unchanged(void **state)
{
    struct fx *f = *state;
    char *before = normal_json(f, "2023");
    int64_t results = count_rows(f, "SELECT count(*) FROM results");
    int64_t runs = count_rows(f, "SELECT count(*) FROM score_runs");
    json_decref(merged(f, "2023", AS_OF));
    json_decref(merged(f, "2024", AS_OF));
    char *after = normal_json(f, "2023");
    assert_string_equal(before, after);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM results"), results);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM score_runs"), runs);
    json_error_t je;
    json_t *nd = json_loads(after, 0, &je);
    assert_int_equal(json_array_size(json_object_get(nd, "units")), 5); /* each ward on its own */
    assert_string_equal(str(unit_of(nd, "22750"), "name"), "Phường Thanh Sơn");
    assert_null(json_object_get(unit_of(nd, "22750"), "merged_from"));
    json_decref(nd);
    free(before);
    free(after);
}

static void test_as_of_before_merge(void **state)
{
    struct fx *f = *state;
    json_t *doc = merged(f, "2023", "2024-06-01");
    char *normal = normal_json(f, "2023");
    json_error_t je;
    json_t *nd = json_loads(normal, 0, &je);
    assert_int_equal(json_array_size(json_object_get(doc, "units")), 5);
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(doc, "units"), i, u)
    {
        char from[128];
        from_of(u, from, sizeof(from));
        assert_string_equal(from, "");
        const json_t *n = unit_of(nd, str(u, "code"));
        assert_true(num(u, "points") == num(n, "points"));
        assert_string_equal(str(u, "input_hash"), str(n, "input_hash"));
    }
    assert_string_equal(str(unit_of(doc, "22750"), "name"), "Phường Thanh Sơn");
    json_decref(nd);
    free(normal);
    json_decref(doc);
}

/* 2024: the run scored 22741 and 22750 only; 22747's 2024 figure still counts */
static void test_unit_not_in_run(void **state)
{
    struct fx *f = *state;
    json_t *doc = merged(f, "2024", AS_OF);
    assert_int_equal(json_array_size(json_object_get(doc, "units")), 2);
    const json_t *u = unit_of(doc, "22750");
    char from[128];
    from_of(u, from, sizeof(from));
    assert_string_equal(from, "22747 22753 22756");
    assert_near(num(json_object_get(u, "inputs"), "meetings"), 8, 0);
    /* no hint: the successor's own value wins over 22753's */
    assert_string_equal(str(json_object_get(u, "inputs"), "chair"), "pho");
    assert_near(num(u, "points"), 30 + 10, 1e-9);
    json_decref(doc);
}

static void test_loop_and_refusals(void **state)
{
    struct fx *f = *state;
    json_t *doc = NULL;
    struct dti_err e = {0};
    assert_int_equal(report_merged_json(f->db, "2023", "commune", "2026-02-30", &doc, &e),
                     DTI_EINVAL);
    assert_int_equal(report_merged_json(f->db, "2023", NULL, AS_OF, &doc, &e), DTI_EINVAL);
    assert_int_equal(report_merged_json(f->db, "2023", "village", AS_OF, &doc, &e), DTI_EINVAL);
    assert_int_equal(report_merged_json(f->db, "2023x", "commune", AS_OF, &doc, &e), DTI_EPERIOD);
    assert_int_equal(report_merged_json(f->db, "2022", "commune", AS_OF, &doc, &e), DTI_ENOTFOUND);
    assert_int_equal(report_merged_json(f->db, "2023", "district", AS_OF, &doc, &e), DTI_ENOTFOUND);
    assert_null(doc);
    /* damaged data: 22750 ended too, into 22747, which ended into 22750 */
    assert_int_equal(sqlite3_exec(f->db,
                                  "UPDATE units SET valid_to = '2025-06-30', successor = '22747' "
                                  "WHERE code = '22750'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    memset(&e, 0, sizeof(e));
    assert_int_equal(report_merged_json(f->db, "2023", "commune", AS_OF, &doc, &e), DTI_EDB);
    assert_null(doc);
    if (!strstr(e.msg, "loop") || !strstr(e.msg, "22747 -> 22750 -> 22747"))
        fail_msg("message: %s", e.msg);
}

static void test_renderings(void **state)
{
    struct fx *f = *state;
    struct buf b;
    struct dti_err e = {0};
    size_t len;
    buf_init(&b, REPORT_MAX);
    assert_int_equal(report_merged_render(f->db, "2023", "commune", AS_OF, REPORT_CSV, &b, &e), 0);
    char *csv = (char *)buf_take(&b, &len);
    char *nl = strstr(csv, "\r\n");
    assert_non_null(nl);
    assert_non_null(strstr(csv, "Gộp từ (merged from)\r\n"));
    char *row = strstr(nl, "\r\n22750,");
    assert_non_null(row);
    char *end = strstr(row + 2, "\r\n");
    assert_non_null(end);
    *end = '\0';
    if (!strstr(row, ",\"22747, 22753, 22756\""))
        fail_msg("row: %s", row);
    free(csv);

    buf_init(&b, REPORT_MAX);
    assert_int_equal(report_merged_render(f->db, "2023", "commune", AS_OF, REPORT_HTML, &b, &e), 0);
    char *html = (char *)buf_take(&b, &len);
    assert_non_null(strstr(html, "<th>Gộp từ</th>"));
    assert_non_null(strstr(html, "<td>22747, 22753, 22756</td>"));
    assert_non_null(strstr(html, "theo hiện trạng ngày " AS_OF));
    free(html);

    buf_init(&b, REPORT_MAX);
    assert_int_equal(report_render(f->db, "2023", "commune", REPORT_HTML, &b, &e), 0);
    html = (char *)buf_take(&b, &len);
    assert_null(strstr(html, "Gộp từ"));
    free(html);
    buf_init(&b, REPORT_MAX);
    assert_int_equal(report_render(f->db, "2023", "commune", REPORT_CSV, &b, &e), 0);
    csv = (char *)buf_take(&b, &len);
    assert_null(strstr(csv, "Gộp từ"));
    free(csv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rolled_into_successor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_normal_report_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_as_of_before_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unit_not_in_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renderings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
