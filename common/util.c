/*
 * util.c - allocation, checked parsing, UTF-8, time and file helpers.
 */
#include "util.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    char *p = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return DTI_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return DTI_EINVAL;
    *out = v;
    return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    /* strtoll skips leading space and takes '+': like parse_u64, start at a digit or '-' */
    if (!s || !(*s == '-' ? s[1] >= '0' && s[1] <= '9' : *s >= '0' && *s <= '9'))
        return DTI_EINVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return DTI_EINVAL;
    *out = v;
    return 0;
}

int parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return DTI_EINVAL;
    /* strtod accepts leading space, hex, inf and nan: we want plain decimals only */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return DTI_EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return DTI_EINVAL;
    *out = v;
    return 0;
}

bool utf8_valid_text(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n >= len - i) /* the n continuation bytes must all be inside s */
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void format_utc(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "?");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int mkdir_p(const char *path, unsigned mode)
{
    char *p = xstrdup(path);
    size_t n = strlen(p);
    struct stat st;
    int r = DTI_EIO;
    /* "a/b/" is "a/b": the last component gets mode, not 0755 */
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    if (n == 0)
        goto out;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            goto out;
        *q = '/';
    }
    if (mkdir(p, (mode_t)mode) < 0 && (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode)))
        goto out;
    r = 0;
out:
    free(p);
    return r;
}

/* fsync the directory holding path, so that a rename into it survives a crash. */
static int fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = 0;
    /* some file systems cannot fsync a directory (EINVAL): nothing more to do there */
    if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL))
        r = DTI_EIO;
    if (fd >= 0)
        close(fd);
    free(dir);
    return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    /* a unique temp name (mkstemp, created 0600): a stale temp file from a crashed writer
     * that had the same pid, or a second writer in this process, is never reused; fchmod
     * then gives exactly mode, whatever the umask */
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    int r = DTI_EIO, saved;
    int fd = mkstemp(tmp);
    if (fd < 0)
        goto out;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fchmod(fd, (mode_t)mode) < 0)
        goto fail;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    r = fsync_parent(path);
    goto out;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
out:
    saved = errno; /* callers report strerror(errno) */
    free(tmp);
    errno = saved;
    return r;
}

int read_file_bounded(const char *path, size_t max, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? DTI_ENOTFOUND : DTI_EIO;
    size_t cap = 4096, len = 0;
    char *b = xmalloc(cap + 1);
    int r = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= max + 1) {
                r = DTI_ETOOBIG;
                goto out;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            b = xrealloc(b, cap + 1);
        }
        size_t n = fread(b + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f))
        r = DTI_EIO;
    else if (len > max)
        r = DTI_ETOOBIG;
out:
    fclose(f);
    if (r < 0) {
        free(b);
        return r;
    }
    b[len] = '\0';
    *out = b;
    if (outlen)
        *outlen = len;
    return 0;
}

char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    if (n > 0 && dir[n - 1] == '/')
        return xasprintf("%s%s", dir, name);
    return xasprintf("%s/%s", dir, name);
}
