/*
 * feed.c - GET /v1/changes.
 */
#include "feed.h"
#include "changes.h"
#include "db.h"
#include "hubdb.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int feed_page(sqlite3 *db, const struct signer *hub, const char *agent_id, uint64_t after,
              size_t limit, uint64_t hub_hlc, struct buf *out, struct problem *pb)
{
    struct dti_err e = {0};
    struct agent_row ag;
    sqlite3_stmt *st = NULL;
    struct changes_page page = {0};
    int r;
    memset(pb, 0, sizeof(*pb));
    if (limit == 0 || limit > CHANGES_PAGE_MAX)
        limit = CHANGES_PAGE_MAX;
    if ((r = agents_get(db, agent_id, &ag, &e)) < 0)
        goto out;
    if (ag.revoked) {
        r = dti_errf(&e, DTI_EREVOKED, "agent %s has been revoked", agent_id);
        goto out;
    }
    /* one snapshot for the whole page */
    if ((r = db_exec(db, "BEGIN", &e)) < 0)
        goto out;
    if ((r = db_prepare(db, &st,
                        "WITH RECURSIVE s(code) AS (SELECT ?1 UNION "
                        "SELECT u.code FROM units u JOIN s ON u.parent = s.code) "
                        "SELECT v.unit, v.element, v.period, v.kind, v.num, v.txt, v.hlc, "
                        "v.origin, coalesce(v.author, ''), coalesce(v.comment, ''), v.chg "
                        "FROM vals v JOIN s ON v.unit = s.code "
                        "WHERE v.chg > ?2 AND v.origin <> ?3 ORDER BY v.chg LIMIT ?4",
                        &e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, ag.unit, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
    sqlite3_bind_text(st, 3, ag.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit + 1);
    /* rows are copied: a page holds at most CHANGES_PAGE_MAX of them */
    size_t cap = 64;
    page.items = xcalloc(cap, sizeof(*page.items));
    uint64_t last = after;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (page.n == limit) {
            page.more = true;
            break;
        }
        if (page.n == cap) {
            cap *= 2;
            page.items = xrealloc(page.items, cap * sizeof(*page.items));
        }
        struct change *c = &page.items[page.n++];
        memset(c, 0, sizeof(*c));
        c->unit = xstrdup(db_column_str(st, 0));
        c->element = xstrdup(db_column_str(st, 1));
        c->period = xstrdup(db_column_str(st, 2));
        db_column_value(st, 3, &c->value);
        if (c->value.kind == VALUE_TEXT)
            c->value.text = xstrdup(c->value.text);
        c->hlc = (uint64_t)sqlite3_column_int64(st, 6);
        c->origin = xstrdup(db_column_str(st, 7));
        c->author = xstrdup(db_column_str(st, 8));
        c->comment = xstrdup(db_column_str(st, 9));
        last = (uint64_t)sqlite3_column_int64(st, 10);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = db_fail(db, &e, "read changes");
        goto out;
    }
    memcpy(page.agent_id, ag.id, sizeof(page.agent_id));
    page.after = after;
    page.next = last;
    page.hub_hlc = hub_hlc;
    r = changes_seal(&page, hub, out, &e);
out:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(db))
        db_exec(db, "COMMIT", NULL);
    for (size_t i = 0; i < page.n; i++) {
        struct change *c = &page.items[i];
        free((char *)c->unit);
        free((char *)c->element);
        free((char *)c->period);
        if (c->value.kind == VALUE_TEXT)
            free((char *)c->value.text);
        free((char *)c->origin);
        free((char *)c->author);
        free((char *)c->comment);
    }
    free(page.items);
    if (r < 0) {
        pb->code = r;
        snprintf(pb->reason, sizeof(pb->reason), "%s", dti_reason(r));
        snprintf(pb->message, sizeof(pb->message), "%s", dti_err_text(&e, r));
    }
    return r;
}
