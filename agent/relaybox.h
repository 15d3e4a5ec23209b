/*
 * relaybox.h - what a district agent holds for the communes that sync
 * through its relay (agent/relay.c): their envelopes byte for byte, each
 * until the hub has answered it, then the hub's answer - its signed receipt,
 * or its refusal - for the commune to collect. Rows live in the agent store
 * (table `relayed`, migration 5). The district's own sync forwards what is
 * held (relaybox_forward), per commune agent in sequence order.
 *
 * The district never alters, reorders or signs anything here: the hub
 * verifies each commune's own signature and hash chain, and the commune
 * verifies the hub's receipt with its own pinned hub key.
 */
#ifndef DTI_RELAYBOX_H
#define DTI_RELAYBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "store.h"
#include "transport.h"

#define RELAYBOX_MAX_PER_AGENT 10000    /* batches held for one commune agent */
#define RELAYBOX_MAX_HELD 100000        /* batches held for all communes together */
#define RELAYBOX_MAX_BYTES (2ull << 30) /* bytes held for all communes together */

/* What the relay can say about an envelope offered to it. */
enum relaybox_fate {
    RELAYBOX_HELD,     /* stored now, or already held and not yet answered by the hub */
    RELAYBOX_RECEIPT,  /* the hub's receipt is here: answer holds its bytes */
    RELAYBOX_REFUSED,  /* the hub refused it for good: status and the Problem bytes */
    RELAYBOX_CONFLICT, /* another batch with this agent and sequence is held or acknowledged */
    RELAYBOX_FULL,     /* RELAYBOX_MAX_PER_AGENT batches of this agent wait already */
};

struct relaybox_answer {
    enum relaybox_fate fate;
    long status;     /* RELAYBOX_REFUSED: the hub's HTTP status */
    struct buf body; /* receipt or Problem bytes; the caller releases it */
};

/*
 * Offer an envelope of agent's batch seq (hash = its batch hash; the caller
 * has parsed it and checked its scope). New: stored in one transaction. The
 * same batch again: what the relay knows of it. A batch the hub refused for
 * good is replaced by a different one with the same sequence (the refused
 * one never counted).
 */
int relaybox_offer(struct store *st, const char *agent, uint64_t seq,
                   const uint8_t hash[CRYPTO_SHA256_LEN], const void *env, size_t len,
                   uint64_t now_ms, struct relaybox_answer *ans, struct dti_err *e);

struct relaybox_report {
    size_t forwarded; /* batches the hub acknowledged now */
    size_t agents;    /* distinct commune agents among them */
    size_t refused;   /* batches the hub refused for good now */
    size_t waiting;   /* batches the hub parked: it misses an earlier one of that agent */
};

/*
 * Send every held envelope without an answer to the hub (t), per agent in
 * sequence order. A receipt is stored once it verifies with hub_pub and names
 * that agent, sequence and batch hash; a final refusal is stored for the
 * commune to see; a sequence gap leaves the batch held (the hub parked it);
 * a transient failure stops with everything still held.
 */
int relaybox_forward(struct store *st, const uint8_t hub_pub[CRYPTO_PUBKEY_LEN],
                     const struct transport *t, uint64_t now_ms, struct relaybox_report *rep,
                     struct dti_err *e);

struct relaybox_counts {
    uint64_t held, acknowledged, refused, agents;
};
/* What the relay table holds, for `status` and the relay's start line. */
int relaybox_counts(struct store *st, struct relaybox_counts *c, struct dti_err *e);

#endif
