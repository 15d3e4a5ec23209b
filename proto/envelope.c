/*
 * envelope.c - sealing and opening batch envelopes (see envelope.h).
 *
 * The payload is a Batch: a string table (index 0 is "") and records that
 * refer to it, with HLCs delta-encoded. Typical commune data repeats units,
 * periods, authors and element codes, so the table plus zstd keeps a record
 * to a few bytes on the wire.
 */
#include "envelope.h"
#include "compress.h"
#include "util.h"

#include "dtisync.pb-c.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ZSTD_LEVEL 3

/* ---- string interning for the builder ---- */

struct intern {
    char **strs; /* strs[0] = "" */
    size_t n, cap;
    uint32_t *slots; /* open addressing: index + 1, 0 = empty */
    size_t nslots;
    size_t bytes; /* total string bytes, for the size estimate */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void intern_init(struct intern *t)
{
    memset(t, 0, sizeof(*t));
    t->nslots = 256;
    t->slots = xcalloc(t->nslots, sizeof(*t->slots));
    t->cap = 64;
    t->strs = xmalloc(t->cap * sizeof(char *));
    t->strs[t->n++] = xstrdup("");
}

static void intern_release(struct intern *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->strs[i]);
    free(t->strs);
    free(t->slots);
}

static size_t intern_slot(const struct intern *t, const char *s)
{
    size_t mask = t->nslots - 1;
    size_t i = (size_t)fnv1a(s) & mask;
    while (t->slots[i] && strcmp(t->strs[t->slots[i] - 1], s) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Index of s, added if new. "" and NULL are 0. */
static uint32_t intern_get(struct intern *t, const char *s)
{
    if (!s || !*s)
        return 0;
    size_t i = intern_slot(t, s);
    if (t->slots[i])
        return t->slots[i] - 1;
    if (t->n == t->cap) {
        t->cap *= 2;
        t->strs = xrealloc(t->strs, t->cap * sizeof(char *));
    }
    t->strs[t->n] = xstrdup(s);
    t->bytes += strlen(s) + 2;
    t->slots[i] = (uint32_t)t->n + 1;
    t->n++;
    if (t->n * 2 > t->nslots) { /* grow and rehash */
        free(t->slots);
        t->nslots *= 2;
        t->slots = xcalloc(t->nslots, sizeof(*t->slots));
        for (size_t k = 1; k < t->n; k++)
            t->slots[intern_slot(t, t->strs[k])] = (uint32_t)k + 1;
    }
    return (uint32_t)t->n - 1;
}

static bool intern_has(const struct intern *t, const char *s)
{
    return !s || !*s || t->slots[intern_slot(t, s)] != 0;
}

/* ---- builder ---- */

struct brec {
    uint32_t unit, element, period, text, base_origin, author, comment;
    enum value_kind kind;
    double num;
    bool b;
    uint64_t hlc, base_hlc;
};

struct mpair {
    uint32_t unit, period, count;
};

struct batch_builder {
    struct intern strings;
    struct brec *recs;
    size_t n, cap;
    struct mpair *pairs;
    size_t npairs, pairs_cap;
};

void batch_builder_new(struct batch_builder **out)
{
    struct batch_builder *b = xcalloc(1, sizeof(*b));
    intern_init(&b->strings);
    *out = b;
}

void batch_builder_free(struct batch_builder *b)
{
    if (!b)
        return;
    intern_release(&b->strings);
    free(b->recs);
    free(b->pairs);
    free(b);
}

size_t batch_builder_count(const struct batch_builder *b)
{
    return b->n;
}

size_t batch_builder_manifest_size(const struct batch_builder *b)
{
    return b->npairs;
}

static struct mpair *find_pair(const struct batch_builder *b, uint32_t unit, uint32_t period)
{
    for (size_t i = b->npairs; i-- > 0;) /* newest first: edits cluster */
        if (b->pairs[i].unit == unit && b->pairs[i].period == period)
            return &b->pairs[i];
    return NULL;
}

bool batch_builder_is_new_pair(const struct batch_builder *b, const struct record *r)
{
    if (!intern_has(&b->strings, r->unit) || !intern_has(&b->strings, r->period))
        return true;
    struct intern *t = (struct intern *)&b->strings; /* lookups do not modify */
    size_t iu = intern_slot(t, r->unit), ip = intern_slot(t, r->period);
    return find_pair(b, t->slots[iu] - 1, t->slots[ip] - 1) == NULL;
}

size_t batch_builder_payload_estimate(const struct batch_builder *b)
{
    /* a record is at most ~60 bytes of tags and varints besides its strings */
    return b->strings.bytes + b->n * 64 + 64;
}

void batch_builder_add(struct batch_builder *b, const struct record *r)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->recs = xrealloc(b->recs, b->cap * sizeof(*b->recs));
    }
    struct brec *br = &b->recs[b->n++];
    memset(br, 0, sizeof(*br));
    br->unit = intern_get(&b->strings, r->unit);
    br->element = intern_get(&b->strings, r->element);
    br->period = intern_get(&b->strings, r->period);
    br->kind = r->value.kind;
    br->num = r->value.num;
    br->b = r->value.b;
    if (r->value.kind == VALUE_TEXT)
        br->text = intern_get(&b->strings, r->value.text);
    br->hlc = r->hlc;
    br->base_hlc = r->base_hlc;
    br->base_origin = r->base_hlc ? intern_get(&b->strings, r->base_origin) : 0;
    br->author = intern_get(&b->strings, r->author);
    br->comment = intern_get(&b->strings, r->comment);

    struct mpair *p = find_pair(b, br->unit, br->period);
    if (!p) {
        if (b->npairs == b->pairs_cap) {
            b->pairs_cap = b->pairs_cap ? b->pairs_cap * 2 : 8;
            b->pairs = xrealloc(b->pairs, b->pairs_cap * sizeof(*b->pairs));
        }
        p = &b->pairs[b->npairs++];
        p->unit = br->unit;
        p->period = br->period;
        p->count = 0;
    }
    p->count++;
}

static bool is_small_integer(double d)
{
    return d >= -9007199254740991.0 && d <= 9007199254740991.0 && d == (double)(int64_t)d;
}

int batch_builder_seal(struct batch_builder *b, const struct batch_header *h,
                       const struct signer *s, struct buf *out, uint8_t hash[CRYPTO_SHA256_LEN],
                       struct dti_err *e)
{
    int r = 0;
    Dti__V1__Record *recs = xcalloc(b->n, sizeof(*recs));
    Dti__V1__Record **rp = xcalloc(b->n, sizeof(*rp));
    Dti__V1__ManifestEntry *mf = xcalloc(b->npairs, sizeof(*mf));
    Dti__V1__ManifestEntry **mfp = xcalloc(b->npairs, sizeof(*mfp));
    uint8_t *raw = NULL, *signed_bytes = NULL;
    struct buf z;
    buf_init(&z, BUF_UNLIMITED);

    uint64_t prev = h->hlc;
    for (size_t i = 0; i < b->n; i++) {
        const struct brec *br = &b->recs[i];
        Dti__V1__Record *pr = &recs[i];
        dti__v1__record__init(pr);
        pr->unit = br->unit;
        pr->element = br->element;
        pr->period = br->period;
        switch (br->kind) {
        case VALUE_NUMBER:
            if (is_small_integer(br->num)) {
                pr->value_case = DTI__V1__RECORD__VALUE_INTEGER;
                pr->integer = (int64_t)br->num;
            } else {
                pr->value_case = DTI__V1__RECORD__VALUE_NUMBER;
                pr->number = br->num;
            }
            break;
        case VALUE_BOOL:
            pr->value_case = DTI__V1__RECORD__VALUE_BOOLEAN;
            pr->boolean = br->b;
            break;
        case VALUE_TEXT:
            pr->value_case = DTI__V1__RECORD__VALUE_TEXT;
            pr->text = br->text;
            break;
        case VALUE_NONE:
            break;
        }
        /* envelope_records reads a version back only if it is not 0 and its
         * step from the previous one fits an int64 */
        if (br->hlc == 0 || (br->hlc >= prev && br->hlc - prev > (uint64_t)INT64_MAX) ||
            (br->hlc < prev && prev - br->hlc > (uint64_t)INT64_MAX + 1)) {
            r = dti_errf(e, DTI_EINVAL, "record %zu: version %" PRIu64 " cannot follow %" PRIu64, i,
                         br->hlc, prev);
            goto out;
        }
        pr->hlc_delta = (int64_t)(br->hlc - prev);
        prev = br->hlc;
        pr->base_hlc = br->base_hlc;
        pr->base_origin = br->base_origin;
        pr->author = br->author;
        pr->comment = br->comment;
        rp[i] = pr;
    }
    Dti__V1__Batch batch = DTI__V1__BATCH__INIT;
    batch.n_strings = b->strings.n;
    batch.strings = b->strings.strs;
    batch.n_records = b->n;
    batch.records = rp;
    size_t rawlen = dti__v1__batch__get_packed_size(&batch);
    if (rawlen > BATCH_MAX_PAYLOAD || b->n > BATCH_MAX_RECORDS || b->npairs > BATCH_MAX_MANIFEST) {
        r = dti_errf(e, DTI_ETOOBIG, "batch of %zu records (%zu bytes) exceeds the limits", b->n,
                     rawlen);
        goto out;
    }
    raw = xmalloc(rawlen);
    dti__v1__batch__pack(&batch, raw);
    if ((r = compress_zstd(raw, rawlen, ZSTD_LEVEL, &z)) < 0) {
        dti_errf(e, r, "cannot compress batch");
        goto out;
    }

    for (size_t i = 0; i < b->npairs; i++) {
        dti__v1__manifest_entry__init(&mf[i]);
        mf[i].unit = b->strings.strs[b->pairs[i].unit];
        mf[i].period = b->strings.strs[b->pairs[i].period];
        mf[i].records = b->pairs[i].count;
        mfp[i] = &mf[i];
    }
    Dti__V1__Header hdr = DTI__V1__HEADER__INIT;
    hdr.agent_id = (char *)h->agent_id;
    hdr.seq = h->seq;
    if (h->has_prev) {
        hdr.prev_hash.data = (uint8_t *)h->prev_hash;
        hdr.prev_hash.len = CRYPTO_SHA256_LEN;
    }
    hdr.hlc = h->hlc;
    hdr.payload_type = DTI__V1__PAYLOAD_TYPE__PAYLOAD_BATCH;
    hdr.compression = DTI__V1__COMPRESSION__COMPRESSION_ZSTD;
    hdr.payload_size = (uint32_t)rawlen;
    hdr.n_manifest = b->npairs;
    hdr.manifest = mfp;
    hdr.record_count = (uint32_t)b->n;

    Dti__V1__Signed sg = DTI__V1__SIGNED__INIT;
    sg.header = &hdr;
    sg.payload.data = z.data;
    sg.payload.len = z.len;
    size_t slen = dti__v1__signed__get_packed_size(&sg);
    signed_bytes = xmalloc(slen);
    dti__v1__signed__pack(&sg, signed_bytes);

    uint8_t sig[CRYPTO_SIG_LEN];
    if ((r = signer_sign(s, signed_bytes, slen, sig)) < 0) {
        dti_errf(e, r, "cannot sign batch");
        goto out;
    }
    crypto_sha256(signed_bytes, slen, hash);

    Dti__V1__Envelope env = DTI__V1__ENVELOPE__INIT;
    env.signed_.data = signed_bytes;
    env.signed_.len = slen;
    env.signature.data = sig;
    env.signature.len = CRYPTO_SIG_LEN;
    size_t elen = dti__v1__envelope__get_packed_size(&env);
    if (elen > ENVELOPE_MAX) {
        r = dti_errf(e, DTI_ETOOBIG, "envelope of %zu bytes exceeds %u", elen, ENVELOPE_MAX);
        goto out;
    }
    buf_reset(out);
    if ((r = buf_reserve(out, elen)) < 0)
        goto out;
    dti__v1__envelope__pack(&env, out->data);
    out->len = elen;
    out->data[elen] = '\0';
out:
    free(recs);
    free(rp);
    free(mf);
    free(mfp);
    free(raw);
    free(signed_bytes);
    buf_release(&z);
    return r;
}

/* ---- opening ---- */

struct envelope {
    Dti__V1__Envelope *env;
    Dti__V1__Signed *sg;
    struct batch_header hdr;
    uint8_t hash[CRYPTO_SHA256_LEN];
    struct manifest_entry *manifest;
    size_t nmanifest;
    Dti__V1__Batch *batch;
    struct record *recs;
    size_t nrecs;
};

void envelope_free(struct envelope *env)
{
    if (!env)
        return;
    if (env->batch)
        dti__v1__batch__free_unpacked(env->batch, NULL);
    if (env->sg)
        dti__v1__signed__free_unpacked(env->sg, NULL);
    if (env->env)
        dti__v1__envelope__free_unpacked(env->env, NULL);
    free(env->manifest);
    free(env->recs);
    free(env);
}

int envelope_parse(const void *bytes, size_t len, struct envelope **out, struct dti_err *e)
{
    if (len > ENVELOPE_MAX)
        return dti_errf(e, DTI_ETOOBIG, "envelope of %zu bytes exceeds %u", len, ENVELOPE_MAX);
    struct envelope *env = xcalloc(1, sizeof(*env));
    int r = DTI_EPARSE;
    env->env = dti__v1__envelope__unpack(NULL, len, bytes);
    if (!env->env) {
        dti_errf(e, r, "envelope is not a valid protobuf Envelope");
        goto fail;
    }
    /* fields the signature does not cover would let two byte strings share a hash */
    if (env->env->base.n_unknown_fields) {
        dti_errf(e, r, "envelope carries fields outside the signed part");
        goto fail;
    }
    if (env->env->signature.len != CRYPTO_SIG_LEN) {
        dti_errf(e, r, "signature is %zu bytes, expected %d", env->env->signature.len,
                 CRYPTO_SIG_LEN);
        goto fail;
    }
    env->sg = dti__v1__signed__unpack(NULL, env->env->signed_.len, env->env->signed_.data);
    if (!env->sg || !env->sg->header) {
        dti_errf(e, r, "signed part is not a valid Signed message with a header");
        goto fail;
    }
    const Dti__V1__Header *h = env->sg->header;
    if (!origin_valid(h->agent_id) || strlen(h->agent_id) != AGENT_ID_LEN) {
        dti_errf(e, r, "header: invalid agent id");
        goto fail;
    }
    if (h->seq == 0) {
        dti_errf(e, r, "header: sequence number 0 (they start at 1)");
        goto fail;
    }
    if ((h->seq == 1 && h->prev_hash.len != 0) ||
        (h->seq > 1 && h->prev_hash.len != CRYPTO_SHA256_LEN)) {
        dti_errf(e, r, "header: previous hash is %zu bytes for sequence %" PRIu64, h->prev_hash.len,
                 h->seq);
        goto fail;
    }
    if (h->payload_type != DTI__V1__PAYLOAD_TYPE__PAYLOAD_BATCH) {
        dti_errf(e, r, "header: unknown payload type %d", (int)h->payload_type);
        goto fail;
    }
    if (h->compression != DTI__V1__COMPRESSION__COMPRESSION_ZSTD &&
        h->compression != DTI__V1__COMPRESSION__COMPRESSION_NONE) {
        dti_errf(e, r, "header: unknown compression %d", (int)h->compression);
        goto fail;
    }
    if (h->payload_size > BATCH_MAX_PAYLOAD || h->record_count > BATCH_MAX_RECORDS ||
        h->n_manifest > BATCH_MAX_MANIFEST) {
        r = dti_errf(e, DTI_ETOOBIG,
                     "header: payload %u bytes, %u records, %zu manifest entries exceed limits",
                     h->payload_size, h->record_count, h->n_manifest);
        goto fail;
    }
    if (h->record_count == 0 || h->n_manifest == 0) {
        dti_errf(e, r, "header: empty batch");
        goto fail;
    }
    uint64_t total = 0;
    env->manifest = xcalloc(h->n_manifest, sizeof(*env->manifest));
    for (size_t i = 0; i < h->n_manifest; i++) {
        const Dti__V1__ManifestEntry *m = h->manifest[i];
        if (!unit_code_valid(m->unit) || !period_valid(m->period) || m->records == 0) {
            dti_errf(e, r, "header: manifest entry %zu is invalid", i);
            goto fail;
        }
        env->manifest[i].unit = m->unit;
        env->manifest[i].period = m->period;
        env->manifest[i].records = m->records;
        total += m->records;
    }
    env->nmanifest = h->n_manifest;
    if (total != h->record_count) {
        dti_errf(e, r, "header: manifest counts %" PRIu64 " records, header says %u", total,
                 h->record_count);
        goto fail;
    }
    memcpy(env->hdr.agent_id, h->agent_id, AGENT_ID_LEN + 1);
    env->hdr.seq = h->seq;
    env->hdr.has_prev = h->seq > 1;
    if (env->hdr.has_prev)
        memcpy(env->hdr.prev_hash, h->prev_hash.data, CRYPTO_SHA256_LEN);
    env->hdr.hlc = h->hlc;
    env->hdr.record_count = h->record_count;
    crypto_sha256(env->env->signed_.data, env->env->signed_.len, env->hash);
    *out = env;
    return 0;
fail:
    envelope_free(env);
    return r;
}

const struct batch_header *envelope_header(const struct envelope *env)
{
    return &env->hdr;
}

const uint8_t *envelope_hash(const struct envelope *env)
{
    return env->hash;
}

size_t envelope_manifest(const struct envelope *env, const struct manifest_entry **entries)
{
    *entries = env->manifest;
    return env->nmanifest;
}

int envelope_verify(const struct envelope *env, const uint8_t pub[CRYPTO_PUBKEY_LEN],
                    struct dti_err *e)
{
    int r =
        crypto_verify(pub, env->env->signed_.data, env->env->signed_.len, env->env->signature.data);
    if (r < 0)
        return dti_errf(e, DTI_EBADSIG, "signature of batch %" PRIu64 " from agent %s is invalid",
                        env->hdr.seq, env->hdr.agent_id);
    return 0;
}

static int check_strings(const Dti__V1__Batch *b, struct dti_err *e)
{
    if (b->n_strings == 0 || b->strings[0][0] != '\0')
        return dti_errf(e, DTI_EPARSE, "payload: string table must start with \"\"");
    for (size_t i = 1; i < b->n_strings; i++) {
        size_t n = strlen(b->strings[i]);
        if (n == 0 || n > VALUE_TEXT_MAX || !utf8_valid_text(b->strings[i], n))
            return dti_errf(e, DTI_EPARSE, "payload: string %zu is empty, too long or not UTF-8",
                            i);
    }
    return 0;
}

int envelope_records(struct envelope *env, const struct record **recs, size_t *n, struct dti_err *e)
{
    if (env->recs) {
        *recs = env->recs;
        *n = env->nrecs;
        return 0;
    }
    const Dti__V1__Header *h = env->sg->header;
    const ProtobufCBinaryData *pl = &env->sg->payload;
    struct buf raw;
    buf_init(&raw, BATCH_MAX_PAYLOAD);
    const uint8_t *data = pl->data;
    size_t len = pl->len;
    int r;
    if (h->compression == DTI__V1__COMPRESSION__COMPRESSION_ZSTD) {
        if ((r = decompress_zstd(pl->data, pl->len, h->payload_size, BATCH_MAX_PAYLOAD, &raw, e)) <
            0)
            goto out;
        data = raw.data;
        len = raw.len;
    } else if (len != h->payload_size) {
        r = dti_errf(e, DTI_EPARSE, "payload is %zu bytes, header says %u", len, h->payload_size);
        goto out;
    }
    r = DTI_EPARSE;
    env->batch = dti__v1__batch__unpack(NULL, len, data);
    if (!env->batch) {
        dti_errf(e, r, "payload is not a valid protobuf Batch");
        goto out;
    }
    const Dti__V1__Batch *b = env->batch;
    if (b->n_records != h->record_count) {
        dti_errf(e, r, "payload has %zu records, header says %u", b->n_records, h->record_count);
        goto out;
    }
    if (b->n_strings > 7 * b->n_records + 1) {
        dti_errf(e, r, "payload string table is larger than its records can use");
        goto out;
    }
    if ((r = check_strings(b, e)) < 0)
        goto out;
    r = DTI_EPARSE;

    /* manifest entries as string indices, to count records against them */
    uint32_t *counts = xcalloc(env->nmanifest, sizeof(*counts));
    env->recs = xcalloc(b->n_records ? b->n_records : 1, sizeof(*env->recs));
    uint64_t hlc = h->hlc;
    for (size_t i = 0; i < b->n_records; i++) {
        const Dti__V1__Record *pr = b->records[i];
        struct record *rec = &env->recs[i];
        uint32_t idx[] = {pr->unit,
                          pr->element,
                          pr->period,
                          pr->base_origin,
                          pr->author,
                          pr->comment,
                          pr->value_case == DTI__V1__RECORD__VALUE_TEXT ? pr->text : 0};
        for (size_t k = 0; k < ARRAY_SIZE(idx); k++)
            if (idx[k] >= b->n_strings) {
                dti_errf(e, r, "record %zu: string index %u out of range", i, idx[k]);
                goto out_counts;
            }
        rec->unit = b->strings[pr->unit];
        rec->element = b->strings[pr->element];
        rec->period = b->strings[pr->period];
        rec->base_origin = b->strings[pr->base_origin];
        rec->author = b->strings[pr->author];
        rec->comment = b->strings[pr->comment];
        struct dti_err ke = {0};
        if (key_check(rec->unit, rec->element, rec->period, &ke) < 0) {
            r = dti_errf(e, ke.code, "record %zu: %s", i, ke.msg);
            goto out_counts;
        }
        if (strlen(rec->author) > AUTHOR_MAX || strlen(rec->comment) > COMMENT_MAX) {
            dti_errf(e, r, "record %zu: author or comment too long", i);
            goto out_counts;
        }
        switch (pr->value_case) {
        case DTI__V1__RECORD__VALUE_INTEGER:
            if (pr->integer > 9007199254740991LL || pr->integer < -9007199254740991LL) {
                dti_errf(e, r, "record %zu: integer beyond 2^53", i);
                goto out_counts;
            }
            rec->value.kind = VALUE_NUMBER;
            rec->value.num = (double)pr->integer;
            break;
        case DTI__V1__RECORD__VALUE_NUMBER:
            rec->value.kind = VALUE_NUMBER;
            rec->value.num = pr->number;
            break;
        case DTI__V1__RECORD__VALUE_BOOLEAN:
            rec->value.kind = VALUE_BOOL;
            rec->value.b = pr->boolean;
            break;
        case DTI__V1__RECORD__VALUE_TEXT:
            rec->value.kind = VALUE_TEXT;
            rec->value.text = b->strings[pr->text];
            break;
        default:
            dti_errf(e, r, "record %zu: no value", i);
            goto out_counts;
        }
        if (value_check(&rec->value, &ke) < 0) {
            r = dti_errf(e, DTI_EVALUE, "record %zu: %s", i, ke.msg);
            goto out_counts;
        }
        /* hlc += delta with the arithmetic checked: a version is in (0, 2^64) */
        uint64_t next = hlc + (uint64_t)pr->hlc_delta;
        if ((pr->hlc_delta >= 0 && next < hlc) || (pr->hlc_delta < 0 && next >= hlc) || next == 0) {
            dti_errf(e, r, "record %zu: version timestamp out of range", i);
            goto out_counts;
        }
        hlc = next;
        rec->hlc = hlc;
        rec->base_hlc = pr->base_hlc;
        if (rec->base_hlc && !origin_valid(rec->base_origin)) {
            dti_errf(e, r, "record %zu: invalid base origin", i);
            goto out_counts;
        }
        if (!rec->base_hlc)
            rec->base_origin = "";
        size_t m = 0;
        while (m < env->nmanifest && (strcmp(env->manifest[m].unit, rec->unit) != 0 ||
                                      strcmp(env->manifest[m].period, rec->period) != 0))
            m++;
        if (m == env->nmanifest) {
            dti_errf(e, r, "record %zu: unit %s period %s is not in the manifest", i, rec->unit,
                     rec->period);
            goto out_counts;
        }
        counts[m]++;
    }
    for (size_t m = 0; m < env->nmanifest; m++)
        if (counts[m] != env->manifest[m].records) {
            dti_errf(e, r, "manifest says %u records for %s/%s, payload has %u",
                     env->manifest[m].records, env->manifest[m].unit, env->manifest[m].period,
                     counts[m]);
            goto out_counts;
        }
    env->nrecs = b->n_records;
    *recs = env->recs;
    *n = env->nrecs;
    r = 0;
out_counts:
    free(counts);
out:
    if (r < 0) {
        free(env->recs);
        env->recs = NULL;
        if (env->batch) /* a later call unpacks again */
            dti__v1__batch__free_unpacked(env->batch, NULL);
        env->batch = NULL;
    }
    buf_release(&raw);
    return r;
}
