/*
 * test_store.c - unit tests for the agent's store (agent/store.c): create and
 * open, recording edits all or none, base versions and the clock, sealing
 * into gapless hash-chained batches, receipts retiring exactly their batch,
 * the change feed never overwriting a pending local edit, and a crash
 * between seal and ack losing nothing. Every "changes nothing" claim is
 * checked against a full dump of the database taken before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "changes.h"
#include "crypto.h"
#include "enroll.h"
#include "envelope.h"
#include "err.h"
#include "hlc.h"
#include "receipt.h"
#include "store.h"
#include "util.h"
#include "value.h"

#define UNIT "22750"
#define OTHER_UNIT "22751"
#define T0 UINT64_C(1700000000000)
#define VI_TEXT "Nhận thức số"

struct fx {
    char tmp[64]; /* mkdtemp root, removed in teardown */
    char *dir;    /* tmp/agent: the store's directory */
    struct signer *key, *hub, *other;
    uint8_t pub[CRYPTO_PUBKEY_LEN], hub_pub[CRYPTO_PUBKEY_LEN];
    struct store_identity id;
    struct store *st;
};

/* ---- helpers ---- */

static void expect_code(int got, const struct dti_err *e, int want, const char *file, int line)
{
    if (got != want)
        print_error("got %s (%s), want %s\n", dti_strname(got), e->msg, dti_strname(want));
    _assert_string_equal(dti_strname(got), dti_strname(want), file, line);
    _assert_int_equal(e->code, want, file, line);
    if (want != 0 && e->msg[0] == '\0') {
        print_error("%s without a message\n", dti_strname(got));
        _fail(file, line);
    }
}

#define EXPECT_CODE(got, e, want) expect_code((got), (e), (want), __FILE__, __LINE__)

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = path_join(path, de->d_name);
        rm_tree(p);
        free(p);
    }
    closedir(d);
    rmdir(path);
}

static void make_identity(struct fx *f)
{
    memset(&f->id, 0, sizeof(f->id));
    enroll_agent_id(f->pub, f->id.agent_id);
    snprintf(f->id.unit, sizeof(f->id.unit), "%s", UNIT);
    snprintf(f->id.hub_url, sizeof(f->id.hub_url), "https://127.0.0.1:1");
    memset(f->id.fingerprint, '0', CRYPTO_FP_HEX_LEN);
    f->id.fingerprint[CRYPTO_FP_HEX_LEN] = '\0';
    f->id.has_token = true;
    for (int i = 0; i < 32; i++)
        f->id.token_secret[i] = (uint8_t)(i * 3 + 1);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/dti-agent-store-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    f->dir = path_join(f->tmp, "agent");
    if (signer_generate(&f->key) < 0 || signer_generate(&f->hub) < 0 ||
        signer_generate(&f->other) < 0)
        return -1;
    signer_public(f->key, f->pub);
    signer_public(f->hub, f->hub_pub);
    make_identity(f);
    struct dti_err e = {0};
    if (store_create(&f->st, f->dir, &f->id, &e) < 0) {
        print_error("store_create: %s\n", e.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    rm_tree(f->tmp);
    signer_free(f->key);
    signer_free(f->hub);
    signer_free(f->other);
    free(f->dir);
    free(f);
    return 0;
}

static sqlite3 *db(const struct fx *f)
{
    return store_db(f->st);
}

/* The single integer the query returns; fails the test when there is no row. */
/* (SQLite's printf: %Q quotes a string; not checked by the compiler, so
 * integers are always passed as long long with %lld) */
static int64_t q_int(sqlite3 *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d, sql, -1, &s, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(d));
        fail();
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        print_error("no row for: %s\n", sql);
        fail();
    }
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_free(sql);
    return v;
}

/* The single text (or "NULL") the query returns, copied into out. */
static const char *q_text(sqlite3 *d, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d, sql, -1, &s, NULL) != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(d));
        fail();
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        print_error("no row for: %s\n", sql);
        fail();
    }
    const unsigned char *t = sqlite3_column_text(s, 0);
    snprintf(out, cap, "%s", t ? (const char *)t : "NULL");
    sqlite3_finalize(s);
    sqlite3_free(sql);
    return out;
}

static void dump_rows(sqlite3 *d, const char *table, struct buf *b)
{
    sqlite3_stmt *s = NULL;
    char *sql = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
    assert_int_equal(sqlite3_prepare_v2(d, sql, -1, &s, NULL), SQLITE_OK);
    int ncol = sqlite3_column_count(s);
    sqlite3_finalize(s);
    sqlite3_free(sql);
    struct buf q;
    buf_init(&q, BUF_UNLIMITED);
    buf_printf(&q, "SELECT * FROM \"%s\" ORDER BY 1", table);
    for (int c = 2; c <= ncol; c++)
        buf_printf(&q, ", %d", c);
    assert_int_equal(sqlite3_prepare_v2(d, (const char *)q.data, -1, &s, NULL), SQLITE_OK);
    buf_release(&q);
    buf_printf(b, "## %s\n", table);
    while (sqlite3_step(s) == SQLITE_ROW) {
        for (int c = 0; c < ncol; c++) {
            switch (sqlite3_column_type(s, c)) {
            case SQLITE_NULL:
                buf_puts(b, "NULL");
                break;
            case SQLITE_INTEGER:
                buf_printf(b, "%lld", (long long)sqlite3_column_int64(s, c));
                break;
            case SQLITE_FLOAT:
                buf_printf(b, "%.17g", sqlite3_column_double(s, c));
                break;
            case SQLITE_TEXT:
                buf_printf(b, "'%s'", (const char *)sqlite3_column_text(s, c));
                break;
            default: {
                const uint8_t *p = sqlite3_column_blob(s, c);
                int n = sqlite3_column_bytes(s, c);
                buf_puts(b, "x'");
                for (int i = 0; i < n; i++)
                    buf_printf(b, "%02x", p[i]);
                buf_puts(b, "'");
            }
            }
            buf_puts(b, "|");
        }
        buf_puts(b, "\n");
    }
    sqlite3_finalize(s);
}

/* Every row of every table (whatever the schema holds), as text: the
 * before/after of "changes nothing". */
static char *dump_db(sqlite3 *d)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    sqlite3_stmt *t = NULL;
    assert_int_equal(sqlite3_prepare_v2(d,
                                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "ORDER BY name",
                                        -1, &t, NULL),
                     SQLITE_OK);
    int ntables = 0;
    while (sqlite3_step(t) == SQLITE_ROW) {
        dump_rows(d, (const char *)sqlite3_column_text(t, 0), &b);
        ntables++;
    }
    sqlite3_finalize(t);
    assert_true(ntables >= 5); /* meta, scope, vals, outbox, batches at least */
    size_t len;
    return (char *)buf_take(&b, &len);
}

#define ASSERT_UNCHANGED(f, before)                                                                \
    do {                                                                                           \
        char *after_ = dump_db(db(f));                                                             \
        assert_string_equal(after_, (before));                                                     \
        free(after_);                                                                              \
    } while (0)

static struct edit num_edit(const char *unit, const char *element, const char *period, double v)
{
    struct edit ed = {0};
    ed.unit = unit;
    ed.element = element;
    ed.period = period;
    ed.value.kind = VALUE_NUMBER;
    ed.value.num = v;
    return ed;
}

static void record_ok(struct fx *f, const struct edit *eds, size_t n, uint64_t now)
{
    struct dti_err e = {0};
    size_t bad = 99;
    EXPECT_CODE(store_record(f->st, eds, n, now, &bad, &e), &e, 0);
}

static void record1(struct fx *f, const char *element, double v, uint64_t now)
{
    struct edit ed = num_edit(UNIT, element, "2023", v);
    record_ok(f, &ed, 1, now);
}

static size_t seal_ok(struct fx *f, size_t max_records, uint64_t now)
{
    struct dti_err e = {0};
    size_t sealed = 99;
    EXPECT_CODE(store_seal(f->st, f->key, max_records, now, &sealed, &e), &e, 0);
    return sealed;
}

static void batch_hash(struct fx *f, uint64_t seq, uint8_t hash[32])
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db(f), "SELECT hash FROM batches WHERE seq = ?1", -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(s, 0), 32);
    memcpy(hash, sqlite3_column_blob(s, 0), 32);
    sqlite3_finalize(s);
}

/* A receipt for batch seq as the hub would send it: sealed with the hub key,
 * then opened again; bytes gets the signed form. */
static void make_receipt(struct fx *f, uint64_t seq, const uint8_t hash[32], size_t n,
                         const uint8_t *outcomes, const struct receipt_reject *rejects,
                         size_t nrejects, uint64_t hub_hlc, struct receipt *out, struct buf *bytes)
{
    struct receipt rc = {0};
    memcpy(rc.agent_id, f->id.agent_id, sizeof(rc.agent_id));
    rc.seq = seq;
    memcpy(rc.batch_hash, hash, 32);
    rc.hub_hlc = hub_hlc;
    rc.received_ms = T0;
    rc.n = n;
    rc.outcomes = (uint8_t *)outcomes;
    rc.nrejects = nrejects;
    rc.rejects = (struct receipt_reject *)rejects;
    struct dti_err e = {0};
    buf_init(bytes, BUF_UNLIMITED);
    EXPECT_CODE(receipt_seal(&rc, f->hub, bytes, &e), &e, 0);
    EXPECT_CODE(receipt_open(bytes->data, bytes->len, f->hub_pub, out, &e), &e, 0);
}

static void all_accepted_receipt(struct fx *f, uint64_t seq, size_t n, uint64_t hub_hlc,
                                 struct receipt *out, struct buf *bytes)
{
    uint8_t hash[32];
    uint8_t *oc = xmalloc(n ? n : 1);
    memset(oc, OUTCOME_ACCEPTED, n);
    batch_hash(f, seq, hash);
    make_receipt(f, seq, hash, n, oc, NULL, 0, hub_hlc, out, bytes);
    free(oc);
}

static void ack_ok(struct fx *f, const struct receipt *rc, const struct buf *bytes)
{
    struct dti_err e = {0};
    EXPECT_CODE(store_ack(f->st, rc, bytes->data, bytes->len, &e), &e, 0);
}

static const char *state_of(struct fx *f, const char *unit, const char *element, const char *period,
                            char *out, size_t cap)
{
    return q_text(db(f), out, cap,
                  "SELECT state FROM vals WHERE unit = %Q AND element = %Q AND period = %Q", unit,
                  element, period);
}

#define ASSERT_STATE(f, element, want)                                                             \
    do {                                                                                           \
        char st_[32];                                                                              \
        assert_string_equal(state_of((f), UNIT, (element), "2023", st_, sizeof(st_)), (want));     \
    } while (0)

/* ---- create / open ---- */

static void test_create_then_open(void **state)
{
    struct fx *f = *state;
    struct dti_err e = {0};
    struct store *st2 = NULL;

    /* a second create in the same place refuses and leaves the first alone */
    char *before = dump_db(db(f));
    EXPECT_CODE(store_create(&st2, f->dir, &f->id, &e), &e, DTI_EEXISTS);
    assert_null(st2);
    ASSERT_UNCHANGED(f, before);
    free(before);

    /* what init recorded comes back after close and open */
    store_close(f->st);
    f->st = NULL;
    e = (struct dti_err){0};
    EXPECT_CODE(store_open(&f->st, f->dir, &e), &e, 0);
    struct store_identity got;
    EXPECT_CODE(store_identity(f->st, &got, &e), &e, 0);
    assert_string_equal(got.agent_id, f->id.agent_id);
    assert_int_equal(strlen(got.agent_id), AGENT_ID_LEN);
    assert_string_equal(got.unit, UNIT);
    assert_string_equal(got.hub_url, "https://127.0.0.1:1");
    assert_string_equal(got.fingerprint, f->id.fingerprint);
    assert_true(got.has_token);
    assert_memory_equal(got.token_secret, f->id.token_secret, 32);
    assert_false(got.enrolled);
    assert_false(got.has_hub_pub);

    /* the unit is the scope until enrolment says otherwise */
    EXPECT_CODE(store_check_scope(f->st, UNIT, &e), &e, 0);
    EXPECT_CODE(store_check_scope(f->st, OTHER_UNIT, &e), &e, DTI_ESCOPE);
    assert_non_null(strstr(e.msg, OTHER_UNIT));

    /* enrolment pins the key, sets the scope, forgets the token */
    char scope[2][UNIT_CODE_MAX + 1] = {UNIT, OTHER_UNIT};
    char levels[2][16] = {"commune", "commune"};
    e = (struct dti_err){0};
    EXPECT_CODE(store_enrolled(f->st, f->hub_pub, scope, levels, 2, 1, &e), &e, 0);
    char level[16];
    EXPECT_CODE(store_unit_level(f->st, OTHER_UNIT, level, &e), &e, 0);
    assert_string_equal(level, "commune");
    EXPECT_CODE(store_identity(f->st, &got, &e), &e, 0);
    assert_true(got.enrolled);
    assert_true(got.has_hub_pub);
    assert_memory_equal(got.hub_pub, f->hub_pub, 32);
    assert_false(got.has_token);
    EXPECT_CODE(store_check_scope(f->st, OTHER_UNIT, &e), &e, 0);
    /* the hub cannot claim this agent sent batches it never sealed */
    before = dump_db(db(f));
    EXPECT_CODE(store_enrolled(f->st, f->hub_pub, scope, levels, 1, 5, &e), &e, DTI_ESTATE);
    ASSERT_UNCHANGED(f, before);
    free(before);
}

static void test_open_empty_dir(void **state)
{
    struct fx *f = *state;
    char *empty = path_join(f->tmp, "empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    struct store *st = NULL;
    struct dti_err e = {0};
    EXPECT_CODE(store_open(&st, empty, &e), &e, DTI_ENOTFOUND);
    assert_null(st);
    if (!strstr(e.msg, "dti-agent init") || !strstr(e.msg, empty)) {
        print_error("no advice in: %s\n", e.msg);
        fail();
    }
    /* opening did not create anything there */
    char *p = path_join(empty, STORE_DB);
    assert_int_not_equal(access(p, F_OK), 0);
    free(p);

    /* nor does a directory that does not exist */
    char *none = path_join(f->tmp, "none");
    e = (struct dti_err){0};
    EXPECT_CODE(store_open(&st, none, &e), &e, DTI_ENOTFOUND);
    assert_null(st);
    assert_int_not_equal(access(none, F_OK), 0);
    free(none);
    free(empty);
}

/* ---- recording ---- */

static void check_bad_batch(struct fx *f, size_t bad_at, struct edit bad, int want)
{
    struct edit eds[4] = {
        num_edit(UNIT, "A", "2023", 1), num_edit(UNIT, "B", "2023", 2),
        num_edit(UNIT, "C", "2023-01", 3),
        num_edit(UNIT, "KNOWN", "2023", 99), /* already held: its update must roll back */
    };
    eds[bad_at] = bad;
    char *before = dump_db(db(f));
    struct dti_err e = {0};
    size_t bad_index = 1234;
    EXPECT_CODE(store_record(f->st, eds, 4, T0 + 5000, &bad_index, &e), &e, want);
    assert_int_equal(bad_index, bad_at);
    ASSERT_UNCHANGED(f, before);
    free(before);
    /* exactly the one earlier edit */
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM vals"), 1);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox"), 1);
}

static void test_record_all_or_none(void **state)
{
    struct fx *f = *state;
    record1(f, "KNOWN", 7, T0);
    uint64_t hlc0 = (uint64_t)q_int(db(f), "SELECT value FROM meta WHERE key = 'hlc'");
    assert_true(hlc0 >= hlc_make(T0, 0));

    struct edit bad_code = num_edit(UNIT, "bad code!", "2023", 1);
    struct edit empty_code = num_edit(UNIT, "", "2023", 1);
    struct edit scope = num_edit(OTHER_UNIT, "A", "2023", 1);
    struct edit nan = num_edit(UNIT, "N", "2023", NAN);
    struct edit inf = num_edit(UNIT, "N", "2023", INFINITY);
    struct edit period = num_edit(UNIT, "P", "2023-13", 1);
    struct edit none = num_edit(UNIT, "V", "2023", 1);
    none.value.kind = VALUE_NONE;
    struct edit badtext = num_edit(UNIT, "T", "2023", 0);
    badtext.value.kind = VALUE_TEXT;
    badtext.value.text = "\xc3\x28";
    struct edit author = num_edit(UNIT, "U", "2023", 1);
    author.author = "\xff";

    for (size_t at = 0; at < 4; at += 3) { /* first and last position */
        check_bad_batch(f, at, bad_code, DTI_EELEMENT);
        check_bad_batch(f, at, empty_code, DTI_EELEMENT);
        check_bad_batch(f, at, scope, DTI_ESCOPE);
        check_bad_batch(f, at, nan, DTI_EVALUE);
        check_bad_batch(f, at, inf, DTI_EVALUE);
        check_bad_batch(f, at, period, DTI_EPERIOD);
        check_bad_batch(f, at, none, DTI_EVALUE);
        check_bad_batch(f, at, badtext, DTI_EVALUE);
        check_bad_batch(f, at, author, DTI_EINVAL);
    }
    check_bad_batch(f, 2, nan, DTI_EVALUE);

    /* the same batch made good goes in whole: values and outbox together */
    struct edit eds[4] = {
        num_edit(UNIT, "A", "2023", 1),
        num_edit(UNIT, "B", "2023", 2),
        num_edit(UNIT, "C", "2023-01", 3),
        num_edit(UNIT, "KNOWN", "2023", 99),
    };
    record_ok(f, eds, 4, T0 + 5000);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM vals"), 4);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox"), 5);
    assert_int_equal(q_int(db(f), "SELECT num FROM vals WHERE element = 'KNOWN'"), 99);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM vals WHERE state = 'pending'"), 4);
    assert_int_equal(
        q_int(db(f),
              "SELECT count(*) FROM vals v JOIN outbox o USING (unit, element, period) "
              "WHERE v.hlc = o.hlc AND v.origin = %Q",
              f->id.agent_id),
        4);
}

static void test_record_kinds_and_strings(void **state)
{
    struct fx *f = *state;
    struct edit eds[3] = {
        num_edit(UNIT, "num", "2023Q2", -3.5),
        num_edit(UNIT, "bool", "2023-12", 0),
        num_edit(UNIT, "text", "2023", 0),
    };
    eds[0].author = "Chị Lan";
    eds[0].comment = "số liệu quý 2";
    eds[1].value.kind = VALUE_BOOL;
    eds[1].value.b = true;
    eds[2].value.kind = VALUE_TEXT;
    eds[2].value.text = VI_TEXT;
    record_ok(f, eds, 3, T0);
    char t[256];
    assert_int_equal(q_int(db(f), "SELECT kind FROM vals WHERE element = 'num'"), VALUE_NUMBER);
    assert_int_equal(q_int(db(f), "SELECT num * 2 FROM vals WHERE element = 'num'"), -7);
    assert_string_equal(
        q_text(db(f), t, sizeof(t), "SELECT author FROM outbox WHERE element='num'"), "Chị Lan");
    assert_string_equal(
        q_text(db(f), t, sizeof(t), "SELECT comment FROM vals WHERE element = 'num'"),
        "số liệu quý 2");
    assert_int_equal(q_int(db(f), "SELECT kind FROM outbox WHERE element = 'bool'"), VALUE_BOOL);
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT txt FROM outbox WHERE element='text'"),
                        VI_TEXT);
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT author FROM vals WHERE element='bool'"),
                        "NULL");
}

/* ---- versions and the clock ---- */

static void test_edit_base_is_previous_local_version(void **state)
{
    struct fx *f = *state;
    char t[64];
    record1(f, "X", 1, T0);
    record1(f, "X", 2, T0 + 10);
    /* two edits of one key in one call: the second builds on the first */
    struct edit two[2] = {num_edit(UNIT, "Y", "2023", 1), num_edit(UNIT, "Y", "2023", 2)};
    record_ok(f, two, 2, T0 + 20);

    for (int k = 0; k < 2; k++) {
        const char *el = k == 0 ? "X" : "Y";
        int64_t first = q_int(db(f), "SELECT min(id) FROM outbox WHERE element = %Q", el);
        int64_t second = q_int(db(f), "SELECT max(id) FROM outbox WHERE element = %Q", el);
        assert_true(second > first);
        int64_t h1 = q_int(db(f), "SELECT hlc FROM outbox WHERE id = %lld", (long long)first);
        int64_t h2 = q_int(db(f), "SELECT hlc FROM outbox WHERE id = %lld", (long long)second);
        /* a new key has no base */
        assert_int_equal(
            q_int(db(f), "SELECT base_hlc FROM outbox WHERE id = %lld", (long long)first), 0);
        assert_string_equal(q_text(db(f), t, sizeof(t),
                                   "SELECT base_origin FROM outbox WHERE id = %lld",
                                   (long long)first),
                            "NULL");
        assert_int_equal(
            q_int(db(f), "SELECT base_hlc FROM outbox WHERE id = %lld", (long long)second), h1);
        assert_string_equal(q_text(db(f), t, sizeof(t),
                                   "SELECT base_origin FROM outbox WHERE id = %lld",
                                   (long long)second),
                            f->id.agent_id);
        /* the value holds the latest edit */
        assert_int_equal(q_int(db(f), "SELECT hlc FROM vals WHERE element = %Q", el), h2);
        assert_int_equal(q_int(db(f), "SELECT num FROM vals WHERE element = %Q", el), 2);
    }

    /* an edit of a value that came from the hub builds on the hub's version */
    struct change c = {.unit = UNIT,
                       .element = "Z",
                       .period = "2023",
                       .value = {.kind = VALUE_NUMBER, .num = 5},
                       .hlc = hlc_make(T0 - 1000, 3),
                       .origin = ORIGIN_HUB,
                       .author = "",
                       .comment = ""};
    struct changes_page p = {.after = 0, .next = 1, .n = 1, .items = &c};
    memcpy(p.agent_id, f->id.agent_id, sizeof(p.agent_id));
    size_t applied, flagged;
    struct dti_err e = {0};
    EXPECT_CODE(store_apply_changes(f->st, &p, &applied, &flagged, &e), &e, 0);
    record1(f, "Z", 6, T0 + 30);
    assert_int_equal(q_int(db(f), "SELECT base_hlc FROM outbox WHERE element = 'Z'"),
                     (int64_t)hlc_make(T0 - 1000, 3));
    assert_string_equal(
        q_text(db(f), t, sizeof(t), "SELECT base_origin FROM outbox WHERE element = 'Z'"), "hub");
}

static void test_hlc_strictly_increasing(void **state)
{
    struct fx *f = *state;
    /* the office clock jumps about: forward, backwards, back an hour, stalls */
    const uint64_t nows[] = {T0 + 1000, T0 + 1000, T0, T0 - 3600000, T0 - 3600000, T0 + 2000, 1};
    for (size_t i = 0; i < ARRAY_SIZE(nows); i++) {
        char el[8];
        snprintf(el, sizeof(el), "E%zu", i);
        record1(f, el, (double)i, nows[i]);
    }
    /* several edits in one call, and again after a close and open */
    struct edit three[3] = {num_edit(UNIT, "M1", "2023", 1), num_edit(UNIT, "M2", "2023", 1),
                            num_edit(UNIT, "M1", "2023", 2)};
    record_ok(f, three, 3, T0 - 5);
    store_close(f->st);
    f->st = NULL;
    struct dti_err e = {0};
    EXPECT_CODE(store_open(&f->st, f->dir, &e), &e, 0);
    record1(f, "after", 1, T0 - 10);

    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db(f), "SELECT hlc FROM outbox ORDER BY id", -1, &s, NULL),
                     SQLITE_OK);
    uint64_t prev = 0;
    size_t n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        uint64_t h = (uint64_t)sqlite3_column_int64(s, 0);
        if (h <= prev)
            print_error("edit %zu: hlc %" PRIu64 " after %" PRIu64 "\n", n, h, prev);
        assert_true(h > prev);
        if (n < ARRAY_SIZE(nows))
            assert_true(h >= hlc_make(nows[n], 0)); /* never behind the wall clock */
        prev = h;
        n++;
    }
    sqlite3_finalize(s);
    assert_int_equal(n, ARRAY_SIZE(nows) + 4);
    assert_true(prev >= hlc_make(T0 + 2000, 0));
    /* the persisted clock is the last one issued */
    assert_int_equal(q_int(db(f), "SELECT value FROM meta WHERE key = 'hlc'"), (int64_t)prev);

    /* sealing ticks too, past every edit */
    assert_int_equal(seal_ok(f, 0, 5), 1);
    struct buf env;
    buf_init(&env, BUF_UNLIMITED);
    uint8_t hash[32];
    uint64_t seq;
    EXPECT_CODE(store_oldest_unacked(f->st, &seq, hash, &env, &e), &e, 0);
    struct envelope *ev = NULL;
    EXPECT_CODE(envelope_parse(env.data, env.len, &ev, &e), &e, 0);
    assert_true(envelope_header(ev)->hlc > prev);
    envelope_free(ev);
    buf_release(&env);

    /* a hub time ahead of ours pulls the clock forward */
    uint64_t hub_time = hlc_make(T0 + 86400000, 9), h;
    EXPECT_CODE(store_observe_hub(f->st, hub_time, &e), &e, 0);
    EXPECT_CODE(store_tick(f->st, T0, &h, &e), &e, 0);
    assert_true(h > hub_time);
    record1(f, "late", 1, T0);
    assert_true((uint64_t)q_int(db(f), "SELECT hlc FROM outbox WHERE element = 'late'") > h);
    /* an older hub time does not move it back */
    EXPECT_CODE(store_observe_hub(f->st, hlc_make(T0, 0), &e), &e, 0);
    uint64_t h2;
    EXPECT_CODE(store_tick(f->st, T0, &h2, &e), &e, 0);
    assert_true(h2 > h);
}

/* ---- sealing ---- */

static void check_record(const struct record *r, const struct edit *ed, sqlite3 *d, int64_t id)
{
    assert_string_equal(r->unit, ed->unit);
    assert_string_equal(r->element, ed->element);
    assert_string_equal(r->period, ed->period);
    if (!value_equal(&r->value, &ed->value)) {
        print_error("value of %s differs\n", ed->element);
        fail();
    }
    assert_string_equal(r->author, ed->author ? ed->author : "");
    assert_string_equal(r->comment, ed->comment ? ed->comment : "");
    assert_int_equal(r->hlc,
                     (uint64_t)q_int(d, "SELECT hlc FROM outbox WHERE id = %lld", (long long)id));
    assert_int_equal(r->base_hlc, (uint64_t)q_int(d, "SELECT base_hlc FROM outbox WHERE id = %lld",
                                                  (long long)id));
}

/* Parse every sealed batch and check sequence, chain, counts (counts[i] records
 * in batch i + 1) and content against edits[] (in outbox order). Returns the
 * number of batches. */
static size_t check_batches(struct fx *f, const struct edit *eds, size_t n, const size_t *counts,
                            size_t nbatches)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db(f),
                                        "SELECT seq, hash, envelope, records FROM batches "
                                        "ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    uint8_t prev_hash[32] = {0};
    uint64_t prev_hlc = 0, want_seq = 1;
    size_t done = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(s, 0);
        assert_int_equal(seq, want_seq);
        struct envelope *ev = NULL;
        struct dti_err e = {0};
        EXPECT_CODE(
            envelope_parse(sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2), &ev, &e),
            &e, 0);
        EXPECT_CODE(envelope_verify(ev, f->pub, &e), &e, 0);
        const struct batch_header *h = envelope_header(ev);
        assert_string_equal(h->agent_id, f->id.agent_id);
        assert_int_equal(h->seq, seq);
        assert_int_equal(h->has_prev, seq > 1);
        if (seq > 1)
            assert_memory_equal(h->prev_hash, prev_hash, 32);
        assert_memory_equal(envelope_hash(ev), sqlite3_column_blob(s, 1), 32);
        assert_true(h->hlc > prev_hlc);
        assert_true(seq <= nbatches);
        size_t want_n = counts[seq - 1];
        assert_int_equal(h->record_count, want_n);
        assert_int_equal(sqlite3_column_int64(s, 3), want_n);
        const struct record *recs;
        size_t nrecs;
        EXPECT_CODE(envelope_records(ev, &recs, &nrecs, &e), &e, 0);
        assert_int_equal(nrecs, want_n);
        for (size_t i = 0; i < nrecs; i++) {
            int64_t id = q_int(db(f), "SELECT id FROM outbox WHERE batch = %lld AND idx = %lld",
                               (long long)seq, (long long)i);
            /* in the order the edits were made */
            assert_int_equal(
                id, q_int(db(f), "SELECT min(id) + %lld FROM outbox", (long long)(done + i)));
            check_record(&recs[i], &eds[done + i], db(f), id);
        }
        memcpy(prev_hash, envelope_hash(ev), 32);
        prev_hlc = h->hlc;
        envelope_free(ev);
        done += nrecs;
        want_seq++;
    }
    sqlite3_finalize(s);
    assert_int_equal(done, n);
    assert_int_equal(want_seq - 1, nbatches);
    return (size_t)(want_seq - 1);
}

static void test_seal_batches_chain(void **state)
{
    struct fx *f = *state;
    struct edit eds[9];
    const char *els[] = {"a", "b", "c", "d", "a", "e", "f", "g", "h"};
    for (size_t i = 0; i < 9; i++)
        eds[i] = num_edit(UNIT, els[i], i % 2 ? "2023" : "2023Q1", (double)i + 0.25);
    eds[1].value.kind = VALUE_BOOL;
    eds[1].value.b = true;
    eds[2].value.kind = VALUE_TEXT;
    eds[2].value.text = VI_TEXT;
    eds[3].author = "Anh Tuấn";
    eds[3].comment = "đã kiểm tra";
    /* eds[4] is a second edit of key (a, 2023Q1) */
    record_ok(f, eds, 7, T0);

    assert_int_equal(seal_ok(f, 3, T0 + 100), 3);
    const size_t counts[] = {3, 3, 1, 2};
    assert_int_equal(check_batches(f, eds, 7, counts, 3), 3);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox WHERE batch IS NULL"), 0);
    assert_int_equal(q_int(db(f), "SELECT value FROM meta WHERE key = 'next_seq'"), 4);
    struct store_status ss;
    struct dti_err e = {0};
    EXPECT_CODE(store_status(f->st, &ss, &e), &e, 0);
    assert_int_equal(ss.pending_records, 7);
    assert_int_equal(ss.unsealed_records, 0);
    assert_int_equal(ss.pending_batches, 3);
    assert_int_equal(ss.acked_batches, 0);
    assert_int_equal(ss.next_seq, 4);

    /* nothing to seal: nothing changes, not even the clock */
    char *before = dump_db(db(f));
    assert_int_equal(seal_ok(f, 3, T0 + 200), 0);
    ASSERT_UNCHANGED(f, before);
    free(before);

    /* later edits go into new batches that continue the chain */
    record_ok(f, eds + 7, 2, T0 + 300);
    assert_int_equal(seal_ok(f, 3, T0 + 400), 1);
    assert_int_equal(check_batches(f, eds, 9, counts, 4), 4);
    assert_int_equal(q_int(db(f), "SELECT records FROM batches WHERE seq = 4"), 2);

    /* the oldest unacknowledged is batch 1, byte for byte what is stored */
    uint8_t hash[32], want[32];
    uint64_t seq = 0;
    struct buf env;
    buf_init(&env, BUF_UNLIMITED);
    EXPECT_CODE(store_oldest_unacked(f->st, &seq, hash, &env, &e), &e, 0);
    assert_int_equal(seq, 1);
    batch_hash(f, 1, want);
    assert_memory_equal(hash, want, 32);
    EXPECT_CODE(store_unacked(f->st, 3, hash, &env, &e), &e, 0);
    batch_hash(f, 3, want);
    assert_memory_equal(hash, want, 32);
    assert_int_equal(store_unacked(f->st, 5, hash, &env, &e), DTI_ENOTFOUND);
    buf_release(&env);
}

static void test_seal_limits(void **state)
{
    struct fx *f = *state;
    /* max_records of 1 gives one batch per edit; 0 means "the protocol's limit" */
    struct edit eds[5];
    const char *els[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        eds[i] = num_edit(UNIT, els[i], "2023", (double)i);
    record_ok(f, eds, 3, T0);
    assert_int_equal(seal_ok(f, 1, T0), 3);
    record_ok(f, eds + 3, 2, T0);
    assert_int_equal(seal_ok(f, 0, T0), 1);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM batches"), 4);
    assert_int_equal(q_int(db(f), "SELECT records FROM batches WHERE seq = 4"), 2);
    assert_int_equal(q_int(db(f), "SELECT max(records) FROM batches WHERE seq <= 3"), 1);
}

/* Batches are bounded in distinct unit x period pairs and in bytes, not only
 * in records: each comes out whole, in order, and within the protocol's limits. */
static void test_seal_bounds(void **state)
{
    struct fx *f = *state;
    /* 300 distinct periods: more pairs than one batch may name */
    enum { NP = 300, NT = 700, TLEN = 1990 };
    struct edit *eds = xcalloc(NT, sizeof(*eds));
    char(*periods)[8] = xcalloc(NP, sizeof(*periods));
    for (int i = 0; i < NP; i++) {
        snprintf(periods[i], sizeof(periods[i]), "20%02d-%02d", i / 12, i % 12 + 1);
        eds[i] = num_edit(UNIT, "x", periods[i], i);
    }
    record_ok(f, eds, NP, T0);
    assert_int_equal(seal_ok(f, 0, T0), 2);
    assert_int_equal(q_int(db(f), "SELECT records FROM batches WHERE seq = 1"), BATCH_MAX_MANIFEST);
    assert_int_equal(q_int(db(f), "SELECT records FROM batches WHERE seq = 2"),
                     NP - BATCH_MAX_MANIFEST);
    const size_t counts1[] = {BATCH_MAX_MANIFEST, NP - BATCH_MAX_MANIFEST};
    assert_int_equal(check_batches(f, eds, NP, counts1, 2), 2);

    /* 700 distinct texts of ~2 kB under one unit x period: about 1.4 MB, more
     * than one batch carries although the record limit is not reached */
    char(*texts)[TLEN + 1] = xcalloc(NT, sizeof(*texts));
    char(*elements)[8] = xcalloc(NT, sizeof(*elements));
    for (int i = 0; i < NT; i++) {
        memset(texts[i], 'a' + i % 26, TLEN);
        snprintf(texts[i], 12, "%06d", i);
        texts[i][6] = ' ';
        snprintf(elements[i], sizeof(elements[i]), "t%d", i);
        eds[i] = num_edit(UNIT, elements[i], "2024", 0);
        eds[i].value.kind = VALUE_TEXT;
        eds[i].value.text = texts[i];
    }
    record_ok(f, eds, NT, T0 + 1);
    size_t sealed = seal_ok(f, 0, T0 + 1);
    assert_true(sealed >= 2);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox WHERE batch IS NULL"), 0);
    assert_int_equal(q_int(db(f), "SELECT sum(records) FROM batches WHERE seq > 2"), NT);
    assert_true(q_int(db(f), "SELECT max(length(envelope)) FROM batches") <= ENVELOPE_MAX);
    /* the records come out in order across the batches */
    int64_t first_id = q_int(db(f), "SELECT min(id) FROM outbox WHERE batch > 2");
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db(f),
                                        "SELECT envelope FROM batches WHERE seq > 2 ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    size_t done = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct envelope *ev = NULL;
        struct dti_err e = {0};
        EXPECT_CODE(
            envelope_parse(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), &ev, &e),
            &e, 0);
        const struct record *recs;
        size_t n;
        EXPECT_CODE(envelope_records(ev, &recs, &n, &e), &e, 0);
        assert_true(n < NT);
        for (size_t i = 0; i < n; i++)
            check_record(&recs[i], &eds[done + i], db(f), first_id + (int64_t)(done + i));
        done += n;
        envelope_free(ev);
    }
    sqlite3_finalize(s);
    assert_int_equal(done, NT);
    free(texts);
    free(elements);
    free(periods);
    free(eds);
}

/* ---- receipts ---- */

static void test_ack_retires_exactly_its_batch(void **state)
{
    struct fx *f = *state;
    struct edit eds[6] = {
        num_edit(UNIT, "A", "2023", 1), num_edit(UNIT, "B", "2023", 2),
        num_edit(UNIT, "C", "2023", 3), num_edit(UNIT, "G", "2023", 4),
        num_edit(UNIT, "D", "2023", 5), num_edit(UNIT, "E", "2023", 6),
    };
    record_ok(f, eds, 6, T0);
    assert_int_equal(seal_ok(f, 4, T0), 2); /* [A B C G] [D E] */
    record1(f, "F", 7, T0 + 1);             /* unsealed */
    record1(f, "G", 8, T0 + 2);             /* G edited again after sealing */

    uint8_t hash[32];
    batch_hash(f, 1, hash);
    const uint8_t oc[4] = {OUTCOME_ACCEPTED, OUTCOME_CONFLICT, OUTCOME_REJECTED, OUTCOME_ACCEPTED};
    struct receipt_reject rj = {.index = 2, .reason = "invalid_value"};
    snprintf(rj.message, sizeof(rj.message), "số liệu vượt ngưỡng");
    uint64_t hub_hlc = hlc_make(T0 + 86400000, 7); /* the hub's clock is a day ahead */
    struct receipt rc;
    struct buf bytes;
    make_receipt(f, 1, hash, 4, oc, &rj, 1, hub_hlc, &rc, &bytes);
    ack_ok(f, &rc, &bytes);

    /* batch 1's rows left the outbox; batch 2's and the unsealed ones stayed */
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox WHERE batch = 1"), 0);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox WHERE batch = 2"), 2);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox WHERE batch IS NULL"), 2);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox"), 4);
    /* the receipt is stored byte for byte */
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db(f),
                                        "SELECT receipt, acked_ms FROM batches WHERE seq = 1", -1,
                                        &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(s, 0), bytes.len);
    assert_memory_equal(sqlite3_column_blob(s, 0), bytes.data, bytes.len);
    assert_int_equal(sqlite3_column_type(s, 1), SQLITE_INTEGER);
    sqlite3_finalize(s);
    assert_int_equal(q_int(db(f), "SELECT receipt IS NULL FROM batches WHERE seq = 2"), 1);

    /* one state per outcome; the note of a rejection */
    char t[300];
    ASSERT_STATE(f, "A", "synced");
    ASSERT_STATE(f, "B", "conflict");
    ASSERT_STATE(f, "C", "rejected");
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT note FROM vals WHERE element = 'C'"),
                        "số liệu vượt ngưỡng");
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT note FROM vals WHERE element = 'A'"),
                        "NULL");
    ASSERT_STATE(f, "G", "pending"); /* the newer edit of G is not acknowledged */
    assert_int_equal(q_int(db(f), "SELECT num FROM vals WHERE element = 'G'"), 8);
    ASSERT_STATE(f, "D", "pending");
    ASSERT_STATE(f, "E", "pending");
    ASSERT_STATE(f, "F", "pending");

    struct dti_err e = {0};
    struct store_status ss;
    EXPECT_CODE(store_status(f->st, &ss, &e), &e, 0);
    assert_int_equal(ss.pending_records, 4);
    assert_int_equal(ss.unsealed_records, 2);
    assert_int_equal(ss.pending_batches, 1);
    assert_int_equal(ss.acked_batches, 1);
    assert_int_equal(ss.conflicts, 1);
    assert_int_equal(ss.rejected, 1);

    uint64_t seq;
    struct buf env;
    buf_init(&env, BUF_UNLIMITED);
    EXPECT_CODE(store_oldest_unacked(f->st, &seq, hash, &env, &e), &e, 0);
    assert_int_equal(seq, 2);
    assert_int_equal(store_unacked(f->st, 1, hash, &env, &e), DTI_ENOTFOUND);
    buf_release(&env);

    /* the clock took in the hub's time */
    uint64_t h;
    EXPECT_CODE(store_tick(f->st, T0, &h, &e), &e, 0);
    assert_true(h > hub_hlc);

    /* the same receipt again: nothing happens */
    char *before = dump_db(db(f));
    ack_ok(f, &rc, &bytes);
    ASSERT_UNCHANGED(f, before);
    /* another receipt for the acknowledged batch does not rewrite history */
    struct receipt rc2;
    struct buf bytes2;
    const uint8_t all[4] = {OUTCOME_ACCEPTED, OUTCOME_ACCEPTED, OUTCOME_ACCEPTED, OUTCOME_ACCEPTED};
    batch_hash(f, 1, hash);
    make_receipt(f, 1, hash, 4, all, NULL, 0, hub_hlc, &rc2, &bytes2);
    ack_ok(f, &rc2, &bytes2);
    ASSERT_UNCHANGED(f, before);
    free(before);
    receipt_release(&rc2);
    buf_release(&bytes2);

    /* batch 2 acknowledged: only the unsealed edits remain */
    struct receipt rc3;
    struct buf bytes3;
    all_accepted_receipt(f, 2, 2, hub_hlc, &rc3, &bytes3);
    ack_ok(f, &rc3, &bytes3);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox"), 2);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox WHERE batch IS NOT NULL"), 0);
    ASSERT_STATE(f, "D", "synced");
    ASSERT_STATE(f, "E", "synced");
    assert_int_equal(store_oldest_unacked(f->st, &seq, hash, &env, &e), DTI_ENOTFOUND);
    receipt_release(&rc3);
    buf_release(&bytes3);
    receipt_release(&rc);
    buf_release(&bytes);
}

static void test_ack_mismatch_refused(void **state)
{
    struct fx *f = *state;
    struct edit eds[3] = {num_edit(UNIT, "A", "2023", 1), num_edit(UNIT, "B", "2023", 2),
                          num_edit(UNIT, "C", "2023", 3)};
    record_ok(f, eds, 3, T0);
    assert_int_equal(seal_ok(f, 10, T0), 1);
    uint8_t hash[32], wrong[32];
    batch_hash(f, 1, hash);
    memcpy(wrong, hash, 32);
    wrong[31] ^= 1;
    const uint8_t oc[4] = {OUTCOME_ACCEPTED, OUTCOME_ACCEPTED, OUTCOME_ACCEPTED, OUTCOME_ACCEPTED};
    uint64_t hub_hlc = hlc_make(T0 + 86400000, 1);
    struct {
        uint64_t seq;
        const uint8_t *hash;
        size_t n;
    } cases[] = {
        {1, wrong, 3},               /* another batch's hash */
        {1, hash, 2},                /* too few outcomes */
        {1, hash, 4},                /* too many */
        {1, hash, 0},  {2, hash, 3}, /* a batch never sealed */
        {0, hash, 3},
    };
    char *before = dump_db(db(f));
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct receipt rc;
        struct buf bytes;
        make_receipt(f, cases[i].seq, cases[i].hash, cases[i].n, oc, NULL, 0, hub_hlc, &rc, &bytes);
        struct dti_err e = {0};
        int r = store_ack(f->st, &rc, bytes.data, bytes.len, &e);
        if (r != DTI_EPROTO)
            print_error("case %zu\n", i);
        EXPECT_CODE(r, &e, DTI_EPROTO);
        ASSERT_UNCHANGED(f, before); /* not even the clock moved */
        receipt_release(&rc);
        buf_release(&bytes);
    }
    free(before);
    /* the right receipt still works */
    struct receipt rc;
    struct buf bytes;
    make_receipt(f, 1, hash, 3, oc, NULL, 0, hub_hlc, &rc, &bytes);
    ack_ok(f, &rc, &bytes);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox"), 0);
    receipt_release(&rc);
    buf_release(&bytes);
}

/* ---- the change feed ---- */

static struct change num_change(const char *unit, const char *element, double v, uint64_t hlc,
                                const char *origin)
{
    struct change c = {0};
    c.unit = unit;
    c.element = element;
    c.period = "2023";
    c.value.kind = VALUE_NUMBER;
    c.value.num = v;
    c.hlc = hlc;
    c.origin = origin;
    c.author = "";
    c.comment = "";
    return c;
}

static void page_init(struct fx *f, struct changes_page *p, uint64_t after, uint64_t next,
                      struct change *items, size_t n, uint64_t hub_hlc)
{
    memset(p, 0, sizeof(*p));
    memcpy(p->agent_id, f->id.agent_id, sizeof(p->agent_id));
    p->after = after;
    p->next = next;
    p->hub_hlc = hub_hlc;
    p->items = items;
    p->n = n;
}

static void test_apply_changes(void **state)
{
    struct fx *f = *state;
    const char *other_agent = "0123456789abcdef";
    /* A and B acknowledged (synced); B edited again (pending) */
    struct edit eds[2] = {num_edit(UNIT, "A", "2023", 1), num_edit(UNIT, "B", "2023", 2)};
    record_ok(f, eds, 2, T0);
    assert_int_equal(seal_ok(f, 10, T0), 1);
    struct receipt rc;
    struct buf bytes;
    all_accepted_receipt(f, 1, 2, hlc_make(T0, 50), &rc, &bytes);
    ack_ok(f, &rc, &bytes);
    receipt_release(&rc);
    buf_release(&bytes);
    record1(f, "B", 3, T0 + 10);
    int64_t b_hlc = q_int(db(f), "SELECT hlc FROM vals WHERE element = 'B'");

    uint64_t hub_hlc = hlc_make(T0 + 86400000, 2);
    struct change items[3] = {
        num_change(UNIT, "A", 100, hlc_make(T0 + 20, 0), ORIGIN_HUB),
        num_change(UNIT, "B", 200, hlc_make(T0 + 30, 1), other_agent),
        num_change(UNIT, "C", 0, hlc_make(T0 + 40, 0), other_agent),
    };
    items[2].value.kind = VALUE_TEXT;
    items[2].value.text = VI_TEXT;
    items[2].author = "Sở TT&TT";
    struct changes_page p;
    page_init(f, &p, 0, 10, items, 3, hub_hlc);
    size_t applied = 99, flagged = 99;
    struct dti_err e = {0};
    EXPECT_CODE(store_apply_changes(f->st, &p, &applied, &flagged, &e), &e, 0);
    assert_int_equal(applied, 2);
    assert_int_equal(flagged, 1);

    char t[128];
    /* A: replaced */
    ASSERT_STATE(f, "A", "synced");
    assert_int_equal(q_int(db(f), "SELECT num FROM vals WHERE element = 'A'"), 100);
    assert_int_equal(q_int(db(f), "SELECT hlc FROM vals WHERE element = 'A'"),
                     (int64_t)hlc_make(T0 + 20, 0));
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT origin FROM vals WHERE element='A'"),
                        "hub");
    assert_int_equal(q_int(db(f), "SELECT hub_hlc IS NULL FROM vals WHERE element = 'A'"), 1);
    /* B: the local edit stays, the hub's value is put beside it */
    ASSERT_STATE(f, "B", "pending");
    assert_int_equal(q_int(db(f), "SELECT num FROM vals WHERE element = 'B'"), 3);
    assert_int_equal(q_int(db(f), "SELECT hlc FROM vals WHERE element = 'B'"), b_hlc);
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT origin FROM vals WHERE element='B'"),
                        f->id.agent_id);
    assert_int_equal(q_int(db(f), "SELECT hub_kind FROM vals WHERE element = 'B'"), VALUE_NUMBER);
    assert_int_equal(q_int(db(f), "SELECT hub_num FROM vals WHERE element = 'B'"), 200);
    assert_int_equal(q_int(db(f), "SELECT hub_hlc FROM vals WHERE element = 'B'"),
                     (int64_t)hlc_make(T0 + 30, 1));
    assert_string_equal(
        q_text(db(f), t, sizeof(t), "SELECT hub_origin FROM vals WHERE element = 'B'"),
        other_agent);
    assert_string_not_equal(q_text(db(f), t, sizeof(t), "SELECT note FROM vals WHERE element='B'"),
                            "NULL");
    /* the pending edit is still in the outbox, untouched */
    assert_int_equal(q_int(db(f),
                           "SELECT count(*) FROM outbox WHERE element = 'B' AND num = 3 "
                           "AND hlc = %lld",
                           (long long)b_hlc),
                     1);
    /* C: new */
    ASSERT_STATE(f, "C", "synced");
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT txt FROM vals WHERE element = 'C'"),
                        VI_TEXT);
    assert_string_equal(q_text(db(f), t, sizeof(t), "SELECT author FROM vals WHERE element='C'"),
                        "Sở TT&TT");

    uint64_t cursor = 0;
    EXPECT_CODE(store_cursor(f->st, &cursor, &e), &e, 0);
    assert_int_equal(cursor, 10);
    uint64_t h;
    EXPECT_CODE(store_tick(f->st, T0, &h, &e), &e, 0);
    assert_true(h > hub_hlc);

    /* a change for a unit outside the scope: the whole page is refused */
    struct change bad[2] = {
        num_change(UNIT, "D", 1, hlc_make(T0 + 50, 0), ORIGIN_HUB),
        num_change(OTHER_UNIT, "D", 1, hlc_make(T0 + 50, 0), ORIGIN_HUB),
    };
    page_init(f, &p, 10, 20, bad, 2, hlc_make(T0 + 2 * 86400000ull, 0));
    char *before = dump_db(db(f));
    e = (struct dti_err){0};
    EXPECT_CODE(store_apply_changes(f->st, &p, &applied, &flagged, &e), &e, DTI_EPROTO);
    assert_non_null(strstr(e.msg, OTHER_UNIT));
    ASSERT_UNCHANGED(f, before);
    free(before);
    e = (struct dti_err){0};
    EXPECT_CODE(store_cursor(f->st, &cursor, &e), &e, 0);
    assert_int_equal(cursor, 10);

    /* once B's edit is acknowledged, the next change replaces it and clears the flag */
    assert_int_equal(seal_ok(f, 10, T0 + 60), 1);
    all_accepted_receipt(f, 2, 1, hub_hlc, &rc, &bytes);
    ack_ok(f, &rc, &bytes);
    receipt_release(&rc);
    buf_release(&bytes);
    ASSERT_STATE(f, "B", "synced");
    struct change again = num_change(UNIT, "B", 300, hub_hlc + 1, ORIGIN_HUB);
    page_init(f, &p, 10, 11, &again, 1, hub_hlc + 1);
    EXPECT_CODE(store_apply_changes(f->st, &p, &applied, &flagged, &e), &e, 0);
    assert_int_equal(applied, 1);
    assert_int_equal(flagged, 0);
    assert_int_equal(q_int(db(f), "SELECT num FROM vals WHERE element = 'B'"), 300);
    assert_int_equal(q_int(db(f), "SELECT hub_hlc IS NULL AND hub_num IS NULL AND note IS NULL "
                                  "FROM vals WHERE element = 'B'"),
                     1);
}

/* ---- crashes ---- */

static void test_crash_between_seal_and_ack(void **state)
{
    struct fx *f = *state;
    struct edit eds[5] = {num_edit(UNIT, "A", "2023", 1), num_edit(UNIT, "B", "2023", 2),
                          num_edit(UNIT, "C", "2023", 3), num_edit(UNIT, "D", "2023", 4),
                          num_edit(UNIT, "E", "2023", 5)};
    record_ok(f, eds, 3, T0);
    assert_int_equal(seal_ok(f, 2, T0), 2);
    struct dti_err e = {0};
    struct buf env1, env2;
    buf_init(&env1, BUF_UNLIMITED);
    buf_init(&env2, BUF_UNLIMITED);
    uint8_t h1[32], h2[32];
    uint64_t seq1, seq2;
    EXPECT_CODE(store_oldest_unacked(f->st, &seq1, h1, &env1, &e), &e, 0);
    char *before = dump_db(db(f));

    /* "crash": close without acknowledging, open again */
    store_close(f->st);
    f->st = NULL;
    EXPECT_CODE(store_open(&f->st, f->dir, &e), &e, 0);
    ASSERT_UNCHANGED(f, before);
    free(before);
    EXPECT_CODE(store_oldest_unacked(f->st, &seq2, h2, &env2, &e), &e, 0);
    assert_int_equal(seq2, seq1);
    assert_memory_equal(h2, h1, 32);
    assert_int_equal(env2.len, env1.len);
    assert_memory_equal(env2.data, env1.data, env1.len);
    /* resealing does not seal the same edits again */
    assert_int_equal(seal_ok(f, 2, T0 + 5), 0);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM batches"), 2);

    /* a real crash: a child records and seals, then is killed before any ack */
    fflush(NULL);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct store *cs = NULL;
        struct dti_err ce = {0};
        size_t bad, sealed;
        uint8_t hash[32];
        struct buf env;
        buf_init(&env, BUF_UNLIMITED);
        if (store_open(&cs, f->dir, &ce) < 0 ||
            store_record(cs, eds + 3, 2, T0 + 10, &bad, &ce) < 0 ||
            store_seal(cs, f->key, 2, T0 + 10, &sealed, &ce) < 0 || sealed != 1 ||
            store_unacked(cs, 3, hash, &env, &ce) < 0)
            _exit(3);
        uint32_t len = (uint32_t)env.len;
        if (write(fds[1], &len, 4) != 4 || write(fds[1], env.data, env.len) != (ssize_t)env.len)
            _exit(4);
        close(fds[1]);
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    close(fds[1]);
    uint32_t len = 0;
    assert_int_equal(read(fds[0], &len, 4), 4);
    uint8_t *child_env = xmalloc(len);
    size_t got = 0;
    while (got < len) {
        ssize_t k = read(fds[0], child_env + got, len - got);
        assert_true(k > 0);
        got += (size_t)k;
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* the parent's connection sees what the dead child committed */
    store_close(f->st);
    f->st = NULL;
    EXPECT_CODE(store_open(&f->st, f->dir, &e), &e, 0);
    EXPECT_CODE(store_unacked(f->st, 3, h2, &env2, &e), &e, 0);
    assert_int_equal(env2.len, len);
    assert_memory_equal(env2.data, child_env, len);
    free(child_env);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox"), 5);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox WHERE batch IS NULL"), 0);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM vals WHERE state = 'pending'"), 5);
    const size_t counts[] = {2, 1, 2};
    assert_int_equal(check_batches(f, eds, 5, counts, 3), 3);
    /* and the first batch is still the same bytes */
    EXPECT_CODE(store_oldest_unacked(f->st, &seq2, h2, &env2, &e), &e, 0);
    assert_int_equal(seq2, 1);
    assert_memory_equal(env2.data, env1.data, env1.len);

    /* acknowledging after the restart retires exactly what was sealed */
    for (uint64_t s = 1; s <= 3; s++) {
        struct receipt rc;
        struct buf bytes;
        all_accepted_receipt(f, s, counts[s - 1], hlc_make(T0, 0), &rc, &bytes);
        ack_ok(f, &rc, &bytes);
        receipt_release(&rc);
        buf_release(&bytes);
    }
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(q_int(db(f), "SELECT count(*) FROM vals WHERE state = 'synced'"), 5);
    buf_release(&env1);
    buf_release(&env2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_then_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_empty_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_all_or_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_kinds_and_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_base_is_previous_local_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hlc_strictly_increasing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_batches_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_retires_exactly_its_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_mismatch_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_seal_and_ack, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent/store", tests, NULL, NULL);
}
