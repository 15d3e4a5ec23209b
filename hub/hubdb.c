/*
 * hubdb.c - hub schema, units, enrolment tokens and agents.
 */
#include "hubdb.h"
#include "csv.h"
#include "db.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const hub_migrations[] = {
    /* 1: the sync core */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "CREATE TABLE units("
    "  code TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  level TEXT NOT NULL CHECK(level IN ('province','district','commune','department')),"
    "  parent TEXT REFERENCES units(code) DEFERRABLE INITIALLY DEFERRED,"
    "  valid_from TEXT, valid_to TEXT,"
    "  successor TEXT REFERENCES units(code) DEFERRABLE INITIALLY DEFERRED) WITHOUT ROWID;"
    "CREATE INDEX units_parent ON units(parent);"
    "CREATE TABLE tokens("
    "  secret_hash BLOB PRIMARY KEY, unit TEXT NOT NULL REFERENCES units(code),"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    "  used_by TEXT, used_ms INTEGER) WITHOUT ROWID;"
    "CREATE TABLE agents("
    "  id TEXT PRIMARY KEY, unit TEXT NOT NULL REFERENCES units(code),"
    "  pubkey BLOB NOT NULL UNIQUE, enrolled_ms INTEGER NOT NULL, revoked_ms INTEGER,"
    "  last_seq INTEGER NOT NULL DEFAULT 0, last_hash BLOB, last_seen_ms INTEGER,"
    "  clock_skew_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    /* every batch ever accepted, byte for byte, with the receipt we answered */
    "CREATE TABLE batches("
    "  agent TEXT NOT NULL REFERENCES agents(id), seq INTEGER NOT NULL,"
    "  hash BLOB NOT NULL, envelope BLOB NOT NULL, receipt BLOB NOT NULL,"
    "  records INTEGER NOT NULL, received_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(agent, seq)) WITHOUT ROWID;"
    /* the current authoritative value of each key; chg orders the change feed.
     * Keyed unit, period, element - the order offices enter figures in - so a
     * batch touches few pages (the other order made ingest write ~4 KB a record) */
    "CREATE TABLE vals("
    "  unit TEXT NOT NULL, element TEXT NOT NULL, period TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, num REAL, txt TEXT,"
    "  hlc INTEGER NOT NULL, origin TEXT NOT NULL, auth INTEGER NOT NULL,"
    "  base_hlc INTEGER NOT NULL DEFAULT 0, base_origin TEXT,"
    "  author TEXT, comment TEXT, seq INTEGER, chg INTEGER NOT NULL,"
    "  PRIMARY KEY(unit, period, element)) WITHOUT ROWID;"
    /* every version that is not (or no longer) current: nothing is deleted */
    "CREATE TABLE history("
    "  unit TEXT NOT NULL, element TEXT NOT NULL, period TEXT NOT NULL,"
    "  hlc INTEGER NOT NULL, origin TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, num REAL, txt TEXT, auth INTEGER NOT NULL,"
    "  base_hlc INTEGER NOT NULL DEFAULT 0, base_origin TEXT,"
    "  author TEXT, comment TEXT, seq INTEGER,"
    "  fate TEXT NOT NULL, recorded_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(unit, period, element, hlc, origin)) WITHOUT ROWID;"
    /* two writes neither of which saw the other: base, current and incoming kept */
    "CREATE TABLE conflicts("
    "  id INTEGER PRIMARY KEY, unit TEXT NOT NULL, element TEXT NOT NULL,"
    "  period TEXT NOT NULL, base_hlc INTEGER NOT NULL, base_origin TEXT,"
    "  current_hlc INTEGER NOT NULL, current_origin TEXT NOT NULL,"
    "  incoming_hlc INTEGER NOT NULL, incoming_origin TEXT NOT NULL,"
    "  winner_hlc INTEGER NOT NULL, winner_origin TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('open','resolved')),"
    "  resolution TEXT, created_ms INTEGER NOT NULL, resolved_ms INTEGER, resolved_by TEXT,"
    "  comment TEXT);"
    "CREATE INDEX conflicts_status ON conflicts(status, unit);",
    /* 2: reconciliation - locks, amendments, what offices are told, who did what */
    "CREATE TABLE locks("
    "  id INTEGER PRIMARY KEY, period TEXT NOT NULL,"
    "  unit TEXT REFERENCES units(code), level TEXT,"
    "  state TEXT NOT NULL CHECK(state IN ('locked','approved')),"
    "  created_ms INTEGER NOT NULL, created_by TEXT NOT NULL,"
    "  removed_ms INTEGER, removed_by TEXT);"
    "CREATE INDEX locks_active ON locks(period) WHERE removed_ms IS NULL;"
    /* a figure that arrived for a locked period: kept, pending the operator */
    "CREATE TABLE amendments("
    "  id INTEGER PRIMARY KEY, unit TEXT NOT NULL, element TEXT NOT NULL,"
    "  period TEXT NOT NULL, kind INTEGER NOT NULL, num REAL, txt TEXT,"
    "  hlc INTEGER NOT NULL, origin TEXT NOT NULL, auth INTEGER NOT NULL,"
    "  base_hlc INTEGER NOT NULL DEFAULT 0, base_origin TEXT, author TEXT, comment TEXT,"
    "  seq INTEGER, status TEXT NOT NULL CHECK(status IN ('pending','accepted','rejected')),"
    "  created_ms INTEGER NOT NULL, decided_ms INTEGER, decided_by TEXT, decision TEXT,"
    "  UNIQUE(unit, element, period, hlc, origin));"
    "CREATE INDEX amendments_status ON amendments(status);"
    /* decisions about an agent's own versions, delivered with its change feed */
    "CREATE TABLE notices("
    "  id INTEGER PRIMARY KEY, agent TEXT NOT NULL, unit TEXT NOT NULL,"
    "  element TEXT NOT NULL, period TEXT NOT NULL, hlc INTEGER NOT NULL,"
    "  kind TEXT NOT NULL, comment TEXT, by_whom TEXT, chg INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX notices_agent ON notices(agent, chg);"
    "CREATE TABLE audit("
    "  id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,"
    "  action TEXT NOT NULL, detail TEXT NOT NULL);",
    /* 3: indicator frameworks as data. Versions only grow: the framework in force
     * for a level and period is its highest version; older ones stay for the
     * results that were scored against them. chg delivers them to agents. */
    "CREATE TABLE frameworks("
    "  version INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL,"
    "  level TEXT NOT NULL, period TEXT NOT NULL, hash BLOB NOT NULL, json TEXT NOT NULL,"
    "  imported_ms INTEGER NOT NULL, imported_by TEXT NOT NULL, chg INTEGER NOT NULL);"
    "CREATE INDEX frameworks_in_force ON frameworks(level, period, version);",
    /* 4: authoritative scoring (hub/scoring.c). Every run is kept; reports
     * show the latest run of a period. A result records the framework
     * version and the input hash it was scored with; detail is JSON (layout
     * in docs/internals/SCORING.md). */
    "CREATE TABLE score_runs("
    "  id INTEGER PRIMARY KEY, period TEXT NOT NULL, ran_ms INTEGER NOT NULL,"
    "  ran_by TEXT NOT NULL, units INTEGER NOT NULL);"
    "CREATE INDEX score_runs_period ON score_runs(period, id);"
    "CREATE TABLE results("
    "  run INTEGER NOT NULL REFERENCES score_runs(id), period TEXT NOT NULL,"
    "  unit TEXT NOT NULL, level TEXT NOT NULL, parent TEXT,"
    "  framework_version INTEGER NOT NULL REFERENCES frameworks(version),"
    "  input_hash BLOB NOT NULL, points REAL NOT NULL, max REAL NOT NULL, dti REAL NOT NULL,"
    "  band TEXT, inputs_required INTEGER NOT NULL, inputs_present INTEGER NOT NULL,"
    "  rank_level INTEGER NOT NULL, rank_parent INTEGER NOT NULL,"
    "  self_points REAL, self_dti REAL, prev_dti REAL, prev_rank INTEGER,"
    "  detail TEXT NOT NULL, PRIMARY KEY(run, unit)) WITHOUT ROWID;"
    "CREATE INDEX results_unit ON results(unit, period, run);",
    /* 5: envelopes that arrived ahead of a gap (by bundle, relay or a resend),
     * signature checked, kept until the missing batches arrive */
    "CREATE TABLE parked("
    "  agent TEXT NOT NULL REFERENCES agents(id), seq INTEGER NOT NULL,"
    "  hash BLOB NOT NULL, envelope BLOB NOT NULL, received_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(agent, seq)) WITHOUT ROWID;",
    /* 6: units change (docs/internals/UNITS.md). units keeps each unit's latest
     * state; these keep what it was before: the parent and the name over time,
     * each row valid from valid_from to valid_to inclusive (NULL: open). Rows
     * are closed, never deleted. Backfilled from units. */
    "CREATE TABLE unit_parents("
    "  unit TEXT NOT NULL REFERENCES units(code), parent TEXT NOT NULL REFERENCES units(code),"
    "  valid_from TEXT, valid_to TEXT);"
    "CREATE INDEX unit_parents_unit ON unit_parents(unit, valid_from);"
    "CREATE INDEX unit_parents_parent ON unit_parents(parent);"
    "CREATE TABLE unit_names("
    "  unit TEXT NOT NULL REFERENCES units(code), name TEXT NOT NULL,"
    "  valid_from TEXT, valid_to TEXT);"
    "CREATE INDEX unit_names_unit ON unit_names(unit, valid_from);"
    "INSERT INTO unit_parents(unit, parent, valid_from) "
    "  SELECT code, parent, valid_from FROM units WHERE parent IS NOT NULL;"
    "INSERT INTO unit_names(unit, name, valid_from) SELECT code, name, valid_from FROM units;",
    /* 7: which road a batch took: NULL direct, a relaying district agent's id, or
     * "bundle" - informational, for 'dti-hub gaps' */
    "ALTER TABLE batches ADD COLUMN via TEXT;"
    "ALTER TABLE agents ADD COLUMN last_via TEXT;",
};

int hubdb_open(sqlite3 **out, const char *dir, bool create, struct dti_err *e)
{
    if (create && mkdir_p(dir, 0700) < 0)
        return dti_errf(e, DTI_EIO, "cannot create directory '%s'", dir);
    char *path = path_join(dir, HUBDB_FILE);
    sqlite3 *db = NULL;
    int r = db_open(&db, path, create, e);
    if (r == DTI_ENOTFOUND)
        r = dti_err_set(e, DTI_ENOTFOUND, "no hub in '%s' (run 'dti-hub init' first)", dir);
    if (r < 0)
        goto out;
    if ((r = db_migrate(db, hub_migrations, (int)ARRAY_SIZE(hub_migrations), e)) < 0) {
        db_close(db);
        goto out;
    }
    *out = db;
out:
    free(path);
    return r;
}

int hubdb_next_chg(sqlite3 *db, uint64_t *chg, struct dti_err *e)
{
    uint64_t v;
    int r = db_meta_get_u64(db, "chg", 0, &v, e);
    if (r < 0)
        return r;
    *chg = v + 1;
    return db_meta_set_u64(db, "chg", v + 1, e);
}

int hubdb_audit(sqlite3 *db, uint64_t at_ms, const char *actor, const char *action,
                const char *detail, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(
        db, &st, "INSERT INTO audit(at_ms, actor, action, detail) VALUES (?1, ?2, ?3, ?4)", e);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)at_ms);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = db_fail(db, e, "record audit");
    sqlite3_finalize(st);
    return r;
}

/* ---- units ---- */

static bool level_valid(const char *s)
{
    return !strcmp(s, "province") || !strcmp(s, "district") || !strcmp(s, "commune") ||
           !strcmp(s, "department");
}

static bool date_valid(const char *s)
{
    /* YYYY-MM-DD or empty */
    if (!*s)
        return true;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

/* ---- dates ---- */

/* n decimal digits (checked by the caller) as a number. */
static int atoi_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* A valid calendar date YYYY-MM-DD into y, m, d. */
static bool date_split(const char *s, int *y, int *m, int *d)
{
    if (!*s || !date_valid(s))
        return false;
    *y = atoi_digits(s, 4);
    *m = atoi_digits(s + 5, 2);
    *d = atoi_digits(s + 8, 2);
    return *m >= 1 && *m <= 12 && *d >= 1 && *d <= month_days(*y, *m);
}

static void date_format(char out[11], int y, int m, int d)
{
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}

/* The day before or after date (a valid date), into out. */
static void date_step(const char *date, int step, char out[11])
{
    int y, m, d;
    if (!date_split(date, &y, &m, &d)) {
        snprintf(out, 11, "%s", date);
        return;
    }
    d += step;
    if (d < 1) {
        if (--m < 1) {
            m = 12;
            y--;
        }
        d = month_days(y, m);
    } else if (d > month_days(y, m)) {
        d = 1;
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    date_format(out, y, m, d);
}

bool units_period_days(const char *period, char first[11], char last[11])
{
    if (!period_valid(period))
        return false;
    int y = atoi_digits(period, 4), m0 = 1, m1 = 12;
    if (period[4] == 'Q') {
        m1 = (period[5] - '0') * 3;
        m0 = m1 - 2;
    } else if (period[4] == '-') {
        m0 = m1 = atoi_digits(period + 5, 2);
    }
    date_format(first, y, m0, 1);
    date_format(last, y, m1, month_days(y, m1));
    return true;
}

/* Today's date where the hub runs (offices and operators think in local days). */
static void today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    date_format(out, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* ---- unit history ---- */

/* Set the open row of unit in table (unit_parents/parent or unit_names/name)
 * to value from `from` on: unchanged when it already says so; otherwise the
 * open row is closed the day before and a new one opened (value NULL: only
 * closed). Nothing is deleted. */
static int history_set(sqlite3 *db, const char *table, const char *col, const char *unit,
                       const char *value, const char *from, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    char *sql = xasprintf("SELECT rowid, %s FROM %s WHERE unit = ?1 AND valid_to IS NULL "
                          "ORDER BY valid_from DESC LIMIT 1",
                          col, table);
    int r = db_prepare(db, &st, sql, e);
    free(sql);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bool has_open = rc == SQLITE_ROW;
    int64_t rowid = has_open ? sqlite3_column_int64(st, 0) : 0;
    bool same = has_open && value && !strcmp(db_column_str(st, 1), value);
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(db, e, "read unit history");
    if (same || (!has_open && !value))
        return 0;
    if (has_open) {
        char before[11];
        date_step(from, -1, before);
        sql = xasprintf("UPDATE %s SET valid_to = ?2 WHERE rowid = ?1", table);
        r = db_prepare(db, &st, sql, e);
        free(sql);
        if (r < 0)
            return r;
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_text(st, 2, before, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE)
            return db_fail(db, e, "close unit history");
    }
    if (!value)
        return 0;
    sql = xasprintf("INSERT INTO %s(unit, %s, valid_from) VALUES (?1, ?2, ?3)", table, col);
    r = db_prepare(db, &st, sql, e);
    free(sql);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 3, from);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, e, "store unit history");
}

/* What the units table holds for code before a row is imported. */
struct unit_now {
    bool exists;
    char name[UNIT_NAME_MAX + 1];
    char parent[UNIT_CODE_MAX + 1];
    char valid_from[11];
};

static int unit_now(sqlite3_stmt *st, const char *code, struct unit_now *u, struct dti_err *e)
{
    memset(u, 0, sizeof(*u));
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        u->exists = true;
        snprintf(u->name, sizeof(u->name), "%s", db_column_str(st, 0));
        snprintf(u->parent, sizeof(u->parent), "%s", db_column_str(st, 1));
        snprintf(u->valid_from, sizeof(u->valid_from), "%s", db_column_str(st, 2));
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : dti_errf(e, DTI_EDB, "cannot read unit");
}

int units_import(sqlite3 *db, FILE *f, const char *name, size_t *count, struct dti_err *e)
{
    char day[11];
    today(day);
    return units_import_on(db, f, name, day, count, e);
}

int units_import_on(sqlite3 *db, FILE *f, const char *name, const char *today_date, size_t *count,
                    struct dti_err *e)
{
    static const char *const cols[] = {"code",       "name",     "level",    "parent_code",
                                       "valid_from", "valid_to", "successor"};
    struct csv *c = NULL;
    sqlite3_stmt *st = NULL, *get = NULL;
    char **fld;
    size_t nf, rows = 0, ncols;
    int r = csv_open(&c, f);
    if (r < 0)
        return dti_errf(e, r, "cannot read '%s'", name);
    if ((r = db_begin(db, e)) < 0)
        goto out;
    r = csv_next(c, &fld, &nf, e);
    if (r <= 0) {
        r = r < 0 ? r : dti_errf(e, DTI_EPARSE, "%s: empty file (expected a header row)", name);
        goto out;
    }
    ncols = nf;
    if (nf < 4 || nf > ARRAY_SIZE(cols)) {
        r = dti_errf(e, DTI_EPARSE,
                     "%s: header must be code,name,level,parent_code[,valid_from,"
                     "valid_to,successor]",
                     name);
        goto out;
    }
    for (size_t i = 0; i < nf; i++)
        if (strcmp(fld[i], cols[i]) != 0) {
            r = dti_errf(e, DTI_EPARSE, "%s: header column %zu is '%s', expected '%s'", name, i + 1,
                         fld[i], cols[i]);
            goto out;
        }
    if ((r = db_prepare(db, &st,
                        "INSERT INTO units(code, name, level, parent, valid_from, valid_to, "
                        "successor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                        "ON CONFLICT(code) DO UPDATE SET name = excluded.name, "
                        "level = excluded.level, parent = excluded.parent, "
                        "valid_from = excluded.valid_from, valid_to = excluded.valid_to, "
                        "successor = excluded.successor",
                        e)) < 0 ||
        (r = db_prepare(db, &get,
                        "SELECT name, coalesce(parent, ''), coalesce(valid_from, '') FROM units "
                        "WHERE code = ?1",
                        e)) < 0)
        goto out;
    while ((r = csv_next(c, &fld, &nf, e)) > 0) {
        size_t line = csv_line(c);
        if (nf != ncols) {
            r = dti_errf(e, DTI_EPARSE, "%s:%zu: %zu fields, expected %zu", name, line, nf, ncols);
            goto out;
        }
        const char *v[7] = {"", "", "", "", "", "", ""};
        for (size_t i = 0; i < nf; i++)
            v[i] = fld[i];
        if (!unit_code_valid(v[0])) {
            r = dti_errf(e, DTI_EUNIT, "%s:%zu: invalid unit code '%s'", name, line, v[0]);
            goto out;
        }
        if (!*v[1] || strlen(v[1]) > UNIT_NAME_MAX) {
            r = dti_errf(e, DTI_EPARSE, "%s:%zu: unit name must be 1-200 bytes", name, line);
            goto out;
        }
        if (!level_valid(v[2])) {
            r = dti_errf(e, DTI_EPARSE,
                         "%s:%zu: level '%s' is not province, district, commune or department",
                         name, line, v[2]);
            goto out;
        }
        if ((*v[3] && !unit_code_valid(v[3])) || (*v[6] && !unit_code_valid(v[6])) ||
            !strcmp(v[3], v[0]) || !strcmp(v[6], v[0])) {
            r = dti_errf(e, DTI_EUNIT, "%s:%zu: invalid parent or successor code", name, line);
            goto out;
        }
        int y, m, d;
        if ((*v[4] && !date_split(v[4], &y, &m, &d)) || (*v[5] && !date_split(v[5], &y, &m, &d))) {
            r = dti_errf(e, DTI_EPARSE, "%s:%zu: dates must be YYYY-MM-DD", name, line);
            goto out;
        }
        if (*v[4] && *v[5] && strcmp(v[4], v[5]) > 0) {
            r = dti_errf(e, DTI_EPARSE, "%s:%zu: valid_to %s is before valid_from %s", name, line,
                         v[5], v[4]);
            goto out;
        }
        /* a known unit whose name or parent differs changed on valid_from (or
         * today): the old name or parent link is closed the day before, the
         * new one opened, and the unit keeps the start date it had */
        struct unit_now now;
        if ((r = unit_now(get, v[0], &now, e)) < 0)
            goto out;
        bool changed = now.exists && (strcmp(now.name, v[1]) || strcmp(now.parent, v[3]));
        const char *from = *v[4] ? v[4] : changed ? today_date : "";
        const char *start = now.exists ? now.valid_from : v[4];
        sqlite3_reset(st);
        for (int i = 0; i < 7; i++)
            db_bind_text_or_null(st, i + 1, i == 4 ? start : v[i]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            r = db_fail(db, e, "store unit");
            goto out;
        }
        if ((r = history_set(db, "unit_names", "name", v[0], v[1], *from ? from : NULL, e)) < 0 ||
            (r = history_set(db, "unit_parents", "parent", v[0], *v[3] ? v[3] : NULL,
                             *from ? from : NULL, e)) < 0)
            goto out;
        rows++;
    }
    if (r < 0) {
        dti_err_prefix(e, r, name);
        goto out;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(get);
    st = get = NULL;
    /* deferred foreign keys are checked here: a parent that is nowhere fails the import */
    if (db_commit(db, e) < 0) {
        r = dti_err_set(e, DTI_EUNIT, "%s: a parent or successor code names no unit", name);
        goto out;
    }
    *count = rows;
    r = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(get);
    if (r < 0)
        db_rollback(db);
    csv_free(c);
    return r;
}

/* The name and parent of code on date (history rows, inclusive bounds). */
#define AS_OF_SQL                                                                                  \
    "SELECT u.level, coalesce(u.valid_from, ''), coalesce(u.valid_to, ''), "                       \
    "coalesce(u.successor, ''), "                                                                  \
    "coalesce((SELECT n.name FROM unit_names n WHERE n.unit = u.code AND "                         \
    "(n.valid_from IS NULL OR n.valid_from <= ?2) AND (n.valid_to IS NULL OR n.valid_to >= ?2) "   \
    "ORDER BY n.valid_from DESC LIMIT 1), u.name), "                                               \
    "coalesce((SELECT p.parent FROM unit_parents p WHERE p.unit = u.code AND "                     \
    "(p.valid_from IS NULL OR p.valid_from <= ?2) AND (p.valid_to IS NULL OR p.valid_to >= ?2) "   \
    "ORDER BY p.valid_from DESC LIMIT 1), '') "                                                    \
    "FROM units u WHERE u.code = ?1"

int units_as_of(sqlite3 *db, const char *code, const char *date, struct unit_asof *out,
                struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st, AS_OF_SQL, e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, date, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct unit_asof u = {0};
        snprintf(u.level, sizeof(u.level), "%s", db_column_str(st, 0));
        snprintf(u.valid_from, sizeof(u.valid_from), "%s", db_column_str(st, 1));
        snprintf(u.valid_to, sizeof(u.valid_to), "%s", db_column_str(st, 2));
        snprintf(u.successor, sizeof(u.successor), "%s", db_column_str(st, 3));
        snprintf(u.name, sizeof(u.name), "%s", db_column_str(st, 4));
        snprintf(u.parent, sizeof(u.parent), "%s", db_column_str(st, 5));
        u.exists = (!u.valid_from[0] || strcmp(u.valid_from, date) <= 0) &&
                   (!u.valid_to[0] || strcmp(u.valid_to, date) >= 0);
        *out = u;
    } else if (rc == SQLITE_DONE) {
        r = dti_errf(e, DTI_EUNIT, "unknown unit '%s'", code);
    } else {
        r = db_fail(db, e, "read unit");
    }
    sqlite3_finalize(st);
    return r;
}

int units_in_period(sqlite3 *db, const char *code, const char *period, bool *existed, char *why,
                    size_t whylen, struct dti_err *e)
{
    char first[11], last[11];
    if (!units_period_days(period, first, last))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s'", period);
    struct unit_asof u;
    int r = units_as_of(db, code, last, &u, e);
    if (r < 0)
        return r;
    bool after = u.valid_to[0] && strcmp(u.valid_to, first) < 0;
    bool before = u.valid_from[0] && strcmp(u.valid_from, last) > 0;
    *existed = !after && !before;
    if (why && whylen) {
        why[0] = '\0';
        char next[11];
        if (after) {
            date_step(u.valid_to, 1, next);
            if (u.successor[0])
                snprintf(why, whylen, "unit %s was merged into %s on %s: period %s is after it",
                         code, u.successor, next, period);
            else
                snprintf(why, whylen, "unit %s was dissolved on %s: period %s is after it", code,
                         next, period);
        } else if (before) {
            snprintf(why, whylen, "unit %s comes into effect on %s: period %s is before it", code,
                     u.valid_from, period);
        }
    }
    return 0;
}

int units_level(sqlite3 *db, const char *code, char level[16], struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st, "SELECT level FROM units WHERE code = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(level, 16, "%s", db_column_str(st, 0));
    else if (rc == SQLITE_DONE)
        r = dti_errf(e, DTI_EUNIT, "unknown unit '%s'", code);
    else
        r = db_fail(db, e, "read unit");
    sqlite3_finalize(st);
    return r;
}

enum authority units_authority(const char *level)
{
    if (!strcmp(level, "province"))
        return AUTH_PROVINCE;
    if (!strcmp(level, "district"))
        return AUTH_DISTRICT;
    return AUTH_COMMUNE;
}

int units_scope(sqlite3 *db, const char *code, char ***codes, size_t *n, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "WITH RECURSIVE s(code) AS (SELECT code FROM units WHERE code = ?1 "
                       "UNION SELECT l.unit FROM (SELECT unit, parent FROM unit_parents "
                       "UNION SELECT code, parent FROM units WHERE parent IS NOT NULL) l "
                       "JOIN s ON l.parent = s.code) "
                       "SELECT code FROM s ORDER BY code",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    size_t cnt = 0, cap = 8;
    char **v = xmalloc(cap * sizeof(char *));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(char *));
        }
        v[cnt++] = xstrdup(db_column_str(st, 0));
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read unit scope");
        units_scope_free(v, cnt);
    } else if (cnt == 0) {
        r = dti_errf(e, DTI_EUNIT, "unknown unit '%s'", code);
        units_scope_free(v, cnt);
    } else {
        *codes = v;
        *n = cnt;
    }
    sqlite3_finalize(st);
    return r;
}

void units_scope_free(char **codes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(codes[i]);
    free(codes);
}

/* ---- tokens ---- */

int tokens_issue(sqlite3 *db, const char *unit, uint64_t now_ms, uint64_t ttl_ms,
                 uint8_t secret[32], struct dti_err *e)
{
    char level[16];
    int r = units_level(db, unit, level, e);
    if (r < 0)
        return r;
    if ((r = crypto_random(secret, 32)) < 0)
        return dti_errf(e, r, "cannot make a random secret");
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(secret, 32, h);
    sqlite3_stmt *st = NULL;
    if ((r = db_prepare(db, &st,
                        "INSERT INTO tokens(secret_hash, unit, created_ms, expires_ms) "
                        "VALUES (?1, ?2, ?3, ?4)",
                        e)) < 0)
        return r;
    sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, unit, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)now_ms);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)(now_ms + ttl_ms));
    if (sqlite3_step(st) != SQLITE_DONE)
        r = db_fail(db, e, "store token");
    sqlite3_finalize(st);
    return r;
}

int tokens_redeem(sqlite3 *db, const uint8_t secret[32], const char *agent_id, uint64_t now_ms,
                  char unit[UNIT_CODE_MAX + 1], struct dti_err *e)
{
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(secret, 32, h);
    sqlite3_stmt *st = NULL;
    int r = db_prepare(
        db, &st,
        "UPDATE tokens SET used_by = ?2, used_ms = ?3 "
        "WHERE secret_hash = ?1 AND (used_by IS NULL OR used_by = ?2) AND expires_ms > ?3 "
        "RETURNING unit",
        e);
    if (r < 0)
        return r;
    sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, agent_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)now_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(unit, UNIT_CODE_MAX + 1, "%s", db_column_str(st, 0));
    else if (rc == SQLITE_DONE)
        r = dti_errf(e, DTI_ETOKEN, "enrolment token is unknown, already used or expired");
    else
        r = db_fail(db, e, "redeem token");
    sqlite3_finalize(st);
    return r;
}

/* ---- agents ---- */

int agents_create(sqlite3 *db, const char *id, const char *unit, const uint8_t pub[32],
                  uint64_t now_ms, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(
        db, &st, "INSERT INTO agents(id, unit, pubkey, enrolled_ms) VALUES (?1, ?2, ?3, ?4)", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, unit, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, pub, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)now_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
        r = dti_errf(e, DTI_EEXISTS, "agent %s is already enrolled", id);
    else if (rc != SQLITE_DONE)
        r = db_fail(db, e, "store agent");
    sqlite3_finalize(st);
    return r;
}

int agents_get(sqlite3 *db, const char *id, struct agent_row *a, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "SELECT a.id, a.unit, u.level, a.pubkey, a.revoked_ms IS NOT NULL, "
                       "a.last_seq, a.last_hash, coalesce(a.last_seen_ms, 0), a.clock_skew_ms "
                       "FROM agents a JOIN units u ON u.code = a.unit WHERE a.id = ?1",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(a, 0, sizeof(*a));
        snprintf(a->id, sizeof(a->id), "%s", db_column_str(st, 0));
        snprintf(a->unit, sizeof(a->unit), "%s", db_column_str(st, 1));
        snprintf(a->level, sizeof(a->level), "%s", db_column_str(st, 2));
        if (sqlite3_column_bytes(st, 3) == CRYPTO_PUBKEY_LEN)
            memcpy(a->pub, sqlite3_column_blob(st, 3), CRYPTO_PUBKEY_LEN);
        a->revoked = sqlite3_column_int(st, 4) != 0;
        a->last_seq = (uint64_t)sqlite3_column_int64(st, 5);
        if (sqlite3_column_bytes(st, 6) == CRYPTO_SHA256_LEN) {
            a->has_last_hash = true;
            memcpy(a->last_hash, sqlite3_column_blob(st, 6), CRYPTO_SHA256_LEN);
        }
        a->last_seen_ms = (uint64_t)sqlite3_column_int64(st, 7);
        a->clock_skew_ms = sqlite3_column_int64(st, 8);
    } else if (rc == SQLITE_DONE) {
        r = dti_errf(e, DTI_EAGENT, "unknown agent '%s'", id);
    } else {
        r = db_fail(db, e, "read agent");
    }
    sqlite3_finalize(st);
    return r;
}

int agents_revoke(sqlite3 *db, const char *id, uint64_t now_ms, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "UPDATE agents SET revoked_ms = coalesce(revoked_ms, ?2) WHERE id = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)now_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = db_fail(db, e, "revoke agent");
    else if (sqlite3_changes(db) == 0)
        r = dti_errf(e, DTI_EAGENT, "unknown agent '%s'", id);
    sqlite3_finalize(st);
    return r;
}
