/*
 * test_units.c - unit tests of the effective-dated units in hub/hubdb.c: a
 * hub database in a temporary directory with the shipped Ninh Thuận units of
 * 2023 and data/units-ninh-thuan-changes.csv imported on top.
 *
 * Covered: the days of a period; the 2024-11-01 merge of 22747, 22753 and
 * 22756 into 22750 and its rename (name and existence either side of the
 * date, the refusal text naming the successor); the 2025-07-01 abolition of
 * districts (communes re-parented under 56, districts and 58 retired, 56 in
 * effect from then); a changed parent without valid_from taking effect on
 * "today"; nothing deleted and a second import of the same file changing no
 * answer; scope over the parent history; migration 6's backfill of an
 * existing database.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, fmemopen */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"
#include "hubdb.h"
#include "hubfix.h"
#include "util.h"

#define TODAY "2030-01-01"

struct fx {
    char *dir;
    sqlite3 *db;
};

static void import_file(sqlite3 *db, const char *path, size_t want)
{
    struct dti_err e = {0};
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int r = units_import_on(db, f, path, TODAY, &n, &e);
    fclose(f);
    if (r < 0)
        fail_msg("units_import %s: %s", path, e.msg);
    assert_int_equal(n, want);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    char tmpl[] = "/tmp/dti-test-units.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    f->dir = xstrdup(tmpl);
    struct dti_err e = {0};
    assert_int_equal(hubdb_open(&f->db, f->dir, true, &e), 0);
    import_file(f->db, DTI_SOURCE_DIR "/data/units-ninh-thuan-2023.csv", 73);
    import_file(f->db, DTI_SOURCE_DIR "/data/units-ninh-thuan-changes.csv", 75);
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

static struct unit_asof as_of(sqlite3 *db, const char *code, const char *date)
{
    struct unit_asof u;
    struct dti_err e = {0};
    if (units_as_of(db, code, date, &u, &e) < 0)
        fail_msg("units_as_of %s %s: %s", code, date, e.msg);
    return u;
}

static bool in_period(sqlite3 *db, const char *code, const char *period, char why[256])
{
    bool existed = false;
    struct dti_err e = {0};
    if (units_in_period(db, code, period, &existed, why, 256, &e) < 0)
        fail_msg("units_in_period %s %s: %s", code, period, e.msg);
    return existed;
}

static void test_period_days(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"2023", "2023-01-01", "2023-12-31"},    {"2023Q1", "2023-01-01", "2023-03-31"},
        {"2024Q4", "2024-10-01", "2024-12-31"},  {"2024-02", "2024-02-01", "2024-02-29"},
        {"2023-02", "2023-02-01", "2023-02-28"}, {"2090-02", "2090-02-01", "2090-02-28"},
        {"2000-02", "2000-02-01", "2000-02-29"}};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char first[11], last[11];
        if (!units_period_days(cases[i][0], first, last))
            fail_msg("units_period_days %s", cases[i][0]);
        assert_string_equal(first, cases[i][1]);
        assert_string_equal(last, cases[i][2]);
    }
    char a[11], b[11];
    assert_false(units_period_days("2023Q5", a, b));
    assert_false(units_period_days("23", a, b));
}

static void test_phu_ha_merge(void **state)
{
    struct fx *f = *state;
    struct unit_asof u = as_of(f->db, "22750", "2024-10-31");
    assert_true(u.exists);
    assert_string_equal(u.name, "Phường Thanh Sơn");
    assert_string_equal(u.parent, "582");
    u = as_of(f->db, "22750", "2024-11-01");
    assert_true(u.exists);
    assert_string_equal(u.name, "Phường Phủ Hà");
    assert_string_equal(u.parent, "582");
    u = as_of(f->db, "22750", "2023-06-30");
    assert_string_equal(u.name, "Phường Thanh Sơn");
    assert_string_equal(u.valid_from, ""); /* the rename did not move its start */

    static const char *const gone[] = {"22747", "22753", "22756"};
    for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
        char why[256];
        assert_true(as_of(f->db, gone[i], "2024-10-31").exists);
        u = as_of(f->db, gone[i], "2024-11-01");
        assert_false(u.exists);
        assert_string_equal(u.successor, "22750");
        assert_string_equal(u.parent, "582"); /* its last parent, kept */
        assert_true(in_period(f->db, gone[i], "2023", why));
        assert_string_equal(why, "");
        assert_true(in_period(f->db, gone[i], "2024", why)); /* existed part of the year */
        assert_true(in_period(f->db, gone[i], "2024-10", why));
        assert_false(in_period(f->db, gone[i], "2024-11", why));
        assert_false(in_period(f->db, gone[i], "2025", why));
        char *want = xasprintf("unit %s was merged into 22750 on 2024-11-01: period 2025 is "
                               "after it",
                               gone[i]);
        assert_string_equal(why, want);
        free(want);
    }
    assert_string_equal(as_of(f->db, "22747", "2023-12-31").name, "Phường Phủ Hà");
}

static void test_districts_abolished(void **state)
{
    struct fx *f = *state;
    char why[256];
    struct unit_asof u = as_of(f->db, "22741", "2025-06-30");
    assert_string_equal(u.parent, "582");
    u = as_of(f->db, "22741", "2025-07-01");
    assert_true(u.exists);
    assert_string_equal(u.parent, "56");
    assert_string_equal(as_of(f->db, "22750", "2025-07-01").parent, "56");
    assert_string_equal(as_of(f->db, "22750", "2025-07-01").name, "Phường Phủ Hà");
    assert_string_equal(as_of(f->db, "22783", "2023-12-31").parent, "584");

    assert_true(as_of(f->db, "582", "2025-06-30").exists);
    assert_false(as_of(f->db, "582", "2025-07-01").exists);
    assert_true(in_period(f->db, "582", "2025", why));
    assert_false(in_period(f->db, "582", "2025Q3", why));
    assert_string_equal(why, "unit 582 was dissolved on 2025-07-01: period 2025Q3 is after it");
    assert_false(in_period(f->db, "58", "2026", why));
    assert_string_equal(why, "unit 58 was merged into 56 on 2025-07-01: period 2026 is after it");
    assert_false(in_period(f->db, "56", "2024", why));
    assert_string_equal(why, "unit 56 comes into effect on 2025-07-01: period 2024 is before it");
    assert_true(in_period(f->db, "56", "2025", why));
    assert_string_equal(as_of(f->db, "56", "2025-07-01").name, "Tỉnh Khánh Hòa");

    /* nothing deleted: both parent links of a re-parented commune are kept */
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM unit_parents WHERE unit = '22741'"),
                     2);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM unit_names WHERE unit = '22750'"), 2);
    assert_int_equal(fix_sql_int(f->db, "SELECT count(*) FROM unit_parents WHERE unit = '22747'"),
                     1);

    /* the same file again changes no answer */
    import_file(f->db, DTI_SOURCE_DIR "/data/units-ninh-thuan-changes.csv", 75);
    assert_string_equal(as_of(f->db, "22750", "2024-10-31").name, "Phường Thanh Sơn");
    assert_string_equal(as_of(f->db, "22750", "2024-11-01").parent, "582");
    assert_string_equal(as_of(f->db, "22750", "2025-07-01").parent, "56");
    assert_string_equal(as_of(f->db, "22741", "2025-06-30").parent, "582");
    assert_true(as_of(f->db, "22750", "2023-01-01").exists);
}

static void test_change_today(void **state)
{
    struct fx *f = *state;
    /* Xã Phước Chính moves from Bác Ái (584) to 582 with no date: from "today" */
    fix_import_units(f->db, "code,name,level,parent_code\n22804,Xã Phước Chính,commune,582\n",
                     "2026-03-15");
    assert_string_equal(as_of(f->db, "22804", "2026-03-14").parent, "56");
    assert_string_equal(as_of(f->db, "22804", "2026-03-15").parent, "582");
    assert_string_equal(as_of(f->db, "22804", "2023-01-01").parent, "584");
    /* a date across a month and year boundary */
    fix_import_units(f->db,
                     "code,name,level,parent_code,valid_from\n22804,Xã Phước Chính mới,commune,582,"
                     "2027-01-01\n",
                     "2026-03-15");
    assert_string_equal(as_of(f->db, "22804", "2026-12-31").name, "Xã Phước Chính");
    assert_string_equal(as_of(f->db, "22804", "2027-01-01").name, "Xã Phước Chính mới");
}

static void test_scope_over_history(void **state)
{
    struct fx *f = *state;
    char **codes = NULL;
    size_t n = 0;
    struct dti_err e = {0};
    assert_int_equal(units_scope(f->db, "582", &codes, &n, &e), 0);
    assert_int_equal(n, 17); /* the district and its 16 wards of 2023 */
    bool has47 = false, has41 = false;
    for (size_t i = 0; i < n; i++) {
        has47 |= !strcmp(codes[i], "22747");
        has41 |= !strcmp(codes[i], "22741");
    }
    assert_true(has47 && has41);
    units_scope_free(codes, n);
    assert_int_equal(units_scope(f->db, "56", &codes, &n, &e), 0);
    assert_int_equal(n, 63); /* 56 and the 62 communes now under it */
    units_scope_free(codes, n);
}

static void test_migration_backfill(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/dti-test-units-mig.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    assert_int_equal(hubdb_open(&db, tmpl, true, &e), 0);
    /* a database as migration 5 left it, with units */
    assert_int_equal(
        db_exec(db,
                "DROP TABLE unit_parents; DROP TABLE unit_names;"
                "ALTER TABLE batches DROP COLUMN via; ALTER TABLE agents DROP COLUMN last_via;"
                "INSERT INTO units(code, name, level) VALUES ('58', 'Tỉnh', 'province');"
                "INSERT INTO units(code, name, level, parent, valid_from) "
                "VALUES ('582', 'TP', 'district', '58', '2007-01-01');"
                "PRAGMA user_version = 5;",
                &e),
        0);
    db_close(db);
    assert_int_equal(hubdb_open(&db, tmpl, false, &e), 0);
    assert_int_equal(fix_sql_int(db, "SELECT count(*) FROM unit_parents WHERE unit = '582' AND "
                                     "parent = '58' AND valid_from = '2007-01-01'"),
                     1);
    assert_int_equal(fix_sql_int(db, "SELECT count(*) FROM unit_names"), 2);
    struct unit_asof u;
    assert_int_equal(units_as_of(db, "582", "2020-01-01", &u, &e), 0);
    assert_string_equal(u.parent, "58");
    assert_false(units_as_of(db, "582", "2006-12-31", &u, &e) == 0 && u.exists);
    db_close(db);
    fix_rmtree(tmpl);
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    struct dti_err e = {0};
    size_t n = 0;
    static const char bad[] = "code,name,level,parent_code,valid_from,valid_to\n"
                              "22804,X,commune,582,2025-02-30,\n";
    FILE *in = fmemopen((void *)bad, strlen(bad), "r");
    assert_int_equal(units_import_on(f->db, in, "bad.csv", TODAY, &n, &e), DTI_EPARSE);
    fclose(in);
    assert_non_null(strstr(e.msg, "dates must be YYYY-MM-DD"));
    static const char rev[] = "code,name,level,parent_code,valid_from,valid_to\n"
                              "22804,X,commune,582,2025-02-01,2025-01-01\n";
    memset(&e, 0, sizeof(e));
    in = fmemopen((void *)rev, strlen(rev), "r");
    assert_int_equal(units_import_on(f->db, in, "rev.csv", TODAY, &n, &e), DTI_EPARSE);
    fclose(in);
    if (!strstr(e.msg, "is before valid_from"))
        fail_msg("message: %s", e.msg);
    struct unit_asof u;
    assert_int_equal(units_as_of(f->db, "99999", "2023-01-01", &u, &e), DTI_EUNIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_period_days),
        cmocka_unit_test_setup_teardown(test_phu_ha_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_districts_abolished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_today, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope_over_history, setup, teardown),
        cmocka_unit_test(test_migration_backfill),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
