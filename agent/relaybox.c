/*
 * relaybox.c - commune envelopes held by a district relay, and forwarding
 * them to the hub (see relaybox.h and docs/PROTOCOL.md, "Relay").
 */
#include "relaybox.h"
#include "envelope.h"
#include "db.h"
#include "problem.h"
#include "receipt.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RELAYBOX_ANSWER_MAX TRANSPORT_MAX_RESPONSE

static int fill_answer(struct relaybox_answer *ans, enum relaybox_fate fate, long status,
                       const void *bytes, int len)
{
    ans->fate = fate;
    ans->status = status;
    if (len > 0 && buf_append(&ans->body, bytes, (size_t)len) < 0)
        return DTI_ETOOBIG;
    return 0;
}

int relaybox_offer(struct store *st, const char *agent, uint64_t seq,
                   const uint8_t hash[CRYPTO_SHA256_LEN], const void *env, size_t len,
                   uint64_t now_ms, struct relaybox_answer *ans, struct dti_err *e)
{
    sqlite3 *db = store_db(st);
    sqlite3_stmt *get = NULL, *cnt = NULL, *put = NULL;
    int r;
    buf_init(&ans->body, RELAYBOX_ANSWER_MAX);
    ans->fate = RELAYBOX_HELD;
    ans->status = 0;
    if ((r = db_begin(db, e)) < 0)
        return r;
    if ((r = db_prepare(db, &get,
                        "SELECT hash, receipt, status, problem FROM relayed "
                        "WHERE agent = ?1 AND seq = ?2",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(get, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(get, 2, (sqlite3_int64)seq);
    int rc = sqlite3_step(get);
    if (rc == SQLITE_ROW) {
        bool same = sqlite3_column_bytes(get, 0) == CRYPTO_SHA256_LEN &&
                    memcmp(sqlite3_column_blob(get, 0), hash, CRYPTO_SHA256_LEN) == 0;
        bool acked = sqlite3_column_type(get, 1) != SQLITE_NULL;
        bool refused = sqlite3_column_type(get, 3) != SQLITE_NULL;
        if (same && acked)
            r = fill_answer(ans, RELAYBOX_RECEIPT, 200, sqlite3_column_blob(get, 1),
                            sqlite3_column_bytes(get, 1));
        else if (same && refused)
            r = fill_answer(ans, RELAYBOX_REFUSED, (long)sqlite3_column_int64(get, 2),
                            sqlite3_column_blob(get, 3), sqlite3_column_bytes(get, 3));
        else if (same)
            r = fill_answer(ans, RELAYBOX_HELD, 0, NULL, 0);
        else if (!refused)
            r = fill_answer(ans, RELAYBOX_CONFLICT, 0, NULL, 0);
        if (r < 0) {
            r = dti_errf(e, r, "the stored answer for batch %" PRIu64 " is too large", seq);
            goto out;
        }
        if (same || !refused)
            goto commit; /* nothing changes */
        /* the hub refused the batch held under this sequence: it never counted, so the
         * commune's other batch takes its place */
    } else if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read the relay table");
        goto out;
    }
    if ((r = db_prepare(db, &cnt,
                        "SELECT count(*) FROM relayed WHERE agent = ?1 AND receipt IS NULL AND "
                        "problem IS NULL",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(cnt, 1, agent, -1, SQLITE_STATIC);
    if (sqlite3_step(cnt) == SQLITE_ROW && sqlite3_column_int64(cnt, 0) >= RELAYBOX_MAX_PER_AGENT) {
        ans->fate = RELAYBOX_FULL;
        goto commit;
    }
    /* and a ceiling over the whole relay: anyone on the office LAN can post, and
     * agent ids are the sender's to choose, so the disk must not be theirs to fill */
    sqlite3_finalize(cnt);
    cnt = NULL;
    if ((r = db_prepare(db, &cnt,
                        "SELECT count(*), coalesce(sum(length(envelope)), 0) FROM relayed "
                        "WHERE receipt IS NULL AND problem IS NULL",
                        e)) < 0)
        goto out;
    if (sqlite3_step(cnt) == SQLITE_ROW &&
        (sqlite3_column_int64(cnt, 0) >= RELAYBOX_MAX_HELD ||
         (uint64_t)sqlite3_column_int64(cnt, 1) + len > RELAYBOX_MAX_BYTES)) {
        ans->fate = RELAYBOX_FULL;
        goto commit;
    }
    if ((r = db_prepare(db, &put,
                        "INSERT OR REPLACE INTO relayed(agent, seq, hash, envelope, received_ms) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(put, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(put, 2, (sqlite3_int64)seq);
    sqlite3_bind_blob(put, 3, hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(put, 4, env, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(put, 5, (sqlite3_int64)now_ms);
    if (sqlite3_step(put) != SQLITE_DONE) {
        r = db_fail(db, e, "store the relayed batch");
        goto out;
    }
    ans->fate = RELAYBOX_HELD;
commit:
    r = db_commit(db, e);
out:
    sqlite3_finalize(get);
    sqlite3_finalize(cnt);
    sqlite3_finalize(put);
    if (r < 0) {
        db_rollback(db);
        buf_release(&ans->body);
    }
    return r;
}

/* The next held envelope without an answer after (agent, seq): 0 or DTI_ENOTFOUND. */
static int next_held(sqlite3 *db, char agent[AGENT_ID_LEN + 1], uint64_t *seq,
                     uint8_t hash[CRYPTO_SHA256_LEN], struct buf *env, struct dti_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = db_prepare(db, &s,
                       "SELECT agent, seq, hash, envelope FROM relayed "
                       "WHERE (agent, seq) > (?1, ?2) AND receipt IS NULL AND problem IS NULL "
                       "ORDER BY agent, seq LIMIT 1",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(s, 1, agent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)*seq);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *a = db_column_str(s, 0);
        if (strlen(a) > AGENT_ID_LEN || sqlite3_column_bytes(s, 2) != CRYPTO_SHA256_LEN) {
            r = dti_errf(e, DTI_ESTATE, "the relay table holds a malformed row");
        } else {
            snprintf(agent, AGENT_ID_LEN + 1, "%s", a);
            *seq = (uint64_t)sqlite3_column_int64(s, 1);
            memcpy(hash, sqlite3_column_blob(s, 2), CRYPTO_SHA256_LEN);
            buf_reset(env);
            r = buf_append(env, sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3));
            if (r < 0)
                r = dti_errf(e, r, "relayed batch %" PRIu64 " of agent %s is too large", *seq,
                             agent);
        }
    } else if (rc == SQLITE_DONE) {
        r = DTI_ENOTFOUND;
    } else {
        r = db_fail(db, e, "read the relay table");
    }
    sqlite3_finalize(s);
    return r;
}

/* Record the hub's answer: a receipt, or a final refusal (status, Problem bytes). */
static int store_answer(sqlite3 *db, const char *agent, uint64_t seq, const struct buf *receipt,
                        long status, const struct buf *problem, uint64_t now_ms, struct dti_err *e)
{
    sqlite3_stmt *s = NULL;
    int r = db_prepare(db, &s,
                       "UPDATE relayed SET forwarded_ms = ?3, receipt = ?4, status = ?5, "
                       "problem = ?6 WHERE agent = ?1 AND seq = ?2",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(s, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)now_ms);
    if (receipt)
        sqlite3_bind_blob(s, 4, receipt->data, (int)receipt->len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, status);
    /* a zero-length blob is still a refusal: never NULL */
    if (problem)
        sqlite3_bind_blob(s, 6, problem->len ? (const void *)problem->data : "", (int)problem->len,
                          SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        r = db_fail(db, e, "store the hub's answer to a relayed batch");
    sqlite3_finalize(s);
    return r;
}

/* Forward one held envelope. 0 (answered, or parked by the hub) or an error that stops. */
static int forward_one(sqlite3 *db, const uint8_t hub_pub[CRYPTO_PUBKEY_LEN],
                       const struct transport *t, const char *agent, uint64_t seq,
                       const uint8_t hash[CRYPTO_SHA256_LEN], const struct buf *env,
                       uint64_t now_ms, struct relaybox_report *rep, bool *acked, struct dti_err *e)
{
    struct response resp = {0};
    struct receipt rc = {0};
    struct problem pb;
    int r = t->post(t->ctx, "/v1/batches", env->data, env->len, &resp, e);
    *acked = false;
    if (r < 0)
        return r;
    if (resp.status == 200) {
        /* the commune's receipt: signed by the hub this district pinned, for exactly
         * this batch; the agent id is the commune's, not ours */
        if ((r = receipt_open(resp.body.data, resp.body.len, hub_pub, &rc, e)) < 0) {
            dti_err_prefix(e, r, "the hub's receipt for a relayed batch");
            goto out;
        }
        if (strcmp(rc.agent_id, agent) != 0 || rc.seq != seq ||
            memcmp(rc.batch_hash, hash, CRYPTO_SHA256_LEN) != 0) {
            r = dti_errf(e, DTI_EPROTO,
                         "the hub's receipt for relayed batch %" PRIu64 " of agent %s names "
                         "another batch",
                         seq, agent);
            goto out;
        }
        if ((r = store_answer(db, agent, seq, &resp.body, 200, NULL, now_ms, e)) < 0)
            goto out;
        rep->forwarded++;
        *acked = true;
        goto out;
    }
    bool decoded = problem_decode(resp.body.data, resp.body.len, &pb) == 0 && pb.reason[0];
    int code = decoded ? pb.code : resp.status == 413 ? DTI_ETOOBIG : DTI_EUNAVAILABLE;
    /* only the hub's own words (a Problem) or a 413 are final; an answer without a
     * Problem (a proxy's 4xx, 408, 429) is kept and tried again later */
    if (resp.status >= 500 || dti_transient(code)) {
        r = dti_errf(e, dti_transient(code) ? code : DTI_EUNAVAILABLE,
                     "forward relayed batch %" PRIu64 " of agent %s: the hub answered %ld%s%s", seq,
                     agent, resp.status, decoded ? ": " : "", decoded ? pb.message : "");
        goto out;
    }
    if (code == DTI_EGAP) {
        /* the hub parked it until the batches before it arrive (through this relay, a
         * bundle or the commune's own link): it stays held and goes again next time */
        rep->waiting++;
        r = 0;
        goto out;
    }
    if (!decoded) { /* evhttp's own refusals carry no Problem: make one the commune reads */
        struct problem own = {.code = code};
        snprintf(own.reason, sizeof(own.reason), "%s", dti_reason(code));
        snprintf(own.message, sizeof(own.message), "the hub answered HTTP %ld", resp.status);
        buf_reset(&resp.body);
        if (problem_encode(&own, &resp.body) < 0)
            buf_reset(&resp.body);
    }
    if ((r = store_answer(db, agent, seq, NULL, resp.status, &resp.body, now_ms, e)) < 0)
        goto out;
    rep->refused++;
out:
    receipt_release(&rc);
    buf_release(&resp.body);
    return r;
}

int relaybox_forward(struct store *st, const uint8_t hub_pub[CRYPTO_PUBKEY_LEN],
                     const struct transport *t, uint64_t now_ms, struct relaybox_report *rep,
                     struct dti_err *e)
{
    sqlite3 *db = store_db(st);
    char agent[AGENT_ID_LEN + 1] = "", counted[AGENT_ID_LEN + 1] = "";
    uint8_t hash[CRYPTO_SHA256_LEN];
    uint64_t seq = 0;
    struct buf env;
    int r;
    memset(rep, 0, sizeof(*rep));
    buf_init(&env, ENVELOPE_MAX);
    /* (agent, seq) only grows, so every held row is sent at most once per call */
    while ((r = next_held(db, agent, &seq, hash, &env, e)) == 0) {
        bool acked;
        if ((r = forward_one(db, hub_pub, t, agent, seq, hash, &env, now_ms, rep, &acked, e)) < 0)
            break;
        if (acked && strcmp(counted, agent) != 0) {
            rep->agents++;
            memcpy(counted, agent, sizeof(counted));
        }
    }
    if (r == DTI_ENOTFOUND)
        r = 0;
    buf_release(&env);
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

int relaybox_counts(struct store *st, struct relaybox_counts *c, struct dti_err *e)
{
    sqlite3 *db = store_db(st);
    memset(c, 0, sizeof(*c));
    int r = db_exec(db, "BEGIN", e); /* one snapshot */
    if (r < 0)
        return r;
    c->held = count(db, "SELECT count(*) FROM relayed WHERE receipt IS NULL AND problem IS NULL");
    c->acknowledged = count(db, "SELECT count(*) FROM relayed WHERE receipt IS NOT NULL");
    c->refused = count(db, "SELECT count(*) FROM relayed WHERE problem IS NOT NULL");
    c->agents = count(db, "SELECT count(DISTINCT agent) FROM relayed");
    db_exec(db, "COMMIT", NULL);
    return 0;
}
