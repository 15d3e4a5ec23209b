/*
 * compress.h - zstd for batch payloads, with a ceiling on what decompression
 * may produce (a small hostile input must not become gigabytes).
 */
#ifndef DTI_COMPRESS_H
#define DTI_COMPRESS_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Append the zstd compression of src to out. 0, DTI_ETOOBIG, DTI_EIO. */
int compress_zstd(const void *src, size_t n, int level, struct buf *out);
/*
 * Decompress a single zstd frame that must expand to exactly `expected` bytes
 * (<= max) into out (replacing its content). DTI_ETOOBIG when expected > max
 * or the frame says more; DTI_EPARSE for corrupt data or a size mismatch.
 */
int decompress_zstd(const void *src, size_t n, size_t expected, size_t max, struct buf *out,
                    struct dti_err *e);

#endif
