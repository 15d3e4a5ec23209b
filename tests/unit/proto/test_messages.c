/*
 * test_messages.c - unit tests for the hub's signed answers and the refusal
 * body (proto/receipt.c, enroll.c, changes.c, problem.c, hubsigned.c):
 * round trips, the wrong key, tampering at every bit and truncation at every
 * length, and each validation rule at and one past its bound. Hostile bodies
 * are built with the generated protobuf-c API and signed with a real hub key,
 * so only the rule under test can refuse them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "changes.h"
#include "crypto.h"
#include "enroll.h"
#include "envelope.h"
#include "err.h"
#include "hubsigned.h"
#include "problem.h"
#include "receipt.h"
#include "util.h"
#include "value.h"

#include "dtisync.pb-c.h"

#define HLC0 (UINT64_C(1700000000000) << 16)
#define AGENT "0123456789abcdef"
#define VI_TEXT "Nhận thức số"

struct fx {
    struct signer *hub, *agent, *other;
    uint8_t hub_pub[CRYPTO_PUBKEY_LEN], agent_pub[CRYPTO_PUBKEY_LEN], other_pub[CRYPTO_PUBKEY_LEN];
};

static int group_setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    if (signer_generate(&f->hub) < 0 || signer_generate(&f->agent) < 0 ||
        signer_generate(&f->other) < 0)
        return -1;
    signer_public(f->hub, f->hub_pub);
    signer_public(f->agent, f->agent_pub);
    signer_public(f->other, f->other_pub);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    signer_free(f->hub);
    signer_free(f->agent);
    signer_free(f->other);
    free(f);
    return 0;
}

/* A copy in an exact-size heap block, so ASan sees any read past the end. */
static void *dup_bytes(const void *p, size_t n)
{
    void *q = xmalloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}

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

/* An unknown field (number 15, length-delimited) of pad bytes, so that b is
 * exactly total bytes long: parsers skip it. */
static void pad_to(struct buf *b, size_t total)
{
    size_t room = total - b->len - 1;
    size_t vlen = 1;
    while (vlen < 10 && (room - vlen) >= ((size_t)1 << (7 * vlen)))
        vlen++;
    size_t pad = room - vlen;
    uint8_t tag = (15 << 3) | 2;
    assert_int_equal(buf_append(b, &tag, 1), 0);
    for (size_t v = pad, k = 0; k < vlen; k++, v >>= 7) {
        uint8_t byte = (uint8_t)((v & 0x7f) | (k + 1 < vlen ? 0x80 : 0));
        assert_int_equal(buf_append(b, &byte, 1), 0);
    }
    assert_int_equal(buf_reserve(b, pad), 0);
    memset(b->data + b->len, 'x', pad);
    b->len += pad;
    assert_int_equal(b->len, total);
}

/* ---- receipts ---- */

static void receipt_sample(struct receipt *rc, uint8_t *outcomes, struct receipt_reject *rejects)
{
    static const uint8_t oc[] = {OUTCOME_ACCEPTED, OUTCOME_DUPLICATE, OUTCOME_SUPERSEDED,
                                 OUTCOME_CONFLICT, OUTCOME_REJECTED,  OUTCOME_AMENDMENT,
                                 OUTCOME_REJECTED};
    memset(rc, 0, sizeof(*rc));
    memcpy(rc->agent_id, AGENT, sizeof(rc->agent_id));
    rc->seq = 42;
    for (size_t i = 0; i < CRYPTO_SHA256_LEN; i++)
        rc->batch_hash[i] = (uint8_t)(i * 7 + 1);
    rc->hub_hlc = HLC0 + 99;
    rc->received_ms = UINT64_C(1700000000123);
    memcpy(outcomes, oc, sizeof(oc));
    rc->n = sizeof(oc);
    rc->outcomes = outcomes;
    memset(rejects, 0, 2 * sizeof(*rejects));
    rejects[0].index = 4;
    snprintf(rejects[0].reason, sizeof(rejects[0].reason), "%s", dti_reason(DTI_EVALUE));
    snprintf(rejects[0].message, sizeof(rejects[0].message), "giá trị không hợp lệ");
    rejects[1].index = 6;
    snprintf(rejects[1].reason, sizeof(rejects[1].reason), "%s", dti_reason(DTI_ESCOPE));
    snprintf(rejects[1].message, sizeof(rejects[1].message), "unit '01299' is out of scope");
    rc->nrejects = 2;
    rc->rejects = rejects;
}

static void check_receipt(const struct receipt *got, const struct receipt *want)
{
    assert_string_equal(got->agent_id, want->agent_id);
    assert_int_equal(got->seq, want->seq);
    assert_memory_equal(got->batch_hash, want->batch_hash, CRYPTO_SHA256_LEN);
    assert_int_equal(got->hub_hlc, want->hub_hlc);
    assert_int_equal(got->received_ms, want->received_ms);
    assert_int_equal(got->n, want->n);
    assert_memory_equal(got->outcomes, want->outcomes, want->n);
    assert_int_equal(got->nrejects, want->nrejects);
    for (size_t i = 0; i < want->nrejects; i++) {
        assert_int_equal(got->rejects[i].index, want->rejects[i].index);
        assert_string_equal(got->rejects[i].reason, want->rejects[i].reason);
        assert_string_equal(got->rejects[i].message, want->rejects[i].message);
    }
}

static void assert_receipt_empty(const struct receipt *rc)
{
    assert_null(rc->outcomes);
    assert_null(rc->rejects);
    assert_int_equal(rc->n, 0);
    assert_int_equal(rc->nrejects, 0);
}

static void test_receipt_roundtrip(void **state)
{
    const struct fx *f = *state;
    struct receipt rc, got;
    uint8_t oc[8];
    struct receipt_reject rj[2];
    receipt_sample(&rc, oc, rj);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(receipt_seal(&rc, f->hub, &out, &e), 0);
    uint8_t *copy = dup_bytes(out.data, out.len);
    EXPECT_CODE(receipt_open(copy, out.len, f->hub_pub, &got, &e), &e, 0);
    check_receipt(&got, &rc);
    receipt_release(&got);
    assert_receipt_empty(&got);
    free(copy);

    /* no records, no rejects */
    rc.n = 0;
    rc.nrejects = 0;
    assert_int_equal(receipt_seal(&rc, f->hub, &out, &e), 0);
    EXPECT_CODE(receipt_open(out.data, out.len, f->hub_pub, &got, &e), &e, 0);
    check_receipt(&got, &rc);
    receipt_release(&got);
    buf_release(&out);
}

static void test_outcome_names(void **state)
{
    static const char *const names[] = {"accepted", "duplicate", "superseded",      "conflict",
                                        "rejected", "amendment", "conflict_current"};
    for (int i = 0; i < 7; i++)
        assert_string_equal(outcome_name(OUTCOME_ACCEPTED + i), names[i]);
    assert_string_equal(outcome_name(0), "unknown");
    assert_string_equal(outcome_name(8), "unknown");
}

static void test_receipt_wrong_key_and_tampering(void **state)
{
    const struct fx *f = *state;
    struct receipt rc, got;
    uint8_t oc[8];
    struct receipt_reject rj[2];
    receipt_sample(&rc, oc, rj);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(receipt_seal(&rc, f->hub, &out, &e), 0);

    EXPECT_CODE(receipt_open(out.data, out.len, f->other_pub, &got, &e), &e, DTI_EBADSIG);
    assert_receipt_empty(&got);
    /* signed by another key, opened with the hub's */
    struct buf forged;
    buf_init(&forged, BUF_UNLIMITED);
    assert_int_equal(receipt_seal(&rc, f->other, &forged, &e), 0);
    struct dti_err e2 = {0};
    EXPECT_CODE(receipt_open(forged.data, forged.len, f->hub_pub, &got, &e2), &e2, DTI_EBADSIG);
    buf_release(&forged);

    /* every one-bit flip is refused */
    for (size_t i = 0; i < out.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            out.data[i] ^= (unsigned char)(1u << bit);
            uint8_t *copy = dup_bytes(out.data, out.len);
            struct dti_err fe = {0};
            int r = receipt_open(copy, out.len, f->hub_pub, &got, &fe);
            if (r == 0 || fe.code != r || fe.msg[0] == '\0')
                print_error("byte %zu bit %d: %s '%s'\n", i, bit, dti_strname(r), fe.msg);
            assert_true(r == DTI_EPARSE || r == DTI_EBADSIG);
            assert_int_equal(fe.code, r);
            assert_true(fe.msg[0] != '\0');
            assert_receipt_empty(&got);
            free(copy);
            out.data[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* and every truncation */
    for (size_t len = 0; len < out.len; len++) {
        uint8_t *copy = dup_bytes(out.data, len);
        struct dti_err te = {0};
        int r = receipt_open(copy, len, f->hub_pub, &got, &te);
        if (r >= 0)
            print_error("truncated to %zu of %zu bytes: accepted\n", len, out.len);
        assert_true(r < 0);
        assert_int_equal(te.code, r);
        free(copy);
    }
    struct dti_err ok = {0};
    EXPECT_CODE(receipt_open(out.data, out.len, f->hub_pub, &got, &ok), &ok, 0);
    receipt_release(&got);
    buf_release(&out);
}

/* A ReceiptBody as the hub would send it, for the tests to spoil. */
struct rbody {
    Dti__V1__ReceiptBody m;
    uint8_t hash[CRYPTO_SHA256_LEN + 1];
    Dti__V1__Outcome oc[BATCH_MAX_RECORDS + 1];
    Dti__V1__RecordReject rj[4];
    Dti__V1__RecordReject *rjp[4];
};

static struct rbody *rbody_new(void)
{
    struct rbody *b = xcalloc(1, sizeof(*b));
    dti__v1__receipt_body__init(&b->m);
    b->m.agent_id = AGENT;
    b->m.seq = 3;
    memset(b->hash, 0x5a, sizeof(b->hash));
    b->m.batch_hash.data = b->hash;
    b->m.batch_hash.len = CRYPTO_SHA256_LEN;
    b->m.hub_hlc = HLC0;
    for (size_t i = 0; i < ARRAY_SIZE(b->oc); i++)
        b->oc[i] = DTI__V1__OUTCOME__ACCEPTED;
    b->oc[2] = DTI__V1__OUTCOME__REJECTED;
    b->m.outcomes = b->oc;
    b->m.n_outcomes = 3;
    for (size_t i = 0; i < ARRAY_SIZE(b->rj); i++) {
        dti__v1__record_reject__init(&b->rj[i]);
        b->rj[i].index = 2;
        b->rj[i].reason = "invalid_value";
        b->rj[i].message = "x";
        b->rjp[i] = &b->rj[i];
    }
    b->m.rejects = b->rjp;
    b->m.n_rejects = 1;
    return b;
}

static int rbody_open(const struct fx *f, const struct rbody *b, struct receipt *rc,
                      struct dti_err *e)
{
    size_t n = dti__v1__receipt_body__get_packed_size(&b->m);
    uint8_t *body = xmalloc(n);
    dti__v1__receipt_body__pack(&b->m, body);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    assert_int_equal(hubsigned_seal(body, n, f->hub, &out, e), 0);
    uint8_t *copy = dup_bytes(out.data, out.len);
    int r = receipt_open(copy, out.len, f->hub_pub, rc, e);
    free(copy);
    buf_release(&out);
    free(body);
    return r;
}

#define RBODY_EXPECT(b, want)                                                                      \
    do {                                                                                           \
        struct receipt rc_;                                                                        \
        struct dti_err e_ = {0};                                                                   \
        EXPECT_CODE(rbody_open(f, (b), &rc_, &e_), &e_, (want));                                   \
        if ((want) < 0)                                                                            \
            assert_receipt_empty(&rc_);                                                            \
        receipt_release(&rc_);                                                                     \
    } while (0)

static void test_receipt_hostile(void **state)
{
    const struct fx *f = *state;
    struct rbody *b = rbody_new();
    RBODY_EXPECT(b, 0); /* the baseline opens */

    /* outcomes outside the enum */
    b->oc[1] = (Dti__V1__Outcome)8;
    RBODY_EXPECT(b, DTI_EPARSE);
    b->oc[1] = DTI__V1__OUTCOME__OUTCOME_UNSPECIFIED;
    RBODY_EXPECT(b, DTI_EPARSE);
    b->oc[1] = (Dti__V1__Outcome)-1;
    RBODY_EXPECT(b, DTI_EPARSE);
    b->oc[1] = DTI__V1__OUTCOME__AMENDMENT;
    RBODY_EXPECT(b, 0);

    /* rejects must name a record of the batch */
    b->rj[0].index = 3;
    RBODY_EXPECT(b, DTI_EPARSE);
    b->rj[0].index = UINT32_MAX;
    RBODY_EXPECT(b, DTI_EPARSE);
    b->rj[0].index = 2;
    b->m.n_rejects = 4; /* more rejects than records */
    RBODY_EXPECT(b, DTI_EPARSE);
    b->m.n_rejects = 3;
    RBODY_EXPECT(b, 0);
    b->m.n_rejects = 1;

    /* header fields */
    b->m.batch_hash.len = CRYPTO_SHA256_LEN - 1;
    RBODY_EXPECT(b, DTI_EPARSE);
    b->m.batch_hash.len = CRYPTO_SHA256_LEN + 1;
    RBODY_EXPECT(b, DTI_EPARSE);
    b->m.batch_hash.len = CRYPTO_SHA256_LEN;
    b->m.agent_id = "hub";
    RBODY_EXPECT(b, DTI_EPARSE);
    b->m.agent_id = "0123456789ABCDEF";
    RBODY_EXPECT(b, DTI_EPARSE);
    b->m.agent_id = AGENT;

    /* at most one outcome per record of the largest batch */
    b->m.n_outcomes = BATCH_MAX_RECORDS;
    RBODY_EXPECT(b, 0);
    b->m.n_outcomes = BATCH_MAX_RECORDS + 1;
    RBODY_EXPECT(b, DTI_EPARSE);
    free(b);

    /* signed bytes that are not a ReceiptBody */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(hubsigned_seal(junk, sizeof(junk), f->hub, &out, &e), 0);
    struct receipt rc;
    EXPECT_CODE(receipt_open(out.data, out.len, f->hub_pub, &rc, &e), &e, DTI_EPARSE);
    assert_receipt_empty(&rc);

    /* not a HubSigned at all, and a signature of the wrong length */
    struct dti_err e2 = {0};
    EXPECT_CODE(receipt_open(junk, sizeof(junk), f->hub_pub, &rc, &e2), &e2, DTI_EPARSE);
    Dti__V1__HubSigned hs = DTI__V1__HUB_SIGNED__INIT;
    uint8_t sig[CRYPTO_SIG_LEN - 1] = {0};
    hs.body.data = (uint8_t *)junk;
    hs.body.len = sizeof(junk);
    hs.signature.data = sig;
    hs.signature.len = sizeof(sig);
    uint8_t packed[128];
    size_t n = dti__v1__hub_signed__pack(&hs, packed);
    struct dti_err e3 = {0};
    EXPECT_CODE(receipt_open(packed, n, f->hub_pub, &rc, &e3), &e3, DTI_EPARSE);

    /* a good signature with a byte appended is not a signature either */
    b = rbody_new();
    size_t blen = dti__v1__receipt_body__get_packed_size(&b->m);
    uint8_t *body = xmalloc(blen);
    dti__v1__receipt_body__pack(&b->m, body);
    uint8_t longsig[CRYPTO_SIG_LEN + 1] = {0};
    assert_int_equal(signer_sign(f->hub, body, blen, longsig), 0);
    hs.body.data = body;
    hs.body.len = blen;
    hs.signature.data = longsig;
    hs.signature.len = CRYPTO_SIG_LEN;
    uint8_t *packed2 = xmalloc(dti__v1__hub_signed__get_packed_size(&hs) + 1);
    n = dti__v1__hub_signed__pack(&hs, packed2);
    struct dti_err e4 = {0};
    EXPECT_CODE(receipt_open(packed2, n, f->hub_pub, &rc, &e4), &e4, 0); /* the control */
    receipt_release(&rc);
    hs.signature.len = CRYPTO_SIG_LEN + 1;
    n = dti__v1__hub_signed__pack(&hs, packed2);
    struct dti_err e5 = {0};
    EXPECT_CODE(receipt_open(packed2, n, f->hub_pub, &rc, &e5), &e5, DTI_EPARSE);
    free(packed2);
    free(body);
    free(b);
    buf_release(&out);
}

static void test_receipt_truncates_long_text(void **state)
{
    const struct fx *f = *state;
    struct rbody *b = rbody_new();
    char reason[100], message[1000];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    memset(message, 'm', sizeof(message) - 1);
    message[sizeof(message) - 1] = '\0';
    b->rj[0].reason = reason;
    b->rj[0].message = message;
    struct receipt rc;
    struct dti_err e = {0};
    EXPECT_CODE(rbody_open(f, b, &rc, &e), &e, 0);
    assert_int_equal(strlen(rc.rejects[0].reason), sizeof(rc.rejects[0].reason) - 1);
    assert_int_equal(strlen(rc.rejects[0].message), sizeof(rc.rejects[0].message) - 1);
    assert_memory_equal(rc.rejects[0].message, message, sizeof(rc.rejects[0].message) - 1);
    receipt_release(&rc);
    free(b);
}

static void test_hubsigned_limit(void **state)
{
    const struct fx *f = *state;
    struct receipt rc, got;
    uint8_t oc[8];
    struct receipt_reject rj[2];
    receipt_sample(&rc, oc, rj);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(receipt_seal(&rc, f->hub, &out, &e), 0);
    pad_to(&out, HUBSIGNED_MAX);
    EXPECT_CODE(receipt_open(out.data, out.len, f->hub_pub, &got, &e), &e, 0);
    check_receipt(&got, &rc);
    receipt_release(&got);
    uint8_t z = 0;
    assert_int_equal(buf_append(&out, &z, 1), 0);
    struct dti_err e2 = {0};
    EXPECT_CODE(receipt_open(out.data, out.len, f->hub_pub, &got, &e2), &e2, DTI_ETOOBIG);
    buf_release(&out);
}

/* ---- enrolment ---- */

static void test_enroll_agent_id(void **state)
{
    const struct fx *f = *state;
    /* SHA-256 of 32 zero bytes begins 66687aadf862bd77 */
    uint8_t zero[CRYPTO_PUBKEY_LEN] = {0};
    char id[AGENT_ID_LEN + 1];
    enroll_agent_id(zero, id);
    assert_string_equal(id, "66687aadf862bd77");
    assert_true(origin_valid(id));

    uint8_t h[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    crypto_sha256(f->agent_pub, CRYPTO_PUBKEY_LEN, h);
    hex_encode(h, sizeof(h), hex);
    enroll_agent_id(f->agent_pub, id);
    assert_memory_equal(id, hex, AGENT_ID_LEN);
    assert_int_equal(strlen(id), AGENT_ID_LEN);
}

static void test_enroll_request_roundtrip(void **state)
{
    const struct fx *f = *state;
    uint8_t secret[ENROLL_SECRET_LEN];
    assert_int_equal(crypto_random(secret, sizeof(secret)), 0);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(enroll_request_make(f->agent, secret, HLC0 + 5, &out, &e), 0);

    struct enroll_request rq;
    uint8_t *copy = dup_bytes(out.data, out.len);
    EXPECT_CODE(enroll_request_parse(copy, out.len, &rq, &e), &e, 0);
    free(copy);
    assert_memory_equal(rq.secret, secret, ENROLL_SECRET_LEN);
    assert_memory_equal(rq.pub, f->agent_pub, CRYPTO_PUBKEY_LEN);
    assert_int_equal(rq.hlc, HLC0 + 5);

    /* the ceiling: 4096 bytes (padded with an unknown field) open, 4097 do not */
    pad_to(&out, 4096);
    EXPECT_CODE(enroll_request_parse(out.data, out.len, &rq, &e), &e, 0);
    uint8_t z = 0;
    assert_int_equal(buf_append(&out, &z, 1), 0);
    struct dti_err e2 = {0};
    EXPECT_CODE(enroll_request_parse(out.data, out.len, &rq, &e2), &e2, DTI_ETOOBIG);
    buf_release(&out);
}

/* Re-pack a request after fn changed it, and parse it. */
static int enroll_request_spoiled(const struct fx *f, void (*fn)(Dti__V1__EnrollRequest *, void *),
                                  void *arg, struct enroll_request *rq, struct dti_err *e)
{
    uint8_t secret[ENROLL_SECRET_LEN];
    memset(secret, 0x11, sizeof(secret));
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    assert_int_equal(enroll_request_make(f->agent, secret, HLC0, &out, e), 0);
    Dti__V1__EnrollRequest *m = dti__v1__enroll_request__unpack(NULL, out.len, out.data);
    assert_non_null(m);
    fn(m, arg);
    size_t n = dti__v1__enroll_request__get_packed_size(m);
    uint8_t *bytes = xmalloc(n);
    dti__v1__enroll_request__pack(m, bytes);
    dti__v1__enroll_request__free_unpacked(m, NULL);
    memset(rq, 0xaa, sizeof(*rq));
    int r = enroll_request_parse(bytes, n, rq, e);
    free(bytes);
    buf_release(&out);
    return r;
}

/* The proof is an Ed25519 signature over "dti-enroll-v1" || secret || public key:
 * the hub and the agent must agree on exactly those bytes. */
static void test_enroll_request_signed_message(void **state)
{
    const struct fx *f = *state;
    uint8_t secret[ENROLL_SECRET_LEN];
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(0xc0 + i);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(enroll_request_make(f->agent, secret, 1, &out, &e), 0);
    Dti__V1__EnrollRequest *m = dti__v1__enroll_request__unpack(NULL, out.len, out.data);
    assert_non_null(m);
    assert_int_equal(m->signature.len, CRYPTO_SIG_LEN);

    uint8_t msg[13 + ENROLL_SECRET_LEN + CRYPTO_PUBKEY_LEN], sig[CRYPTO_SIG_LEN];
    memcpy(msg, "dti-enroll-v1", 13);
    memcpy(msg + 13, secret, ENROLL_SECRET_LEN);
    memcpy(msg + 13 + ENROLL_SECRET_LEN, f->agent_pub, CRYPTO_PUBKEY_LEN);
    assert_int_equal(signer_sign(f->agent, msg, sizeof(msg), sig), 0);
    assert_memory_equal(m->signature.data, sig, CRYPTO_SIG_LEN); /* Ed25519 is deterministic */

    /* a proof over the secret alone is refused */
    assert_int_equal(signer_sign(f->agent, msg, 13 + ENROLL_SECRET_LEN, m->signature.data), 0);
    size_t n = dti__v1__enroll_request__pack(m, out.data);
    struct enroll_request rq;
    struct dti_err e2 = {0};
    EXPECT_CODE(enroll_request_parse(out.data, n, &rq, &e2), &e2, DTI_EBADSIG);
    dti__v1__enroll_request__free_unpacked(m, NULL);
    buf_release(&out);
}

static void swap_key(Dti__V1__EnrollRequest *m, void *arg)
{
    memcpy(m->public_key.data, arg, CRYPTO_PUBKEY_LEN);
}

static void flip_secret(Dti__V1__EnrollRequest *m, void *arg)
{
    m->token_secret.data[0] ^= 1;
}

static void flip_signature(Dti__V1__EnrollRequest *m, void *arg)
{
    m->signature.data[10] ^= 0x80;
}

static void change_hlc(Dti__V1__EnrollRequest *m, void *arg)
{
    m->hlc += 1; /* the hlc is not covered by the proof */
}

static void shorten(Dti__V1__EnrollRequest *m, void *arg)
{
    ProtobufCBinaryData *field = arg == (void *)1   ? &m->token_secret
                                 : arg == (void *)2 ? &m->public_key
                                                    : &m->signature;
    field->len--;
}

static void test_enroll_request_proof(void **state)
{
    const struct fx *f = *state;
    struct enroll_request rq, before;
    memset(&before, 0xaa, sizeof(before));
    struct dti_err e = {0};

    /* another agent's key in place of the signer's: the proof fails */
    EXPECT_CODE(enroll_request_spoiled(f, swap_key, (void *)f->other_pub, &rq, &e), &e,
                DTI_EBADSIG);
    assert_memory_equal(&rq, &before, sizeof(rq)); /* nothing written on failure */
    struct dti_err e2 = {0};
    EXPECT_CODE(enroll_request_spoiled(f, flip_secret, NULL, &rq, &e2), &e2, DTI_EBADSIG);
    struct dti_err e3 = {0};
    EXPECT_CODE(enroll_request_spoiled(f, flip_signature, NULL, &rq, &e3), &e3, DTI_EBADSIG);
    struct dti_err e4 = {0};
    EXPECT_CODE(enroll_request_spoiled(f, change_hlc, NULL, &rq, &e4), &e4, 0);
    assert_int_equal(rq.hlc, HLC0 + 1);

    for (uintptr_t k = 1; k <= 3; k++) {
        struct dti_err e5 = {0};
        EXPECT_CODE(enroll_request_spoiled(f, shorten, (void *)k, &rq, &e5), &e5, DTI_EPARSE);
        assert_memory_equal(&rq, &before, sizeof(rq));
    }

    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct dti_err e6 = {0};
    EXPECT_CODE(enroll_request_parse(junk, sizeof(junk), &rq, &e6), &e6, DTI_EPARSE);
    struct dti_err e7 = {0};
    EXPECT_CODE(enroll_request_parse(junk, 0, &rq, &e7), &e7, DTI_EPARSE);
}

static void enroll_response_sample(const struct fx *f, struct enroll_response *rs,
                                   char (*scope)[UNIT_CODE_MAX + 1])
{
    memset(rs, 0, sizeof(*rs));
    memcpy(rs->agent_id, AGENT, sizeof(rs->agent_id));
    snprintf(rs->unit, sizeof(rs->unit), "%s", "01234");
    memcpy(rs->hub_pub, f->hub_pub, CRYPTO_PUBKEY_LEN);
    rs->hub_hlc = HLC0 + 1;
    rs->next_seq = 3;
    snprintf(scope[0], UNIT_CODE_MAX + 1, "%s", "01234");
    snprintf(scope[1], UNIT_CODE_MAX + 1, "%s", "01234.001");
    /* a unit code of the longest length */
    memset(scope[2], 'u', UNIT_CODE_MAX);
    scope[2][UNIT_CODE_MAX] = '\0';
    rs->nscope = 3;
    rs->scope = scope;
}

static void test_enroll_response_roundtrip(void **state)
{
    const struct fx *f = *state;
    char scope[3][UNIT_CODE_MAX + 1];
    struct enroll_response rs, got;
    enroll_response_sample(f, &rs, scope);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(enroll_response_seal(&rs, f->hub, &out, &e), 0);
    uint8_t *copy = dup_bytes(out.data, out.len);
    EXPECT_CODE(enroll_response_open(copy, out.len, &got, &e), &e, 0);
    free(copy);
    assert_string_equal(got.agent_id, AGENT);
    assert_string_equal(got.unit, "01234");
    assert_memory_equal(got.hub_pub, f->hub_pub, CRYPTO_PUBKEY_LEN);
    assert_int_equal(got.hub_hlc, HLC0 + 1);
    assert_int_equal(got.next_seq, 3);
    assert_int_equal(got.nscope, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(got.scope[i], scope[i]);
    enroll_response_release(&got);
    assert_null(got.scope);

    /* every one-bit flip is refused */
    for (size_t i = 0; i < out.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            out.data[i] ^= (unsigned char)(1u << bit);
            uint8_t *c = dup_bytes(out.data, out.len);
            struct dti_err fe = {0};
            int r = enroll_response_open(c, out.len, &got, &fe);
            if (r == 0)
                print_error("byte %zu bit %d: accepted\n", i, bit);
            assert_true(r == DTI_EPARSE || r == DTI_EBADSIG);
            assert_int_equal(fe.code, r);
            assert_null(got.scope);
            free(c);
            out.data[i] ^= (unsigned char)(1u << bit);
        }
    }
    buf_release(&out);
}

/* An EnrollResponse body, spoiled by the test, signed by signer. */
static int enroll_body_open(const Dti__V1__EnrollResponse *m, const struct signer *signer,
                            struct enroll_response *rs, struct dti_err *e)
{
    size_t n = dti__v1__enroll_response__get_packed_size(m);
    uint8_t *body = xmalloc(n);
    dti__v1__enroll_response__pack(m, body);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    assert_int_equal(hubsigned_seal(body, n, signer, &out, e), 0);
    int r = enroll_response_open(out.data, out.len, rs, e);
    buf_release(&out);
    free(body);
    return r;
}

#define ENROLL_BODY_EXPECT(m, signer, want)                                                        \
    do {                                                                                           \
        struct enroll_response rs_;                                                                \
        struct dti_err e_ = {0};                                                                   \
        EXPECT_CODE(enroll_body_open((m), (signer), &rs_, &e_), &e_, (want));                      \
        if ((want) < 0)                                                                            \
            assert_null(rs_.scope);                                                                \
        enroll_response_release(&rs_);                                                             \
    } while (0)

static void test_enroll_response_hostile(void **state)
{
    const struct fx *f = *state;
    enum { NSCOPE = ENROLL_MAX_SCOPE + 1 };
    char **scope = xcalloc(NSCOPE, sizeof(char *));
    char *names = xcalloc(NSCOPE, 16);
    for (size_t i = 0; i < NSCOPE; i++) {
        scope[i] = names + 16 * i;
        snprintf(scope[i], 16, "U%zu", i);
    }
    Dti__V1__EnrollResponse m = DTI__V1__ENROLL_RESPONSE__INIT;
    m.agent_id = AGENT;
    m.unit = "01234";
    m.hub_public_key.data = (uint8_t *)f->hub_pub;
    m.hub_public_key.len = CRYPTO_PUBKEY_LEN;
    m.hub_hlc = HLC0;
    m.next_seq = 1;
    m.scope = scope;
    m.n_scope = 2;
    ENROLL_BODY_EXPECT(&m, f->hub, 0);

    /* the key in the body must be the one that signed it */
    ENROLL_BODY_EXPECT(&m, f->other, DTI_EBADSIG);
    m.hub_public_key.data = (uint8_t *)f->other_pub;
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EBADSIG);
    m.hub_public_key.data = (uint8_t *)f->hub_pub;
    m.hub_public_key.len = CRYPTO_PUBKEY_LEN - 1;
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE);
    m.hub_public_key.len = CRYPTO_PUBKEY_LEN;

    m.next_seq = 0;
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE);
    m.next_seq = 1;
    m.agent_id = "hub";
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE);
    m.agent_id = AGENT;

    char longest[UNIT_CODE_MAX + 2];
    memset(longest, 'u', sizeof(longest));
    longest[UNIT_CODE_MAX] = '\0';
    m.unit = longest;
    ENROLL_BODY_EXPECT(&m, f->hub, 0);
    longest[UNIT_CODE_MAX] = 'u';
    longest[UNIT_CODE_MAX + 1] = '\0';
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE); /* would not fit rs->unit */
    m.unit = "01 234";
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE);
    m.unit = "01234";

    /* scope entries are unit codes that fit rs->scope */
    scope[1] = longest;
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE);
    scope[1] = "";
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE);
    scope[1] = names + 16;
    m.n_scope = ENROLL_MAX_SCOPE;
    ENROLL_BODY_EXPECT(&m, f->hub, 0);
    m.n_scope = ENROLL_MAX_SCOPE + 1;
    ENROLL_BODY_EXPECT(&m, f->hub, DTI_EPARSE);

    /* not an EnrollResponse */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(hubsigned_seal(junk, sizeof(junk), f->hub, &out, &e), 0);
    struct enroll_response rs;
    EXPECT_CODE(enroll_response_open(out.data, out.len, &rs, &e), &e, DTI_EPARSE);
    struct dti_err e2 = {0};
    EXPECT_CODE(enroll_response_open(junk, sizeof(junk), &rs, &e2), &e2, DTI_EPARSE);
    buf_release(&out);
    free(scope);
    free(names);
}

/* ---- change pages ---- */

static const struct change sample_changes[] = {
    {.unit = "01234",
     .element = "DT.1.1",
     .period = "2023",
     .value = {.kind = VALUE_NUMBER, .num = 12.5},
     .hlc = HLC0 + 1,
     .origin = "hub",
     .author = "Phạm Thu Hà",
     .comment = "Điều chỉnh theo thẩm định"},
    {.unit = "01234",
     .element = "DT.1.2",
     .period = "2023Q4",
     .value = {.kind = VALUE_NUMBER, .num = -7},
     .hlc = HLC0 + 2,
     .origin = AGENT,
     .author = "",
     .comment = ""},
    {.unit = "01235",
     .element = "KT.1",
     .period = "2024-01",
     .value = {.kind = VALUE_BOOL, .b = true},
     .hlc = HLC0 + 3,
     .origin = "hub",
     .author = "",
     .comment = ""},
    {.unit = "01235",
     .element = "XH.1",
     .period = "2024",
     .value = {.kind = VALUE_TEXT, .text = VI_TEXT},
     .hlc = UINT64_MAX,
     .origin = AGENT,
     .author = "Nguyễn Văn An",
     .comment = ""},
};

static void changes_sample(struct changes_page *p, struct change *items, size_t n)
{
    memset(p, 0, sizeof(*p));
    memcpy(p->agent_id, AGENT, sizeof(p->agent_id));
    p->after = 10;
    p->next = 25;
    p->more = true;
    p->hub_hlc = HLC0 + 50;
    memcpy(items, sample_changes, n * sizeof(*items));
    p->n = n;
    p->items = items;
}

static int changes_roundtrip(const struct fx *f, const struct changes_page *p,
                             struct changes_page *got, struct dti_err *e)
{
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    assert_int_equal(changes_seal(p, f->hub, &out, e), 0);
    uint8_t *copy = dup_bytes(out.data, out.len);
    int r = changes_open(copy, out.len, f->hub_pub, got, e);
    free(copy); /* the page must not point into the input */
    buf_release(&out);
    return r;
}

static void test_changes_roundtrip(void **state)
{
    const struct fx *f = *state;
    const size_t n = ARRAY_SIZE(sample_changes);
    struct change items[ARRAY_SIZE(sample_changes)];
    struct changes_page p, got;
    changes_sample(&p, items, n);
    struct dti_err e = {0};
    EXPECT_CODE(changes_roundtrip(f, &p, &got, &e), &e, 0);
    assert_string_equal(got.agent_id, AGENT);
    assert_int_equal(got.after, 10);
    assert_int_equal(got.next, 25);
    assert_true(got.more);
    assert_int_equal(got.hub_hlc, HLC0 + 50);
    assert_int_equal(got.n, n);
    for (size_t i = 0; i < n; i++) {
        const struct change *a = &got.items[i], *w = &items[i];
        assert_string_equal(a->unit, w->unit);
        assert_string_equal(a->element, w->element);
        assert_string_equal(a->period, w->period);
        assert_true(value_equal(&a->value, &w->value));
        assert_int_equal(a->hlc, w->hlc);
        assert_string_equal(a->origin, w->origin);
        assert_string_equal(a->author, w->author);
        assert_string_equal(a->comment, w->comment);
    }
    changes_release(&got);
    assert_null(got.items);
    assert_null(got.msg);

    /* an empty last page */
    p.n = 0;
    p.more = false;
    p.next = p.after;
    struct dti_err e2 = {0};
    EXPECT_CODE(changes_roundtrip(f, &p, &got, &e2), &e2, 0);
    assert_int_equal(got.n, 0);
    assert_false(got.more);
    changes_release(&got);
}

static void test_changes_wrong_key(void **state)
{
    const struct fx *f = *state;
    struct change items[ARRAY_SIZE(sample_changes)];
    struct changes_page p, got;
    changes_sample(&p, items, ARRAY_SIZE(sample_changes));
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(changes_seal(&p, f->other, &out, &e), 0);
    EXPECT_CODE(changes_open(out.data, out.len, f->hub_pub, &got, &e), &e, DTI_EBADSIG);
    assert_null(got.items);
    assert_null(got.msg);
    struct dti_err e2 = {0};
    EXPECT_CODE(changes_open(out.data, out.len, f->other_pub, &got, &e2), &e2, 0);
    changes_release(&got);

    /* a flipped bit in the body */
    out.data[out.len / 3] ^= 4;
    struct dti_err e3 = {0};
    int r = changes_open(out.data, out.len, f->other_pub, &got, &e3);
    assert_true(r == DTI_EBADSIG || r == DTI_EPARSE);
    assert_int_equal(e3.code, r);
    buf_release(&out);
}

/* Seal a page whose item 1 was spoiled and expect it refused. */
static void changes_expect(const struct fx *f, struct changes_page *p, int want, const char *file,
                           int line)
{
    struct changes_page got;
    struct dti_err e = {0};
    expect_code(changes_roundtrip(f, p, &got, &e), &e, want, file, line);
    if (want < 0) {
        _assert_true(got.items == NULL, "items", file, line);
        _assert_true(got.msg == NULL, "msg", file, line);
    }
    changes_release(&got);
}

#define CHANGES_EXPECT(p, want) changes_expect(f, (p), (want), __FILE__, __LINE__)

static void test_changes_validation(void **state)
{
    const struct fx *f = *state;
    struct change items[ARRAY_SIZE(sample_changes)];
    struct changes_page p;
    const size_t n = ARRAY_SIZE(sample_changes);
    char author[AUTHOR_MAX + 2], comment[COMMENT_MAX + 2];
    memset(author, 'a', sizeof(author));
    author[AUTHOR_MAX] = '\0';
    memset(comment, 'c', sizeof(comment));
    comment[COMMENT_MAX] = '\0';

    changes_sample(&p, items, n);
    items[1].author = author;
    items[1].comment = comment;
    CHANGES_EXPECT(&p, 0); /* both at their ceilings */
    author[AUTHOR_MAX] = 'a';
    author[AUTHOR_MAX + 1] = '\0';
    CHANGES_EXPECT(&p, DTI_EPARSE);
    items[1].author = "";
    comment[COMMENT_MAX] = 'c';
    comment[COMMENT_MAX + 1] = '\0';
    CHANGES_EXPECT(&p, DTI_EPARSE);
    items[1].comment = "Nh\xe1\xba"; /* cut in the middle of a character */
    CHANGES_EXPECT(&p, DTI_EPARSE);
    items[1].comment = "line\nbreak"; /* C0 controls other than tab */
    CHANGES_EXPECT(&p, DTI_EPARSE);

    changes_sample(&p, items, n);
    items[1].period = "2023Q5";
    CHANGES_EXPECT(&p, DTI_EPARSE);
    changes_sample(&p, items, n);
    items[1].element = "DT 1";
    CHANGES_EXPECT(&p, DTI_EPARSE);
    changes_sample(&p, items, n);
    items[1].unit = "";
    CHANGES_EXPECT(&p, DTI_EPARSE);
    changes_sample(&p, items, n);
    items[1].hlc = 0;
    CHANGES_EXPECT(&p, DTI_EPARSE);
    changes_sample(&p, items, n);
    items[1].origin = "someone";
    CHANGES_EXPECT(&p, DTI_EPARSE);
    changes_sample(&p, items, n);
    items[1].value.kind = VALUE_NONE;
    CHANGES_EXPECT(&p, DTI_EPARSE);
    changes_sample(&p, items, n);
    items[1].value.num = NAN;
    CHANGES_EXPECT(&p, DTI_EPARSE);
    items[1].value.num = INFINITY;
    CHANGES_EXPECT(&p, DTI_EPARSE);
    changes_sample(&p, items, n);
    items[3].value.text = "";
    CHANGES_EXPECT(&p, DTI_EPARSE);

    /* cursors only move forward; an unchanged cursor is fine */
    changes_sample(&p, items, n);
    p.next = p.after - 1;
    CHANGES_EXPECT(&p, DTI_EPARSE);
    p.next = p.after;
    CHANGES_EXPECT(&p, 0);
    changes_sample(&p, items, n);
    memcpy(p.agent_id, "hub", 4);
    CHANGES_EXPECT(&p, DTI_EPARSE);
}

static void test_changes_page_limit(void **state)
{
    const struct fx *f = *state;
    struct change *items = xcalloc(CHANGES_PAGE_MAX + 1, sizeof(*items));
    for (size_t i = 0; i <= CHANGES_PAGE_MAX; i++)
        items[i] = sample_changes[i % ARRAY_SIZE(sample_changes)];
    struct changes_page p;
    changes_sample(&p, items, 1);
    p.items = items;
    p.n = CHANGES_PAGE_MAX;
    CHANGES_EXPECT(&p, 0);
    p.n = CHANGES_PAGE_MAX + 1;
    CHANGES_EXPECT(&p, DTI_EPARSE);

    /* the same ceiling for notices */
    struct notice *ns = xcalloc(CHANGES_PAGE_MAX + 1, sizeof(*ns));
    for (size_t i = 0; i <= CHANGES_PAGE_MAX; i++)
        ns[i] = (struct notice){.unit = "01234",
                                .element = "DT.1",
                                .period = "2023",
                                .hlc = HLC0 + i,
                                .kind = "upheld"};
    p.n = 1;
    p.notices = ns;
    p.nnotices = CHANGES_PAGE_MAX;
    CHANGES_EXPECT(&p, 0);
    p.nnotices = CHANGES_PAGE_MAX + 1;
    CHANGES_EXPECT(&p, DTI_EPARSE);
    free(ns);
    free(items);
}

static void test_changes_integer_form(void **state)
{
    /* the wire allows integers too; they read back as numbers */
    const struct fx *f = *state;
    Dti__V1__Change c = DTI__V1__CHANGE__INIT;
    c.unit = "01234";
    c.element = "DT.1";
    c.period = "2023";
    c.value_case = DTI__V1__CHANGE__VALUE_INTEGER;
    c.integer = -123456789;
    c.hlc = HLC0;
    c.origin = "hub";
    Dti__V1__Change *cp[] = {&c};
    Dti__V1__Changes m = DTI__V1__CHANGES__INIT;
    m.agent_id = AGENT;
    m.after = 1;
    m.next = 2;
    m.changes = cp;
    m.n_changes = 1;
    size_t n = dti__v1__changes__get_packed_size(&m);
    uint8_t *body = xmalloc(n);
    dti__v1__changes__pack(&m, body);
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct dti_err e = {0};
    assert_int_equal(hubsigned_seal(body, n, f->hub, &out, &e), 0);
    struct changes_page got;
    EXPECT_CODE(changes_open(out.data, out.len, f->hub_pub, &got, &e), &e, 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.items[0].value.kind, VALUE_NUMBER);
    assert_true(got.items[0].value.num == -123456789.0);
    changes_release(&got);

    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(hubsigned_seal(junk, sizeof(junk), f->hub, &out, &e), 0);
    struct dti_err e2 = {0};
    EXPECT_CODE(changes_open(out.data, out.len, f->hub_pub, &got, &e2), &e2, DTI_EPARSE);
    buf_release(&out);
    free(body);
}

static void test_changes_notices(void **state)
{
    const struct fx *f = *state;
    struct change items[ARRAY_SIZE(sample_changes)];
    struct changes_page p, got;
    changes_sample(&p, items, 1);
    struct notice notices[] = {
        {.unit = "01234",
         .element = "DT.1.1",
         .period = "2023",
         .hlc = HLC0 + 7,
         .kind = "overruled",
         .comment = "Số liệu không khớp biên bản",
         .by = "Phạm Thu Hà"},
        {.unit = "01235", .element = "KT.1", .period = "2024Q2", .hlc = 1, .kind = "accepted"},
    };
    p.notices = notices;
    p.nnotices = ARRAY_SIZE(notices);
    struct dti_err e = {0};
    EXPECT_CODE(changes_roundtrip(f, &p, &got, &e), &e, 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.nnotices, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(got.notices[i].unit, notices[i].unit);
        assert_string_equal(got.notices[i].element, notices[i].element);
        assert_string_equal(got.notices[i].period, notices[i].period);
        assert_int_equal(got.notices[i].hlc, notices[i].hlc);
        assert_string_equal(got.notices[i].kind, notices[i].kind);
        assert_string_equal(got.notices[i].comment, notices[i].comment ? notices[i].comment : "");
        assert_string_equal(got.notices[i].by, notices[i].by ? notices[i].by : "");
    }
    changes_release(&got);

    static const char *const kinds[] = {"overruled", "upheld", "accepted", "rejected"};
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        assert_true(notice_kind_valid(kinds[i]));
    assert_false(notice_kind_valid("Upheld"));
    assert_false(notice_kind_valid(""));
    assert_false(notice_kind_valid(NULL));

    notices[1].kind = "forgotten";
    CHANGES_EXPECT(&p, DTI_EPARSE);
    notices[1].kind = "upheld";
    notices[1].hlc = 0;
    CHANGES_EXPECT(&p, DTI_EPARSE);
    notices[1].hlc = 1;
    notices[1].period = "2024Q0";
    CHANGES_EXPECT(&p, DTI_EPARSE);
    notices[1].period = "2024";
    notices[1].by = "Nh\xe1\xba";
    CHANGES_EXPECT(&p, DTI_EPARSE);
    notices[1].by = "";
    CHANGES_EXPECT(&p, 0);
}

/* ---- refusal bodies ---- */

static int problem_roundtrip(const struct problem *in, struct problem *out)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    assert_int_equal(problem_encode(in, &b), 0);
    uint8_t *copy = dup_bytes(b.data, b.len);
    int r = problem_decode(copy, b.len, out);
    free(copy);
    buf_release(&b);
    return r;
}

static void test_problem_every_code(void **state)
{
    /* each code travels as its reason and maps back to itself */
    int count = 0;
    for (int code = DTI__FIRST + 1; code < DTI__LAST; code++) {
        struct problem in = {.code = code}, out;
        snprintf(in.message, sizeof(in.message), "because %s", dti_strerror(code));
        assert_int_equal(problem_roundtrip(&in, &out), 0);
        if (out.code != code)
            print_error("%s travelled as '%s' and came back as %s\n", dti_strname(code), out.reason,
                        dti_strname(out.code));
        assert_string_equal(dti_strname(out.code), dti_strname(code));
        assert_string_equal(out.reason, dti_reason(code));
        assert_string_equal(out.message, in.message);
        assert_int_equal(dti_from_reason(dti_reason(code)), code);
        count++;
    }
    assert_true(count >= 30);
    assert_int_equal(dti_from_reason("no_such_reason"), DTI_EPROTO);
    assert_int_equal(dti_from_reason(""), DTI_EPROTO);
    assert_int_equal(dti_from_reason(NULL), DTI_EPROTO);
}

static void test_problem_fields(void **state)
{
    struct problem in = {.code = DTI_EGAP, .expected_seq = 17, .hub_hlc = HLC0}, out;
    snprintf(in.message, sizeof(in.message), "expected batch 17, got 19");
    assert_int_equal(problem_roundtrip(&in, &out), 0);
    assert_int_equal(out.code, DTI_EGAP);
    assert_string_equal(out.reason, "sequence_gap");
    assert_string_equal(out.message, "expected batch 17, got 19");
    assert_int_equal(out.expected_seq, 17);
    assert_int_equal(out.hub_hlc, HLC0);

    /* an explicit reason wins over the code */
    struct problem in2 = {.code = DTI_EGAP};
    snprintf(in2.reason, sizeof(in2.reason), "revoked");
    assert_int_equal(problem_roundtrip(&in2, &out), 0);
    assert_int_equal(out.code, DTI_EREVOKED);

    /* a reason from a newer hub: kept, mapped to DTI_EPROTO */
    struct problem in3 = {0};
    snprintf(in3.reason, sizeof(in3.reason), "teapot");
    assert_int_equal(problem_roundtrip(&in3, &out), 0);
    assert_int_equal(out.code, DTI_EPROTO);
    assert_string_equal(out.reason, "teapot");

    /* an empty body is an Error with nothing set */
    assert_int_equal(problem_decode("", 0, &out), 0);
    assert_int_equal(out.code, DTI_EPROTO);
    assert_string_equal(out.reason, "");
}

static void test_problem_odd_text(void **state)
{
    /* long text is cut at a character boundary, never inside one */
    char msg[1200] = "";
    while (strlen(msg) + strlen(VI_TEXT) + 2 < sizeof(msg))
        strcat(msg, VI_TEXT " ");
    Dti__V1__Error m = DTI__V1__ERROR__INIT;
    char reason[100];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    m.reason = reason;
    m.message = msg;
    uint8_t buf[2048];
    size_t n = dti__v1__error__pack(&m, buf);
    struct problem p;
    assert_int_equal(problem_decode(buf, n, &p), 0);
    size_t len = strlen(p.message);
    assert_true(len < sizeof(p.message));
    assert_true(len > sizeof(p.message) - 5); /* at most one character short */
    assert_true(utf8_valid_text(p.message, len));
    assert_memory_equal(p.message, msg, len);
    assert_int_equal(strlen(p.reason), sizeof(p.reason) - 1);
    assert_int_equal(p.code, DTI_EPROTO);

    /* bytes that are not text are dropped from the first bad one on */
    m.reason = "bad_signature";
    m.message = "ok so far\x1b[31m red";
    n = dti__v1__error__pack(&m, buf);
    assert_int_equal(problem_decode(buf, n, &p), 0);
    assert_int_equal(p.code, DTI_EBADSIG);
    assert_string_equal(p.message, "ok so far");
    m.message = "caf\xc3";
    n = dti__v1__error__pack(&m, buf);
    assert_int_equal(problem_decode(buf, n, &p), 0);
    assert_string_equal(p.message, "caf");
}

static void test_problem_garbage(void **state)
{
    struct problem p;
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    memset(&p, 0x55, sizeof(p));
    assert_int_equal(problem_decode(junk, sizeof(junk), &p), DTI_EPARSE);
    assert_string_equal(p.reason, "");
    assert_string_equal(p.message, "");
    /* a proxy's HTML error page */
    static const char html[] = "<html><body><h1>502 Bad Gateway</h1></body></html>\n";
    char *copy = dup_bytes(html, sizeof(html) - 1);
    assert_int_equal(problem_decode(copy, sizeof(html) - 1, &p), DTI_EPARSE);
    free(copy);
    /* bounded */
    uint8_t *big = xcalloc(65537, 1);
    assert_int_equal(problem_decode(big, 65537, &p), DTI_ETOOBIG);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receipt_roundtrip),
        cmocka_unit_test(test_outcome_names),
        cmocka_unit_test(test_receipt_wrong_key_and_tampering),
        cmocka_unit_test(test_receipt_hostile),
        cmocka_unit_test(test_receipt_truncates_long_text),
        cmocka_unit_test(test_hubsigned_limit),
        cmocka_unit_test(test_enroll_agent_id),
        cmocka_unit_test(test_enroll_request_roundtrip),
        cmocka_unit_test(test_enroll_request_signed_message),
        cmocka_unit_test(test_enroll_request_proof),
        cmocka_unit_test(test_enroll_response_roundtrip),
        cmocka_unit_test(test_enroll_response_hostile),
        cmocka_unit_test(test_changes_roundtrip),
        cmocka_unit_test(test_changes_wrong_key),
        cmocka_unit_test(test_changes_validation),
        cmocka_unit_test(test_changes_page_limit),
        cmocka_unit_test(test_changes_integer_form),
        cmocka_unit_test(test_changes_notices),
        cmocka_unit_test(test_problem_every_code),
        cmocka_unit_test(test_problem_fields),
        cmocka_unit_test(test_problem_odd_text),
        cmocka_unit_test(test_problem_garbage),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
