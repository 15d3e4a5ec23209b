/*
 * enroll.h - enrolment: an agent proves it holds its new key and presents
 * the one-time secret from its token; the hub answers (signed) with the
 * agent id, unit, scope and the hub's signing key, which the agent pins.
 */
#ifndef DTI_ENROLL_H
#define DTI_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "value.h"

#define ENROLL_SECRET_LEN 32
#define ENROLL_MAX_SCOPE 4096

struct enroll_request {
    uint8_t secret[ENROLL_SECRET_LEN];
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    uint64_t hlc;
};

struct enroll_response {
    char agent_id[AGENT_ID_LEN + 1];
    char unit[UNIT_CODE_MAX + 1];
    uint8_t hub_pub[CRYPTO_PUBKEY_LEN];
    uint64_t hub_hlc;
    uint64_t next_seq;
    size_t nscope;
    char (*scope)[UNIT_CODE_MAX + 1]; /* owned */
    char (*scope_levels)[16];         /* owned, parallel to scope; "" when unknown */
};

/* The agent id of a public key: hex of the first 8 bytes of SHA-256(pub). */
void enroll_agent_id(const uint8_t pub[CRYPTO_PUBKEY_LEN], char out[AGENT_ID_LEN + 1]);

/* Build a request signed by the agent's key s (proof of possession). */
int enroll_request_make(const struct signer *s, const uint8_t secret[ENROLL_SECRET_LEN],
                        uint64_t hlc, struct buf *out, struct dti_err *e);
/* Parse and check the proof of possession. DTI_EPARSE, DTI_EBADSIG. */
int enroll_request_parse(const void *bytes, size_t len, struct enroll_request *rq,
                         struct dti_err *e);

int enroll_response_seal(const struct enroll_response *rs, const struct signer *hub,
                         struct buf *out, struct dti_err *e);
/* Parse; the signature must verify with the hub key the response carries
 * (the TLS pin is what makes that key trustworthy). Caller releases. */
int enroll_response_open(const void *bytes, size_t len, struct enroll_response *rs,
                         struct dti_err *e);
void enroll_response_release(struct enroll_response *rs);

#endif
