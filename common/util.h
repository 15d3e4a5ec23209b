/*
 * util.h - process-level helpers: allocation that aborts on exhaustion,
 * checked number parsing (never atoi), UTF-8 validation, wall clock and
 * small file helpers. Nothing here logs.
 */
#ifndef DTI_UTIL_H
#define DTI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation for programs: out of memory aborts with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse all of s as a base-10 unsigned integer <= max. 0 or DTI_EINVAL. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);
/* Parse all of s as a base-10 signed integer in [min, max]. 0 or DTI_EINVAL. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Parse all of s as a finite double. 0 or DTI_EINVAL. */
int parse_double(const char *s, double *out);

/* True when s[0..len) is well-formed UTF-8 with no NUL and no C0 controls but tab. */
bool utf8_valid_text(const char *s, size_t len);

/* Wall-clock milliseconds since the Unix epoch. */
uint64_t wall_ms(void);
/* Format ms since epoch as ISO 8601 UTC "2026-11-22T19:22:32Z" into out (>= 21 bytes). */
void format_utc(uint64_t ms, char out[32]);

/* mkdir -p with the given mode for the last component. 0 or DTI_EIO. */
int mkdir_p(const char *path, unsigned mode);
/* Write data to path atomically (temp file, fsync, rename) with mode. 0 or DTI_EIO. */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Read a whole file of at most max bytes into a new NUL-terminated buffer. */
int read_file_bounded(const char *path, size_t max, char **out, size_t *outlen);
/* Join dir and name with '/' into a new string. */
char *path_join(const char *dir, const char *name);

#endif
