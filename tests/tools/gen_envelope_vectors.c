/*
 * gen_envelope_vectors.c - writes the envelope test vectors read by
 * tests/unit/proto/test_envelope_vectors.c: one directory per case holding
 * input.hex (the envelope), key.hex (the signer's public key) and expected
 * ("ok <records> <hash>" or "error <DTI_E name>").
 *
 * The vectors are committed; this program is kept only to explain and
 * regenerate them. It is not built by CMake. It makes a fresh key on every
 * run, so regenerating changes every file. Build and run by hand after a
 * normal build in build/:
 *
 *   cc -std=c11 -D_DEFAULT_SOURCE -Icommon -Iproto -Ibuild/proto \
 *      tests/tools/gen_envelope_vectors.c build/proto/libdti_proto.a \
 *      build/common/libdti_common.a $(pkg-config --libs libprotobuf-c libzstd \
 *      libcrypto sqlite3 jansson) -lm -o /tmp/gen_envelope_vectors
 *   /tmp/gen_envelope_vectors tests/vectors/envelope
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "compress.h"
#include "crypto.h"
#include "enroll.h"
#include "envelope.h"
#include "err.h"
#include "util.h"

#include "dtisync.pb-c.h"

#define HLC0 (UINT64_C(1700000000000) << 16)

static struct signer *key, *stranger;
static char agent[AGENT_ID_LEN + 1];
static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "gen_envelope_vectors: %s\n", what);
    exit(1);
}

static void write_hex(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x%s", p[i], (i % 32 == 31 || i + 1 == n) ? "\n" : "");
    if (fclose(f) != 0)
        die(path);
}

/* One case: the envelope, the key to verify it with, and the expected line. */
static void emit(const char *name, const struct buf *env, const struct signer *verify_with,
                 const char *expected)
{
    char *dir = path_join(outdir, name);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        die(dir);
    char *p = path_join(dir, "input.hex");
    write_hex(p, env->data, env->len);
    free(p);
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    signer_public(verify_with, pub);
    p = path_join(dir, "key.hex");
    write_hex(p, pub, sizeof(pub));
    free(p);
    p = path_join(dir, "expected");
    FILE *f = fopen(p, "w");
    if (!f || fprintf(f, "%s\n", expected) < 0 || fclose(f) != 0)
        die(p);
    free(p);
    free(dir);
}

static void emit_ok(const char *name, const struct buf *env, size_t n,
                    const uint8_t hash[CRYPTO_SHA256_LEN])
{
    char hex[2 * CRYPTO_SHA256_LEN + 1], line[128];
    hex_encode(hash, CRYPTO_SHA256_LEN, hex);
    snprintf(line, sizeof(line), "ok %zu %s", n, hex);
    emit(name, env, key, line);
}

static void emit_error(const char *name, const struct buf *env, int code)
{
    char line[64];
    snprintf(line, sizeof(line), "error %s", dti_strname(code));
    emit(name, env, key, line);
}

#define NUM(x)                                                                                     \
    {                                                                                              \
        .kind = VALUE_NUMBER, .num = (x)                                                           \
    }

static void seal_records(const struct record *recs, size_t n, uint64_t seq, const uint8_t *prev,
                         struct buf *out, uint8_t hash[CRYPTO_SHA256_LEN])
{
    struct batch_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.agent_id, agent, sizeof(h.agent_id));
    h.seq = seq;
    h.has_prev = prev != NULL;
    if (prev)
        memcpy(h.prev_hash, prev, CRYPTO_SHA256_LEN);
    h.hlc = HLC0;
    struct batch_builder *b;
    batch_builder_new(&b);
    for (size_t i = 0; i < n; i++)
        batch_builder_add(b, &recs[i]);
    struct dti_err e = {0};
    if (batch_builder_seal(b, &h, key, out, hash, &e) < 0)
        die(e.msg);
    batch_builder_free(b);
}

/* ---- hand-made envelopes ---- */

struct craft {
    char *strings[8];
    size_t nstrings;
    Dti__V1__Record rec[2];
    Dti__V1__ManifestEntry mf;
    Dti__V1__Header hdr;
    uint8_t prev[CRYPTO_SHA256_LEN];
};

/* A valid two-record batch for 01234/2023. */
static void craft_init(struct craft *c)
{
    static const char *const strs[] = {"", "01234", "E.1", "2023", "E.2", "Nhận thức số"};
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
        c->strings[i] = (char *)strs[i];
    c->nstrings = ARRAY_SIZE(strs);
    for (size_t i = 0; i < 2; i++) {
        dti__v1__record__init(&c->rec[i]);
        c->rec[i].unit = 1;
        c->rec[i].period = 3;
        c->rec[i].hlc_delta = 1;
    }
    c->rec[0].element = 2;
    c->rec[0].value_case = DTI__V1__RECORD__VALUE_INTEGER;
    c->rec[0].integer = 42;
    c->rec[1].element = 4;
    c->rec[1].value_case = DTI__V1__RECORD__VALUE_TEXT;
    c->rec[1].text = 5;
    dti__v1__manifest_entry__init(&c->mf);
    c->mf.unit = "01234";
    c->mf.period = "2023";
    c->mf.records = 2;
    dti__v1__header__init(&c->hdr);
    c->hdr.agent_id = agent;
    c->hdr.seq = 1;
    c->hdr.hlc = HLC0;
    c->hdr.payload_type = DTI__V1__PAYLOAD_TYPE__PAYLOAD_BATCH;
    c->hdr.compression = DTI__V1__COMPRESSION__COMPRESSION_ZSTD;
    c->hdr.record_count = 2;
}

static void craft_seal(struct craft *c, struct buf *out, uint8_t hash[CRYPTO_SHA256_LEN])
{
    Dti__V1__Record *rp[] = {&c->rec[0], &c->rec[1]};
    Dti__V1__Batch batch = DTI__V1__BATCH__INIT;
    batch.n_strings = c->nstrings;
    batch.strings = c->strings;
    batch.n_records = 2;
    batch.records = rp;
    size_t rawlen = dti__v1__batch__get_packed_size(&batch);
    uint8_t *raw = xmalloc(rawlen);
    dti__v1__batch__pack(&batch, raw);
    struct buf z;
    buf_init(&z, BUF_UNLIMITED);
    const uint8_t *payload = raw;
    size_t plen = rawlen;
    if (c->hdr.compression == DTI__V1__COMPRESSION__COMPRESSION_ZSTD) {
        if (compress_zstd(raw, rawlen, 3, &z) < 0)
            die("compress");
        payload = z.data;
        plen = z.len;
    }
    Dti__V1__ManifestEntry *mfp[] = {&c->mf};
    c->hdr.payload_size = (uint32_t)rawlen;
    c->hdr.manifest = mfp;
    c->hdr.n_manifest = 1;
    if (c->hdr.prev_hash.len)
        c->hdr.prev_hash.data = c->prev;
    Dti__V1__Signed sg = DTI__V1__SIGNED__INIT;
    sg.header = &c->hdr;
    sg.payload.data = (uint8_t *)payload;
    sg.payload.len = plen;
    size_t slen = dti__v1__signed__get_packed_size(&sg);
    uint8_t *sb = xmalloc(slen);
    dti__v1__signed__pack(&sg, sb);
    c->hdr.manifest = NULL;
    uint8_t sig[CRYPTO_SIG_LEN];
    if (signer_sign(key, sb, slen, sig) < 0)
        die("sign");
    crypto_sha256(sb, slen, hash);
    Dti__V1__Envelope env = DTI__V1__ENVELOPE__INIT;
    env.signed_.data = sb;
    env.signed_.len = slen;
    env.signature.data = sig;
    env.signature.len = CRYPTO_SIG_LEN;
    size_t elen = dti__v1__envelope__get_packed_size(&env);
    buf_reset(out);
    if (buf_reserve(out, elen) < 0)
        die("buf");
    dti__v1__envelope__pack(&env, out->data);
    out->len = elen;
    free(sb);
    free(raw);
    buf_release(&z);
}

/* Flip one bit of the signed bytes' last byte (inside the payload) or of the signature. */
static void tamper(struct buf *env, int in_signature)
{
    Dti__V1__Envelope *m = dti__v1__envelope__unpack(NULL, env->len, env->data);
    if (!m)
        die("unpack");
    if (in_signature)
        m->signature.data[CRYPTO_SIG_LEN / 2] ^= 0x01;
    else
        m->signed_.data[m->signed_.len - 1] ^= 0x01;
    env->len = dti__v1__envelope__pack(m, env->data);
    dti__v1__envelope__free_unpacked(m, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_envelope_vectors DIR\n");
        return 2;
    }
    outdir = argv[1];
    if (signer_generate(&key) < 0 || signer_generate(&stranger) < 0)
        die("keygen");
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    signer_public(key, pub);
    enroll_agent_id(pub, agent);

    struct buf env;
    buf_init(&env, BUF_UNLIMITED);
    uint8_t hash[CRYPTO_SHA256_LEN], hash1[CRYPTO_SHA256_LEN];

    static const struct record single[] = {
        {.unit = "01234", .element = "DT.1.1", .period = "2023", .value = NUM(4), .hlc = HLC0 + 1},
    };
    seal_records(single, 1, 1, NULL, &env, hash1);
    emit_ok("valid-single-record", &env, 1, hash1);

    static const struct record multi[] = {
        {.unit = "01234", .element = "DT.1.1", .period = "2023", .value = NUM(12), .hlc = HLC0},
        {.unit = "01234", .element = "DT.1.2", .period = "2023", .value = NUM(0.25), .hlc = HLC0},
        {.unit = "01234",
         .element = "DT.1.1",
         .period = "2024",
         .value = {.kind = VALUE_BOOL, .b = true},
         .hlc = HLC0 + 1,
         .base_hlc = HLC0 - 10,
         .base_origin = "hub"},
        {.unit = "01235",
         .element = "XH.1",
         .period = "2023",
         .value = {.kind = VALUE_TEXT, .text = "Nhận thức số"},
         .hlc = HLC0 + 2,
         .author = "Nguyễn Văn An",
         .comment = "Đã kiểm tra"},
        {.unit = "01235", .element = "XH.2", .period = "2024Q1", .value = NUM(-3), .hlc = HLC0 - 5},
        {.unit = "01236", .element = "KT.1", .period = "2024-06", .value = NUM(1e6), .hlc = HLC0},
        {.unit = "01236", .element = "KT.2", .period = "2024-06", .value = NUM(7), .hlc = HLC0 + 9},
    };
    seal_records(multi, ARRAY_SIZE(multi), 2, hash1, &env, hash);
    emit_ok("valid-multi-unit", &env, ARRAY_SIZE(multi), hash);

    struct craft c;
    craft_init(&c);
    c.hdr.compression = DTI__V1__COMPRESSION__COMPRESSION_NONE;
    craft_seal(&c, &env, hash);
    emit_ok("valid-uncompressed", &env, 2, hash);

    seal_records(single, 1, 1, NULL, &env, hash);
    tamper(&env, 1);
    emit_error("bad-signature", &env, DTI_EBADSIG);

    seal_records(single, 1, 1, NULL, &env, hash);
    emit("wrong-key", &env, stranger, "error DTI_EBADSIG");

    seal_records(multi, ARRAY_SIZE(multi), 2, hash1, &env, hash);
    tamper(&env, 0);
    emit_error("tampered-payload", &env, DTI_EBADSIG);

    seal_records(single, 1, 1, NULL, &env, hash);
    env.len -= 10;
    emit_error("truncated", &env, DTI_EPARSE);

    craft_init(&c);
    c.hdr.record_count = BATCH_MAX_RECORDS + 1;
    c.mf.records = BATCH_MAX_RECORDS + 1;
    craft_seal(&c, &env, hash);
    emit_error("oversize-header-counts", &env, DTI_ETOOBIG);

    craft_init(&c);
    c.mf.period = "2024";
    craft_seal(&c, &env, hash);
    emit_error("manifest-mismatch", &env, DTI_EPARSE);

    craft_init(&c);
    c.hdr.seq = 2;
    memset(c.prev, 0xab, sizeof(c.prev));
    c.hdr.prev_hash.len = CRYPTO_SHA256_LEN - 1;
    craft_seal(&c, &env, hash);
    emit_error("wrong-prev-hash-length", &env, DTI_EPARSE);

    craft_init(&c);
    c.strings[6] = "2023Q5";
    c.nstrings = 7;
    c.rec[1].period = 6;
    craft_seal(&c, &env, hash);
    emit_error("invalid-period", &env, DTI_EPERIOD);

    craft_init(&c);
    c.rec[0].value_case = DTI__V1__RECORD__VALUE_NUMBER;
    c.rec[0].number = INFINITY;
    craft_seal(&c, &env, hash);
    emit_error("infinite-number", &env, DTI_EVALUE);

    buf_release(&env);
    signer_free(key);
    signer_free(stranger);
    return 0;
}
