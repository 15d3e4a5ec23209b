/*
 * courier.h - the agent's end of the USB-stick road: sealing everything
 * pending and writing every unacknowledged batch to a bundle file, and taking
 * in a bundle of receipts the hub exported. A receipt clears a batch exactly
 * as one that came over HTTPS does: only after its hub signature verifies.
 */
#ifndef DTI_COURIER_H
#define DTI_COURIER_H

#include <stdint.h>
#include <stdio.h>

#include "crypto.h"
#include "err.h"
#include "store.h"

/* Seal the outbox, then write every unacknowledged batch (oldest first).
 * *batches gets how many. The outbox is unchanged: batches leave it only
 * when their receipts come back. */
int courier_export(struct store *st, const struct signer *key, uint64_t now_ms, FILE *f,
                   size_t *batches, struct dti_err *e);

struct courier_report {
    size_t receipts; /* read whole */
    size_t acked;    /* cleared a batch */
    size_t already;  /* for a batch already acknowledged */
    size_t foreign;  /* for another agent, or a batch this agent never sealed */
};

/* Take in a receipts bundle. Needs the hub key, so the agent must be enrolled.
 * Damage stops the import with its offset; receipts before it count. */
int courier_import_receipts(struct store *st, FILE *f, struct courier_report *rep,
                            struct dti_err *e);

#endif
