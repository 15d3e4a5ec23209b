/*
 * hubdb.c - hub schema, units, enrolment tokens and agents.
 */
#include "hubdb.h"
#include "csv.h"
#include "db.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

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

int units_import(sqlite3 *db, FILE *f, const char *name, size_t *count, struct dti_err *e)
{
    static const char *const cols[] = {"code",       "name",     "level",    "parent_code",
                                       "valid_from", "valid_to", "successor"};
    struct csv *c = NULL;
    sqlite3_stmt *st = NULL;
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
        r = dti_errf(e, DTI_EPARSE, "%s: header must be code,name,level,parent_code[,valid_from,"
                                    "valid_to,successor]",
                     name);
        goto out;
    }
    for (size_t i = 0; i < nf; i++)
        if (strcmp(fld[i], cols[i]) != 0) {
            r = dti_errf(e, DTI_EPARSE, "%s: header column %zu is '%s', expected '%s'", name,
                         i + 1, fld[i], cols[i]);
            goto out;
        }
    if ((r = db_prepare(db, &st,
                        "INSERT INTO units(code, name, level, parent, valid_from, valid_to, "
                        "successor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                        "ON CONFLICT(code) DO UPDATE SET name = excluded.name, "
                        "level = excluded.level, parent = excluded.parent, "
                        "valid_from = excluded.valid_from, valid_to = excluded.valid_to, "
                        "successor = excluded.successor",
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
        if (!*v[1] || strlen(v[1]) > 200) {
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
            !strcmp(v[3], v[0])) {
            r = dti_errf(e, DTI_EUNIT, "%s:%zu: invalid parent or successor code", name, line);
            goto out;
        }
        if (!date_valid(v[4]) || !date_valid(v[5])) {
            r = dti_errf(e, DTI_EPARSE, "%s:%zu: dates must be YYYY-MM-DD", name, line);
            goto out;
        }
        sqlite3_reset(st);
        for (int i = 0; i < 7; i++)
            db_bind_text_or_null(st, i + 1, v[i]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            r = db_fail(db, e, "store unit");
            goto out;
        }
        rows++;
    }
    if (r < 0) {
        dti_err_prefix(e, r, name);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* deferred foreign keys are checked here: a parent that is nowhere fails the import */
    if (db_commit(db, e) < 0) {
        r = dti_err_set(e, DTI_EUNIT, "%s: a parent or successor code names no unit", name);
        goto out;
    }
    *count = rows;
    r = 0;
out:
    sqlite3_finalize(st);
    if (r < 0)
        db_rollback(db);
    csv_free(c);
    return r;
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
                       "UNION SELECT u.code FROM units u JOIN s ON u.parent = s.code) "
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
    int r = db_prepare(db, &st,
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
    int r = db_prepare(db, &st,
                       "INSERT INTO agents(id, unit, pubkey, enrolled_ms) VALUES (?1, ?2, ?3, ?4)",
                       e);
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
                       "UPDATE agents SET revoked_ms = coalesce(revoked_ms, ?2) WHERE id = ?1",
                       e);
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
