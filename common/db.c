/*
 * db.c - opening, migrating and transacting on SQLite databases.
 */
#include "db.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int db_fail(sqlite3 *db, struct dti_err *e, const char *what)
{
    int rc = db ? sqlite3_extended_errcode(db) : SQLITE_CANTOPEN;
    int code = ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) ? DTI_EBUSY : DTI_EDB;
    if ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR)
        code = DTI_EIO;
    return dti_errf(e, code, "cannot %s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

int db_open(sqlite3 **out, const char *path, int create, struct dti_err *e)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int r;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        r = (db && sqlite3_errcode(db) == SQLITE_CANTOPEN)
                ? dti_errf(e, DTI_ENOTFOUND, "cannot open database '%s': %s", path,
                           sqlite3_errmsg(db))
                : db_fail(db, e, "open database");
        goto fail;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_extended_result_codes(db, 1);
    /* WAL lets admin commands read and write while the server runs; FULL makes
     * every commit durable (fsync of the WAL) before we acknowledge anything. */
    if ((r = db_exec(db, "PRAGMA journal_mode=WAL", e)) < 0 ||
        (r = db_exec(db, "PRAGMA synchronous=FULL", e)) < 0 ||
        (r = db_exec(db, "PRAGMA foreign_keys=ON", e)) < 0 ||
        (r = db_exec(db, "PRAGMA temp_store=MEMORY", e)) < 0)
        goto fail;
    *out = db;
    return 0;
fail:
    sqlite3_close(db);
    return r;
}

void db_close(sqlite3 *db)
{
    if (db)
        sqlite3_close(db);
}

int db_exec(sqlite3 *db, const char *sql, struct dti_err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = db_fail(db, e, "run SQL");
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

int db_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql, struct dti_err *e)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(db, e, "prepare statement");
    return 0;
}

int db_begin(sqlite3 *db, struct dti_err *e)
{
    return db_exec(db, "BEGIN IMMEDIATE", e);
}

int db_commit(sqlite3 *db, struct dti_err *e)
{
    return db_exec(db, "COMMIT", e);
}

void db_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int db_migrate(sqlite3 *db, const char *const *migrations, int n, struct dti_err *e)
{
    int r = db_begin(db, e);
    if (r < 0)
        return r;
    sqlite3_stmt *st = NULL;
    if ((r = db_prepare(db, &st, "PRAGMA user_version", e)) < 0)
        goto out;
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (version > n) {
        r = dti_errf(e, DTI_ESTATE, "database schema %d is newer than this program knows (%d)",
                     version, n);
        goto out;
    }
    for (int v = version; v < n; v++) {
        if ((r = db_exec(db, migrations[v], e)) < 0)
            goto out;
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
        if ((r = db_exec(db, pragma, e)) < 0)
            goto out;
    }
    r = db_commit(db, e);
out:
    if (r < 0)
        db_rollback(db);
    return r;
}

int db_meta_set(sqlite3 *db, const char *key, const char *value, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = db_fail(db, e, "write setting");
    sqlite3_finalize(st);
    return r;
}

int db_meta_get(sqlite3 *db, const char *key, char **value, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st, "SELECT value FROM meta WHERE key = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *value = xstrdup((const char *)sqlite3_column_text(st, 0));
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        r = DTI_ENOTFOUND;
    else
        r = db_fail(db, e, "read setting");
    sqlite3_finalize(st);
    return r;
}

int db_meta_set_u64(sqlite3 *db, const char *key, uint64_t v, struct dti_err *e)
{
    char s[32];
    snprintf(s, sizeof(s), "%" PRIu64, v);
    return db_meta_set(db, key, s, e);
}

int db_meta_get_u64(sqlite3 *db, const char *key, uint64_t dflt, uint64_t *v, struct dti_err *e)
{
    char *s = NULL;
    int r = db_meta_get(db, key, &s, e);
    if (r == DTI_ENOTFOUND) {
        *v = dflt;
        return 0;
    }
    if (r < 0)
        return r;
    if (parse_u64(s, UINT64_MAX, v) < 0)
        r = dti_errf(e, DTI_EDB, "setting '%s' is not a number: '%s'", key, s);
    free(s);
    return r;
}

int db_bind_value(sqlite3_stmt *st, int idx, const struct value *v)
{
    sqlite3_bind_int(st, idx, (int)v->kind);
    switch (v->kind) {
    case VALUE_NUMBER:
        sqlite3_bind_double(st, idx + 1, v->num);
        sqlite3_bind_null(st, idx + 2);
        break;
    case VALUE_BOOL:
        sqlite3_bind_int(st, idx + 1, v->b ? 1 : 0);
        sqlite3_bind_null(st, idx + 2);
        break;
    case VALUE_TEXT:
        sqlite3_bind_null(st, idx + 1);
        sqlite3_bind_text(st, idx + 2, v->text, -1, SQLITE_TRANSIENT);
        break;
    case VALUE_NONE:
        sqlite3_bind_null(st, idx + 1);
        sqlite3_bind_null(st, idx + 2);
        break;
    }
    return 0;
}

void db_column_value(sqlite3_stmt *st, int col, struct value *v)
{
    memset(v, 0, sizeof(*v));
    v->kind = (enum value_kind)sqlite3_column_int(st, col);
    switch (v->kind) {
    case VALUE_NUMBER:
        v->num = sqlite3_column_double(st, col + 1);
        break;
    case VALUE_BOOL:
        v->b = sqlite3_column_int(st, col + 1) != 0;
        break;
    case VALUE_TEXT:
        v->text = db_column_str(st, col + 2);
        break;
    case VALUE_NONE:
        break;
    default:
        v->kind = VALUE_NONE;
    }
}

int db_bind_text_or_null(sqlite3_stmt *st, int idx, const char *s)
{
    if (!s || !*s)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

const char *db_column_str(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? (const char *)s : "";
}
