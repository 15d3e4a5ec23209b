/*
 * hubsigned.h - internal to proto/: the HubSigned wrapper (body bytes +
 * the hub's Ed25519 signature over them) shared by receipts, enrolment
 * answers and change pages.
 */
#ifndef DTI_HUBSIGNED_H
#define DTI_HUBSIGNED_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"

#define HUBSIGNED_MAX (16u << 20)

/* Sign body and write the HubSigned bytes to out (replacing its content). */
int hubsigned_seal(const void *body, size_t len, const struct signer *hub, struct buf *out,
                   struct dti_err *e);
/*
 * Parse HubSigned and verify its signature with pub (NULL: take the key the
 * body carries, checked by the caller; only enrolment does that). On success
 * *body and *bodylen point into *msg, which the caller frees with hubsigned_free.
 */
int hubsigned_open(const void *bytes, size_t len, const uint8_t *pub, void **msg,
                   const uint8_t **body, size_t *bodylen, struct dti_err *e);
void hubsigned_free(void *msg);
/* Verify a signature over body with pub: 0 or DTI_EBADSIG. */
int hubsigned_verify(void *msg, const uint8_t pub[CRYPTO_PUBKEY_LEN], struct dti_err *e);

#endif
