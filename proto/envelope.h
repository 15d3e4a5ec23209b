/*
 * envelope.h - batches of data-value edits as they travel: built and sealed
 * (serialised, zstd-compressed, hash-chained, signed) by an agent; parsed,
 * verified and unpacked by the hub or a relaying district agent.
 *
 * What is signed is bytes: Envelope.signed holds the serialised Signed
 * message (header + compressed payload) and the signature covers exactly
 * those bytes. The batch hash is SHA-256(signed); the next batch's header
 * carries it as prev_hash. Parsing checks every bound before using a byte:
 * sizes, counts, string indices, UTF-8, codes and values.
 */
#ifndef DTI_ENVELOPE_H
#define DTI_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "value.h"

#define BATCH_MAX_RECORDS 5000       /* records in one batch */
#define BATCH_MAX_PAYLOAD (8u << 20) /* payload bytes after decompression */
#define ENVELOPE_MAX (4u << 20)      /* bytes of one envelope on the wire */
#define BATCH_MAX_MANIFEST 256       /* distinct unit x period pairs in one batch */

/* One edit of one data value, as it travels. Strings are borrowed. */
struct record {
    const char *unit;
    const char *element;
    const char *period;
    struct value value;
    uint64_t hlc;            /* version: HLC of the edit; origin is the batch's agent */
    uint64_t base_hlc;       /* version it was based on; 0 = none (a new key) */
    const char *base_origin; /* agent id or "hub" of the base version; "" when none */
    const char *author;      /* "" = none */
    const char *comment;     /* "" = none */
};

struct batch_header {
    char agent_id[AGENT_ID_LEN + 1];
    uint64_t seq;                         /* >= 1 */
    bool has_prev;                        /* false exactly when seq == 1 */
    uint8_t prev_hash[CRYPTO_SHA256_LEN]; /* batch hash of seq - 1 */
    uint64_t hlc;                         /* agent clock when sealed */
    uint32_t record_count;
};

/* --- building (agent) --- */

struct batch_builder;

void batch_builder_new(struct batch_builder **out);
/* Add a copy of r (strings are copied). The caller checks the limits below first. */
void batch_builder_add(struct batch_builder *b, const struct record *r);
size_t batch_builder_count(const struct batch_builder *b);
/* Distinct unit x period pairs so far, and whether adding r would create a new one. */
size_t batch_builder_manifest_size(const struct batch_builder *b);
bool batch_builder_is_new_pair(const struct batch_builder *b, const struct record *r);
/* Upper bound of the serialised payload so far, in bytes. */
size_t batch_builder_payload_estimate(const struct batch_builder *b);
/*
 * Seal: serialise, compress, sign with s and write the Envelope bytes to out
 * (replacing its content) and the batch hash to hash. h->record_count is
 * taken from the builder. The builder can then be freed.
 */
int batch_builder_seal(struct batch_builder *b, const struct batch_header *h,
                       const struct signer *s, struct buf *out, uint8_t hash[CRYPTO_SHA256_LEN],
                       struct dti_err *e);
void batch_builder_free(struct batch_builder *b);

/* --- opening (hub, relay) --- */

struct envelope;

/* One unit x period pair of the manifest. */
struct manifest_entry {
    const char *unit;
    const char *period;
    uint32_t records;
};

/*
 * Parse an envelope and its header, checking every bound; does not verify the
 * signature (the caller looks up the key by agent id first) and does not
 * decompress. DTI_ETOOBIG or DTI_EPARSE with the reason in e.
 */
int envelope_parse(const void *bytes, size_t len, struct envelope **out, struct dti_err *e);
const struct batch_header *envelope_header(const struct envelope *env);
/* SHA-256(signed): the batch hash. */
const uint8_t *envelope_hash(const struct envelope *env);
size_t envelope_manifest(const struct envelope *env, const struct manifest_entry **entries);
/* Verify the signature over the signed bytes with the agent's key: 0 or DTI_EBADSIG. */
int envelope_verify(const struct envelope *env, const uint8_t pub[CRYPTO_PUBKEY_LEN],
                    struct dti_err *e);
/*
 * Decompress (bounded) and decode the records, validating each: string
 * indices, codes, periods, values, sizes, and that the manifest matches.
 * The records stay valid until envelope_free. Call only after verifying.
 */
int envelope_records(struct envelope *env, const struct record **recs, size_t *n,
                     struct dti_err *e);
void envelope_free(struct envelope *env);

#endif
