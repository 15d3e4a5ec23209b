/*
 * buf.h - a growable byte buffer with a ceiling.
 *
 * A plain value type, caller-allocated: `struct buf b; buf_init(&b, limit);`.
 * Invariants: len <= cap, len <= limit, data is NUL-terminated when non-NULL
 * (so text can be used as a C string). Every buffer that grows from the
 * network or a file gets a limit; appending past it fails with DTI_ETOOBIG
 * and leaves the buffer unchanged.
 */
#ifndef DTI_BUF_H
#define DTI_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    unsigned char *data;
    size_t len;
    size_t cap;
    size_t limit;
};

#define BUF_UNLIMITED ((size_t)-1 / 2)

/* Start empty with a ceiling of limit bytes; allocates nothing yet. */
void buf_init(struct buf *b, size_t limit);
/* Free the storage; the buf is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Forget the content, keep the storage. */
void buf_reset(struct buf *b);
/* Append n bytes. 0 or DTI_ETOOBIG. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append a C string (without its NUL). */
int buf_puts(struct buf *b, const char *s);
/* Append formatted text. 0 or DTI_ETOOBIG. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make room for n more bytes. 0 or DTI_ETOOBIG. */
int buf_reserve(struct buf *b, size_t n);
/* Take ownership of the data (caller frees); the buf is left empty. */
unsigned char *buf_take(struct buf *b, size_t *len);

#endif
