/*
 * sync.h - one sync of an agent with its hub (or a relaying district):
 * finish enrolment if it is pending, seal the outbox into batches, push
 * every unacknowledged batch oldest first and store each verified receipt,
 * then pull the change feed page by page. Any failure stops the sync with
 * everything still in the store; the next sync carries on from there.
 */
#ifndef DTI_SYNC_H
#define DTI_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "store.h"
#include "transport.h"

#define SYNC_BATCH_RECORDS 1000
#define SYNC_MAX_PAGES 100000

#define SYNC_REJECTS_SHOWN 10

struct sync_report {
    size_t sealed;      /* batches sealed now */
    size_t pushed;      /* batches acknowledged now */
    size_t records;     /* records acknowledged now */
    size_t outcomes[8]; /* by enum outcome */
    size_t pages;       /* change pages pulled */
    size_t applied;     /* values taken from the hub */
    size_t flagged;     /* local unacknowledged edits that differ from the hub */
    size_t held;        /* batches a district relay holds for the hub (no receipt yet) */
    /* a district relaying for communes (agent/relaybox.c): batches forwarded and
     * acknowledged now, the commune agents they belong to, batches the hub refused
     * for good, batches the hub parked until earlier ones arrive */
    size_t relayed, relay_agents, relay_refused, relay_waiting;
    /* the hub's words for records it rejected (bounds, retired units), the first few */
    char rejects[SYNC_REJECTS_SHOWN][256];
    size_t nrejects;
};

/* Enrol with the token held in the store. */
int sync_enrol(struct store *st, const struct signer *key, const struct transport *t,
               uint64_t now_ms, struct dti_err *e);
/* The whole sync: seal, enrol if pending, push, forward what this agent
 * relays for communes, pull. A transient failure (dti_transient) means "try
 * later"; DTI_ERELAYED means a relay holds batches until its next link to the
 * hub. */
int sync_run(struct store *st, const struct signer *key, const struct transport *t,
             size_t batch_records, uint64_t now_ms, struct sync_report *rep, struct dti_err *e);

#endif
