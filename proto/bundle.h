/*
 * bundle.h - bundle files: the same envelopes and receipts that travel over
 * HTTPS, carried on a USB stick when no link exists at all.
 *
 * Format (docs/PROTOCOL.md, "Bundle files"):
 *
 *   "DTIBUNDLE1\n"                                   11 bytes, the magic
 *   entry*:  kind (1 byte: 'E' envelope, 'R' receipt)
 *            length (4 bytes, big-endian, <= the kind's limit)
 *            bytes (length)
 *            SHA-256(kind || bytes) (32 bytes)
 *   trailer: 'Z' + entry count (4 bytes, big-endian)
 *
 * Each entry carries its own checksum, so damage is found at the entry where
 * it is, with its byte offset; every entry before it is whole and usable. A
 * bundle without its trailer was cut short. Envelopes and receipts inside are
 * signed as always: the checksum only finds damage, the signatures decide
 * trust.
 */
#ifndef DTI_BUNDLE_H
#define DTI_BUNDLE_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"

#define BUNDLE_MAGIC "DTIBUNDLE1\n"
#define BUNDLE_ENVELOPE 'E'
#define BUNDLE_RECEIPT 'R'
#define BUNDLE_MAX_ENTRIES 1000000

struct bundle_writer;

/* Start a bundle on f (borrowed; the caller closes it after bundle_finish). */
int bundle_writer_open(struct bundle_writer **out, FILE *f, struct dti_err *e);
/* Append one entry. DTI_ETOOBIG past the kind's limit, DTI_EIO. */
int bundle_write(struct bundle_writer *w, char kind, const void *bytes, size_t len,
                 struct dti_err *e);
/* Write the trailer and flush; then fsync the file if it is one. Frees w. */
int bundle_finish(struct bundle_writer *w, struct dti_err *e);
/* Abandon a bundle without a trailer (after an error). Frees w. */
void bundle_writer_free(struct bundle_writer *w);

struct bundle_reader;

/* Check the magic. DTI_EPARSE "not a dtisync bundle". */
int bundle_reader_open(struct bundle_reader **out, FILE *f, struct dti_err *e);
/*
 * The next entry into entry (replaced). Returns 1 with *kind set, 0 at a good
 * trailer, or a negative code with the byte offset of the damage in e:
 * DTI_EPARSE (unknown kind, checksum mismatch, trailer count wrong, bytes after
 * the trailer), DTI_ETOOBIG (an entry longer than its kind allows),
 * DTI_EIO, or DTI_EPARSE "truncated" when the file ends early.
 */
int bundle_next(struct bundle_reader *r, char *kind, struct buf *entry, struct dti_err *e);
/* Byte offset where the last returned entry started. */
uint64_t bundle_offset(const struct bundle_reader *r);
void bundle_reader_free(struct bundle_reader *r);

#endif
