/*
 * db.h - SQLite conventions shared by the agent's store and the hub's
 * database: how a file is opened (WAL, synchronous=FULL so a commit is on
 * disk before anyone is told, busy timeout so admin commands and a running
 * server share it safely), schema migrations by PRAGMA user_version, the
 * meta key/value table, transactions, and how a struct value maps to the
 * three columns (kind, num, txt).
 */
#ifndef DTI_DB_H
#define DTI_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "err.h"
#include "value.h"

/* Open (creating if create is set) the database at path. */
int db_open(sqlite3 **out, const char *path, int create, struct dti_err *e);
/* Close; NULL is a no-op. Finalises nothing: callers finalise their statements first. */
void db_close(sqlite3 *db);
/*
 * Bring the schema up to date: migrations[i] is the SQL that moves
 * user_version i to i+1. Runs each pending step in its own transaction.
 */
int db_migrate(sqlite3 *db, const char *const *migrations, int n, struct dti_err *e);

/* Run SQL with no result rows. */
int db_exec(sqlite3 *db, const char *sql, struct dti_err *e);
/* Prepare one statement. */
int db_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql, struct dti_err *e);
/* BEGIN IMMEDIATE (take the write lock now), COMMIT, ROLLBACK. */
int db_begin(sqlite3 *db, struct dti_err *e);
int db_commit(sqlite3 *db, struct dti_err *e);
/* Roll back if a transaction is open; never fails. */
void db_rollback(sqlite3 *db);
/*
 * Turn the last SQLite failure into a DTI code (DTI_EBUSY for lock timeouts,
 * DTI_EDB otherwise) with "cannot WHAT: sqlite message" in e.
 */
int db_fail(sqlite3 *db, struct dti_err *e, const char *what);

/* The meta(key, value) table every dtisync database has. */
int db_meta_set(sqlite3 *db, const char *key, const char *value, struct dti_err *e);
/* Fetch into a new string the caller frees; DTI_ENOTFOUND when absent. */
int db_meta_get(sqlite3 *db, const char *key, char **value, struct dti_err *e);
int db_meta_set_u64(sqlite3 *db, const char *key, uint64_t v, struct dti_err *e);
/* Absent keys read as dflt. */
int db_meta_get_u64(sqlite3 *db, const char *key, uint64_t dflt, uint64_t *v, struct dti_err *e);

/* Bind v to parameters idx (kind), idx+1 (num), idx+2 (txt). Text is copied. */
int db_bind_value(sqlite3_stmt *st, int idx, const struct value *v);
/* Read columns col (kind), col+1 (num), col+2 (txt). Text is borrowed from
 * the statement until its next step, reset or finalize. */
void db_column_value(sqlite3_stmt *st, int col, struct value *v);
/* Bind a C string, or NULL when s is NULL or empty. */
int db_bind_text_or_null(sqlite3_stmt *st, int idx, const char *s);
/* sqlite3_column_text as const char *, "" for NULL. */
const char *db_column_str(sqlite3_stmt *st, int col);

#endif
