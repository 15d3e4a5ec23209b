/*
 * frameworks.c - stored framework versions (see frameworks.h). The file's
 * own text is what is stored: loading a version parses it again, which gives
 * the same framework and the same content hash.
 */
#include "frameworks.h"
#include "crypto.h"
#include "db.h"
#include "hubdb.h"
#include "util.h"
#include "value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a stored text; a stored version that no longer parses is damage, not
 * a user mistake (it was validated on import). */
static int frameworks__parse(const char *text, size_t len, int64_t version, struct framework **fw,
                             struct dti_err *e)
{
    struct fw_problems probs = {0};
    char label[32];
    snprintf(label, sizeof(label), "version %lld", (long long)version);
    int r = framework_parse(text, len, label, fw, &probs);
    if (r < 0) {
        char first[600] = "";
        if (probs.n)
            fw_problem_format(&probs, 0, first, sizeof(first));
        r = dti_errf(e, DTI_EDB, "stored framework %s does not parse: %s", label, first);
    }
    fw_problems_release(&probs);
    return r;
}

int frameworks_import(sqlite3 *db, const char *text, size_t len, const char *source_name,
                      const char *by, uint64_t now_ms, int64_t *version, bool *unchanged,
                      struct fw_problems *probs, struct dti_err *e)
{
    struct framework *fw = NULL;
    sqlite3_stmt *st = NULL;
    bool in_tx = false;
    if (!source_name)
        source_name = "framework";
    int r = framework_parse(text, len, source_name, &fw, probs);
    if (r < 0) {
        size_t n = probs ? probs->n : 0;
        return dti_errf(e, r, "%s: %zu problem%s; nothing was stored", source_name, n,
                        n == 1 ? "" : "s");
    }
    const char *level = fw_level_name(fw->level);
    if ((r = db_begin(db, e)) < 0)
        goto out;
    in_tx = true;
    if ((r = db_prepare(db, &st,
                        "SELECT version, hash FROM frameworks WHERE level = ?1 AND period = ?2 "
                        "ORDER BY version DESC LIMIT 1",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, level, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, fw->period, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == CRYPTO_SHA256_LEN &&
        memcmp(sqlite3_column_blob(st, 1), fw->hash, CRYPTO_SHA256_LEN) == 0) {
        int64_t v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        db_rollback(db);
        in_tx = false;
        *version = v;
        *unchanged = true;
        r = 0;
        goto out;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = db_fail(db, e, "read frameworks");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;

    uint64_t chg;
    if ((r = hubdb_next_chg(db, &chg, e)) < 0)
        goto out;
    if ((r = db_prepare(db, &st,
                        "INSERT INTO frameworks(id, name, level, period, hash, json, imported_ms, "
                        "imported_by, chg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                        "RETURNING version",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, fw->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, fw->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, level, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, fw->period, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, fw->hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, text, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)now_ms);
    sqlite3_bind_text(st, 8, by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)chg);
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = db_fail(db, e, "store framework");
        goto out;
    }
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;

    char hex[2 * CRYPTO_SHA256_LEN + 1];
    hex_encode(fw->hash, CRYPTO_SHA256_LEN, hex);
    char *detail = xasprintf("framework %s (%s %s) version %lld, sha256 %s, from %s", fw->id, level,
                             fw->period, (long long)v, hex, source_name);
    r = hubdb_audit(db, now_ms, by, "framework import", detail, e);
    free(detail);
    if (r < 0)
        goto out;
    if ((r = db_commit(db, e)) < 0)
        goto out;
    in_tx = false;
    *version = v;
    *unchanged = false;
out:
    sqlite3_finalize(st);
    if (in_tx)
        db_rollback(db);
    framework_free(fw);
    return r;
}

/* Load the row st has stepped onto: version in column 0, json in column 1. */
static int frameworks__load_row(sqlite3_stmt *st, int64_t *version, struct framework **fw,
                                struct dti_err *e)
{
    int64_t v = sqlite3_column_int64(st, 0);
    if (fw) {
        const char *text = (const char *)sqlite3_column_text(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        int r = frameworks__parse(text ? text : "", len, v, fw, e);
        if (r < 0)
            return r;
    }
    if (version)
        *version = v;
    return 0;
}

int frameworks_in_force(sqlite3 *db, const char *level, const char *period, int64_t *version,
                        struct framework **fw, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "SELECT version, json FROM frameworks WHERE level = ?1 AND period = ?2 "
                       "ORDER BY version DESC LIMIT 1",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, level, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = frameworks__load_row(st, version, fw, e);
    else if (rc == SQLITE_DONE)
        r = dti_errf(e, DTI_ENOTFOUND, "no %s framework for period %s", level, period);
    else
        r = db_fail(db, e, "read frameworks");
    sqlite3_finalize(st);
    return r;
}

int frameworks_load(sqlite3 *db, int64_t version, struct framework **fw, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st, "SELECT version, json FROM frameworks WHERE version = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)version);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = frameworks__load_row(st, NULL, fw, e);
    else if (rc == SQLITE_DONE)
        r = dti_errf(e, DTI_ENOTFOUND, "no framework version %lld", (long long)version);
    else
        r = db_fail(db, e, "read frameworks");
    sqlite3_finalize(st);
    return r;
}

int frameworks_list_json(sqlite3 *db, json_t **out, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "SELECT f.version, f.id, f.name, f.level, f.period, f.imported_ms, "
                       "f.imported_by, f.hash, f.version = (SELECT max(g.version) FROM "
                       "frameworks g WHERE g.level = f.level AND g.period = f.period) "
                       "FROM frameworks f ORDER BY f.version",
                       e);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char when[32], hex[2 * CRYPTO_SHA256_LEN + 1] = "";
        format_utc((uint64_t)sqlite3_column_int64(st, 5), when);
        if (sqlite3_column_bytes(st, 7) == CRYPTO_SHA256_LEN)
            hex_encode(sqlite3_column_blob(st, 7), CRYPTO_SHA256_LEN, hex);
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "version",
                           (json_int_t)sqlite3_column_int64(st, 0), "id", db_column_str(st, 1),
                           "name", db_column_str(st, 2), "level", db_column_str(st, 3), "period",
                           db_column_str(st, 4), "imported", when, "by", db_column_str(st, 6),
                           "hash", hex, "in_force", sqlite3_column_int(st, 8) != 0));
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "list frameworks");
        json_decref(arr);
    } else {
        *out = arr;
    }
    sqlite3_finalize(st);
    return r;
}
