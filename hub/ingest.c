/*
 * ingest.c - verify and apply batches (see ingest.h).
 *
 * The hot path is SQLite: one transaction per batch, statements prepared
 * once, and for the common case - a key the hub has never held - a single
 * INSERT that does nothing if the key exists. Only when it exists do we read
 * the current version and consult the merge rules.
 */
#include "ingest.h"
#include "db.h"
#include "envelope.h"
#include "framework.h"
#include "hlc.h"
#include "hubdb.h"
#include "merge.h"
#include "reconcile.h"
#include "receipt.h"
#include "util.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum stmt_id {
    ST_BATCH_GET,
    ST_BATCH_PUT,
    ST_AGENT_UPDATE,
    ST_VAL_INSERT,
    ST_VAL_GET,
    ST_VAL_REPLACE,
    ST_HIST_HAS,
    ST_HIST_PUT,
    ST_AMEND_PUT,
    ST_HIST_FROM_VAL,
    ST_CONFLICT_PUT,
    ST_FW_IN_FORCE,
    ST_PARK_PUT,
    ST_PARK_DEL,
    ST_PARK_NEXT,
    ST_NOTICE_PUT,
    ST_META_GET,
    ST_META_PUT,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BATCH_GET] = "SELECT hash, receipt FROM batches WHERE agent = ?1 AND seq = ?2",
    [ST_BATCH_PUT] = "INSERT INTO batches(agent, seq, hash, envelope, receipt, records, "
                     "received_ms, via) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_AGENT_UPDATE] = "UPDATE agents SET last_seq = ?2, last_hash = ?3, last_seen_ms = ?4, "
                        "clock_skew_ms = ?5, last_via = ?6 WHERE id = ?1",
    [ST_VAL_INSERT] = "INSERT INTO vals(unit, element, period, kind, num, txt, hlc, origin, auth, "
                      "base_hlc, base_origin, author, comment, seq, chg) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
                      "ON CONFLICT DO NOTHING",
    [ST_VAL_GET] = "SELECT hlc, origin, auth FROM vals WHERE unit = ?1 AND element = ?2 AND "
                   "period = ?3",
    [ST_VAL_REPLACE] = "UPDATE vals SET kind = ?4, num = ?5, txt = ?6, hlc = ?7, origin = ?8, "
                       "auth = ?9, base_hlc = ?10, base_origin = ?11, author = ?12, "
                       "comment = ?13, seq = ?14, chg = ?15 "
                       "WHERE unit = ?1 AND element = ?2 AND period = ?3",
    [ST_HIST_HAS] = "SELECT 1 FROM history WHERE unit = ?1 AND element = ?2 AND period = ?3 "
                    "AND hlc = ?4 AND origin = ?5 UNION ALL SELECT 1 FROM amendments "
                    "WHERE unit = ?1 AND element = ?2 AND period = ?3 AND hlc = ?4 AND "
                    "origin = ?5 LIMIT 1",
    [ST_AMEND_PUT] = "INSERT INTO amendments(unit, element, period, kind, num, txt, hlc, origin, "
                     "auth, base_hlc, base_origin, author, comment, seq, status, created_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                     "'pending', ?15)",
    [ST_HIST_PUT] = "INSERT INTO history(unit, element, period, kind, num, txt, hlc, origin, "
                    "auth, base_hlc, base_origin, author, comment, seq, fate, recorded_ms) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                    "?16)",
    [ST_HIST_FROM_VAL] = "INSERT INTO history(unit, element, period, kind, num, txt, hlc, "
                         "origin, auth, base_hlc, base_origin, author, comment, seq, fate, "
                         "recorded_ms) SELECT unit, element, period, kind, num, txt, hlc, "
                         "origin, auth, base_hlc, base_origin, author, comment, seq, ?4, ?5 "
                         "FROM vals WHERE unit = ?1 AND element = ?2 AND period = ?3",
    [ST_CONFLICT_PUT] = "INSERT INTO conflicts(unit, element, period, base_hlc, base_origin, "
                        "current_hlc, current_origin, incoming_hlc, incoming_origin, "
                        "winner_hlc, winner_origin, status, resolution, created_ms, "
                        "resolved_ms, resolved_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                        "?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [ST_FW_IN_FORCE] = "SELECT f.version, u.level, f.json FROM units u JOIN frameworks f ON "
                       "f.level = u.level AND f.period = ?2 WHERE u.code = ?1 "
                       "ORDER BY f.version DESC LIMIT 1",
    [ST_PARK_PUT] = "INSERT OR IGNORE INTO parked(agent, seq, hash, envelope, received_ms) "
                    "SELECT ?1, ?2, ?3, ?4, ?5 WHERE (SELECT count(*) FROM parked "
                    "WHERE agent = ?1) < 10000",
    [ST_PARK_DEL] = "DELETE FROM parked WHERE agent = ?1 AND seq = ?2",
    [ST_PARK_NEXT] = "SELECT envelope FROM parked WHERE agent = ?1 AND seq = ?2",
    [ST_NOTICE_PUT] = "INSERT INTO notices(agent, unit, element, period, hlc, kind, comment, "
                      "by_whom, chg, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_PUT] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
};

/* Parsed frameworks by (level, period, version): parsing costs more than a batch. */
#define FW_CACHE 8
struct fw_slot {
    char level[16];
    char period[PERIOD_MAX + 1];
    uint64_t version;
    struct framework *fw;
};

struct ingest {
    sqlite3 *db;
    const struct signer *hub;
    sqlite3_stmt *st[ST__COUNT];
    struct hlc clock;
    struct ingest_stats stats;
    struct fw_slot fws[FW_CACHE];
    size_t fw_next; /* round-robin replacement */
};

int ingest_open(struct ingest **out, sqlite3 *db, const struct signer *hub, struct dti_err *e)
{
    struct ingest *ing = xcalloc(1, sizeof(*ing));
    ing->db = db;
    ing->hub = hub;
    for (int i = 0; i < ST__COUNT; i++) {
        int r = db_prepare(db, &ing->st[i], stmt_sql[i], e);
        if (r < 0) {
            ingest_free(ing);
            return r;
        }
    }
    *out = ing;
    return 0;
}

void ingest_free(struct ingest *ing)
{
    if (!ing)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(ing->st[i]);
    for (size_t i = 0; i < FW_CACHE; i++)
        framework_free(ing->fws[i].fw);
    free(ing);
}

const struct ingest_stats *ingest_stats(const struct ingest *ing)
{
    return &ing->stats;
}

static sqlite3_stmt *stmt(struct ingest *ing, enum stmt_id id)
{
    sqlite3_stmt *s = ing->st[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static uint64_t meta_u64(struct ingest *ing, const char *key)
{
    sqlite3_stmt *s = stmt(ing, ST_META_GET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    uint64_t v = 0;
    if (sqlite3_step(s) == SQLITE_ROW)
        parse_u64(db_column_str(s, 0), UINT64_MAX, &v);
    sqlite3_reset(s);
    return v;
}

static int meta_put_u64(struct ingest *ing, const char *key, uint64_t v)
{
    char txt[32];
    snprintf(txt, sizeof(txt), "%" PRIu64, v);
    sqlite3_stmt *s = stmt(ing, ST_META_PUT);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, txt, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : DTI_EDB;
}

uint64_t ingest_hlc_now(struct ingest *ing, uint64_t now_ms)
{
    hlc_observe(&ing->clock, meta_u64(ing, "hlc"));
    return hlc_tick(&ing->clock, now_ms);
}

/* The framework in force for a unit's level and a period, or NULL when none
 * (then element codes are free text). Borrowed from the cache. */
static int framework_for(struct ingest *ing, const char *unit, const char *period,
                         const struct framework **out, struct dti_err *e)
{
    sqlite3_stmt *s = stmt(ing, ST_FW_IN_FORCE);
    sqlite3_bind_text(s, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, period, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), r = 0;
    *out = NULL;
    if (rc == SQLITE_ROW) {
        uint64_t version = (uint64_t)sqlite3_column_int64(s, 0);
        const char *level = db_column_str(s, 1);
        for (size_t i = 0; i < FW_CACHE && !*out; i++)
            if (ing->fws[i].fw && ing->fws[i].version == version &&
                !strcmp(ing->fws[i].level, level) && !strcmp(ing->fws[i].period, period))
                *out = ing->fws[i].fw;
        if (!*out) {
            struct fw_slot *slot = &ing->fws[ing->fw_next++ % FW_CACHE];
            struct fw_problems probs = {0};
            framework_free(slot->fw);
            memset(slot, 0, sizeof(*slot));
            if (framework_parse(db_column_str(s, 2), (size_t)sqlite3_column_bytes(s, 2),
                                "framework", &slot->fw, &probs) < 0) {
                r = dti_errf(e, DTI_EDB, "stored framework version %" PRIu64 " does not parse",
                             version);
            } else {
                snprintf(slot->level, sizeof(slot->level), "%s", level);
                snprintf(slot->period, sizeof(slot->period), "%s", period);
                slot->version = version;
                *out = slot->fw;
            }
            fw_problems_release(&probs);
        }
    } else if (rc != SQLITE_DONE) {
        r = db_fail(ing->db, e, "read frameworks");
    }
    sqlite3_reset(s);
    return r;
}

static int refuse(struct problem *pb, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct problem *pb, int code, const char *fmt, ...)
{
    va_list ap;
    memset(pb, 0, sizeof(*pb));
    pb->code = code;
    snprintf(pb->reason, sizeof(pb->reason), "%s", dti_reason(code));
    va_start(ap, fmt);
    vsnprintf(pb->message, sizeof(pb->message), fmt, ap);
    va_end(ap);
    return code;
}

static int refuse_err(struct problem *pb, int code, const struct dti_err *e)
{
    return refuse(pb, code, "%s", dti_err_text(e, code));
}

/* Bind the 15 value columns shared by ST_VAL_INSERT and ST_VAL_REPLACE. */
static void bind_val(sqlite3_stmt *s, const struct record *rec, const char *origin, int auth,
                     uint64_t seq, uint64_t chg)
{
    sqlite3_bind_text(s, 1, rec->unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, rec->element, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, rec->period, -1, SQLITE_STATIC);
    db_bind_value(s, 4, &rec->value);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)rec->hlc);
    sqlite3_bind_text(s, 8, origin, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 9, auth);
    sqlite3_bind_int64(s, 10, (sqlite3_int64)rec->base_hlc);
    db_bind_text_or_null(s, 11, rec->base_origin);
    db_bind_text_or_null(s, 12, rec->author);
    db_bind_text_or_null(s, 13, rec->comment);
    sqlite3_bind_int64(s, 14, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, 15, (sqlite3_int64)chg);
}

static int step_done(struct ingest *ing, sqlite3_stmt *s, struct dti_err *e, const char *what)
{
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_DONE ? 0 : db_fail(ing->db, e, what);
    sqlite3_reset(s);
    return r;
}

struct batch_ctx {
    const char *origin;
    const char *unit; /* the sending agent's unit */
    int auth;
    uint64_t seq;
    uint64_t now_ms;
    uint64_t hub_hlc;
    uint64_t chg; /* last change number used */
    bool clamped;
    const struct manifest_entry *mf; /* the batch's unit x period pairs */
    bool *locked;                    /* ... whether each is locked */
    const struct framework **fws;    /* ... and the framework in force, or NULL */
    char (*gone)[256];               /* ... why the unit was not in effect then, or "" */
    size_t nmf;
    struct receipt_reject *rejects; /* per-record refusals for the receipt */
    size_t nrejects;
};

static size_t pair_of(const struct batch_ctx *bc, const struct record *rec)
{
    size_t i = 0;
    while (i < bc->nmf &&
           (strcmp(bc->mf[i].unit, rec->unit) || strcmp(bc->mf[i].period, rec->period)))
        i++;
    assert(i < bc->nmf); /* envelope_records checked every record against the manifest */
    return i;
}

/* Apply one record; its outcome goes to *outcome. */
static int apply_record(struct ingest *ing, struct batch_ctx *bc, size_t index,
                        const struct record *rec, uint8_t *outcome, struct dti_err *e)
{
    sqlite3_stmt *s;
    int r;
    size_t pair = pair_of(bc, rec);
    bool locked = bc->locked[pair];
    /* a unit merged away (or not yet in effect) takes no figure for the period:
     * refused per record with the date and successor (docs/internals/UNITS.md) */
    if (bc->gone[pair][0]) {
        struct receipt_reject *rj = &bc->rejects[bc->nrejects++];
        rj->index = (uint32_t)index;
        snprintf(rj->reason, sizeof(rj->reason), "%s", dti_reason(DTI_EUNIT));
        snprintf(rj->message, sizeof(rj->message), "%s", bc->gone[pair]);
        *outcome = OUTCOME_REJECTED;
        return 0;
    }
    /* a value outside its element's bounds is refused, with the bound named; the
     * record changes nothing, the rest of the batch goes on */
    struct dti_err ve = {0};
    if (bc->fws[pair] &&
        (r = framework_check_value(bc->fws[pair], rec->element, &rec->value, &ve)) < 0) {
        struct receipt_reject *rj = &bc->rejects[bc->nrejects++];
        rj->index = (uint32_t)index;
        snprintf(rj->reason, sizeof(rj->reason), "%s", dti_reason(r));
        snprintf(rj->message, sizeof(rj->message), "%s", dti_err_text(&ve, r));
        *outcome = OUTCOME_REJECTED;
        return 0;
    }
    /* fast path: a key never held before simply becomes current */
    if (locked)
        goto merge;
    s = stmt(ing, ST_VAL_INSERT);
    bind_val(s, rec, bc->origin, bc->auth, bc->seq, bc->chg + 1);
    if ((r = step_done(ing, s, e, "store value")) < 0)
        return r;
    if (sqlite3_changes(ing->db) == 1) {
        bc->chg++;
        *outcome = OUTCOME_ACCEPTED;
        return 0;
    }
merge:;
    struct merge_input in = {0};
    char cur_origin[AGENT_ID_LEN + 1] = "";
    s = stmt(ing, ST_VAL_GET);
    sqlite3_bind_text(s, 1, rec->unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, rec->element, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, rec->period, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        in.has_current = true;
        in.current.hlc = (uint64_t)sqlite3_column_int64(s, 0);
        snprintf(cur_origin, sizeof(cur_origin), "%s", db_column_str(s, 1));
        in.current.auth = sqlite3_column_int(s, 2);
    }
    sqlite3_reset(s);
    in.current.origin = cur_origin;
    in.incoming.hlc = rec->hlc;
    in.incoming.origin = bc->origin;
    in.incoming.auth = bc->auth;
    in.base_hlc = rec->base_hlc;
    in.base_origin = rec->base_origin;
    /* the bound is against the hub's wall clock: bc->hub_hlc has taken in the
     * office's clock already, which would let the bound compound */
    in.hub_hlc = hlc_make(bc->now_ms, 0);
    in.max_future_ms = INGEST_MAX_FUTURE_MS;
    in.locked = locked;

    s = stmt(ing, ST_HIST_HAS);
    sqlite3_bind_text(s, 1, rec->unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, rec->element, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, rec->period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)rec->hlc);
    sqlite3_bind_text(s, 5, bc->origin, -1, SQLITE_STATIC);
    in.known_version = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);

    struct merge_result mr;
    merge_decide(&in, &mr);
    *outcome = (uint8_t)mr.outcome;
    bc->clamped |= mr.future_clamped;
    if (mr.outcome == OUTCOME_DUPLICATE)
        return 0;

    const char *fate_old = mr.conflict == MERGE_CONFLICT_OPEN           ? "conflict"
                           : mr.conflict == MERGE_CONFLICT_BY_AUTHORITY ? "outranked"
                                                                        : "replaced";
    if (mr.becomes_current) {
        s = stmt(ing, ST_HIST_FROM_VAL);
        sqlite3_bind_text(s, 1, rec->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, rec->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, rec->period, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, fate_old, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)bc->now_ms);
        if ((r = step_done(ing, s, e, "keep previous version")) < 0)
            return r;
        s = stmt(ing, ST_VAL_REPLACE);
        bind_val(s, rec, bc->origin, bc->auth, bc->seq, ++bc->chg);
        if ((r = step_done(ing, s, e, "store value")) < 0)
            return r;
    } else if (mr.outcome == OUTCOME_AMENDMENT) {
        /* kept, pending the operator's acceptance (reconcile_accept) */
        s = stmt(ing, ST_AMEND_PUT);
        bind_val(s, rec, bc->origin, bc->auth, bc->seq, 0);
        sqlite3_bind_int64(s, 15, (sqlite3_int64)bc->now_ms);
        if ((r = step_done(ing, s, e, "keep amendment")) < 0)
            return r;
    } else {
        s = stmt(ing, ST_HIST_PUT);
        bind_val(s, rec, bc->origin, bc->auth, bc->seq, 0);
        sqlite3_bind_text(s, 15, fate_old, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 16, (sqlite3_int64)bc->now_ms);
        if ((r = step_done(ing, s, e, "keep version")) < 0)
            return r;
    }
    if (mr.conflict != MERGE_NO_CONFLICT) {
        bool open = mr.conflict == MERGE_CONFLICT_OPEN;
        s = stmt(ing, ST_CONFLICT_PUT);
        sqlite3_bind_text(s, 1, rec->unit, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, rec->element, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, rec->period, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)rec->base_hlc);
        db_bind_text_or_null(s, 5, rec->base_origin);
        sqlite3_bind_int64(s, 6, (sqlite3_int64)in.current.hlc);
        sqlite3_bind_text(s, 7, cur_origin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 8, (sqlite3_int64)rec->hlc);
        sqlite3_bind_text(s, 9, bc->origin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 10, (sqlite3_int64)(mr.becomes_current ? rec->hlc : in.current.hlc));
        sqlite3_bind_text(s, 11, mr.becomes_current ? bc->origin : cur_origin, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 12, open ? "open" : "resolved", -1, SQLITE_STATIC);
        if (open)
            sqlite3_bind_null(s, 13);
        else
            sqlite3_bind_text(s, 13, "authority", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 14, (sqlite3_int64)bc->now_ms);
        if (open) {
            sqlite3_bind_null(s, 15);
            sqlite3_bind_null(s, 16);
        } else {
            sqlite3_bind_int64(s, 15, (sqlite3_int64)bc->now_ms);
            sqlite3_bind_text(s, 16, "policy", -1, SQLITE_STATIC);
        }
        if ((r = step_done(ing, s, e, "record conflict")) < 0)
            return r;
        /* the office whose figure was current is told it no longer is: its receipt
         * said accepted, and no figure may disappear without a person seeing it */
        if (mr.becomes_current && strcmp(cur_origin, ORIGIN_HUB) != 0) {
            char comment[300];
            snprintf(comment, sizeof(comment),
                     open ? "another office (agent %s, unit %s) changed this figure at the same "
                            "time; its figure is used until the operator decides"
                          : "a higher authority (agent %s, unit %s) changed this figure at the "
                            "same time; its figure stands",
                     bc->origin, bc->unit);
            s = stmt(ing, ST_NOTICE_PUT);
            sqlite3_bind_text(s, 1, cur_origin, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, rec->unit, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, rec->element, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, rec->period, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 5, (sqlite3_int64)in.current.hlc);
            sqlite3_bind_text(s, 6, open ? "conflict" : "overruled", -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 7, comment, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(s, 8, bc->origin, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 9, (sqlite3_int64)++bc->chg);
            sqlite3_bind_int64(s, 10, (sqlite3_int64)bc->now_ms);
            if ((r = step_done(ing, s, e, "record notice")) < 0)
                return r;
        }
    }
    return 0;
}

/* A replay: the same (agent, seq) again. Same bytes get the stored receipt. */
static int check_replay(struct ingest *ing, const char *agent, uint64_t seq, const uint8_t *hash,
                        struct buf *receipt, int *found, struct problem *pb)
{
    sqlite3_stmt *s = stmt(ing, ST_BATCH_GET);
    sqlite3_bind_text(s, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    int rc = sqlite3_step(s), r = 0;
    *found = 0;
    if (rc == SQLITE_ROW) {
        *found = 1;
        if (sqlite3_column_bytes(s, 0) != CRYPTO_SHA256_LEN ||
            memcmp(sqlite3_column_blob(s, 0), hash, CRYPTO_SHA256_LEN) != 0) {
            r = refuse(pb, DTI_ECHAIN,
                       "batch %" PRIu64 " of agent %s was already received with other content", seq,
                       agent);
        } else {
            buf_reset(receipt);
            r = buf_append(receipt, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
        }
    } else if (rc != SQLITE_DONE) {
        r = refuse(pb, DTI_EDB, "cannot read batches: %s", sqlite3_errmsg(ing->db));
    }
    sqlite3_reset(s);
    return r;
}

static bool in_scope(char **scope, size_t n, const char *unit)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(scope[i], unit) == 0)
            return true;
    return false;
}

static int ingest_one(struct ingest *ing, const void *bytes, size_t len, uint64_t now_ms,
                      const char *via, struct buf *receipt, int *replay, struct problem *pb,
                      char *agent_out, uint64_t *seq_out)
{
    struct dti_err e = {0};
    struct envelope *env = NULL;
    struct agent_row ag;
    struct receipt rc = {0};
    char **scope = NULL;
    size_t nscope = 0;
    bool *locked = NULL;
    const struct framework **fws = NULL;
    char(*gone)[256] = NULL;
    int r, found;
    *replay = 0;
    memset(pb, 0, sizeof(*pb));

    if ((r = envelope_parse(bytes, len, &env, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    const struct batch_header *h = envelope_header(env);
    const uint8_t *hash = envelope_hash(env);
    /* everything from here reads and writes under the write lock */
    if ((r = db_begin(ing->db, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    if ((r = agents_get(ing->db, h->agent_id, &ag, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    if (ag.revoked) {
        r = refuse(pb, DTI_EREVOKED, "agent %s has been revoked", ag.id);
        goto out;
    }
    if ((r = envelope_verify(env, ag.pub, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    if ((r = check_replay(ing, ag.id, h->seq, hash, receipt, &found, pb)) < 0)
        goto out;
    if (found) {
        ing->stats.replays++;
        *replay = 1;
        goto out; /* r == 0: the original receipt, nothing changed */
    }
    if (h->seq != ag.last_seq + 1) {
        /* ahead of a gap: keep it (signature checked) until the missing batches come;
         * it is applied then, and its receipt waits for the agent's resend */
        if (h->seq > ag.last_seq + 1) {
            sqlite3_stmt *s = stmt(ing, ST_PARK_PUT);
            sqlite3_bind_text(s, 1, ag.id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, (sqlite3_int64)h->seq);
            sqlite3_bind_blob(s, 3, hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
            sqlite3_bind_blob(s, 4, bytes, (int)len, SQLITE_STATIC);
            sqlite3_bind_int64(s, 5, (sqlite3_int64)now_ms);
            if (step_done(ing, s, &e, "park batch") == 0)
                db_commit(ing->db, &e);
        }
        r = refuse(pb, DTI_EGAP, "agent %s sent batch %" PRIu64 ", the hub expects %" PRIu64, ag.id,
                   h->seq, ag.last_seq + 1);
        pb->expected_seq = ag.last_seq + 1;
        goto out;
    }
    if (h->has_prev && (!ag.has_last_hash || memcmp(h->prev_hash, ag.last_hash, 32) != 0)) {
        r = refuse(pb, DTI_ECHAIN, "batch %" PRIu64 " of agent %s does not link to batch %" PRIu64,
                   h->seq, ag.id, ag.last_seq);
        goto out;
    }
    if ((r = units_scope(ing->db, ag.unit, &scope, &nscope, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    const struct manifest_entry *mf;
    size_t nmf = envelope_manifest(env, &mf);
    for (size_t i = 0; i < nmf; i++)
        if (!in_scope(scope, nscope, mf[i].unit)) {
            r = refuse(pb, DTI_ESCOPE, "agent %s of unit %s may not write for unit %s", ag.id,
                       ag.unit, mf[i].unit);
            goto out;
        }
    locked = xcalloc(nmf, sizeof(*locked));
    fws = xcalloc(nmf, sizeof(*fws));
    gone = xcalloc(nmf, sizeof(*gone));
    bool existed;
    for (size_t i = 0; i < nmf; i++)
        if ((r = reconcile_is_locked(ing->db, mf[i].unit, mf[i].period, &locked[i], &e)) < 0 ||
            (r = framework_for(ing, mf[i].unit, mf[i].period, &fws[i], &e)) < 0 ||
            (r = units_in_period(ing->db, mf[i].unit, mf[i].period, &existed, gone[i],
                                 sizeof(gone[i]), &e)) < 0) {
            refuse_err(pb, r, &e);
            goto out;
        }
    const struct record *recs;
    size_t n;
    if ((r = envelope_records(env, &recs, &n, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }

    /* the hub clock takes in the office clock, but never beyond the future bound */
    hlc_observe(&ing->clock, meta_u64(ing, "hlc"));
    uint64_t bound = hlc_make(now_ms + INGEST_MAX_FUTURE_MS, 0);
    hlc_observe(&ing->clock, h->hlc < bound ? h->hlc : bound);
    struct batch_ctx bc = {
        .origin = ag.id,
        .unit = ag.unit,
        .auth = (int)units_authority(ag.level),
        .seq = h->seq,
        .now_ms = now_ms,
        .hub_hlc = hlc_tick(&ing->clock, now_ms),
        .chg = meta_u64(ing, "chg"),
        .mf = mf,
        .locked = locked,
        .fws = fws,
        .gone = gone,
        .nmf = nmf,
    };
    rc.n = n;
    rc.outcomes = xcalloc(n ? n : 1, 1);
    rc.rejects = bc.rejects = xcalloc(n ? n : 1, sizeof(*rc.rejects));
    for (size_t i = 0; i < n; i++)
        if ((r = apply_record(ing, &bc, i, &recs[i], &rc.outcomes[i], &e)) < 0) {
            refuse_err(pb, r, &e);
            goto out;
        }
    rc.nrejects = bc.nrejects;
    memcpy(rc.agent_id, ag.id, sizeof(rc.agent_id));
    rc.seq = h->seq;
    memcpy(rc.batch_hash, hash, CRYPTO_SHA256_LEN);
    rc.hub_hlc = bc.hub_hlc;
    rc.received_ms = now_ms;
    if ((r = receipt_seal(&rc, ing->hub, receipt, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }

    sqlite3_stmt *s = stmt(ing, ST_BATCH_PUT);
    sqlite3_bind_text(s, 1, ag.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)h->seq);
    sqlite3_bind_blob(s, 3, hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, bytes, (int)len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, receipt->data, (int)receipt->len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)n);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)now_ms);
    /* the road, when it was not the agent's own: a relaying district or a bundle */
    bool other_road = via && strcmp(via, ag.id) != 0;
    db_bind_text_or_null(s, 8, other_road ? via : NULL);
    if ((r = step_done(ing, s, &e, "store batch")) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    s = stmt(ing, ST_AGENT_UPDATE);
    sqlite3_bind_text(s, 1, ag.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)h->seq);
    sqlite3_bind_blob(s, 3, hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)now_ms);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)hlc_ms(h->hlc) - (sqlite3_int64)now_ms);
    db_bind_text_or_null(s, 6, other_road ? via : NULL);
    if ((r = step_done(ing, s, &e, "update agent")) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    s = stmt(ing, ST_PARK_DEL); /* it may have been parked while its gap was open */
    sqlite3_bind_text(s, 1, ag.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)h->seq);
    if ((r = step_done(ing, s, &e, "unpark batch")) < 0 ||
        (r = meta_put_u64(ing, "chg", bc.chg)) < 0 ||
        (r = meta_put_u64(ing, "hlc", ing->clock.last)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    /* durable (synchronous=FULL) before the receipt leaves this function */
    if ((r = db_commit(ing->db, &e)) < 0) {
        refuse_err(pb, r, &e);
        goto out;
    }
    ing->stats.batches++;
    ing->stats.records += n;
    memcpy(agent_out, ag.id, AGENT_ID_LEN + 1);
    *seq_out = h->seq;
out:
    if (r < 0) {
        db_rollback(ing->db);
        buf_reset(receipt);
        ing->stats.refused++;
        if (r == DTI_EDB || r == DTI_EIO)
            pb->code = r;
    } else if (*replay) {
        db_rollback(ing->db); /* read-only: nothing to keep */
    }
    pb->hub_hlc = ing->clock.last;
    units_scope_free(scope, nscope);
    free(locked);
    free(fws);
    free(gone);
    receipt_release(&rc);
    envelope_free(env);
    return r;
}

/* Parked batches applied per call: the server is single-threaded, so one
 * request must not run for minutes; the rest drain on the agent's next batch. */
#define DRAIN_MAX 256

/* Apply the parked batches that now follow without a gap, each in its own
 * transaction, as if they had just arrived. */
static void drain_parked(struct ingest *ing, const char *agent, uint64_t seq, uint64_t now_ms)
{
    struct buf env, rc;
    buf_init(&env, ENVELOPE_MAX);
    buf_init(&rc, BUF_UNLIMITED);
    for (int done = 0; done < DRAIN_MAX; done++) {
        sqlite3_stmt *s = stmt(ing, ST_PARK_NEXT);
        sqlite3_bind_text(s, 1, agent, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)(seq + 1));
        int found = sqlite3_step(s) == SQLITE_ROW;
        if (found) {
            buf_reset(&env);
            found = buf_append(&env, sqlite3_column_blob(s, 0),
                               (size_t)sqlite3_column_bytes(s, 0)) == 0;
        }
        sqlite3_reset(s);
        if (!found)
            break;
        struct problem pb;
        char a[AGENT_ID_LEN + 1];
        int replay;
        /* a parked batch that is refused now stays parked: 'dti-hub gaps' shows it */
        if (ingest_one(ing, env.data, env.len, now_ms, NULL, &rc, &replay, &pb, a, &seq) < 0)
            break;
    }
    buf_release(&env);
    buf_release(&rc);
}

int ingest_envelope(struct ingest *ing, const void *bytes, size_t len, uint64_t now_ms,
                    struct buf *receipt, int *replay, struct problem *pb)
{
    return ingest_envelope_via(ing, bytes, len, now_ms, NULL, receipt, replay, pb);
}

int ingest_envelope_via(struct ingest *ing, const void *bytes, size_t len, uint64_t now_ms,
                        const char *via, struct buf *receipt, int *replay, struct problem *pb)
{
    char agent[AGENT_ID_LEN + 1] = "";
    uint64_t seq = 0;
    int r = ingest_one(ing, bytes, len, now_ms, via, receipt, replay, pb, agent, &seq);
    if (r == 0 && !*replay && agent[0])
        drain_parked(ing, agent, seq, now_ms);
    return r;
}
