/*
 * test_ingest.c - unit tests of hub/ingest.c and hub/enrol.c, in process and
 * without a network: a hub database in a temporary directory with a few units
 * of Ninh Thuận, agents enrolled through the enrolment path or created
 * directly, batches built and sealed as an agent does, then fed to
 * ingest_envelope. What the hub holds is read back with SQL.
 *
 * Covered: an accepted batch (values, signed receipt, stored envelope and
 * chain), replays (original receipt, nothing changed), every refusal
 * (same sequence with other content, gap, broken chain, unknown and revoked
 * agents, another key's signature, scope, malformed and oversized bytes) and
 * that each changes nothing at all (a digest of every table before and
 * after), the merge rules through ingest (open conflicts, authority,
 * late edits, record replays, a far-future office clock and the hub clock),
 * and enrolment tokens (redeemed once, idempotent for the same key).
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "buf.h"
#include "crypto.h"
#include "db.h"
#include "enrol.h"
#include "enroll.h"
#include "envelope.h"
#include "err.h"
#include "hlc.h"
#include "hubdb.h"
#include "ingest.h"
#include "problem.h"
#include "receipt.h"
#include "util.h"
#include "value.h"

#define NOW UINT64_C(1700000000000) /* the hub's wall clock, ms */
#define DAY_MS UINT64_C(86400000)
#define PERIOD "2023"

static const char units_csv[] = "code,name,level,parent_code\n"
                                "58,Tỉnh Ninh Thuận,province,\n"
                                "582,Thành phố Phan Rang-Tháp Chàm,district,58\n"
                                "22750,Phường Đô Vinh,commune,582\n"
                                "22738,Phường Đông Hải,commune,582\n"
                                "584,Huyện Ninh Hải,district,58\n"
                                "22801,Xã Vĩnh Hải,commune,584\n";

/* ---- fixture ---- */

struct agent {
    struct signer *s;
    char id[AGENT_ID_LEN + 1];
    const char *unit;
    uint64_t seq; /* last sequence the hub accepted */
    uint8_t last[CRYPTO_SHA256_LEN];
};

struct fx {
    char *dir;
    sqlite3 *db;
    struct signer *hub;
    uint8_t hub_pub[CRYPTO_PUBKEY_LEN];
    struct ingest *ing;
    struct agent a; /* commune 22750, enrolled with a token */
    struct agent b; /* commune 22750 too, a second office PC */
    struct agent d; /* district 582, above 22750 and 22738 */
    struct agent c; /* commune 22801, under district 584 */
    struct agent x; /* never enrolled */
    struct buf env, rcpt;
};

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static void agent_new(struct agent *ag, const char *unit)
{
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    assert_int_equal(signer_generate(&ag->s), 0);
    signer_public(ag->s, pub);
    enroll_agent_id(pub, ag->id);
    ag->unit = unit;
}

static void agent_create(struct fx *f, struct agent *ag, const char *unit)
{
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    struct dti_err e = {0};
    agent_new(ag, unit);
    signer_public(ag->s, pub);
    int r = agents_create(f->db, ag->id, unit, pub, NOW - DAY_MS, &e);
    if (r < 0)
        print_error("agents_create: %s\n", dti_err_text(&e, r));
    assert_int_equal(r, 0);
}

/* Enrol the key of s with a token secret through enrol_handle, as POST /v1/enroll
 * does; on success the signed answer is opened into rs. Returns the code. */
static int enrol(struct fx *f, const struct signer *s, const uint8_t secret[32], uint64_t now,
                 struct enroll_response *rs, struct problem *pb)
{
    struct buf body, out;
    struct dti_err e = {0};
    buf_init(&body, BUF_UNLIMITED);
    buf_init(&out, BUF_UNLIMITED);
    assert_int_equal(enroll_request_make(s, secret, hlc_make(now, 0), &body, &e), 0);
    memset(pb, 0, sizeof(*pb));
    int r = enrol_handle(f->db, f->hub, body.data, body.len, now, hlc_make(now, 5), &out, pb);
    if (r == 0) {
        int o = enroll_response_open(out.data, out.len, rs, &e);
        if (o < 0)
            print_error("enroll_response_open: %s\n", dti_err_text(&e, o));
        assert_int_equal(o, 0);
    }
    buf_release(&body);
    buf_release(&out);
    return r;
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/dti-test-ingest-XXXXXX";
    struct dti_err e = {0};
    struct fx *f;
    size_t count = 0;
    if (!mkdtemp(tmpl))
        return -1;
    f = xcalloc(1, sizeof(*f));
    f->dir = xstrdup(tmpl);
    *state = f;
    if (hubdb_open(&f->db, f->dir, true, &e) < 0) {
        print_error("hubdb_open: %s\n", e.msg);
        return -1;
    }
    FILE *csv = fmemopen((void *)units_csv, sizeof(units_csv) - 1, "r");
    if (!csv || units_import(f->db, csv, "units.csv", &count, &e) < 0 || count != 6) {
        print_error("units_import: %s (%zu rows)\n", e.msg, count);
        return -1;
    }
    fclose(csv);
    if (signer_generate(&f->hub) < 0 || ingest_open(&f->ing, f->db, f->hub, &e) < 0)
        return -1;
    signer_public(f->hub, f->hub_pub);
    buf_init(&f->env, BUF_UNLIMITED);
    buf_init(&f->rcpt, BUF_UNLIMITED);

    /* agent a through the enrolment path */
    uint8_t secret[32];
    struct enroll_response rs = {0};
    struct problem pb;
    agent_new(&f->a, "22750");
    if (tokens_issue(f->db, "22750", NOW - DAY_MS, DAY_MS * 7, secret, &e) < 0 ||
        enrol(f, f->a.s, secret, NOW - DAY_MS, &rs, &pb) < 0 || strcmp(rs.agent_id, f->a.id)) {
        print_error("enrol: %s\n", pb.message);
        return -1;
    }
    enroll_response_release(&rs);
    agent_create(f, &f->b, "22750");
    agent_create(f, &f->d, "582");
    agent_create(f, &f->c, "22801");
    agent_new(&f->x, "22750");
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ingest_free(f->ing);
    db_close(f->db);
    signer_free(f->hub);
    struct agent *ags[] = {&f->a, &f->b, &f->c, &f->d, &f->x};
    for (size_t i = 0; i < ARRAY_SIZE(ags); i++)
        signer_free(ags[i]->s);
    buf_release(&f->env);
    buf_release(&f->rcpt);
    int r = nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
    free(f);
    return r;
}

/* ---- SQL helpers ---- */

static sqlite3_stmt *query(struct fx *f, const char *fmt, va_list ap)
{
    char *sql = sqlite3_vmprintf(fmt, ap);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(f->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        print_error("%s: %s\n", sql, sqlite3_errmsg(f->db));
    sqlite3_free(sql);
    assert_int_equal(rc, SQLITE_OK);
    return st;
}

/* The first column of the only row (0 when there is none). */
static int64_t q_int(struct fx *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = query(f, fmt, ap);
    va_end(ap);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return v;
}

/* The first column as text into out ("(no row)" when there is none). */
static const char *q_text(struct fx *f, char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = query(f, fmt, ap);
    va_end(ap);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, n, "%s",
                 sqlite3_column_type(st, 0) == SQLITE_NULL
                     ? "(null)"
                     : (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(out, n, "(no row)");
    sqlite3_finalize(st);
    return out;
}

/* True when the first column of the only row holds exactly these bytes. */
static bool q_blob_is(struct fx *f, const void *p, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = query(f, fmt, ap);
    va_end(ap);
    bool eq = sqlite3_step(st) == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == len &&
              memcmp(sqlite3_column_blob(st, 0), p, len) == 0;
    sqlite3_finalize(st);
    return eq;
}

/*
 * Everything the hub holds, as text: every table's row count and a digest
 * of its content. Equal strings before and after mean nothing changed; a
 * difference names the table.
 */
static void db_state(struct fx *f, char *out, size_t n)
{
    sqlite3_stmt *tables;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "ORDER BY name",
                                        -1, &tables, NULL),
                     SQLITE_OK);
    size_t len = 0;
    out[0] = '\0';
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(tables, 0);
        char *sql = sqlite3_mprintf("SELECT * FROM \"%w\"", name);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
        sqlite3_free(sql);
        struct sha256 h;
        uint8_t d[CRYPTO_SHA256_LEN];
        char hex[2 * CRYPTO_SHA256_LEN + 1];
        int64_t rows = 0;
        sha256_init(&h);
        while (sqlite3_step(st) == SQLITE_ROW) {
            rows++;
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                unsigned char type = (unsigned char)sqlite3_column_type(st, i);
                const void *p = sqlite3_column_blob(st, i);
                uint32_t bytes = (uint32_t)sqlite3_column_bytes(st, i);
                sha256_update(&h, &type, 1);
                sha256_update(&h, &bytes, sizeof(bytes));
                if (bytes)
                    sha256_update(&h, p, bytes);
            }
        }
        sqlite3_finalize(st);
        sha256_final(&h, d);
        hex_encode(d, 6, hex);
        len += (size_t)snprintf(out + len, n - len, "%s=%" PRId64 ":%s ", name, rows, hex);
        assert_true(len < n);
    }
    sqlite3_finalize(tables);
}

/* ---- building batches ---- */

static struct record num_rec(const char *unit, const char *element, double v, uint64_t hlc,
                             uint64_t base_hlc, const char *base_origin)
{
    struct record r = {
        .unit = unit,
        .element = element,
        .period = PERIOD,
        .value = {.kind = VALUE_NUMBER, .num = v},
        .hlc = hlc,
        .base_hlc = base_hlc,
        .base_origin = base_origin ? base_origin : "",
        .author = "",
        .comment = "",
    };
    return r;
}

/* Seal records as batch seq of agent_id (prev: the previous batch hash or
 * NULL), signed by s, into out. */
static void seal_as(const struct signer *s, const char *agent_id, uint64_t seq, const uint8_t *prev,
                    uint64_t hlc, const struct record *recs, size_t n, struct buf *out,
                    uint8_t hash[CRYPTO_SHA256_LEN])
{
    struct batch_builder *b;
    struct batch_header h;
    struct dti_err e = {0};
    memset(&h, 0, sizeof(h));
    snprintf(h.agent_id, sizeof(h.agent_id), "%s", agent_id);
    h.seq = seq;
    h.has_prev = prev != NULL;
    if (prev)
        memcpy(h.prev_hash, prev, CRYPTO_SHA256_LEN);
    h.hlc = hlc;
    batch_builder_new(&b);
    for (size_t i = 0; i < n; i++)
        batch_builder_add(b, &recs[i]);
    int r = batch_builder_seal(b, &h, s, out, hash, &e);
    batch_builder_free(b);
    if (r < 0)
        print_error("batch_builder_seal: %s\n", dti_err_text(&e, r));
    assert_int_equal(r, 0);
}

/* The agent's next batch, sealed into f->env. */
static void seal_next(struct fx *f, struct agent *ag, uint64_t hlc, const struct record *recs,
                      size_t n, uint8_t hash[CRYPTO_SHA256_LEN])
{
    seal_as(ag->s, ag->id, ag->seq + 1, ag->seq ? ag->last : NULL, hlc, recs, n, &f->env, hash);
}

/* Ingest f->env at now; on acceptance of a new batch the agent's chain moves on. */
static int ingest_at(struct fx *f, struct agent *ag, const uint8_t hash[CRYPTO_SHA256_LEN],
                     uint64_t now, int *replay, struct problem *pb)
{
    int r = ingest_envelope(f->ing, f->env.data, f->env.len, now, &f->rcpt, replay, pb);
    if (r == 0 && !*replay && ag) {
        ag->seq++;
        memcpy(ag->last, hash, CRYPTO_SHA256_LEN);
    }
    return r;
}

/* Push records as the agent's next batch; must be accepted. The receipt is
 * opened with the hub key and its outcomes written to outcomes[]. */
static void push_ok(struct fx *f, struct agent *ag, uint64_t hlc, const struct record *recs,
                    size_t n, uint8_t *outcomes, const char *file, int line)
{
    uint8_t hash[CRYPTO_SHA256_LEN];
    struct problem pb;
    struct receipt rc = {0};
    struct dti_err e = {0};
    int replay = -1;
    seal_next(f, ag, hlc, recs, n, hash);
    int r = ingest_at(f, ag, hash, NOW, &replay, &pb);
    if (r != 0)
        print_error("batch %" PRIu64 " of %s refused: %s (%s)\n", ag->seq + 1, ag->id,
                    dti_strname(r), pb.message);
    _assert_string_equal(dti_strname(r), "DTI_OK", file, line);
    _assert_int_equal(replay, 0, file, line);
    r = receipt_open(f->rcpt.data, f->rcpt.len, f->hub_pub, &rc, &e);
    if (r != 0)
        print_error("receipt_open: %s\n", dti_err_text(&e, r));
    _assert_int_equal(r, 0, file, line);
    _assert_string_equal(rc.agent_id, ag->id, file, line);
    _assert_int_equal(rc.seq, ag->seq, file, line);
    _assert_true(memcmp(rc.batch_hash, hash, CRYPTO_SHA256_LEN) == 0, "batch hash", file, line);
    _assert_int_equal(rc.n, n, file, line);
    _assert_int_equal(rc.nrejects, 0, file, line);
    for (size_t i = 0; i < n; i++)
        outcomes[i] = rc.outcomes[i];
    receipt_release(&rc);
}

#define PUSH_OK(f, ag, hlc, recs, n, outcomes)                                                     \
    push_ok((f), (ag), (hlc), (recs), (n), (outcomes), __FILE__, __LINE__)

/* Push one record and check its outcome by name. */
static void push1(struct fx *f, struct agent *ag, struct record rec, int want, const char *file,
                  int line)
{
    uint8_t out[1];
    push_ok(f, ag, rec.hlc, &rec, 1, out, file, line);
    if (out[0] != want)
        print_error("%s/%s from %s: outcome %s, expected %s\n", rec.unit, rec.element, ag->id,
                    outcome_name(out[0]), outcome_name(want));
    _assert_string_equal(outcome_name(out[0]), outcome_name(want), file, line);
}

#define PUSH1(f, ag, rec, want) push1((f), (ag), (rec), (want), __FILE__, __LINE__)

/*
 * Ingest f->env, which must be refused with code; and nothing in the
 * database may change, no receipt is given, the agent's chain stays.
 */
static struct problem expect_refused(struct fx *f, int code, const char *file, int line)
{
    char before[2048], after[2048];
    struct problem pb;
    int replay = -1;
    uint64_t refused = ingest_stats(f->ing)->refused;
    db_state(f, before, sizeof(before));
    buf_reset(&f->rcpt);
    buf_puts(&f->rcpt, "stale");
    int r = ingest_envelope(f->ing, f->env.data, f->env.len, NOW, &f->rcpt, &replay, &pb);
    if (r != code)
        print_error("refused with %s (%s), expected %s\n", dti_strname(r), pb.message,
                    dti_strname(code));
    _assert_string_equal(dti_strname(r), dti_strname(code), file, line);
    _assert_string_equal(dti_strname(pb.code), dti_strname(code), file, line);
    _assert_string_equal(pb.reason, dti_reason(code), file, line);
    if (!pb.message[0]) {
        print_error("%s without a message\n", dti_strname(code));
        _fail(file, line);
    }
    _assert_int_equal(replay, 0, file, line);
    _assert_int_equal(f->rcpt.len, 0, file, line);
    _assert_int_equal(ingest_stats(f->ing)->refused, refused + 1, file, line);
    if (code == DTI_EGAP) {
        /* a batch ahead of a gap is parked, and that is the only change */
        _assert_int_equal(q_int(f, "SELECT count(*) FROM parked"), 1, file, line);
        sqlite3_exec(f->db, "DELETE FROM parked", NULL, NULL, NULL);
    }
    db_state(f, after, sizeof(after));
    _assert_string_equal(after, before, file, line);
    return pb;
}

#define EXPECT_REFUSED(f, code) expect_refused((f), (code), __FILE__, __LINE__)

static uint64_t t_ms(int64_t offset_ms)
{
    return hlc_make((uint64_t)((int64_t)NOW + offset_ms), 0);
}

/* ---- accepted batches ---- */

static void test_accepted_batch(void **state)
{
    struct fx *f = *state;
    struct record recs[3] = {
        num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL),
        num_rec("22750", "ht.fibre", 0.5, t_ms(-2000), 0, NULL),
        num_rec("22750", "ht.portal", 1, t_ms(-1000), 0, NULL),
    };
    recs[1].value = (struct value){.kind = VALUE_BOOL, .b = true};
    recs[2].value = (struct value){.kind = VALUE_TEXT, .text = "Cổng dịch vụ công"};
    recs[2].author = "Nguyễn Văn A";
    uint8_t hash[CRYPTO_SHA256_LEN];
    struct problem pb;
    struct receipt rc = {0};
    struct dti_err e = {0};
    char txt[256];
    int replay = -1;

    seal_next(f, &f->a, t_ms(-500), recs, 3, hash);
    assert_int_equal(ingest_at(f, &f->a, hash, NOW, &replay, &pb), 0);
    assert_int_equal(replay, 0);

    /* the receipt: signed by the hub, one accepted per record */
    int r = receipt_open(f->rcpt.data, f->rcpt.len, f->hub_pub, &rc, &e);
    if (r < 0)
        print_error("receipt_open: %s\n", dti_err_text(&e, r));
    assert_int_equal(r, 0);
    assert_string_equal(rc.agent_id, f->a.id);
    assert_int_equal(rc.seq, 1);
    assert_memory_equal(rc.batch_hash, hash, CRYPTO_SHA256_LEN);
    assert_int_equal(rc.received_ms, NOW);
    assert_true(hlc_ms(rc.hub_hlc) >= NOW);
    assert_int_equal(rc.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(outcome_name(rc.outcomes[i]), "accepted");
    receipt_release(&rc);
    /* and by nobody else */
    uint8_t other[CRYPTO_PUBKEY_LEN];
    signer_public(f->a.s, other);
    dti_err_clear(&e);
    assert_int_equal(receipt_open(f->rcpt.data, f->rcpt.len, other, &rc, &e), DTI_EBADSIG);

    /* the values */
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals"), 3);
    assert_int_equal(q_int(f,
                           "SELECT count(*) FROM vals WHERE unit = '22750' AND period = '2023' "
                           "AND origin = %Q AND auth = 1 AND seq = 1",
                           f->a.id),
                     3);
    assert_string_equal(
        q_text(f, txt, sizeof(txt), "SELECT num FROM vals WHERE element = 'ht.meetings'"), "12.0");
    assert_int_equal(q_int(f, "SELECT hlc FROM vals WHERE element = 'ht.meetings'"),
                     (int64_t)t_ms(-3000));
    assert_int_equal(
        q_int(f, "SELECT num FROM vals WHERE element = 'ht.fibre' AND kind = %d", VALUE_BOOL), 1);
    assert_string_equal(q_text(f, txt, sizeof(txt),
                               "SELECT txt || '|' || author FROM vals WHERE element = 'ht.portal'"),
                        "Cổng dịch vụ công|Nguyễn Văn A");
    assert_int_equal(q_int(f, "SELECT count(*) FROM history"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 0);

    /* the batch, byte for byte, with the receipt we answered */
    assert_int_equal(q_int(f, "SELECT count(*) FROM batches"), 1);
    assert_true(q_blob_is(f, f->env.data, f->env.len,
                          "SELECT envelope FROM batches WHERE agent = %Q AND seq = 1", f->a.id));
    assert_true(q_blob_is(f, f->rcpt.data, f->rcpt.len,
                          "SELECT receipt FROM batches WHERE agent = %Q AND seq = 1", f->a.id));
    assert_true(q_blob_is(f, hash, CRYPTO_SHA256_LEN,
                          "SELECT hash FROM batches WHERE agent = %Q AND seq = 1", f->a.id));
    assert_int_equal(q_int(f, "SELECT records FROM batches WHERE agent = %Q", f->a.id), 3);
    assert_int_equal(q_int(f, "SELECT received_ms FROM batches WHERE agent = %Q", f->a.id), NOW);

    /* the agent's chain */
    assert_int_equal(q_int(f, "SELECT last_seq FROM agents WHERE id = %Q", f->a.id), 1);
    assert_true(q_blob_is(f, hash, CRYPTO_SHA256_LEN, "SELECT last_hash FROM agents WHERE id = %Q",
                          f->a.id));
    assert_int_equal(q_int(f, "SELECT last_seen_ms FROM agents WHERE id = %Q", f->a.id), NOW);
    assert_int_equal(q_int(f, "SELECT last_seq FROM agents WHERE id = %Q", f->b.id), 0);
    assert_int_equal(ingest_stats(f->ing)->batches, 1);
    assert_int_equal(ingest_stats(f->ing)->records, 3);

    /* the next batch links to it */
    uint8_t out[1];
    struct record next = num_rec("22750", "ht.meetings", 13, t_ms(-100), t_ms(-3000), f->a.id);
    PUSH_OK(f, &f->a, t_ms(-100), &next, 1, out);
    assert_string_equal(outcome_name(out[0]), "accepted");
    assert_int_equal(q_int(f, "SELECT last_seq FROM agents WHERE id = %Q", f->a.id), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM batches"), 2);
    assert_string_equal(
        q_text(f, txt, sizeof(txt), "SELECT num FROM vals WHERE element = 'ht.meetings'"), "13.0");
    assert_string_equal(q_text(f, txt, sizeof(txt),
                               "SELECT num || ' ' || fate FROM history WHERE element = "
                               "'ht.meetings'"),
                        "12.0 replaced");
}

static void test_replay(void **state)
{
    struct fx *f = *state;
    struct record r1 = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    struct record r2 = num_rec("22750", "ht.staff", 4, t_ms(-2000), 0, NULL);
    uint8_t hash1[CRYPTO_SHA256_LEN], hash2[CRYPTO_SHA256_LEN];
    struct buf env1, rcpt1;
    struct problem pb;
    char before[2048], after[2048];
    int replay = -1;
    buf_init(&env1, BUF_UNLIMITED);
    buf_init(&rcpt1, BUF_UNLIMITED);

    seal_next(f, &f->a, r1.hlc, &r1, 1, hash1);
    assert_int_equal(ingest_at(f, &f->a, hash1, NOW, &replay, &pb), 0);
    assert_int_equal(buf_append(&env1, f->env.data, f->env.len), 0);
    assert_int_equal(buf_append(&rcpt1, f->rcpt.data, f->rcpt.len), 0);

    /* the same bytes again, later: the original receipt, nothing changed */
    db_state(f, before, sizeof(before));
    buf_reset(&f->rcpt);
    replay = -1;
    assert_int_equal(ingest_at(f, NULL, hash1, NOW + 60000, &replay, &pb), 0);
    assert_int_equal(replay, 1);
    assert_int_equal(f->rcpt.len, rcpt1.len);
    assert_memory_equal(f->rcpt.data, rcpt1.data, rcpt1.len);
    db_state(f, after, sizeof(after));
    assert_string_equal(after, before);
    assert_int_equal(q_int(f, "SELECT last_seq FROM agents WHERE id = %Q", f->a.id), 1);
    assert_int_equal(q_int(f, "SELECT last_seen_ms FROM agents WHERE id = %Q", f->a.id), NOW);
    assert_int_equal(ingest_stats(f->ing)->replays, 1);
    assert_int_equal(ingest_stats(f->ing)->batches, 1);

    /* after batch 2, batch 1 again still gets batch 1's receipt */
    seal_next(f, &f->a, r2.hlc, &r2, 1, hash2);
    assert_int_equal(ingest_at(f, &f->a, hash2, NOW, &replay, &pb), 0);
    assert_int_equal(replay, 0);
    db_state(f, before, sizeof(before));
    buf_reset(&f->env);
    assert_int_equal(buf_append(&f->env, env1.data, env1.len), 0);
    assert_int_equal(ingest_at(f, NULL, hash1, NOW + 120000, &replay, &pb), 0);
    assert_int_equal(replay, 1);
    assert_int_equal(f->rcpt.len, rcpt1.len);
    assert_memory_equal(f->rcpt.data, rcpt1.data, rcpt1.len);
    db_state(f, after, sizeof(after));
    assert_string_equal(after, before);
    assert_int_equal(q_int(f, "SELECT last_seq FROM agents WHERE id = %Q", f->a.id), 2);
    buf_release(&env1);
    buf_release(&rcpt1);
}

/* ---- refusals ---- */

static void test_same_seq_other_content(void **state)
{
    struct fx *f = *state;
    struct record r1 = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    uint8_t hash[CRYPTO_SHA256_LEN], out[1];
    PUSH_OK(f, &f->a, r1.hlc, &r1, 1, out);
    /* batch 1 again, one value changed: not a replay, a forked chain */
    r1.value.num = 13;
    seal_as(f->a.s, f->a.id, 1, NULL, r1.hlc, &r1, 1, &f->env, hash);
    EXPECT_REFUSED(f, DTI_ECHAIN);
}

static void test_gap(void **state)
{
    struct fx *f = *state;
    struct record r = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    uint8_t hash[CRYPTO_SHA256_LEN], prev[CRYPTO_SHA256_LEN] = {1}, out[1];
    /* a fresh agent starting at 2 */
    seal_as(f->a.s, f->a.id, 2, prev, r.hlc, &r, 1, &f->env, hash);
    struct problem pb = EXPECT_REFUSED(f, DTI_EGAP);
    assert_int_equal(pb.expected_seq, 1);

    PUSH_OK(f, &f->a, r.hlc, &r, 1, out);
    r = num_rec("22750", "ht.meetings", 13, t_ms(-2000), r.hlc, f->a.id);
    seal_as(f->a.s, f->a.id, 3, f->a.last, r.hlc, &r, 1, &f->env, hash);
    pb = EXPECT_REFUSED(f, DTI_EGAP);
    assert_int_equal(pb.expected_seq, 2);
    assert_non_null(strstr(pb.message, "expects 2"));

    /* the agent recovers by sending what the hub expects */
    PUSH1(f, &f->a, r, OUTCOME_ACCEPTED);
    assert_int_equal(q_int(f, "SELECT last_seq FROM agents WHERE id = %Q", f->a.id), 2);
}

/* A batch that arrives ahead of its gap is parked and applied, in order, as soon
 * as the gap closes; the agent's resend then gets the stored receipt. */
static void test_parked_drains(void **state)
{
    struct fx *f = *state;
    struct record r1 = num_rec("22750", "ht.meetings", 1, t_ms(-3000), 0, NULL);
    struct record r2 = num_rec("22750", "ht.staff", 2, t_ms(-2000), 0, NULL);
    struct record r3 = num_rec("22750", "ht.web", 3, t_ms(-1000), 0, NULL);
    uint8_t h1[CRYPTO_SHA256_LEN], h2[CRYPTO_SHA256_LEN], h3[CRYPTO_SHA256_LEN];
    struct buf e1, e2, e3;
    struct problem pb;
    int replay;
    buf_init(&e1, BUF_UNLIMITED);
    buf_init(&e2, BUF_UNLIMITED);
    buf_init(&e3, BUF_UNLIMITED);
    seal_as(f->a.s, f->a.id, 1, NULL, r1.hlc, &r1, 1, &e1, h1);
    seal_as(f->a.s, f->a.id, 2, h1, r2.hlc, &r2, 1, &e2, h2);
    seal_as(f->a.s, f->a.id, 3, h2, r3.hlc, &r3, 1, &e3, h3);
    /* 3 then 2 arrive first: both parked, nothing applied */
    assert_int_equal(ingest_envelope(f->ing, e3.data, e3.len, NOW, &f->rcpt, &replay, &pb),
                     DTI_EGAP);
    assert_int_equal(ingest_envelope(f->ing, e2.data, e2.len, NOW, &f->rcpt, &replay, &pb),
                     DTI_EGAP);
    assert_int_equal(pb.expected_seq, 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM parked"), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals"), 0);
    /* 1 arrives: 1, 2 and 3 are applied, the parking empties */
    assert_int_equal(ingest_envelope(f->ing, e1.data, e1.len, NOW, &f->rcpt, &replay, &pb), 0);
    assert_int_equal(q_int(f, "SELECT last_seq FROM agents WHERE id = %Q", f->a.id), 3);
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals"), 3);
    assert_int_equal(q_int(f, "SELECT count(*) FROM parked"), 0);
    /* the agent resends 2: its stored receipt, nothing changes */
    assert_int_equal(ingest_envelope(f->ing, e2.data, e2.len, NOW, &f->rcpt, &replay, &pb), 0);
    assert_int_equal(replay, 1);
    struct receipt rc;
    struct dti_err e = {0};
    assert_int_equal(receipt_open(f->rcpt.data, f->rcpt.len, f->hub_pub, &rc, &e), 0);
    assert_int_equal(rc.seq, 2);
    assert_memory_equal(rc.batch_hash, h2, CRYPTO_SHA256_LEN);
    receipt_release(&rc);
    buf_release(&e1);
    buf_release(&e2);
    buf_release(&e3);
}

static void test_broken_chain(void **state)
{
    struct fx *f = *state;
    struct record r = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    uint8_t hash[CRYPTO_SHA256_LEN], prev[CRYPTO_SHA256_LEN], out[1];
    PUSH_OK(f, &f->a, r.hlc, &r, 1, out);
    r = num_rec("22750", "ht.meetings", 13, t_ms(-2000), r.hlc, f->a.id);
    memcpy(prev, f->a.last, sizeof(prev));
    prev[31] ^= 1;
    seal_as(f->a.s, f->a.id, 2, prev, r.hlc, &r, 1, &f->env, hash);
    EXPECT_REFUSED(f, DTI_ECHAIN);
    /* another agent's batch hash does not link either */
    PUSH_OK(f, &f->b, t_ms(-2500),
            (struct record[]){num_rec("22750", "ht.staff", 1, t_ms(-2500), 0, NULL)}, 1, out);
    seal_as(f->a.s, f->a.id, 2, f->b.last, r.hlc, &r, 1, &f->env, hash);
    EXPECT_REFUSED(f, DTI_ECHAIN);
    PUSH1(f, &f->a, r, OUTCOME_ACCEPTED);
}

static void test_unknown_agent(void **state)
{
    struct fx *f = *state;
    struct record r = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    uint8_t hash[CRYPTO_SHA256_LEN];
    seal_next(f, &f->x, r.hlc, &r, 1, hash);
    EXPECT_REFUSED(f, DTI_EAGENT);
}

static void test_revoked(void **state)
{
    struct fx *f = *state;
    struct record r = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    uint8_t hash[CRYPTO_SHA256_LEN], out[1];
    struct dti_err e = {0};
    PUSH_OK(f, &f->a, r.hlc, &r, 1, out);
    assert_int_equal(agents_revoke(f->db, f->a.id, NOW, &e), 0);
    r = num_rec("22750", "ht.meetings", 13, t_ms(-2000), r.hlc, f->a.id);
    seal_next(f, &f->a, r.hlc, &r, 1, hash);
    EXPECT_REFUSED(f, DTI_EREVOKED);
    assert_int_equal(agents_revoke(f->db, f->x.id, NOW, &e), DTI_EAGENT);
    /* the other office of the commune is unaffected */
    PUSH1(f, &f->b, r, OUTCOME_ACCEPTED);
}

static void test_bad_signature(void **state)
{
    struct fx *f = *state;
    struct record r = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    uint8_t hash[CRYPTO_SHA256_LEN];
    /* a's batch, signed with b's key (an enrolled key, but not a's) */
    seal_as(f->b.s, f->a.id, 1, NULL, r.hlc, &r, 1, &f->env, hash);
    EXPECT_REFUSED(f, DTI_EBADSIG);
    seal_as(f->x.s, f->a.id, 1, NULL, r.hlc, &r, 1, &f->env, hash);
    EXPECT_REFUSED(f, DTI_EBADSIG);
    /* the genuine one still goes through */
    PUSH1(f, &f->a, r, OUTCOME_ACCEPTED);
}

static void test_scope(void **state)
{
    struct fx *f = *state;
    uint8_t hash[CRYPTO_SHA256_LEN], out[3];
    static const char *const outside_a[] = {"22738", "582", "58", "22801", "99999"};
    for (size_t i = 0; i < ARRAY_SIZE(outside_a); i++) {
        struct record r = num_rec(outside_a[i], "ht.meetings", 1, t_ms(-3000), 0, NULL);
        seal_next(f, &f->a, r.hlc, &r, 1, hash);
        struct problem pb = EXPECT_REFUSED(f, DTI_ESCOPE);
        assert_non_null(strstr(pb.message, outside_a[i]));
    }
    /* one record out of scope spoils the batch: nothing of it is applied */
    struct record mixed[2] = {
        num_rec("22750", "ht.meetings", 1, t_ms(-3000), 0, NULL),
        num_rec("22738", "ht.meetings", 1, t_ms(-2000), 0, NULL),
    };
    seal_next(f, &f->a, t_ms(-2000), mixed, 2, hash);
    EXPECT_REFUSED(f, DTI_ESCOPE);

    /* a district writes for itself and the communes under it */
    struct record d_recs[3] = {
        num_rec("22750", "ht.meetings", 5, t_ms(-3000), 0, NULL),
        num_rec("22738", "ht.meetings", 6, t_ms(-2000), 0, NULL),
        num_rec("582", "ht.meetings", 7, t_ms(-1000), 0, NULL),
    };
    PUSH_OK(f, &f->d, t_ms(-1000), d_recs, 3, out);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(outcome_name(out[i]), "accepted");
    assert_int_equal(q_int(f, "SELECT count(*) FROM vals WHERE origin = %Q AND auth = 2", f->d.id),
                     3);
    /* but not for another district's commune, nor for the province */
    struct record r = num_rec("22801", "ht.meetings", 1, t_ms(-500), 0, NULL);
    seal_next(f, &f->d, r.hlc, &r, 1, hash);
    EXPECT_REFUSED(f, DTI_ESCOPE);
    r.unit = "58";
    seal_next(f, &f->d, r.hlc, &r, 1, hash);
    EXPECT_REFUSED(f, DTI_ESCOPE);
    /* the commune of the other district writes its own unit */
    r.unit = "22801";
    PUSH1(f, &f->c, r, OUTCOME_ACCEPTED);
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    struct record r = num_rec("22750", "ht.meetings", 12, t_ms(-3000), 0, NULL);
    uint8_t hash[CRYPTO_SHA256_LEN];
    struct buf good;
    buf_init(&good, BUF_UNLIMITED);
    seal_next(f, &f->a, r.hlc, &r, 1, hash);
    assert_int_equal(buf_append(&good, f->env.data, f->env.len), 0);

    buf_reset(&f->env);
    buf_puts(&f->env, "this is not a protobuf envelope \xff\xff\xff\xff");
    EXPECT_REFUSED(f, DTI_EPARSE);
    buf_reset(&f->env);
    EXPECT_REFUSED(f, DTI_EPARSE); /* zero bytes */
    assert_int_equal(buf_append(&f->env, good.data, good.len / 2), 0);
    EXPECT_REFUSED(f, DTI_EPARSE); /* truncated */
    buf_reset(&f->env);
    assert_int_equal(buf_reserve(&f->env, ENVELOPE_MAX + 1), 0);
    memset(f->env.data, 0, ENVELOPE_MAX + 1);
    f->env.len = ENVELOPE_MAX + 1;
    EXPECT_REFUSED(f, DTI_ETOOBIG);

    /* none of that disturbed the agent's chain */
    buf_reset(&f->env);
    assert_int_equal(buf_append(&f->env, good.data, good.len), 0);
    int replay = -1;
    struct problem pb;
    assert_int_equal(ingest_at(f, &f->a, hash, NOW, &replay, &pb), 0);
    assert_int_equal(replay, 0);
    buf_release(&good);
}

/* ---- the merge rules through ingest ---- */

#define KEY_WHERE "unit = '22750' AND element = 'ht.meetings' AND period = '2023'"

/* The current value of the key: "num origin auth". */
static const char *current(struct fx *f, char *out, size_t n)
{
    return q_text(
        f, out, n,
        "SELECT num || ' ' || origin || ' ' || auth || ' ' || hlc FROM vals WHERE " KEY_WHERE);
}

static const char *expect_current(char *out, size_t n, double num, const char *origin, int auth,
                                  uint64_t hlc)
{
    snprintf(out, n, "%.1f %s %d %" PRIu64, num, origin, auth, hlc);
    return out;
}

/* Conflict number id (1-based, in order of creation), as text. */
static const char *conflict_row(struct fx *f, int id, char *out, size_t n)
{
    return q_text(f, out, n,
                  "SELECT status || ' cur=' || current_origin || '@' || current_hlc || ' in=' || "
                  "incoming_origin || '@' || incoming_hlc || ' win=' || winner_origin || '@' || "
                  "winner_hlc || ' base=' || coalesce(base_origin, '-') || '@' || base_hlc || "
                  "' ' || coalesce(resolution, '-') || ' ' || coalesce(resolved_by, '-') || ' ' "
                  "|| coalesce(resolved_ms, '-') || ' ' || created_ms "
                  "FROM conflicts WHERE " KEY_WHERE " ORDER BY id LIMIT 1 OFFSET %d",
                  id - 1);
}

static const char *expect_conflict(char *out, size_t n, bool open, const char *cur,
                                   uint64_t cur_hlc, const char *in, uint64_t in_hlc,
                                   const char *win, uint64_t win_hlc, const char *base,
                                   uint64_t base_hlc)
{
    snprintf(out, n,
             "%s cur=%s@%" PRIu64 " in=%s@%" PRIu64 " win=%s@%" PRIu64 " base=%s@%" PRIu64
             " %s %s %s %" PRIu64,
             open ? "open" : "resolved", cur, cur_hlc, in, in_hlc, win, win_hlc, base ? base : "-",
             base_hlc, open ? "-" : "authority", open ? "-" : "policy",
             open ? "-" : "1700000000000", NOW);
    return out;
}

/* The key's history: "num origin fate" rows in HLC order, joined by "; ". */
static const char *history(struct fx *f, char *out, size_t n)
{
    return q_text(f, out, n,
                  "SELECT coalesce(group_concat(h, '; '), '') FROM (SELECT num || ' ' || origin "
                  "|| ' ' || fate AS h FROM history WHERE " KEY_WHERE " ORDER BY hlc, origin)");
}

static void test_conflict_equal_authority(void **state)
{
    struct fx *f = *state;
    char got[512], want[512];
    /* two offices of one commune, both offline, both from nothing */
    struct record ra = num_rec("22750", "ht.meetings", 10, t_ms(-60000), 0, NULL);
    struct record rb = num_rec("22750", "ht.meetings", 20, t_ms(-30000), 0, NULL);
    PUSH1(f, &f->a, ra, OUTCOME_ACCEPTED);
    PUSH1(f, &f->b, rb, OUTCOME_CONFLICT_CURRENT); /* the later HLC wins for now */

    /* the later HLC is the winner for scoring; the conflict waits for a person */
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 1);
    assert_string_equal(conflict_row(f, 1, got, sizeof(got)),
                        expect_conflict(want, sizeof(want), true, f->a.id, ra.hlc, f->b.id, rb.hlc,
                                        f->b.id, rb.hlc, NULL, 0));
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 20, f->b.id, 1, rb.hlc));
    /* the loser is kept */
    snprintf(want, sizeof(want), "10.0 %s conflict", f->a.id);
    assert_string_equal(history(f, got, sizeof(got)), want);

    /* each office sends its version again in a new batch: no-ops, no new conflict */
    PUSH1(f, &f->a, ra, OUTCOME_DUPLICATE);
    PUSH1(f, &f->b, rb, OUTCOME_DUPLICATE);
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM history"), 1);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 20, f->b.id, 1, rb.hlc));

    /* a concurrent edit with an older clock loses, and is kept */
    struct record ra2 = num_rec("22750", "ht.meetings", 15, t_ms(-90000), 0, NULL);
    PUSH1(f, &f->a, ra2, OUTCOME_CONFLICT);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 20, f->b.id, 1, rb.hlc));
    assert_string_equal(conflict_row(f, 2, got, sizeof(got)),
                        expect_conflict(want, sizeof(want), true, f->b.id, rb.hlc, f->a.id, ra2.hlc,
                                        f->b.id, rb.hlc, NULL, 0));
    snprintf(want, sizeof(want), "15.0 %s conflict; 10.0 %s conflict", f->a.id, f->a.id);
    assert_string_equal(history(f, got, sizeof(got)), want);
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts WHERE status = 'open'"), 2);
}

static void test_district_over_commune(void **state)
{
    struct fx *f = *state;
    char got[512], want[512];
    struct record ra = num_rec("22750", "ht.meetings", 10, t_ms(-60000), 0, NULL);
    struct record rd = num_rec("22750", "ht.meetings", 30, t_ms(-120000), 0, NULL);
    PUSH1(f, &f->a, ra, OUTCOME_ACCEPTED);
    /* the district, concurrently and with an older clock: authority decides */
    PUSH1(f, &f->d, rd, OUTCOME_ACCEPTED);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 30, f->d.id, 2, rd.hlc));
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 1);
    assert_string_equal(conflict_row(f, 1, got, sizeof(got)),
                        expect_conflict(want, sizeof(want), false, f->a.id, ra.hlc, f->d.id, rd.hlc,
                                        f->d.id, rd.hlc, NULL, 0));
    snprintf(want, sizeof(want), "10.0 %s outranked", f->a.id);
    assert_string_equal(history(f, got, sizeof(got)), want);

    /* the commune, still from its own old version and with a later clock: superseded */
    struct record ra2 = num_rec("22750", "ht.meetings", 11, t_ms(-10000), ra.hlc, f->a.id);
    PUSH1(f, &f->a, ra2, OUTCOME_SUPERSEDED);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 30, f->d.id, 2, rd.hlc));
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 2);
    assert_string_equal(conflict_row(f, 2, got, sizeof(got)),
                        expect_conflict(want, sizeof(want), false, f->d.id, rd.hlc, f->a.id,
                                        ra2.hlc, f->d.id, rd.hlc, f->a.id, ra.hlc));
    snprintf(want, sizeof(want), "10.0 %s outranked; 11.0 %s outranked", f->a.id, f->a.id);
    assert_string_equal(history(f, got, sizeof(got)), want);
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts WHERE status = 'open'"), 0);

    /* from the district's version: a fast-forward, even for a commune */
    struct record ra3 = num_rec("22750", "ht.meetings", 31, t_ms(-5000), rd.hlc, f->d.id);
    PUSH1(f, &f->a, ra3, OUTCOME_ACCEPTED);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 31, f->a.id, 1, ra3.hlc));
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 2);
}

/* An operator's resolution (a hub version), then late edits from the offices. */
static void test_hub_resolution_then_late_edits(void **state)
{
    struct fx *f = *state;
    char got[512], want[512];
    struct record ra = num_rec("22750", "ht.meetings", 10, t_ms(-60000), 0, NULL);
    struct record rb = num_rec("22750", "ht.meetings", 20, t_ms(-30000), 0, NULL);
    PUSH1(f, &f->a, ra, OUTCOME_ACCEPTED);
    PUSH1(f, &f->b, rb, OUTCOME_CONFLICT_CURRENT); /* the later HLC wins for now */
    /* the resolution, as the operator's command will write it: a hub version */
    uint64_t h = t_ms(-20000);
    struct dti_err e = {0};
    char *sql = sqlite3_mprintf("UPDATE vals SET num = 25, hlc = %lld, origin = 'hub', auth = 4, "
                                "base_hlc = %lld, base_origin = %Q WHERE " KEY_WHERE,
                                (long long)h, (long long)rb.hlc, f->b.id);
    assert_int_equal(db_exec(f->db, sql, &e), 0);
    sqlite3_free(sql);

    /* a late edit from the version before the resolution: superseded by authority */
    struct record late = num_rec("22750", "ht.meetings", 12, t_ms(-1000), ra.hlc, f->a.id);
    PUSH1(f, &f->a, late, OUTCOME_SUPERSEDED);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 25, "hub", 4, h));
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 2);
    assert_string_equal(conflict_row(f, 2, got, sizeof(got)),
                        expect_conflict(want, sizeof(want), false, "hub", h, f->a.id, late.hlc,
                                        "hub", h, f->a.id, ra.hlc));
    /* the same office after pulling the resolution: a fast-forward */
    struct record after = num_rec("22750", "ht.meetings", 26, t_ms(-500), h, "hub");
    PUSH1(f, &f->a, after, OUTCOME_ACCEPTED);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 26, f->a.id, 1, after.hlc));
    assert_int_equal(q_int(f, "SELECT count(*) FROM conflicts"), 2);
    snprintf(want, sizeof(want), "10.0 %s conflict; 25.0 hub replaced; 12.0 %s outranked", f->a.id,
             f->a.id);
    assert_string_equal(history(f, got, sizeof(got)), want);
}

static void test_far_future_clock(void **state)
{
    struct fx *f = *state;
    char got[512], want[512];
    const uint64_t bound_ms = NOW + INGEST_MAX_FUTURE_MS;
    struct record ra = num_rec("22750", "ht.meetings", 10, t_ms(-60000), 0, NULL);
    PUSH1(f, &f->a, ra, OUTCOME_ACCEPTED);

    /* an office whose PC thinks it is ten days later */
    uint64_t ahead = hlc_make(NOW + 10 * DAY_MS, 0);
    struct record rb[2] = {
        num_rec("22750", "ht.meetings", 99, ahead, 0, NULL),
        num_rec("22750", "ht.staff", 7, ahead + 1, 0, NULL),
    };
    uint8_t out[2];
    struct receipt rc = {0};
    struct dti_err e = {0};
    PUSH_OK(f, &f->b, ahead + 1, rb, 2, out);
    assert_string_equal(outcome_name(out[0]), "conflict");
    assert_string_equal(outcome_name(out[1]), "accepted"); /* a new key */
    /* it did not win: the minute-old version stays current */
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 10, f->a.id, 1, ra.hlc));
    assert_string_equal(conflict_row(f, 1, got, sizeof(got)),
                        expect_conflict(want, sizeof(want), true, f->a.id, ra.hlc, f->b.id, ahead,
                                        f->a.id, ra.hlc, NULL, 0));
    /* the agent is flagged with its skew */
    assert_int_equal(q_int(f, "SELECT clock_skew_ms FROM agents WHERE id = %Q", f->b.id),
                     (int64_t)(10 * DAY_MS));

    /* the hub clock was not dragged along */
    assert_int_equal(receipt_open(f->rcpt.data, f->rcpt.len, f->hub_pub, &rc, &e), 0);
    if (hlc_ms(rc.hub_hlc) > bound_ms)
        print_error("receipt hub_hlc %" PRIu64 " ms past now + %u\n", hlc_ms(rc.hub_hlc) - NOW,
                    INGEST_MAX_FUTURE_MS);
    assert_true(hlc_ms(rc.hub_hlc) <= bound_ms);
    receipt_release(&rc);
    uint64_t now_hlc = ingest_hlc_now(f->ing, NOW);
    assert_true(hlc_ms(now_hlc) >= NOW);
    assert_true(hlc_ms(now_hlc) <= bound_ms);
    char txt[64];
    uint64_t stored;
    assert_int_equal(
        parse_u64(q_text(f, txt, sizeof(txt), "SELECT value FROM meta WHERE key = 'hlc'"),
                  UINT64_MAX, &stored),
        0);
    assert_true(hlc_ms(stored) <= bound_ms);
    /* nor after a restart, which reads the stored clock */
    struct ingest *again;
    assert_int_equal(ingest_open(&again, f->db, f->hub, &e), 0);
    now_hlc = ingest_hlc_now(again, NOW);
    ingest_free(again);
    assert_true(hlc_ms(now_hlc) >= NOW && hlc_ms(now_hlc) <= bound_ms);

    /* the future-dated value it holds for a new key cannot keep winning either:
     * a concurrent edit made now from a right clock wins the tie-break */
    struct record ra2 = num_rec("22750", "ht.staff", 8, t_ms(-1000), 0, NULL);
    PUSH1(f, &f->a, ra2, OUTCOME_CONFLICT_CURRENT);
    assert_string_equal(q_text(f, got, sizeof(got),
                               "SELECT num || ' ' || origin FROM vals WHERE element = 'ht.staff'"),
                        (snprintf(want, sizeof(want), "8.0 %s", f->a.id), want));
}

/*
 * The bound is against the hub's own time, not against a clock an office has
 * already pushed forward: batches just past the bound, one after another,
 * never reach beyond now + INGEST_MAX_FUTURE_MS, nor win with a clock that is.
 */
static void test_future_bound_does_not_compound(void **state)
{
    struct fx *f = *state;
    char got[512], want[512];
    struct record ra = num_rec("22750", "ht.meetings", 10, t_ms(-60000), 0, NULL);
    PUSH1(f, &f->a, ra, OUTCOME_ACCEPTED);
    for (int i = 1; i <= 3; i++) {
        /* 8, 16, 24 minutes ahead: each past the 5-minute bound */
        uint64_t ahead = t_ms(i * 8 * 60000);
        char element[32];
        snprintf(element, sizeof(element), "ht.k%d", i);
        PUSH1(f, &f->b, num_rec("22750", element, i, ahead, 0, NULL), OUTCOME_ACCEPTED);
        uint64_t now_hlc = ingest_hlc_now(f->ing, NOW);
        if (hlc_ms(now_hlc) > NOW + INGEST_MAX_FUTURE_MS)
            print_error("after batch %d the hub clock is %" PRIu64 " ms ahead\n", i,
                        hlc_ms(now_hlc) - NOW);
        assert_true(hlc_ms(now_hlc) <= NOW + INGEST_MAX_FUTURE_MS);
    }
    /* 8 minutes ahead, concurrent with a minute-old version: must not win */
    struct record rb = num_rec("22750", "ht.meetings", 99, t_ms(8 * 60000), 0, NULL);
    PUSH1(f, &f->b, rb, OUTCOME_CONFLICT);
    assert_string_equal(current(f, got, sizeof(got)),
                        expect_current(want, sizeof(want), 10, f->a.id, 1, ra.hlc));
}

/* ---- enrolment ---- */

static void expect_enrol_refused(struct fx *f, const struct signer *s, const uint8_t secret[32],
                                 int code, const char *file, int line)
{
    char before[2048], after[2048];
    struct enroll_response rs = {0};
    struct problem pb;
    db_state(f, before, sizeof(before));
    int r = enrol(f, s, secret, NOW, &rs, &pb);
    if (r != code)
        print_error("enrol: %s (%s), expected %s\n", dti_strname(r), pb.message, dti_strname(code));
    _assert_string_equal(dti_strname(r), dti_strname(code), file, line);
    _assert_string_equal(pb.reason, dti_reason(code), file, line);
    _assert_true(pb.message[0] != '\0', "message", file, line);
    db_state(f, after, sizeof(after));
    _assert_string_equal(after, before, file, line);
    enroll_response_release(&rs);
}

#define EXPECT_ENROL_REFUSED(f, s, secret, code)                                                   \
    expect_enrol_refused((f), (s), (secret), (code), __FILE__, __LINE__)

static void test_enrol(void **state)
{
    struct fx *f = *state;
    struct dti_err e = {0};
    struct enroll_response rs = {0};
    struct problem pb;
    uint8_t secret[32], pub[CRYPTO_PUBKEY_LEN];
    struct agent en = {0}, other = {0}, dist = {0};
    int64_t agents = q_int(f, "SELECT count(*) FROM agents");
    agent_new(&en, "22750");
    agent_new(&other, "22750");
    agent_new(&dist, "582");

    assert_int_equal(tokens_issue(f->db, "22750", NOW, DAY_MS, secret, &e), 0);
    assert_int_equal(enrol(f, en.s, secret, NOW, &rs, &pb), 0);
    assert_string_equal(rs.agent_id, en.id);
    assert_string_equal(rs.unit, "22750");
    assert_int_equal(rs.next_seq, 1);
    assert_memory_equal(rs.hub_pub, f->hub_pub, CRYPTO_PUBKEY_LEN);
    assert_int_equal(rs.hub_hlc, hlc_make(NOW, 5));
    assert_int_equal(rs.nscope, 1);
    assert_string_equal(rs.scope[0], "22750");
    enroll_response_release(&rs);
    signer_public(en.s, pub);
    assert_true(q_blob_is(f, pub, sizeof(pub),
                          "SELECT pubkey FROM agents WHERE id = %Q AND "
                          "unit = '22750' AND revoked_ms IS NULL",
                          en.id));
    assert_int_equal(q_int(f, "SELECT count(*) FROM agents"), agents + 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM tokens WHERE used_by = %Q", en.id), 1);

    /* the token is spent: another key cannot use it */
    EXPECT_ENROL_REFUSED(f, other.s, secret, DTI_ETOKEN);
    assert_int_equal(q_int(f, "SELECT count(*) FROM agents WHERE id = %Q", other.id), 0);

    /* the same key again (its answer was lost): the same answer */
    assert_int_equal(enrol(f, en.s, secret, NOW + 1000, &rs, &pb), 0);
    assert_string_equal(rs.agent_id, en.id);
    assert_string_equal(rs.unit, "22750");
    assert_int_equal(rs.next_seq, 1);
    enroll_response_release(&rs);
    assert_int_equal(q_int(f, "SELECT count(*) FROM agents"), agents + 1);

    /* once it has sent a batch, it is told where its chain goes on */
    PUSH1(f, &en, num_rec("22750", "ht.meetings", 1, t_ms(-1000), 0, NULL), OUTCOME_ACCEPTED);
    assert_int_equal(enrol(f, en.s, secret, NOW + 2000, &rs, &pb), 0);
    assert_int_equal(rs.next_seq, 2);
    enroll_response_release(&rs);

    /* a district's scope is itself and its communes */
    assert_int_equal(tokens_issue(f->db, "582", NOW, DAY_MS, secret, &e), 0);
    assert_int_equal(enrol(f, dist.s, secret, NOW, &rs, &pb), 0);
    assert_string_equal(rs.unit, "582");
    assert_int_equal(rs.nscope, 3);
    assert_string_equal(rs.scope[0], "22738");
    assert_string_equal(rs.scope[1], "22750");
    assert_string_equal(rs.scope[2], "582");
    enroll_response_release(&rs);

    /* an enrolled key cannot move to another unit with a fresh token */
    assert_int_equal(tokens_issue(f->db, "22801", NOW, DAY_MS, secret, &e), 0);
    EXPECT_ENROL_REFUSED(f, en.s, secret, DTI_EEXISTS);
    /* nor can a revoked one come back */
    assert_int_equal(tokens_issue(f->db, "22750", NOW, DAY_MS, secret, &e), 0);
    assert_int_equal(agents_revoke(f->db, en.id, NOW, &e), 0);
    EXPECT_ENROL_REFUSED(f, en.s, secret, DTI_EEXISTS);
    /* an expired token, an unknown one */
    assert_int_equal(tokens_issue(f->db, "22750", NOW - 2 * DAY_MS, DAY_MS, secret, &e), 0);
    EXPECT_ENROL_REFUSED(f, other.s, secret, DTI_ETOKEN);
    assert_int_equal(crypto_random(secret, sizeof(secret)), 0);
    EXPECT_ENROL_REFUSED(f, other.s, secret, DTI_ETOKEN);
    /* and a body that is not a request */
    char before[2048], after[2048];
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    db_state(f, before, sizeof(before));
    assert_int_equal(enrol_handle(f->db, f->hub, "\x0a\xff\x01", 3, NOW, 0, &out, &pb), DTI_EPARSE);
    assert_string_equal(pb.reason, "malformed");
    db_state(f, after, sizeof(after));
    assert_string_equal(after, before);
    buf_release(&out);

    signer_free(en.s);
    signer_free(other.s);
    signer_free(dist.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accepted_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_seq_other_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parked_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_equal_authority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_district_over_commune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_resolution_then_late_edits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_far_future_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_future_bound_does_not_compound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enrol, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
