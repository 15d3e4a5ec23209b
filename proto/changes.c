/*
 * changes.c - sealing and opening change-feed pages.
 */
#include "changes.h"
#include "hubsigned.h"
#include "util.h"

#include "dtisync.pb-c.h"

#include <stdlib.h>
#include <string.h>

/* UTF-8 text where newlines and carriage returns are allowed too. */
static bool utf8_valid_json(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == '\n' || s[i] == '\r') {
            if (!utf8_valid_text(s + start, i - start))
                return false;
            start = i + 1;
        }
    return true;
}

bool notice_kind_valid(const char *kind)
{
    return kind && (!strcmp(kind, "overruled") || !strcmp(kind, "upheld") ||
                    !strcmp(kind, "accepted") || !strcmp(kind, "rejected") ||
                    !strcmp(kind, "conflict"));
}

int changes_seal(const struct changes_page *p, const struct signer *hub, struct buf *out,
                 struct dti_err *e)
{
    Dti__V1__Change *cs = xcalloc(p->n ? p->n : 1, sizeof(*cs));
    Dti__V1__Change **cp = xcalloc(p->n ? p->n : 1, sizeof(*cp));
    for (size_t i = 0; i < p->n; i++) {
        const struct change *c = &p->items[i];
        Dti__V1__Change *m = &cs[i];
        dti__v1__change__init(m);
        m->unit = (char *)c->unit;
        m->element = (char *)c->element;
        m->period = (char *)c->period;
        switch (c->value.kind) {
        case VALUE_NUMBER:
            m->value_case = DTI__V1__CHANGE__VALUE_NUMBER;
            m->number = c->value.num;
            break;
        case VALUE_BOOL:
            m->value_case = DTI__V1__CHANGE__VALUE_BOOLEAN;
            m->boolean = c->value.b;
            break;
        case VALUE_TEXT:
            m->value_case = DTI__V1__CHANGE__VALUE_TEXT;
            m->text = (char *)c->value.text;
            break;
        case VALUE_NONE:
            break;
        }
        m->hlc = c->hlc;
        m->origin = (char *)c->origin;
        m->author = (char *)(c->author ? c->author : "");
        m->comment = (char *)(c->comment ? c->comment : "");
        cp[i] = m;
    }
    Dti__V1__Changes msg = DTI__V1__CHANGES__INIT;
    msg.agent_id = (char *)p->agent_id;
    msg.after = p->after;
    msg.next = p->next;
    msg.more = p->more;
    msg.hub_hlc = p->hub_hlc;
    msg.n_changes = p->n;
    msg.changes = cp;
    Dti__V1__Notice *ns = xcalloc(p->nnotices ? p->nnotices : 1, sizeof(*ns));
    Dti__V1__Notice **np = xcalloc(p->nnotices ? p->nnotices : 1, sizeof(*np));
    for (size_t i = 0; i < p->nnotices; i++) {
        const struct notice *n = &p->notices[i];
        dti__v1__notice__init(&ns[i]);
        ns[i].unit = (char *)n->unit;
        ns[i].element = (char *)n->element;
        ns[i].period = (char *)n->period;
        ns[i].hlc = n->hlc;
        ns[i].kind = (char *)n->kind;
        ns[i].comment = (char *)(n->comment ? n->comment : "");
        ns[i].by = (char *)(n->by ? n->by : "");
        np[i] = &ns[i];
    }
    msg.n_notices = p->nnotices;
    msg.notices = np;
    Dti__V1__FrameworkDoc *fd = xcalloc(p->nframeworks ? p->nframeworks : 1, sizeof(*fd));
    Dti__V1__FrameworkDoc **fp = xcalloc(p->nframeworks ? p->nframeworks : 1, sizeof(*fp));
    for (size_t i = 0; i < p->nframeworks; i++) {
        dti__v1__framework_doc__init(&fd[i]);
        fd[i].version = p->frameworks[i].version;
        fd[i].level = (char *)p->frameworks[i].level;
        fd[i].period = (char *)p->frameworks[i].period;
        fd[i].json = (char *)p->frameworks[i].json;
        fp[i] = &fd[i];
    }
    msg.n_frameworks = p->nframeworks;
    msg.frameworks = fp;
    size_t n = dti__v1__changes__get_packed_size(&msg);
    uint8_t *bytes = xmalloc(n);
    dti__v1__changes__pack(&msg, bytes);
    int r = hubsigned_seal(bytes, n, hub, out, e);
    free(bytes);
    free(cs);
    free(cp);
    free(ns);
    free(np);
    free(fd);
    free(fp);
    return r;
}

int changes_open(const void *bytes, size_t len, const uint8_t hub_pub[CRYPTO_PUBKEY_LEN],
                 struct changes_page *p, struct dti_err *e)
{
    void *hs = NULL;
    const uint8_t *body;
    size_t blen;
    memset(p, 0, sizeof(*p));
    int r = hubsigned_open(bytes, len, hub_pub, &hs, &body, &blen, e);
    if (r < 0)
        return r;
    Dti__V1__Changes *m = dti__v1__changes__unpack(NULL, blen, body);
    hubsigned_free(hs);
    r = DTI_EPARSE;
    if (!m || m->n_changes > CHANGES_PAGE_MAX || m->n_notices > CHANGES_PAGE_MAX ||
        m->n_frameworks > CHANGES_PAGE_MAX || !origin_valid(m->agent_id) ||
        strlen(m->agent_id) != AGENT_ID_LEN || m->next < m->after) {
        dti_errf(e, r, "change page is malformed");
        goto fail;
    }
    p->items = xcalloc(m->n_changes ? m->n_changes : 1, sizeof(*p->items));
    for (size_t i = 0; i < m->n_changes; i++) {
        const Dti__V1__Change *c = m->changes[i];
        struct change *it = &p->items[i];
        struct dti_err ke = {0};
        if (key_check(c->unit, c->element, c->period, &ke) < 0 || !origin_valid(c->origin) ||
            c->hlc == 0 || strlen(c->author) > AUTHOR_MAX || strlen(c->comment) > COMMENT_MAX ||
            !utf8_valid_text(c->author, strlen(c->author)) ||
            !utf8_valid_text(c->comment, strlen(c->comment))) {
            dti_errf(e, r, "change %zu is invalid", i);
            goto fail;
        }
        it->unit = c->unit;
        it->element = c->element;
        it->period = c->period;
        it->hlc = c->hlc;
        it->origin = c->origin;
        it->author = c->author;
        it->comment = c->comment;
        switch (c->value_case) {
        case DTI__V1__CHANGE__VALUE_INTEGER:
            it->value.kind = VALUE_NUMBER;
            it->value.num = (double)c->integer;
            break;
        case DTI__V1__CHANGE__VALUE_NUMBER:
            it->value.kind = VALUE_NUMBER;
            it->value.num = c->number;
            break;
        case DTI__V1__CHANGE__VALUE_BOOLEAN:
            it->value.kind = VALUE_BOOL;
            it->value.b = c->boolean;
            break;
        case DTI__V1__CHANGE__VALUE_TEXT:
            it->value.kind = VALUE_TEXT;
            it->value.text = c->text;
            break;
        default:
            dti_errf(e, r, "change %zu has no value", i);
            goto fail;
        }
        if (value_check(&it->value, &ke) < 0) {
            dti_errf(e, r, "change %zu: %s", i, ke.msg);
            goto fail;
        }
    }
    p->notices = xcalloc(m->n_notices ? m->n_notices : 1, sizeof(*p->notices));
    for (size_t i = 0; i < m->n_notices; i++) {
        const Dti__V1__Notice *nm = m->notices[i];
        struct dti_err ke = {0};
        if (key_check(nm->unit, nm->element, nm->period, &ke) < 0 || nm->hlc == 0 ||
            !notice_kind_valid(nm->kind) || strlen(nm->comment) > COMMENT_MAX ||
            !utf8_valid_text(nm->comment, strlen(nm->comment)) || strlen(nm->by) > AUTHOR_MAX ||
            !utf8_valid_text(nm->by, strlen(nm->by))) {
            dti_errf(e, r, "notice %zu is invalid", i);
            goto fail;
        }
        struct notice *n = &p->notices[i];
        n->unit = nm->unit;
        n->element = nm->element;
        n->period = nm->period;
        n->hlc = nm->hlc;
        n->kind = nm->kind;
        n->comment = nm->comment;
        n->by = nm->by;
    }
    p->nnotices = m->n_notices;
    p->frameworks = xcalloc(m->n_frameworks ? m->n_frameworks : 1, sizeof(*p->frameworks));
    for (size_t i = 0; i < m->n_frameworks; i++) {
        const Dti__V1__FrameworkDoc *d = m->frameworks[i];
        size_t jl = strlen(d->json);
        if (d->version == 0 || !period_valid(d->period) || !unit_code_valid(d->level) || jl == 0 ||
            jl > FRAMEWORK_JSON_MAX || !utf8_valid_json(d->json, jl)) {
            dti_errf(e, r, "framework %zu is invalid", i);
            goto fail;
        }
        p->frameworks[i].version = d->version;
        p->frameworks[i].level = d->level;
        p->frameworks[i].period = d->period;
        p->frameworks[i].json = d->json;
        p->frameworks[i].json_len = jl;
    }
    p->nframeworks = m->n_frameworks;
    memcpy(p->agent_id, m->agent_id, AGENT_ID_LEN + 1);
    p->after = m->after;
    p->next = m->next;
    p->more = m->more;
    p->hub_hlc = m->hub_hlc;
    p->n = m->n_changes;
    p->msg = m;
    return 0;
fail:
    free(p->items);
    free(p->notices);
    free(p->frameworks);
    if (m)
        dti__v1__changes__free_unpacked(m, NULL);
    memset(p, 0, sizeof(*p));
    return r;
}

void changes_release(struct changes_page *p)
{
    free(p->items);
    free(p->notices);
    free(p->frameworks);
    if (p->msg)
        dti__v1__changes__free_unpacked(p->msg, NULL);
    memset(p, 0, sizeof(*p));
}
