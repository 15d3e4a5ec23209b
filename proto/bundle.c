/*
 * bundle.c - bundle files (see bundle.h).
 */
#include "bundle.h"
#include "crypto.h"
#include "envelope.h"
#include "hubsigned.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC_LEN (sizeof(BUNDLE_MAGIC) - 1)

struct bundle_writer {
    FILE *f;
    uint32_t count;
};

struct bundle_reader {
    FILE *f;
    uint64_t pos;   /* bytes consumed */
    uint64_t start; /* where the last entry began */
    uint32_t count;
    bool done;
};

static size_t limit_of(char kind)
{
    return kind == BUNDLE_ENVELOPE ? ENVELOPE_MAX : kind == BUNDLE_RECEIPT ? HUBSIGNED_MAX : 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void entry_sum(char kind, const void *bytes, size_t len, uint8_t out[32])
{
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, &kind, 1);
    sha256_update(&h, bytes, len);
    sha256_final(&h, out);
}

int bundle_writer_open(struct bundle_writer **out, FILE *f, struct dti_err *e)
{
    if (fwrite(BUNDLE_MAGIC, 1, MAGIC_LEN, f) != MAGIC_LEN)
        return dti_errf(e, DTI_EIO, "cannot write the bundle");
    struct bundle_writer *w = xcalloc(1, sizeof(*w));
    w->f = f;
    *out = w;
    return 0;
}

int bundle_write(struct bundle_writer *w, char kind, const void *bytes, size_t len,
                 struct dti_err *e)
{
    size_t lim = limit_of(kind);
    if (!lim)
        return dti_errf(e, DTI_EINVAL, "unknown bundle entry kind '%c'", kind);
    if (len > lim || w->count >= BUNDLE_MAX_ENTRIES)
        return dti_errf(e, DTI_ETOOBIG, "bundle entry of %zu bytes is too large", len);
    uint8_t head[5], sum[32];
    head[0] = (uint8_t)kind;
    put_u32(head + 1, (uint32_t)len);
    entry_sum(kind, bytes, len, sum);
    if (fwrite(head, 1, 5, w->f) != 5 || fwrite(bytes, 1, len, w->f) != len ||
        fwrite(sum, 1, 32, w->f) != 32)
        return dti_errf(e, DTI_EIO, "cannot write the bundle");
    w->count++;
    return 0;
}

int bundle_finish(struct bundle_writer *w, struct dti_err *e)
{
    uint8_t tr[5] = {'Z'};
    put_u32(tr + 1, w->count);
    int r = 0;
    if (fwrite(tr, 1, 5, w->f) != 5 || fflush(w->f) != 0)
        r = dti_errf(e, DTI_EIO, "cannot write the bundle");
    else if (fsync(fileno(w->f)) != 0 && fileno(w->f) > 2)
        r = dti_errf(e, DTI_EIO, "cannot write the bundle to disk");
    free(w);
    return r;
}

void bundle_writer_free(struct bundle_writer *w)
{
    free(w);
}

int bundle_reader_open(struct bundle_reader **out, FILE *f, struct dti_err *e)
{
    char magic[MAGIC_LEN];
    if (fread(magic, 1, MAGIC_LEN, f) != MAGIC_LEN || memcmp(magic, BUNDLE_MAGIC, MAGIC_LEN))
        return dti_errf(e, DTI_EPARSE, "offset 0: not a dtisync bundle");
    struct bundle_reader *r = xcalloc(1, sizeof(*r));
    r->f = f;
    r->pos = MAGIC_LEN;
    *out = r;
    return 0;
}

/* Read exactly n bytes or fail as truncated. */
static int read_exact(struct bundle_reader *r, void *p, size_t n, struct dti_err *e)
{
    size_t got = fread(p, 1, n, r->f);
    r->pos += got;
    if (got == n)
        return 0;
    if (ferror(r->f))
        return dti_errf(e, DTI_EIO, "offset %" PRIu64 ": read error", r->pos);
    return dti_errf(e, DTI_EPARSE,
                    "offset %" PRIu64 ": truncated: the bundle ends in the middle of an entry "
                    "(everything before offset %" PRIu64 " is whole)",
                    r->pos, r->start);
}

int bundle_next(struct bundle_reader *r, char *kind, struct buf *entry, struct dti_err *e)
{
    uint8_t head[5], sum[32], want[32];
    if (r->done)
        return 0;
    r->start = r->pos;
    size_t got = fread(head, 1, 1, r->f);
    r->pos += got;
    if (got == 0) {
        if (ferror(r->f))
            return dti_errf(e, DTI_EIO, "offset %" PRIu64 ": read error", r->pos);
        return dti_errf(e, DTI_EPARSE,
                        "offset %" PRIu64 ": truncated: the bundle ends without its trailer "
                        "(%" PRIu32 " whole entries before it)",
                        r->pos, r->count);
    }
    int rc = read_exact(r, head + 1, 4, e);
    if (rc < 0)
        return rc;
    uint32_t len = get_u32(head + 1);
    if (head[0] == 'Z') {
        if (len != r->count)
            return dti_errf(e, DTI_EPARSE,
                            "offset %" PRIu64 ": the trailer counts %" PRIu32
                            " entries, the bundle holds %" PRIu32,
                            r->start, len, r->count);
        uint8_t extra;
        if (fread(&extra, 1, 1, r->f) == 1)
            return dti_errf(e, DTI_EPARSE, "offset %" PRIu64 ": bytes after the trailer", r->pos);
        r->done = true;
        return 0;
    }
    size_t lim = limit_of((char)head[0]);
    if (!lim)
        return dti_errf(e, DTI_EPARSE, "offset %" PRIu64 ": unknown entry kind 0x%02x", r->start,
                        head[0]);
    if (len > lim)
        return dti_errf(e, DTI_ETOOBIG,
                        "offset %" PRIu64 ": entry of %" PRIu32 " bytes exceeds %zu", r->start, len,
                        lim);
    if (r->count >= BUNDLE_MAX_ENTRIES)
        return dti_errf(e, DTI_ETOOBIG, "offset %" PRIu64 ": more than %d entries", r->start,
                        BUNDLE_MAX_ENTRIES);
    buf_reset(entry);
    if (buf_reserve(entry, len) < 0)
        return dti_errf(e, DTI_ETOOBIG, "offset %" PRIu64 ": entry too large", r->start);
    if ((rc = read_exact(r, entry->data, len, e)) < 0)
        return rc;
    entry->len = len;
    entry->data[len] = '\0';
    if ((rc = read_exact(r, sum, 32, e)) < 0)
        return rc;
    entry_sum((char)head[0], entry->data, len, want);
    if (memcmp(sum, want, 32) != 0)
        return dti_errf(e, DTI_EPARSE,
                        "offset %" PRIu64 ": entry %" PRIu32 " is damaged (checksum mismatch)",
                        r->start, r->count + 1);
    r->count++;
    *kind = (char)head[0];
    return 1;
}

uint64_t bundle_offset(const struct bundle_reader *r)
{
    return r->start;
}

void bundle_reader_free(struct bundle_reader *r)
{
    free(r);
}
