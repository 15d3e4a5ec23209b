/*
 * compress.c - zstd one-shot compression with bounded decompression.
 */
#include "compress.h"

#include <zstd.h>

int compress_zstd(const void *src, size_t n, int level, struct buf *out)
{
    size_t bound = ZSTD_compressBound(n);
    int r = buf_reserve(out, bound);
    if (r < 0)
        return r;
    size_t z = ZSTD_compress(out->data + out->len, bound, src, n, level);
    if (ZSTD_isError(z))
        return DTI_EIO;
    out->len += z;
    out->data[out->len] = '\0';
    return 0;
}

int decompress_zstd(const void *src, size_t n, size_t expected, size_t max, struct buf *out,
                    struct dti_err *e)
{
    if (expected > max)
        return dti_errf(e, DTI_ETOOBIG, "payload of %zu bytes exceeds the %zu byte limit", expected,
                        max);
    unsigned long long declared = ZSTD_getFrameContentSize(src, n);
    if (declared == ZSTD_CONTENTSIZE_ERROR)
        return dti_errf(e, DTI_EPARSE, "payload is not a zstd frame");
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != expected)
        return dti_errf(e, DTI_EPARSE, "payload frame declares %llu bytes, header says %zu",
                        declared, expected);
    buf_reset(out);
    int r = buf_reserve(out, expected);
    if (r < 0)
        return dti_errf(e, r, "payload too large");
    /* dstCapacity = expected: zstd stops with an error rather than write more */
    size_t got = ZSTD_decompress(out->data, expected, src, n);
    if (ZSTD_isError(got))
        return dti_errf(e, DTI_EPARSE, "corrupt payload: %s", ZSTD_getErrorName(got));
    if (got != expected)
        return dti_errf(e, DTI_EPARSE, "payload decompressed to %zu bytes, header says %zu", got,
                        expected);
    out->len = got;
    out->data[got] = '\0';
    return 0;
}
