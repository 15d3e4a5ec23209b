/*
 * feed.c - GET /v1/changes.
 *
 * Values and notices share the hub's change numbers (meta "chg"), so one
 * query ordered by change number yields a page, and the cursor is the number
 * of the last row in it: nothing is skipped, nothing sent twice.
 */
#include "feed.h"
#include "changes.h"
#include "db.h"
#include "hubdb.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* columns: 0 row type (0 value, 1 notice, 2 framework), 1 unit | level, 2 element | id,
 * 3 period, 4 kind, 5 num, 6 txt | framework json, 7 hlc | framework version,
 * 8 origin | notice kind, 9 author | comment, 10 comment | by, 11 chg */
static const char feed_sql[] =
    "WITH RECURSIVE s(code) AS (SELECT ?1 UNION "
    "SELECT u.code FROM units u JOIN s ON u.parent = s.code) "
    "SELECT 0, v.unit, v.element, v.period, v.kind, v.num, v.txt, v.hlc, v.origin, "
    "coalesce(v.author, ''), coalesce(v.comment, ''), v.chg "
    "FROM vals v JOIN s ON v.unit = s.code WHERE v.chg > ?2 AND v.origin <> ?3 "
    "UNION ALL "
    "SELECT 1, unit, element, period, 0, NULL, NULL, hlc, kind, coalesce(comment, ''), "
    "coalesce(by_whom, ''), chg FROM notices WHERE agent = ?3 AND chg > ?2 "
    "UNION ALL "
    "SELECT 2, level, id, period, 0, NULL, json, version, '', '', '', chg FROM frameworks "
    "WHERE chg > ?2 AND level IN (SELECT u.level FROM units u JOIN s ON u.code = s.code) "
    "ORDER BY 12 LIMIT ?4";

#define FEED_PAGE_BYTES (8u << 20) /* frameworks are large: a page stops growing here */

static void page_release_copies(struct changes_page *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct change *c = &p->items[i];
        free((char *)c->unit);
        free((char *)c->element);
        free((char *)c->period);
        if (c->value.kind == VALUE_TEXT)
            free((char *)c->value.text);
        free((char *)c->origin);
        free((char *)c->author);
        free((char *)c->comment);
    }
    for (size_t i = 0; i < p->nnotices; i++) {
        struct notice *no = &p->notices[i];
        free((char *)no->unit);
        free((char *)no->element);
        free((char *)no->period);
        free((char *)no->kind);
        free((char *)no->comment);
        free((char *)no->by);
    }
    for (size_t i = 0; i < p->nframeworks; i++) {
        free((char *)p->frameworks[i].level);
        free((char *)p->frameworks[i].period);
        free((char *)p->frameworks[i].json);
    }
    free(p->items);
    free(p->notices);
    free(p->frameworks);
}

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
    if ((r = db_exec(db, "BEGIN", &e)) < 0) /* one snapshot for the whole page */
        goto out;
    if ((r = db_prepare(db, &st, feed_sql, &e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, ag.unit, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
    sqlite3_bind_text(st, 3, ag.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit + 1);
    /* rows are copied: a page holds at most CHANGES_PAGE_MAX of them */
    page.items = xcalloc(limit, sizeof(*page.items));
    page.notices = xcalloc(limit, sizeof(*page.notices));
    page.frameworks = xcalloc(limit, sizeof(*page.frameworks));
    uint64_t last = after;
    size_t rows = 0, bytes = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int type = sqlite3_column_int(st, 0);
        size_t size = (size_t)sqlite3_column_bytes(st, 6) + 64;
        if (rows == limit || (rows > 0 && bytes + size > FEED_PAGE_BYTES)) {
            page.more = true;
            break;
        }
        rows++;
        bytes += size;
        last = (uint64_t)sqlite3_column_int64(st, 11);
        if (type == 2) {
            struct framework_doc *fd = &page.frameworks[page.nframeworks++];
            fd->level = xstrdup(db_column_str(st, 1));
            fd->period = xstrdup(db_column_str(st, 3));
            fd->json = xstrdup(db_column_str(st, 6));
            fd->json_len = strlen(fd->json);
            fd->version = (uint64_t)sqlite3_column_int64(st, 7);
            continue;
        }
        if (type == 1) {
            struct notice *no = &page.notices[page.nnotices++];
            no->unit = xstrdup(db_column_str(st, 1));
            no->element = xstrdup(db_column_str(st, 2));
            no->period = xstrdup(db_column_str(st, 3));
            no->hlc = (uint64_t)sqlite3_column_int64(st, 7);
            no->kind = xstrdup(db_column_str(st, 8));
            no->comment = xstrdup(db_column_str(st, 9));
            no->by = xstrdup(db_column_str(st, 10));
            continue;
        }
        struct change *c = &page.items[page.n++];
        c->unit = xstrdup(db_column_str(st, 1));
        c->element = xstrdup(db_column_str(st, 2));
        c->period = xstrdup(db_column_str(st, 3));
        db_column_value(st, 4, &c->value);
        if (c->value.kind == VALUE_TEXT)
            c->value.text = xstrdup(c->value.text);
        c->hlc = (uint64_t)sqlite3_column_int64(st, 7);
        c->origin = xstrdup(db_column_str(st, 8));
        c->author = xstrdup(db_column_str(st, 9));
        c->comment = xstrdup(db_column_str(st, 10));
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
    page_release_copies(&page);
    if (r < 0) {
        pb->code = r;
        snprintf(pb->reason, sizeof(pb->reason), "%s", dti_reason(r));
        snprintf(pb->message, sizeof(pb->message), "%s", dti_err_text(&e, r));
    }
    return r;
}
