/*
 * ingest.h - taking in one envelope: verify (size, structure, agent,
 * revocation, signature, replay, sequence, chain, scope), then apply every
 * record in one transaction under the merge rules, store the raw envelope
 * and the hub-signed receipt, and commit durably - all before anyone is
 * answered. A replayed batch gets its stored receipt back and changes
 * nothing. Refusals change nothing and say why (struct problem).
 */
#ifndef DTI_INGEST_H
#define DTI_INGEST_H

#include <sqlite3.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "problem.h"

#define INGEST_MAX_FUTURE_MS (5u * 60u * 1000u) /* office clocks this far ahead are clamped */

struct ingest;

/* Borrow db and hub (both outlive the ingest). */
int ingest_open(struct ingest **out, sqlite3 *db, const struct signer *hub, struct dti_err *e);
void ingest_free(struct ingest *ing);

struct ingest_stats {
    uint64_t batches, records, replays, refused;
};

/*
 * Take in one envelope received at now_ms. On success the signed receipt is
 * in receipt (replaced) and 0 is returned (also for a replay, with
 * *replay set). On refusal a negative DTI_E* code is returned and pb says
 * why (for DTI_EGAP, pb->expected_seq is the sequence the hub wants, and an
 * envelope ahead of the gap is parked - signature checked - to be applied,
 * with those after it, as soon as the missing batches arrive).
 */
int ingest_envelope(struct ingest *ing, const void *bytes, size_t len, uint64_t now_ms,
                    struct buf *receipt, int *replay, struct problem *pb);

/* The same, noting the road the envelope took when it was not its agent's own
 * link: via is a relaying agent's id or "bundle" (informational, for gaps). */
int ingest_envelope_via(struct ingest *ing, const void *bytes, size_t len, uint64_t now_ms,
                        const char *via, struct buf *receipt, int *replay, struct problem *pb);

/* The hub clock, advanced past everything it has accepted. */
uint64_t ingest_hlc_now(struct ingest *ing, uint64_t now_ms);
const struct ingest_stats *ingest_stats(const struct ingest *ing);

#endif
