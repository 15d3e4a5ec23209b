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
/* The transport table backed by c (valid while c lives). */
struct transport http_transport(struct http_client *c);

#endif
