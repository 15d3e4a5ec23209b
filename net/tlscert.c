/*
 * tlscert.c - a server's self-signed TLS certificate (hub or relay): making it at init,
 * fingerprinting it for enrolment tokens, and checking a key against it.
 *
 * Agents pin the SHA-256 of the certificate's DER encoding rather than
 * validating a chain, so the certificate only has to be well-formed: ECDSA
 * P-256, X.509 v3, a random 128-bit serial, basicConstraints CA:FALSE and
 * subjectAltNames built as structures (never from a config string, so a host
 * cannot smuggle extra names in). No keyUsage extension: with one, OpenSSL no
 * longer treats the certificate as self-signed unless keyCertSign is set.
 */
#include "tlscert.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define PEM_FILE_MAX (1024 * 1024)
#define CN_MAX 64       /* ub-common-name in RFC 5280 */
#define VALID_DAYS 3653 /* ten years, leap days included */

/* An IP address, or a DNS name of letters, digits, '-' and '.' short enough to be the CN. */
static int valid_host(const char *host)
{
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);

    ERR_clear_error();
    if (ip) {
        ASN1_OCTET_STRING_free(ip);
        return 1;
    }
    if (!*host || *host == '.' || *host == '-' || strlen(host) > CN_MAX)
        return 0;
    for (const char *s = host; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* Append "IP:ip" (when ip parses as an address) or "DNS:name" to gens. 0 or -1. */
static int add_name(GENERAL_NAMES *gens, const char *name)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
    ASN1_IA5STRING *dns = NULL;

    ERR_clear_error(); /* a2i_IPADDRESS failing only means "not an address" */
    if (!gn)
        goto fail;
    if (ip) {
        GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
        ip = NULL;
    } else {
        dns = ASN1_IA5STRING_new();
        if (!dns || !ASN1_STRING_set(dns, name, -1))
            goto fail;
        GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
        dns = NULL;
    }
    if (!sk_GENERAL_NAME_push(gens, gn))
        goto fail;
    return 0;
fail:
    ASN1_OCTET_STRING_free(ip);
    ASN1_IA5STRING_free(dns);
    GENERAL_NAME_free(gn);
    return -1;
}

static int add_sans(X509 *x, const char *host)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    int ok = gens && add_name(gens, host) == 0 &&
             (strcmp(host, "localhost") == 0 || add_name(gens, "localhost") == 0) &&
             (strcmp(host, "127.0.0.1") == 0 || add_name(gens, "127.0.0.1") == 0) &&
             X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;

    GENERAL_NAMES_free(gens);
    return ok ? 0 : -1;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1) == 1;

    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A positive serial of exactly 16 bytes: top bit clear, next bit set. */
static int set_random_serial(X509 *x)
{
    unsigned char b[16];
    BIGNUM *bn = NULL;
    int ok = crypto_random(b, sizeof(b)) == 0;

    if (ok) {
        b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
        bn = BN_bin2bn(b, sizeof(b), NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    }
    BN_free(bn);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *pkey, const char *host)
{
    X509 *x = X509_new();
    X509_NAME *name;
    time_t now = time(NULL);

    if (!x || !X509_set_version(x, X509_VERSION_3) || set_random_serial(x) < 0)
        goto fail;
    if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), VALID_DAYS, 0, &now))
        goto fail;
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pkey))
        goto fail;
    if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth") < 0 || add_sans(x, host) < 0)
        goto fail;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

/* Write the content of a memory BIO to path, atomically, with mode. */
static int write_pem(BIO *bio, const char *path, unsigned mode, const char *what, struct dti_err *e)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int r = write_file_atomic(path, data, (size_t)len, mode);

    if (r < 0)
        return dti_errf(e, r, "cannot write %s '%s': %s", what, path, strerror(errno));
    return 0;
}

int tlscert_generate(const char *host, const char *cert_path, const char *key_path,
                     struct dti_err *e)
{
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    BIO *kbio = NULL, *cbio = NULL;
    int r;

    if (!valid_host(host)) {
        r = dti_errf(e, DTI_EINVAL, "invalid host '%s': not an IP address or DNS name", host);
        goto out;
    }
    pkey = EVP_EC_gen("P-256");
    x = pkey ? make_cert(pkey, host) : NULL;
    if (!x) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot make certificate for '%s': %s", host,
                     crypto_last_error());
        goto out;
    }
    kbio = BIO_new(BIO_s_secmem());
    cbio = BIO_new(BIO_s_mem());
    if (!kbio || !cbio || !PEM_write_bio_PrivateKey(kbio, pkey, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(cbio, x)) {
        r = dti_errf(e, DTI_ECRYPTO, "cannot encode certificate for '%s': %s", host,
                     crypto_last_error());
        goto out;
    }
    /* key first: a failure in between leaves a key that does not match the old certificate,
     * which tlscert_check_pair reports, never a certificate without its key */
    r = write_pem(kbio, key_path, 0600, "key", e);
    if (r < 0)
        goto out;
    r = write_pem(cbio, cert_path, 0644, "certificate", e);
out:
    BIO_free(cbio);
    BIO_free(kbio);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return r;
}

/* Read a whole PEM file into a memory BIO the caller frees. */
static int read_pem(const char *path, const char *what, BIO **out, struct dti_err *e)
{
    char *pem = NULL;
    size_t len = 0;
    BIO *bio;
    int r = read_file_bounded(path, PEM_FILE_MAX, &pem, &len);

    if (r < 0)
        return dti_errf(e, r, "cannot read %s '%s': %s", what, path,
                        r == DTI_ENOTFOUND ? "no such file"
                        : r == DTI_ETOOBIG ? "file too large"
                                           : strerror(errno));
    bio = BIO_new(BIO_s_secmem());
    if (!bio || BIO_write(bio, pem, (int)len) != (int)len) {
        BIO_free(bio);
        r = dti_errf(e, DTI_ECRYPTO, "cannot read %s '%s': %s", what, path, crypto_last_error());
    } else {
        *out = bio;
    }
    OPENSSL_cleanse(pem, len);
    free(pem);
    return r;
}

static int load_cert(const char *path, X509 **out, struct dti_err *e)
{
    BIO *bio = NULL;
    X509 *x;
    int r = read_pem(path, "certificate", &bio, e);

    if (r < 0)
        return r;
    x = PEM_read_bio_X509(bio, NULL, crypto_no_passphrase, NULL);
    BIO_free(bio);
    if (!x)
        return dti_errf(e, DTI_EPARSE, "cannot read certificate '%s': %s", path,
                        crypto_last_error());
    *out = x;
    return 0;
}

int tlscert_fingerprint_file(const char *cert_path, char out[CRYPTO_FP_HEX_LEN + 1],
                             struct dti_err *e)
{
    X509 *x = NULL;
    int r = load_cert(cert_path, &x, e);

    if (r < 0)
        return r;
    r = crypto_cert_fingerprint(x, out);
    if (r < 0)
        r = dti_errf(e, r, "cannot fingerprint certificate '%s'", cert_path);
    X509_free(x);
    return r;
}

int tlscert_check_pair(const char *cert_path, const char *key_path, struct dti_err *e)
{
    X509 *x = NULL;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    int r = load_cert(cert_path, &x, e);

    if (r < 0)
        goto out;
    r = read_pem(key_path, "key", &bio, e);
    if (r < 0)
        goto out;
    pkey = PEM_read_bio_PrivateKey(bio, NULL, crypto_no_passphrase, NULL);
    if (!pkey) {
        r = dti_errf(e, DTI_EPARSE, "cannot read key '%s': %s", key_path, crypto_last_error());
        goto out;
    }
    if (X509_check_private_key(x, pkey) != 1) {
        ERR_clear_error();
        r = dti_errf(e, DTI_ECRYPTO, "key '%s' does not match certificate '%s'", key_path,
                     cert_path);
        goto out;
    }
    r = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    X509_free(x);
    return r;
}
