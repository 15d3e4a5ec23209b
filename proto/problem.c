/*
 * problem.c - refusal bodies.
 */
#include "problem.h"
#include "util.h"

#include "dtisync.pb-c.h"

#include <string.h>

int problem_encode(const struct problem *p, struct buf *out)
{
    Dti__V1__Error m = DTI__V1__ERROR__INIT;
    m.reason = (char *)(p->reason[0] ? p->reason : dti_reason(p->code));
    m.message = (char *)p->message;
    m.expected_seq = p->expected_seq;
    m.hub_hlc = p->hub_hlc;
    size_t n = dti__v1__error__get_packed_size(&m);
    buf_reset(out);
    int r = buf_reserve(out, n);
    if (r < 0)
        return r;
    dti__v1__error__pack(&m, out->data);
    out->len = n;
    return 0;
}

static void copy_clean(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    while (n > 0 && !utf8_valid_text(src, n)) /* keep whole characters only */
        n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int problem_decode(const void *bytes, size_t len, struct problem *p)
{
    memset(p, 0, sizeof(*p));
    if (len > 65536)
        return DTI_ETOOBIG;
    Dti__V1__Error *m = dti__v1__error__unpack(NULL, len, bytes);
    if (!m)
        return DTI_EPARSE;
    copy_clean(p->reason, sizeof(p->reason), m->reason);
    copy_clean(p->message, sizeof(p->message), m->message);
    p->expected_seq = m->expected_seq;
    p->hub_hlc = m->hub_hlc;
    p->code = dti_from_reason(p->reason);
    dti__v1__error__free_unpacked(m, NULL);
    return 0;
}
