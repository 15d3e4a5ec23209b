/*
 * csv.c - the bounded RFC 4180 reader: one record at a time from a FILE*.
 *
 * Input is read in chunks of CSV_CHUNK bytes into the reader's own buffer, so
 * the FILE's position is past the last record when the reader is freed.
 * Decoded fields are stored NUL-separated in one array of CSV_MAX_RECORD + 1
 * bytes: a field never decodes to more bytes than it takes on disk, and the
 * separators become the NULs, so a record within the ceiling always fits.
 *
 * Which line an error names: the start of the record for a record that is too
 * long, the start of the field for invalid UTF-8 or one field too many, the
 * opening quote for an unterminated quoted field, and otherwise the line on
 * which the offending byte sits. After an error the reader is stuck: every
 * later csv_next returns the same error and message.
 */
#include "csv.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CSV_CHUNK 65536

struct csv {
    FILE *f;
    unsigned char *in; /* CSV_CHUNK bytes read ahead from f */
    size_t inpos, inlen;
    bool eof;     /* f returned end of file or an error; do not read again */
    int ioerr;    /* errno of a read error, or 0 */
    bool started; /* the byte-order mark check is done */
    size_t line;  /* physical line of the next unread byte, 1-based */
    size_t rec_line;
    struct dti_err err; /* sticky: set once a record has failed */
    char *data;         /* decoded fields, NUL-terminated, CSV_MAX_RECORD + 1 bytes */
    char *fields[CSV_MAX_FIELDS + 1];
};

/* Refill the read-ahead buffer. 0 when bytes are available, else EOF. */
static int csv__fill(struct csv *c)
{
    c->inpos = 0;
    c->inlen = 0;
    if (c->eof)
        return EOF;
    errno = 0;
    c->inlen = fread(c->in, 1, CSV_CHUNK, c->f);
    if (c->inlen < CSV_CHUNK) {
        c->eof = true; /* fread only returns short at end of file or on error */
        if (ferror(c->f))
            c->ioerr = errno ? errno : EIO;
    }
    return c->inlen ? 0 : EOF;
}

static inline int csv__get(struct csv *c)
{
    if (c->inpos == c->inlen && csv__fill(c) == EOF)
        return EOF;
    return c->in[c->inpos++];
}

static inline int csv__peek(struct csv *c)
{
    if (c->inpos == c->inlen && csv__fill(c) == EOF)
        return EOF;
    return c->in[c->inpos];
}

/* Like utf8_valid_text, but CR and LF are allowed too (quoted fields). */
static bool csv__valid_quoted(const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || s[i] == '\r') {
            /* CR and LF are ASCII, so they never split a valid sequence */
            if (!utf8_valid_text(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return utf8_valid_text(s + start, len - start);
}

/* Skip blank lines and comments; *first is the first byte of a record, or EOF. */
static int csv__record_start(struct csv *c, struct dti_err *e, int *first)
{
    int r = 0;
    for (;;) {
        int ch = csv__get(c);
        if (ch == '\n') {
            c->line++;
        } else if (ch == '\r') {
            if (csv__peek(c) != '\n') {
                r = dti_errf(e, DTI_EPARSE, "line %zu: stray carriage return", c->line);
                goto out;
            }
            c->inpos++;
            c->line++;
        } else if (ch == '#') {
            while ((ch = csv__get(c)) != EOF && ch != '\n')
                ;
            if (ch == EOF) {
                *first = EOF;
                break;
            }
            c->line++;
        } else {
            *first = ch; /* EOF included */
            break;
        }
    }
out:
    return r;
}

/*
 * Parse one record starting with byte ch. Returns the number of fields, or a
 * negative DTI_E* code.
 */
static int csv__record(struct csv *c, int ch, struct dti_err *e)
{
    char *out = c->data;
    size_t raw = 0; /* bytes of the record on disk, line end excluded */
    size_t nfields = 0;
    int r;

#define CSV__COUNT()                                                                               \
    do {                                                                                           \
        if (++raw > CSV_MAX_RECORD) {                                                              \
            r = dti_errf(e, DTI_ETOOBIG, "line %zu: record longer than %d bytes", c->rec_line,     \
                         CSV_MAX_RECORD);                                                          \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

    for (;;) {
        size_t field_line = c->line;
        char *field = out;
        bool quoted = ch == '"';

        if (nfields == CSV_MAX_FIELDS) {
            r = dti_errf(e, DTI_ETOOBIG, "line %zu: more than %d fields", c->line, CSV_MAX_FIELDS);
            goto out;
        }
        if (quoted) {
            CSV__COUNT();
            for (;;) {
                ch = csv__get(c);
                if (ch == EOF) {
                    r = dti_errf(e, DTI_EPARSE, "line %zu: unterminated quoted field", field_line);
                    goto out;
                }
                if (ch == '"') {
                    CSV__COUNT();
                    if (csv__peek(c) != '"')
                        break;
                    c->inpos++;
                }
                CSV__COUNT();
                if (ch == '\n')
                    c->line++;
                *out++ = (char)ch;
            }
            ch = csv__get(c);
            if (ch != ',' && ch != '\n' && ch != '\r' && ch != EOF) {
                r = dti_errf(e, DTI_EPARSE, "line %zu: text after closing quote", c->line);
                goto out;
            }
        } else {
            while (ch != ',' && ch != '\n' && ch != '\r' && ch != EOF) {
                if (ch == '"') {
                    r = dti_errf(e, DTI_EPARSE, "line %zu: quote inside unquoted field", c->line);
                    goto out;
                }
                CSV__COUNT();
                *out++ = (char)ch;
                ch = csv__get(c);
            }
        }
        if (ch == '\r') {
            if (csv__peek(c) != '\n') {
                r = dti_errf(e, DTI_EPARSE, "line %zu: stray carriage return", c->line);
                goto out;
            }
            ch = csv__get(c);
        }

        if (quoted ? !csv__valid_quoted(field, (size_t)(out - field))
                   : !utf8_valid_text(field, (size_t)(out - field))) {
            r = dti_errf(e, DTI_EPARSE, "line %zu, field %zu: not valid UTF-8", field_line,
                         nfields + 1);
            goto out;
        }
        *out++ = '\0';
        c->fields[nfields++] = field;
        assert(out <= c->data + CSV_MAX_RECORD + 1);

        if (ch != ',')
            break;
        CSV__COUNT();
        ch = csv__get(c);
    }
#undef CSV__COUNT

    if (ch == '\n')
        c->line++;
    c->fields[nfields] = NULL;
    r = (int)nfields;
out:
    return r;
}

int csv_open(struct csv **out, FILE *f)
{
    assert(out && f);
    struct csv *c = xcalloc(1, sizeof(*c));
    c->f = f;
    c->in = xmalloc(CSV_CHUNK);
    c->data = xmalloc(CSV_MAX_RECORD + 1);
    c->line = 1;
    *out = c;
    return 0;
}

int csv_next(struct csv *c, char ***fields, size_t *nfields, struct dti_err *e)
{
    struct dti_err le = {0};
    int first = EOF;
    int r;

    if (c->err.code) {
        r = dti_errf(e, c->err.code, "%s", c->err.msg);
        goto out;
    }
    if (!c->started) {
        c->started = true;
        if (csv__fill(c) == 0 && c->inlen >= 3 && memcmp(c->in, "\xef\xbb\xbf", 3) == 0)
            c->inpos = 3;
    }

    r = csv__record_start(c, &le, &first);
    if (r == 0 && first != EOF) {
        c->rec_line = c->line;
        r = csv__record(c, first, &le);
    }
    if (c->ioerr) {
        dti_err_clear(&le);
        r = dti_errf(&le, DTI_EIO, "line %zu: read error: %s", c->line, strerror(c->ioerr));
    }
    if (r < 0) {
        c->err = le;
        dti_errf(e, r, "%s", le.msg);
        goto out;
    }
    if (r == 0) {
        *fields = NULL;
        *nfields = 0;
        goto out;
    }
    *fields = c->fields;
    *nfields = (size_t)r;
    r = 1;
out:
    return r;
}

size_t csv_line(const struct csv *c)
{
    return c->rec_line;
}

void csv_free(struct csv *c)
{
    if (!c)
        return;
    free(c->in);
    free(c->data);
    free(c);
}

int csv_put(struct buf *out, const char *s, bool first, bool text, size_t max)
{
    size_t n = strlen(s);
    bool cut = max > 0 && n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* back to the start of the character that did not fit */
    }
    bool formula = text && n > 0 && strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = formula || strcspn(s, ",\"\r\n") < n;
    int r = first ? 0 : buf_puts(out, ",");
    if (r == 0 && quote)
        r = buf_puts(out, "\"");
    if (r == 0 && formula)
        r = buf_puts(out, "'");
    for (size_t i = 0; r == 0 && i < n;) {
        size_t run = strcspn(s + i, "\"");
        if (run > n - i)
            run = n - i;
        r = buf_append(out, s + i, run);
        i += run;
        if (r == 0 && i < n) { /* a quote: doubled */
            r = buf_puts(out, "\"\"");
            i++;
        }
    }
    if (r == 0 && cut)
        r = buf_puts(out, "…");
    if (r == 0 && quote)
        r = buf_puts(out, "\"");
    return r;
}
