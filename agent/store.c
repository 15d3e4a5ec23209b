/*
 * store.c - the agent's SQLite store (see store.h and docs/internals/OUTBOX.md).
 */
#include "store.h"
#include "db.h"
#include "envelope.h"
#include "framework.h"
#include "hlc.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEAL_MAX_PAYLOAD (1u << 20) /* estimated raw payload per batch */

static const char *const agent_migrations[] = {
    /* 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "CREATE TABLE scope(unit TEXT PRIMARY KEY) WITHOUT ROWID;"
    /* the office's view of every value: its own edits and what the hub sent */
    "CREATE TABLE vals("
    "  unit TEXT NOT NULL, element TEXT NOT NULL, period TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, num REAL, txt TEXT,"
    "  hlc INTEGER NOT NULL, origin TEXT NOT NULL, author TEXT, comment TEXT,"
    "  state TEXT NOT NULL CHECK(state IN ('pending','synced','conflict','superseded',"
    "    'rejected','amendment')),"
    "  note TEXT, hub_kind INTEGER, hub_num REAL, hub_txt TEXT, hub_hlc INTEGER,"
    "  hub_origin TEXT,"
    "  PRIMARY KEY(unit, period, element)) WITHOUT ROWID;"
    /* edits not yet acknowledged; batch is set when sealed */
    "CREATE TABLE outbox("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  unit TEXT NOT NULL, element TEXT NOT NULL, period TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, num REAL, txt TEXT, hlc INTEGER NOT NULL,"
    "  base_hlc INTEGER NOT NULL, base_origin TEXT, author TEXT, comment TEXT,"
    "  batch INTEGER, idx INTEGER);"
    "CREATE INDEX outbox_unsealed ON outbox(id) WHERE batch IS NULL;"
    "CREATE INDEX outbox_batch ON outbox(batch, idx) WHERE batch IS NOT NULL;"
    /* sealed batches, byte for byte; receipt is set when acknowledged */
    "CREATE TABLE batches("
    "  seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, envelope BLOB NOT NULL,"
    "  records INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  receipt BLOB, acked_ms INTEGER);",
    /* 2: what became of this office's own edits - outcomes from receipts and the
     * operator's decisions from the change feed - for `dti-agent conflicts` */
    "CREATE TABLE decisions("
    "  id INTEGER PRIMARY KEY, unit TEXT NOT NULL, element TEXT NOT NULL,"
    "  period TEXT NOT NULL, hlc INTEGER NOT NULL, kind TEXT NOT NULL,"
    "  comment TEXT, by_whom TEXT, at_ms INTEGER NOT NULL);"
    "CREATE INDEX decisions_version ON decisions(unit, element, period, hlc);",
    /* 3: frameworks from the hub, and the level of each unit in scope (to find the
     * framework in force for a unit and period) */
    "ALTER TABLE scope ADD COLUMN level TEXT;"
    "CREATE TABLE frameworks("
    "  version INTEGER PRIMARY KEY, level TEXT NOT NULL, period TEXT NOT NULL,"
    "  json TEXT NOT NULL, received_ms INTEGER NOT NULL);"
    "CREATE INDEX frameworks_in_force ON frameworks(level, period, version);",
    /* 4: the version of each key the hub is known to hold (from receipts and the
     * change feed). A new edit is based on it - not on a local version the hub
     * rejected or kept as an amendment - unless a local edit is still pending. */
    "ALTER TABLE vals ADD COLUMN known_hlc INTEGER;"
    "ALTER TABLE vals ADD COLUMN known_origin TEXT;",
    /* 5: a district relay's commune envelopes, byte for byte, held for forwarding
     * (agent/relaybox.c): the hub's receipt once it answered, or its refusal
     * (status and Problem body) when it refused for good */
    "CREATE TABLE relayed("
    "  agent TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL,"
    "  envelope BLOB NOT NULL, received_ms INTEGER NOT NULL, forwarded_ms INTEGER,"
    "  receipt BLOB, status INTEGER, problem BLOB,"
    "  PRIMARY KEY(agent, seq));"
    "CREATE INDEX relayed_pending ON relayed(agent, seq) "
    "  WHERE receipt IS NULL AND problem IS NULL;",
};

struct store {
    sqlite3 *db;
    char *dir;
};

sqlite3 *store_db(struct store *st)
{
    return st->db;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    db_close(st->db);
    free(st->dir);
    free(st);
}

static int open_db(struct store **out, const char *dir, bool create, struct dti_err *e)
{
    char *path = path_join(dir, STORE_DB);
    struct store *st = xcalloc(1, sizeof(*st));
    int r = db_open(&st->db, path, create, e);
    if (r == DTI_ENOTFOUND)
        r = dti_err_set(e, r, "no agent in '%s' (run 'dti-agent init --token TOKEN' first)", dir);
    /* an office PC: a small page cache keeps a 100k-record sync near 15 MB resident */
    if (r == 0)
        r = db_exec(st->db, "PRAGMA cache_size=-512", e);
    if (r == 0)
        r = db_migrate(st->db, agent_migrations, (int)ARRAY_SIZE(agent_migrations), e);
    free(path);
    if (r < 0) {
        store_close(st);
        return r;
    }
    st->dir = xstrdup(dir);
    *out = st;
    return 0;
}

int store_open(struct store **out, const char *dir, struct dti_err *e)
{
    return open_db(out, dir, false, e);
}

int store_create(struct store **out, const char *dir, const struct store_identity *id,
                 struct dti_err *e)
{
    char *path = path_join(dir, STORE_DB);
    int exists = access(path, F_OK) == 0;
    free(path);
    if (exists)
        return dti_errf(e, DTI_EEXISTS, "an agent already exists in '%s'", dir);
    if (mkdir_p(dir, 0700) < 0)
        return dti_errf(e, DTI_EIO, "cannot create directory '%s'", dir);
    struct store *st = NULL;
    int r = open_db(&st, dir, true, e);
    if (r < 0)
        return r;
    char secret[65] = "";
    if (id->has_token)
        hex_encode(id->token_secret, 32, secret);
    sqlite3_stmt *s = NULL;
    if ((r = db_begin(st->db, e)) < 0 ||
        (r = db_meta_set(st->db, "agent_id", id->agent_id, e)) < 0 ||
        (r = db_meta_set(st->db, "unit", id->unit, e)) < 0 ||
        (r = db_meta_set(st->db, "hub_url", id->hub_url, e)) < 0 ||
        (r = db_meta_set(st->db, "fingerprint", id->fingerprint, e)) < 0 ||
        (r = db_meta_set(st->db, "token_secret", secret, e)) < 0 ||
        (r = db_meta_set_u64(st->db, "next_seq", 1, e)) < 0 ||
        (r = db_meta_set_u64(st->db, "cursor", 0, e)) < 0 ||
        (r = db_prepare(st->db, &s, "INSERT INTO scope(unit) VALUES (?1)", e)) < 0)
        goto out;
    sqlite3_bind_text(s, 1, id->unit, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = db_fail(st->db, e, "store scope");
        goto out;
    }
    r = db_commit(st->db, e);
out:
    sqlite3_finalize(s);
    if (r < 0) {
        db_rollback(st->db);
        store_close(st);
        return r;
    }
    *out = st;
    return 0;
}

static void meta_str(sqlite3 *db, const char *key, char *dst, size_t cap)
{
    char *v = NULL;
    dst[0] = '\0';
    if (db_meta_get(db, key, &v, NULL) == 0)
        snprintf(dst, cap, "%s", v);
    free(v);
}

int store_identity(struct store *st, struct store_identity *id, struct dti_err *e)
{
    memset(id, 0, sizeof(*id));
    char hex[80];
    meta_str(st->db, "agent_id", id->agent_id, sizeof(id->agent_id));
    meta_str(st->db, "unit", id->unit, sizeof(id->unit));
    meta_str(st->db, "hub_url", id->hub_url, sizeof(id->hub_url));
    meta_str(st->db, "fingerprint", id->fingerprint, sizeof(id->fingerprint));
    meta_str(st->db, "hub_pub", hex, sizeof(hex));
    if (strlen(hex) == 64 && hex_decode(hex, id->hub_pub, 32) == 0)
        id->has_hub_pub = true;
    meta_str(st->db, "token_secret", hex, sizeof(hex));
    if (strlen(hex) == 64 && hex_decode(hex, id->token_secret, 32) == 0)
        id->has_token = true;
    id->enrolled = id->has_hub_pub;
    if (!id->agent_id[0] || !id->unit[0])
        return dti_errf(e, DTI_ESTATE, "the agent store is incomplete (was init interrupted?)");
    return 0;
}

int store_enrolled(struct store *st, const uint8_t hub_pub[32], char (*scope)[UNIT_CODE_MAX + 1],
                   char (*levels)[16], size_t nscope, uint64_t next_seq, struct dti_err *e)
{
    char hex[65];
    hex_encode(hub_pub, 32, hex);
    sqlite3_stmt *s = NULL;
    uint64_t have_next;
    int r;
    if ((r = db_begin(st->db, e)) < 0 || (r = db_meta_set(st->db, "hub_pub", hex, e)) < 0 ||
        (r = db_meta_set(st->db, "token_secret", "", e)) < 0 ||
        (r = db_meta_get_u64(st->db, "next_seq", 1, &have_next, e)) < 0 ||
        (r = db_exec(st->db, "DELETE FROM scope", e)) < 0 ||
        (r = db_prepare(st->db, &s, "INSERT OR IGNORE INTO scope(unit, level) VALUES (?1, ?2)",
                        e)) < 0)
        goto out;
    if (next_seq > have_next) {
        r = dti_errf(e, DTI_ESTATE,
                     "the hub expects batch %" PRIu64 " but this agent has sent only %" PRIu64,
                     next_seq, have_next - 1);
        goto out;
    }
    for (size_t i = 0; i < nscope; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, scope[i], -1, SQLITE_STATIC);
        db_bind_text_or_null(s, 2, levels ? levels[i] : NULL);
        if (sqlite3_step(s) != SQLITE_DONE) {
            r = db_fail(st->db, e, "store scope");
            goto out;
        }
    }
    r = db_commit(st->db, e);
out:
    sqlite3_finalize(s);
    if (r < 0)
        db_rollback(st->db);
    return r;
}

int store_check_scope(struct store *st, const char *unit, struct dti_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = db_prepare(st->db, &s, "SELECT 1 FROM scope WHERE unit = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(s, 1, unit, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) { /* busy is not "outside the scope" */
        r = db_fail(st->db, e, "read the scope");
        sqlite3_finalize(s);
        return r;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 0;
    return dti_errf(e, DTI_ESCOPE, "unit '%s' is outside this agent's scope", unit);
}

/* ---- the clock ---- */

static int load_clock(struct store *st, struct hlc *c, struct dti_err *e)
{
    c->last = 0;
    return db_meta_get_u64(st->db, "hlc", 0, &c->last, e);
}

int store_tick(struct store *st, uint64_t now_ms, uint64_t *hlc, struct dti_err *e)
{
    struct hlc c;
    int r = load_clock(st, &c, e);
    if (r < 0)
        return r;
    *hlc = hlc_tick(&c, now_ms);
    return db_meta_set_u64(st->db, "hlc", c.last, e);
}

int store_observe_hub(struct store *st, uint64_t hub_hlc, struct dti_err *e)
{
    struct hlc c;
    int r = load_clock(st, &c, e);
    if (r < 0 || hub_hlc <= c.last)
        return r;
    hlc_observe(&c, hub_hlc);
    return db_meta_set_u64(st->db, "hlc", c.last, e);
}

/* ---- frameworks ---- */

int store_unit_level(struct store *st, const char *unit, char level[16], struct dti_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = db_prepare(st->db, &s, "SELECT coalesce(level, '') FROM scope WHERE unit = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(s, 1, unit, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW && *db_column_str(s, 0))
        snprintf(level, 16, "%s", db_column_str(s, 0));
    else
        r = dti_errf(e, DTI_ENOTFOUND, "the level of unit '%s' is not known yet (sync once)", unit);
    sqlite3_finalize(s);
    return r;
}

int store_framework(struct store *st, const char *unit, const char *period, struct framework **fw,
                    uint64_t *version, struct dti_err *e)
{
    char level[16];
    sqlite3_stmt *s = NULL;
    int r = store_unit_level(st, unit, level, e);
    if (r < 0)
        return r;
    if ((r = db_prepare(st->db, &s,
                        "SELECT version, json FROM frameworks WHERE level = ?1 AND period = ?2 "
                        "ORDER BY version DESC LIMIT 1",
                        e)) < 0)
        return r;
    sqlite3_bind_text(s, 1, level, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, period, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        struct fw_problems probs = {0};
        *version = (uint64_t)sqlite3_column_int64(s, 0);
        r = framework_parse(db_column_str(s, 1), (size_t)sqlite3_column_bytes(s, 1), "framework",
                            fw, &probs);
        if (r < 0) /* the hub validated it: a broken copy here is a broken store */
            r = dti_err_set(e, DTI_ESTATE,
                            "the stored framework version %" PRIu64 " does not parse", *version);
        fw_problems_release(&probs);
    } else {
        r = dti_errf(e, DTI_ENOTFOUND, "no framework for %s units in period %s yet", level, period);
    }
    sqlite3_finalize(s);
    return r;
}

/* The frameworks store_record consults, one per unit x period seen. */
struct fw_cache {
    struct {
        char unit[UNIT_CODE_MAX + 1];
        char period[PERIOD_MAX + 1];
        struct framework *fw; /* NULL: none in force */
    } e[8];
    size_t n;
};

static void fw_cache_release(struct fw_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        framework_free(c->e[i].fw);
    c->n = 0;
}

static const struct framework *fw_cache_get(struct store *st, struct fw_cache *c, const char *unit,
                                            const char *period)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].unit, unit) && !strcmp(c->e[i].period, period))
            return c->e[i].fw;
    if (c->n == ARRAY_SIZE(c->e))
        fw_cache_release(c);
    size_t i = c->n++;
    snprintf(c->e[i].unit, sizeof(c->e[i].unit), "%s", unit);
    snprintf(c->e[i].period, sizeof(c->e[i].period), "%s", period);
    uint64_t version;
    if (store_framework(st, unit, period, &c->e[i].fw, &version, NULL) < 0)
        c->e[i].fw = NULL; /* none yet: element codes are free text until one arrives */
    return c->e[i].fw;
}

/* ---- recording edits ---- */

static int check_edit(struct store *st, struct fw_cache *fc, const struct edit *ed,
                      struct dti_err *e)
{
    int r = key_check(ed->unit, ed->element, ed->period, e);
    if (r < 0)
        return r;
    if ((r = value_check(&ed->value, e)) < 0)
        return r;
    if ((r = store_check_scope(st, ed->unit, e)) < 0)
        return r;
    /* with a framework in force, its elements and bounds are the rule */
    const struct framework *fw = fw_cache_get(st, fc, ed->unit, ed->period);
    if (fw && (r = framework_check_value(fw, ed->element, &ed->value, e)) < 0)
        return r;
    if (ed->author &&
        (strlen(ed->author) > AUTHOR_MAX || !utf8_valid_text(ed->author, strlen(ed->author))))
        return dti_errf(e, DTI_EINVAL, "author must be UTF-8 text of at most %d bytes", AUTHOR_MAX);
    if (ed->comment &&
        (strlen(ed->comment) > COMMENT_MAX || !utf8_valid_text(ed->comment, strlen(ed->comment))))
        return dti_errf(e, DTI_EINVAL, "comment must be UTF-8 text of at most %d bytes",
                        COMMENT_MAX);
    return 0;
}

int store_record(struct store *st, const struct edit *edits, size_t n, uint64_t now_ms,
                 size_t *bad_index, struct dti_err *e)
{
    sqlite3_stmt *get = NULL, *put = NULL, *out = NULL;
    struct store_identity id;
    struct hlc clock;
    struct fw_cache fc = {0};
    int r;
    *bad_index = 0;
    if ((r = store_identity(st, &id, e)) < 0)
        return r;
    if ((r = db_begin(st->db, e)) < 0)
        return r;
    if ((r = load_clock(st, &clock, e)) < 0 ||
        (r = db_prepare(st->db, &get,
                        /* a pending edit goes up before this one: chain on it; otherwise
                         * build on what the hub is known to hold (nothing: a new key) */
                        "SELECT iif(state = 'pending', hlc, known_hlc), "
                        "iif(state = 'pending', origin, known_origin) FROM vals "
                        "WHERE unit = ?1 AND element = ?2 AND period = ?3",
                        e)) < 0 ||
        (r = db_prepare(st->db, &put,
                        "INSERT INTO vals(unit, element, period, kind, num, txt, hlc, origin, "
                        "author, comment, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                        "?10, 'pending') ON CONFLICT DO UPDATE SET kind = excluded.kind, "
                        "num = excluded.num, txt = excluded.txt, hlc = excluded.hlc, "
                        "origin = excluded.origin, author = excluded.author, "
                        "comment = excluded.comment, state = 'pending', note = NULL",
                        e)) < 0 ||
        (r = db_prepare(st->db, &out,
                        "INSERT INTO outbox(unit, element, period, kind, num, txt, hlc, "
                        "base_hlc, base_origin, author, comment) VALUES (?1, ?2, ?3, ?4, ?5, "
                        "?6, ?7, ?8, ?9, ?10, ?11)",
                        e)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct edit *ed = &edits[i];
        if ((r = check_edit(st, &fc, ed, e)) < 0) {
            *bad_index = i;
            goto out;
        }
        uint64_t hlc = hlc_tick(&clock, now_ms), base_hlc = 0;
        char base_origin[AGENT_ID_LEN + 1] = "";
        sqlite3_reset(get);
        sqlite3_bind_text(get, 1, ed->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 2, ed->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 3, ed->period, -1, SQLITE_STATIC);
        if (sqlite3_step(get) == SQLITE_ROW && sqlite3_column_type(get, 0) != SQLITE_NULL) {
            base_hlc = (uint64_t)sqlite3_column_int64(get, 0);
            snprintf(base_origin, sizeof(base_origin), "%s", db_column_str(get, 1));
        }
        sqlite3_reset(get);

        sqlite3_reset(put);
        sqlite3_bind_text(put, 1, ed->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(put, 2, ed->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(put, 3, ed->period, -1, SQLITE_STATIC);
        db_bind_value(put, 4, &ed->value);
        sqlite3_bind_int64(put, 7, (sqlite3_int64)hlc);
        sqlite3_bind_text(put, 8, id.agent_id, -1, SQLITE_STATIC);
        db_bind_text_or_null(put, 9, ed->author);
        db_bind_text_or_null(put, 10, ed->comment);
        if (sqlite3_step(put) != SQLITE_DONE) {
            r = db_fail(st->db, e, "store value");
            goto out;
        }
        sqlite3_reset(out);
        sqlite3_bind_text(out, 1, ed->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(out, 2, ed->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(out, 3, ed->period, -1, SQLITE_STATIC);
        db_bind_value(out, 4, &ed->value);
        sqlite3_bind_int64(out, 7, (sqlite3_int64)hlc);
        sqlite3_bind_int64(out, 8, (sqlite3_int64)base_hlc);
        db_bind_text_or_null(out, 9, base_origin);
        db_bind_text_or_null(out, 10, ed->author);
        db_bind_text_or_null(out, 11, ed->comment);
        if (sqlite3_step(out) != SQLITE_DONE) {
            r = db_fail(st->db, e, "store outbox record");
            goto out;
        }
    }
    if ((r = db_meta_set_u64(st->db, "hlc", clock.last, e)) < 0)
        goto out;
    r = db_commit(st->db, e);
out:
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    sqlite3_finalize(out);
    fw_cache_release(&fc);
    if (r < 0)
        db_rollback(st->db);
    return r;
}

/* ---- sealing ---- */

/* Seal one batch from the oldest unsealed records; *count = 0 when none. */
static int seal_one(struct store *st, const struct signer *key, const struct store_identity *id,
                    size_t max_records, uint64_t now_ms, size_t *count, struct dti_err *e)
{
    sqlite3_stmt *sel = NULL, *mark = NULL, *ins = NULL;
    struct batch_builder *b = NULL;
    struct buf env;
    buf_init(&env, ENVELOPE_MAX);
    int64_t *ids = NULL;
    size_t n = 0;
    struct hlc clock;
    uint64_t seq;
    char *last_hash = NULL;
    int r;
    *count = 0;
    if ((r = db_begin(st->db, e)) < 0)
        return r;
    if ((r = load_clock(st, &clock, e)) < 0 ||
        (r = db_meta_get_u64(st->db, "next_seq", 1, &seq, e)) < 0 ||
        (r = db_prepare(st->db, &sel,
                        "SELECT id, unit, element, period, kind, num, txt, hlc, base_hlc, "
                        "coalesce(base_origin, ''), coalesce(author, ''), "
                        "coalesce(comment, '') FROM outbox WHERE batch IS NULL "
                        "ORDER BY id LIMIT ?1",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(sel, 1, (sqlite3_int64)max_records);
    batch_builder_new(&b);
    ids = xmalloc(max_records * sizeof(*ids));
    int rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        struct record rec = {0};
        rec.unit = db_column_str(sel, 1);
        rec.element = db_column_str(sel, 2);
        rec.period = db_column_str(sel, 3);
        db_column_value(sel, 4, &rec.value);
        rec.hlc = (uint64_t)sqlite3_column_int64(sel, 7);
        rec.base_hlc = (uint64_t)sqlite3_column_int64(sel, 8);
        rec.base_origin = db_column_str(sel, 9);
        rec.author = db_column_str(sel, 10);
        rec.comment = db_column_str(sel, 11);
        if (n > 0 && ((batch_builder_manifest_size(b) >= BATCH_MAX_MANIFEST &&
                       batch_builder_is_new_pair(b, &rec)) ||
                      batch_builder_payload_estimate(b) > SEAL_MAX_PAYLOAD))
            break;
        batch_builder_add(b, &rec);
        ids[n++] = sqlite3_column_int64(sel, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = db_fail(st->db, e, "read outbox");
        goto out;
    }
    sqlite3_finalize(sel);
    sel = NULL;
    if (n == 0)
        goto out; /* nothing to seal: r == 0, count 0 */

    struct batch_header h = {0};
    snprintf(h.agent_id, sizeof(h.agent_id), "%s", id->agent_id);
    h.seq = seq;
    if (seq > 1) {
        if ((r = db_meta_get(st->db, "last_hash", &last_hash, e)) < 0 || strlen(last_hash) != 64 ||
            hex_decode(last_hash, h.prev_hash, 32) < 0) {
            r = dti_err_set(e, DTI_ESTATE, "the hash of batch %" PRIu64 " is missing", seq - 1);
            goto out;
        }
        h.has_prev = true;
    }
    h.hlc = hlc_tick(&clock, now_ms);
    uint8_t hash[32];
    if ((r = batch_builder_seal(b, &h, key, &env, hash, e)) < 0)
        goto out;
    if ((r = db_prepare(st->db, &ins,
                        "INSERT INTO batches(seq, hash, envelope, records, created_ms) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)",
                        e)) < 0 ||
        (r = db_prepare(st->db, &mark, "UPDATE outbox SET batch = ?1, idx = ?2 WHERE id = ?3", e)) <
            0)
        goto out;
    sqlite3_bind_int64(ins, 1, (sqlite3_int64)seq);
    sqlite3_bind_blob(ins, 2, hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 3, env.data, (int)env.len, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, (sqlite3_int64)n);
    sqlite3_bind_int64(ins, 5, (sqlite3_int64)now_ms);
    if (sqlite3_step(ins) != SQLITE_DONE) {
        r = db_fail(st->db, e, "store batch");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(mark);
        sqlite3_bind_int64(mark, 1, (sqlite3_int64)seq);
        sqlite3_bind_int64(mark, 2, (sqlite3_int64)i);
        sqlite3_bind_int64(mark, 3, ids[i]);
        if (sqlite3_step(mark) != SQLITE_DONE) {
            r = db_fail(st->db, e, "mark outbox record");
            goto out;
        }
    }
    char hex[65];
    hex_encode(hash, 32, hex);
    if ((r = db_meta_set_u64(st->db, "next_seq", seq + 1, e)) < 0 ||
        (r = db_meta_set(st->db, "last_hash", hex, e)) < 0 ||
        (r = db_meta_set_u64(st->db, "hlc", clock.last, e)) < 0)
        goto out;
    if ((r = db_commit(st->db, e)) < 0)
        goto out;
    *count = n;
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(mark);
    if (!sqlite3_get_autocommit(st->db))
        db_rollback(st->db); /* error, or nothing to seal */
    batch_builder_free(b);
    buf_release(&env);
    free(ids);
    free(last_hash);
    return r;
}

int store_seal(struct store *st, const struct signer *key, size_t max_records, uint64_t now_ms,
               size_t *sealed, struct dti_err *e)
{
    struct store_identity id;
    int r = store_identity(st, &id, e);
    *sealed = 0;
    if (r < 0)
        return r;
    if (max_records == 0 || max_records > BATCH_MAX_RECORDS)
        max_records = BATCH_MAX_RECORDS;
    for (;;) {
        size_t n;
        if ((r = seal_one(st, key, &id, max_records, now_ms, &n, e)) < 0)
            return r;
        if (n == 0)
            return 0;
        (*sealed)++;
    }
}

static int unacked(struct store *st, const char *sql, uint64_t seq, uint64_t *out_seq,
                   uint8_t hash[32], struct buf *env, struct dti_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = db_prepare(st->db, &s, sql, e);
    if (r < 0)
        return r;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out_seq = (uint64_t)sqlite3_column_int64(s, 0);
        memcpy(hash, sqlite3_column_blob(s, 1), 32);
        buf_reset(env);
        r = buf_append(env, sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2));
    } else if (rc == SQLITE_DONE) {
        r = DTI_ENOTFOUND;
    } else {
        r = db_fail(st->db, e, "read batches");
    }
    sqlite3_finalize(s);
    return r;
}

int store_oldest_unacked(struct store *st, uint64_t *seq, uint8_t hash[32], struct buf *env,
                         struct dti_err *e)
{
    return unacked(st,
                   "SELECT seq, hash, envelope FROM batches WHERE receipt IS NULL AND seq >= ?1 "
                   "ORDER BY seq LIMIT 1",
                   0, seq, hash, env, e);
}

int store_unacked(struct store *st, uint64_t seq, uint8_t hash[32], struct buf *env,
                  struct dti_err *e)
{
    uint64_t got;
    return unacked(st, "SELECT seq, hash, envelope FROM batches WHERE receipt IS NULL AND seq = ?1",
                   seq, &got, hash, env, e);
}

static const char decision_sql[] =
    "INSERT INTO decisions(unit, element, period, hlc, kind, comment, by_whom, at_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/* What an officer reads next to an outcome the hub gave without words. */
static const char *outcome_text(int outcome)
{
    switch (outcome) {
    case OUTCOME_CONFLICT:
        return "another office changed this figure at the same time; the operator will decide";
    case OUTCOME_CONFLICT_CURRENT:
        return "another office changed this figure at the same time; this figure is used until "
               "the operator decides";
    case OUTCOME_SUPERSEDED:
        return "a higher authority's figure stands";
    case OUTCOME_AMENDMENT:
        return "the period is locked; kept as an amendment for the operator to accept or reject";
    }
    return NULL;
}

static const char *state_for(int outcome)
{
    switch (outcome) {
    case OUTCOME_ACCEPTED:
    case OUTCOME_DUPLICATE:
        return "synced";
    case OUTCOME_CONFLICT:
    case OUTCOME_CONFLICT_CURRENT:
        return "conflict";
    case OUTCOME_SUPERSEDED:
        return "superseded";
    case OUTCOME_AMENDMENT:
        return "amendment";
    }
    return "rejected";
}

int store_ack(struct store *st, const struct receipt *rc, const void *bytes, size_t len,
              struct dti_err *e)
{
    sqlite3_stmt *b = NULL, *rows = NULL, *upd = NULL, *s = NULL, *dec = NULL, *known = NULL;
    struct store_identity id;
    int r;
    if ((r = store_identity(st, &id, e)) < 0)
        return r;
    if ((r = db_begin(st->db, e)) < 0)
        return r;
    if ((r = db_prepare(st->db, &b,
                        "SELECT hash, records, receipt IS NOT NULL FROM batches "
                        "WHERE seq = ?1",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(b, 1, (sqlite3_int64)rc->seq);
    if (sqlite3_step(b) != SQLITE_ROW) {
        r = dti_errf(e, DTI_EPROTO, "receipt for batch %" PRIu64 " which this agent never sealed",
                     rc->seq);
        goto out;
    }
    if (sqlite3_column_int(b, 2)) /* already acknowledged: nothing to do */
        goto commit;
    if (memcmp(sqlite3_column_blob(b, 0), rc->batch_hash, 32) != 0 ||
        (uint64_t)sqlite3_column_int64(b, 1) != rc->n) {
        r = dti_errf(e, DTI_EPROTO, "receipt for batch %" PRIu64 " does not match it", rc->seq);
        goto out;
    }
    if ((r = db_prepare(st->db, &rows,
                        "SELECT idx, unit, element, period, hlc FROM outbox WHERE batch = ?1 "
                        "ORDER BY idx",
                        e)) < 0 ||
        (r = db_prepare(st->db, &upd,
                        /* once the hub has taken the edit, what it held before is moot */
                        "UPDATE vals SET state = ?6, note = ?7, "
                        "hub_kind = iif(?6 = 'synced', NULL, hub_kind), "
                        "hub_num = iif(?6 = 'synced', NULL, hub_num), "
                        "hub_txt = iif(?6 = 'synced', NULL, hub_txt), "
                        "hub_hlc = iif(?6 = 'synced', NULL, hub_hlc), "
                        "hub_origin = iif(?6 = 'synced', NULL, hub_origin) "
                        "WHERE unit = ?1 AND element = ?2 AND period = ?3 AND hlc = ?4 AND "
                        "origin = ?5",
                        e)) < 0 ||
        (r = db_prepare(st->db, &dec, decision_sql, e)) < 0 ||
        (r = db_prepare(st->db, &known,
                        "UPDATE vals SET known_hlc = ?4, known_origin = ?5 WHERE unit = ?1 AND "
                        "element = ?2 AND period = ?3",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(rows, 1, (sqlite3_int64)rc->seq);
    while (sqlite3_step(rows) == SQLITE_ROW) {
        uint64_t idx = (uint64_t)sqlite3_column_int64(rows, 0);
        if (idx >= rc->n)
            continue;
        int oc = rc->outcomes[idx];
        const char *note = NULL;
        for (size_t k = 0; k < rc->nrejects; k++)
            if (rc->rejects[k].index == idx)
                note = rc->rejects[k].message;
        sqlite3_reset(upd);
        for (int c = 0; c < 4; c++)
            sqlite3_bind_value(upd, c + 1, sqlite3_column_value(rows, c + 1));
        sqlite3_bind_text(upd, 5, id.agent_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 6, state_for(oc), -1, SQLITE_STATIC);
        db_bind_text_or_null(upd, 7, note);
        if (sqlite3_step(upd) != SQLITE_DONE) {
            r = db_fail(st->db, e, "update value state");
            goto out;
        }
        if (oc == OUTCOME_ACCEPTED || oc == OUTCOME_DUPLICATE || oc == OUTCOME_CONFLICT_CURRENT) {
            /* the hub now holds this version: later edits build on it */
            sqlite3_reset(known);
            for (int c = 0; c < 4; c++)
                sqlite3_bind_value(known, c + 1, sqlite3_column_value(rows, c + 1));
            sqlite3_bind_text(known, 5, id.agent_id, -1, SQLITE_STATIC);
            if (sqlite3_step(known) != SQLITE_DONE) {
                r = db_fail(st->db, e, "note the hub's version");
                goto out;
            }
        }
        if (oc != OUTCOME_ACCEPTED && oc != OUTCOME_DUPLICATE) {
            sqlite3_reset(dec);
            for (int c = 0; c < 4; c++)
                sqlite3_bind_value(dec, c + 1, sqlite3_column_value(rows, c + 1));
            /* for the officer both are "conflict"; the note says whose figure is in use */
            sqlite3_bind_text(dec, 5,
                              oc == OUTCOME_CONFLICT_CURRENT ? "conflict" : outcome_name(oc), -1,
                              SQLITE_STATIC);
            db_bind_text_or_null(dec, 6, note ? note : outcome_text(oc));
            sqlite3_bind_null(dec, 7);
            sqlite3_bind_int64(dec, 8, (sqlite3_int64)wall_ms());
            if (sqlite3_step(dec) != SQLITE_DONE) {
                r = db_fail(st->db, e, "log outcome");
                goto out;
            }
        }
    }
    if ((r = db_prepare(st->db, &s, "DELETE FROM outbox WHERE batch = ?1", e)) < 0)
        goto out;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)rc->seq);
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = db_fail(st->db, e, "retire outbox records");
        goto out;
    }
    sqlite3_finalize(s);
    if ((r = db_prepare(st->db, &s, "UPDATE batches SET receipt = ?2, acked_ms = ?3 WHERE seq = ?1",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)rc->seq);
    sqlite3_bind_blob(s, 2, bytes, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)wall_ms());
    if (sqlite3_step(s) != SQLITE_DONE) {
        r = db_fail(st->db, e, "store receipt");
        goto out;
    }
commit:
    if ((r = store_observe_hub(st, rc->hub_hlc, e)) < 0)
        goto out;
    r = db_commit(st->db, e);
out:
    sqlite3_finalize(b);
    sqlite3_finalize(rows);
    sqlite3_finalize(upd);
    sqlite3_finalize(s);
    sqlite3_finalize(dec);
    sqlite3_finalize(known);
    if (r < 0)
        db_rollback(st->db);
    return r;
}

/* ---- pulling ---- */

int store_cursor(struct store *st, uint64_t *cursor, struct dti_err *e)
{
    return db_meta_get_u64(st->db, "cursor", 0, cursor, e);
}

int store_apply_changes(struct store *st, const struct changes_page *p, size_t *applied,
                        size_t *flagged, struct dti_err *e)
{
    sqlite3_stmt *get = NULL, *put = NULL, *flag = NULL, *dec = NULL, *mark = NULL, *fwput = NULL;
    int r;
    *applied = *flagged = 0;
    if ((r = db_begin(st->db, e)) < 0)
        return r;
    if ((r = db_prepare(st->db, &get,
                        "SELECT state FROM vals WHERE unit = ?1 AND element = ?2 AND period = ?3",
                        e)) < 0 ||
        (r = db_prepare(st->db, &put,
                        "INSERT INTO vals(unit, element, period, kind, num, txt, hlc, origin, "
                        "author, comment, state, known_hlc, known_origin) VALUES (?1, ?2, ?3, "
                        "?4, ?5, ?6, ?7, ?8, ?9, ?10, 'synced', ?7, ?8) "
                        "ON CONFLICT DO UPDATE SET kind = excluded.kind, "
                        "num = excluded.num, txt = excluded.txt, hlc = excluded.hlc, "
                        "origin = excluded.origin, author = excluded.author, "
                        "comment = excluded.comment, state = 'synced', note = NULL, "
                        "hub_kind = NULL, hub_num = NULL, hub_txt = NULL, hub_hlc = NULL, "
                        "hub_origin = NULL, known_hlc = excluded.known_hlc, "
                        "known_origin = excluded.known_origin",
                        e)) < 0 ||
        (r = db_prepare(st->db, &flag,
                        "UPDATE vals SET hub_kind = ?4, hub_num = ?5, hub_txt = ?6, "
                        "hub_hlc = ?7, hub_origin = ?8, known_hlc = ?7, known_origin = ?8, "
                        "note = 'the hub holds another value' "
                        "WHERE unit = ?1 AND element = ?2 AND period = ?3",
                        e)) < 0)
        goto out;
    for (size_t i = 0; i < p->n; i++) {
        const struct change *c = &p->items[i];
        if ((r = store_check_scope(st, c->unit, e)) < 0) {
            r = dti_err_set(e, DTI_EPROTO, "the hub sent a value for unit %s, outside scope",
                            c->unit);
            goto out;
        }
        sqlite3_reset(get);
        sqlite3_bind_text(get, 1, c->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 2, c->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 3, c->period, -1, SQLITE_STATIC);
        bool pending =
            sqlite3_step(get) == SQLITE_ROW && strcmp(db_column_str(get, 0), "pending") == 0;
        sqlite3_reset(get);
        sqlite3_stmt *s = pending ? flag : put;
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, c->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, c->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, c->period, -1, SQLITE_STATIC);
        db_bind_value(s, 4, &c->value);
        sqlite3_bind_int64(s, 7, (sqlite3_int64)c->hlc);
        sqlite3_bind_text(s, 8, c->origin, -1, SQLITE_STATIC);
        if (!pending) {
            db_bind_text_or_null(s, 9, c->author);
            db_bind_text_or_null(s, 10, c->comment);
        }
        if (sqlite3_step(s) != SQLITE_DONE) {
            r = db_fail(st->db, e, "apply change");
            goto out;
        }
        if (pending)
            (*flagged)++;
        else
            (*applied)++;
    }
    if ((r = db_prepare(st->db, &dec, decision_sql, e)) < 0 ||
        (r = db_prepare(st->db, &mark,
                        "UPDATE vals SET state = ?6, note = ?7 WHERE unit = ?1 AND "
                        "element = ?2 AND period = ?3 AND hlc = ?4 AND origin = ?5 AND "
                        "state <> 'pending'",
                        e)) < 0)
        goto out;
    for (size_t i = 0; i < p->nnotices; i++) {
        const struct notice *no = &p->notices[i];
        sqlite3_reset(dec);
        sqlite3_bind_text(dec, 1, no->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(dec, 2, no->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(dec, 3, no->period, -1, SQLITE_STATIC);
        sqlite3_bind_int64(dec, 4, (sqlite3_int64)no->hlc);
        sqlite3_bind_text(dec, 5, no->kind, -1, SQLITE_STATIC);
        db_bind_text_or_null(dec, 6, no->comment);
        db_bind_text_or_null(dec, 7, no->by);
        sqlite3_bind_int64(dec, 8, (sqlite3_int64)wall_ms());
        if (sqlite3_step(dec) != SQLITE_DONE) {
            r = db_fail(st->db, e, "log decision");
            goto out;
        }
        /* a rejected amendment stays here as the office's figure, marked rejected */
        if (!strcmp(no->kind, "rejected")) {
            sqlite3_reset(mark);
            sqlite3_bind_text(mark, 1, no->unit, -1, SQLITE_STATIC);
            sqlite3_bind_text(mark, 2, no->element, -1, SQLITE_STATIC);
            sqlite3_bind_text(mark, 3, no->period, -1, SQLITE_STATIC);
            sqlite3_bind_int64(mark, 4, (sqlite3_int64)no->hlc);
            sqlite3_bind_text(mark, 5, p->agent_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(mark, 6, "rejected", -1, SQLITE_STATIC);
            db_bind_text_or_null(mark, 7, no->comment);
            if (sqlite3_step(mark) != SQLITE_DONE) {
                r = db_fail(st->db, e, "mark rejected value");
                goto out;
            }
        }
    }
    if (p->nframeworks &&
        (r = db_prepare(st->db, &fwput,
                        "INSERT OR IGNORE INTO frameworks(version, level, period, json, "
                        "received_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                        e)) < 0)
        goto out;
    for (size_t i = 0; i < p->nframeworks; i++) {
        const struct framework_doc *d = &p->frameworks[i];
        sqlite3_reset(fwput);
        sqlite3_bind_int64(fwput, 1, (sqlite3_int64)d->version);
        sqlite3_bind_text(fwput, 2, d->level, -1, SQLITE_STATIC);
        sqlite3_bind_text(fwput, 3, d->period, -1, SQLITE_STATIC);
        sqlite3_bind_text(fwput, 4, d->json, (int)d->json_len, SQLITE_STATIC);
        sqlite3_bind_int64(fwput, 5, (sqlite3_int64)wall_ms());
        if (sqlite3_step(fwput) != SQLITE_DONE) {
            r = db_fail(st->db, e, "store framework");
            goto out;
        }
    }
    if ((r = db_meta_set_u64(st->db, "cursor", p->next, e)) < 0 ||
        (r = store_observe_hub(st, p->hub_hlc, e)) < 0)
        goto out;
    r = db_commit(st->db, e);
out:
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    sqlite3_finalize(flag);
    sqlite3_finalize(dec);
    sqlite3_finalize(mark);
    sqlite3_finalize(fwput);
    if (r < 0)
        db_rollback(st->db);
    return r;
}

/* ---- status ---- */

int store_note_sync(struct store *st, uint64_t now_ms, bool ok, const char *error,
                    struct dti_err *e)
{
    int r = db_meta_set_u64(st->db, "last_attempt_ms", now_ms, e);
    if (r == 0 && ok)
        r = db_meta_set_u64(st->db, "last_sync_ms", now_ms, e);
    if (r == 0)
        r = db_meta_set(st->db, "last_error", error ? error : "", e);
    return r;
}

static uint64_t count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    uint64_t n = 0;
    if (db_prepare(db, &s, sql, NULL) == 0 && sqlite3_step(s) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

int store_status(struct store *st, struct store_status *s, struct dti_err *e)
{
    memset(s, 0, sizeof(*s));
    int r = db_exec(st->db, "BEGIN", e); /* one snapshot */
    if (r < 0)
        return r;
    s->pending_records = count(st->db, "SELECT count(*) FROM outbox");
    s->unsealed_records = count(st->db, "SELECT count(*) FROM outbox WHERE batch IS NULL");
    s->pending_batches = count(st->db, "SELECT count(*) FROM batches WHERE receipt IS NULL");
    s->acked_batches = count(st->db, "SELECT count(*) FROM batches WHERE receipt IS NOT NULL");
    s->values = count(st->db, "SELECT count(*) FROM vals");
    s->conflicts = count(st->db, "SELECT count(*) FROM vals WHERE state = 'conflict' OR "
                                 "hub_hlc IS NOT NULL");
    s->rejected = count(st->db, "SELECT count(*) FROM vals WHERE state = 'rejected'");
    db_meta_get_u64(st->db, "next_seq", 1, &s->next_seq, NULL);
    db_meta_get_u64(st->db, "last_sync_ms", 0, &s->last_sync_ms, NULL);
    db_meta_get_u64(st->db, "last_attempt_ms", 0, &s->last_attempt_ms, NULL);
    meta_str(st->db, "last_error", s->last_error, sizeof(s->last_error));
    db_exec(st->db, "COMMIT", NULL);
    return 0;
}
