/*
 * token.h - the one-time enrolment token an operator hands to an office:
 * "DTI1." followed by base64url of a small JSON object carrying the hub's
 * address, its TLS certificate fingerprint, the unit, and a 32-byte secret.
 * With it alone an agent can find the hub, pin it, and enrol.
 */
#ifndef DTI_TOKEN_H
#define DTI_TOKEN_H

#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "value.h"

#define TOKEN_PREFIX "DTI1."
#define TOKEN_SECRET_LEN 32
#define TOKEN_URL_MAX 256
#define TOKEN_MAX 2048

struct token {
    char hub_url[TOKEN_URL_MAX + 1];         /* https://host:port */
    char fingerprint[CRYPTO_FP_HEX_LEN + 1]; /* of the hub's TLS certificate */
    char unit[UNIT_CODE_MAX + 1];
    uint8_t secret[TOKEN_SECRET_LEN];
};

/* Encode into a new string the caller frees. */
char *token_encode(const struct token *t);
/* Decode and validate every field. DTI_ETOKEN with the reason in e. */
int token_decode(const char *s, struct token *t, struct dti_err *e);
/* True for "https://HOST:PORT" with a non-empty host and port 1-65535, no path. */
int hub_url_valid(const char *url);

#endif
