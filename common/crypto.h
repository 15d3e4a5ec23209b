/*
 * crypto.h - the only door to OpenSSL's libcrypto for signing and hashing:
 * Ed25519 keys (generate, load, save, sign, verify), SHA-256, certificate
 * fingerprints, random bytes, hex and base64url.
 *
 * A signer is a service (opaque, owns a private key). Public keys, hashes
 * and signatures are plain fixed-size byte arrays.
 */
#ifndef DTI_CRYPTO_H
#define DTI_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CRYPTO_PUBKEY_LEN 32
#define CRYPTO_SIG_LEN 64
#define CRYPTO_SHA256_LEN 32
#define CRYPTO_FP_HEX_LEN 64 /* SHA-256 fingerprint as lowercase hex, without NUL */

struct signer;
struct x509_st; /* OpenSSL's X509 */

/* Generate a fresh Ed25519 key. 0 or DTI_ECRYPTO. */
int signer_generate(struct signer **out);
/* Load a PEM (PKCS#8) Ed25519 private key. DTI_ENOTFOUND, DTI_EIO, DTI_ECRYPTO. */
int signer_load(struct signer **out, const char *path, struct dti_err *e);
/* Save as PEM PKCS#8, mode 0600, atomically (temp file, fsync, rename). */
int signer_save(const struct signer *s, const char *path, struct dti_err *e);
/* The 32-byte raw public key. */
void signer_public(const struct signer *s, uint8_t pub[CRYPTO_PUBKEY_LEN]);
/* Sign msg (Ed25519, deterministic). 0 or DTI_ECRYPTO. */
int signer_sign(const struct signer *s, const void *msg, size_t len, uint8_t sig[CRYPTO_SIG_LEN]);
/* Free; NULL is a no-op. */
void signer_free(struct signer *s);

/* Verify an Ed25519 signature. 0, DTI_EBADSIG (wrong signature or malformed key). */
int crypto_verify(const uint8_t pub[CRYPTO_PUBKEY_LEN], const void *msg, size_t len,
                  const uint8_t sig[CRYPTO_SIG_LEN]);

/* One-shot SHA-256. */
void crypto_sha256(const void *p, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);

/* Incremental SHA-256. A plain value type the caller allocates; sha256_init allocates the
 * EVP context inside (aborting if it cannot) and sha256_final releases it, so every init
 * needs its final. */
struct sha256 {
    void *md; /* EVP_MD_CTX *, owned */
};
void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes the digest and releases the context. */
void sha256_final(struct sha256 *h, uint8_t out[CRYPTO_SHA256_LEN]);

/* SHA-256 of the certificate's DER encoding as lowercase hex + NUL. 0 or DTI_ECRYPTO. */
int crypto_cert_fingerprint(struct x509_st *cert, char out[CRYPTO_FP_HEX_LEN + 1]);
/* Normalise a user-typed fingerprint (case, ':' separators, optional "sha256:" prefix)
 * into 64 lowercase hex chars + NUL. 0 or DTI_EINVAL. */
int crypto_fp_normalise(const char *in, char out[CRYPTO_FP_HEX_LEN + 1]);

/* The reason of OpenSSL's most recent error (for messages); empties the error queue. */
const char *crypto_last_error(void);
/* A PEM password callback that refuses: key files are never encrypted, and a
 * program must not stop to prompt on a terminal. */
int crypto_no_passphrase(char *buf, int size, int rwflag, void *u);

/* Fill p with n cryptographically random bytes. 0 or DTI_ECRYPTO. */
int crypto_random(void *p, size_t n);

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void hex_encode(const void *p, size_t n, char *out);
/* Decode exactly 2n hex chars (either case) into n bytes. 0 or DTI_EINVAL. */
int hex_decode(const char *s, void *out, size_t n);
/* base64url without padding (RFC 4648 §5) into a new string the caller frees. */
char *base64url_encode(const void *p, size_t n);
/* Decode base64url (padding optional) of at most max decoded bytes into a new buffer
 * the caller frees. 0, DTI_EINVAL (bad alphabet or length), DTI_ETOOBIG. */
int base64url_decode(const char *s, size_t max, uint8_t **out, size_t *outlen);

#endif
