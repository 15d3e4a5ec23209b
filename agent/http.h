/*
 * http.h - the real transport: HTTPS to the hub with libcurl (OpenSSL),
 * verification always on, the hub certificate pinned by the SHA-256 of its
 * DER encoding. A different certificate fails the handshake with DTI_EPIN
 * and both fingerprints in the message; there is no fallback.
 */
#ifndef DTI_HTTP_H
#define DTI_HTTP_H

#include "crypto.h"
#include "transport.h"

struct http_client;

/* base_url is "https://HOST:PORT"; fingerprint is 64 lowercase hex chars. */
int http_client_new(struct http_client **out, const char *base_url,
                    const char fingerprint[CRYPTO_FP_HEX_LEN + 1], struct dti_err *e);
void http_client_free(struct http_client *c);
/* Name the sending agent in an X-DTI-Via header on every request. Informational:
 * the hub records it per batch, so 'dti-hub gaps' can say a commune's batches come
 * through district Y's relay. Signatures, not this header, decide trust. */
void http_client_set_via(struct http_client *c, const char *agent_id);
/* The transport table backed by c (valid while c lives). */
struct transport http_transport(struct http_client *c);

#endif
