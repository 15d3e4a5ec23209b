/*
 * crypto.c - Ed25519 signers and verification, SHA-256, certificate
 * fingerprints, random bytes, hex and base64url, over OpenSSL 3's EVP API.
 *
 * A signer owns one EVP_PKEY and a copy of its raw public key. Key files are
 * PEM PKCS#8, unencrypted; they are loaded without ever prompting for a
 * passphrase and written through a memory BIO that is wiped when freed, then
 * to disk with write_file_atomic (mode 0600). Verification builds a key from
 * the 32 raw bytes on each call: one EVP_PKEY and one EVP_MD_CTX, nothing else.
 */
#include "crypto.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define KEY_FILE_MAX (64 * 1024) /* a PEM Ed25519 key is ~120 bytes */

struct signer {
    EVP_PKEY *pkey;
    uint8_t pub[CRYPTO_PUBKEY_LEN];
};

/* A void function whose only failure is the library running out of memory. */
static void fatal(const char *what)
{
    fprintf(stderr, "fatal: %s failed\n", what);
    abort();
}

const char *crypto_last_error(void)
{
    unsigned long err = ERR_peek_last_error();
    const char *s = err ? ERR_reason_error_string(err) : NULL;
    ERR_clear_error();
    return s ? s : "unknown error";
}

int crypto_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* A signer owning pkey; NULL (pkey freed) when its public key cannot be read. */
static struct signer *signer_take(EVP_PKEY *pkey)
{
    struct signer *s;
    size_t len = CRYPTO_PUBKEY_LEN;
    uint8_t pub[CRYPTO_PUBKEY_LEN];

    if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 || len != CRYPTO_PUBKEY_LEN) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    s = xmalloc(sizeof(*s));
    s->pkey = pkey;
    memcpy(s->pub, pub, sizeof(pub));
    return s;
}

int signer_generate(struct signer **out)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    struct signer *s = pkey ? signer_take(pkey) : NULL;

    if (!s) {
        ERR_clear_error();
        return DTI_ECRYPTO;
    }
    *out = s;
    return 0;
}

int signer_load(struct signer **out, const char *path, struct dti_err *e)
{
    char *pem = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    struct signer *s;
    int r = read_file_bounded(path, KEY_FILE_MAX, &pem, &len);

    if (r == DTI_ETOOBIG) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot load key '%s': file too large", path);
        goto out;
    }
    if (r < 0) {
        r = dti_errf(e, r, "cannot load key '%s': %s", path,
                     r == DTI_ENOTFOUND ? "no such file" : strerror(errno));
        goto out;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot load key '%s': %s", path, crypto_last_error());
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, crypto_no_passphrase, NULL);
    if (!pkey) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot load key '%s': %s", path, crypto_last_error());
        goto out;
    }
    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot load key '%s': not an Ed25519 key", path);
        goto out;
    }
    s = signer_take(pkey);
    pkey = NULL;
    if (!s) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot load key '%s': %s", path, crypto_last_error());
        goto out;
    }
    *out = s;
    r = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (pem) {
        OPENSSL_cleanse(pem, len);
        free(pem);
    }
    return r;
}

int signer_save(const struct signer *s, const char *path, struct dti_err *e)
{
    /* secure memory BIO: its buffer is wiped when freed */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *pem;
    long len;
    int r;

    if (!bio || !PEM_write_bio_PrivateKey(bio, s->pkey, NULL, NULL, 0, NULL, NULL)) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot save key '%s': %s", path, crypto_last_error());
        goto out;
    }
    len = BIO_get_mem_data(bio, &pem);
    r = write_file_atomic(path, pem, (size_t)len, 0600);
    if (r < 0)
        r = dti_errf(e, r, "cannot save key '%s': %s", path, strerror(errno));
out:
    BIO_free(bio);
    return r;
}

void signer_public(const struct signer *s, uint8_t pub[CRYPTO_PUBKEY_LEN])
{
    memcpy(pub, s->pub, CRYPTO_PUBKEY_LEN);
}

int signer_sign(const struct signer *s, const void *msg, size_t len, uint8_t sig[CRYPTO_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t tmp[CRYPTO_SIG_LEN];
    size_t siglen = sizeof(tmp);
    int r = DTI_ECRYPTO;

    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) != 1 ||
        EVP_DigestSign(ctx, tmp, &siglen, msg ? msg : (const void *)"", len) != 1 ||
        siglen != CRYPTO_SIG_LEN) {
        ERR_clear_error();
        goto out;
    }
    memcpy(sig, tmp, CRYPTO_SIG_LEN);
    r = 0;
out:
    EVP_MD_CTX_free(ctx);
    return r;
}

void signer_free(struct signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->pkey);
    free(s);
}

int crypto_verify(const uint8_t pub[CRYPTO_PUBKEY_LEN], const void *msg, size_t len,
                  const uint8_t sig[CRYPTO_SIG_LEN])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, CRYPTO_PUBKEY_LEN);
    EVP_MD_CTX *ctx = NULL;
    int r = DTI_EBADSIG;

    /* any failure, even the library's own, refuses the signature */
    if (!pkey)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
        EVP_DigestVerify(ctx, sig, CRYPTO_SIG_LEN, msg ? msg : (const void *)"", len) != 1)
        goto out;
    r = 0;
out:
    if (r < 0)
        ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return r;
}

void crypto_sha256(const void *p, size_t n, uint8_t out[CRYPTO_SHA256_LEN])
{
    if (EVP_Digest(p ? p : (const void *)"", n, out, NULL, EVP_sha256(), NULL) != 1)
        fatal("SHA-256");
}

void sha256_init(struct sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        fatal("SHA-256 init");
    h->md = ctx;
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
    assert(h->md);
    if (n && EVP_DigestUpdate(h->md, p, n) != 1)
        fatal("SHA-256 update");
}

void sha256_final(struct sha256 *h, uint8_t out[CRYPTO_SHA256_LEN])
{
    assert(h->md);
    if (EVP_DigestFinal_ex(h->md, out, NULL) != 1)
        fatal("SHA-256 final");
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
}

int crypto_cert_fingerprint(struct x509_st *cert, char out[CRYPTO_FP_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != CRYPTO_SHA256_LEN) {
        ERR_clear_error();
        return DTI_ECRYPTO;
    }
    hex_encode(md, len, out);
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int crypto_fp_normalise(const char *in, char out[CRYPTO_FP_HEX_LEN + 1])
{
    char fp[CRYPTO_FP_HEX_LEN + 1];
    size_t n = 0;
    const char *p = in;

    if (strncasecmp(p, "sha256:", 7) == 0)
        p += 7;
    /* ':' only between hex pairs: "ab:cd" and "abcd" but not ":ab", "ab::cd", "a:b" or "ab:" */
    for (; *p; p++) {
        if (*p == ':') {
            if (n == 0 || n % 2 != 0 || p[-1] == ':' || p[1] == '\0')
                return DTI_EINVAL;
            continue;
        }
        int v = hex_value(*p);
        if (v < 0 || n == CRYPTO_FP_HEX_LEN)
            return DTI_EINVAL;
        fp[n++] = "0123456789abcdef"[v];
    }
    if (n != CRYPTO_FP_HEX_LEN)
        return DTI_EINVAL;
    fp[n] = '\0';
    memcpy(out, fp, sizeof(fp));
    return 0;
}

int crypto_random(void *p, size_t n)
{
    unsigned char *b = p;

    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(b, chunk) != 1) {
            ERR_clear_error();
            return DTI_ECRYPTO;
        }
        b += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

void hex_encode(const void *p, size_t n, char *out)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = "0123456789abcdef"[b[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[b[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int hex_decode(const char *s, void *out, size_t n)
{
    unsigned char *b = out;

    /* validate first, so out is written only on success */
    for (size_t i = 0; i < 2 * n; i++)
        if (hex_value(s[i]) < 0) /* also stops at a NUL: s is too short */
            return DTI_EINVAL;
    if (s[2 * n] != '\0')
        return DTI_EINVAL;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(hex_value(s[2 * i]) << 4 | hex_value(s[2 * i + 1]));
    return 0;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

char *base64url_encode(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t full = n / 3, rest = n % 3;
    char *out, *o;

    assert(full <= (SIZE_MAX - 4) / 4);
    out = o = xmalloc(full * 4 + (rest ? rest + 1 : 0) + 1);
    for (size_t i = 0; i < full * 3; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        *o++ = b64url_alphabet[v >> 18];
        *o++ = b64url_alphabet[(v >> 12) & 63];
        *o++ = b64url_alphabet[(v >> 6) & 63];
        *o++ = b64url_alphabet[v & 63];
    }
    if (rest) {
        uint32_t v = (uint32_t)b[full * 3] << 16;
        if (rest == 2)
            v |= (uint32_t)b[full * 3 + 1] << 8;
        *o++ = b64url_alphabet[v >> 18];
        *o++ = b64url_alphabet[(v >> 12) & 63];
        if (rest == 2)
            *o++ = b64url_alphabet[(v >> 6) & 63];
    }
    *o = '\0';
    return out;
}

int base64url_decode(const char *s, size_t max, uint8_t **out, size_t *outlen)
{
    size_t len = strlen(s), pad = 0, rest, n;
    uint8_t *buf, *o;
    uint32_t v = 0;
    int bits = 0;

    while (pad < len && pad < 2 && s[len - 1 - pad] == '=')
        pad++;
    rest = (len - pad) % 4;
    /* padding, when present, fills the last quantum exactly: "Zg==", "Zm8=" */
    if (rest == 1 || (pad && pad != 4 - rest))
        return DTI_EINVAL;
    len -= pad;
    n = len / 4 * 3 + (rest ? rest - 1 : 0);
    if (n > max)
        return DTI_ETOOBIG;
    for (size_t i = 0; i < len; i++)
        if (b64url_value(s[i]) < 0)
            return DTI_EINVAL;
    /* canonical form only: the bits below the last byte must be zero */
    if ((rest == 2 && (b64url_value(s[len - 1]) & 0x0f)) ||
        (rest == 3 && (b64url_value(s[len - 1]) & 0x03)))
        return DTI_EINVAL;

    buf = o = xmalloc(n);
    for (size_t i = 0; i < len; i++) {
        v = (v << 6 | (uint32_t)b64url_value(s[i])) & 0x3fff; /* at most 14 bits pending */
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (uint8_t)(v >> bits);
        }
    }
    assert((size_t)(o - buf) == n);
    *out = buf;
    *outlen = n;
    return 0;
}
