/*
 * test_err_buf_util.c - unit tests of the primitives: the error table and
 * struct dti_err (common/err.c), the bounded buffer (common/buf.c), and the
 * allocation, parsing, UTF-8, time and file helpers (common/util.c).
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "util.h"

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static int setup_dir(void **state)
{
    char tmpl[] = "/tmp/dti-test-util-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    *state = xstrdup(tmpl);
    return 0;
}

static int teardown_dir(void **state)
{
    int r = nftw(*state, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return r;
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* ---- err.c ---- */

static void test_err_table(void **state)
{
    for (int c = DTI__FIRST + 1; c < DTI__LAST; c++) {
        assert_true(c < 0);
        assert_memory_equal(dti_strname(c), "DTI_E", 5);
        assert_string_not_equal(dti_strname(c), "DTI_E?");
        assert_string_not_equal(dti_reason(c), "unknown_error");
        assert_string_not_equal(dti_strerror(c), "unknown error");
        /* reasons are unique: each maps back to its own code */
        assert_int_equal(dti_from_reason(dti_reason(c)), c);
    }

    assert_string_equal(dti_strname(DTI_EBADSIG), "DTI_EBADSIG");
    assert_string_equal(dti_reason(DTI_EBADSIG), "bad_signature");
    assert_string_equal(dti_strerror(DTI_EBADSIG), "bad signature");
    assert_string_equal(dti_strname(DTI_ECONTENT_TYPE), "DTI_ECONTENT_TYPE");
    assert_string_equal(dti_reason(DTI_ETOOBIG), "too_large");

    assert_string_equal(dti_strname(0), "DTI_OK");
    assert_string_equal(dti_reason(0), "ok");
    assert_string_equal(dti_strerror(0), "success");
    assert_string_equal(dti_strname(-1), "DTI_E?");
    assert_string_equal(dti_reason(12345), "unknown_error");
    assert_string_equal(dti_strerror(DTI__LAST), "unknown error");

    assert_int_equal(dti_from_reason("no_such_reason"), DTI_EPROTO);
    assert_int_equal(dti_from_reason(""), DTI_EPROTO);
    assert_int_equal(dti_from_reason(NULL), DTI_EPROTO);
    assert_int_equal(dti_from_reason("unavailable"), DTI_EUNAVAILABLE);
}

static void test_err_transient(void **state)
{
    int transient[] = {DTI_EBUSY, DTI_EUNREACHABLE, DTI_ETIMEOUT, DTI_EUNAVAILABLE, DTI_ERELAYED};
    int found = 0;

    for (int c = DTI__FIRST + 1; c < DTI__LAST; c++) {
        bool want = false;
        for (size_t i = 0; i < ARRAY_SIZE(transient); i++)
            want = want || transient[i] == c;
        if (dti_transient(c) != want)
            fail_msg("dti_transient(%s) is %d", dti_strname(c), !want);
        found += want;
    }
    assert_int_equal(found, 5);
    assert_false(dti_transient(0));
    assert_false(dti_transient(42));
}

static void test_err_detail(void **state)
{
    struct dti_err e = {0};
    char long_name[1000];

    assert_string_equal(dti_err_text(&e, DTI_EIO), "input/output error");
    assert_string_equal(dti_err_text(NULL, DTI_EIO), "input/output error");

    assert_int_equal(dti_errf(&e, DTI_ENOTFOUND, "cannot open '%s': %s", "a.db", "gone"),
                     DTI_ENOTFOUND);
    assert_int_equal(e.code, DTI_ENOTFOUND);
    assert_string_equal(e.msg, "cannot open 'a.db': gone");
    assert_string_equal(dti_err_text(&e, DTI_EIO), "cannot open 'a.db': gone");

    /* the first failure is kept */
    assert_int_equal(dti_errf(&e, DTI_EIO, "later"), DTI_EIO);
    assert_int_equal(e.code, DTI_ENOTFOUND);
    assert_string_equal(e.msg, "cannot open 'a.db': gone");

    dti_err_clear(&e);
    assert_int_equal(e.code, 0);
    assert_string_equal(e.msg, "");
    dti_err_clear(NULL);

    /* NULL detail is allowed; long messages are cut, not overflowed */
    assert_int_equal(dti_errf(NULL, DTI_EINVAL, "x %d", 1), DTI_EINVAL);
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    dti_errf(&e, DTI_EINVAL, "bad '%s'", long_name);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    assert_memory_equal(e.msg, "bad 'nnn", 8);
}

/* ---- buf.c ---- */

static void test_buf_append(void **state)
{
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_non_null(b.data);
    assert_string_equal((char *)b.data, "");

    assert_int_equal(buf_puts(&b, "hello"), 0);
    assert_int_equal(buf_append(&b, ", world", 7), 0);
    assert_int_equal(buf_printf(&b, " %d%s", 42, "!"), 0);
    assert_int_equal(b.len, strlen("hello, world 42!"));
    assert_string_equal((char *)b.data, "hello, world 42!");
    assert_true(b.cap > b.len);

    /* growth over many appends keeps every byte */
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal((char *)b.data, "");
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_printf(&b, "%04d", i), 0);
    assert_int_equal(b.len, 40000);
    for (int i = 0; i < 10000; i += 997) {
        char want[5];
        snprintf(want, sizeof(want), "%04d", i);
        assert_memory_equal(b.data + 4 * i, want, 4);
    }
    assert_int_equal(b.data[b.len], '\0');

    /* binary content with NULs */
    buf_reset(&b);
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b\0", 4);

    buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* reusable after release */
    assert_int_equal(buf_puts(&b, "again"), 0);
    assert_string_equal((char *)b.data, "again");
    buf_release(&b);
}

static void test_buf_limit(void **state)
{
    struct buf b;

    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "0123456"), 0);
    assert_int_equal(buf_puts(&b, "7890"), DTI_ETOOBIG);
    assert_int_equal(b.len, 7); /* unchanged */
    assert_string_equal((char *)b.data, "0123456");
    assert_int_equal(buf_printf(&b, "%s", "7890"), DTI_ETOOBIG);
    assert_int_equal(b.len, 7);
    assert_string_equal((char *)b.data, "0123456");
    assert_int_equal(buf_printf(&b, "%d", 789), 0); /* exactly at the limit */
    assert_int_equal(b.len, 10);
    assert_string_equal((char *)b.data, "0123456789");
    assert_int_equal(buf_append(&b, "x", 1), DTI_ETOOBIG);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_reserve(&b, 1), DTI_ETOOBIG);
    assert_int_equal(buf_reserve(&b, 0), 0);
    buf_release(&b);

    /* sizes that would overflow are refused, not wrapped */
    buf_init(&b, BUF_UNLIMITED);
    assert_int_equal(buf_puts(&b, "abc"), 0);
    assert_int_equal(buf_reserve(&b, SIZE_MAX), DTI_ETOOBIG);
    assert_int_equal(buf_reserve(&b, BUF_UNLIMITED), DTI_ETOOBIG);
    assert_int_equal(buf_reserve(&b, BUF_UNLIMITED - 3 + 1), DTI_ETOOBIG);
    assert_string_equal((char *)b.data, "abc");
    buf_release(&b);

    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_append(&b, "x", 1), DTI_ETOOBIG);
    buf_release(&b);
}

static void test_buf_take(void **state)
{
    struct buf b;
    size_t len = 99;

    buf_init(&b, 100);
    assert_null(buf_take(&b, &len));
    assert_int_equal(len, 0);

    assert_int_equal(buf_puts(&b, "owned"), 0);
    unsigned char *p = buf_take(&b, &len);
    assert_int_equal(len, 5);
    assert_string_equal((char *)p, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(p);

    /* still usable, with the same ceiling */
    assert_int_equal(buf_puts(&b, "x"), 0);
    p = buf_take(&b, NULL);
    assert_string_equal((char *)p, "x");
    free(p);
    buf_release(&b);
}

/* ---- util.c: allocation and strings ---- */

static void test_strings(void **state)
{
    char *s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = xstrdup("");
    assert_string_equal(s, "");
    free(s);
    s = xasprintf("%s-%05.1f-%zu", "x", 2.5, (size_t)7);
    assert_string_equal(s, "x-002.5-7");
    free(s);
    s = xasprintf("%s", "");
    assert_string_equal(s, "");
    free(s);

    int *z = xcalloc(16, sizeof(int));
    for (int i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    z = xrealloc(z, 1000 * sizeof(int));
    assert_int_equal(z[15], 0);
    free(z);
    free(xmalloc(0)); /* a zero-size request still gives a pointer to free */

    s = path_join("/var/lib/dti", "hub.db");
    assert_string_equal(s, "/var/lib/dti/hub.db");
    free(s);
    s = path_join("/var/lib/dti/", "hub.db");
    assert_string_equal(s, "/var/lib/dti/hub.db");
    free(s);
    s = path_join("", "hub.db");
    assert_string_equal(s, "/hub.db");
    free(s);
}

/* ---- util.c: parsing ---- */

static void test_parse_u64(void **state)
{
    uint64_t v = 7;

    assert_int_equal(parse_u64("0", 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u64("10", 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(parse_u64("007", 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);

    const char *bad[] = {"",
                         "11",
                         "-1",
                         " 1",
                         "1 ",
                         "+1",
                         "0x10",
                         "1.0",
                         "1e3",
                         "a",
                         "18446744073709551616",
                         "99999999999999999999999"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        v = 7;
        uint64_t max = strcmp(bad[i], "11") == 0 ? 10 : UINT64_MAX;
        if (parse_u64(bad[i], max, &v) != DTI_EINVAL)
            fail_msg("parse_u64 accepted \"%s\"", bad[i]);
        assert_int_equal(v, 7);
    }
    assert_int_equal(parse_u64(NULL, 10, &v), DTI_EINVAL);
}

static void test_parse_i64(void **state)
{
    int64_t v = 7;

    assert_int_equal(parse_i64("-5", -5, 5, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(parse_i64("5", -5, 5, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);

    const char *bad[] = {"",
                         "-",
                         "6",
                         "-6",
                         " 1",
                         "1 ",
                         "\t1",
                         "+1",
                         "--1",
                         "- 1",
                         "0x10",
                         "1.5",
                         "9223372036854775808",
                         "-9223372036854775809"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        v = 7;
        int wide = strlen(bad[i]) > 10;
        if (parse_i64(bad[i], wide ? INT64_MIN : -5, wide ? INT64_MAX : 5, &v) != DTI_EINVAL)
            fail_msg("parse_i64 accepted \"%s\"", bad[i]);
        assert_int_equal(v, 7);
    }
    assert_int_equal(parse_i64(NULL, -5, 5, &v), DTI_EINVAL);
}

static void test_parse_double(void **state)
{
    static const struct {
        const char *s;
        double v;
    } ok[] = {
        {"0", 0.0},  {"1.5", 1.5},   {"-2e3", -2000.0}, {"+0.25", 0.25}, {".5", 0.5},
        {"5.", 5.0}, {"1E2", 100.0}, {"98.76", 98.76},  {"-0", -0.0},    {"1e308", 1e308},
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        double v = -1;
        if (parse_double(ok[i].s, &v) != 0)
            fail_msg("parse_double rejected \"%s\"", ok[i].s);
        assert_true(v == ok[i].v);
    }

    const char *bad[] = {"",      "nan",   "NaN", "inf", "-inf", "infinity", "0x10",
                         " 1",    "1 ",    "1,5", ".",   "-",    "e5",       "1e",
                         "1.2.3", "1e999", "--1", "1e+", "\t1",  "1\n",      "١"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        double v = 7;
        if (parse_double(bad[i], &v) != DTI_EINVAL)
            fail_msg("parse_double accepted \"%s\"", bad[i]);
        assert_true(v == 7);
    }
    assert_int_equal(parse_double(NULL, &(double){0}), DTI_EINVAL);
}

/* ---- util.c: UTF-8 ---- */

static bool valid(const char *s)
{
    return utf8_valid_text(s, strlen(s));
}

static void test_utf8_valid_text(void **state)
{
    assert_true(valid(""));
    assert_true(valid("plain ASCII, with\ttab"));
    assert_true(valid("Nhận thức số"));
    assert_true(valid("Chỉ số chuyển đổi số cấp tỉnh – Ninh Thuận"));
    assert_true(valid("\xc2\x80"));         /* U+0080, smallest 2-byte */
    assert_true(valid("\xdf\xbf"));         /* U+07FF */
    assert_true(valid("\xe0\xa0\x80"));     /* U+0800, smallest 3-byte */
    assert_true(valid("\xed\x9f\xbf"));     /* U+D7FF, just below the surrogates */
    assert_true(valid("\xee\x80\x80"));     /* U+E000, just above */
    assert_true(valid("\xef\xbf\xbf"));     /* U+FFFF */
    assert_true(valid("\xf0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    assert_true(valid("\xf0\x9f\x98\x80")); /* an emoji */
    assert_true(valid("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last code point */

    const char *bad[] = {
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong 2-byte */
        "\xe0\x80\x80",     /* overlong 3-byte */
        "\xe0\x9f\xbf",     /* overlong U+07FF */
        "\xf0\x80\x80\x80", /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
        "\xed\xa0\x80",     /* U+D800, a surrogate */
        "\xed\xbf\xbf",     /* U+DFFF */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* lead byte past U+10FFFF */
        "\xff",             /* never in UTF-8 */
        "\x80",             /* lone continuation */
        "a\xbf",            /* lone continuation after ASCII */
        "Nh\xe1\xba",       /* truncated 3-byte at the end */
        "Nh\xe1\xba"
        "n",            /* truncated 3-byte in the middle */
        "\xf0\x9f\x98", /* truncated 4-byte */
        "\xc3",         /* truncated 2-byte */
        "\xc3\xc3\xa9", /* a lead where a continuation belongs */
        "line\nbreak",  /* C0 controls */
        "carriage\r",
        "\x01",
        "\x1f",
        "esc\x1b[0m",
        "del\x7f",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (valid(bad[i]))
            fail_msg("accepted bad[%zu]", i);

    /* len bounds the check: an embedded NUL is refused, bytes past len are not read */
    assert_false(utf8_valid_text("a\0b", 3));
    assert_true(utf8_valid_text("ab\x01", 2));
    assert_false(utf8_valid_text("\xe1\xba\xad", 2)); /* cut by len */
    assert_true(utf8_valid_text("\xe1\xba\xad", 3));

    /* a truncated sequence at the end of exactly-sized heap memory (ASan sees overreads) */
    char *heap = xmalloc(2);
    memcpy(heap, "\xe1\xba", 2);
    assert_false(utf8_valid_text(heap, 2));
    free(heap);
}

/* ---- util.c: time ---- */

static void test_time(void **state)
{
    char out[32];

    format_utc(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    format_utc(1795375352000ull, out);
    assert_string_equal(out, "2026-11-22T19:22:32Z");
    format_utc(951868799999ull, out); /* milliseconds are dropped, not rounded */
    assert_string_equal(out, "2000-02-29T23:59:59Z");

    uint64_t a = wall_ms();
    uint64_t b = wall_ms();
    assert_true(a > 1704067200000ull); /* after 2024-01-01 */
    assert_true(b >= a);
}

/* ---- util.c: files ---- */

static void test_mkdir_p(void **state)
{
    const char *dir = *state;
    char *deep = xasprintf("%s/a/b/c", dir);
    char *slash = xasprintf("%s/x/y/", dir);
    char *y = xasprintf("%s/x/y", dir);
    char *file = xasprintf("%s/plain", dir);
    char *under_file = xasprintf("%s/plain/sub", dir);
    struct stat st;

    mode_t old = umask(0);
    assert_int_equal(mkdir_p(deep, 0700), 0);
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(mkdir_p(deep, 0700), 0); /* already there */

    /* a trailing slash still gives the last component its mode */
    assert_int_equal(mkdir_p(slash, 0700), 0);
    assert_int_equal(file_mode(y), 0700);
    umask(old);

    /* a file in the way is an error, not success */
    assert_int_equal(write_file_atomic(file, "x", 1, 0600), 0);
    assert_int_equal(mkdir_p(file, 0700), DTI_EIO);
    assert_int_equal(mkdir_p(under_file, 0700), DTI_EIO);
    assert_int_equal(mkdir_p("", 0700), DTI_EIO);

    free(deep);
    free(slash);
    free(y);
    free(file);
    free(under_file);
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

static void test_write_read_file(void **state)
{
    const char *dir = *state;
    char *path = path_join(dir, "data.bin");
    char *missing = path_join(dir, "no/such/file");
    char *out = NULL;
    size_t len = 0;

    /* exact mode whatever the umask, content intact, no temp file left */
    mode_t old = umask(077);
    assert_int_equal(write_file_atomic(path, "hello\0world", 11, 0644), 0);
    umask(old);
    assert_int_equal(file_mode(path), 0644);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(read_file_bounded(path, 11, &out, &len), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(out, "hello\0world\0", 12);
    free(out);

    /* replacing, with a new mode */
    assert_int_equal(write_file_atomic(path, "", 0, 0600), 0);
    assert_int_equal(file_mode(path), 0600);
    assert_int_equal(read_file_bounded(path, 0, &out, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);

    /* a stale temp file of a crashed writer is not reused: the mode is still exact */
    char *stale = xasprintf("%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(write_file_atomic(stale, "stale", 5, 0666), 0);
    assert_int_equal(write_file_atomic(path, "key", 3, 0600), 0);
    assert_int_equal(file_mode(path), 0600);
    assert_int_equal(unlink(stale), 0);
    free(stale);

    assert_int_equal(write_file_atomic(missing, "x", 1, 0600), DTI_EIO);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(read_file_bounded(missing, 10, &out, &len), DTI_ENOTFOUND);
    assert_int_equal(read_file_bounded(dir, 10, &out, &len), DTI_EIO); /* a directory */
    free(path);
    free(missing);
}

static void test_read_file_bounded(void **state)
{
    const char *dir = *state;
    char *path = path_join(dir, "big");
    size_t n = 3 * 4096 + 17; /* crosses the growth steps */
    char *data = xmalloc(n), *out = (char *)"sentinel";
    size_t len = 0;

    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(write_file_atomic(path, data, n, 0600), 0);

    assert_int_equal(read_file_bounded(path, n - 1, &out, &len), DTI_ETOOBIG);
    assert_string_equal(out, "sentinel");
    assert_int_equal(read_file_bounded(path, 100, &out, &len), DTI_ETOOBIG);
    assert_int_equal(read_file_bounded(path, 4096, &out, &len), DTI_ETOOBIG);
    assert_string_equal(out, "sentinel");

    assert_int_equal(read_file_bounded(path, n, &out, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(out, data, n);
    assert_int_equal(out[n], '\0');
    free(out);
    assert_int_equal(read_file_bounded(path, 1 << 20, &out, NULL), 0);
    assert_memory_equal(out, data, n);
    free(out);

    free(data);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_err_transient),
        cmocka_unit_test(test_err_detail),
        cmocka_unit_test(test_buf_append),
        cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_buf_take),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_utf8_valid_text),
        cmocka_unit_test(test_time),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_read_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_read_file_bounded, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
