/*
 * store.h - the agent's local store: one SQLite file holding the office's
 * values, the outbox of edits not yet acknowledged, the sealed batches
 * waiting for receipts, and the agent's settings (identity, hub, pins,
 * clock, sequence, hash chain, pull cursor).
 *
 * Guarantees (docs/internals/OUTBOX.md): an edit reaches the values and the
 * outbox in one transaction; a batch is sealed (bytes, sequence, chain) in
 * one transaction before it is ever sent, so a resend is byte-identical; a
 * batch leaves the outbox only in the transaction that stores its verified
 * receipt. A crash at any instant loses nothing and duplicates nothing.
 */
#ifndef DTI_STORE_H
#define DTI_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "changes.h"
#include "crypto.h"
#include "err.h"
#include "receipt.h"
#include "value.h"

#define STORE_DB "agent.db"
#define STORE_KEY "agent.key"

struct store;

/* What `init` records. */
struct store_identity {
    char agent_id[AGENT_ID_LEN + 1];
    char unit[UNIT_CODE_MAX + 1];
    char hub_url[257];
    char fingerprint[CRYPTO_FP_HEX_LEN + 1];
    bool enrolled;
    bool has_hub_pub;
    uint8_t hub_pub[CRYPTO_PUBKEY_LEN];
    bool has_token;
    uint8_t token_secret[32];
};

/* Create dir/agent.db for a new agent. DTI_EEXISTS when one is there. */
int store_create(struct store **out, const char *dir, const struct store_identity *id,
                 struct dti_err *e);
/* Open an existing store. DTI_ENOTFOUND with advice when there is none. */
int store_open(struct store **out, const char *dir, struct dti_err *e);
void store_close(struct store *st);

int store_identity(struct store *st, struct store_identity *id, struct dti_err *e);
/* Enrolment finished: pin the hub key, set the scope (with each unit's level,
 * or NULL levels), forget the token. */
int store_enrolled(struct store *st, const uint8_t hub_pub[32], char (*scope)[UNIT_CODE_MAX + 1],
                   char (*levels)[16], size_t nscope, uint64_t next_seq, struct dti_err *e);
/* The level of a unit in scope. DTI_ENOTFOUND before enrolment told it. */
int store_unit_level(struct store *st, const char *unit, char level[16], struct dti_err *e);
/* The framework in force for a unit's level and a period (the highest
 * version received), parsed; the caller frees it. DTI_ENOTFOUND when none. */
struct framework;
int store_framework(struct store *st, const char *unit, const char *period, struct framework **fw,
                    uint64_t *version, struct dti_err *e);
/* DTI_ESCOPE (with the reason in e) unless unit is in this agent's scope. */
int store_check_scope(struct store *st, const char *unit, struct dti_err *e);

/* One edit as an officer makes it; strings borrowed. */
struct edit {
    const char *unit;
    const char *element;
    const char *period;
    struct value value;
    const char *author;  /* may be NULL */
    const char *comment; /* may be NULL */
};

/* Record edits (all or none) in one transaction: values and outbox. Each is
 * validated first - key, value, scope, and, where a framework is in force for
 * the unit's level and the period, its element list and bounds; *bad_index
 * names the first bad one. */
int store_record(struct store *st, const struct edit *edits, size_t n, uint64_t now_ms,
                 size_t *bad_index, struct dti_err *e);

/* Seal pending outbox records into batches of at most max_records, each in
 * its own transaction. *sealed gets the number of new batches. */
int store_seal(struct store *st, const struct signer *key, size_t max_records, uint64_t now_ms,
               size_t *sealed, struct dti_err *e);
/* The oldest batch without a receipt: its sequence and envelope bytes
 * (into env). 0, or DTI_ENOTFOUND when every batch is acknowledged. */
int store_oldest_unacked(struct store *st, uint64_t *seq, uint8_t hash[32], struct buf *env,
                         struct dti_err *e);
/* Unacknowledged batch seq: its hash and envelope. DTI_ENOTFOUND when the
 * store does not hold it unacknowledged. */
int store_unacked(struct store *st, uint64_t seq, uint8_t hash[32], struct buf *env,
                  struct dti_err *e);
/* Store a verified receipt for batch rc->seq and retire its outbox records,
 * in one transaction; the clock takes in the hub's time. */
int store_ack(struct store *st, const struct receipt *rc, const void *bytes, size_t len,
              struct dti_err *e);

/* Apply a verified change page: values not edited here since are replaced;
 * a local edit still unacknowledged is never overwritten, it is flagged. */
int store_apply_changes(struct store *st, const struct changes_page *p, size_t *applied,
                        size_t *flagged, struct dti_err *e);
/* The pull cursor. */
int store_cursor(struct store *st, uint64_t *cursor, struct dti_err *e);

/* Take in a hub time (every hub answer carries one). */
int store_observe_hub(struct store *st, uint64_t hub_hlc, struct dti_err *e);
/* Tick the agent clock (persisted). */
int store_tick(struct store *st, uint64_t now_ms, uint64_t *hlc, struct dti_err *e);

/* Record the outcome of a sync attempt ("" clears the error). */
int store_note_sync(struct store *st, uint64_t now_ms, bool ok, const char *error,
                    struct dti_err *e);

struct store_status {
    uint64_t pending_records;  /* edits not yet acknowledged */
    uint64_t unsealed_records; /* of which not yet in a batch */
    uint64_t pending_batches;  /* sealed, waiting for a receipt */
    uint64_t acked_batches;
    uint64_t next_seq;
    uint64_t last_sync_ms; /* 0 = never */
    uint64_t last_attempt_ms;
    char last_error[512];
    uint64_t values, conflicts, rejected;
};
int store_status(struct store *st, struct store_status *s, struct dti_err *e);

/* The underlying database for read-only listings in the CLI. */
struct sqlite3 *store_db(struct store *st);

#endif
