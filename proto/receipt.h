/*
 * receipt.h - the hub's signed answer to one batch: its hash, and one
 * outcome per record. An agent clears a batch from its outbox only after it
 * has verified a receipt with the pinned hub key and stored it.
 */
#ifndef DTI_RECEIPT_H
#define DTI_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "value.h"

enum outcome {
    OUTCOME_ACCEPTED = 1,         /* became the current value */
    OUTCOME_DUPLICATE = 2,        /* this exact version was already held */
    OUTCOME_SUPERSEDED = 3,       /* kept in history; another version stays current */
    OUTCOME_CONFLICT = 4,         /* concurrent with the current value; in the operator's queue */
    OUTCOME_REJECTED = 5,         /* refused, with a reason */
    OUTCOME_AMENDMENT = 6,        /* period locked: kept as an amendment pending acceptance */
    OUTCOME_CONFLICT_CURRENT = 7, /* concurrent, queued, and this version is in use meanwhile */
};

/* "accepted", "duplicate", ... */
const char *outcome_name(int outcome);

struct receipt_reject {
    uint32_t index;
    char reason[40]; /* wire reason code, see err.h */
    char message[256];
};

struct receipt {
    char agent_id[AGENT_ID_LEN + 1];
    uint64_t seq;
    uint8_t batch_hash[CRYPTO_SHA256_LEN];
    uint64_t hub_hlc;
    uint64_t received_ms;
    size_t n;          /* records in the batch */
    uint8_t *outcomes; /* n entries, enum outcome; owned */
    size_t nrejects;
    struct receipt_reject *rejects; /* owned */
};

/* Serialise and sign into out (replacing its content). */
int receipt_seal(const struct receipt *rc, const struct signer *hub, struct buf *out,
                 struct dti_err *e);
/* Verify with the hub's key, then parse into rc (caller releases). */
int receipt_open(const void *bytes, size_t len, const uint8_t hub_pub[CRYPTO_PUBKEY_LEN],
                 struct receipt *rc, struct dti_err *e);
/* Free what rc owns; rc is zeroed. */
void receipt_release(struct receipt *rc);

#endif
