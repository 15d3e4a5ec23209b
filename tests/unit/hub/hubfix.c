/*
 * hubfix.c - shared helpers of the hub's unit tests (see hubfix.h).
 */
#define _XOPEN_SOURCE 700 /* nftw, fmemopen */
#include "hubfix.h"
#include "hubdb.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fix_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int64_t fix_sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("cannot prepare %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        fail_msg("no row from %s", sql);
    }
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

size_t fix_import_units(sqlite3 *db, const char *csv_text, const char *today)
{
    struct dti_err e = {0};
    size_t n = 0;
    FILE *f = fmemopen((void *)csv_text, strlen(csv_text), "r");
    if (!f)
        fail_msg("fmemopen failed");
    int r = today ? units_import_on(db, f, "units.csv", today, &n, &e)
                  : units_import(db, f, "units.csv", &n, &e);
    fclose(f);
    if (r < 0)
        fail_msg("units import: %s", e.msg);
    return n;
}
