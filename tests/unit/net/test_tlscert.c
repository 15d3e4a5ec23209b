/*
 * test_tlscert.c - unit tests of net/tlscert.c: what the generated
 * certificate holds (version, names, validity, key, signature), the modes of
 * the files, fingerprints against an independent computation and against the
 * openssl command, key/certificate pairing, and refused hosts.
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
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "err.h"
#include "tlscert.h"
#include "util.h"

struct fixture {
    char *dir;
    char *cert, *key;
};

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/dti-test-tlscert-XXXXXX";
    struct fixture *f;
    if (!mkdtemp(tmpl))
        return -1;
    f = xcalloc(1, sizeof(*f));
    f->dir = xstrdup(tmpl);
    f->cert = path_join(f->dir, "hub.crt");
    f->key = path_join(f->dir, "hub.key");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int r = nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f->cert);
    free(f->key);
    free(f->dir);
    free(f);
    return r;
}

static X509 *read_cert(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    return x;
}

static void generate(struct fixture *f, const char *host)
{
    struct dti_err e = {0};
    int r = tlscert_generate(host, f->cert, f->key, &e);
    if (r != 0)
        fail_msg("tlscert_generate(\"%s\"): %s: %s", host, dti_strname(r), e.msg);
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* The subjectAltNames of x as "DNS:name" / "IP:a.b.c.d" strings joined by ", ". */
static char *san_list(X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char *out = xstrdup("");
    assert_non_null(gens);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        char *item = NULL, *joined;
        if (gn->type == GEN_DNS) {
            item = xasprintf("DNS:%s", (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
        } else if (gn->type == GEN_IPADD) {
            const unsigned char *ip = ASN1_STRING_get0_data(gn->d.iPAddress);
            int len = ASN1_STRING_length(gn->d.iPAddress);
            if (len == 4)
                item = xasprintf("IP:%d.%d.%d.%d", ip[0], ip[1], ip[2], ip[3]);
            else
                item = xasprintf("IP:%d bytes", len);
        } else {
            item = xasprintf("type %d", gn->type);
        }
        joined = xasprintf("%s%s%s", out, *out ? ", " : "", item);
        free(out);
        free(item);
        out = joined;
    }
    GENERAL_NAMES_free(gens);
    return out;
}

static void assert_sans(const char *cert_path, const char *want)
{
    X509 *x = read_cert(cert_path);
    char *got = san_list(x);
    assert_string_equal(got, want);
    free(got);
    X509_free(x);
}

static void test_generate_ip_host(void **state)
{
    struct fixture *f = *state;
    time_t now = time(NULL);
    char cn[128];
    int day = 0, sec = 0;

    generate(f, "192.0.2.10");
    assert_int_equal(file_mode(f->cert), 0644);
    assert_int_equal(file_mode(f->key), 0600);

    X509 *x = read_cert(f->cert);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);

    /* subject CN = host, self-issued */
    assert_int_equal(
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)),
        (int)strlen("192.0.2.10"));
    assert_string_equal(cn, "192.0.2.10");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);

    /* names: the host as an IP, then localhost and 127.0.0.1 */
    char *sans = san_list(x);
    assert_string_equal(sans, "IP:192.0.2.10, DNS:localhost, IP:127.0.0.1");
    free(sans);
    assert_int_equal(X509_check_ip_asc(x, "192.0.2.10", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "192.0.2.11", 0), 0);
    assert_int_equal(X509_check_host(x, "example.org", 0, 0, NULL), 0);

    /* a positive 16-byte serial */
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    assert_non_null(serial);
    assert_false(BN_is_negative(serial));
    assert_int_equal(BN_num_bytes(serial), 16);
    BN_free(serial);

    /* valid from an hour ago for ten years */
    assert_int_equal(ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notBefore(x)), 1);
    assert_in_range(-(day * 86400L + sec), 3600 - 60, 3600 + 60);
    assert_int_equal(ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(x)), 1);
    assert_in_range(day, 3650, 3653);
    assert_true(X509_cmp_time(X509_get0_notBefore(x), &now) < 0);

    /* ECDSA P-256, signed with SHA-256, by its own key */
    EVP_PKEY *pub = X509_get0_pubkey(x);
    char group[64];
    size_t glen = 0;
    assert_non_null(pub);
    assert_true(EVP_PKEY_is_a(pub, "EC"));
    assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    assert_int_equal(X509_verify(x, pub), 1);

    /* a leaf, not a CA; and OpenSSL still accepts it as its own trust anchor */
    assert_int_equal(X509_check_ca(x), 0);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(store, x), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, x, NULL), 1);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) != 1)
        fail_msg("verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(x);
}

static void test_generate_dns_host(void **state)
{
    struct fixture *f = *state;

    generate(f, "hub.ninhthuan.example");
    assert_sans(f->cert, "DNS:hub.ninhthuan.example, DNS:localhost, IP:127.0.0.1");
    X509 *x = read_cert(f->cert);
    assert_int_equal(X509_check_host(x, "hub.ninhthuan.example", 0, 0, NULL), 1);
    X509_free(x);
}

static void test_generate_no_duplicate_names(void **state)
{
    struct fixture *f = *state;

    generate(f, "localhost");
    assert_sans(f->cert, "DNS:localhost, IP:127.0.0.1");
    generate(f, "127.0.0.1");
    assert_sans(f->cert, "IP:127.0.0.1, DNS:localhost");
    generate(f, "::1");
    assert_sans(f->cert, "IP:16 bytes, DNS:localhost, IP:127.0.0.1");
}

static void test_generate_rejects_bad_hosts(void **state)
{
    struct fixture *f = *state;
    char long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    const char *bad[] = {
        "",       "a,DNS:evil.example", "a b",     "-x",          ".x",
        "host/x", "h\xc3\xb4st",        long_name, "IP:10.0.0.1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dti_err e = {0};
        int r = tlscert_generate(bad[i], f->cert, f->key, &e);
        if (r != DTI_EINVAL)
            fail_msg("\"%s\": got %s, want DTI_EINVAL", bad[i], dti_strname(r));
        assert_non_null(strstr(e.msg, "invalid host '"));
        assert_int_equal(access(f->cert, F_OK), -1);
        assert_int_equal(access(f->key, F_OK), -1);
    }
}

/* The fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it, or NULL. */
static char *openssl_fingerprint(const char *cert_path)
{
    char *cmd =
        xasprintf("openssl x509 -noout -fingerprint -sha256 -in '%s' 2>/dev/null", cert_path);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    char *eq;
    free(cmd);
    if (!p)
        return NULL;
    if (!fgets(line, sizeof(line), p))
        line[0] = '\0';
    if (pclose(p) != 0 || !(eq = strchr(line, '=')))
        return NULL;
    eq[strcspn(eq, "\n")] = '\0';
    return xstrdup(eq + 1);
}

static void test_fingerprint(void **state)
{
    struct fixture *f = *state;
    struct dti_err e = {0};
    char fp[CRYPTO_FP_HEX_LEN + 1], want[CRYPTO_FP_HEX_LEN + 1], norm[CRYPTO_FP_HEX_LEN + 1];
    uint8_t d[CRYPTO_SHA256_LEN];
    unsigned char *der = NULL;

    generate(f, "10.1.2.3");
    assert_int_equal(tlscert_fingerprint_file(f->cert, fp, &e), 0);
    assert_int_equal(strlen(fp), CRYPTO_FP_HEX_LEN);

    /* SHA-256 of the DER certificate, computed here */
    X509 *x = read_cert(f->cert);
    int len = i2d_X509(x, &der);
    assert_true(len > 0);
    assert_non_null(EVP_Q_digest(NULL, "SHA256", NULL, der, (size_t)len, d, NULL));
    hex_encode(d, sizeof(d), want);
    assert_string_equal(fp, want);

    /* and as OpenSSL prints it ("AB:CD:..."), once normalised */
    char colons[3 * CRYPTO_SHA256_LEN];
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(colons + 3 * i, 4, "%02X%s", d[i], i + 1 < sizeof(d) ? ":" : "");
    assert_int_equal(crypto_fp_normalise(colons, norm), 0);
    assert_string_equal(norm, fp);

    char *cli = openssl_fingerprint(f->cert);
    if (cli) { /* the openssl command is an optional, independent witness */
        assert_int_equal(crypto_fp_normalise(cli, norm), 0);
        assert_string_equal(norm, fp);
        free(cli);
    }

    /* the key file holds no certificate */
    struct dti_err e2 = {0};
    assert_int_equal(tlscert_fingerprint_file(f->key, fp, &e2), DTI_EPARSE);
    assert_non_null(strstr(e2.msg, "cannot read certificate '"));

    OPENSSL_free(der);
    X509_free(x);
}

static void test_generations_differ(void **state)
{
    struct fixture *f = *state;
    char fp1[CRYPTO_FP_HEX_LEN + 1], fp2[CRYPTO_FP_HEX_LEN + 1];

    generate(f, "192.0.2.1");
    X509 *x1 = read_cert(f->cert);
    assert_int_equal(tlscert_fingerprint_file(f->cert, fp1, NULL), 0);
    generate(f, "192.0.2.1");
    X509 *x2 = read_cert(f->cert);
    assert_int_equal(tlscert_fingerprint_file(f->cert, fp2, NULL), 0);

    assert_string_not_equal(fp1, fp2);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x1), X509_get0_serialNumber(x2)),
                         0);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x1), X509_get0_pubkey(x2)), 0);
    X509_free(x1);
    X509_free(x2);
}

static void test_overwrite_sets_modes(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(write_file_atomic(f->cert, "old", 3, 0600), 0);
    assert_int_equal(write_file_atomic(f->key, "old", 3, 0644), 0);
    mode_t old = umask(077);
    generate(f, "192.0.2.1");
    umask(old);
    assert_int_equal(file_mode(f->cert), 0644);
    assert_int_equal(file_mode(f->key), 0600);
    assert_int_equal(tlscert_check_pair(f->cert, f->key, NULL), 0);
}

static void test_check_pair(void **state)
{
    struct fixture *f = *state;
    char *cert2 = path_join(f->dir, "other.crt");
    char *key2 = path_join(f->dir, "other.key");
    char *missing = path_join(f->dir, "missing.key");
    char *junk = path_join(f->dir, "junk.key");
    struct dti_err e = {0};

    generate(f, "192.0.2.1");
    assert_int_equal(tlscert_check_pair(f->cert, f->key, &e), 0);
    assert_int_equal(e.code, 0);
    assert_int_equal(tlscert_generate("192.0.2.1", cert2, key2, NULL), 0);
    assert_int_equal(tlscert_check_pair(cert2, key2, NULL), 0);

    assert_int_equal(tlscert_check_pair(f->cert, key2, &e), DTI_ECRYPTO);
    char *want = xasprintf("key '%s' does not match certificate '%s'", key2, f->cert);
    assert_string_equal(e.msg, want);
    free(want);

    dti_err_clear(&e);
    assert_int_equal(tlscert_check_pair(f->cert, missing, &e), DTI_ENOTFOUND);
    assert_non_null(strstr(e.msg, missing));

    dti_err_clear(&e);
    assert_int_equal(tlscert_check_pair(missing, f->key, &e), DTI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "cannot read certificate '"));

    assert_int_equal(write_file_atomic(junk, "junk\n", 5, 0600), 0);
    dti_err_clear(&e);
    assert_int_equal(tlscert_check_pair(f->cert, junk, &e), DTI_EPARSE);
    assert_non_null(strstr(e.msg, "cannot read key '"));
    /* a certificate is not a key */
    assert_int_equal(tlscert_check_pair(f->cert, f->cert, NULL), DTI_EPARSE);

    free(cert2);
    free(key2);
    free(missing);
    free(junk);
}

static void test_write_fails_cleanly(void **state)
{
    struct fixture *f = *state;
    char *cert = path_join(f->dir, "no/such/dir/hub.crt");
    struct dti_err e = {0};

    /* the key goes first; a certificate path that cannot be written is reported */
    assert_int_equal(tlscert_generate("192.0.2.1", cert, f->key, &e), DTI_EIO);
    assert_non_null(strstr(e.msg, "cannot write certificate '"));
    assert_non_null(strstr(e.msg, cert));
    free(cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_ip_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_dns_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_no_duplicate_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_rejects_bad_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generations_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_sets_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_fails_cleanly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
