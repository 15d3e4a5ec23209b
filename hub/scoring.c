/*
 * scoring.c - one authoritative scoring run of a period (see scoring.h and
 * docs/internals/SCORING.md, "Stored results").
 *
 * Per level with a framework in force: read every unit's current values and
 * the latest version each element received from the unit's own agents, score
 * both with score_unit, keep the figures and the detail JSON in memory, rank
 * the level and each parent's units, look up the previous year's result, and
 * insert the rows. The whole run is one transaction: a failure stores nothing.
 */
#include "scoring.h"
#include "hubdb.h"
#include "buf.h"
#include "crypto.h"
#include "db.h"
#include "framework.h"
#include "frameworks.h"
#include "score.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Levels in the order runs and reports list them. */
static const char *const LEVELS[SCORING_LEVELS] = {"province", "department", "district", "commune"};

bool scoring_previous_period(const char *p, char out[PERIOD_MAX + 1])
{
    if (!period_valid(p))
        return false;
    int year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    char prev[PERIOD_MAX + 1];
    snprintf(prev, sizeof(prev), "%04d%s", year - 1, p + 4);
    if (!period_valid(prev))
        return false;
    memcpy(out, prev, sizeof(prev));
    return true;
}

int scoring_latest_run(sqlite3 *db, const char *period, int64_t *run, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st, "SELECT max(id) FROM score_runs WHERE period = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, period, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        r = db_fail(db, e, "read score runs");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        r = dti_errf(e, DTI_ENOTFOUND,
                     "period %s has not been scored (run 'dti-hub score "
                     "--period %s')",
                     period, period);
    else
        *run = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return r;
}

/* ---- agents: whose versions are a unit's own ---- */

struct agent_ent {
    char id[AGENT_ID_LEN + 1];
    char *unit;
};

struct agent_map {
    struct agent_ent *a; /* sorted by id */
    size_t n;
};

static int agent_cmp(const void *x, const void *y)
{
    return strcmp(((const struct agent_ent *)x)->id, ((const struct agent_ent *)y)->id);
}

static void agent_map_release(struct agent_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->a[i].unit);
    free(m->a);
    memset(m, 0, sizeof(*m));
}

static int agent_map_load(sqlite3 *db, struct agent_map *m, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(db, &st, "SELECT id, unit FROM agents", e);
    if (r < 0)
        return r;
    size_t cap = 64;
    memset(m, 0, sizeof(*m));
    m->a = xmalloc(cap * sizeof(*m->a));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (m->n == cap) {
            cap *= 2;
            m->a = xrealloc(m->a, cap * sizeof(*m->a));
        }
        snprintf(m->a[m->n].id, sizeof(m->a[m->n].id), "%s", db_column_str(st, 0));
        m->a[m->n].unit = xstrdup(db_column_str(st, 1));
        m->n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, e, "read agents");
    qsort(m->a, m->n, sizeof(*m->a), agent_cmp);
    return 0;
}

/* Is origin an agent enrolled for unit? ("hub" and unknown origins are not.) */
static bool agent_map_owns(const struct agent_map *m, const char *origin, const char *unit)
{
    struct agent_ent key = {0};
    if (strlen(origin) > AGENT_ID_LEN)
        return false;
    memcpy(key.id, origin, strlen(origin));
    const struct agent_ent *hit = m->n ? bsearch(&key, m->a, m->n, sizeof(*m->a), agent_cmp) : NULL;
    return hit && strcmp(hit->unit, unit) == 0;
}

/* ---- one unit's inputs ---- */

struct inputs {
    size_t n; /* fw->nelements */
    struct value *cur, *self;
    char **cur_txt, **self_txt; /* owned texts behind cur[i].text, self[i].text */
    uint64_t *self_hlc;
    char (*self_origin)[AGENT_ID_LEN + 1];
    bool *self_has;
    bool any_self; /* the unit's own agents sent at least one version */
};

static void inputs_init(struct inputs *in, size_t n)
{
    memset(in, 0, sizeof(*in));
    in->n = n;
    size_t k = n ? n : 1;
    in->cur = xcalloc(k, sizeof(*in->cur));
    in->self = xcalloc(k, sizeof(*in->self));
    in->cur_txt = xcalloc(k, sizeof(char *));
    in->self_txt = xcalloc(k, sizeof(char *));
    in->self_hlc = xcalloc(k, sizeof(uint64_t));
    in->self_origin = xcalloc(k, sizeof(*in->self_origin));
    in->self_has = xcalloc(k, sizeof(bool));
}

static void inputs_reset(struct inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->cur_txt[i]);
        free(in->self_txt[i]);
    }
    memset(in->cur, 0, in->n * sizeof(*in->cur));
    memset(in->self, 0, in->n * sizeof(*in->self));
    memset(in->cur_txt, 0, in->n * sizeof(char *));
    memset(in->self_txt, 0, in->n * sizeof(char *));
    memset(in->self_hlc, 0, in->n * sizeof(uint64_t));
    memset(in->self_origin, 0, in->n * sizeof(*in->self_origin));
    memset(in->self_has, 0, in->n * sizeof(bool));
    in->any_self = false;
}

static void inputs_release(struct inputs *in)
{
    if (!in->cur)
        return;
    inputs_reset(in);
    free(in->cur);
    free(in->self);
    free(in->cur_txt);
    free(in->self_txt);
    free(in->self_hlc);
    free(in->self_origin);
    free(in->self_has);
    memset(in, 0, sizeof(*in));
}

/* Copy v into slot i of vals/txts, owning its text. */
static void put_value(struct value *vals, char **txts, size_t i, const struct value *v)
{
    free(txts[i]);
    txts[i] = NULL;
    vals[i] = *v;
    if (v->kind == VALUE_TEXT) {
        txts[i] = xstrdup(v->text);
        vals[i].text = txts[i];
    }
}

/* A version of element i from the unit's own agent: keep it as the
 * self-assessed input when it is the latest (HLC, then origin). */
static void offer_self(struct inputs *in, size_t i, const struct value *v, uint64_t hlc,
                       const char *origin)
{
    in->any_self = true;
    if (in->self_has[i] && (hlc < in->self_hlc[i] ||
                            (hlc == in->self_hlc[i] && strcmp(origin, in->self_origin[i]) <= 0)))
        return;
    put_value(in->self, in->self_txt, i, v);
    in->self_has[i] = true;
    in->self_hlc[i] = hlc;
    snprintf(in->self_origin[i], sizeof(in->self_origin[i]), "%s", origin);
}

/* Statements are bound (unit, period) and return element, kind, num, txt, hlc, origin. */
static int read_versions(sqlite3 *db, sqlite3_stmt *st, const struct framework *fw,
                         const struct agent_map *agents, const char *unit, const char *period,
                         bool current, struct inputs *in, struct dti_err *e)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t i;
        if (!framework_find_element(fw, db_column_str(st, 0), &i))
            continue; /* an element this framework does not read */
        struct value v;
        db_column_value(st, 1, &v);
        uint64_t hlc = (uint64_t)sqlite3_column_int64(st, 4);
        const char *origin = db_column_str(st, 5);
        if (current)
            put_value(in->cur, in->cur_txt, i, &v);
        if (agent_map_owns(agents, origin, unit))
            offer_self(in, i, &v, hlc, origin);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, e, "read values");
}

/* ---- the stored detail (JSON written by hand: exact numbers, fixed order) ---- */

static void put_json_string(struct buf *b, const char *s)
{
    buf_puts(b, "\"");
    for (const char *run = s;;) {
        const char *p = run;
        while (*p && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            p++;
        buf_append(b, run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else
            buf_printf(b, "\\u%04x", (unsigned char)*p);
        run = p + 1;
    }
    buf_puts(b, "\"");
}

static void put_json_number(struct buf *b, double d)
{
    char s[32];
    value_format_number(d, s); /* shortest text that reads back exactly; finite */
    buf_puts(b, s);
}

/* Points are rounded to 4 decimals (score_round4): "%.4f" without trailing
 * zeros reads back exactly, in one try instead of value_format_number's
 * search (checked, with that search as the fallback). */
static void put_points(struct buf *b, double d)
{
    char s[48];
    snprintf(s, sizeof(s), "%.4f", d);
    char *end = s + strlen(s);
    while (end[-1] == '0')
        *--end = '\0';
    if (end[-1] == '.')
        *--end = '\0';
    if (!strcmp(s, "-0"))
        snprintf(s, sizeof(s), "0");
    if (strtod(s, NULL) != d)
        value_format_number(d, s);
    buf_puts(b, s);
}

static void put_groups(struct buf *b, const char *name, const struct fw_group *g,
                       const struct score_group *sg, size_t n)
{
    buf_printf(b, ",\"%s\":{", name);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ",");
        put_json_string(b, g[i].code);
        buf_puts(b, ":");
        put_points(b, sg[i].points);
    }
    buf_puts(b, "}");
}

/* {"components":{code:[points,note,missing]}, "indicators":{code:points},
 *  "pillars":{code:points}, "groups":{code:points}, "inputs":{element:value}}
 * with only the collected inputs; values (points / max) are not stored: the
 * framework's max gives them back exactly as the engine computes them. */
static char *detail_json(const struct framework *fw, const struct score_result *res,
                         const struct value *inputs)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    buf_puts(&b, "{\"components\":{");
    for (size_t i = 0; i < fw->ncomponents; i++) {
        const struct score_component *c = &res->components[i];
        if (i)
            buf_puts(&b, ",");
        put_json_string(&b, fw->components[i].code);
        buf_puts(&b, ":[");
        put_points(&b, c->points);
        buf_printf(&b, ",\"%s\",%u]", score_note_name(c->note), c->missing);
    }
    buf_puts(&b, "},\"indicators\":{");
    for (size_t i = 0; i < fw->nindicators; i++) {
        if (i)
            buf_puts(&b, ",");
        put_json_string(&b, fw->indicators[i].code);
        buf_puts(&b, ":");
        put_points(&b, res->indicators[i].points);
    }
    buf_puts(&b, "}");
    put_groups(&b, "pillars", fw->pillars, res->pillars, fw->npillars);
    put_groups(&b, "groups", fw->groups, res->groups, fw->ngroups);
    buf_puts(&b, ",\"inputs\":{");
    bool first = true;
    for (size_t i = 0; i < fw->nelements; i++) {
        const struct value *v = &inputs[i];
        if (v->kind == VALUE_NONE)
            continue;
        if (!first)
            buf_puts(&b, ",");
        first = false;
        put_json_string(&b, fw->elements[i].code);
        buf_puts(&b, ":");
        if (v->kind == VALUE_NUMBER)
            put_json_number(&b, v->num);
        else if (v->kind == VALUE_BOOL)
            buf_puts(&b, v->b ? "true" : "false");
        else
            put_json_string(&b, v->text);
    }
    buf_puts(&b, "}}");
    size_t len;
    return (char *)buf_take(&b, &len);
}

/* ---- one level ---- */

struct scored {
    char *code, *parent; /* parent "" when none */
    double points, max, dti;
    const char *band; /* borrowed from the framework */
    size_t required, present;
    uint8_t input_hash[CRYPTO_SHA256_LEN];
    bool has_self;
    double self_points, self_dti;
    char *detail;
    unsigned rank_level, rank_parent;
};

static void scored_release(struct scored *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].code);
        free(s[i].parent);
        free(s[i].detail);
    }
    free(s);
}

/* rank_level over all units; rank_parent over the units of each parent. */
static void rank_units(struct scored *u, size_t n)
{
    if (n == 0)
        return;
    double *dti = xmalloc(n * sizeof(*dti));
    const char **parent = xmalloc(n * sizeof(*parent));
    unsigned *all = xmalloc(n * sizeof(*all)), *in_parent = xmalloc(n * sizeof(*in_parent));
    for (size_t i = 0; i < n; i++) {
        dti[i] = u[i].dti;
        parent[i] = u[i].parent;
    }
    score_rank_grouped(dti, parent, n, all, in_parent, NULL);
    for (size_t i = 0; i < n; i++) {
        u[i].rank_level = all[i];
        u[i].rank_parent = in_parent[i];
    }
    free(in_parent);
    free(all);
    free(parent);
    free(dti);
}

struct run_ctx {
    sqlite3 *db;
    const char *period;
    char last_day[32];
    const struct agent_map *agents;
    int64_t run;
    bool has_prev_run;
    int64_t prev_run;
    sqlite3_stmt *vals_st, *hist_st, *prev_st, *ins_st;
};

/* Score every unit of units (n), filling u. */
static int score_level(struct run_ctx *cx, const struct framework *fw, struct scored *u, size_t n,
                       struct dti_err *e)
{
    struct inputs in;
    int r = 0;
    inputs_init(&in, fw->nelements);
    for (size_t k = 0; k < n; k++) {
        inputs_reset(&in);
        if ((r = read_versions(cx->db, cx->vals_st, fw, cx->agents, u[k].code, cx->period, true,
                               &in, e)) < 0 ||
            (r = read_versions(cx->db, cx->hist_st, fw, cx->agents, u[k].code, cx->period, false,
                               &in, e)) < 0)
            break;
        struct score_result *res = NULL;
        score_unit(fw, in.cur, &res);
        u[k].points = res->points;
        u[k].max = res->max;
        u[k].dti = res->dti;
        u[k].band = res->band_name;
        u[k].required = res->inputs_required;
        u[k].present = res->inputs_present;
        memcpy(u[k].input_hash, res->input_hash, CRYPTO_SHA256_LEN);
        u[k].detail = detail_json(fw, res, in.cur);
        if (in.any_self) {
            bool same = true;
            for (size_t i = 0; i < in.n && same; i++)
                same = value_equal(&in.cur[i], &in.self[i]);
            u[k].has_self = true;
            if (same) {
                u[k].self_points = res->points;
                u[k].self_dti = res->dti;
            } else {
                struct score_result *self = NULL;
                score_unit(fw, in.self, &self);
                u[k].self_points = self->points;
                u[k].self_dti = self->dti;
                score_result_free(self);
            }
        }
        score_result_free(res);
    }
    inputs_release(&in);
    return r;
}

static int store_level(struct run_ctx *cx, const char *level, int64_t fw_version,
                       const struct scored *u, size_t n, struct dti_err *e)
{
    sqlite3_stmt *st = cx->ins_st;
    for (size_t k = 0; k < n; k++) {
        const struct scored *s = &u[k];
        bool has_prev = false;
        double prev_dti = 0;
        int64_t prev_rank = 0;
        if (cx->has_prev_run) {
            sqlite3_reset(cx->prev_st);
            sqlite3_bind_int64(cx->prev_st, 1, cx->prev_run);
            sqlite3_bind_text(cx->prev_st, 2, s->code, -1, SQLITE_STATIC);
            int rc = sqlite3_step(cx->prev_st);
            if (rc == SQLITE_ROW) {
                has_prev = true;
                prev_dti = sqlite3_column_double(cx->prev_st, 0);
                prev_rank = sqlite3_column_int64(cx->prev_st, 1);
            } else if (rc != SQLITE_DONE) {
                return db_fail(cx->db, e, "read the previous result");
            }
            sqlite3_reset(cx->prev_st);
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        sqlite3_bind_int64(st, 1, cx->run);
        sqlite3_bind_text(st, 2, cx->period, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, s->code, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, level, -1, SQLITE_STATIC);
        db_bind_text_or_null(st, 5, s->parent);
        sqlite3_bind_int64(st, 6, fw_version);
        sqlite3_bind_blob(st, 7, s->input_hash, CRYPTO_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_double(st, 8, s->points);
        sqlite3_bind_double(st, 9, s->max);
        sqlite3_bind_double(st, 10, s->dti);
        db_bind_text_or_null(st, 11, s->band);
        sqlite3_bind_int64(st, 12, (sqlite3_int64)s->required);
        sqlite3_bind_int64(st, 13, (sqlite3_int64)s->present);
        sqlite3_bind_int64(st, 14, s->rank_level);
        sqlite3_bind_int64(st, 15, s->rank_parent);
        if (s->has_self) {
            sqlite3_bind_double(st, 16, s->self_points);
            sqlite3_bind_double(st, 17, s->self_dti);
        }
        if (has_prev) {
            sqlite3_bind_double(st, 18, prev_dti);
            sqlite3_bind_int64(st, 19, prev_rank);
        }
        sqlite3_bind_text(st, 20, s->detail, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            return db_fail(cx->db, e, "store a result");
    }
    sqlite3_reset(st);
    return 0;
}

/* The units of level in effect on the period's last day, by code, each with
 * its parent on that day (unit_parents: a commune moved between districts
 * ranks in the one it stood under at the end of the period). */
static int load_units(struct run_ctx *cx, const char *level, struct scored **out, size_t *nout,
                      struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    int r = db_prepare(cx->db, &st,
                       "SELECT code, coalesce((SELECT p.parent FROM unit_parents p "
                       "WHERE p.unit = units.code AND (p.valid_from IS NULL OR p.valid_from <= ?2) "
                       "AND (p.valid_to IS NULL OR p.valid_to >= ?2) "
                       "ORDER BY p.valid_from DESC LIMIT 1), '') FROM units WHERE level = ?1 AND "
                       "(valid_from IS NULL OR valid_from <= ?2) AND "
                       "(valid_to IS NULL OR valid_to >= ?2) ORDER BY code",
                       e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, level, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cx->last_day, -1, SQLITE_STATIC);
    size_t n = 0, cap = 64;
    struct scored *u = xcalloc(cap, sizeof(*u));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            u = xrealloc(u, 2 * cap * sizeof(*u));
            memset(u + cap, 0, cap * sizeof(*u));
            cap *= 2;
        }
        u[n].code = xstrdup(db_column_str(st, 0));
        u[n].parent = xstrdup(db_column_str(st, 1));
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        scored_release(u, n);
        return db_fail(cx->db, e, "read units");
    }
    *out = u;
    *nout = n;
    return 0;
}

static int run_level(struct run_ctx *cx, const char *level, struct scoring_summary *sum,
                     struct dti_err *e)
{
    struct framework *fw = NULL;
    struct scored *u = NULL;
    size_t n = 0;
    int64_t version;
    struct dti_err e2 = {0};
    int r = frameworks_in_force(cx->db, level, cx->period, &version, &fw, &e2);
    if (r == DTI_ENOTFOUND)
        return 0; /* no framework for this level: nothing to score */
    if (r < 0)
        return dti_err_set(e, r, "%s", dti_err_text(&e2, r));
    if ((r = load_units(cx, level, &u, &n, e)) < 0 || (r = score_level(cx, fw, u, n, e)) < 0)
        goto out;
    rank_units(u, n);
    if ((r = store_level(cx, level, version, u, n, e)) < 0)
        goto out;
    struct scoring_level *sl = &sum->levels[sum->nlevels++];
    snprintf(sl->level, sizeof(sl->level), "%s", level);
    sl->framework_version = version;
    sl->units = n;
    sum->units += n;
out:
    scored_release(u, n);
    framework_free(fw);
    return r;
}

int scoring_run(sqlite3 *db, const char *period, const char *by, uint64_t now_ms,
                struct scoring_summary *summary, struct dti_err *e)
{
    if (!period_valid(period))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s': expected YYYY, YYYYQn or YYYY-MM",
                        period);
    struct scoring_summary sum = {0};
    struct agent_map agents = {0};
    struct run_ctx cx = {.db = db, .period = period, .agents = &agents};
    sqlite3_stmt *st = NULL;
    bool in_tx = false;
    char prev[PERIOD_MAX + 1];
    int r;
    snprintf(sum.period, sizeof(sum.period), "%s", period);
    /* a unit is scored for a period when it is in effect on the period's last day */
    char first_day[11];
    units_period_days(period, first_day, cx.last_day);
    if ((r = db_begin(db, e)) < 0)
        return r;
    in_tx = true;
    if ((r = agent_map_load(db, &agents, e)) < 0)
        goto out;
    if (scoring_previous_period(period, prev)) {
        struct dti_err e2 = {0};
        r = scoring_latest_run(db, prev, &cx.prev_run, &e2);
        if (r == 0)
            cx.has_prev_run = true;
        else if (r != DTI_ENOTFOUND) {
            dti_err_set(e, r, "%s", dti_err_text(&e2, r));
            goto out;
        }
    }
    if ((r = db_prepare(db, &st,
                        "INSERT INTO score_runs(period, ran_ms, ran_by, units) "
                        "VALUES (?1, ?2, ?3, 0) RETURNING id",
                        e)) < 0)
        goto out;
    sqlite3_bind_text(st, 1, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)now_ms);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = db_fail(db, e, "store the run");
        goto out;
    }
    cx.run = sqlite3_column_int64(st, 0);
    sum.run = cx.run;
    sqlite3_finalize(st);
    st = NULL;

    if ((r = db_prepare(db, &cx.vals_st,
                        "SELECT element, kind, num, txt, hlc, origin FROM vals "
                        "WHERE unit = ?1 AND period = ?2",
                        e)) < 0 ||
        (r = db_prepare(db, &cx.hist_st,
                        "SELECT element, kind, num, txt, hlc, origin FROM history "
                        "WHERE unit = ?1 AND period = ?2",
                        e)) < 0 ||
        (r = db_prepare(db, &cx.prev_st,
                        "SELECT dti, rank_level FROM results WHERE run = ?1 AND unit = ?2", e)) <
            0 ||
        (r = db_prepare(db, &cx.ins_st,
                        "INSERT INTO results(run, period, unit, level, parent, framework_version, "
                        "input_hash, points, max, dti, band, inputs_required, inputs_present, "
                        "rank_level, rank_parent, self_points, self_dti, prev_dti, prev_rank, "
                        "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                        "?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                        e)) < 0)
        goto out;

    for (size_t i = 0; i < SCORING_LEVELS; i++)
        if ((r = run_level(&cx, LEVELS[i], &sum, e)) < 0)
            goto out;
    if (sum.nlevels == 0) {
        r = dti_errf(e, DTI_ENOTFOUND,
                     "no framework for period %s (import one with 'dti-hub framework import')",
                     period);
        goto out;
    }

    char *detail = xasprintf("period %s run %lld: %zu units", period, (long long)cx.run, sum.units);
    if ((r = db_prepare(db, &st, "UPDATE score_runs SET units = ?2 WHERE id = ?1", e)) < 0) {
        free(detail);
        goto out;
    }
    sqlite3_bind_int64(st, 1, cx.run);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)sum.units);
    if (sqlite3_step(st) != SQLITE_DONE) {
        free(detail);
        r = db_fail(db, e, "store the run");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    r = hubdb_audit(db, now_ms, by, "score", detail, e);
    free(detail);
    if (r < 0)
        goto out;
    if ((r = db_commit(db, e)) < 0)
        goto out;
    in_tx = false;
    *summary = sum;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(cx.vals_st);
    sqlite3_finalize(cx.hist_st);
    sqlite3_finalize(cx.prev_st);
    sqlite3_finalize(cx.ins_st);
    if (in_tx)
        db_rollback(db);
    agent_map_release(&agents);
    return r;
}
