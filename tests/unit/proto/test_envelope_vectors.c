/*
 * test_envelope_vectors.c - data-driven envelope tests. Each directory under
 * tests/vectors/envelope/ is one case: input.hex (the envelope in hex, lines
 * and spaces ignored), key.hex (the signer's 32-byte Ed25519 public key) and
 * expected, one line: "ok <record count> <batch hash hex>" or
 * "error <DTI_E name>". Every case runs envelope_parse → envelope_verify →
 * envelope_records and must end as expected. The cases are made by
 * tests/tools/gen_envelope_vectors.c. An empty or missing directory fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "envelope.h"
#include "err.h"
#include "util.h"

#define CASES_DIR DTI_VECTORS_DIR "/envelope"

static char *read_case_file(const char *dir, const char *name, size_t max, size_t *len)
{
    char *path = path_join(dir, name);
    char *text = NULL;
    int r = read_file_bounded(path, max, &text, len);
    if (r < 0)
        print_error("cannot read '%s': %s\n", path, dti_strerror(r));
    free(path);
    assert_int_equal(r, 0);
    return text;
}

/* Hex with any whitespace between digits into a new buffer. */
static uint8_t *read_hex(const char *dir, const char *name, size_t *n)
{
    size_t len;
    char *text = read_case_file(dir, name, 2 * ENVELOPE_MAX + (1u << 20), &len);
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)text[i]))
            text[k++] = text[i];
    text[k] = '\0';
    if (k % 2 != 0)
        print_error("%s/%s: odd number of hex digits\n", dir, name);
    assert_int_equal(k % 2, 0);
    uint8_t *bytes = xmalloc(k / 2);
    int r = hex_decode(text, bytes, k / 2);
    if (r < 0)
        print_error("%s/%s: not hex\n", dir, name);
    assert_int_equal(r, 0);
    free(text);
    *n = k / 2;
    return bytes;
}

struct expectation {
    bool ok;
    uint64_t records;                     /* ok */
    char hash[2 * CRYPTO_SHA256_LEN + 1]; /* ok */
    char error[40];                       /* error: "DTI_E..." */
};

static void read_expected(const char *dir, struct expectation *x)
{
    char *text = read_case_file(dir, "expected", 256, NULL);
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    char *line = xstrdup(text);
    memset(x, 0, sizeof(*x));
    bool good = false;
    if (strncmp(text, "ok ", 3) == 0) {
        char *count = text + 3, *hash = strchr(count, ' ');
        if (hash) {
            *hash++ = '\0';
            uint8_t raw[CRYPTO_SHA256_LEN];
            good = parse_u64(count, BATCH_MAX_RECORDS, &x->records) == 0 &&
                   strlen(hash) == 2 * CRYPTO_SHA256_LEN && hex_decode(hash, raw, sizeof(raw)) == 0;
            if (good)
                hex_encode(raw, sizeof(raw), x->hash); /* lowercase */
        }
        x->ok = true;
    } else if (strncmp(text, "error DTI_E", 11) == 0 && strlen(text + 6) < sizeof(x->error)) {
        memcpy(x->error, text + 6, strlen(text + 6) + 1);
        good = true;
    }
    if (!good)
        print_error("%s/expected: cannot read '%s'\n", dir, line);
    free(line);
    free(text);
    assert_true(good);
}

static void run_case(void **state)
{
    const char *dir = *state;
    struct expectation x;
    read_expected(dir, &x);
    size_t keylen, len;
    uint8_t *key = read_hex(dir, "key.hex", &keylen);
    assert_int_equal(keylen, CRYPTO_PUBKEY_LEN);
    uint8_t *input = read_hex(dir, "input.hex", &len);

    struct envelope *env = NULL;
    const struct record *recs = NULL;
    size_t n = 0;
    struct dti_err e = {0};
    const char *stage = "parse";
    int r = envelope_parse(input, len, &env, &e);
    if (r == 0) {
        stage = "verify";
        r = envelope_verify(env, key, &e);
    }
    if (r == 0) {
        stage = "records";
        r = envelope_records(env, &recs, &n, &e);
    }

    if (x.ok) {
        if (r != 0)
            print_error("%s: %s at %s: %s\n", dir, dti_strname(r), stage, e.msg);
        assert_string_equal(dti_strname(r), "DTI_OK");
        assert_int_equal(n, x.records);
        assert_int_equal(envelope_header(env)->record_count, x.records);
        char hex[2 * CRYPTO_SHA256_LEN + 1];
        hex_encode(envelope_hash(env), CRYPTO_SHA256_LEN, hex);
        assert_string_equal(hex, x.hash);
        /* the hash is SHA-256 of what was signed, not of the whole envelope */
        uint8_t whole[CRYPTO_SHA256_LEN];
        crypto_sha256(input, len, whole);
        assert_memory_not_equal(whole, envelope_hash(env), CRYPTO_SHA256_LEN);
    } else {
        if (strcmp(dti_strname(r), x.error) != 0)
            print_error("%s: got %s at %s (%s)\n", dir, dti_strname(r), stage, e.msg);
        assert_string_equal(dti_strname(r), x.error);
        assert_int_equal(e.code, r);
        assert_true(e.msg[0] != '\0');
    }
    envelope_free(env);
    free(input);
    free(key);
}

static size_t ncases;

static void test_cases_present(void **state)
{
    if (ncases == 0)
        print_error("no cases in %s\n", CASES_DIR);
    assert_true(ncases > 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    char **names = NULL;
    size_t cap = 0;
    DIR *d = opendir(CASES_DIR);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.')
            continue;
        if (ncases == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[ncases++] = xstrdup(de->d_name);
    }
    if (d)
        closedir(d);
    if (ncases)
        qsort(names, ncases, sizeof(*names), by_name);

    struct CMUnitTest *tests = xcalloc(ncases + 1, sizeof(*tests));
    char **dirs = xcalloc(ncases + 1, sizeof(*dirs));
    tests[0] = (struct CMUnitTest)cmocka_unit_test(test_cases_present);
    for (size_t i = 0; i < ncases; i++) {
        dirs[i] = path_join(CASES_DIR, names[i]);
        tests[i + 1] =
            (struct CMUnitTest){.name = names[i], .test_func = run_case, .initial_state = dirs[i]};
    }
    int failed = _cmocka_run_group_tests("envelope_vectors", tests, ncases + 1, NULL, NULL);
    for (size_t i = 0; i < ncases; i++) {
        free(names[i]);
        free(dirs[i]);
    }
    free(names);
    free(dirs);
    free(tests);
    return failed;
}
