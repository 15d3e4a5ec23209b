/*
 * test_sync.c - unit tests for one sync (agent/sync.c) against a fake hub
 * behind the transport seam. The fake keeps its own signing key, enrols the
 * agent, verifies and applies each batch (gapless, chained, replayed batches
 * get their original receipt), serves scripted change pages, and can be told
 * to fail: unreachable before or after it handled a call, a refusal with a
 * given status and reason, a receipt signed by the wrong key or naming
 * another batch, a page signed by the wrong key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "changes.h"
#include "crypto.h"
#include "enroll.h"
#include "envelope.h"
#include "err.h"
#include "hlc.h"
#include "problem.h"
#include "receipt.h"
#include "store.h"
#include "sync.h"
#include "transport.h"
#include "util.h"
#include "value.h"

#define UNIT "22750"
#define T0 UINT64_C(1700000000000)
#define MAX_SEQ 32
#define MAX_POSTS 64
#define PULL_CONTEXT "dti-pull-v1\n"

/* ---- the fake hub ---- */

enum rc_mode { RC_GOOD, RC_WRONG_KEY, RC_OTHER_SEQ, RC_OTHER_HASH, RC_OTHER_AGENT };

struct page_script {
    uint64_t after, next;
    bool more;
    bool wrong_key;
    uint64_t lie_after; /* if set, the page claims to answer this cursor */
    bool other_agent;   /* the page names another agent */
    size_t n;
    struct change items[4];
};

struct fake_hub {
    struct signer *key, *wrong;
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    uint8_t token[ENROLL_SECRET_LEN];
    uint64_t hlc; /* the hub's clock: a day ahead of the office */

    bool enrolled;
    char agent_id[AGENT_ID_LEN + 1];
    uint8_t agent_pub[CRYPTO_PUBKEY_LEN];

    uint64_t next_seq; /* the batch the hub expects */
    uint8_t last_hash[CRYPTO_SHA256_LEN];
    struct buf receipts[MAX_SEQ + 1]; /* by seq, as first sent */
    int applied[MAX_SEQ + 1];         /* times each batch was applied */
    size_t records_applied;
    uint64_t posted[MAX_POSTS]; /* seq of every batch that reached the hub */
    size_t nposted;
    size_t calls, enrols, gets;

    /* scripted faults */
    int fail_skip;   /* calls to let through before failing */
    int fail_n;      /* then fail this many */
    bool fail_after; /* fail after the hub handled the call (the answer is lost) */
    int prob_n;      /* answer the next batches with a refusal: */
    long prob_status;
    const char *prob_reason;
    uint64_t prob_expected;
    enum rc_mode rc_mode;

    struct page_script *pages;
    size_t npages;
};

static void hub_problem(struct fake_hub *h, struct response *resp, long status, const char *reason,
                        uint64_t expected)
{
    struct problem p = {0};
    snprintf(p.reason, sizeof(p.reason), "%s", reason);
    snprintf(p.message, sizeof(p.message), "fake hub says %s", reason);
    p.expected_seq = expected;
    p.hub_hlc = h->hlc;
    assert_int_equal(problem_encode(&p, &resp->body), 0);
    resp->status = status;
}

static void hub_enrol(struct fake_hub *h, const void *body, size_t len, struct response *resp)
{
    struct enroll_request rq;
    struct dti_err e = {0};
    if (enroll_request_parse(body, len, &rq, &e) < 0) {
        hub_problem(h, resp, 400, dti_reason(e.code), 0);
        return;
    }
    if (memcmp(rq.secret, h->token, ENROLL_SECRET_LEN) != 0) {
        hub_problem(h, resp, 403, "bad_token", 0);
        return;
    }
    h->enrols++;
    h->enrolled = true;
    memcpy(h->agent_pub, rq.pub, CRYPTO_PUBKEY_LEN);
    enroll_agent_id(rq.pub, h->agent_id);
    char scope[1][UNIT_CODE_MAX + 1] = {UNIT};
    struct enroll_response rs = {0};
    memcpy(rs.agent_id, h->agent_id, sizeof(rs.agent_id));
    snprintf(rs.unit, sizeof(rs.unit), "%s", UNIT);
    memcpy(rs.hub_pub, h->pub, CRYPTO_PUBKEY_LEN);
    rs.hub_hlc = h->hlc;
    rs.next_seq = h->next_seq;
    rs.nscope = 1;
    rs.scope = scope;
    assert_int_equal(enroll_response_seal(&rs, h->key, &resp->body, &e), 0);
    resp->status = 200;
}

/* Answer with the receipt of batch seq, spoilt as the test asked. */
static void hub_receipt(struct fake_hub *h, uint64_t seq, struct response *resp)
{
    const struct buf *stored = &h->receipts[seq];
    struct dti_err e = {0};
    if (h->rc_mode == RC_GOOD) {
        assert_int_equal(buf_append(&resp->body, stored->data, stored->len), 0);
        resp->status = 200;
        return;
    }
    struct receipt rc;
    assert_int_equal(receipt_open(stored->data, stored->len, h->pub, &rc, &e), 0);
    const struct signer *by = h->key;
    switch (h->rc_mode) {
    case RC_WRONG_KEY:
        by = h->wrong;
        break;
    case RC_OTHER_SEQ:
        rc.seq++;
        break;
    case RC_OTHER_HASH:
        rc.batch_hash[0] ^= 0x80;
        break;
    case RC_OTHER_AGENT:
        rc.agent_id[0] = rc.agent_id[0] == '0' ? '1' : '0';
        break;
    case RC_GOOD:
        break;
    }
    assert_int_equal(receipt_seal(&rc, by, &resp->body, &e), 0);
    receipt_release(&rc);
    resp->status = 200;
}

static void hub_batch(struct fake_hub *h, const void *body, size_t len, struct response *resp)
{
    struct envelope *env = NULL;
    struct dti_err e = {0};
    if (envelope_parse(body, len, &env, &e) < 0) {
        hub_problem(h, resp, 400, dti_reason(e.code), 0);
        return;
    }
    const struct batch_header *hd = envelope_header(env);
    if (!h->enrolled || strcmp(hd->agent_id, h->agent_id) != 0) {
        hub_problem(h, resp, 403, "unknown_agent", 0);
        goto out;
    }
    if (envelope_verify(env, h->agent_pub, &e) < 0) {
        hub_problem(h, resp, 401, "bad_signature", 0);
        goto out;
    }
    assert_true(h->nposted < MAX_POSTS);
    h->posted[h->nposted++] = hd->seq;
    if (h->prob_n > 0) {
        h->prob_n--;
        hub_problem(h, resp, h->prob_status, h->prob_reason, h->prob_expected);
        goto out;
    }
    assert_true(hd->seq >= 1 && hd->seq <= MAX_SEQ);
    if (hd->seq > h->next_seq) {
        hub_problem(h, resp, 409, "sequence_gap", h->next_seq);
        goto out;
    }
    if (hd->seq == h->next_seq) {
        if (hd->has_prev != (hd->seq > 1) ||
            (hd->seq > 1 && memcmp(hd->prev_hash, h->last_hash, CRYPTO_SHA256_LEN) != 0)) {
            hub_problem(h, resp, 409, "broken_chain", 0);
            goto out;
        }
        const struct record *recs;
        size_t n;
        if (envelope_records(env, &recs, &n, &e) < 0) {
            hub_problem(h, resp, 400, dti_reason(e.code), 0);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            assert_string_equal(recs[i].unit, UNIT);
        h->applied[hd->seq]++;
        h->records_applied += n;
        memcpy(h->last_hash, envelope_hash(env), CRYPTO_SHA256_LEN);
        h->next_seq++;
        struct receipt rc = {0};
        memcpy(rc.agent_id, h->agent_id, sizeof(rc.agent_id));
        rc.seq = hd->seq;
        memcpy(rc.batch_hash, envelope_hash(env), CRYPTO_SHA256_LEN);
        rc.hub_hlc = h->hlc;
        rc.received_ms = T0;
        rc.n = n;
        rc.outcomes = xmalloc(n ? n : 1);
        memset(rc.outcomes, OUTCOME_ACCEPTED, n);
        buf_init(&h->receipts[hd->seq], BUF_UNLIMITED);
        assert_int_equal(receipt_seal(&rc, h->key, &h->receipts[hd->seq], &e), 0);
        free(rc.outcomes);
    }
    /* new, or a replay: the receipt as first issued */
    hub_receipt(h, hd->seq, resp);
out:
    envelope_free(env);
}

/* The scripted failure for this call: 0 (none), 1 (before), 2 (after handling). */
static int hub_fault(struct fake_hub *h)
{
    h->calls++;
    if (h->fail_skip > 0) {
        h->fail_skip--;
        return 0;
    }
    if (h->fail_n > 0) {
        h->fail_n--;
        return h->fail_after ? 2 : 1;
    }
    return 0;
}

static int hub_post(void *ctx, const char *path, const void *body, size_t len,
                    struct response *resp, struct dti_err *e)
{
    struct fake_hub *h = ctx;
    int fault = hub_fault(h);
    if (fault == 1)
        return dti_errf(e, DTI_EUNREACHABLE, "fake hub: connection refused (%s)", path);
    resp->status = 0;
    buf_init(&resp->body, TRANSPORT_MAX_RESPONSE);
    /* the request arrives as bytes the fake owns: ASan sees any overread */
    void *copy = xmalloc(len ? len : 1);
    memcpy(copy, body, len);
    h->hlc++;
    if (strcmp(path, "/v1/enroll") == 0)
        hub_enrol(h, copy, len, resp);
    else if (strcmp(path, "/v1/batches") == 0)
        hub_batch(h, copy, len, resp);
    else
        hub_problem(h, resp, 404, "not_found", 0);
    free(copy);
    if (fault == 2) {
        buf_release(&resp->body);
        return dti_errf(e, DTI_EUNREACHABLE, "fake hub: connection cut after the answer (%s)",
                        path);
    }
    return 0;
}

static const char *header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncmp(headers[i], name, n) == 0 && headers[i][n] == ':' && headers[i][n + 1] == ' ')
            return headers[i] + n + 2;
    return NULL;
}

static int hub_get(void *ctx, const char *path, const char *const *headers, struct response *resp,
                   struct dti_err *e)
{
    struct fake_hub *h = ctx;
    int fault = hub_fault(h);
    if (fault == 1)
        return dti_errf(e, DTI_EUNREACHABLE, "fake hub: connection refused (%s)", path);
    resp->status = 0;
    buf_init(&resp->body, TRANSPORT_MAX_RESPONSE);
    h->hlc++;
    h->gets++;
    assert_true(h->gets < 1000); /* a pull that never ends fails here, not by timeout */
    const char *prefix = "/v1/changes?after=";
    uint64_t after;
    assert_int_equal(strncmp(path, prefix, strlen(prefix)), 0);
    assert_int_equal(parse_u64(path + strlen(prefix), UINT64_MAX, &after), 0);
    /* the request is signed by the enrolled agent */
    const char *agent = header(headers, "X-DTI-Agent");
    const char *sig64 = header(headers, "X-DTI-Signature");
    assert_non_null(agent);
    assert_non_null(sig64);
    assert_true(h->enrolled);
    assert_string_equal(agent, h->agent_id);
    uint8_t *sig = NULL;
    size_t siglen = 0;
    assert_int_equal(base64url_decode(sig64, 64, &sig, &siglen), 0);
    assert_int_equal(siglen, CRYPTO_SIG_LEN);
    char *msg = xasprintf("%s%s", PULL_CONTEXT, path);
    assert_int_equal(crypto_verify(h->agent_pub, msg, strlen(msg), sig), 0);
    free(msg);
    free(sig);

    struct page_script empty = {.after = after, .next = after};
    const struct page_script *ps = &empty;
    for (size_t i = 0; i < h->npages; i++)
        if (h->pages[i].after == after)
            ps = &h->pages[i];
    struct changes_page p = {0};
    memcpy(p.agent_id, h->agent_id, sizeof(p.agent_id));
    if (ps->other_agent)
        p.agent_id[0] = p.agent_id[0] == '0' ? '1' : '0';
    p.after = ps->lie_after ? ps->lie_after : ps->after;
    p.next = ps->next;
    p.more = ps->more;
    p.hub_hlc = h->hlc;
    p.n = ps->n;
    p.items = (struct change *)ps->items;
    struct dti_err se = {0};
    assert_int_equal(changes_seal(&p, ps->wrong_key ? h->wrong : h->key, &resp->body, &se), 0);
    resp->status = 200;
    if (fault == 2) {
        buf_release(&resp->body);
        return dti_errf(e, DTI_EUNREACHABLE, "fake hub: connection cut after the answer (%s)",
                        path);
    }
    return 0;
}

/* ---- fixture ---- */

struct fx {
    char tmp[64];
    char *dir;
    struct signer *key;
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    struct store_identity id;
    struct store *st;
    struct fake_hub hub;
    struct transport t;
};

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = path_join(path, de->d_name);
        rm_tree(p);
        free(p);
    }
    closedir(d);
    rmdir(path);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/dti-agent-sync-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    f->dir = path_join(f->tmp, "agent");
    struct fake_hub *h = &f->hub;
    if (signer_generate(&f->key) < 0 || signer_generate(&h->key) < 0 ||
        signer_generate(&h->wrong) < 0)
        return -1;
    signer_public(f->key, f->pub);
    signer_public(h->key, h->pub);
    for (int i = 0; i < ENROLL_SECRET_LEN; i++)
        h->token[i] = (uint8_t)(0xa0 ^ i);
    h->hlc = hlc_make(T0 + 86400000, 0);
    h->next_seq = 1;

    enroll_agent_id(f->pub, f->id.agent_id);
    snprintf(f->id.unit, sizeof(f->id.unit), "%s", UNIT);
    snprintf(f->id.hub_url, sizeof(f->id.hub_url), "https://127.0.0.1:1");
    memset(f->id.fingerprint, '0', CRYPTO_FP_HEX_LEN);
    f->id.has_token = true;
    memcpy(f->id.token_secret, h->token, ENROLL_SECRET_LEN);
    struct dti_err e = {0};
    if (store_create(&f->st, f->dir, &f->id, &e) < 0) {
        print_error("store_create: %s\n", e.msg);
        return -1;
    }
    f->t.post = hub_post;
    f->t.get = hub_get;
    f->t.ctx = h;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    rm_tree(f->tmp);
    for (int i = 0; i <= MAX_SEQ; i++)
        buf_release(&f->hub.receipts[i]);
    signer_free(f->hub.key);
    signer_free(f->hub.wrong);
    signer_free(f->key);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void expect_code(int got, const struct dti_err *e, int want, const char *file, int line)
{
    if (got != want)
        print_error("got %s (%s), want %s\n", dti_strname(got), e->msg, dti_strname(want));
    _assert_string_equal(dti_strname(got), dti_strname(want), file, line);
    _assert_int_equal(e->code, want, file, line);
    if (want != 0 && e->msg[0] == '\0') {
        print_error("%s without a message\n", dti_strname(got));
        _fail(file, line);
    }
}

#define EXPECT_CODE(got, e, want) expect_code((got), (e), (want), __FILE__, __LINE__)

static int64_t q_int(struct fx *f, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(store_db(f->st), sql, -1, &s, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(store_db(f->st)));
        fail();
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        print_error("no row for: %s\n", sql);
        fail();
    }
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Record n edits e0..e(n-1), one call each (the element names are first + i). */
static void record_n(struct fx *f, int first, int n, uint64_t now)
{
    for (int i = 0; i < n; i++) {
        char el[16];
        snprintf(el, sizeof(el), "e%d", first + i);
        struct edit ed = {.unit = UNIT, .element = el, .period = "2023"};
        ed.value.kind = VALUE_NUMBER;
        ed.value.num = first + i;
        size_t bad;
        struct dti_err e = {0};
        EXPECT_CODE(store_record(f->st, &ed, 1, now + (uint64_t)i, &bad, &e), &e, 0);
    }
}

static int sync_once(struct fx *f, size_t batch_records, struct sync_report *rep, struct dti_err *e)
{
    *e = (struct dti_err){0};
    return sync_run(f->st, f->key, &f->t, batch_records, T0, rep, e);
}

static void sync_ok(struct fx *f, size_t batch_records, struct sync_report *rep)
{
    struct dti_err e = {0};
    EXPECT_CODE(sync_once(f, batch_records, rep, &e), &e, 0);
}

static struct store_status status(struct fx *f)
{
    struct store_status s;
    struct dti_err e = {0};
    EXPECT_CODE(store_status(f->st, &s, &e), &e, 0);
    return s;
}

/* Everything recorded is acknowledged, and the hub applied each of the
 * batches exactly once, with records in all. */
static void assert_all_acked(struct fx *f, uint64_t batches, size_t records)
{
    struct store_status s = status(f);
    assert_int_equal(s.pending_records, 0);
    assert_int_equal(s.pending_batches, 0);
    assert_int_equal(s.acked_batches, batches);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE state <> 'synced'"), 0);
    assert_int_equal(f->hub.next_seq, batches + 1);
    for (uint64_t s2 = 1; s2 <= batches; s2++) {
        if (f->hub.applied[s2] != 1)
            print_error("batch %" PRIu64 " applied %d times\n", s2, f->hub.applied[s2]);
        assert_int_equal(f->hub.applied[s2], 1);
    }
    assert_int_equal(f->hub.applied[batches + 1], 0);
    assert_int_equal(f->hub.records_applied, records);
}

static uint64_t oldest_unacked(struct fx *f)
{
    uint64_t seq = 0;
    uint8_t hash[32];
    struct buf env;
    buf_init(&env, BUF_UNLIMITED);
    struct dti_err e = {0};
    int r = store_oldest_unacked(f->st, &seq, hash, &env, &e);
    buf_release(&env);
    return r == 0 ? seq : 0;
}

static uint64_t cursor_of(struct fx *f)
{
    uint64_t cursor = 0;
    struct dti_err e = {0};
    EXPECT_CODE(store_cursor(f->st, &cursor, &e), &e, 0);
    return cursor;
}

static void enrol(struct fx *f)
{
    struct sync_report rep;
    sync_ok(f, 10, &rep);
    assert_int_equal(f->hub.enrols, 1);
}

/* ---- tests ---- */

static void test_full_sync(void **state)
{
    struct fx *f = *state;
    record_n(f, 0, 5, T0);
    struct sync_report rep;
    sync_ok(f, 2, &rep);
    assert_int_equal(rep.sealed, 3);
    assert_int_equal(rep.pushed, 3);
    assert_int_equal(rep.records, 5);
    assert_int_equal(rep.outcomes[OUTCOME_ACCEPTED], 5);
    assert_int_equal(rep.pages, 1);
    assert_int_equal(f->hub.enrols, 1);
    assert_int_equal(f->hub.nposted, 3);
    assert_all_acked(f, 3, 5);

    /* enrolment pinned the hub's key and forgot the token */
    struct store_identity id;
    struct dti_err e = {0};
    EXPECT_CODE(store_identity(f->st, &id, &e), &e, 0);
    assert_true(id.enrolled);
    assert_memory_equal(id.hub_pub, f->hub.pub, 32);
    assert_false(id.has_token);
    assert_string_equal(f->hub.agent_id, f->id.agent_id);

    /* the office clock moved past the hub's */
    uint64_t h;
    EXPECT_CODE(store_tick(f->st, T0, &h, &e), &e, 0);
    assert_true(h > f->hub.hlc);

    /* nothing new: nothing sent, no second enrolment */
    size_t calls = f->hub.calls;
    sync_ok(f, 2, &rep);
    assert_int_equal(rep.sealed, 0);
    assert_int_equal(rep.pushed, 0);
    assert_int_equal(f->hub.nposted, 3);
    assert_int_equal(f->hub.enrols, 1);
    assert_int_equal(f->hub.calls, calls + 1); /* the pull only */

    /* more edits later: the chain continues */
    record_n(f, 5, 3, T0 + 100);
    sync_ok(f, 2, &rep);
    assert_int_equal(rep.pushed, 2);
    assert_all_acked(f, 5, 8);
}

/* Enrolment on its own: a wrong token is a final error that keeps the token;
 * a good answer pins the hub and takes in its clock even when nothing after
 * it gets through. */
static void test_enrol(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    record_n(f, 0, 1, T0);
    uint8_t good = h->token[0];
    h->token[0] ^= 0xff; /* the hub knows another token */
    struct sync_report rep;
    struct dti_err e = {0};
    int r = sync_once(f, 10, &rep, &e);
    EXPECT_CODE(r, &e, DTI_ETOKEN);
    assert_false(dti_transient(r));
    struct store_identity id;
    struct dti_err ie = {0};
    EXPECT_CODE(store_identity(f->st, &id, &ie), &ie, 0);
    assert_false(id.enrolled);
    assert_true(id.has_token);
    assert_int_equal(h->nposted, 0);

    h->token[0] = good;
    h->hlc += hlc_make(60000, 0); /* a minute later on the hub */
    h->fail_skip = 1;             /* the enrolment gets through, the push does not */
    h->fail_n = 1;
    r = sync_once(f, 10, &rep, &e);
    EXPECT_CODE(r, &e, DTI_EUNREACHABLE);
    EXPECT_CODE(store_identity(f->st, &id, &ie), &ie, 0);
    assert_true(id.enrolled);
    assert_memory_equal(id.hub_pub, h->pub, CRYPTO_PUBKEY_LEN);
    assert_false(id.has_token);
    assert_int_equal(h->enrols, 1);
    uint64_t tick;
    EXPECT_CODE(store_tick(f->st, T0, &tick, &ie), &ie, 0);
    assert_true(tick > h->hlc); /* the hub's clock, a day ahead, came with the answer */
    assert_int_equal(oldest_unacked(f), 1);

    sync_ok(f, 10, &rep);
    assert_int_equal(h->enrols, 1);
    assert_all_acked(f, 1, 1);
}

static void test_unreachable_then_resume(void **state)
{
    struct fx *f = *state;
    record_n(f, 0, 6, T0);
    struct fake_hub *h = &f->hub;

    /* the link is down from the start: everything stays, sealed */
    h->fail_n = 1;
    struct sync_report rep;
    struct dti_err e = {0};
    int r = sync_once(f, 2, &rep, &e);
    EXPECT_CODE(r, &e, DTI_EUNREACHABLE);
    assert_true(dti_transient(r));
    struct store_status s = status(f);
    assert_int_equal(s.pending_records, 6);
    assert_int_equal(s.unsealed_records, 0);
    assert_int_equal(s.pending_batches, 3);
    assert_int_equal(s.acked_batches, 0);
    assert_int_equal(h->nposted, 0);

    /* enrolment and batch 1 go through; the link breaks after the hub applied
     * batch 2 but before its receipt arrived */
    h->fail_skip = 2;
    h->fail_n = 1;
    h->fail_after = true;
    r = sync_once(f, 2, &rep, &e);
    EXPECT_CODE(r, &e, DTI_EUNREACHABLE);
    assert_true(dti_transient(r));
    assert_int_equal(rep.pushed, 1);
    assert_int_equal(h->applied[1], 1);
    assert_int_equal(h->applied[2], 1);
    assert_int_equal(h->applied[3], 0);
    s = status(f);
    assert_int_equal(s.pending_records, 4);
    assert_int_equal(s.pending_batches, 2);
    assert_int_equal(s.acked_batches, 1);
    assert_int_equal(oldest_unacked(f), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE state = 'pending'"), 4);

    /* the agent is killed and restarted in between */
    store_close(f->st);
    f->st = NULL;
    e = (struct dti_err){0};
    EXPECT_CODE(store_open(&f->st, f->dir, &e), &e, 0);

    sync_ok(f, 2, &rep);
    assert_int_equal(rep.sealed, 0);
    assert_int_equal(rep.pushed, 2);
    assert_int_equal(rep.records, 4);
    assert_all_acked(f, 3, 6); /* batch 2 was replayed, not applied twice */
    assert_int_equal(h->enrols, 1);
    const uint64_t want[] = {1, 2, 2, 3};
    assert_int_equal(h->nposted, ARRAY_SIZE(want));
    assert_memory_equal(h->posted, want, sizeof(want));

    /* a pull that breaks: pushes are kept, the cursor stays, the next sync pulls */
    struct page_script pages[1] = {{.after = 0, .next = 3, .n = 1}};
    pages[0].items[0] = (struct change){.unit = UNIT,
                                        .element = "hub.x",
                                        .period = "2023",
                                        .value = {.kind = VALUE_NUMBER, .num = 42},
                                        .hlc = hlc_make(T0, 1),
                                        .origin = ORIGIN_HUB,
                                        .author = "",
                                        .comment = ""};
    h->pages = pages;
    h->npages = 1;
    record_n(f, 6, 1, T0 + 10);
    h->fail_skip = 1; /* the push */
    h->fail_n = 1;
    h->fail_after = false;
    r = sync_once(f, 2, &rep, &e);
    EXPECT_CODE(r, &e, DTI_EUNREACHABLE);
    assert_int_equal(rep.pushed, 1);
    assert_int_equal(cursor_of(f), 0);
    sync_ok(f, 2, &rep);
    assert_int_equal(rep.applied, 1);
    assert_int_equal(cursor_of(f), 3);
    assert_all_acked(f, 4, 7);
    h->pages = NULL;
    h->npages = 0;
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    enrol(f);
    record_n(f, 0, 2, T0);
    struct sync_report rep;
    struct dti_err e = {0};
    struct {
        long status;
        const char *reason;
        int want;
        bool transient;
    } cases[] = {
        {503, "unavailable", DTI_EUNAVAILABLE, true},
        {500, "database_error", DTI_EUNAVAILABLE, true}, /* a 5xx is always "later" */
        {403, "revoked", DTI_EREVOKED, false},
        {400, "out_of_scope", DTI_ESCOPE, false},
        {409, "sequence_gap", DTI_EGAP, false}, /* no expected sequence given */
        {418, "no_such_reason", DTI_EPROTO, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        h->prob_n = 1;
        h->prob_status = cases[i].status;
        h->prob_reason = cases[i].reason;
        h->prob_expected = 0;
        int r = sync_once(f, 10, &rep, &e);
        if (r != cases[i].want)
            print_error("case %zu (%ld %s)\n", i, cases[i].status, cases[i].reason);
        EXPECT_CODE(r, &e, cases[i].want);
        assert_int_equal(dti_transient(r), cases[i].transient);
        assert_non_null(strstr(e.msg, cases[i].reason));
        assert_int_equal(oldest_unacked(f), 1);
        assert_int_equal(status(f).pending_records, 2);
        assert_int_equal(h->applied[1], 0);
    }
    sync_ok(f, 10, &rep);
    assert_all_acked(f, 1, 2);
}

static void test_wrong_key_receipt(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    enrol(f);
    record_n(f, 0, 2, T0);
    h->rc_mode = RC_WRONG_KEY;
    struct sync_report rep;
    struct dti_err e = {0};
    EXPECT_CODE(sync_once(f, 10, &rep, &e), &e, DTI_EBADSIG);
    assert_int_equal(rep.pushed, 0);
    assert_int_equal(oldest_unacked(f), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM batches WHERE receipt IS NOT NULL"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE batch = 1"), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE state = 'pending'"), 2);
    assert_int_equal(h->applied[1], 1);

    /* the hub's real receipt comes with the replay */
    h->rc_mode = RC_GOOD;
    sync_ok(f, 10, &rep);
    assert_int_equal(rep.pushed, 1);
    assert_all_acked(f, 1, 2);
}

static void test_mismatched_receipt(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    enrol(f);
    record_n(f, 0, 3, T0);
    const enum rc_mode modes[] = {RC_OTHER_SEQ, RC_OTHER_HASH, RC_OTHER_AGENT};
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        h->rc_mode = modes[i];
        struct sync_report rep;
        struct dti_err e = {0};
        int r = sync_once(f, 10, &rep, &e);
        if (r != DTI_EPROTO)
            print_error("mode %d\n", (int)modes[i]);
        EXPECT_CODE(r, &e, DTI_EPROTO);
        assert_int_equal(rep.pushed, 0);
        assert_int_equal(oldest_unacked(f), 1);
        assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE batch = 1"), 3);
        assert_int_equal(q_int(f, "SELECT count(*) FROM batches WHERE receipt IS NOT NULL"), 0);
    }
    h->rc_mode = RC_GOOD;
    struct sync_report rep;
    sync_ok(f, 10, &rep);
    assert_all_acked(f, 1, 3);
}

static void test_gap_resend_held_batch(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    enrol(f);
    record_n(f, 0, 6, T0);
    /* batch 1 is answered "I expect 3": the agent still holds 3 and sends it;
     * the hub then says (truly) it expects 1; the agent goes back and carries on */
    h->prob_n = 1;
    h->prob_status = 409;
    h->prob_reason = "sequence_gap";
    h->prob_expected = 3;
    struct sync_report rep;
    sync_ok(f, 2, &rep);
    assert_int_equal(rep.pushed, 3);
    const uint64_t want[] = {1, 3, 1, 2, 3};
    assert_int_equal(h->nposted, ARRAY_SIZE(want));
    assert_memory_equal(h->posted, want, sizeof(want));
    assert_all_acked(f, 3, 6);
}

static void test_gap_not_held(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    enrol(f);
    record_n(f, 0, 1, T0);
    struct sync_report rep;
    sync_ok(f, 10, &rep);
    assert_all_acked(f, 1, 1);

    /* the hub lost batch 1 (say, restored from a backup): it is acknowledged
     * here and its edits retired, so the agent cannot resend it */
    record_n(f, 1, 1, T0 + 10);
    h->prob_n = 1;
    h->prob_status = 409;
    h->prob_reason = "sequence_gap";
    h->prob_expected = 1;
    struct dti_err e = {0};
    EXPECT_CODE(sync_once(f, 10, &rep, &e), &e, DTI_EGAP);
    assert_false(dti_transient(DTI_EGAP));
    assert_non_null(strstr(e.msg, "batch 1"));
    assert_int_equal(oldest_unacked(f), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE batch = 2"), 1);
    assert_int_equal(h->applied[2], 0);
    const uint64_t want[] = {1, 2};
    assert_int_equal(h->nposted, ARRAY_SIZE(want));
    assert_memory_equal(h->posted, want, sizeof(want));

    /* a hub that keeps answering "gap" does not keep the agent looping */
    h->prob_n = 100;
    h->prob_expected = 2;
    size_t posted = h->nposted;
    EXPECT_CODE(sync_once(f, 10, &rep, &e), &e, DTI_EGAP);
    assert_true(h->nposted - posted <= 4);
    assert_int_equal(oldest_unacked(f), 2);
    h->prob_n = 0;
    sync_ok(f, 10, &rep);
    assert_all_acked(f, 2, 2);
}

static struct change hub_change(const char *element, double v, uint64_t hlc)
{
    struct change c = {0};
    c.unit = UNIT;
    c.element = element;
    c.period = "2023";
    c.value.kind = VALUE_NUMBER;
    c.value.num = v;
    c.hlc = hlc;
    c.origin = ORIGIN_HUB;
    c.author = "";
    c.comment = "";
    return c;
}

static void test_pull_pages(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    struct page_script pages[4] = {
        {.after = 0, .next = 5, .more = true, .n = 2},
        {.after = 5, .next = 9, .more = true, .n = 2},
        {.after = 9, .next = 12, .more = false, .n = 1},
        {.after = 12, .next = 20, .more = false, .n = 1}, /* not asked for yet */
    };
    pages[0].items[0] = hub_change("p1", 1, hlc_make(T0, 1));
    pages[0].items[1] = hub_change("p2", 2, hlc_make(T0, 2));
    pages[1].items[0] = hub_change("p3", 3, hlc_make(T0, 3));
    pages[1].items[1] = hub_change("p1", 11, hlc_make(T0, 4)); /* a later value of p1 */
    pages[2].items[0] = hub_change("p4", 4, hlc_make(T0, 5));
    pages[3].items[0] = hub_change("p5", 5, hlc_make(T0, 6));
    h->pages = pages;
    h->npages = 4;

    struct sync_report rep;
    sync_ok(f, 10, &rep);
    assert_int_equal(rep.pages, 3);
    assert_int_equal(rep.applied, 5);
    assert_int_equal(rep.flagged, 0);
    assert_int_equal(h->gets, 3);
    assert_int_equal(cursor_of(f), 12);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE state = 'synced'"), 4);
    assert_int_equal(q_int(f, "SELECT num FROM vals WHERE element = 'p1'"), 11);
    assert_int_equal(q_int(f, "SELECT num FROM vals WHERE element = 'p4'"), 4);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE element = 'p5'"), 0);

    /* the next sync takes up from the cursor */
    sync_ok(f, 10, &rep);
    assert_int_equal(rep.pages, 1);
    assert_int_equal(h->gets, 4);
    assert_int_equal(cursor_of(f), 20);
    assert_int_equal(q_int(f, "SELECT num FROM vals WHERE element = 'p5'"), 5);

    /* "more" with a cursor that does not advance stops instead of looping */
    struct page_script stuck[1] = {{.after = 20, .next = 20, .more = true}};
    h->pages = stuck;
    h->npages = 1;
    sync_ok(f, 10, &rep);
    assert_int_equal(h->gets, 5);
    h->pages = NULL;
    h->npages = 0;
}

static void test_pull_wrong_key(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    struct page_script pages[2] = {
        {.after = 0, .next = 5, .more = true, .n = 1},
        {.after = 5, .next = 9, .more = false, .n = 1, .wrong_key = true},
    };
    pages[0].items[0] = hub_change("good", 1, hlc_make(T0, 1));
    pages[1].items[0] = hub_change("forged", 666, hlc_make(T0, 2));
    h->pages = pages;
    h->npages = 2;
    record_n(f, 0, 1, T0);

    struct sync_report rep;
    struct dti_err e = {0};
    EXPECT_CODE(sync_once(f, 10, &rep, &e), &e, DTI_EBADSIG);
    assert_int_equal(rep.pushed, 1); /* the push was done and kept */
    assert_int_equal(rep.pages, 1);
    assert_int_equal(cursor_of(f), 5);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE element = 'good'"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE element = 'forged'"), 0);

    /* again: the same refusal, the cursor still does not move */
    EXPECT_CODE(sync_once(f, 10, &rep, &e), &e, DTI_EBADSIG);
    assert_int_equal(cursor_of(f), 5);

    /* the hub's real page */
    pages[1].wrong_key = false;
    sync_ok(f, 10, &rep);
    assert_int_equal(cursor_of(f), 9);
    assert_int_equal(q_int(f, "SELECT num FROM vals WHERE element = 'forged'"), 666);
    assert_all_acked(f, 1, 1);
    h->pages = NULL;
    h->npages = 0;
}

/* A page that answers another request (another cursor, another agent) is
 * refused like a forged one. */
static void test_pull_page_for_another_request(void **state)
{
    struct fx *f = *state;
    struct fake_hub *h = &f->hub;
    struct page_script pages[2] = {
        {.after = 0, .next = 5, .more = true, .n = 1},
        {.after = 5, .next = 9, .more = false, .n = 1, .lie_after = 4},
    };
    enrol(f); /* no pages yet */
    pages[0].items[0] = hub_change("good", 1, hlc_make(T0, 1));
    pages[1].items[0] = hub_change("odd", 2, hlc_make(T0, 2));
    h->pages = pages;
    h->npages = 2;
    struct sync_report rep;
    struct dti_err e = {0};
    EXPECT_CODE(sync_once(f, 10, &rep, &e), &e, DTI_EPROTO);
    assert_int_equal(rep.pages, 1);
    assert_int_equal(cursor_of(f), 5);
    pages[1].lie_after = 0;
    pages[1].other_agent = true;
    EXPECT_CODE(sync_once(f, 10, &rep, &e), &e, DTI_EPROTO);
    assert_int_equal(cursor_of(f), 5);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE element = 'odd'"), 0);
    pages[1].other_agent = false;
    sync_ok(f, 10, &rep);
    assert_int_equal(cursor_of(f), 9);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE element = 'odd'"), 1);
    h->pages = NULL;
    h->npages = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enrol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_then_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_receipt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mismatched_receipt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_resend_held_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_not_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_page_for_another_request, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent/sync", tests, NULL, NULL);
}
