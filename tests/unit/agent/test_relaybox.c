/*
 * test_relaybox.c - unit tests of agent/relaybox.c: what a district relay
 * says about an envelope offered to it (held, held again, the hub's receipt,
 * the hub's refusal, another batch under the same sequence, full), and
 * forwarding against a fake hub behind the transport seam: receipts verified
 * with the district's pinned hub key and stored byte for byte, refusals kept
 * for the commune, gaps left held, transient failures stopping with
 * everything held, and every batch sent at most once per forward.
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
#include "crypto.h"
#include "enroll.h"
#include "envelope.h"
#include "err.h"
#include "hlc.h"
#include "problem.h"
#include "receipt.h"
#include "relaybox.h"
#include "store.h"
#include "transport.h"
#include "util.h"

#define DISTRICT "582"
#define COMMUNE "22750"
#define T0 UINT64_C(1700000000000)
#define MAX_POSTS 32

/* the fake hub: answers each post from a script, or with a good receipt */
enum answer { ANS_RECEIPT, ANS_WRONG_KEY, ANS_OTHER_SEQ, ANS_REFUSE, ANS_GAP, ANS_BUSY, ANS_DOWN };

struct fx {
    char tmp[64];
    struct store *st;
    struct signer *hub, *wrong, *commune;
    uint8_t hub_pub[CRYPTO_PUBKEY_LEN];
    char commune_id[AGENT_ID_LEN + 1];
    struct transport t;
    enum answer script[MAX_POSTS];
    size_t nscript;
    uint64_t posted[MAX_POSTS]; /* seq of every envelope that reached the hub */
    size_t nposted;
    struct buf env[8]; /* the commune's batches 1..7, chained */
    uint8_t hash[8][CRYPTO_SHA256_LEN];
};

static int hub_post(void *ctx, const char *path, const void *body, size_t len,
                    struct response *resp, struct dti_err *e)
{
    struct fx *f = ctx;
    struct envelope *env = NULL;
    assert_string_equal(path, "/v1/batches");
    assert_int_equal(envelope_parse(body, len, &env, e), 0);
    const struct batch_header *h = envelope_header(env);
    enum answer a = f->nposted < f->nscript ? f->script[f->nposted] : ANS_RECEIPT;
    assert_true(f->nposted < MAX_POSTS);
    f->posted[f->nposted++] = h->seq;
    buf_init(&resp->body, TRANSPORT_MAX_RESPONSE);
    int r = 0;
    if (a == ANS_DOWN) {
        r = dti_errf(e, DTI_EUNREACHABLE, "fake hub down");
        buf_release(&resp->body);
    } else if (a == ANS_REFUSE || a == ANS_GAP || a == ANS_BUSY) {
        struct problem p = {0};
        const char *reason = a == ANS_REFUSE ? "bad_signature"
                             : a == ANS_GAP  ? "sequence_gap"
                                             : "busy";
        snprintf(p.reason, sizeof(p.reason), "%s", reason);
        snprintf(p.message, sizeof(p.message), "fake hub says %s", reason);
        assert_int_equal(problem_encode(&p, &resp->body), 0);
        resp->status = a == ANS_REFUSE ? 401 : a == ANS_GAP ? 409 : 503;
    } else {
        struct receipt rc = {0};
        uint8_t outcome = OUTCOME_ACCEPTED;
        memcpy(rc.agent_id, h->agent_id, sizeof(rc.agent_id));
        rc.seq = h->seq + (a == ANS_OTHER_SEQ);
        memcpy(rc.batch_hash, envelope_hash(env), CRYPTO_SHA256_LEN);
        rc.hub_hlc = hlc_make(T0, 0);
        rc.n = 1;
        rc.outcomes = &outcome;
        assert_int_equal(receipt_seal(&rc, a == ANS_WRONG_KEY ? f->wrong : f->hub, &resp->body, e),
                         0);
        resp->status = 200;
    }
    envelope_free(env);
    return r;
}

static int hub_get(void *ctx, const char *path, const char *const *headers, struct response *resp,
                   struct dti_err *e)
{
    fail_msg("the relay box never pulls");
    return DTI_EINVAL;
}

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

/* The commune's batch seq (one record, x = seq, unit u), chained on seq - 1. */
static void seal_batch(struct fx *f, uint64_t seq, const char *u)
{
    struct record rec = {.unit = u,
                         .element = "x",
                         .period = "2023",
                         .value = {.kind = VALUE_NUMBER, .num = (double)seq},
                         .hlc = hlc_make(T0 + seq, 0),
                         .base_origin = "",
                         .author = "",
                         .comment = ""};
    struct batch_header h = {0};
    struct batch_builder *b;
    struct dti_err e = {0};
    memcpy(h.agent_id, f->commune_id, sizeof(h.agent_id));
    h.seq = seq;
    h.has_prev = seq > 1;
    if (seq > 1)
        memcpy(h.prev_hash, f->hash[seq - 1], CRYPTO_SHA256_LEN);
    h.hlc = hlc_make(T0 + seq, 0);
    batch_builder_new(&b);
    batch_builder_add(b, &rec);
    buf_release(&f->env[seq]);
    buf_init(&f->env[seq], ENVELOPE_MAX);
    assert_int_equal(batch_builder_seal(b, &h, f->commune, &f->env[seq], f->hash[seq], &e), 0);
    batch_builder_free(b);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct store_identity id = {0};
    struct dti_err e = {0};
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/dti-agent-relaybox-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    if (signer_generate(&f->hub) < 0 || signer_generate(&f->wrong) < 0 ||
        signer_generate(&f->commune) < 0)
        return -1;
    signer_public(f->hub, f->hub_pub);
    signer_public(f->commune, pub);
    enroll_agent_id(pub, f->commune_id);
    /* the district agent, enrolled: scope 582 and its communes */
    struct signer *dk;
    if (signer_generate(&dk) < 0)
        return -1;
    signer_public(dk, pub);
    enroll_agent_id(pub, id.agent_id);
    signer_free(dk);
    snprintf(id.unit, sizeof(id.unit), "%s", DISTRICT);
    snprintf(id.hub_url, sizeof(id.hub_url), "https://127.0.0.1:1");
    memset(id.fingerprint, '0', CRYPTO_FP_HEX_LEN);
    char scope[3][UNIT_CODE_MAX + 1] = {DISTRICT, COMMUNE, "22738"};
    char *dir = path_join(f->tmp, "district");
    int r = store_create(&f->st, dir, &id, &e);
    free(dir);
    if (r < 0 || store_enrolled(f->st, f->hub_pub, scope, NULL, 3, 1, &e) < 0) {
        print_error("district store: %s\n", e.msg);
        return -1;
    }
    for (uint64_t s = 1; s <= 7; s++)
        seal_batch(f, s, COMMUNE);
    f->t.post = hub_post;
    f->t.get = hub_get;
    f->t.ctx = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    rm_tree(f->tmp);
    for (size_t i = 0; i < 8; i++)
        buf_release(&f->env[i]);
    signer_free(f->hub);
    signer_free(f->wrong);
    signer_free(f->commune);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static enum relaybox_fate offer(struct fx *f, uint64_t seq, struct buf *answer)
{
    struct relaybox_answer ans;
    struct dti_err e = {0};
    int r = relaybox_offer(f->st, f->commune_id, seq, f->hash[seq], f->env[seq].data,
                           f->env[seq].len, T0, &ans, &e);
    if (r != 0)
        fail_msg("relaybox_offer(%" PRIu64 "): %s: %s", seq, dti_strname(r), e.msg);
    if (answer) {
        buf_reset(answer);
        assert_int_equal(buf_append(answer, ans.body.data, ans.body.len), 0);
    }
    enum relaybox_fate fate = ans.fate;
    buf_release(&ans.body);
    return fate;
}

static uint64_t count(struct fx *f, const char *where)
{
    char *sql = xasprintf("SELECT count(*) FROM relayed WHERE %s", where);
    sqlite3_stmt *s = NULL;
    uint64_t n = 0;
    assert_int_equal(sqlite3_prepare_v2(store_db(f->st), sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    free(sql);
    return n;
}

static int forward(struct fx *f, struct relaybox_report *rep, struct dti_err *e)
{
    return relaybox_forward(f->st, f->hub_pub, &f->t, T0 + 1000, rep, e);
}

static void script(struct fx *f, size_t n, const enum answer *a)
{
    if (n)
        memcpy(f->script, a, n * sizeof(*a));
    f->nscript = n;
    f->nposted = 0;
}

/* ---- tests ---- */

static void test_hold_then_receipt(void **state)
{
    struct fx *f = *state;
    struct relaybox_report rep;
    struct dti_err e = {0};
    struct buf answer;
    buf_init(&answer, BUF_UNLIMITED);
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_HELD);
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_HELD); /* a resend is not stored twice */
    assert_int_equal(offer(f, 2, NULL), RELAYBOX_HELD);
    assert_int_equal(count(f, "1"), 2);
    /* the envelope is held byte for byte */
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(f->st),
                                        "SELECT envelope FROM relayed WHERE seq = 1", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(s, 0), f->env[1].len);
    assert_memory_equal(sqlite3_column_blob(s, 0), f->env[1].data, f->env[1].len);
    sqlite3_finalize(s);

    assert_int_equal(forward(f, &rep, &e), 0);
    assert_int_equal(f->nposted, 2);
    assert_int_equal(f->posted[0], 1); /* in sequence order */
    assert_int_equal(f->posted[1], 2);
    assert_int_equal(rep.forwarded, 2);
    assert_int_equal(rep.agents, 1);
    assert_int_equal(rep.refused, 0);

    /* the commune's resend now gets the hub's receipt, which verifies with the hub key */
    assert_int_equal(offer(f, 1, &answer), RELAYBOX_RECEIPT);
    struct receipt rc = {0};
    assert_int_equal(receipt_open(answer.data, answer.len, f->hub_pub, &rc, &e), 0);
    assert_string_equal(rc.agent_id, f->commune_id);
    assert_int_equal(rc.seq, 1);
    assert_memory_equal(rc.batch_hash, f->hash[1], CRYPTO_SHA256_LEN);
    receipt_release(&rc);

    /* forwarded exactly once */
    f->nposted = 0;
    assert_int_equal(forward(f, &rep, &e), 0);
    assert_int_equal(f->nposted, 0);
    assert_int_equal(rep.forwarded, 0);
    buf_release(&answer);
}

static void test_other_batch_same_seq(void **state)
{
    struct fx *f = *state;
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_HELD);
    /* a different batch 1 (another hash) while the first is held: broken chain */
    uint8_t keep[CRYPTO_SHA256_LEN];
    memcpy(keep, f->hash[1], sizeof(keep));
    seal_batch(f, 1, "22738");
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_CONFLICT);
    assert_int_equal(count(f, "1"), 1);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(f->st), "SELECT hash FROM relayed", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_memory_equal(sqlite3_column_blob(s, 0), keep, CRYPTO_SHA256_LEN);
    sqlite3_finalize(s);
}

static void test_refusal_kept_for_the_commune(void **state)
{
    struct fx *f = *state;
    struct relaybox_report rep;
    struct dti_err e = {0};
    struct buf answer;
    buf_init(&answer, BUF_UNLIMITED);
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_HELD);
    script(f, 1, (enum answer[]){ANS_REFUSE});
    assert_int_equal(forward(f, &rep, &e), 0);
    assert_int_equal(rep.refused, 1);
    assert_int_equal(rep.forwarded, 0);
    assert_int_equal(count(f, "problem IS NOT NULL AND status = 401"), 1);

    struct relaybox_answer ans;
    assert_int_equal(relaybox_offer(f->st, f->commune_id, 1, f->hash[1], f->env[1].data,
                                    f->env[1].len, T0, &ans, &e),
                     0);
    assert_int_equal(ans.fate, RELAYBOX_REFUSED);
    assert_int_equal(ans.status, 401);
    struct problem pb;
    assert_int_equal(problem_decode(ans.body.data, ans.body.len, &pb), 0);
    assert_string_equal(pb.reason, "bad_signature");
    assert_string_equal(pb.message, "fake hub says bad_signature");
    buf_release(&ans.body);

    /* a refused batch is final: not forwarded again */
    f->nposted = 0;
    f->nscript = 0;
    assert_int_equal(forward(f, &rep, &e), 0);
    assert_int_equal(f->nposted, 0);

    /* another batch under the refused sequence takes its place (the refused one never
     * counted) and is held for forwarding */
    seal_batch(f, 1, "22738");
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_HELD);
    assert_int_equal(count(f, "problem IS NULL AND receipt IS NULL"), 1);
    buf_release(&answer);
}

static void test_transient_stops_everything_held(void **state)
{
    struct fx *f = *state;
    struct relaybox_report rep;
    struct dti_err e = {0};
    for (uint64_t s = 1; s <= 3; s++)
        assert_int_equal(offer(f, s, NULL), RELAYBOX_HELD);

    script(f, 1, (enum answer[]){ANS_DOWN});
    int r = forward(f, &rep, &e);
    assert_int_equal(r, DTI_EUNREACHABLE);
    assert_int_equal(f->nposted, 1);
    assert_int_equal(count(f, "receipt IS NULL AND problem IS NULL"), 3);

    dti_err_clear(&e);
    script(f, 2, (enum answer[]){ANS_RECEIPT, ANS_BUSY});
    r = forward(f, &rep, &e);
    assert_true(dti_transient(r));
    assert_int_equal(rep.forwarded, 1);
    assert_int_equal(f->nposted, 2);
    assert_int_equal(count(f, "receipt IS NULL AND problem IS NULL"), 2);

    dti_err_clear(&e);
    script(f, 0, NULL);
    assert_int_equal(forward(f, &rep, &e), 0);
    assert_int_equal(rep.forwarded, 2);
    assert_int_equal(f->nposted, 2);
    assert_int_equal(f->posted[0], 2);
    assert_int_equal(f->posted[1], 3);
    assert_int_equal(count(f, "receipt IS NOT NULL"), 3);
}

static void test_bad_receipt_not_stored(void **state)
{
    struct fx *f = *state;
    struct relaybox_report rep;
    struct dti_err e = {0};
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_HELD);
    script(f, 1, (enum answer[]){ANS_WRONG_KEY});
    assert_int_equal(forward(f, &rep, &e), DTI_EBADSIG);
    assert_int_equal(count(f, "receipt IS NULL AND problem IS NULL"), 1);

    dti_err_clear(&e);
    script(f, 1, (enum answer[]){ANS_OTHER_SEQ});
    assert_int_equal(forward(f, &rep, &e), DTI_EPROTO);
    assert_non_null(strstr(e.msg, "names another batch"));
    assert_int_equal(count(f, "receipt IS NULL AND problem IS NULL"), 1);
}

static void test_gap_left_held(void **state)
{
    struct fx *f = *state;
    struct relaybox_report rep;
    struct dti_err e = {0};
    assert_int_equal(offer(f, 3, NULL), RELAYBOX_HELD);
    script(f, 1, (enum answer[]){ANS_GAP});
    assert_int_equal(forward(f, &rep, &e), 0);
    assert_int_equal(rep.waiting, 1);
    assert_int_equal(rep.refused, 0);
    assert_int_equal(count(f, "receipt IS NULL AND problem IS NULL"), 1);
    /* batches 1 and 2 arrive: all three go, in order */
    assert_int_equal(offer(f, 1, NULL), RELAYBOX_HELD);
    assert_int_equal(offer(f, 2, NULL), RELAYBOX_HELD);
    script(f, 0, NULL);
    assert_int_equal(forward(f, &rep, &e), 0);
    assert_int_equal(rep.forwarded, 3);
    assert_int_equal(f->posted[0], 1);
    assert_int_equal(f->posted[1], 2);
    assert_int_equal(f->posted[2], 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hold_then_receipt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_batch_same_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_kept_for_the_commune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_stops_everything_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_receipt_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_left_held, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
