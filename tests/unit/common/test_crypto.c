/*
 * test_crypto.c - unit tests of common/crypto.c: Ed25519 signers against the
 * RFC 8032 vectors and one-bit tampering, key files (round trip, mode, bad
 * input), SHA-256 against the FIPS 180-2 vectors, certificate fingerprints,
 * fingerprint normalisation, random bytes, hex and base64url.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "err.h"
#include "util.h"

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static int setup_dir(void **state)
{
    char tmpl[] = "/tmp/dti-test-crypto-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        return -1;
    *state = xstrdup(dir);
    return 0;
}

static int teardown_dir(void **state)
{
    int r = nftw(*state, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return r;
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
    assert_int_equal(hex_decode(s, out, n), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* Write pkey as PEM PKCS#8 to path, optionally encrypted with a passphrase. */
static void write_key_pem(EVP_PKEY *pkey, const char *path, const char *pass)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (pass)
        assert_int_equal(
            PEM_write_PKCS8PrivateKey(f, pkey, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)pass), 1);
    else
        assert_int_equal(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
}

/* ---- Ed25519 ---- */

static void test_sign_verify(void **state)
{
    struct signer *s = NULL, *t = NULL;
    uint8_t pub[CRYPTO_PUBKEY_LEN], pub2[CRYPTO_PUBKEY_LEN];
    uint8_t sig[CRYPTO_SIG_LEN], sig2[CRYPTO_SIG_LEN];
    const char msg[] = "batch 42 of agent 7";

    assert_int_equal(signer_generate(&s), 0);
    assert_int_equal(signer_generate(&t), 0);
    signer_public(s, pub);
    signer_public(t, pub2);
    assert_memory_not_equal(pub, pub2, sizeof(pub));

    assert_int_equal(signer_sign(s, msg, strlen(msg), sig), 0);
    assert_int_equal(crypto_verify(pub, msg, strlen(msg), sig), 0);
    /* Ed25519 is deterministic */
    assert_int_equal(signer_sign(s, msg, strlen(msg), sig2), 0);
    assert_memory_equal(sig, sig2, sizeof(sig));
    /* another key neither verifies this signature nor makes the same one */
    assert_int_equal(crypto_verify(pub2, msg, strlen(msg), sig), DTI_EBADSIG);
    assert_int_equal(signer_sign(t, msg, strlen(msg), sig2), 0);
    assert_memory_not_equal(sig, sig2, sizeof(sig));
    /* a prefix of the message is another message */
    assert_int_equal(crypto_verify(pub, msg, strlen(msg) - 1, sig), DTI_EBADSIG);

    /* the empty message, also as a NULL pointer */
    assert_int_equal(signer_sign(s, NULL, 0, sig), 0);
    assert_int_equal(crypto_verify(pub, "", 0, sig), 0);
    assert_int_equal(crypto_verify(pub, NULL, 0, sig), 0);
    assert_int_equal(crypto_verify(pub, msg, strlen(msg), sig), DTI_EBADSIG);

    signer_free(s);
    signer_free(t);
    signer_free(NULL);
}

static void test_verify_rejects_one_bit_flips(void **state)
{
    struct signer *s = NULL;
    uint8_t pub[CRYPTO_PUBKEY_LEN], sig[CRYPTO_SIG_LEN];
    uint8_t msg[24];

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 37 + 5);
    assert_int_equal(signer_generate(&s), 0);
    signer_public(s, pub);
    assert_int_equal(signer_sign(s, msg, sizeof(msg), sig), 0);
    assert_int_equal(crypto_verify(pub, msg, sizeof(msg), sig), 0);

    for (size_t bit = 0; bit < 8 * sizeof(msg); bit++) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(crypto_verify(pub, msg, sizeof(msg), sig), DTI_EBADSIG);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * sizeof(sig); bit++) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(crypto_verify(pub, msg, sizeof(msg), sig), DTI_EBADSIG);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 8 * sizeof(pub); bit++) {
        pub[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(crypto_verify(pub, msg, sizeof(msg), sig), DTI_EBADSIG);
        pub[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* every flip was undone: the original still verifies */
    assert_int_equal(crypto_verify(pub, msg, sizeof(msg), sig), 0);

    /* degenerate keys and signatures */
    uint8_t zero_pub[CRYPTO_PUBKEY_LEN] = {0}, zero_sig[CRYPTO_SIG_LEN] = {0};
    assert_int_equal(crypto_verify(zero_pub, msg, sizeof(msg), sig), DTI_EBADSIG);
    assert_int_equal(crypto_verify(pub, msg, sizeof(msg), zero_sig), DTI_EBADSIG);
    signer_free(s);
}

/* RFC 8032 §7.1, tests 1-3: key files made outside crypto.c, known signatures. */
static void test_rfc8032_vectors(void **state)
{
    static const struct {
        const char *secret, *public, *msg, *sig;
    } v[] = {
        {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
         "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
         "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
        {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
         "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        uint8_t sk[32], pk[CRYPTO_PUBKEY_LEN], want[CRYPTO_SIG_LEN], got[CRYPTO_SIG_LEN];
        uint8_t pub[CRYPTO_PUBKEY_LEN], msg[8];
        size_t mlen = strlen(v[i].msg) / 2;
        struct dti_err e = {0};
        struct signer *s = NULL;
        char *path = path_join(*state, "rfc8032.pem");

        unhex(v[i].secret, sk, sizeof(sk));
        unhex(v[i].public, pk, sizeof(pk));
        unhex(v[i].sig, want, sizeof(want));
        unhex(v[i].msg, msg, mlen);

        EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sizeof(sk));
        assert_non_null(pkey);
        write_key_pem(pkey, path, NULL);
        EVP_PKEY_free(pkey);

        assert_int_equal(signer_load(&s, path, &e), 0);
        signer_public(s, pub);
        assert_memory_equal(pub, pk, sizeof(pk));
        assert_int_equal(signer_sign(s, msg, mlen, got), 0);
        assert_memory_equal(got, want, sizeof(want));
        assert_int_equal(crypto_verify(pk, msg, mlen, want), 0);
        signer_free(s);
        free(path);
    }
}

/* ---- key files ---- */

static void test_save_load(void **state)
{
    struct signer *s = NULL, *t = NULL;
    struct dti_err e = {0};
    uint8_t pub[CRYPTO_PUBKEY_LEN], pub2[CRYPTO_PUBKEY_LEN], sig[CRYPTO_SIG_LEN];
    char *path = path_join(*state, "agent.key");
    struct stat st;
    char *pem = NULL;

    /* a file already there with a loose mode is replaced by a 0600 one */
    write_text(path, "old\n");
    assert_int_equal(chmod(path, 0644), 0);
    mode_t old = umask(0);

    assert_int_equal(signer_generate(&s), 0);
    assert_int_equal(signer_save(s, path, &e), 0);
    umask(old);
    assert_int_equal(e.code, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(count_entries(*state), 1); /* no temp file left behind */

    assert_int_equal(read_file_bounded(path, 4096, &pem, NULL), 0);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----\n"));
    free(pem);

    assert_int_equal(signer_load(&t, path, &e), 0);
    signer_public(s, pub);
    signer_public(t, pub2);
    assert_memory_equal(pub, pub2, sizeof(pub));
    /* the loaded key signs for the saved one */
    assert_int_equal(signer_sign(t, "x", 1, sig), 0);
    assert_int_equal(crypto_verify(pub, "x", 1, sig), 0);

    signer_free(s);
    signer_free(t);
    free(path);
}

static void test_save_to_missing_dir(void **state)
{
    struct signer *s = NULL;
    struct dti_err e = {0};
    char *path = path_join(*state, "no/such/dir/agent.key");

    assert_int_equal(signer_generate(&s), 0);
    assert_int_equal(signer_save(s, path, &e), DTI_EIO);
    assert_int_equal(e.code, DTI_EIO);
    assert_non_null(strstr(e.msg, "cannot save key '"));
    assert_non_null(strstr(e.msg, path));
    signer_free(s);
    free(path);
}

static void expect_load_fails(const char *path, int code, const char *why)
{
    static char dummy;
    struct signer *const sentinel = (struct signer *)&dummy; /* must stay untouched */
    struct signer *s = sentinel;
    struct dti_err e = {0};
    char *want = xasprintf("cannot load key '%s': ", path);

    assert_int_equal(signer_load(&s, path, &e), code);
    assert_ptr_equal(s, sentinel);
    assert_int_equal(e.code, code);
    assert_memory_equal(e.msg, want, strlen(want));
    if (why)
        assert_non_null(strstr(e.msg, why));
    free(want);
}

static void test_load_errors(void **state)
{
    char *missing = path_join(*state, "missing.key");
    char *garbage = path_join(*state, "garbage.key");
    char *ec = path_join(*state, "ec.key");
    char *enc = path_join(*state, "encrypted.key");
    char *big = path_join(*state, "big.key");

    expect_load_fails(missing, DTI_ENOTFOUND, "no such file");

    write_text(garbage,
               "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n");
    expect_load_fails(garbage, DTI_ECRYPTO, NULL);

    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    assert_non_null(pkey);
    write_key_pem(pkey, ec, NULL);
    EVP_PKEY_free(pkey);
    expect_load_fails(ec, DTI_ECRYPTO, "not an Ed25519 key");

    /* an encrypted key is refused, never prompted for */
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(pkey);
    write_key_pem(pkey, enc, "secret");
    EVP_PKEY_free(pkey);
    expect_load_fails(enc, DTI_ECRYPTO, NULL);

    size_t n = 65 * 1024;
    char *junk = xmalloc(n);
    memset(junk, 'A', n);
    assert_int_equal(write_file_atomic(big, junk, n, 0600), 0);
    free(junk);
    expect_load_fails(big, DTI_ECRYPTO, "too large");

    free(missing);
    free(garbage);
    free(ec);
    free(enc);
    free(big);
}

/* ---- SHA-256 ---- */

static const char abc448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

static void assert_digest_hex(const uint8_t d[CRYPTO_SHA256_LEN], const char *want)
{
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    hex_encode(d, CRYPTO_SHA256_LEN, hex);
    assert_string_equal(hex, want);
}

static void test_sha256_vectors(void **state)
{
    uint8_t d[CRYPTO_SHA256_LEN];

    crypto_sha256("abc", 3, d);
    assert_digest_hex(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256("", 0, d);
    assert_digest_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    crypto_sha256(NULL, 0, d);
    assert_digest_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    crypto_sha256(abc448, strlen(abc448), d);
    assert_digest_hex(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    char *million = xmalloc(1000000);
    memset(million, 'a', 1000000);
    crypto_sha256(million, 1000000, d);
    assert_digest_hex(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

static void test_sha256_incremental(void **state)
{
    uint8_t whole[CRYPTO_SHA256_LEN], d[CRYPTO_SHA256_LEN];
    struct sha256 h;
    size_t n = strlen(abc448);

    /* every split point of the two-block vector gives the one-shot digest */
    crypto_sha256(abc448, n, whole);
    for (size_t cut = 0; cut <= n; cut++) {
        sha256_init(&h);
        sha256_update(&h, abc448, cut);
        sha256_update(&h, abc448 + cut, n - cut);
        sha256_final(&h, d);
        assert_memory_equal(d, whole, sizeof(d));
        assert_null(h.md);
    }

    sha256_init(&h);
    sha256_final(&h, d);
    assert_digest_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    char chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    sha256_init(&h);
    for (int i = 0; i < 1000; i++)
        sha256_update(&h, chunk, sizeof(chunk));
    sha256_final(&h, d);
    assert_digest_hex(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* ---- certificate fingerprints ---- */

static X509 *make_self_signed(void)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(pkey);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 12345), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"test", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_int_equal(X509_set_pubkey(x, pkey), 1);
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    EVP_PKEY_free(pkey);
    return x;
}

static void test_cert_fingerprint(void **state)
{
    X509 *x = make_self_signed();
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    uint8_t d[CRYPTO_SHA256_LEN];
    char want[CRYPTO_FP_HEX_LEN + 1], got[CRYPTO_FP_HEX_LEN + 1];

    assert_true(len > 0);
    /* the definition: SHA-256 of the DER encoding, lowercase hex */
    crypto_sha256(der, (size_t)len, d);
    hex_encode(d, sizeof(d), want);
    memset(got, 'x', sizeof(got));
    assert_int_equal(crypto_cert_fingerprint(x, got), 0);
    assert_int_equal(strlen(got), CRYPTO_FP_HEX_LEN);
    assert_string_equal(got, want);

    /* a different certificate has a different fingerprint */
    X509 *y = make_self_signed();
    assert_int_equal(crypto_cert_fingerprint(y, want), 0);
    assert_string_not_equal(got, want);

    OPENSSL_free(der);
    X509_free(x);
    X509_free(y);
}

static void test_fp_normalise(void **state)
{
    const char *lower = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const char *ok[] = {
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
        "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
        "AB:CD:EF",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "SHA256:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:"
        "67:89:ab:cd:ef",
    };
    const char *bad[] = {
        "",
        "sha256:",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",   /* 63 */
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", /* 65 */
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
        " 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        ":0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:",
        "01::23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0:123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha1:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    };
    char out[CRYPTO_FP_HEX_LEN + 1];

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        memset(out, 0, sizeof(out));
        assert_int_equal(crypto_fp_normalise(ok[i], out), 0);
        assert_string_equal(out, lower);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        memset(out, '#', sizeof(out));
        if (crypto_fp_normalise(bad[i], out) != DTI_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        for (size_t k = 0; k < sizeof(out); k++)
            assert_int_equal(out[k], '#'); /* untouched on failure */
    }
}

/* ---- random ---- */

static void test_random(void **state)
{
    uint8_t a[32], b[32], zero[32] = {0};
    static uint8_t big[1 << 16];
    int seen[256] = {0}, distinct = 0;

    assert_int_equal(crypto_random(a, 0), 0);
    assert_int_equal(crypto_random(a, sizeof(a)), 0);
    assert_int_equal(crypto_random(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));

    assert_int_equal(crypto_random(big, sizeof(big)), 0);
    for (size_t i = 0; i < sizeof(big); i++)
        seen[big[i]]++;
    for (int i = 0; i < 256; i++) {
        distinct += seen[i] > 0;
        /* 256 expected per value; 128..384 is more than 8 standard deviations */
        assert_in_range(seen[i], 128, 384);
    }
    assert_int_equal(distinct, 256);
}

/* ---- hex ---- */

static void test_hex(void **state)
{
    const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char hex[2 * sizeof(bytes) + 1];
    uint8_t out[sizeof(bytes)], sentinel[sizeof(bytes)];

    hex_encode(bytes, sizeof(bytes), hex);
    assert_string_equal(hex, "00017f80abff");
    hex_encode(bytes, 0, hex);
    assert_string_equal(hex, "");

    assert_int_equal(hex_decode("00017f80abff", out, sizeof(out)), 0);
    assert_memory_equal(out, bytes, sizeof(bytes));
    assert_int_equal(hex_decode("00017F80ABFF", out, sizeof(out)), 0);
    assert_memory_equal(out, bytes, sizeof(bytes));
    assert_int_equal(hex_decode("", out, 0), 0);

    const char *bad[] = {"00017f80abf",  "00017f80abff0", "00017f80abff00", "00017f80abfg",
                         "0x017f80abff", " 0017f80abff",  "00017f80abf ",   ""};
    memset(sentinel, 0x5a, sizeof(sentinel));
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        memcpy(out, sentinel, sizeof(out));
        if (hex_decode(bad[i], out, sizeof(out)) != DTI_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_memory_equal(out, sentinel, sizeof(out));
    }
    assert_int_equal(hex_decode("a", out, 0), DTI_EINVAL);

    /* round trips */
    uint8_t in[64], back[64];
    char buf[129];
    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(i * 73 + n);
        hex_encode(in, n, buf);
        assert_int_equal(strlen(buf), 2 * n);
        assert_int_equal(hex_decode(buf, back, n), 0);
        assert_memory_equal(back, in, n);
    }
}

/* ---- base64url ---- */

static void test_base64url_vectors(void **state)
{
    /* RFC 4648 §10, in the URL alphabet, unpadded */
    static const struct {
        const char *plain, *enc;
    } v[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        char *enc = base64url_encode(v[i].plain, strlen(v[i].plain));
        uint8_t *dec = NULL;
        size_t n = 99;
        assert_string_equal(enc, v[i].enc);
        assert_int_equal(base64url_decode(enc, 64, &dec, &n), 0);
        assert_int_equal(n, strlen(v[i].plain));
        assert_memory_equal(dec, v[i].plain, n);
        free(enc);
        free(dec);
    }

    /* the two characters that differ from standard base64 */
    const uint8_t hi[] = {0xfb, 0xff, 0xbf};
    char *enc = base64url_encode(hi, sizeof(hi));
    assert_string_equal(enc, "-_-_");
    free(enc);

    /* padding is accepted on input */
    const char *padded[] = {"Zg==", "Zm8=", "Zm9vYg==", "Zm9vYmE="};
    const char *plain[] = {"f", "fo", "foob", "fooba"};
    for (size_t i = 0; i < ARRAY_SIZE(padded); i++) {
        uint8_t *dec = NULL;
        size_t n = 0;
        assert_int_equal(base64url_decode(padded[i], 64, &dec, &n), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
        free(dec);
    }
}

static void test_base64url_roundtrip(void **state)
{
    uint8_t in[64];

    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(255 - i * 29 - n);
        char *enc = base64url_encode(in, n);
        uint8_t *dec = NULL;
        size_t outlen = 12345;

        assert_int_equal(strlen(enc), (4 * n + 2) / 3); /* unpadded length */
        assert_null(strchr(enc, '='));
        assert_int_equal(base64url_decode(enc, n, &dec, &outlen), 0); /* max is inclusive */
        assert_non_null(dec);
        assert_int_equal(outlen, n);
        assert_memory_equal(dec, in, n);
        free(dec);

        if (n > 0) {
            dec = (uint8_t *)"sentinel";
            assert_int_equal(base64url_decode(enc, n - 1, &dec, &outlen), DTI_ETOOBIG);
            assert_string_equal((char *)dec, "sentinel");
        }
        free(enc);
    }
}

static void test_base64url_rejects(void **state)
{
    const char *bad[] = {
        "Z",           /* len % 4 == 1 */
        "Zm9vY",       /* len % 4 == 1 */
        "Zm+v",        /* standard alphabet */
        "Zm/v",        /* standard alphabet */
        "Zm9 v",       /* space */
        "Zm9v\n",      /* newline */
        "Zm9v.",       /* other punctuation */
        "Zg=",         /* short padding */
        "Zg===",       /* too much padding */
        "Zm8==",       /* padding where none fits */
        "Zm9v=",       /* padding after a full quantum */
        "Zm9v====",    /* a quantum of padding */
        "Z=g=",        /* padding in the middle */
        "=Zm9",        /* padding in front */
        "=",           /* padding only */
        "==",          /* padding only */
        "Zh",          /* non-canonical: trailing bits set */
        "Zm9",         /* non-canonical: trailing bits set */
        "Zm9vYmF\x80", /* high byte */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        uint8_t *dec = (uint8_t *)"sentinel";
        size_t n = 77;
        int r = base64url_decode(bad[i], 1024, &dec, &n);
        if (r != DTI_EINVAL)
            fail_msg("\"%s\": got %s, want DTI_EINVAL", bad[i], dti_strname(r));
        assert_string_equal((char *)dec, "sentinel");
        assert_int_equal(n, 77);
    }

    /* the ceiling applies to decoded bytes, before anything is allocated */
    size_t len = 4 * 1000000;
    char *huge = xmalloc(len + 1);
    memset(huge, 'A', len);
    huge[len] = '\0';
    uint8_t *dec = NULL;
    size_t n = 0;
    assert_int_equal(base64url_decode(huge, 1024, &dec, &n), DTI_ETOOBIG);
    assert_null(dec);
    assert_int_equal(base64url_decode(huge, 3000000, &dec, &n), 0);
    assert_int_equal(n, 3000000);
    free(dec);
    free(huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_verify_rejects_one_bit_flips),
        cmocka_unit_test_setup_teardown(test_rfc8032_vectors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_save_load, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_save_to_missing_dir, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_errors, setup_dir, teardown_dir),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_incremental),
        cmocka_unit_test(test_cert_fingerprint),
        cmocka_unit_test(test_fp_normalise),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64url_vectors),
        cmocka_unit_test(test_base64url_roundtrip),
        cmocka_unit_test(test_base64url_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
