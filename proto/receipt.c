/*
 * receipt.c - sealing and opening hub receipts.
 */
#include "receipt.h"
#include "hubsigned.h"
#include "util.h"

#include "dtisync.pb-c.h"

#include <stdlib.h>
#include <string.h>

#include "envelope.h"

const char *outcome_name(int outcome)
{
    switch (outcome) {
    case OUTCOME_ACCEPTED:
        return "accepted";
    case OUTCOME_DUPLICATE:
        return "duplicate";
    case OUTCOME_SUPERSEDED:
        return "superseded";
    case OUTCOME_CONFLICT:
        return "conflict";
    case OUTCOME_REJECTED:
        return "rejected";
    case OUTCOME_AMENDMENT:
        return "amendment";
    case OUTCOME_CONFLICT_CURRENT:
        return "conflict_current";
    }
    return "unknown";
}

int receipt_seal(const struct receipt *rc, const struct signer *hub, struct buf *out,
                 struct dti_err *e)
{
    Dti__V1__ReceiptBody body = DTI__V1__RECEIPT_BODY__INIT;
    body.agent_id = (char *)rc->agent_id;
    body.seq = rc->seq;
    body.batch_hash.data = (uint8_t *)rc->batch_hash;
    body.batch_hash.len = CRYPTO_SHA256_LEN;
    body.hub_hlc = rc->hub_hlc;
    body.received_at_ms = rc->received_ms;
    Dti__V1__Outcome *oc = xcalloc(rc->n, sizeof(*oc));
    for (size_t i = 0; i < rc->n; i++)
        oc[i] = (Dti__V1__Outcome)rc->outcomes[i];
    body.n_outcomes = rc->n;
    body.outcomes = oc;
    Dti__V1__RecordReject *rj = xcalloc(rc->nrejects, sizeof(*rj));
    Dti__V1__RecordReject **rjp = xcalloc(rc->nrejects, sizeof(*rjp));
    for (size_t i = 0; i < rc->nrejects; i++) {
        dti__v1__record_reject__init(&rj[i]);
        rj[i].index = rc->rejects[i].index;
        rj[i].reason = (char *)rc->rejects[i].reason;
        rj[i].message = (char *)rc->rejects[i].message;
        rjp[i] = &rj[i];
    }
    body.n_rejects = rc->nrejects;
    body.rejects = rjp;
    size_t n = dti__v1__receipt_body__get_packed_size(&body);
    uint8_t *bytes = xmalloc(n);
    dti__v1__receipt_body__pack(&body, bytes);
    int r = hubsigned_seal(bytes, n, hub, out, e);
    free(bytes);
    free(oc);
    free(rj);
    free(rjp);
    return r;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int receipt_open(const void *bytes, size_t len, const uint8_t hub_pub[CRYPTO_PUBKEY_LEN],
                 struct receipt *rc, struct dti_err *e)
{
    void *msg = NULL;
    const uint8_t *body;
    size_t blen;
    memset(rc, 0, sizeof(*rc));
    int r = hubsigned_open(bytes, len, hub_pub, &msg, &body, &blen, e);
    if (r < 0)
        return r;
    Dti__V1__ReceiptBody *rb = dti__v1__receipt_body__unpack(NULL, blen, body);
    r = DTI_EPARSE;
    if (!rb) {
        dti_errf(e, r, "receipt body is not a valid ReceiptBody");
        goto out;
    }
    if (!origin_valid(rb->agent_id) || strlen(rb->agent_id) != AGENT_ID_LEN ||
        rb->batch_hash.len != CRYPTO_SHA256_LEN || rb->n_outcomes > BATCH_MAX_RECORDS ||
        rb->n_rejects > rb->n_outcomes) {
        dti_errf(e, r, "receipt fields out of range");
        goto out;
    }
    memcpy(rc->agent_id, rb->agent_id, AGENT_ID_LEN + 1);
    rc->seq = rb->seq;
    memcpy(rc->batch_hash, rb->batch_hash.data, CRYPTO_SHA256_LEN);
    rc->hub_hlc = rb->hub_hlc;
    rc->received_ms = rb->received_at_ms;
    rc->n = rb->n_outcomes;
    rc->outcomes = xcalloc(rc->n ? rc->n : 1, 1);
    for (size_t i = 0; i < rc->n; i++) {
        if ((int)rb->outcomes[i] < OUTCOME_ACCEPTED ||
            (int)rb->outcomes[i] > OUTCOME_CONFLICT_CURRENT) {
            dti_errf(e, r, "receipt outcome %zu is unknown", i);
            goto out;
        }
        rc->outcomes[i] = (uint8_t)rb->outcomes[i];
    }
    rc->nrejects = rb->n_rejects;
    rc->rejects = xcalloc(rc->nrejects ? rc->nrejects : 1, sizeof(*rc->rejects));
    for (size_t i = 0; i < rc->nrejects; i++) {
        if (rb->rejects[i]->index >= rc->n) {
            dti_errf(e, r, "receipt reject %zu names record %u of %zu", i, rb->rejects[i]->index,
                     rc->n);
            goto out;
        }
        rc->rejects[i].index = rb->rejects[i]->index;
        copy_str(rc->rejects[i].reason, sizeof(rc->rejects[i].reason), rb->rejects[i]->reason);
        copy_str(rc->rejects[i].message, sizeof(rc->rejects[i].message), rb->rejects[i]->message);
    }
    r = 0;
out:
    if (rb)
        dti__v1__receipt_body__free_unpacked(rb, NULL);
    hubsigned_free(msg);
    if (r < 0)
        receipt_release(rc);
    return r;
}

void receipt_release(struct receipt *rc)
{
    free(rc->outcomes);
    free(rc->rejects);
    memset(rc, 0, sizeof(*rc));
}
