/*
 * reconcile.c - the operator's decisions and the views behind them
 * (see reconcile.h and docs/internals/MERGE.md).
 */
#include "reconcile.h"
#include "cli.h"
#include "db.h"
#include "hlc.h"
#include "hubdb.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One version of a key, wherever it is kept (current, history, amendment). */
struct version {
    bool found;
    struct value v; /* text owned (txt) */
    char *txt;
    char author[AUTHOR_MAX + 1];
    char comment[COMMENT_MAX + 1];
    int64_t seq; /* batch of its agent, 0 for hub versions */
    char where[24];
};

static void version_release(struct version *ver)
{
    free(ver->txt);
    memset(ver, 0, sizeof(*ver));
}

static int load_version(sqlite3 *db, const char *unit, const char *element, const char *period,
                        uint64_t hlc, const char *origin, struct version *ver, struct dti_err *e)
{
    static const char sql[] =
        "SELECT kind, num, txt, coalesce(author, ''), coalesce(comment, ''), coalesce(seq, 0), "
        "'current' FROM vals WHERE unit = ?1 AND element = ?2 AND period = ?3 AND hlc = ?4 AND "
        "origin = ?5 "
        "UNION ALL SELECT kind, num, txt, coalesce(author, ''), coalesce(comment, ''), "
        "coalesce(seq, 0), fate FROM history WHERE unit = ?1 AND element = ?2 AND period = ?3 "
        "AND hlc = ?4 AND origin = ?5 "
        "UNION ALL SELECT kind, num, txt, coalesce(author, ''), coalesce(comment, ''), "
        "coalesce(seq, 0), 'amendment ' || status FROM amendments WHERE unit = ?1 AND "
        "element = ?2 AND period = ?3 AND hlc = ?4 AND origin = ?5 LIMIT 1";
    sqlite3_stmt *st = NULL;
    memset(ver, 0, sizeof(*ver));
    int r = db_prepare(db, &st, sql, e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc);
    sqlite3_bind_text(st, 5, origin, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ver->found = true;
        db_column_value(st, 0, &ver->v);
        if (ver->v.kind == VALUE_TEXT) {
            ver->txt = xstrdup(ver->v.text);
            ver->v.text = ver->txt;
        }
        snprintf(ver->author, sizeof(ver->author), "%s", db_column_str(st, 3));
        snprintf(ver->comment, sizeof(ver->comment), "%s", db_column_str(st, 4));
        ver->seq = sqlite3_column_int64(st, 5);
        snprintf(ver->where, sizeof(ver->where), "%s", db_column_str(st, 6));
    } else if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read version");
    }
    sqlite3_finalize(st);
    return r;
}

/* ---- small writers shared by the decisions ---- */

static int run(sqlite3 *db, sqlite3_stmt *st, const char *what, struct dti_err *e)
{
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(db, e, what);
    sqlite3_finalize(st);
    return r;
}

/* The hub clock, persisted with the transaction that uses it. */
static int hub_tick(sqlite3 *db, uint64_t now_ms, uint64_t *hlc, struct dti_err *e)
{
    struct hlc c = {0};
    int r = db_meta_get_u64(db, "hlc", 0, &c.last, e);
    if (r < 0)
        return r;
    *hlc = hlc_tick(&c, now_ms);
    return db_meta_set_u64(db, "hlc", c.last, e);
}

static int audit(sqlite3 *db, const struct actor *who, const char *action, const char *detail,
                 struct dti_err *e)
{
    return hubdb_audit(db, who->now_ms, who->by, action, detail, e);
}

static int notify(sqlite3 *db, const char *agent, const char *unit, const char *element,
                  const char *period, uint64_t hlc, const char *kind, const char *comment,
                  const struct actor *who, struct dti_err *e)
{
    if (!strcmp(agent, ORIGIN_HUB))
        return 0; /* the hub's own versions have no office to tell */
    uint64_t chg;
    sqlite3_stmt *st = NULL;
    int r = hubdb_next_chg(db, &chg, e);
    if (r < 0 ||
        (r = db_prepare(db, &st,
                        "INSERT INTO notices(agent, unit, element, period, hlc, kind, comment, "
                        "by_whom, chg, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                        "?10)",
                        e)) < 0)
        return r;
    sqlite3_bind_text(st, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)hlc);
    sqlite3_bind_text(st, 6, kind, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 7, comment);
    sqlite3_bind_text(st, 8, who->by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)chg);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)who->now_ms);
    return run(db, st, "record notice", e);
}

/* Make v the key's current value as a new hub version; the old current goes
 * to history with fate. */
static int write_hub_version(sqlite3 *db, const char *unit, const char *element, const char *period,
                             const struct value *v, const char *comment, const char *fate,
                             const struct actor *who, struct dti_err *e)
{
    uint64_t hlc, chg;
    sqlite3_stmt *st = NULL;
    int r;
    if ((r = hub_tick(db, who->now_ms, &hlc, e)) < 0 || (r = hubdb_next_chg(db, &chg, e)) < 0)
        return r;
    if ((r = db_prepare(db, &st,
                        "INSERT INTO history(unit, element, period, kind, num, txt, hlc, origin, "
                        "auth, base_hlc, base_origin, author, comment, seq, fate, recorded_ms) "
                        "SELECT unit, element, period, kind, num, txt, hlc, origin, auth, "
                        "base_hlc, base_origin, author, comment, seq, ?4, ?5 FROM vals "
                        "WHERE unit = ?1 AND element = ?2 AND period = ?3",
                        e)) < 0)
        return r;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, fate, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)who->now_ms);
    if ((r = run(db, st, "keep previous version", e)) < 0)
        return r;
    if ((r = db_prepare(
             db, &st,
             "INSERT INTO vals(unit, element, period, kind, num, txt, hlc, origin, auth, "
             "base_hlc, base_origin, author, comment, seq, chg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
             "?7, 'hub', ?8, 0, NULL, ?9, ?10, NULL, ?11) ON CONFLICT DO UPDATE SET "
             "base_hlc = vals.hlc, base_origin = vals.origin, kind = excluded.kind, "
             "num = excluded.num, txt = excluded.txt, hlc = excluded.hlc, origin = 'hub', "
             "auth = excluded.auth, author = excluded.author, comment = excluded.comment, "
             "seq = NULL, chg = excluded.chg",
             e)) < 0)
        return r;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    db_bind_value(st, 4, v);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)hlc);
    sqlite3_bind_int(st, 8, AUTH_HUB);
    sqlite3_bind_text(st, 9, who->by, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 10, comment);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)chg);
    return run(db, st, "store the decided value", e);
}

static const char *keep_name(enum resolve_keep k)
{
    return k == KEEP_CURRENT ? "current" : k == KEEP_INCOMING ? "incoming" : "value";
}

/* ---- resolve ---- */

struct party {
    uint64_t hlc;
    char origin[AGENT_ID_LEN + 1];
};

int reconcile_resolve(sqlite3 *db, int64_t id, enum resolve_keep keep, const struct value *v,
                      const char *comment, const struct actor *who, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    struct version chosen = {0};
    struct party *parties = NULL;
    size_t nparties = 0;
    char unit[UNIT_CODE_MAX + 1], element[ELEMENT_CODE_MAX + 1], period[PERIOD_MAX + 1];
    struct party cur, inc;
    struct value value;
    int r = db_begin(db, e);
    if (r < 0)
        return r;
    if ((r = db_prepare(db, &st,
                        "SELECT unit, element, period, current_hlc, current_origin, "
                        "incoming_hlc, incoming_origin, status FROM conflicts WHERE id = ?1",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = dti_errf(e, DTI_ENOTFOUND, "no conflict %" PRId64, id);
        goto out;
    }
    if (strcmp(db_column_str(st, 7), "open") != 0) {
        r = dti_errf(e, DTI_ESTATE, "conflict %" PRId64 " is already resolved", id);
        goto out;
    }
    snprintf(unit, sizeof(unit), "%s", db_column_str(st, 0));
    snprintf(element, sizeof(element), "%s", db_column_str(st, 1));
    snprintf(period, sizeof(period), "%s", db_column_str(st, 2));
    cur.hlc = (uint64_t)sqlite3_column_int64(st, 3);
    snprintf(cur.origin, sizeof(cur.origin), "%s", db_column_str(st, 4));
    inc.hlc = (uint64_t)sqlite3_column_int64(st, 5);
    snprintf(inc.origin, sizeof(inc.origin), "%s", db_column_str(st, 6));
    sqlite3_finalize(st);
    st = NULL;

    if (keep == KEEP_VALUE) {
        value = *v;
    } else {
        const struct party *p = keep == KEEP_CURRENT ? &cur : &inc;
        if ((r = load_version(db, unit, element, period, p->hlc, p->origin, &chosen, e)) < 0)
            goto out;
        if (!chosen.found) {
            r = dti_errf(e, DTI_EDB, "the %s version of conflict %" PRId64 " is missing",
                         keep_name(keep), id);
            goto out;
        }
        value = chosen.v;
    }
    if ((r = write_hub_version(db, unit, element, period, &value, comment, "resolved", who, e)) < 0)
        goto out;

    /* every open conflict on the key is settled by this one authoritative value */
    if ((r = db_prepare(db, &st,
                        "UPDATE conflicts SET status = 'resolved', resolution = ?4, "
                        "resolved_ms = ?5, resolved_by = ?6, comment = ?7 WHERE unit = ?1 AND "
                        "element = ?2 AND period = ?3 AND status = 'open' "
                        "RETURNING current_hlc, current_origin, incoming_hlc, incoming_origin",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, keep_name(keep), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)who->now_ms);
    sqlite3_bind_text(st, 6, who->by, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 7, comment);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int k = 0; k < 2; k++) {
            struct party p;
            p.hlc = (uint64_t)sqlite3_column_int64(st, 2 * k);
            snprintf(p.origin, sizeof(p.origin), "%s", db_column_str(st, 2 * k + 1));
            bool seen = false;
            for (size_t i = 0; i < nparties; i++)
                seen |= parties[i].hlc == p.hlc && !strcmp(parties[i].origin, p.origin);
            if (!seen) {
                parties = xrealloc(parties, (nparties + 1) * sizeof(*parties));
                parties[nparties++] = p;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "resolve conflicts");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* tell each office whose version was in the conflict what became of it */
    for (size_t i = 0; i < nparties; i++) {
        struct version pv;
        if ((r = load_version(db, unit, element, period, parties[i].hlc, parties[i].origin, &pv,
                              e)) < 0)
            goto out;
        const char *kind = pv.found && value_equal(&pv.v, &value) ? "upheld" : "overruled";
        version_release(&pv);
        if ((r = notify(db, parties[i].origin, unit, element, period, parties[i].hlc, kind, comment,
                        who, e)) < 0)
            goto out;
    }
    char txt[128], *detail;
    value_format(&value, txt, sizeof(txt));
    detail = xasprintf("conflict %" PRId64 " on %s/%s/%s: kept %s (%s)%s%s", id, unit, element,
                       period, keep_name(keep), txt, comment ? ": " : "", comment ? comment : "");
    r = audit(db, who, "resolve", detail, e);
    free(detail);
    if (r < 0)
        goto out;
    r = db_commit(db, e);
out:
    sqlite3_finalize(st);
    version_release(&chosen);
    free(parties);
    if (r < 0)
        db_rollback(db);
    return r;
}

/* ---- locks ---- */

static int check_scope_args(sqlite3 *db, const char *period, const char *unit, const char *level,
                            struct dti_err *e)
{
    char lv[16];
    if (!period_valid(period))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s'", period);
    if (unit && level)
        return dti_errf(e, DTI_EINVAL, "give a unit or a level, not both");
    if (unit)
        return units_level(db, unit, lv, e);
    if (level && strcmp(level, "province") && strcmp(level, "district") &&
        strcmp(level, "commune") && strcmp(level, "department"))
        return dti_errf(e, DTI_EINVAL,
                        "level '%s' is not province, district, commune or department", level);
    return 0;
}

static char *scope_text(const char *unit, const char *level)
{
    return unit    ? xasprintf("unit %s", unit)
           : level ? xasprintf("level %s", level)
                   : xstrdup("the whole province");
}

int reconcile_lock(sqlite3 *db, const char *period, const char *unit, const char *level,
                   const char *state, const struct actor *who, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = check_scope_args(db, period, unit, level, e);
    if (r < 0)
        return r;
    if ((r = db_begin(db, e)) < 0)
        return r;
    if ((r = db_prepare(db, &st,
                        "SELECT 1 FROM locks WHERE removed_ms IS NULL AND period = ?1 AND "
                        "unit IS ?2 AND level IS ?3 AND state = ?4",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, period, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 2, unit);
    db_bind_text_or_null(st, 3, level);
    sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
    bool exists = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    st = NULL;
    char *scope = scope_text(unit, level);
    if (exists) {
        r = dti_errf(e, DTI_EEXISTS, "period %s is already %s for %s", period, state, scope);
        free(scope);
        goto out;
    }
    if ((r = db_prepare(db, &st,
                        "INSERT INTO locks(period, unit, level, state, created_ms, created_by) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        e)) == 0) {
        sqlite3_bind_text(st, 1, period, -1, SQLITE_STATIC);
        db_bind_text_or_null(st, 2, unit);
        db_bind_text_or_null(st, 3, level);
        sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)who->now_ms);
        sqlite3_bind_text(st, 6, who->by, -1, SQLITE_STATIC);
        r = run(db, st, "store lock", e);
        st = NULL;
    }
    if (r == 0) {
        char *detail = xasprintf("period %s %s for %s", period, state, scope);
        r = audit(db, who, strcmp(state, "approved") ? "lock" : "approve", detail, e);
        free(detail);
    }
    free(scope);
    if (r == 0)
        r = db_commit(db, e);
out:
    sqlite3_finalize(st);
    if (r < 0)
        db_rollback(db);
    return r;
}

int reconcile_unlock(sqlite3 *db, const char *period, const char *unit, const char *level,
                     const struct actor *who, size_t *removed, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = check_scope_args(db, period, unit, level, e);
    if (r < 0)
        return r;
    if ((r = db_begin(db, e)) < 0)
        return r;
    if ((r = db_prepare(db, &st,
                        "UPDATE locks SET removed_ms = ?4, removed_by = ?5 WHERE "
                        "removed_ms IS NULL AND period = ?1 AND unit IS ?2 AND level IS ?3",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, period, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 2, unit);
    db_bind_text_or_null(st, 3, level);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)who->now_ms);
    sqlite3_bind_text(st, 5, who->by, -1, SQLITE_STATIC);
    if ((r = run(db, st, "remove lock", e)) < 0) {
        st = NULL;
        goto out;
    }
    st = NULL;
    *removed = (size_t)sqlite3_changes(db);
    char *scope = scope_text(unit, level);
    if (*removed == 0) {
        r = dti_errf(e, DTI_ENOTFOUND, "period %s is not locked for %s", period, scope);
    } else {
        char *detail = xasprintf("period %s unlocked for %s", period, scope);
        r = audit(db, who, "unlock", detail, e);
        free(detail);
    }
    free(scope);
    if (r == 0)
        r = db_commit(db, e);
out:
    sqlite3_finalize(st);
    if (r < 0)
        db_rollback(db);
    return r;
}

int reconcile_is_locked(sqlite3 *db, const char *unit, const char *period, bool *locked,
                        struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "SELECT 1 FROM locks WHERE removed_ms IS NULL AND period = ?2 AND "
                       "(unit = ?1 OR (unit IS NULL AND (level IS NULL OR "
                       "level = (SELECT level FROM units WHERE code = ?1)))) LIMIT 1",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        *locked = rc == SQLITE_ROW;
    else
        r = db_fail(db, e, "read locks");
    sqlite3_finalize(st);
    return r;
}

/* ---- amendments ---- */

struct amendment {
    char unit[UNIT_CODE_MAX + 1], element[ELEMENT_CODE_MAX + 1], period[PERIOD_MAX + 1];
    char origin[AGENT_ID_LEN + 1];
    uint64_t hlc;
    struct value v;
    char *txt;
};

static int load_pending_amendment(sqlite3 *db, int64_t id, struct amendment *a, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    memset(a, 0, sizeof(*a));
    int r = db_prepare(db, &st,
                       "SELECT unit, element, period, origin, hlc, kind, num, txt, status "
                       "FROM amendments WHERE id = ?1",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = dti_errf(e, DTI_ENOTFOUND, "no amendment %" PRId64, id);
    } else if (strcmp(db_column_str(st, 8), "pending") != 0) {
        r = dti_errf(e, DTI_ESTATE, "amendment %" PRId64 " is already %s", id,
                     db_column_str(st, 8));
    } else {
        snprintf(a->unit, sizeof(a->unit), "%s", db_column_str(st, 0));
        snprintf(a->element, sizeof(a->element), "%s", db_column_str(st, 1));
        snprintf(a->period, sizeof(a->period), "%s", db_column_str(st, 2));
        snprintf(a->origin, sizeof(a->origin), "%s", db_column_str(st, 3));
        a->hlc = (uint64_t)sqlite3_column_int64(st, 4);
        db_column_value(st, 5, &a->v);
        if (a->v.kind == VALUE_TEXT) {
            a->txt = xstrdup(a->v.text);
            a->v.text = a->txt;
        }
    }
    sqlite3_finalize(st);
    return r;
}

static int decide_amendment(sqlite3 *db, int64_t id, bool accept, const char *comment,
                            const struct actor *who, struct dti_err *e)
{
    struct amendment a;
    sqlite3_stmt *st = NULL;
    const char *status = accept ? "accepted" : "rejected";
    int r = db_begin(db, e);
    if (r < 0)
        return r;
    if ((r = load_pending_amendment(db, id, &a, e)) < 0)
        goto out;
    if (accept &&
        (r = write_hub_version(db, a.unit, a.element, a.period, &a.v,
                               comment ? comment : "amendment accepted", "amended", who, e)) < 0)
        goto out;
    if ((r = db_prepare(db, &st,
                        "UPDATE amendments SET status = ?2, decided_ms = ?3, decided_by = ?4, "
                        "decision = ?5 WHERE id = ?1",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)who->now_ms);
    sqlite3_bind_text(st, 4, who->by, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 5, comment);
    r = run(db, st, "decide amendment", e);
    st = NULL;
    if (r < 0 ||
        (r = notify(db, a.origin, a.unit, a.element, a.period, a.hlc, status, comment, who, e)) < 0)
        goto out;
    char *detail = xasprintf("amendment %" PRId64 " on %s/%s/%s %s%s%s", id, a.unit, a.element,
                             a.period, status, comment ? ": " : "", comment ? comment : "");
    r = audit(db, who, accept ? "accept" : "reject", detail, e);
    free(detail);
    if (r == 0)
        r = db_commit(db, e);
out:
    sqlite3_finalize(st);
    free(a.txt);
    if (r < 0)
        db_rollback(db);
    return r;
}

int reconcile_accept(sqlite3 *db, int64_t id, const char *comment, const struct actor *who,
                     struct dti_err *e)
{
    return decide_amendment(db, id, true, comment, who, e);
}

int reconcile_reject(sqlite3 *db, int64_t id, const char *comment, const struct actor *who,
                     struct dti_err *e)
{
    if (!comment || !*comment)
        return dti_errf(e, DTI_EINVAL, "a rejection needs a comment: the office will read it");
    return decide_amendment(db, id, false, comment, who, e);
}

/* ---- views ---- */

static json_t *time_json(uint64_t ms)
{
    char t[32];
    if (!ms)
        return json_null();
    format_utc(ms, t);
    return json_string(t);
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* {"version", "agent", "value", "author", "comment", "batch", "kept_as"} of one version */
static json_t *version_json(sqlite3 *db, const char *unit, const char *element, const char *period,
                            uint64_t hlc, const char *origin)
{
    char ver[40];
    struct version v;
    if (!hlc)
        return json_null();
    hlc_format(hlc, ver);
    json_t *o = json_pack("{s:s, s:s}", "version", ver, "agent", origin);
    if (load_version(db, unit, element, period, hlc, origin, &v, NULL) == 0 && v.found) {
        json_object_set_new(o, "value", cli_json_value(&v.v));
        json_object_set_new(o, "author", str_or_null(v.author));
        json_object_set_new(o, "comment", str_or_null(v.comment));
        json_object_set_new(o, "batch", v.seq ? json_integer(v.seq) : json_null());
        json_object_set_new(o, "kept_as", json_string(v.where));
    }
    version_release(&v);
    return o;
}

static const char conflict_cols[] =
    "SELECT id, unit, element, period, base_hlc, coalesce(base_origin, ''), current_hlc, "
    "current_origin, incoming_hlc, incoming_origin, winner_hlc, winner_origin, status, "
    "coalesce(resolution, ''), created_ms, coalesce(resolved_ms, 0), "
    "coalesce(resolved_by, ''), coalesce(comment, '') FROM conflicts ";

static json_t *conflict_row_json(sqlite3 *db, sqlite3_stmt *st, bool full)
{
    const char *unit = db_column_str(st, 1), *element = db_column_str(st, 2),
               *period = db_column_str(st, 3);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id",
                          (json_int_t)sqlite3_column_int64(st, 0), "unit", unit, "element", element,
                          "period", period, "status", db_column_str(st, 12));
    json_object_set_new(o, "created", time_json((uint64_t)sqlite3_column_int64(st, 14)));
    if (full)
        json_object_set_new(o, "base",
                            version_json(db, unit, element, period,
                                         (uint64_t)sqlite3_column_int64(st, 4),
                                         db_column_str(st, 5)));
    json_object_set_new(o, "current",
                        version_json(db, unit, element, period,
                                     (uint64_t)sqlite3_column_int64(st, 6), db_column_str(st, 7)));
    json_object_set_new(o, "incoming",
                        version_json(db, unit, element, period,
                                     (uint64_t)sqlite3_column_int64(st, 8), db_column_str(st, 9)));
    char ver[40];
    hlc_format((uint64_t)sqlite3_column_int64(st, 10), ver);
    json_object_set_new(o, "used_for_scoring",
                        json_pack("{s:s, s:s}", "version", ver, "agent", db_column_str(st, 11)));
    if (strcmp(db_column_str(st, 12), "open") != 0) {
        json_object_set_new(o, "resolution", json_string(db_column_str(st, 13)));
        json_object_set_new(o, "resolved", time_json((uint64_t)sqlite3_column_int64(st, 15)));
        json_object_set_new(o, "resolved_by", str_or_null(db_column_str(st, 16)));
        json_object_set_new(o, "comment", str_or_null(db_column_str(st, 17)));
    }
    return o;
}

int reconcile_conflicts_json(sqlite3 *db, const char *status, const char *unit, json_t **out,
                             struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    char *sql = xasprintf("%s WHERE (?1 = 'all' OR status = ?1) AND (?2 IS NULL OR unit = ?2) "
                          "ORDER BY id",
                          conflict_cols);
    int r = db_prepare(db, &st, sql, e);
    free(sql);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    db_bind_text_or_null(st, 2, unit);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, conflict_row_json(db, st, false));
    sqlite3_finalize(st);
    *out = arr;
    return 0;
}

int reconcile_conflict_json(sqlite3 *db, int64_t id, json_t **out, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    char *sql = xasprintf("%s WHERE id = ?1", conflict_cols);
    int r = db_prepare(db, &st, sql, e);
    free(sql);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return dti_errf(e, DTI_ENOTFOUND, "no conflict %" PRId64, id);
    }
    json_t *o = conflict_row_json(db, st, true);
    json_t *hist = NULL;
    r = reconcile_history_json(db, db_column_str(st, 1), db_column_str(st, 2), db_column_str(st, 3),
                               &hist, e);
    sqlite3_finalize(st);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    json_object_set_new(o, "history", hist);
    *out = o;
    return 0;
}

int reconcile_amendments_json(sqlite3 *db, const char *status, json_t **out, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "SELECT id, unit, element, period, kind, num, txt, hlc, origin, "
                       "coalesce(author, ''), coalesce(comment, ''), coalesce(seq, 0), status, "
                       "created_ms, coalesce(decided_ms, 0), coalesce(decided_by, ''), "
                       "coalesce(decision, '') FROM amendments "
                       "WHERE (?1 = 'all' OR status = ?1) ORDER BY id",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct value v;
        char ver[40];
        db_column_value(st, 4, &v);
        hlc_format((uint64_t)sqlite3_column_int64(st, 7), ver);
        json_t *o = json_pack(
            "{s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:I, s:s, s:o}", "id",
            (json_int_t)sqlite3_column_int64(st, 0), "unit", db_column_str(st, 1), "element",
            db_column_str(st, 2), "period", db_column_str(st, 3), "value", cli_json_value(&v),
            "version", ver, "agent", db_column_str(st, 8), "author",
            str_or_null(db_column_str(st, 9)), "comment", str_or_null(db_column_str(st, 10)),
            "batch", (json_int_t)sqlite3_column_int64(st, 11), "status", db_column_str(st, 12),
            "received", time_json((uint64_t)sqlite3_column_int64(st, 13)));
        if (strcmp(db_column_str(st, 12), "pending") != 0) {
            json_object_set_new(o, "decided", time_json((uint64_t)sqlite3_column_int64(st, 14)));
            json_object_set_new(o, "decided_by", str_or_null(db_column_str(st, 15)));
            json_object_set_new(o, "decision", str_or_null(db_column_str(st, 16)));
        }
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    *out = arr;
    return 0;
}

int reconcile_locks_json(sqlite3 *db, json_t **out, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st,
                       "SELECT id, period, coalesce(unit, ''), coalesce(level, ''), state, "
                       "created_ms, created_by FROM locks WHERE removed_ms IS NULL "
                       "ORDER BY period, id",
                       e);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *unit = db_column_str(st, 2), *level = db_column_str(st, 3);
        char *scope = scope_text(*unit ? unit : NULL, *level ? level : NULL);
        json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:o, s:s}", "id",
                                             (json_int_t)sqlite3_column_int64(st, 0), "period",
                                             db_column_str(st, 1), "scope", scope, "state",
                                             db_column_str(st, 4), "since",
                                             time_json((uint64_t)sqlite3_column_int64(st, 5)), "by",
                                             db_column_str(st, 6)));
        free(scope);
    }
    sqlite3_finalize(st);
    *out = arr;
    return 0;
}

int reconcile_history_json(sqlite3 *db, const char *unit, const char *element, const char *period,
                           json_t **out, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(
        db, &st,
        "SELECT hlc, origin, kind, num, txt, coalesce(author, ''), coalesce(comment, ''), "
        "coalesce(seq, 0), 'current', 0 FROM vals WHERE unit = ?1 AND element = ?2 AND "
        "period = ?3 "
        "UNION ALL SELECT hlc, origin, kind, num, txt, coalesce(author, ''), "
        "coalesce(comment, ''), coalesce(seq, 0), fate, recorded_ms FROM history "
        "WHERE unit = ?1 AND element = ?2 AND period = ?3 "
        "UNION ALL SELECT hlc, origin, kind, num, txt, coalesce(author, ''), "
        "coalesce(comment, ''), coalesce(seq, 0), 'amendment ' || status, "
        "coalesce(decided_ms, 0) FROM amendments WHERE unit = ?1 AND element = ?2 AND "
        "period = ?3 ORDER BY 1, 2",
        e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct value v;
        char ver[40];
        hlc_format((uint64_t)sqlite3_column_int64(st, 0), ver);
        db_column_value(st, 2, &v);
        int64_t seq = sqlite3_column_int64(st, 7);
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s}", "version", ver, "agent",
                              db_column_str(st, 1), "value", cli_json_value(&v), "author",
                              str_or_null(db_column_str(st, 5)), "comment",
                              str_or_null(db_column_str(st, 6)), "batch",
                              seq ? json_integer(seq) : json_null(), "fate", db_column_str(st, 8));
        if (sqlite3_column_int64(st, 9))
            json_object_set_new(o, "fate_since", time_json((uint64_t)sqlite3_column_int64(st, 9)));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    *out = arr;
    return 0;
}
