/*
 * test_csv.c - unit tests for the CSV reader (common/csv.c): the RFC 4180
 * forms, comments and blank lines, UTF-8 validation, every error with the line
 * it names, the field and record ceilings at and one past the limit, and
 * records that straddle the reader's read-ahead chunks. Input is fed through
 * fmemopen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "err.h"
#include "buf.h"
#include "util.h"

struct rd {
    FILE *f;
    struct csv *c;
};

static void rd_open(struct rd *rd, const void *s, size_t n)
{
    rd->f = fmemopen((void *)s, n, "r");
    assert_non_null(rd->f);
    assert_int_equal(csv_open(&rd->c, rd->f), 0);
    assert_non_null(rd->c);
}

/* A string literal, embedded NULs included. */
#define RD_OPEN(rd, lit) rd_open(&(rd), (lit), sizeof(lit) - 1)

static void rd_close(struct rd *rd)
{
    csv_free(rd->c);
    fclose(rd->f);
}

/* The next record has exactly the fields want[0..n) and starts on line. */
static void expect_rec(struct csv *c, size_t line, const char *const *want, size_t n,
                       const char *file, int at)
{
    struct dti_err e = {0};
    char **fields = NULL;
    size_t nfields = 0;
    int r = csv_next(c, &fields, &nfields, &e);
    if (r != 1)
        fprintf(stderr, "csv_next: %d %s\n", r, e.msg);
    _assert_int_equal(r, 1, file, at);
    _assert_int_equal(e.code, 0, file, at);
    _assert_int_equal(nfields, n, file, at);
    for (size_t i = 0; i < n; i++)
        _assert_string_equal(fields[i], want[i], file, at);
    _assert_int_equal(csv_line(c), line, file, at);
}

#define EXPECT(c, line, ...)                                                                       \
    expect_rec((c), (line), (const char *const[]){__VA_ARGS__},                                    \
               sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), __FILE__,        \
               __LINE__)

static void expect_eof(struct csv *c, const char *file, int at)
{
    struct dti_err e = {0};
    static char *dummy[1];
    char **fields = dummy; /* anything but NULL */
    size_t nfields = 99;
    _assert_int_equal(csv_next(c, &fields, &nfields, &e), 0, file, at);
    _assert_int_equal(e.code, 0, file, at);
    _assert_int_equal(nfields, 0, file, at);
    if (fields != NULL)
        _fail(file, at);
}

#define EXPECT_EOF(c) expect_eof((c), __FILE__, __LINE__)

/* The next csv_next fails with code and exactly msg. */
static void expect_err(struct csv *c, int code, const char *msg, const char *file, int at)
{
    struct dti_err e = {0};
    char **fields = NULL;
    size_t nfields = 0;
    _assert_int_equal(csv_next(c, &fields, &nfields, &e), code, file, at);
    _assert_int_equal(e.code, code, file, at);
    _assert_string_equal(e.msg, msg, file, at);
}

#define EXPECT_ERR(c, code, msg) expect_err((c), (code), (msg), __FILE__, __LINE__)

/* Open s (NUL-terminated, no embedded NULs); after any good records, expect one error. */
static void err_case(const char *s, int code, const char *msg, const char *file, int at)
{
    struct rd rd;
    struct dti_err e = {0};
    char **fields;
    size_t nfields;
    int r;
    rd_open(&rd, s, strlen(s));
    for (int i = 0; (r = csv_next(rd.c, &fields, &nfields, &e)) == 1 && i < 10; i++)
        ;
    _assert_int_equal(r, code, file, at);
    _assert_int_equal(e.code, code, file, at);
    _assert_string_equal(e.msg, msg, file, at);
    rd_close(&rd);
}

#define ERR_CASE(s, code, msg) err_case((s), (code), (msg), __FILE__, __LINE__)

static void test_plain_rows(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "code,name,score\n79,Hồ Chí Minh,0.75\n80,Long An,0.5\n");
    EXPECT(rd.c, 1, "code", "name", "score");
    EXPECT(rd.c, 2, "79", "Hồ Chí Minh", "0.75");
    EXPECT(rd.c, 3, "80", "Long An", "0.5");
    EXPECT_EOF(rd.c);
    EXPECT_EOF(rd.c); /* and stays there */
    rd_close(&rd);
}

static void test_no_final_newline(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "a,b\nc,d");
    EXPECT(rd.c, 1, "a", "b");
    EXPECT(rd.c, 2, "c", "d");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_single_field_and_spaces(void **state)
{
    struct rd rd;
    /* spaces are data (RFC 4180); a line of spaces is a record, not blank */
    RD_OPEN(rd, "x\n a , b \n  \n");
    EXPECT(rd.c, 1, "x");
    EXPECT(rd.c, 2, " a ", " b ");
    EXPECT(rd.c, 3, "  ");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_empty_input(void **state)
{
    struct rd rd;
    char none[1] = {0};
    rd_open(&rd, none, 0);
    EXPECT_EOF(rd.c);
    assert_int_equal(csv_line(rd.c), 0);
    rd_close(&rd);

    RD_OPEN(rd, "\n\r\n\n");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_crlf(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "a,b\r\nc,\"d\"\r\n\r\ne,\r\n");
    EXPECT(rd.c, 1, "a", "b");
    EXPECT(rd.c, 2, "c", "d");
    EXPECT(rd.c, 4, "e", "");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_bom(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "\xef\xbb\xbf"
                "a,b\n");
    EXPECT(rd.c, 1, "a", "b");
    EXPECT_EOF(rd.c);
    rd_close(&rd);

    /* a BOM then a quoted field and a comment */
    RD_OPEN(rd, "\xef\xbb\xbf#c\n\"q\"\n");
    EXPECT(rd.c, 2, "q");
    rd_close(&rd);

    /* only a BOM */
    RD_OPEN(rd, "\xef\xbb\xbf");
    EXPECT_EOF(rd.c);
    rd_close(&rd);

    /* only at the start of the file: later it is a character (U+FEFF) */
    RD_OPEN(rd, "a\n\xef\xbb\xbf"
                "b\n");
    EXPECT(rd.c, 1, "a");
    EXPECT(rd.c, 2,
           "\xef\xbb\xbf"
           "b");
    rd_close(&rd);

    /* a prefix of a BOM is not skipped: U+FFFD starts with EF too */
    RD_OPEN(rd, "\xef\xbf\xbd,x\n");
    EXPECT(rd.c, 1, "\xef\xbf\xbd", "x");
    rd_close(&rd);
}

static void test_quoted_separators(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "\"a,b\",c,\"\",\",\"\n\"x\",\"y,z\"");
    EXPECT(rd.c, 1, "a,b", "c", "", ",");
    EXPECT(rd.c, 2, "x", "y,z");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_escaped_quotes(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "\"say \"\"hi\"\"\",\"\"\"\"\n\"\"\"a\"\"\"\"b\"\n");
    EXPECT(rd.c, 1, "say \"hi\"", "\"");
    EXPECT(rd.c, 2, "\"a\"\"b");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_embedded_newlines(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "h1,h2\n"
                "\"line1\nline2\",z\n"
                "\"a\r\nb\",\"\n\n\"\n"
                "last\n");
    EXPECT(rd.c, 1, "h1", "h2");
    EXPECT(rd.c, 2, "line1\nline2", "z");
    EXPECT(rd.c, 4, "a\r\nb", "\n\n"); /* CR and LF inside quotes are kept as they are */
    EXPECT(rd.c, 8, "last");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_comments(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "# exported 2025-01-01\n"
                "a,#b\n"
                "#,\"unbalanced\n"
                "\"#quoted\",x\n"
                " #not a comment\n"
                "\"multi\n#line\"\n"
                "# \xff not validated\r\n"
                "#last without newline");
    EXPECT(rd.c, 2, "a", "#b");
    EXPECT(rd.c, 4, "#quoted", "x");
    EXPECT(rd.c, 5, " #not a comment");
    EXPECT(rd.c, 6, "multi\n#line");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_blank_lines(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "\n\na\n\r\n\nb\n\n");
    EXPECT(rd.c, 3, "a");
    EXPECT(rd.c, 6, "b");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_empty_fields(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "a,b,\n,\n\"\",x\n,,\n\"\"\n");
    EXPECT(rd.c, 1, "a", "b", "");
    EXPECT(rd.c, 2, "", "");
    EXPECT(rd.c, 3, "", "x");
    EXPECT(rd.c, 4, "", "", "");
    EXPECT(rd.c, 5, ""); /* a quoted empty field is a record, not a blank line */
    EXPECT_EOF(rd.c);
    rd_close(&rd);

    RD_OPEN(rd, "a,");
    EXPECT(rd.c, 1, "a", "");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_vietnamese(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "unit,component\r\n"
                "Xã Phước Hậu,Nhận thức số\r\n"
                "\"Xã Phước Hậu\",\"Nhận thức số, \"\"chuyển đổi số\"\"\"\r\n"
                "Thị trấn Cần Giuộc,Chính quyền số\r\n");
    EXPECT(rd.c, 1, "unit", "component");
    EXPECT(rd.c, 2, "Xã Phước Hậu", "Nhận thức số");
    EXPECT(rd.c, 3, "Xã Phước Hậu", "Nhận thức số, \"chuyển đổi số\"");
    EXPECT(rd.c, 4, "Thị trấn Cần Giuộc", "Chính quyền số");
    EXPECT_EOF(rd.c);
    rd_close(&rd);
}

static void test_fields_are_separate_strings(void **state)
{
    struct rd rd;
    struct dti_err e = {0};
    char **f;
    size_t n;
    RD_OPEN(rd, "one,two,three\n");
    assert_int_equal(csv_next(rd.c, &f, &n, &e), 1);
    assert_int_equal(n, 3);
    /* NUL-terminated each, not views into one line */
    assert_int_equal(strlen(f[0]), 3);
    assert_int_equal(strlen(f[1]), 3);
    assert_int_equal(strlen(f[2]), 5);
    rd_close(&rd);
}

static void test_err_quote_in_unquoted(void **state)
{
    ERR_CASE("ok\nab\"c\n", DTI_EPARSE, "line 2: quote inside unquoted field");
    ERR_CASE("a,b\"\n", DTI_EPARSE, "line 1: quote inside unquoted field");
    ERR_CASE("x\n\ny, \"z\"\n", DTI_EPARSE, "line 3: quote inside unquoted field");
}

static void test_err_text_after_quote(void **state)
{
    ERR_CASE("a\n\"ab\"c\n", DTI_EPARSE, "line 2: text after closing quote");
    ERR_CASE("\"ab\" ,c\n", DTI_EPARSE, "line 1: text after closing quote");
    /* in a multi-line record the line is where the text is */
    ERR_CASE("a\n\"x\ny\"z\n", DTI_EPARSE, "line 3: text after closing quote");
}

static void test_err_unterminated(void **state)
{
    ERR_CASE("a\n\"abc\nmore\n", DTI_EPARSE, "line 2: unterminated quoted field");
    ERR_CASE("a,\"", DTI_EPARSE, "line 1: unterminated quoted field");
    ERR_CASE("a\nb,\"x\"\"\n", DTI_EPARSE, "line 2: unterminated quoted field");
}

static void test_err_stray_cr(void **state)
{
    ERR_CASE("a\rb\n", DTI_EPARSE, "line 1: stray carriage return");
    ERR_CASE("a\nb\r", DTI_EPARSE, "line 2: stray carriage return");
    ERR_CASE("a\n\rb\n", DTI_EPARSE, "line 2: stray carriage return");
    ERR_CASE("a\n\"q\"\rb\n", DTI_EPARSE, "line 2: stray carriage return");
    ERR_CASE("a\n\r\r\n", DTI_EPARSE, "line 2: stray carriage return");
}

static void test_err_utf8(void **state)
{
    ERR_CASE("ok\na,b\xff\n", DTI_EPARSE, "line 2, field 2: not valid UTF-8");
    ERR_CASE("\xc3\n", DTI_EPARSE, "line 1, field 1: not valid UTF-8");         /* truncated */
    ERR_CASE("a,b,\xc0\xaf\n", DTI_EPARSE, "line 1, field 3: not valid UTF-8"); /* overlong */
    ERR_CASE("\xed\xa0\x80\n", DTI_EPARSE, "line 1, field 1: not valid UTF-8"); /* surrogate */
    ERR_CASE("a\x01z\n", DTI_EPARSE, "line 1, field 1: not valid UTF-8");       /* C0 control */
    ERR_CASE("a\x7f\n", DTI_EPARSE, "line 1, field 1: not valid UTF-8");
    /* quoted: the line where the field starts */
    ERR_CASE("x\n\"a\nb\xff\",c\n", DTI_EPARSE, "line 2, field 1: not valid UTF-8");
    ERR_CASE("x,\"\xc3\n\xa9\"\n", DTI_EPARSE, "line 1, field 2: not valid UTF-8");
    ERR_CASE("\"\x02\"\n", DTI_EPARSE, "line 1, field 1: not valid UTF-8");

    /* an embedded NUL would silently cut the C string */
    struct rd rd;
    RD_OPEN(rd, "ok\na\0b,c\n");
    EXPECT(rd.c, 1, "ok");
    EXPECT_ERR(rd.c, DTI_EPARSE, "line 2, field 1: not valid UTF-8");
    rd_close(&rd);
    RD_OPEN(rd, "\"a\0b\"\n");
    EXPECT_ERR(rd.c, DTI_EPARSE, "line 1, field 1: not valid UTF-8");
    rd_close(&rd);

    /* tab is text */
    RD_OPEN(rd, "a\tb,\"\t\"\n");
    EXPECT(rd.c, 1, "a\tb", "\t");
    rd_close(&rd);
}

static void test_error_is_sticky(void **state)
{
    struct rd rd;
    RD_OPEN(rd, "a\nb\"\nc\n");
    EXPECT(rd.c, 1, "a");
    EXPECT_ERR(rd.c, DTI_EPARSE, "line 2: quote inside unquoted field");
    assert_int_equal(csv_line(rd.c), 2);
    EXPECT_ERR(rd.c, DTI_EPARSE, "line 2: quote inside unquoted field");
    /* a NULL error struct is allowed */
    char **f;
    size_t n;
    assert_int_equal(csv_next(rd.c, &f, &n, NULL), DTI_EPARSE);
    rd_close(&rd);
}

static void test_err_io(void **state)
{
    FILE *f = fopen("/dev/null", "w"); /* reading a write-only stream fails */
    assert_non_null(f);
    struct csv *c;
    assert_int_equal(csv_open(&c, f), 0);
    struct dti_err e = {0};
    char **fields;
    size_t n;
    assert_int_equal(csv_next(c, &fields, &n, &e), DTI_EIO);
    assert_int_equal(e.code, DTI_EIO);
    assert_non_null(strstr(e.msg, "line 1: read error: "));
    csv_free(c);
    fclose(f);
}

/* A record of one line: nfields fields, each "x". */
static char *fields_line(size_t nfields)
{
    char *s = xmalloc(nfields * 2 + 1);
    for (size_t i = 0; i < nfields; i++) {
        s[2 * i] = 'x';
        s[2 * i + 1] = i + 1 < nfields ? ',' : '\n';
    }
    s[nfields * 2] = '\0';
    return s;
}

static void test_field_ceiling(void **state)
{
    struct rd rd;
    struct dti_err e = {0};
    char **f;
    size_t n;

    char *at = fields_line(CSV_MAX_FIELDS);
    char *over = fields_line(CSV_MAX_FIELDS + 1);
    char *in = xasprintf("%s%s%s", at, at, over);

    rd_open(&rd, in, strlen(in));
    for (int rec = 1; rec <= 2; rec++) {
        assert_int_equal(csv_next(rd.c, &f, &n, &e), 1);
        assert_int_equal(n, CSV_MAX_FIELDS);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(f[i], "x");
        assert_int_equal(csv_line(rd.c), rec);
    }
    EXPECT_ERR(rd.c, DTI_ETOOBIG, "line 3: more than 64 fields");
    rd_close(&rd);

    /* 64 empty fields, the last one after a trailing comma */
    char commas[CSV_MAX_FIELDS + 1];
    memset(commas, ',', sizeof(commas));
    rd_open(&rd, commas, CSV_MAX_FIELDS - 1);
    assert_int_equal(csv_next(rd.c, &f, &n, &e), 1);
    assert_int_equal(n, CSV_MAX_FIELDS);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(f[i], "");
    rd_close(&rd);
    rd_open(&rd, commas, CSV_MAX_FIELDS);
    EXPECT_ERR(rd.c, DTI_ETOOBIG, "line 1: more than 64 fields");
    rd_close(&rd);

    free(in);
    free(over);
    free(at);
}

enum body { PLAIN, QUOTED, ESCAPES };

/* Line 1 "h", then a one-field record of exactly len bytes, "\r\n", and "t". */
static void record_case(size_t len, enum body kind, bool ok)
{
    size_t n = 2 + len + 3;
    char *s = xmalloc(n);
    memcpy(s, "h\n", 2);
    char *r = s + 2;
    size_t want_len;
    if (kind == PLAIN) {
        memset(r, 'a', len);
        want_len = len;
    } else if (kind == QUOTED) {
        r[0] = '"';
        memset(r + 1, 'q', len - 2);
        r[len - 1] = '"';
        want_len = len - 2;
    } else { /* "" pairs between quotes; len must be even */
        r[0] = '"';
        memset(r + 1, '"', len - 2);
        r[len - 1] = '"';
        want_len = (len - 2) / 2;
    }
    memcpy(r + len, "\r\nt", 3);

    struct rd rd;
    struct dti_err e = {0};
    char **f;
    size_t nf;
    rd_open(&rd, s, n);
    EXPECT(rd.c, 1, "h");
    if (ok) {
        assert_int_equal(csv_next(rd.c, &f, &nf, &e), 1);
        assert_int_equal(nf, 1);
        assert_int_equal(strlen(f[0]), want_len);
        assert_int_equal(csv_line(rd.c), 2);
        EXPECT(rd.c, 3, "t");
        EXPECT_EOF(rd.c);
    } else {
        EXPECT_ERR(rd.c, DTI_ETOOBIG, "line 2: record longer than 65536 bytes");
    }
    rd_close(&rd);
    free(s);
}

static void test_record_ceiling(void **state)
{
    record_case(CSV_MAX_RECORD, PLAIN, true);
    record_case(CSV_MAX_RECORD + 1, PLAIN, false);
    record_case(CSV_MAX_RECORD, QUOTED, true); /* the quotes count */
    record_case(CSV_MAX_RECORD + 1, QUOTED, false);
    record_case(CSV_MAX_RECORD, ESCAPES, true); /* "" counts as two */
    record_case(CSV_MAX_RECORD + 2, ESCAPES, false);
}

static void test_record_ceiling_fields_and_lines(void **state)
{
    /* 64 fields of 1023 bytes, one more in the last, and 63 commas: 65536 bytes; then 65537 */
    size_t flen = 1023;
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < CSV_MAX_FIELDS; i++) {
            for (size_t k = 0; k < flen; k++)
                assert_int_equal(buf_append(&b, "b", 1), 0);
            if (i == CSV_MAX_FIELDS - 1)
                assert_int_equal(buf_append(&b, "bb", pass + 1), 0);
            assert_int_equal(buf_append(&b, i + 1 < CSV_MAX_FIELDS ? "," : "\n", 1), 0);
        }
    }
    struct rd rd;
    struct dti_err e = {0};
    char **f;
    size_t n;
    rd_open(&rd, b.data, b.len);
    assert_int_equal(csv_next(rd.c, &f, &n, &e), 1);
    assert_int_equal(n, CSV_MAX_FIELDS);
    assert_int_equal(strlen(f[0]), flen);
    assert_int_equal(strlen(f[1]), flen);
    assert_int_equal(strlen(f[CSV_MAX_FIELDS - 1]), flen + 1);
    EXPECT_ERR(rd.c, DTI_ETOOBIG, "line 2: record longer than 65536 bytes");
    rd_close(&rd);
    buf_release(&b);

    /* a quoted field over many lines: the line is where the record starts */
    buf_init(&b, BUF_UNLIMITED);
    assert_int_equal(buf_puts(&b, "a\n\""), 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_puts(&b, "0123456\n"), 0);
    assert_int_equal(buf_puts(&b, "\"\n"), 0);
    rd_open(&rd, b.data, b.len);
    EXPECT(rd.c, 1, "a");
    EXPECT_ERR(rd.c, DTI_ETOOBIG, "line 2: record longer than 65536 bytes");
    rd_close(&rd);
    buf_release(&b);
}

/* Byte pairs that the reader must look at together, split across its 64 KiB read-ahead. */
static void test_chunk_boundaries(void **state)
{
    size_t chunk = 65536;
    size_t n = chunk + 64;
    char *s = xmalloc(n);
    struct rd rd;
    struct dti_err e = {0};
    char **f;
    size_t nf;

    /* CR at the last byte of the chunk, LF the first of the next */
    memset(s, 'a', chunk - 1);
    memcpy(s + chunk - 1, "\r\nb\n", 4);
    rd_open(&rd, s, chunk + 3);
    assert_int_equal(csv_next(rd.c, &f, &nf, &e), 1);
    assert_int_equal(nf, 1);
    assert_int_equal(strlen(f[0]), chunk - 1);
    EXPECT(rd.c, 2, "b");
    EXPECT_EOF(rd.c);
    rd_close(&rd);

    /* "" split: the first quote ends the chunk */
    memcpy(s, "ab\n\"", 4);
    memset(s + 4, 'x', chunk - 5);
    memcpy(s + chunk - 1, "\"\"\"\nz\n", 6);
    rd_open(&rd, s, chunk + 5);
    EXPECT(rd.c, 1, "ab");
    assert_int_equal(csv_next(rd.c, &f, &nf, &e), 1);
    assert_int_equal(nf, 1);
    assert_int_equal(strlen(f[0]), chunk - 5 + 1);
    assert_int_equal(f[0][chunk - 5], '"');
    assert_int_equal(f[0][chunk - 6], 'x');
    EXPECT(rd.c, 3, "z");
    rd_close(&rd);

    /* closing quote ends the chunk, the separator begins the next */
    memcpy(s, "ab\n\"", 4);
    memset(s + 4, 'y', chunk - 5);
    memcpy(s + chunk - 1, "\",w\n", 4);
    rd_open(&rd, s, chunk + 3);
    EXPECT(rd.c, 1, "ab");
    assert_int_equal(csv_next(rd.c, &f, &nf, &e), 1);
    assert_int_equal(nf, 2);
    assert_int_equal(strlen(f[0]), chunk - 5);
    assert_string_equal(f[1], "w");
    EXPECT_EOF(rd.c);
    rd_close(&rd);

    /* a multi-byte character split across the chunks */
    memcpy(s, "h\n", 2);
    memset(s + 2, 'a', chunk - 3);
    memcpy(s + chunk - 1, "\xc3\xa9\n", 3);
    rd_open(&rd, s, chunk + 2);
    EXPECT(rd.c, 1, "h");
    assert_int_equal(csv_next(rd.c, &f, &nf, &e), 1);
    assert_int_equal(nf, 1);
    assert_int_equal(strlen(f[0]), chunk - 1);
    assert_string_equal(f[0] + chunk - 3, "é");
    EXPECT_EOF(rd.c);
    rd_close(&rd);

    free(s);
}

/* Many rows, as an import would see them: every field of every row checked. */
static void test_many_rows(void **state)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    size_t rows = 100000;
    for (size_t i = 0; i < rows; i++)
        assert_int_equal(buf_printf(&b, "%zu,\"Xã %zu, \"\"Phước\"\"\",%s\r\n", i, i * 7,
                                    i % 3 ? "Nhận thức số" : ""),
                         0);
    struct rd rd;
    struct dti_err e = {0};
    char **f;
    size_t n;
    char want[64];
    rd_open(&rd, b.data, b.len);
    for (size_t i = 0; i < rows; i++) {
        assert_int_equal(csv_next(rd.c, &f, &n, &e), 1);
        assert_int_equal(n, 3);
        snprintf(want, sizeof(want), "%zu", i);
        assert_string_equal(f[0], want);
        snprintf(want, sizeof(want), "Xã %zu, \"Phước\"", i * 7);
        assert_string_equal(f[1], want);
        assert_string_equal(f[2], i % 3 ? "Nhận thức số" : "");
        assert_int_equal(csv_line(rd.c), i + 1);
    }
    EXPECT_EOF(rd.c);
    rd_close(&rd);
    buf_release(&b);
}

static void test_free_null(void **state)
{
    csv_free(NULL);
}

/* The writer: quoting, doubled quotes, cutting on a character boundary, and the
 * formula guard only for text people read. */
static void test_put(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(csv_put(&b, "22750", true, false, 0), 0);
    assert_int_equal(csv_put(&b, "-5", false, false, 0), 0);           /* read back: exact */
    assert_int_equal(csv_put(&b, "=HYPERLINK(1)", false, true, 0), 0); /* read by people */
    assert_int_equal(csv_put(&b, "a,\"b\"", false, false, 0), 0);
    assert_int_equal(csv_put(&b, "Nhận thức số", false, true, 8), 0); /* 8 bytes: "Nhận t" + … */
    assert_string_equal((char *)b.data, "22750,-5,\"'=HYPERLINK(1)\",\"a,\"\"b\"\"\",Nhận t…");
    /* what the writer wrote, the reader reads back */
    FILE *f = fmemopen(b.data, b.len, "r");
    struct csv *c = NULL;
    char **fld;
    size_t nf;
    struct dti_err e = {0};
    assert_int_equal(csv_open(&c, f), 0);
    assert_int_equal(csv_next(c, &fld, &nf, &e), 1);
    assert_int_equal(nf, 5);
    assert_string_equal(fld[1], "-5");
    assert_string_equal(fld[3], "a,\"b\"");
    csv_free(c);
    fclose(f);
    /* the buffer's ceiling is an error, not a truncation */
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(csv_put(&small, "hello", true, false, 0), DTI_ETOOBIG);
    buf_release(&small);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_plain_rows),
        cmocka_unit_test(test_no_final_newline),
        cmocka_unit_test(test_single_field_and_spaces),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_quoted_separators),
        cmocka_unit_test(test_escaped_quotes),
        cmocka_unit_test(test_embedded_newlines),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_blank_lines),
        cmocka_unit_test(test_empty_fields),
        cmocka_unit_test(test_vietnamese),
        cmocka_unit_test(test_fields_are_separate_strings),
        cmocka_unit_test(test_err_quote_in_unquoted),
        cmocka_unit_test(test_err_text_after_quote),
        cmocka_unit_test(test_err_unterminated),
        cmocka_unit_test(test_err_stray_cr),
        cmocka_unit_test(test_err_utf8),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_err_io),
        cmocka_unit_test(test_field_ceiling),
        cmocka_unit_test(test_record_ceiling),
        cmocka_unit_test(test_record_ceiling_fields_and_lines),
        cmocka_unit_test(test_chunk_boundaries),
        cmocka_unit_test(test_many_rows),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
