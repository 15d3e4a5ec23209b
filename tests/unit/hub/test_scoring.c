/*
 * test_scoring.c - unit tests of hub/frameworks.c and hub/scoring.c, in
 * process: a hub database in a temporary directory with a few Ninh Thuận
 * units (imported with units_import from an in-memory CSV), a small commune
 * framework written inline (and the shipped Ninh Thuận framework), values
 * written straight into vals and history with SQL, then scoring_run and the
 * stored rows read back with SQL.
 *
 * Covered: framework import (every problem listed and nothing stored, the
 * same content again is the same version whatever its layout, a changed file
 * is a new version and the old one stays loadable, chg numbers, the list);
 * points, bands and completeness per unit; ranks with ties within the level
 * and within the parent; units not in effect on the period's last day; growth
 * against the previous year's run; the self-assessed score from the unit's
 * own agents only (an operator correction and another office's value do not
 * count, the latest version wins); identical results and input hashes on a
 * rerun and a changed hash for a changed input; the hub's stored points equal
 * score_unit's on the shipped framework; refusals that store nothing.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "crypto.h"
#include "db.h"
#include "framework.h"
#include "frameworks.h"
#include "hubdb.h"
#include "hubfix.h"
#include "score.h"
#include "scoring.h"
#include "util.h"
#include "value.h"

#define NOW UINT64_C(1700000000000)
#define AGENT_A "a1a1a1a1a1a1a1a1"  /* enrolled for 22741 */
#define AGENT_A2 "a2a2a2a2a2a2a2a2" /* a second PC of 22741 */
#define AGENT_B "b2b2b2b2b2b2b2b2"  /* enrolled for 22738 */
#define AGENT_D "d4d4d4d4d4d4d4d4"  /* the district 582 */
/* a text figure with what JSON must escape */
#define NOTE "Số 12/QĐ-UBND \"Về CĐS\"\tlưu ở C:\\hồ sơ, ngày 3/4"

static const char units_csv[] = "code,name,level,parent_code,valid_from,valid_to,successor\n"
                                "58,Tỉnh Ninh Thuận,province,,,,\n"
                                "582,Thành phố Phan Rang-Tháp Chàm,district,58,,,\n"
                                "586,Huyện Ninh Hải,district,58,,,\n"
                                "22738,Phường Đô Vinh,commune,582,,,\n"
                                "22741,Phường Phước Mỹ,commune,582,,,\n"
                                "22744,Phường Bảo An,commune,582,,,\n"
                                "22747,Phường Phủ Hà,commune,582,,2022-06-30,22744\n"
                                "22801,Xã Vĩnh Hải,commune,586,,,\n"
                                "22804,Xã Thanh Hải,commune,586,,,\n";

/* A small commune framework: 1.1 tiers (20), 1.2 categorical (40), 2.1
 * boolean (10), 2.2 ratio (30); 100 points; pillars CQS {1, 2}, XHS {2}. */
static char *fw_json(const char *period, const char *name)
{
    return xasprintf(
        "{\"id\":\"test-commune-%s\",\"name\":\"%s\",\"level\":\"commune\",\"period\":\"%s\","
        "\"max_points\":100,\"elements\":["
        "{\"code\":\"meetings\",\"name\":\"Số cuộc họp BCĐ\",\"type\":\"integer\",\"min\":0,"
        "\"max\":366},"
        "{\"code\":\"chair\",\"name\":\"Trưởng ban chỉ đạo\",\"type\":\"category\","
        "\"categories\":[\"chu_tich\",\"pho\",\"khac\"]},"
        "{\"code\":\"plan\",\"name\":\"Có kế hoạch CĐS\",\"type\":\"boolean\"},"
        "{\"code\":\"docs_done\",\"name\":\"Số văn bản đã ban hành\",\"type\":\"integer\","
        "\"min\":0},"
        "{\"code\":\"docs_required\",\"name\":\"Số văn bản phải ban hành\",\"type\":\"integer\","
        "\"min\":0},"
        "{\"code\":\"note\",\"name\":\"Ghi chú\",\"type\":\"text\"}],"
        "\"indicators\":[{\"code\":\"1\",\"name\":\"Nhận thức số\",\"max_points\":60,"
        "\"components\":["
        "{\"code\":\"1.1\",\"name\":\"Họp BCĐ\",\"max_points\":20,\"method\":{\"kind\":\"tiers\","
        "\"input\":\"meetings\",\"tiers\":[[4,20],[2,10]]}},"
        "{\"code\":\"1.2\",\"name\":\"Trưởng ban\",\"max_points\":40,\"method\":{\"kind\":"
        "\"categorical\",\"input\":\"chair\",\"map\":{\"chu_tich\":1,\"pho\":0.5}}}]},"
        "{\"code\":\"2\",\"name\":\"Thể chế số\",\"max_points\":40,\"components\":["
        "{\"code\":\"2.1\",\"name\":\"Kế hoạch\",\"max_points\":10,\"method\":{\"kind\":"
        "\"boolean\",\"input\":\"plan\"}},"
        "{\"code\":\"2.2\",\"name\":\"Văn bản\",\"max_points\":30,\"method\":{\"kind\":\"ratio\","
        "\"numerator\":\"docs_done\",\"denominator\":\"docs_required\"}}]}],"
        "\"pillars\":[{\"code\":\"CQS\",\"name\":\"Chính quyền số\",\"indicators\":[\"1\",\"2\"]},"
        "{\"code\":\"XHS\",\"name\":\"Xã hội số\",\"indicators\":[\"2\"]}],"
        "\"bands\":[{\"name\":\"Tốt\",\"min\":0.8},{\"name\":\"Khá\",\"min\":0.5},"
        "{\"name\":\"Yếu\",\"min\":0}]}",
        period, name, period);
}

/* ---- fixture ---- */

struct fx {
    char *dir;
    sqlite3 *db;
    int64_t chg;
};

static void add_agent(sqlite3 *db, const char *id, const char *unit)
{
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    assert_int_equal(crypto_random(pub, sizeof(pub)), 0);
    assert_int_equal(agents_create(db, id, unit, pub, NOW, NULL), 0);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    char tmpl[] = "/tmp/dti-test-scoring.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    f->dir = xstrdup(tmpl);
    struct dti_err e = {0};
    assert_int_equal(hubdb_open(&f->db, f->dir, true, &e), 0);
    assert_int_equal(fix_import_units(f->db, units_csv, NULL), 9);
    add_agent(f->db, AGENT_A, "22741");
    add_agent(f->db, AGENT_A2, "22741");
    add_agent(f->db, AGENT_B, "22738");
    add_agent(f->db, AGENT_D, "582");
    *state = f;
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

static void insert_version(struct fx *f, const char *table, const char *unit, const char *element,
                           const char *period, const char *text, uint64_t hlc, const char *origin)
{
    struct value v;
    struct dti_err e = {0};
    assert_int_equal(value_parse(text, &v, &e), 0);
    sqlite3_stmt *st = NULL;
    char *sql =
        !strcmp(table, "vals")
            ? xasprintf("INSERT OR REPLACE INTO vals(unit, element, period, kind, num, txt, hlc, "
                        "origin, auth, chg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, %d, %" PRId64
                        ")",
                        strcmp(origin, "hub") ? AUTH_COMMUNE : AUTH_HUB, ++f->chg)
            : xasprintf("INSERT INTO history(unit, element, period, kind, num, txt, hlc, origin, "
                        "auth, fate, recorded_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, "
                        "'superseded', 0)");
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    db_bind_value(st, 4, &v);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)hlc);
    sqlite3_bind_text(st, 8, origin, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    free(sql);
}

static void put(struct fx *f, const char *unit, const char *element, const char *period,
                const char *text, const char *origin)
{
    insert_version(f, "vals", unit, element, period, text, 1000 + (uint64_t)f->chg, origin);
}

static int64_t import_fw(struct fx *f, const char *text, bool *unchanged)
{
    struct fw_problems pr = {0};
    struct dti_err e = {0};
    int64_t version = 0;
    bool same = false;
    int r = frameworks_import(f->db, text, strlen(text), "test.json", "tester", NOW, &version,
                              &same, &pr, &e);
    if (r < 0) {
        char line[600];
        for (size_t i = 0; i < pr.n; i++) {
            fw_problem_format(&pr, i, line, sizeof(line));
            print_error("%s\n", line);
        }
        fail_msg("frameworks_import: %s", e.msg);
    }
    fw_problems_release(&pr);
    if (unchanged)
        *unchanged = same;
    return version;
}

static void score(struct fx *f, const char *period, struct scoring_summary *sum)
{
    struct dti_err e = {0};
    int r = scoring_run(f->db, period, "tester", NOW, sum, &e);
    if (r < 0)
        fail_msg("scoring_run %s: %s", period, e.msg);
}

/* One stored figure of a unit in a run. */
static double result_num(struct fx *f, int64_t run, const char *unit, const char *col)
{
    char *sql = xasprintf("SELECT %s FROM results WHERE run = ?1 AND unit = ?2", col);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, unit, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("no result for %s in run %" PRId64, unit, run);
    double v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    free(sql);
    return v;
}

static bool result_null(struct fx *f, int64_t run, const char *unit, const char *col)
{
    return isnan(result_num(f, run, unit, col));
}

static void check_num(double got, double want, const char *what, const char *unit, const char *file,
                      int line)
{
    if (!(got == want)) {
        print_error("%s of %s: got %.17g, want %.17g\n", what, unit, got, want);
        _fail(file, line);
    }
}

#define CHECK_RESULT(f, run, unit, col, want)                                                      \
    check_num(result_num((f), (run), (unit), (col)), (want), (col), (unit), __FILE__, __LINE__)

/* The scenario most tests share: five communes of two districts with
 * figures for 2023 (22747 no longer exists then). */
static void fill_2023(struct fx *f)
{
    /* 22738: 20 + 40 + 10 + 30 = 100, all from its own agent */
    put(f, "22738", "meetings", "2023", "4", AGENT_B);
    put(f, "22738", "chair", "2023", "chu_tich", AGENT_B);
    put(f, "22738", "plan", "2023", "true", AGENT_B);
    put(f, "22738", "docs_done", "2023", "3", AGENT_B);
    put(f, "22738", "docs_required", "2023", "3", AGENT_B);
    /* 22741: 10 + 20 + 10 + 15 = 55 */
    put(f, "22741", "meetings", "2023", "2", AGENT_A);
    put(f, "22741", "chair", "2023", "pho", AGENT_A);
    put(f, "22741", "plan", "2023", "true", AGENT_A);
    put(f, "22741", "docs_done", "2023", "1", AGENT_A);
    put(f, "22741", "docs_required", "2023", "2", AGENT_A);
    /* 22744: 10 + 20 + 10 + 15 = 55, a tie with 22741; entered by the operator */
    put(f, "22744", "meetings", "2023", "3", "hub");
    put(f, "22744", "chair", "2023", "pho", "hub");
    put(f, "22744", "plan", "2023", "true", "hub");
    put(f, "22744", "docs_done", "2023", "2", "hub");
    put(f, "22744", "docs_required", "2023", "4", "hub");
    /* 22801: 20 + 0 + 0 + 0 (zero denominator) = 20; a text no method reads */
    put(f, "22801", "meetings", "2023", "5", "hub");
    put(f, "22801", "chair", "2023", "khac", "hub");
    put(f, "22801", "plan", "2023", "false", "hub");
    put(f, "22801", "docs_done", "2023", "0", "hub");
    put(f, "22801", "docs_required", "2023", "0", "hub");
    put(f, "22801", "note", "2023", NOTE, "hub");
    /* 22804: nothing collected; 22747 has a figure but ended in 2022 */
    put(f, "22747", "meetings", "2023", "4", "hub");
    /* another period and an element no framework reads change nothing */
    put(f, "22804", "meetings", "2024", "4", "hub");
    put(f, "22804", "unknown_element", "2023", "4", "hub");
}

/* ---- frameworks ---- */

static void test_framework_refused_lists_every_problem(void **state)
{
    struct fx *f = *state;
    static const char bad[] =
        "{\"id\":\"bad\",\"name\":\"Hỏng\",\"level\":\"commune\",\"period\":\"2023\","
        "\"max_points\":100,\n\"elements\":[{\"code\":\"a\",\"name\":\"A\",\"type\":\"integer\"}],"
        "\n"
        "\"indicators\":[{\"code\":\"1\",\"name\":\"Một\",\"max_points\":50,\"components\":[\n"
        "{\"code\":\"1.1\",\"name\":\"x\",\"max_points\":100,\"method\":{\"kind\":\"tiers\","
        "\"input\":\"plans\",\"tiers\":[[1,10]]}}]}],\n"
        "\"pillars\":[{\"code\":\"CQS\",\"name\":\"P\",\"indicators\":[\"1\",\"7\"]}]}";
    struct fw_problems pr = {0};
    struct dti_err e = {0};
    int64_t version = -1;
    bool unchanged = true;
    int64_t chg_before = fix_sql_int(f->db, "SELECT coalesce((SELECT value FROM meta WHERE key = "
                                            "'chg'), 0)");
    int r = frameworks_import(f->db, bad, strlen(bad), "bad.json", "tester", NOW, &version,
                              &unchanged, &pr, &e);
    assert_int_equal(r, DTI_EPARSE);
    assert_int_equal(version, -1); /* outputs untouched */
    assert_true(unchanged);
    assert_non_null(strstr(e.msg, "bad.json"));
    assert_non_null(strstr(e.msg, "nothing was stored"));
    /* every problem at once, each with its path */
    bool input = false, pillar = false, sum = false;
    char line[600];
    for (size_t i = 0; i < pr.n; i++) {
        fw_problem_format(&pr, i, line, sizeof(line));
        assert_non_null(strstr(line, "bad.json"));
        input = input || strstr(line, "method.input") != NULL;
        pillar = pillar || strstr(line, "pillars[0].indicators[1]") != NULL;
        sum = sum || strstr(line, "max_points") != NULL;
    }
    if (!input || !pillar || !sum)
        for (size_t i = 0; i < pr.n; i++) {
            fw_problem_format(&pr, i, line, sizeof(line));
            print_error("problem: %s\n", line);
        }
    assert_true(input);
    assert_true(pillar);
    assert_true(sum);
    assert_true(pr.n >= 3);
    fw_problems_release(&pr);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM frameworks"), 0);
    assert_int_equal(fix_sql_int(f->db,
                                 "SELECT coalesce((SELECT value FROM meta WHERE key = 'chg'), "
                                 "0)"),
                     chg_before);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM audit"), 0);
}

static void test_framework_versions(void **state)
{
    struct fx *f = *state;
    struct dti_err e = {0};
    char *v1 = fw_json("2023", "Bộ chỉ số thử");
    bool unchanged = true;
    int64_t chg_before = fix_sql_int(f->db, "SELECT coalesce((SELECT value FROM meta WHERE key = "
                                            "'chg'), 0)");
    assert_int_equal(import_fw(f, v1, &unchanged), 1);
    assert_false(unchanged);
    /* the new version took the next change number, so agents receive it */
    assert_int_equal(fix_sql_int(f->db, "SELECT chg FROM frameworks WHERE version = 1"),
                     chg_before + 1);
    assert_int_equal(fix_sql_int(f->db, "SELECT value FROM meta WHERE key = 'chg'"),
                     chg_before + 1);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM audit WHERE action = 'framework "
                                        "import'"),
                     1);

    /* the same content laid out differently is the same version */
    json_error_t je;
    json_t *doc = json_loads(v1, 0, &je);
    assert_non_null(doc);
    char *relaid = json_dumps(doc, JSON_INDENT(4) | JSON_SORT_KEYS);
    json_decref(doc);
    assert_string_not_equal(relaid, v1);
    assert_int_equal(import_fw(f, relaid, &unchanged), 1);
    assert_true(unchanged);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM frameworks"), 1);
    assert_int_equal(fix_sql_int(f->db, "SELECT value FROM meta WHERE key = 'chg'"),
                     chg_before + 1);

    /* a changed file for the same level and period is a new version */
    char *v2 = fw_json("2023", "Bộ chỉ số thử, sửa đổi");
    assert_int_equal(import_fw(f, v2, &unchanged), 2);
    assert_false(unchanged);
    int64_t version = 0;
    struct framework *fw = NULL;
    assert_int_equal(frameworks_in_force(f->db, "commune", "2023", &version, &fw, &e), 0);
    assert_int_equal(version, 2);
    assert_string_equal(fw->name, "Bộ chỉ số thử, sửa đổi");
    framework_free(fw);
    /* the old version stays loadable, with its own content and hash */
    struct framework *old = NULL, *parsed = NULL;
    assert_int_equal(frameworks_load(f->db, 1, &old, &e), 0);
    assert_string_equal(old->name, "Bộ chỉ số thử");
    struct fw_problems pr = {0};
    assert_int_equal(framework_parse(v1, strlen(v1), "v1", &parsed, &pr), 0);
    assert_memory_equal(old->hash, parsed->hash, CRYPTO_SHA256_LEN);
    fw_problems_release(&pr);
    framework_free(old);
    framework_free(parsed);
    /* going back to the first content is a third version: history is not rewritten */
    assert_int_equal(import_fw(f, v1, &unchanged), 3);
    assert_false(unchanged);

    /* another period is another line of versions */
    char *y22 = fw_json("2022", "Bộ chỉ số thử 2022");
    assert_int_equal(import_fw(f, y22, &unchanged), 4);
    assert_int_equal(frameworks_in_force(f->db, "commune", "2022", &version, NULL, &e), 0);
    assert_int_equal(version, 4);
    assert_int_equal(frameworks_in_force(f->db, "commune", "2021", &version, NULL, &e),
                     DTI_ENOTFOUND);
    assert_int_equal(frameworks_in_force(f->db, "district", "2023", &version, NULL, &e),
                     DTI_ENOTFOUND);
    assert_int_equal(frameworks_load(f->db, 99, &fw, &e), DTI_ENOTFOUND);

    json_t *list = NULL;
    assert_int_equal(frameworks_list_json(f->db, &list, &e), 0);
    assert_int_equal(json_array_size(list), 4);
    static const bool in_force[] = {false, false, true, true};
    for (size_t i = 0; i < 4; i++) {
        json_t *row = json_array_get(list, i);
        assert_int_equal(json_integer_value(json_object_get(row, "version")), (json_int_t)i + 1);
        assert_int_equal(json_is_true(json_object_get(row, "in_force")), in_force[i]);
        assert_string_equal(json_string_value(json_object_get(row, "by")), "tester");
        assert_int_equal(strlen(json_string_value(json_object_get(row, "hash"))), 64);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "imported")),
                        "2023-11-14T22:13:20Z");
    json_decref(list);
    free(v1);
    free(v2);
    free(y22);
    free(relaid);
}

/* ---- scoring ---- */

static void test_points_ranks_and_completeness(void **state)
{
    struct fx *f = *state;
    char *text = fw_json("2023", "Bộ chỉ số thử");
    int64_t version = import_fw(f, text, NULL);
    fill_2023(f);
    struct scoring_summary sum;
    score(f, "2023", &sum);
    assert_int_equal(sum.run, 1);
    assert_string_equal(sum.period, "2023");
    assert_int_equal(sum.nlevels, 1); /* only communes have a framework for 2023 */
    assert_string_equal(sum.levels[0].level, "commune");
    assert_int_equal(sum.levels[0].framework_version, version);
    assert_int_equal(sum.levels[0].units, 5);
    assert_int_equal(sum.units, 5);
    assert_int_equal(fix_sql_int(f->db, "SELECT units FROM score_runs WHERE id = 1"), 5);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM results WHERE unit = '22747'"), 0);

    static const struct {
        const char *unit;
        double points;
        int rank_level, rank_parent;
        const char *band;
        int present;
    } want[] = {
        {"22738", 100, 1, 1, "Tốt", 5}, {"22741", 55, 2, 2, "Khá", 5},
        {"22744", 55, 2, 2, "Khá", 5},  {"22801", 20, 4, 1, "Yếu", 5},
        {"22804", 0, 5, 2, "Yếu", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        const char *u = want[i].unit;
        CHECK_RESULT(f, 1, u, "points", want[i].points);
        CHECK_RESULT(f, 1, u, "max", 100);
        CHECK_RESULT(f, 1, u, "dti", want[i].points / 100);
        CHECK_RESULT(f, 1, u, "rank_level", want[i].rank_level);
        CHECK_RESULT(f, 1, u, "rank_parent", want[i].rank_parent);
        CHECK_RESULT(f, 1, u, "inputs_required", 5);
        CHECK_RESULT(f, 1, u, "inputs_present", want[i].present);
        CHECK_RESULT(f, 1, u, "framework_version", (double)version);
        assert_true(result_null(f, 1, u, "prev_dti"));
        assert_true(result_null(f, 1, u, "prev_rank"));
        char *sql = xasprintf("SELECT band = '%s' AND level = 'commune' AND period = '2023' "
                              "FROM results WHERE run = 1 AND unit = '%s'",
                              want[i].band, u);
        assert_int_equal(fix_sql_int(f->db, sql), 1);
        free(sql);
    }
    assert_int_equal(fix_sql_int(f->db, "SELECT parent = '586' FROM results WHERE unit = '22801'"),
                     1);

    /* the detail: components, indicators, pillars and the inputs used */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT detail FROM results WHERE run = 1 AND unit = "
                                        "'22801'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    json_error_t je;
    json_t *d = json_loads((const char *)sqlite3_column_text(st, 0), 0, &je);
    sqlite3_finalize(st);
    assert_non_null(d);
    json_t *c22 = json_object_get(json_object_get(d, "components"), "2.2");
    assert_int_equal(json_number_value(json_array_get(c22, 0)), 0);
    assert_string_equal(json_string_value(json_array_get(c22, 1)), "zero_denominator");
    json_t *c11 = json_object_get(json_object_get(d, "components"), "1.1");
    assert_true(json_number_value(json_array_get(c11, 0)) == 20);
    json_t *xhs = json_object_get(json_object_get(d, "pillars"), "XHS");
    assert_true(json_is_number(xhs) && json_number_value(xhs) == 0);
    json_t *cqs = json_object_get(json_object_get(d, "pillars"), "CQS");
    assert_true(json_is_number(cqs) && json_number_value(cqs) == 20);
    json_t *ind1 = json_object_get(json_object_get(d, "indicators"), "1");
    assert_true(json_is_number(ind1) && json_number_value(ind1) == 20);
    json_t *in = json_object_get(d, "inputs");
    assert_string_equal(json_string_value(json_object_get(in, "note")), NOTE);
    assert_true(json_is_false(json_object_get(in, "plan")));
    assert_null(json_object_get(in, "unknown_element"));
    json_decref(d);
    free(text);
}

static void test_rerun_is_identical_and_a_change_changes_the_hash(void **state)
{
    struct fx *f = *state;
    char *text = fw_json("2023", "Bộ chỉ số thử");
    import_fw(f, text, NULL);
    fill_2023(f);
    struct scoring_summary s1, s2, s3;
    score(f, "2023", &s1);
    score(f, "2023", &s2);
    assert_int_equal(s2.run, s1.run + 1);
    static const char same[] =
        "SELECT count(*) FROM results a JOIN results b ON a.unit = b.unit AND a.run = 1 AND "
        "b.run = 2 WHERE a.input_hash = b.input_hash AND a.points = b.points AND a.max = b.max "
        "AND a.dti = b.dti AND a.band IS b.band AND a.inputs_required = b.inputs_required AND "
        "a.inputs_present = b.inputs_present AND a.rank_level = b.rank_level AND "
        "a.rank_parent = b.rank_parent AND a.self_points IS b.self_points AND "
        "a.self_dti IS b.self_dti AND a.detail = b.detail AND a.framework_version = "
        "b.framework_version AND a.parent IS b.parent";
    assert_int_equal(fix_sql_int(f->db, same), 5);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM results WHERE run = 2"), 5);

    /* one figure of one unit changes: its hash and points change, nobody else's hash */
    put(f, "22804", "meetings", "2023", "2", "hub");
    score(f, "2023", &s3);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM results a JOIN results b ON a.unit = "
                                        "b.unit AND a.run = 2 AND b.run = 3 WHERE a.input_hash = "
                                        "b.input_hash"),
                     4);
    assert_int_equal(fix_sql_int(f->db, "SELECT a.input_hash != b.input_hash FROM results a JOIN "
                                        "results b ON a.unit = b.unit AND a.run = 2 AND b.run = 3 "
                                        "WHERE a.unit = '22804'"),
                     1);
    CHECK_RESULT(f, 3, "22804", "points", 10);
    CHECK_RESULT(f, 3, "22804", "inputs_present", 1);
    CHECK_RESULT(f, 2, "22804", "points", 0); /* every run is kept as it was */
    /* a reported zero is not "not collected": the hash differs from missing */
    put(f, "22804", "meetings", "2023", "0", "hub");
    struct scoring_summary s4;
    score(f, "2023", &s4);
    CHECK_RESULT(f, 4, "22804", "points", 0);
    CHECK_RESULT(f, 4, "22804", "inputs_present", 1);
    assert_int_equal(fix_sql_int(f->db, "SELECT a.input_hash != b.input_hash FROM results a JOIN "
                                        "results b ON a.unit = b.unit AND a.run = 2 AND b.run = 4 "
                                        "WHERE a.unit = '22804'"),
                     1);
    int64_t latest = 0;
    struct dti_err e = {0};
    assert_int_equal(scoring_latest_run(f->db, "2023", &latest, &e), 0);
    assert_int_equal(latest, 4);
    assert_int_equal(scoring_latest_run(f->db, "2024", &latest, &e), DTI_ENOTFOUND);
    free(text);
}

static void test_growth_against_previous_year(void **state)
{
    struct fx *f = *state;
    char *t22 = fw_json("2022", "Bộ chỉ số thử 2022");
    char *t23 = fw_json("2023", "Bộ chỉ số thử 2023");
    import_fw(f, t22, NULL);
    import_fw(f, t23, NULL);
    /* 2022: 22804 led with 40 points, 22738 had 20; the rest nothing */
    put(f, "22804", "chair", "2022", "chu_tich", "hub");
    put(f, "22738", "meetings", "2022", "4", "hub");
    struct scoring_summary s22, s23;
    score(f, "2022", &s22);
    /* 22747 still existed on 2022-06-30 but not on 2022-12-31 */
    assert_int_equal(s22.units, 5);
    CHECK_RESULT(f, s22.run, "22804", "rank_level", 1);
    CHECK_RESULT(f, s22.run, "22738", "rank_level", 2);
    CHECK_RESULT(f, s22.run, "22741", "rank_level", 3);
    fill_2023(f);
    score(f, "2023", &s23);
    /* 22738: 0.2 (rank 2) -> 1.0 (rank 1); 22804: 0.4 (1) -> 0 (5); 22741: 0 (3) -> 0.55 (2) */
    CHECK_RESULT(f, s23.run, "22738", "prev_dti", 0.2);
    CHECK_RESULT(f, s23.run, "22738", "prev_rank", 2);
    CHECK_RESULT(f, s23.run, "22804", "prev_dti", 0.4);
    CHECK_RESULT(f, s23.run, "22804", "prev_rank", 1);
    CHECK_RESULT(f, s23.run, "22741", "prev_dti", 0);
    CHECK_RESULT(f, s23.run, "22741", "prev_rank", 3);
    /* growth compares with the latest run of the previous year */
    put(f, "22741", "meetings", "2022", "2", "hub");
    struct scoring_summary s22b, s23b;
    score(f, "2022", &s22b);
    score(f, "2023", &s23b);
    CHECK_RESULT(f, s23b.run, "22741", "prev_dti", 0.1);
    CHECK_RESULT(f, s23b.run, "22741", "prev_rank", 3);
    CHECK_RESULT(f, s23.run, "22741", "prev_dti", 0); /* the older run keeps its figures */

    char prev[PERIOD_MAX + 1];
    assert_true(scoring_previous_period("2023", prev));
    assert_string_equal(prev, "2022");
    assert_true(scoring_previous_period("2023Q1", prev));
    assert_string_equal(prev, "2022Q1");
    assert_true(scoring_previous_period("2023-01", prev));
    assert_string_equal(prev, "2022-01");
    assert_true(scoring_previous_period("2001-12", prev));
    assert_string_equal(prev, "2000-12");
    assert_false(scoring_previous_period("2000", prev));
    assert_false(scoring_previous_period("2023Q5", prev));
    assert_false(scoring_previous_period("23", prev));
    free(t22);
    free(t23);
}

static void test_self_assessed_gap(void **state)
{
    struct fx *f = *state;
    char *text = fw_json("2023", "Bộ chỉ số thử");
    import_fw(f, text, NULL);
    fill_2023(f);
    /* 22741's office sent 1 meeting, then 4 (from its second PC); the operator
     * corrected it to 2 - the figure that is scored. The district office sent
     * a chair for 22741 that became current: not the unit's own. */
    insert_version(f, "history", "22741", "meetings", "2023", "1", 100, AGENT_A);
    insert_version(f, "history", "22741", "meetings", "2023", "4", 300, AGENT_A2);
    insert_version(f, "vals", "22741", "meetings", "2023", "2", 400, "hub");
    insert_version(f, "history", "22741", "chair", "2023", "pho", 200, AGENT_A);
    insert_version(f, "vals", "22741", "chair", "2023", "chu_tich", 500, AGENT_D);
    /* an older version of a figure whose office version is current: ignored */
    insert_version(f, "history", "22741", "docs_done", "2023", "0", 50, AGENT_A);
    /* appraised: meetings 2 (10) + chu_tich (40) + 10 + 15 = 75;
     * self: meetings 4 (20) + pho (20) + 10 + 15 = 65 */
    struct scoring_summary s;
    score(f, "2023", &s);
    CHECK_RESULT(f, s.run, "22741", "points", 75);
    CHECK_RESULT(f, s.run, "22741", "self_points", 65);
    CHECK_RESULT(f, s.run, "22741", "self_dti", 0.65);
    /* 22738 submitted everything itself and nobody changed it: no gap */
    CHECK_RESULT(f, s.run, "22738", "self_points", 100);
    CHECK_RESULT(f, s.run, "22738", "points", 100);
    /* units whose own offices sent nothing have no self-assessment at all */
    assert_true(result_null(f, s.run, "22744", "self_points"));
    assert_true(result_null(f, s.run, "22804", "self_dti"));
    /* an office's later version wins over its earlier one by HLC, wherever kept */
    insert_version(f, "history", "22741", "plan", "2023", "false", 9999, AGENT_A);
    score(f, "2023", &s);
    CHECK_RESULT(f, s.run, "22741", "points", 75);
    CHECK_RESULT(f, s.run, "22741", "self_points", 55);
    free(text);
}

/* The hub stores what the shared engine computes, on the shipped framework. */
static void test_shipped_framework_agrees_with_engine(void **state)
{
    struct fx *f = *state;
    char *text = NULL;
    size_t len = 0;
    char *path = xasprintf("%s/data/frameworks/ninh-thuan-commune-2023.json", DTI_SOURCE_DIR);
    assert_int_equal(read_file_bounded(path, FRAMEWORK_FILE_MAX, &text, &len), 0);
    struct fw_problems pr = {0};
    struct dti_err e = {0};
    int64_t version;
    bool unchanged;
    assert_int_equal(
        frameworks_import(f->db, text, len, path, "tester", NOW, &version, &unchanged, &pr, &e), 0);
    fw_problems_release(&pr);
    static const char *const figures[][2] = {
        {"truong_ban_cds", "pho_chu_tich"},
        {"so_cuoc_hop_bcd", "3"},
        {"so_cuoc_hop_chu_tich_chu_tri", "2"},
        {"co_ke_hoach_cds", "true"},
        {"tong_so_ho", "1200"},
        {"so_ho_cap_quang", "700"},
        {"ty_le_so_hoa_ho_so", "62.5"},
        {"so_van_ban_cds_yeu_cau", "0"},
        {"kenh_tuong_tac", "it_cap_nhat"},
        {"co_camera_giam_sat", "true"},
    };
    struct framework *fw = NULL;
    assert_int_equal(frameworks_load(f->db, version, &fw, &e), 0);
    struct value *in = xcalloc(fw->nelements, sizeof(*in));
    for (size_t i = 0; i < ARRAY_SIZE(figures); i++) {
        put(f, "22738", figures[i][0], "2023", figures[i][1], AGENT_B);
        size_t k;
        assert_true(framework_find_element(fw, figures[i][0], &k));
        assert_int_equal(value_parse(figures[i][1], &in[k], &e), 0);
    }
    struct score_result *res = NULL;
    score_unit(fw, in, &res);
    struct scoring_summary s;
    score(f, "2023", &s);
    assert_int_equal(s.units, 5); /* the fixture has five communes in 2023 */
    CHECK_RESULT(f, s.run, "22738", "points", res->points);
    CHECK_RESULT(f, s.run, "22738", "dti", res->dti);
    CHECK_RESULT(f, s.run, "22738", "self_points", res->points);
    CHECK_RESULT(f, s.run, "22738", "inputs_present", (double)res->inputs_present);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT input_hash FROM results WHERE unit = '22738'", -1,
                                        &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st, 0), CRYPTO_SHA256_LEN);
    assert_memory_equal(sqlite3_column_blob(st, 0), res->input_hash, CRYPTO_SHA256_LEN);
    sqlite3_finalize(st);
    assert_true(res->points > 0);
    score_result_free(res);
    free(in);
    framework_free(fw);
    free(text);
    free(path);
}

static void test_refusals_store_nothing(void **state)
{
    struct fx *f = *state;
    struct scoring_summary s;
    struct dti_err e = {0};
    assert_int_equal(scoring_run(f->db, "2023", "tester", NOW, &s, &e), DTI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "framework import"));
    dti_err_clear(&e);
    assert_int_equal(scoring_run(f->db, "2023Q5", "tester", NOW, &s, &e), DTI_EPERIOD);
    dti_err_clear(&e);
    assert_int_equal(scoring_run(f->db, "'; DROP TABLE x", "tester", NOW, &s, &e), DTI_EPERIOD);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM score_runs"), 0);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM results"), 0);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM audit"), 0);
    /* a framework for another period does not score this one */
    char *text = fw_json("2022", "Bộ chỉ số thử 2022");
    import_fw(f, text, NULL);
    dti_err_clear(&e);
    assert_int_equal(scoring_run(f->db, "2023", "tester", NOW, &s, &e), DTI_ENOTFOUND);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM score_runs"), 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_framework_refused_lists_every_problem, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_framework_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_ranks_and_completeness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerun_is_identical_and_a_change_changes_the_hash,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_growth_against_previous_year, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_assessed_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipped_framework_agrees_with_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_store_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
