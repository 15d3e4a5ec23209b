/*
 * report.c - reports and explanations from stored results (see report.h).
 *
 * report_json builds the one document; CSV and HTML are renderings of it, so
 * the three formats always carry the same figures. report_explain_json reads
 * one stored result back with its framework version and re-scores the stored
 * inputs to show that they reproduce it.
 */
#include "report.h"
#include "csv.h"
#include "cli.h"
#include "crypto.h"
#include "db.h"
#include "framework.h"
#include "frameworks.h"
#include "hubdb.h"
#include "summary.h"
#include "score.h"
#include "scoring.h"
#include "util.h"
#include "value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int report_format_parse(const char *s, enum report_format *out)
{
    if (!strcmp(s, "csv"))
        *out = REPORT_CSV;
    else if (!strcmp(s, "json"))
        *out = REPORT_JSON;
    else if (!strcmp(s, "html"))
        *out = REPORT_HTML;
    else
        return DTI_EINVAL;
    return 0;
}

const char *report_content_type(enum report_format f)
{
    switch (f) {
    case REPORT_CSV:
        return "text/csv; charset=utf-8";
    case REPORT_JSON:
        return "application/json";
    case REPORT_HTML:
        break;
    }
    return "text/html; charset=utf-8";
}

/* ---- small helpers ---- */

/* The level as people write it in a table: "xã", "huyện", ... */
static const char *level_vi(const char *level)
{
    if (!strcmp(level, "commune"))
        return "xã";
    if (!strcmp(level, "district"))
        return "huyện";
    if (!strcmp(level, "province"))
        return "tỉnh";
    if (!strcmp(level, "department"))
        return "sở, ban, ngành";
    return level;
}

/* Shortest decimal with up to 15 significant digits ("812.5", "0.800175"). */
static void fmt_num(double d, char out[32])
{
    snprintf(out, 32, "%.15g", d == 0 ? 0.0 : d);
}

/* The same with a decimal comma, as Vietnamese readers write numbers. */
static void fmt_num_vi(double d, char out[32])
{
    fmt_num(d, out);
    char *dot = strchr(out, '.');
    if (dot)
        *dot = ',';
}

/* d with exactly `decimals` decimals and a decimal comma. */
static void fmt_fixed_vi(double d, int decimals, char out[32])
{
    snprintf(out, 32, "%.*f", decimals, d);
    if (!strncmp(out, "-0", 2) && strspn(out + 1, "0.,") == strlen(out + 1))
        memmove(out, out + 1, strlen(out)); /* no "-0,0000" */
    char *dot = strchr(out, '.');
    if (dot)
        *dot = ',';
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Number at key: true and *d, or false when absent or null. */
static bool jnum(const json_t *o, const char *key, double *d)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return false;
    *d = json_number_value(v);
    return true;
}

static json_int_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* The name of unit column c on ?9, the period's last day (unit_names). */
#define NAME_ON_DAY(c)                                                                             \
    "(SELECT n.name FROM unit_names n WHERE n.unit = " c " AND (n.valid_from IS NULL OR "          \
    "n.valid_from <= ?9) AND (n.valid_to IS NULL OR n.valid_to >= ?9) "                            \
    "ORDER BY n.valid_from DESC LIMIT 1)"

/* A stored result row; the same columns for reports and explanations. Names
 * are the ones units had on the period's last day (bind_day: ?9). */
#define RESULT_COLS                                                                                \
    "SELECT r.unit, coalesce(" NAME_ON_DAY(                                                        \
        "r.unit") ", u.name, r.unit), r.level, "                                                   \
                  "coalesce(r.parent, ''), coalesce(" NAME_ON_DAY(                                 \
                      "r.parent") ", p.name, ''), "                                                \
                                  "r.framework_version, r.input_hash, r.points, r.max, r.dti, "    \
                                  "r.band, r.inputs_required, r.inputs_present, r.rank_level, "    \
                                  "r.rank_parent, r.self_points, "                                 \
                                  "r.self_dti, r.prev_dti, r.prev_rank, r.detail, "                \
                                  "count(*) OVER (PARTITION BY r.level), count(*) OVER "           \
                                  "(PARTITION BY r.level, r.parent) "                              \
                                  "FROM results r LEFT JOIN units u ON u.code = r.unit LEFT JOIN " \
                                  "units p ON p.code = r.parent "
enum {
    C_UNIT,
    C_NAME,
    C_LEVEL,
    C_PARENT,
    C_PARENT_NAME,
    C_FW,
    C_HASH,
    C_POINTS,
    C_MAX,
    C_DTI,
    C_BAND,
    C_REQUIRED,
    C_PRESENT,
    C_RANK_LEVEL,
    C_RANK_PARENT,
    C_SELF_POINTS,
    C_SELF_DTI,
    C_PREV_DTI,
    C_PREV_RANK,
    C_DETAIL,
    C_LEVEL_COUNT,
    C_PARENT_COUNT,
};

/* Bind ?9, the last day of period (valid). */
static void bind_day(sqlite3_stmt *st, const char *period)
{
    char first[11], last[11];
    units_period_days(period, first, last);
    sqlite3_bind_text(st, 9, last, -1, SQLITE_TRANSIENT);
}

static json_t *real_or_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
                                                       : json_real(sqlite3_column_double(st, col));
}

/* The figures every view of one result shares. */
static json_t *result_figures(sqlite3_stmt *st, const char *prev_period)
{
    char hex[2 * CRYPTO_SHA256_LEN + 1] = "";
    if (sqlite3_column_bytes(st, C_HASH) == CRYPTO_SHA256_LEN)
        hex_encode(sqlite3_column_blob(st, C_HASH), CRYPTO_SHA256_LEN, hex);
    double points = sqlite3_column_double(st, C_POINTS);
    size_t req = (size_t)sqlite3_column_int64(st, C_REQUIRED);
    size_t pres = (size_t)sqlite3_column_int64(st, C_PRESENT);
    const char *parent = db_column_str(st, C_PARENT);
    json_t *o = json_object();
    json_object_set_new(o, "code", json_string(db_column_str(st, C_UNIT)));
    json_object_set_new(o, "name", json_string(db_column_str(st, C_NAME)));
    json_object_set_new(o, "level", json_string(db_column_str(st, C_LEVEL)));
    json_object_set_new(o, "parent", *parent ? json_string(parent) : json_null());
    json_object_set_new(o, "parent_name",
                        *parent ? json_string(*db_column_str(st, C_PARENT_NAME)
                                                  ? db_column_str(st, C_PARENT_NAME)
                                                  : parent)
                                : json_null());
    json_object_set_new(o, "framework_version", json_integer(sqlite3_column_int64(st, C_FW)));
    json_object_set_new(o, "points", json_real(points));
    json_object_set_new(o, "max", json_real(sqlite3_column_double(st, C_MAX)));
    json_object_set_new(o, "dti", json_real(sqlite3_column_double(st, C_DTI)));
    json_object_set_new(o, "band",
                        sqlite3_column_type(st, C_BAND) == SQLITE_NULL
                            ? json_null()
                            : json_string(db_column_str(st, C_BAND)));
    json_object_set_new(o, "rank",
                        json_pack("{s:I, s:I, s:I, s:I}", "level",
                                  (json_int_t)sqlite3_column_int64(st, C_RANK_LEVEL), "level_units",
                                  (json_int_t)sqlite3_column_int64(st, C_LEVEL_COUNT), "parent",
                                  (json_int_t)sqlite3_column_int64(st, C_RANK_PARENT),
                                  "parent_units",
                                  (json_int_t)sqlite3_column_int64(st, C_PARENT_COUNT)));
    json_object_set_new(o, "completeness",
                        json_pack("{s:I, s:I, s:f}", "required", (json_int_t)req, "present",
                                  (json_int_t)pres, "ratio",
                                  req ? (double)pres / (double)req : 1.0));
    if (sqlite3_column_type(st, C_PREV_DTI) != SQLITE_NULL) {
        double prev = sqlite3_column_double(st, C_PREV_DTI);
        json_int_t prank = (json_int_t)sqlite3_column_int64(st, C_PREV_RANK);
        json_object_set_new(o, "growth",
                            json_pack("{s:s, s:f, s:f, s:I, s:I}", "previous_period",
                                      prev_period ? prev_period : "", "previous_dti", prev,
                                      "dti_change", sqlite3_column_double(st, C_DTI) - prev,
                                      "previous_rank", prank, "rank_change",
                                      prank - (json_int_t)sqlite3_column_int64(st, C_RANK_LEVEL)));
    } else {
        json_object_set_new(o, "growth", json_null());
    }
    if (sqlite3_column_type(st, C_SELF_POINTS) != SQLITE_NULL) {
        double sp = sqlite3_column_double(st, C_SELF_POINTS);
        json_t *self = json_object();
        json_object_set_new(self, "points", json_real(sp));
        json_object_set_new(self, "dti", real_or_null(st, C_SELF_DTI));
        json_object_set_new(self, "gap", json_real(score_round4(points - sp)));
        json_object_set_new(o, "self_assessed", self);
    } else {
        json_object_set_new(o, "self_assessed", json_null());
    }
    json_object_set_new(o, "input_hash", json_string(hex));
    return o;
}

static int load_detail(sqlite3_stmt *st, json_t **out, struct dti_err *e)
{
    json_error_t je;
    json_t *d = json_loads(db_column_str(st, C_DETAIL), 0, &je);
    if (!json_is_object(d)) {
        json_decref(d);
        return dti_errf(e, DTI_EDB, "stored result of unit %s is damaged: %s",
                        db_column_str(st, C_UNIT), je.text);
    }
    *out = d;
    return 0;
}

/* The stored points of code in detail[section] (0 when absent), and the value
 * points / max as the engine computes it (score.c: 0 when max is 0). */
static void detail_points(const json_t *detail, const char *section, const char *code, double max,
                          double *points, double *value)
{
    *points = json_number_value(json_object_get(json_object_get(detail, section), code));
    *value = max > 0 ? *points / max : 0;
}

static json_t *groups_json(const json_t *detail, const char *section, const struct fw_group *g,
                           size_t n, bool names)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        double p, v;
        detail_points(detail, section, g[i].code, g[i].max_points, &p, &v);
        json_t *o = json_pack("{s:s}", "code", g[i].code);
        if (names)
            json_object_set_new(o, "name", json_string(g[i].name));
        json_object_set_new(o, "points", json_real(p));
        json_object_set_new(o, "max", json_real(g[i].max_points));
        json_object_set_new(o, "value", json_real(v));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *indicators_json(const json_t *detail, const struct framework *fw, bool names)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < fw->nindicators; i++) {
        const struct fw_indicator *ind = &fw->indicators[i];
        double p, v;
        detail_points(detail, "indicators", ind->code, ind->max_points, &p, &v);
        json_t *o = json_pack("{s:s}", "code", ind->code);
        if (names)
            json_object_set_new(o, "name", json_string(ind->name));
        json_object_set_new(o, "points", json_real(p));
        json_object_set_new(o, "max", json_real(ind->max_points));
        json_object_set_new(o, "value", json_real(v));
        json_object_set_new(o, "scored", json_boolean(ind->max_points > 0));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *named_groups(const struct fw_group *g, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:f}", "code", g[i].code, "name",
                                             g[i].name, "max_points", g[i].max_points));
    return arr;
}

/* What a report says about a framework version. */
static json_t *framework_json(int64_t version, const struct framework *fw)
{
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    hex_encode(fw->hash, CRYPTO_SHA256_LEN, hex);
    json_t *inds = json_array(), *bands = json_array();
    for (size_t i = 0; i < fw->nindicators; i++)
        json_array_append_new(inds, json_pack("{s:s, s:s, s:f}", "code", fw->indicators[i].code,
                                              "name", fw->indicators[i].name, "max_points",
                                              fw->indicators[i].max_points));
    for (size_t i = 0; i < fw->nbands; i++)
        json_array_append_new(
            bands, json_pack("{s:s, s:f}", "name", fw->bands[i].name, "min", fw->bands[i].min));
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:f, s:s, s:o, s:o, s:o, s:o}", "version",
                     (json_int_t)version, "id", fw->id, "name", fw->name, "level",
                     fw_level_name(fw->level), "period", fw->period, "max_points", fw->max_points,
                     "hash", hex, "pillars", named_groups(fw->pillars, fw->npillars), "groups",
                     named_groups(fw->groups, fw->ngroups), "indicators", inds, "bands", bands);
}

/* The frameworks a report needs, loaded once each. */
struct fw_cache {
    int64_t version[SCORING_LEVELS * 4];
    struct framework *fw[SCORING_LEVELS * 4];
    size_t n;
};

static int fw_cache_get(sqlite3 *db, struct fw_cache *c, int64_t version,
                        const struct framework **out, bool *fresh, struct dti_err *e)
{
    *fresh = false;
    for (size_t i = 0; i < c->n; i++)
        if (c->version[i] == version) {
            *out = c->fw[i];
            return 0;
        }
    if (c->n == ARRAY_SIZE(c->fw))
        return dti_errf(e, DTI_EDB, "one run uses more than %zu framework versions",
                        ARRAY_SIZE(c->fw));
    int r = frameworks_load(db, version, &c->fw[c->n], e);
    if (r < 0)
        return r;
    c->version[c->n] = version;
    *out = c->fw[c->n++];
    *fresh = true;
    return 0;
}

static void fw_cache_release(struct fw_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        framework_free(c->fw[i]);
    c->n = 0;
}

/* Run id, time and operator of period's latest run. */
static int latest_run(sqlite3 *db, const char *period, int64_t *run, json_t *doc, struct dti_err *e)
{
    int r = scoring_latest_run(db, period, run, e);
    if (r < 0)
        return r;
    sqlite3_stmt *st = NULL;
    if ((r = db_prepare(db, &st, "SELECT ran_ms, ran_by FROM score_runs WHERE id = ?1", e)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, *run);
    if (sqlite3_step(st) == SQLITE_ROW) {
        char when[32];
        format_utc((uint64_t)sqlite3_column_int64(st, 0), when);
        json_object_set_new(doc, "run", json_integer(*run));
        json_object_set_new(doc, "ran", json_string(when));
        json_object_set_new(doc, "ran_by", json_string(db_column_str(st, 1)));
    } else {
        r = db_fail(db, e, "read score runs");
    }
    sqlite3_finalize(st);
    return r;
}

int report_json(sqlite3 *db, const char *period, const char *level, json_t **out, struct dti_err *e)
{
    enum fw_level lv;
    if (!period_valid(period))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s': expected YYYY, YYYYQn or YYYY-MM",
                        period);
    if (level && fw_level_parse(level, &lv) < 0)
        return dti_errf(e, DTI_EINVAL,
                        "unknown level '%s': expected commune, district, department or province",
                        level);
    char prev[PERIOD_MAX + 1];
    bool has_prev = scoring_previous_period(period, prev);
    json_t *doc = json_object(), *units = json_array(), *fws = json_array();
    struct fw_cache cache = {0};
    sqlite3_stmt *st = NULL;
    int64_t run;
    json_object_set_new(doc, "period", json_string(period));
    int r = latest_run(db, period, &run, doc, e);
    if (r < 0)
        goto out;
    json_object_set_new(doc, "level", level ? json_string(level) : json_null());
    json_object_set_new(doc, "previous_period", has_prev ? json_string(prev) : json_null());
    if ((r = db_prepare(db, &st,
                        RESULT_COLS "WHERE r.run = ?1 AND (?2 IS NULL OR r.level = ?2) "
                                    "ORDER BY CASE r.level WHEN 'province' THEN 0 "
                                    "WHEN 'department' THEN 1 WHEN 'district' THEN 2 ELSE 3 END, "
                                    "r.rank_level, r.unit",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, run);
    db_bind_text_or_null(st, 2, level);
    bind_day(st, period);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const struct framework *fw = NULL;
        bool fresh = false;
        int64_t version = sqlite3_column_int64(st, C_FW);
        json_t *detail = NULL;
        if ((r = fw_cache_get(db, &cache, version, &fw, &fresh, e)) < 0 ||
            (r = load_detail(st, &detail, e)) < 0)
            goto out;
        if (fresh)
            json_array_append_new(fws, framework_json(version, fw));
        json_t *u = result_figures(st, has_prev ? prev : NULL);
        json_object_set_new(u, "pillars",
                            groups_json(detail, "pillars", fw->pillars, fw->npillars, false));
        json_object_set_new(u, "groups",
                            groups_json(detail, "groups", fw->groups, fw->ngroups, false));
        json_object_set_new(u, "indicators", indicators_json(detail, fw, false));
        json_t *comps = json_object();
        for (size_t i = 0; i < fw->ncomponents; i++) {
            const json_t *a =
                json_object_get(json_object_get(detail, "components"), fw->components[i].code);
            json_object_set_new(comps, fw->components[i].code,
                                json_real(json_number_value(json_array_get(a, 0))));
        }
        json_object_set_new(u, "components", comps);
        json_array_append_new(units, u);
        json_decref(detail);
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read results");
        goto out;
    }
    if (json_array_size(units) == 0) {
        r = dti_errf(e, DTI_ENOTFOUND, "run %lld of period %s scored no %s unit", (long long)run,
                     period, level ? level : "");
        goto out;
    }
    json_object_set(doc, "frameworks", fws);
    json_object_set(doc, "units", units);
    *out = json_incref(doc);
out:
    sqlite3_finalize(st);
    fw_cache_release(&cache);
    json_decref(units);
    json_decref(fws);
    json_decref(doc);
    return r;
}

static bool inputs_from_detail(const struct framework *fw, const json_t *detail, struct value *in);

/* ---- roll-ups: one level grouped under its ancestors of another ---- */

/* The ancestor of unit (starting at its parent) of level `level` on day, or
 * "" when it has none; resolved parents are cached in (from, to) pairs. */
struct anc_cache {
    char (*from)[UNIT_CODE_MAX + 1];
    char (*to)[UNIT_CODE_MAX + 1];
    size_t n, cap;
};

static int ancestor_of(sqlite3 *db, struct anc_cache *c, const char *parent, const char *level,
                       const char *day, char out[UNIT_CODE_MAX + 1], struct dti_err *e)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->from[i], parent)) {
            memcpy(out, c->to[i], UNIT_CODE_MAX + 1);
            return 0;
        }
    char g[UNIT_CODE_MAX + 1];
    snprintf(g, sizeof(g), "%s", parent);
    out[0] = '\0';
    for (int depth = 0; g[0] && depth < 8; depth++) {
        struct unit_asof u;
        int r = units_as_of(db, g, day, &u, e);
        if (r < 0)
            return r;
        if (!strcmp(u.level, level)) {
            snprintf(out, UNIT_CODE_MAX + 1, "%s", g);
            break;
        }
        snprintf(g, sizeof(g), "%s", u.parent);
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->from = xrealloc(c->from, c->cap * sizeof(*c->from));
        c->to = xrealloc(c->to, c->cap * sizeof(*c->to));
    }
    snprintf(c->from[c->n], UNIT_CODE_MAX + 1, "%s", parent);
    memcpy(c->to[c->n++], out, UNIT_CODE_MAX + 1);
    return 0;
}

/* One scored unit of the level being rolled up. */
struct member {
    char code[UNIT_CODE_MAX + 1];
    char group[UNIT_CODE_MAX + 1]; /* "" when it stands under no unit of the group level */
    char *name;
    double points, dti;
    size_t required, present;
    json_t *detail;       /* owns the texts inputs borrow */
    struct value *inputs; /* parallel to the framework's elements */
};

static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->code, y->code);
}

static void members_release(struct member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].inputs);
        json_decref(m[i].detail);
    }
    free(m);
}

int report_group_json(sqlite3 *db, const char *period, const char *level, const char *group_by,
                      json_t **out, struct dti_err *e)
{
    enum fw_level lv;
    char first[11], day[11];
    if (!units_period_days(period, first, day))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s': expected YYYY, YYYYQn or YYYY-MM",
                        period);
    if (fw_level_parse(level, &lv) < 0 || fw_level_parse(group_by, &lv) < 0)
        return dti_errf(e, DTI_EINVAL,
                        "unknown level '%s': expected commune, district, department or province",
                        fw_level_parse(level, &lv) < 0 ? level : group_by);
    if (!strcmp(level, group_by))
        return dti_errf(e, DTI_EINVAL, "cannot group %s units by %s", level, group_by);
    json_t *doc = json_object(), *groups = json_array(), *ungrouped = json_array();
    struct anc_cache anc = {0};
    struct member *m = NULL;
    size_t n = 0, cap = 0;
    struct framework *fw = NULL;
    int64_t version = 0;
    sqlite3_stmt *st = NULL;
    struct summary_unit *ru = NULL;
    int64_t run;
    json_object_set_new(doc, "period", json_string(period));
    int r = latest_run(db, period, &run, doc, e);
    if (r < 0)
        goto out;
    json_object_set_new(doc, "level", json_string(level));
    json_object_set_new(doc, "group_by", json_string(group_by));
    json_object_set_new(doc, "as_of", json_string(day));
    if ((r = db_prepare(
             db, &st,
             "SELECT r.unit, coalesce(" NAME_ON_DAY(
                 "r.unit") ", u.name, r.unit), "
                           "coalesce(r.parent, ''), r.framework_version, r.points, r.dti, "
                           "r.inputs_required, r.inputs_present, r.detail FROM results r "
                           "LEFT JOIN units u ON u.code = r.unit WHERE r.run = ?1 AND r.level = ?2 "
                           "ORDER BY r.unit",
             e)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, level, -1, SQLITE_STATIC);
    bind_day(st, period);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 3);
        if (!fw) {
            if ((r = frameworks_load(db, v, &fw, e)) < 0)
                goto out;
            version = v;
        } else if (v != version) {
            r = dti_errf(e, DTI_EDB, "run %lld scored %s units with two framework versions",
                         (long long)run, level);
            goto out;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            m = xrealloc(m, cap * sizeof(*m));
        }
        struct member *x = &m[n];
        memset(x, 0, sizeof(*x));
        n++;
        snprintf(x->code, sizeof(x->code), "%s", db_column_str(st, 0));
        x->name = xstrdup(db_column_str(st, 1));
        x->points = sqlite3_column_double(st, 4);
        x->dti = sqlite3_column_double(st, 5);
        x->required = (size_t)sqlite3_column_int64(st, 6);
        x->present = (size_t)sqlite3_column_int64(st, 7);
        json_error_t je;
        x->detail = json_loads(db_column_str(st, 8), 0, &je);
        x->inputs = xcalloc(fw->nelements ? fw->nelements : 1, sizeof(*x->inputs));
        if (!json_is_object(x->detail) || !inputs_from_detail(fw, x->detail, x->inputs)) {
            r = dti_errf(e, DTI_EDB, "stored result of unit %s is damaged", x->code);
            goto out;
        }
        const char *parent = db_column_str(st, 2);
        if (*parent && (r = ancestor_of(db, &anc, parent, group_by, day, x->group, e)) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read results");
        goto out;
    }
    if (n == 0) {
        r = dti_errf(e, DTI_ENOTFOUND, "run %lld of period %s scored no %s unit", (long long)run,
                     period, level);
        goto out;
    }
    qsort(m, n, sizeof(*m), member_cmp);
    json_object_set_new(doc, "frameworks", json_pack("[o]", framework_json(version, fw)));
    ru = xcalloc(n, sizeof(*ru));
    for (size_t g = 0; g < n;) {
        size_t end = g;
        while (end < n && !strcmp(m[end].group, m[g].group))
            end++;
        if (!m[g].group[0]) {
            for (size_t k = g; k < end; k++)
                json_array_append_new(ungrouped, json_string(m[k].code));
            g = end;
            continue;
        }
        for (size_t k = g; k < end; k++)
            ru[k - g] = (struct summary_unit){m[k].code,     m[k].name,    m[k].points, m[k].dti,
                                              m[k].required, m[k].present, m[k].inputs};
        struct summary ro;
        struct unit_asof ga;
        if ((r = units_as_of(db, m[g].group, day, &ga, e)) < 0)
            goto out;
        summary_compute(fw, ru, end - g, &ro);
        json_t *o =
            json_pack("{s:s, s:s, s:s}", "code", m[g].group, "name", ga.name, "level", ga.level);
        json_t *body = summary_json(fw, ru, end - g, &ro);
        json_object_update(o, body);
        json_decref(body);
        summary_release(&ro);
        json_array_append_new(groups, o);
        g = end;
    }
    if (json_array_size(groups) == 0) {
        r = dti_errf(e, DTI_ENOTFOUND,
                     "no %s unit scored for period %s stands under a %s on %s (the units in "
                     "effect then have no %s level above them)",
                     level, period, group_by, day, group_by);
        goto out;
    }
    json_object_set(doc, "groups", groups);
    json_object_set(doc, "ungrouped", ungrouped);
    *out = json_incref(doc);
out:
    sqlite3_finalize(st);
    members_release(m, n);
    free(ru);
    free(anc.from);
    free(anc.to);
    framework_free(fw);
    json_decref(groups);
    json_decref(ungrouped);
    json_decref(doc);
    return r;
}

int report_group_render(sqlite3 *db, const char *period, const char *level, const char *group_by,
                        enum report_format f, struct buf *out, struct dti_err *e)
{
    json_t *doc = NULL;
    int r = report_group_json(db, period, level, group_by, &doc, e);
    if (r < 0)
        return r;
    r = report_render_doc(doc, f, out, e);
    json_decref(doc);
    return r;
}

/* ---- CSV ---- */

/* One field (common/csv.c csv_put; the report is read by people, so text cells
 * never run as formulas). The report's buffer has no ceiling: no error to carry. */
static void csv_field(struct buf *b, bool first, const char *s, bool text)
{
    csv_put(b, s, first, text, 0);
}

static void csv_num(struct buf *b, const json_t *o, const char *key)
{
    double d;
    char s[32] = "";
    if (jnum(o, key, &d))
        fmt_num(d, s);
    csv_field(b, false, s, false);
}

/* The union of pillar codes over the report's frameworks, first name wins. */
static json_t *pillar_columns(const json_t *doc)
{
    json_t *cols = json_array();
    size_t i, j;
    json_t *fw, *p;
    json_array_foreach(json_object_get(doc, "frameworks"), i, fw)
    {
        json_array_foreach(json_object_get(fw, "pillars"), j, p)
        {
            bool seen = false;
            size_t k;
            json_t *c;
            json_array_foreach(cols, k, c)
            {
                seen = seen || !strcmp(jstr(c, "code"), jstr(p, "code"));
            }
            if (!seen)
                json_array_append(cols, p);
        }
    }
    return cols;
}

static const json_t *find_code(const json_t *arr, const char *code)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (!strcmp(jstr(o, "code"), code))
            return o;
    }
    return NULL;
}

/* A merged report's unit: the codes rolled into it, "22747, 22753" (a new
 * string); NULL in any other report. */
static char *merged_from_text(const json_t *u)
{
    const json_t *from = json_object_get(u, "merged_from");
    if (!json_is_array(from))
        return NULL;
    struct buf b;
    size_t len, i;
    json_t *c;
    buf_init(&b, BUF_UNLIMITED);
    json_array_foreach(from, i, c)
    {
        buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(c) ? json_string_value(c) : "");
    }
    buf_append(&b, "", 1);
    return (char *)buf_take(&b, &len);
}

static void render_csv(const json_t *doc, struct buf *b)
{
    static const char *const head[] = {"Mã đơn vị (code)",
                                       "Tên đơn vị (name)",
                                       "Cấp (level)",
                                       "Mã đơn vị cấp trên (parent code)",
                                       "Đơn vị cấp trên (parent)",
                                       "Xếp hạng (rank)",
                                       "Xếp hạng trong đơn vị cấp trên (rank in parent)",
                                       "Điểm (points)",
                                       "Điểm tối đa (max points)",
                                       "Chỉ số DTI (DTI value)",
                                       "Xếp loại (band)"};
    static const char *const tail[] = {"Số liệu đã có (inputs present)",
                                       "Số liệu phải có (inputs required)",
                                       "Mức đầy đủ (completeness)",
                                       "DTI kỳ trước (previous DTI)",
                                       "Thay đổi DTI (DTI change)",
                                       "Xếp hạng kỳ trước (previous rank)",
                                       "Thay đổi xếp hạng (rank change)",
                                       "Điểm tự đánh giá (self-assessed points)",
                                       "Chênh lệch thẩm định - tự đánh giá (gap)",
                                       "Phiên bản bộ chỉ số (framework version)",
                                       "Mã băm dữ liệu (input hash)"};
    json_t *pcols = pillar_columns(doc);
    buf_append(b, "\xEF\xBB\xBF", 3);
    for (size_t i = 0; i < ARRAY_SIZE(head); i++)
        csv_field(b, i == 0, head[i], true);
    size_t i;
    json_t *p, *u;
    json_array_foreach(pcols, i, p)
    {
        char *h = xasprintf("%s (%s)", jstr(p, "name"), jstr(p, "code"));
        csv_field(b, false, h, true);
        free(h);
    }
    for (size_t k = 0; k < ARRAY_SIZE(tail); k++)
        csv_field(b, false, tail[k], true);
    bool merged = json_object_get(doc, "merged_into_successors") != NULL;
    if (merged)
        csv_field(b, false, "Gộp từ (merged from)", true);
    buf_puts(b, "\r\n");
    json_array_foreach(json_object_get(doc, "units"), i, u)
    {
        const json_t *rank = json_object_get(u, "rank"), *comp = json_object_get(u, "completeness");
        const json_t *gr = json_object_get(u, "growth"),
                     *self = json_object_get(u, "self_assessed");
        char s[32];
        csv_field(b, true, jstr(u, "code"), true);
        csv_field(b, false, jstr(u, "name"), true);
        csv_field(b, false, level_vi(jstr(u, "level")), true);
        csv_field(b, false, jstr(u, "parent"), true);
        csv_field(b, false, jstr(u, "parent_name"), true);
        csv_num(b, rank, "level");
        if (json_is_string(json_object_get(u, "parent")))
            csv_num(b, rank, "parent");
        else
            csv_field(b, false, "", false); /* no parent, no rank in it */
        csv_num(b, u, "points");
        csv_num(b, u, "max");
        csv_num(b, u, "dti");
        csv_field(b, false, jstr(u, "band"), true);
        size_t j;
        json_array_foreach(pcols, j, p)
        {
            const json_t *up = find_code(json_object_get(u, "pillars"), jstr(p, "code"));
            s[0] = '\0';
            double d;
            if (up && jnum(up, "value", &d))
                fmt_num(d, s);
            csv_field(b, false, s, false);
        }
        csv_num(b, comp, "present");
        csv_num(b, comp, "required");
        csv_num(b, comp, "ratio");
        csv_num(b, gr, "previous_dti");
        csv_num(b, gr, "dti_change");
        csv_num(b, gr, "previous_rank");
        csv_num(b, gr, "rank_change");
        csv_num(b, self, "points");
        csv_num(b, self, "gap");
        csv_num(b, u, "framework_version");
        csv_field(b, false, jstr(u, "input_hash"), false);
        char *from = merged ? merged_from_text(u) : NULL;
        if (merged)
            csv_field(b, false, from ? from : "", true);
        free(from);
        buf_puts(b, "\r\n");
    }
    json_decref(pcols);
}

/* ---- HTML ---- */

static void html_esc(struct buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&#39;");
            break;
        default:
            buf_append(b, p, 1);
        }
    }
}

/* "năm 2023", "quý 1 năm 2023", "tháng 01 năm 2023" */
static void period_vi(const char *p, char out[40])
{
    if (p[4] == 'Q')
        snprintf(out, 40, "quý %c năm %.4s", p[5], p);
    else if (p[4] == '-')
        snprintf(out, 40, "tháng %.2s năm %.4s", p + 5, p);
    else
        snprintf(out, 40, "năm %.4s", p);
}

static const char *const BAND_COLOURS[] = {"#2e7d32", "#1565c0", "#ef6c00",
                                           "#c62828", "#6a1b9a", "#455a64"};
static const char *const PILLAR_COLOURS[] = {"#1565c0", "#2e7d32", "#ef6c00",
                                             "#6a1b9a", "#00838f", "#5d4037"};

static const char *band_colour(const json_t *fw, const char *band)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(fw, "bands"), i, b)
    {
        if (!strcmp(jstr(b, "name"), band))
            return BAND_COLOURS[i < ARRAY_SIZE(BAND_COLOURS) ? i : ARRAY_SIZE(BAND_COLOURS) - 1];
    }
    return "#455a64";
}

#define CHART_LABEL 300 /* px for the unit names */
#define CHART_BARS 420  /* px for a value of 1 */
#define CHART_WIDTH (CHART_LABEL + CHART_BARS + 80)

static void chart_axis(struct buf *b, int top, int height)
{
    static const char *const ticks[] = {"0", "0,2", "0,4", "0,6", "0,8", "1"};
    for (int t = 0; t < 6; t++) {
        int x = CHART_LABEL + CHART_BARS * t / 5;
        buf_printf(b,
                   "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>"
                   "<text x=\"%d\" y=\"%d\" class=\"tick\">%s</text>\n",
                   x, top, x, top + height, x, top - 6, ticks[t]);
    }
}

/* Horizontal bars of the DTI value of each unit of one level, in rank order. */
static void chart_dti(struct buf *b, const json_t *fw, const json_t *units)
{
    size_t n = json_array_size(units);
    int row = 20, top = 24, height = (int)n * row;
    buf_printf(b,
               "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" "
               "height=\"%d\" aria-label=\"Chỉ số DTI theo đơn vị\">\n",
               CHART_WIDTH, top + height + 8, CHART_WIDTH, top + height + 8);
    chart_axis(b, top, height);
    size_t i;
    json_t *u;
    json_array_foreach(units, i, u)
    {
        double dti = 0;
        jnum(u, "dti", &dti);
        double w = (dti > 1 ? 1 : dti < 0 ? 0 : dti) * CHART_BARS;
        int y = top + (int)i * row;
        char v[32];
        fmt_fixed_vi(dti, 4, v);
        buf_printf(b, "<g><title>");
        html_esc(b, jstr(u, "name"));
        buf_printf(b, ": DTI %s", v);
        if (*jstr(u, "band")) {
            buf_puts(b, " (");
            html_esc(b, jstr(u, "band"));
            buf_puts(b, ")");
        }
        buf_printf(b, "</title><text x=\"%d\" y=\"%d\" class=\"label\">%lld. ", CHART_LABEL - 8,
                   y + 14, (long long)jint(json_object_get(u, "rank"), "level"));
        html_esc(b, jstr(u, "name"));
        buf_printf(b,
                   "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%d\" class=\"value\">%s</text></g>\n",
                   CHART_LABEL, y + 3, w, band_colour(fw, jstr(u, "band")), CHART_LABEL + w + 4,
                   y + 14, v);
    }
    buf_puts(b, "</svg>\n");
}

/* Per unit, one thin bar per pillar value. */
static void chart_pillars(struct buf *b, const json_t *fw, const json_t *units)
{
    const json_t *pillars = json_object_get(fw, "pillars");
    size_t np = json_array_size(pillars), n = json_array_size(units);
    if (np == 0)
        return;
    int bar = 7, row = (int)np * (bar + 2) + 8, legend = 22, top = legend + 22,
        height = (int)n * row;
    buf_printf(b,
               "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" "
               "height=\"%d\" aria-label=\"Giá trị các trụ cột theo đơn vị\">\n",
               CHART_WIDTH, top + height + 8, CHART_WIDTH, top + height + 8);
    size_t i;
    json_t *p, *u;
    int lx = CHART_LABEL;
    json_array_foreach(pillars, i, p)
    {
        buf_printf(b,
                   "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"15\" class=\"legend\">",
                   lx, PILLAR_COLOURS[i % ARRAY_SIZE(PILLAR_COLOURS)], lx + 16);
        html_esc(b, jstr(p, "name"));
        buf_puts(b, "</text>\n");
        lx += 150;
    }
    chart_axis(b, top, height);
    json_array_foreach(units, i, u)
    {
        int y = top + (int)i * row;
        buf_printf(b, "<text x=\"%d\" y=\"%d\" class=\"label\">", CHART_LABEL - 8, y + row / 2 + 4);
        html_esc(b, jstr(u, "name"));
        buf_puts(b, "</text>\n");
        size_t j;
        json_array_foreach(pillars, j, p)
        {
            const json_t *up = find_code(json_object_get(u, "pillars"), jstr(p, "code"));
            double v = 0;
            if (up)
                jnum(up, "value", &v);
            char vs[32];
            fmt_fixed_vi(v, 4, vs);
            double w = (v > 1 ? 1 : v < 0 ? 0 : v) * CHART_BARS;
            buf_printf(b,
                       "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                       "<title>",
                       CHART_LABEL, y + 4 + (int)j * (bar + 2), w, bar,
                       PILLAR_COLOURS[j % ARRAY_SIZE(PILLAR_COLOURS)]);
            html_esc(b, jstr(u, "name"));
            buf_puts(b, " - ");
            html_esc(b, jstr(p, "name"));
            buf_printf(b, ": %s</title></rect>\n", vs);
        }
    }
    buf_puts(b, "</svg>\n");
}

static void html_cell_num(struct buf *b, const json_t *o, const char *key, bool fixed4)
{
    double d;
    char s[32] = "";
    if (jnum(o, key, &d)) {
        if (fixed4)
            fmt_fixed_vi(d, 4, s);
        else
            fmt_num_vi(d, s);
    }
    buf_printf(b, "<td class=\"n\">%s</td>", s);
}

static void html_table(struct buf *b, const json_t *fw, const json_t *units)
{
    const json_t *pillars = json_object_get(fw, "pillars");
    buf_puts(b, "<div class=\"scroll\"><table>\n<thead><tr><th>Hạng</th><th>Mã</th>"
                "<th>Đơn vị</th><th>Đơn vị cấp trên</th><th>Hạng trong cấp trên</th>"
                "<th>Điểm</th><th>Chỉ số DTI</th><th>Xếp loại</th>");
    size_t i, j;
    json_t *p, *u;
    json_array_foreach(pillars, i, p)
    {
        buf_puts(b, "<th>");
        html_esc(b, jstr(p, "name"));
        buf_puts(b, "</th>");
    }
    buf_puts(b, "<th>Đủ số liệu</th><th>DTI thay đổi</th><th>Hạng thay đổi</th>"
                "<th>Điểm tự đánh giá</th><th>Chênh lệch</th>");
    bool merged = json_is_array(json_object_get(json_array_get(units, 0), "merged_from"));
    if (merged)
        buf_puts(b, "<th>Gộp từ</th>");
    buf_puts(b, "</tr></thead>\n<tbody>\n");
    json_array_foreach(units, i, u)
    {
        const json_t *rank = json_object_get(u, "rank"), *comp = json_object_get(u, "completeness");
        const json_t *gr = json_object_get(u, "growth"),
                     *self = json_object_get(u, "self_assessed");
        buf_printf(b, "<tr><td class=\"n\">%lld</td><td>", (long long)jint(rank, "level"));
        html_esc(b, jstr(u, "code"));
        buf_puts(b, "</td><td>");
        html_esc(b, jstr(u, "name"));
        buf_puts(b, "</td><td>");
        html_esc(b, jstr(u, "parent_name"));
        if (json_is_string(json_object_get(u, "parent")))
            buf_printf(b, "</td><td class=\"n\">%lld/%lld</td>", (long long)jint(rank, "parent"),
                       (long long)jint(rank, "parent_units"));
        else
            buf_puts(b, "</td><td></td>");
        html_cell_num(b, u, "points", false);
        html_cell_num(b, u, "dti", true);
        buf_puts(b, "<td>");
        html_esc(b, jstr(u, "band"));
        buf_puts(b, "</td>");
        json_array_foreach(pillars, j, p)
        {
            const json_t *up = find_code(json_object_get(u, "pillars"), jstr(p, "code"));
            html_cell_num(b, up, "value", true);
        }
        buf_printf(b, "<td class=\"n\">%lld/%lld</td>", (long long)jint(comp, "present"),
                   (long long)jint(comp, "required"));
        double d;
        if (json_is_object(gr) && jnum(gr, "dti_change", &d)) {
            char s[32];
            fmt_fixed_vi(d, 4, s);
            bool zero = strspn(s, "0,") == strlen(s);
            buf_printf(b, "<td class=\"n\">%s%s</td>", d > 0 && !zero ? "+" : "", s);
            json_int_t rc = jint(gr, "rank_change");
            if (rc > 0)
                buf_printf(b, "<td class=\"n up\">▲ %lld</td>", (long long)rc);
            else if (rc < 0)
                buf_printf(b, "<td class=\"n down\">▼ %lld</td>", (long long)-rc);
            else
                buf_puts(b, "<td class=\"n\">=</td>");
        } else {
            buf_puts(b, "<td></td><td></td>");
        }
        html_cell_num(b, self, "points", false);
        html_cell_num(b, self, "gap", false);
        char *from = merged ? merged_from_text(u) : NULL;
        if (from) {
            buf_puts(b, "<td>");
            html_esc(b, from);
            buf_puts(b, "</td>");
        }
        free(from);
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</tbody></table></div>\n");
}

static const char HTML_STYLE[] =
    "body{font-family:\"Segoe UI\",Roboto,\"Noto Sans\",Arial,sans-serif;margin:1.5em;"
    "color:#212121;max-width:1200px}"
    "h1{font-size:1.5em}h2{font-size:1.25em;margin-top:2em;border-bottom:2px solid #1565c0}"
    "h3{font-size:1.05em;margin-top:1.5em}.meta{color:#555}"
    ".scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}"
    "th{background:#e3f2fd;text-align:left}tr:nth-child(even) td{background:#fafafa}"
    "td.n{text-align:right;white-space:nowrap}.up{color:#2e7d32}.down{color:#c62828}"
    "svg.chart{max-width:100%;height:auto;font-size:12px}"
    "svg .label{text-anchor:end}svg .tick{text-anchor:middle;fill:#555;font-size:11px}"
    "svg .grid{stroke:#ddd;stroke-width:1}svg .value{fill:#333}"
    "footer{margin-top:2em;color:#777;font-size:.85em}"
    "@media print{.scroll{overflow:visible}}";

static void render_html(const json_t *doc, struct buf *b)
{
    char pv[40];
    period_vi(jstr(doc, "period"), pv);
    buf_puts(b, "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>");
    buf_printf(b, "Kết quả đánh giá chuyển đổi số (DTI) %s", pv);
    buf_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n", HTML_STYLE);
    buf_printf(b, "<h1>Kết quả đánh giá chỉ số chuyển đổi số (DTI) %s</h1>\n", pv);
    buf_printf(b, "<p class=\"meta\">Lần chấm điểm số %lld, lúc ", (long long)jint(doc, "run"));
    html_esc(b, jstr(doc, "ran"));
    buf_puts(b, ", người thực hiện: ");
    html_esc(b, jstr(doc, "ran_by"));
    buf_puts(b, ".</p>\n");
    const json_t *merge = json_object_get(doc, "merged_into_successors");
    if (merge) {
        buf_puts(b, "<p class=\"meta\">Đơn vị đã sáp nhập được gộp vào đơn vị kế thừa theo hiện "
                    "trạng ngày ");
        html_esc(b, jstr(merge, "as_of"));
        buf_puts(b, " (số liệu gộp theo cách tổng hợp của từng chỉ tiêu, chấm điểm lại; không "
                    "lưu).</p>\n");
    }
    const json_t *all = json_object_get(doc, "units");
    size_t i;
    json_t *fw;
    json_array_foreach(json_object_get(doc, "frameworks"), i, fw)
    {
        json_int_t version = jint(fw, "version");
        json_t *units = json_array();
        size_t k;
        json_t *u;
        json_array_foreach(all, k, u)
        {
            if (jint(u, "framework_version") == version)
                json_array_append(units, u);
        }
        buf_printf(b, "<section>\n<h2>Cấp %s: ", level_vi(jstr(fw, "level")));
        html_esc(b, jstr(fw, "name"));
        buf_printf(b, "</h2>\n<p class=\"meta\">Bộ chỉ số ");
        html_esc(b, jstr(fw, "id"));
        char mx[32];
        double d = 0;
        jnum(fw, "max_points", &d);
        fmt_num_vi(d, mx);
        buf_printf(b, ", phiên bản %lld, tổng điểm tối đa %s; %zu đơn vị được chấm điểm.</p>\n",
                   (long long)version, mx, json_array_size(units));
        buf_puts(b, "<h3>Bảng xếp hạng</h3>\n");
        html_table(b, fw, units);
        buf_puts(b, "<h3>Chỉ số DTI theo đơn vị</h3>\n");
        chart_dti(b, fw, units);
        if (json_array_size(json_object_get(fw, "pillars"))) {
            buf_puts(b, "<h3>Giá trị các trụ cột theo đơn vị</h3>\n");
            chart_pillars(b, fw, units);
        }
        buf_puts(b, "</section>\n");
        json_decref(units);
    }
    buf_puts(b, "<footer>Điểm và chỉ số do dti-hub tính từ số liệu đã lưu; mỗi kết quả ghi "
                "phiên bản bộ chỉ số và mã băm dữ liệu đầu vào để có thể tính lại. Chênh lệch = "
                "điểm thẩm định − điểm tự đánh giá.</footer>\n</body>\n</html>\n");
}

/* ---- roll-up renderings ---- */

/* One row per group: counts, completeness, DTI mean/min/max, then one column
 * per aggregated element (the framework's, in its order). */
static void render_group_csv(const json_t *doc, struct buf *b)
{
    static const char *const head[] = {"Mã đơn vị (code)",
                                       "Tên đơn vị (name)",
                                       "Cấp (level)",
                                       "Số đơn vị (units)",
                                       "Số đơn vị có số liệu (reporting)",
                                       "Mức đầy đủ bình quân (completeness)",
                                       "DTI bình quân (DTI mean)",
                                       "DTI thấp nhất (DTI min)",
                                       "DTI cao nhất (DTI max)"};
    buf_append(b, "\xEF\xBB\xBF", 3);
    for (size_t i = 0; i < ARRAY_SIZE(head); i++)
        csv_field(b, i == 0, head[i], true);
    const json_t *groups = json_object_get(doc, "groups");
    const json_t *first = json_array_get(groups, 0);
    size_t i, j;
    json_t *g, *el;
    json_array_foreach(json_object_get(first, "elements"), j, el)
    {
        char *h =
            xasprintf("%s (%s, %s)", jstr(el, "name"), jstr(el, "code"), jstr(el, "aggregate"));
        csv_field(b, false, h, true);
        free(h);
    }
    buf_puts(b, "\r\n");
    json_array_foreach(groups, i, g)
    {
        const json_t *dti = json_object_get(g, "dti");
        csv_field(b, true, jstr(g, "code"), true);
        csv_field(b, false, jstr(g, "name"), true);
        csv_field(b, false, level_vi(jstr(g, "level")), true);
        csv_num(b, g, "units");
        csv_num(b, g, "reporting");
        csv_num(b, g, "completeness");
        csv_num(b, dti, "mean");
        csv_num(b, dti, "min");
        csv_num(b, dti, "max");
        json_array_foreach(json_object_get(g, "elements"), j, el)
        {
            csv_num(b, el, "value");
        }
        buf_puts(b, "\r\n");
    }
}

static void render_group_html(const json_t *doc, struct buf *b)
{
    char pv[40];
    period_vi(jstr(doc, "period"), pv);
    const char *lv = level_vi(jstr(doc, "level")), *gv = level_vi(jstr(doc, "group_by"));
    buf_puts(b, "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>");
    buf_printf(b, "Tổng hợp DTI cấp %s theo %s %s", lv, gv, pv);
    buf_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n", HTML_STYLE);
    buf_printf(b, "<h1>Tổng hợp chỉ số DTI cấp %s theo %s, %s</h1>\n", lv, gv, pv);
    buf_printf(b, "<p class=\"meta\">Lần chấm điểm số %lld, lúc ", (long long)jint(doc, "run"));
    html_esc(b, jstr(doc, "ran"));
    buf_puts(b, "; đơn vị hành chính theo hiện trạng ngày ");
    html_esc(b, jstr(doc, "as_of"));
    buf_puts(b, ".</p>\n");
    size_t i, k;
    json_t *g, *u, *el;
    json_array_foreach(json_object_get(doc, "groups"), i, g)
    {
        const json_t *dti = json_object_get(g, "dti");
        char c[32], mean[32], mn[32], mx[32];
        double d = 0;
        jnum(g, "completeness", &d);
        fmt_fixed_vi(d, 4, c);
        d = 0;
        jnum(dti, "mean", &d);
        fmt_fixed_vi(d, 4, mean);
        d = 0;
        jnum(dti, "min", &d);
        fmt_fixed_vi(d, 4, mn);
        d = 0;
        jnum(dti, "max", &d);
        fmt_fixed_vi(d, 4, mx);
        buf_puts(b, "<section>\n<h2>");
        html_esc(b, jstr(g, "name"));
        buf_puts(b, " (");
        html_esc(b, jstr(g, "code"));
        buf_printf(b,
                   ")</h2>\n<p class=\"meta\">%lld đơn vị, %lld có số liệu; mức đầy đủ bình quân "
                   "%s; DTI bình quân %s (thấp nhất %s, cao nhất %s).</p>\n",
                   (long long)jint(g, "units"), (long long)jint(g, "reporting"), c, mean, mn, mx);
        buf_puts(b, "<div class=\"scroll\"><table>\n<thead><tr><th>Hạng</th><th>Mã</th>"
                    "<th>Đơn vị</th><th>Điểm</th><th>Chỉ số DTI</th><th>Mức đầy đủ</th>"
                    "</tr></thead>\n<tbody>\n");
        json_array_foreach(json_object_get(g, "ranking"), k, u)
        {
            buf_printf(b, "<tr><td class=\"n\">%lld</td><td>", (long long)jint(u, "rank"));
            html_esc(b, jstr(u, "code"));
            buf_puts(b, "</td><td>");
            html_esc(b, jstr(u, "name"));
            buf_puts(b, "</td>");
            html_cell_num(b, u, "points", false);
            html_cell_num(b, u, "dti", true);
            html_cell_num(b, u, "completeness", true);
            buf_puts(b, "</tr>\n");
        }
        buf_puts(b, "</tbody></table></div>\n");
        if (json_array_size(json_object_get(g, "elements"))) {
            buf_puts(b, "<h3>Số liệu tổng hợp</h3>\n<div class=\"scroll\"><table>\n<thead><tr>"
                        "<th>Số liệu</th><th>Cách tổng hợp</th><th>Giá trị</th>"
                        "<th>Số đơn vị</th></tr></thead>\n<tbody>\n");
            json_array_foreach(json_object_get(g, "elements"), k, el)
            {
                buf_puts(b, "<tr><td>");
                html_esc(b, jstr(el, "name"));
                buf_puts(b, "</td><td>");
                html_esc(b, jstr(el, "aggregate"));
                if (*jstr(el, "weight")) {
                    buf_puts(b, " (");
                    html_esc(b, jstr(el, "weight"));
                    buf_puts(b, ")");
                }
                buf_puts(b, "</td>");
                html_cell_num(b, el, "value", false);
                html_cell_num(b, el, "units", false);
                buf_puts(b, "</tr>\n");
            }
            buf_puts(b, "</tbody></table></div>\n");
        }
        buf_puts(b, "</section>\n");
    }
    buf_puts(b,
             "<footer>Mỗi đơn vị được tính một lần, theo đơn vị cấp trên ngày cuối kỳ.</footer>\n"
             "</body>\n</html>\n");
}

/* ---- rendering ---- */

static int dump_cb(const char *p, size_t n, void *data)
{
    return buf_append(data, p, n) < 0 ? -1 : 0;
}

int report_render_doc(const json_t *doc, enum report_format f, struct buf *out, struct dti_err *e)
{
    /* rendered whole first, then held against out's ceiling in one append */
    struct buf tmp;
    int r = 0;
    buf_init(&tmp, BUF_UNLIMITED);
    switch (f) {
    case REPORT_JSON:
        json_dump_callback(doc, dump_cb, &tmp,
                           JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        buf_puts(&tmp, "\n");
        break;
    case REPORT_CSV:
        if (json_object_get(doc, "group_by"))
            render_group_csv(doc, &tmp);
        else
            render_csv(doc, &tmp);
        break;
    case REPORT_HTML:
        if (json_object_get(doc, "group_by"))
            render_group_html(doc, &tmp);
        else
            render_html(doc, &tmp);
        break;
    }
    if (buf_append(out, tmp.data, tmp.len) < 0)
        r = dti_errf(e, DTI_ETOOBIG, "the report (%zu bytes) is larger than %zu bytes", tmp.len,
                     out->limit);
    buf_release(&tmp);
    return r;
}

int report_render(sqlite3 *db, const char *period, const char *level, enum report_format f,
                  struct buf *out, struct dti_err *e)
{
    json_t *doc = NULL;
    int r = report_json(db, period, level, &doc, e);
    if (r < 0)
        return r;
    r = report_render_doc(doc, f, out, e);
    json_decref(doc);
    return r;
}

/* ---- explain ---- */

static json_t *method_json(const struct framework *fw, const struct fw_method *m)
{
    json_t *o = json_pack("{s:s}", "kind", fw_method_name(m->kind));
    switch (m->kind) {
    case FW_METHOD_RATIO:
        if (m->has_target)
            json_object_set_new(o, "target", json_real(m->target));
        json_object_set_new(o, "zero_denominator", json_string(m->zero_full ? "full" : "zero"));
        break;
    case FW_METHOD_TIERS: {
        json_t *t = json_array();
        for (size_t i = 0; i < m->ntiers; i++)
            json_array_append_new(t,
                                  json_pack("[f, f]", m->tiers[i].threshold, m->tiers[i].points));
        json_object_set_new(o, "tiers", t);
        break;
    }
    case FW_METHOD_CATEGORICAL: {
        json_t *map = json_object();
        for (size_t i = 0; i < m->nmap; i++)
            json_object_set_new(map, m->map[i].category, json_real(m->map[i].fraction));
        json_object_set_new(o, "map", map);
        break;
    }
    case FW_METHOD_NONE:
    case FW_METHOD_CHECKS:
    case FW_METHOD_BOOLEAN:
    case FW_METHOD_VALUE:
        break;
    }
    return o;
}

/* Stored inputs (detail "inputs") back into values parallel to fw->elements;
 * texts are borrowed from detail. false when an input names no element. */
static bool inputs_from_detail(const struct framework *fw, const json_t *detail, struct value *in)
{
    bool ok = true;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(detail, "inputs"), key, v)
    {
        size_t i;
        if (!framework_find_element(fw, key, &i)) {
            ok = false;
            continue;
        }
        if (json_is_number(v)) {
            in[i].kind = VALUE_NUMBER;
            in[i].num = json_number_value(v);
        } else if (json_is_boolean(v)) {
            in[i].kind = VALUE_BOOL;
            in[i].b = json_is_true(v);
        } else if (json_is_string(v)) {
            in[i].kind = VALUE_TEXT;
            in[i].text = json_string_value(v);
        } else {
            ok = false;
        }
    }
    return ok;
}

static json_t *input_json(const struct framework *fw, size_t el, const struct value *in,
                          const char *role)
{
    json_t *o =
        json_pack("{s:s, s:s}", "element", fw->elements[el].code, "name", fw->elements[el].name);
    if (role)
        json_object_set_new(o, "role", json_string(role));
    json_object_set_new(o, "value", cli_json_value(&in[el]));
    json_object_set_new(o, "missing", json_boolean(in[el].kind == VALUE_NONE));
    return o;
}

int report_explain_json(sqlite3 *db, const char *unit, const char *period, json_t **out,
                        struct dti_err *e)
{
    if (!period_valid(period))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s': expected YYYY, YYYYQn or YYYY-MM",
                        period);
    if (!unit_code_valid(unit))
        return dti_errf(e, DTI_EUNIT, "invalid unit code '%s'", unit);
    char prev[PERIOD_MAX + 1];
    bool has_prev = scoring_previous_period(period, prev);
    json_t *doc = json_object(), *detail = NULL;
    struct framework *fw = NULL;
    struct value *in = NULL;
    struct score_result *res = NULL;
    sqlite3_stmt *st = NULL;
    int64_t run;
    json_object_set_new(doc, "unit", json_string(unit));
    json_object_set_new(doc, "period", json_string(period));
    int r = latest_run(db, period, &run, doc, e);
    if (r < 0)
        goto out;
    /* the window counts need the whole level of the run, then one row */
    if ((r = db_prepare(db, &st,
                        "SELECT * FROM (" RESULT_COLS "WHERE r.run = ?1 AND r.level = "
                        "(SELECT level FROM results WHERE run = ?1 AND unit = ?2)) "
                        "WHERE unit = ?2",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, unit, -1, SQLITE_STATIC);
    bind_day(st, period);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        r = dti_errf(e, DTI_ENOTFOUND, "unit %s was not scored in run %lld of period %s", unit,
                     (long long)run, period);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = db_fail(db, e, "read the result");
        goto out;
    }
    int64_t version = sqlite3_column_int64(st, C_FW);
    if ((r = frameworks_load(db, version, &fw, e)) < 0 || (r = load_detail(st, &detail, e)) < 0)
        goto out;

    json_t *fig = result_figures(st, has_prev ? prev : NULL);
    json_object_update(doc, fig);
    json_decref(fig);
    json_object_set_new(doc, "unit", json_string(unit));
    json_object_set_new(doc, "framework", framework_json(version, fw));

    /* re-score the stored inputs: they must give the stored hash and points */
    in = xcalloc(fw->nelements ? fw->nelements : 1, sizeof(*in));
    bool known = inputs_from_detail(fw, detail, in);
    score_unit(fw, in, &res);
    bool reproduced =
        known && sqlite3_column_bytes(st, C_HASH) == CRYPTO_SHA256_LEN &&
        !memcmp(sqlite3_column_blob(st, C_HASH), res->input_hash, CRYPTO_SHA256_LEN) &&
        res->points == sqlite3_column_double(st, C_POINTS);
    json_object_set_new(doc, "reproduced", json_boolean(reproduced));

    json_t *comps = json_array();
    const json_t *dcomps = json_object_get(detail, "components");
    for (size_t i = 0; i < fw->ncomponents; i++) {
        const struct fw_component *c = &fw->components[i];
        const json_t *a = json_object_get(dcomps, c->code);
        json_t *ins = json_array();
        for (size_t k = 0; k < c->method.ninputs; k++) {
            const char *role = NULL;
            if (c->method.kind == FW_METHOD_RATIO)
                role = k == 0 ? "numerator" : "denominator";
            json_array_append_new(ins, input_json(fw, c->method.inputs[k], in, role));
        }
        json_t *o = json_pack("{s:s, s:s, s:s}", "indicator", fw->indicators[c->indicator].code,
                              "code", c->code, "name", c->name);
        json_object_set_new(o, "method", method_json(fw, &c->method));
        json_object_set_new(o, "inputs", ins);
        json_object_set_new(o, "points", json_real(json_number_value(json_array_get(a, 0))));
        json_object_set_new(o, "max", json_real(c->max_points));
        json_object_set_new(o, "note",
                            json_string(json_string_value(json_array_get(a, 1))
                                            ? json_string_value(json_array_get(a, 1))
                                            : ""));
        json_object_set_new(o, "missing", json_integer(json_integer_value(json_array_get(a, 2))));
        if (c->evidence)
            json_object_set_new(o, "evidence", json_string(c->evidence));
        json_array_append_new(comps, o);
    }
    json_object_set_new(doc, "components", comps);
    json_object_set_new(doc, "indicators", indicators_json(detail, fw, true));
    json_object_set_new(doc, "pillars",
                        groups_json(detail, "pillars", fw->pillars, fw->npillars, true));
    json_object_set_new(doc, "groups",
                        groups_json(detail, "groups", fw->groups, fw->ngroups, true));
    json_t *missing = json_array();
    for (size_t i = 0; i < fw->nrequired; i++)
        if (in[fw->required[i]].kind == VALUE_NONE)
            json_array_append_new(missing, json_string(fw->elements[fw->required[i]].code));
    json_object_set_new(doc, "missing_inputs", missing);
    *out = json_incref(doc);
out:
    sqlite3_finalize(st);
    score_result_free(res);
    free(in);
    framework_free(fw);
    json_decref(detail);
    json_decref(doc);
    return r;
}

/* ---- merged units rolled into their successors (a view, nothing stored) ---- */

#define MERGE_CHAIN_MAX 64 /* successor links followed from one unit */

/* Whether s is a date YYYY-MM-DD that exists. */
static bool date_valid(const char *s)
{
    char month[PERIOD_MAX + 1], first[11], last[11];
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || s[8] < '0' || s[8] > '9' || s[9] < '0' ||
        s[9] > '9')
        return false;
    snprintf(month, sizeof(month), "%.7s", s);
    return units_period_days(month, first, last) && strcmp(s + 8, "01") >= 0 &&
           strcmp(s + 8, last + 8) <= 0;
}

/* The unit code is reported under on as_of: the first unit of its successor
 * chain (itself included) in effect that day, or code itself when the chain
 * ends at a unit not in effect. A chain that comes back to a unit it passed
 * is damaged data: DTI_EDB naming the loop. */
static int merge_target(sqlite3 *db, const char *code, const char *as_of,
                        char out[UNIT_CODE_MAX + 1], struct dti_err *e)
{
    char seen[MERGE_CHAIN_MAX + 1][UNIT_CODE_MAX + 1];
    size_t n = 0;
    snprintf(seen[n++], UNIT_CODE_MAX + 1, "%s", code);
    for (;;) {
        struct unit_asof u;
        int r = units_as_of(db, seen[n - 1], as_of, &u, e);
        if (r < 0)
            return r;
        if (u.exists || !u.successor[0]) {
            const char *t = u.exists ? seen[n - 1] : code;
            size_t len = strnlen(t, UNIT_CODE_MAX);
            memcpy(out, t, len);
            out[len] = '\0';
            return 0;
        }
        bool loop = false;
        for (size_t i = 0; i < n && !loop; i++)
            loop = !strcmp(seen[i], u.successor);
        if (loop || n == ARRAY_SIZE(seen)) {
            struct buf b;
            buf_init(&b, BUF_UNLIMITED);
            for (size_t i = 0; i < n; i++)
                buf_printf(&b, "%s -> ", seen[i]);
            buf_puts(&b, u.successor);
            r = dti_errf(e, DTI_EDB, "the successors of unit %s %s: %s", code,
                         loop ? "form a loop" : "are too many", b.data);
            buf_release(&b);
            return r;
        }
        snprintf(seen[n++], UNIT_CODE_MAX + 1, "%s", u.successor);
    }
}

/*
 * The inputs of the units reported under one successor, combined per element
 * into out (texts borrowed from in): in[0..n) in unit-code order, own the
 * index of the successor among them or -1 (it did not exist in the period).
 * A single unit's inputs are taken as they are. Numbers of an element with an
 * aggregate hint: sum, mean over the units that have one, or weighted_mean (Σ
 * v·w / Σ w over the units that have both; the plain mean when no unit has a
 * weight or the weights sum to 0); one number alone is taken as it is.
 * Elements without a hint (and hinted ones no unit has a number for): the
 * successor's own value, else the first unit's in code order that has one.
 * Pure.
 */
static void merge_inputs(const struct framework *fw, const struct value *const *in, size_t n,
                         long own, struct value *out)
{
    for (size_t i = 0; i < fw->nelements; i++) {
        const struct fw_element *el = &fw->elements[i];
        out[i] = (struct value){0};
        if (n == 1) {
            out[i] = in[0][i];
            continue;
        }
        if (el->aggregate != FW_AGG_NONE) {
            size_t count = 0, only = 0, weighted = 0;
            double sum = 0, wsum = 0, wvsum = 0;
            for (size_t k = 0; k < n; k++) {
                if (in[k][i].kind != VALUE_NUMBER)
                    continue;
                count++;
                only = k;
                sum += in[k][i].num;
                if (el->aggregate == FW_AGG_WEIGHTED_MEAN &&
                    in[k][el->weight].kind == VALUE_NUMBER) {
                    weighted++;
                    wsum += in[k][el->weight].num;
                    wvsum += in[k][i].num * in[k][el->weight].num;
                }
            }
            if (count == 1) {
                out[i] = in[only][i];
                continue;
            }
            if (count > 1) {
                out[i].kind = VALUE_NUMBER;
                if (el->aggregate == FW_AGG_SUM)
                    out[i].num = sum;
                else if (el->aggregate == FW_AGG_WEIGHTED_MEAN && weighted && wsum != 0)
                    out[i].num = wvsum / wsum;
                else
                    out[i].num = sum / (double)count;
                continue;
            }
        }
        if (own >= 0 && in[own][i].kind != VALUE_NONE) {
            out[i] = in[own][i];
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (in[k][i].kind != VALUE_NONE) {
                out[i] = in[k][i];
                break;
            }
    }
}

/* One unit of the level that existed during the period. */
struct merge_unit {
    char code[UNIT_CODE_MAX + 1];
    char target[UNIT_CODE_MAX + 1]; /* the unit it is reported under */
    json_t *detail;                 /* {"inputs": ...}: owns the texts inputs borrow */
    struct value *inputs;           /* parallel to the framework's elements */
};

static int merge_unit_cmp(const void *a, const void *b)
{
    const struct merge_unit *x = a, *y = b;
    int c = strcmp(x->target, y->target);
    return c ? c : strcmp(x->code, y->code);
}

/* One unit of the merged report: a successor and the units under it. */
struct merge_row {
    char code[UNIT_CODE_MAX + 1];
    struct unit_asof asof; /* the successor on as_of */
    char parent_name[UNIT_NAME_MAX + 1];
    struct score_result *res;
    struct value *inputs; /* combined; texts borrowed from the merge_units */
    json_t *merged_from;
    unsigned rank_level, rank_parent;
    size_t parent_units;
};

static int merge_row_cmp(const void *a, const void *b)
{
    const struct merge_row *x = a, *y = b;
    if (x->rank_level != y->rank_level)
        return x->rank_level < y->rank_level ? -1 : 1;
    return strcmp(x->code, y->code);
}

/* The current values of (unit, period) that fw reads, as {"inputs": {...}}:
 * for a unit the run did not score (it ended before the period's last day). */
static int merge_current_inputs(sqlite3 *db, sqlite3_stmt *st, const struct framework *fw,
                                const char *unit, const char *period, json_t **out,
                                struct dti_err *e)
{
    json_t *inputs = json_object();
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t i;
        struct value v;
        if (!framework_find_element(fw, db_column_str(st, 0), &i))
            continue;
        db_column_value(st, 1, &v);
        if (v.kind != VALUE_NONE)
            json_object_set_new(inputs, fw->elements[i].code, cli_json_value(&v));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(inputs);
        return db_fail(db, e, "read values");
    }
    *out = json_pack("{s:o}", "inputs", inputs);
    return 0;
}

/* The score as a stored detail would hold it, for groups_json and indicators_json. */
static json_t *merge_detail(const struct framework *fw, const struct score_result *res)
{
    json_t *d = json_object(), *inds = json_object(), *pil = json_object(), *grp = json_object();
    for (size_t i = 0; i < fw->nindicators; i++)
        json_object_set_new(inds, fw->indicators[i].code, json_real(res->indicators[i].points));
    for (size_t i = 0; i < fw->npillars; i++)
        json_object_set_new(pil, fw->pillars[i].code, json_real(res->pillars[i].points));
    for (size_t i = 0; i < fw->ngroups; i++)
        json_object_set_new(grp, fw->groups[i].code, json_real(res->groups[i].points));
    json_object_set_new(d, "indicators", inds);
    json_object_set_new(d, "pillars", pil);
    json_object_set_new(d, "groups", grp);
    return d;
}

static json_t *merge_row_json(const struct framework *fw, int64_t version, const char *level,
                              const struct merge_row *m, size_t level_units)
{
    const struct score_result *res = m->res;
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    hex_encode(res->input_hash, CRYPTO_SHA256_LEN, hex);
    const char *parent = m->asof.parent;
    json_t *o = json_object();
    json_object_set_new(o, "code", json_string(m->code));
    json_object_set_new(o, "name", json_string(m->asof.name[0] ? m->asof.name : m->code));
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "parent", *parent ? json_string(parent) : json_null());
    json_object_set_new(o, "parent_name",
                        *parent ? json_string(m->parent_name[0] ? m->parent_name : parent)
                                : json_null());
    json_object_set_new(o, "framework_version", json_integer(version));
    json_object_set_new(o, "points", json_real(res->points));
    json_object_set_new(o, "max", json_real(res->max));
    json_object_set_new(o, "dti", json_real(res->dti));
    json_object_set_new(o, "band", res->band_name ? json_string(res->band_name) : json_null());
    json_object_set_new(o, "rank",
                        json_pack("{s:I, s:I, s:I, s:I}", "level", (json_int_t)m->rank_level,
                                  "level_units", (json_int_t)level_units, "parent",
                                  (json_int_t)m->rank_parent, "parent_units",
                                  (json_int_t)m->parent_units));
    json_object_set_new(o, "completeness",
                        json_pack("{s:I, s:I, s:f}", "required", (json_int_t)res->inputs_required,
                                  "present", (json_int_t)res->inputs_present, "ratio",
                                  res->completeness));
    json_object_set_new(o, "growth", json_null());
    json_object_set_new(o, "self_assessed", json_null());
    json_object_set_new(o, "input_hash", json_string(hex));
    json_t *detail = merge_detail(fw, res);
    json_object_set_new(o, "pillars",
                        groups_json(detail, "pillars", fw->pillars, fw->npillars, false));
    json_object_set_new(o, "groups", groups_json(detail, "groups", fw->groups, fw->ngroups, false));
    json_object_set_new(o, "indicators", indicators_json(detail, fw, false));
    json_decref(detail);
    json_t *comps = json_object(), *inputs = json_object();
    for (size_t i = 0; i < fw->ncomponents; i++)
        json_object_set_new(comps, fw->components[i].code, json_real(res->components[i].points));
    for (size_t i = 0; i < fw->nelements; i++)
        if (m->inputs[i].kind != VALUE_NONE)
            json_object_set_new(inputs, fw->elements[i].code, cli_json_value(&m->inputs[i]));
    json_object_set_new(o, "components", comps);
    json_object_set_new(o, "inputs", inputs);
    json_object_set(o, "merged_from", m->merged_from);
    return o;
}

/* rank_level over all rows; rank_parent and parent_units over the rows that
 * share a parent on as_of. */
static void merge_rank(struct merge_row *m, size_t n)
{
    if (n == 0)
        return;
    double *dti = xmalloc(n * sizeof(*dti));
    const char **parent = xmalloc(n * sizeof(*parent));
    unsigned *all = xmalloc(n * sizeof(*all)), *in_parent = xmalloc(n * sizeof(*in_parent));
    size_t *size = xmalloc(n * sizeof(*size));
    for (size_t i = 0; i < n; i++) {
        dti[i] = m[i].res->dti;
        parent[i] = m[i].asof.parent;
    }
    score_rank_grouped(dti, parent, n, all, in_parent, size);
    for (size_t i = 0; i < n; i++) {
        m[i].rank_level = all[i];
        m[i].rank_parent = in_parent[i];
        m[i].parent_units = size[i];
    }
    free(size);
    free(in_parent);
    free(all);
    free(parent);
    free(dti);
}

int report_merged_json(sqlite3 *db, const char *period, const char *level, const char *as_of,
                       json_t **out, struct dti_err *e)
{
    enum fw_level lv;
    char first[11], last[11];
    if (!units_period_days(period, first, last))
        return dti_errf(e, DTI_EPERIOD, "invalid period '%s': expected YYYY, YYYYQn or YYYY-MM",
                        period);
    if (!level || fw_level_parse(level, &lv) < 0)
        return dti_errf(e, DTI_EINVAL,
                        "unknown level '%s': expected commune, district, department or province",
                        level ? level : "");
    if (!date_valid(as_of))
        return dti_errf(e, DTI_EINVAL, "invalid date '%s': expected YYYY-MM-DD", as_of);
    json_t *doc = json_object(), *units = json_array();
    struct framework *fw = NULL;
    struct merge_unit *mu = NULL;
    struct merge_row *rows = NULL;
    const struct value **in = NULL;
    size_t n = 0, cap = 0, nrows = 0;
    sqlite3_stmt *st = NULL, *vals = NULL;
    int64_t run, version = 0;
    int rc;
    json_object_set_new(doc, "period", json_string(period));
    int r = latest_run(db, period, &run, doc, e);
    if (r < 0)
        goto out;
    json_object_set_new(doc, "level", json_string(level));
    json_object_set_new(doc, "previous_period", json_null());
    json_object_set_new(doc, "merged_into_successors", json_pack("{s:s}", "as_of", as_of));

    /* the framework version the run scored the level with */
    if ((r = db_prepare(db, &st,
                        "SELECT DISTINCT framework_version FROM results WHERE run = ?1 AND "
                        "level = ?2",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, level, -1, SQLITE_STATIC);
    size_t nversions = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        version = sqlite3_column_int64(st, 0);
        nversions++;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read results");
        goto out;
    }
    if (nversions == 0) {
        r = dti_errf(e, DTI_ENOTFOUND, "run %lld of period %s scored no %s unit", (long long)run,
                     period, level);
        goto out;
    }
    if (nversions > 1) {
        r = dti_errf(e, DTI_EDB, "run %lld scored %s units with two framework versions",
                     (long long)run, level);
        goto out;
    }
    if ((r = frameworks_load(db, version, &fw, e)) < 0)
        goto out;
    json_object_set_new(doc, "frameworks", json_pack("[o]", framework_json(version, fw)));

    /* every unit of the level that existed on a day of the period: the run's
     * stored inputs, or current values for units the run did not score */
    if ((r = db_prepare(db, &st,
                        "SELECT u.code, r.detail FROM units u LEFT JOIN results r ON r.run = ?1 "
                        "AND r.unit = u.code WHERE u.level = ?2 AND (u.valid_from IS NULL OR "
                        "u.valid_from <= ?4) AND (u.valid_to IS NULL OR u.valid_to >= ?3) "
                        "ORDER BY u.code",
                        e)) < 0 ||
        (r = db_prepare(db, &vals,
                        "SELECT element, kind, num, txt FROM vals WHERE unit = ?1 AND period = ?2",
                        e)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, level, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, first, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, last, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            mu = xrealloc(mu, cap * sizeof(*mu));
        }
        struct merge_unit *x = &mu[n++];
        memset(x, 0, sizeof(*x));
        snprintf(x->code, sizeof(x->code), "%s", db_column_str(st, 0));
        x->inputs = xcalloc(fw->nelements ? fw->nelements : 1, sizeof(*x->inputs));
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            json_error_t je;
            x->detail = json_loads(db_column_str(st, 1), 0, &je);
        } else if ((r = merge_current_inputs(db, vals, fw, x->code, period, &x->detail, e)) < 0) {
            goto out;
        }
        if (!json_is_object(x->detail) || !inputs_from_detail(fw, x->detail, x->inputs)) {
            r = dti_errf(e, DTI_EDB, "stored result of unit %s is damaged", x->code);
            goto out;
        }
        if ((r = merge_target(db, x->code, as_of, x->target, e)) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read units");
        goto out;
    }
    qsort(mu, n, sizeof(*mu), merge_unit_cmp);

    /* one row per successor: combined inputs, scored with the run's framework */
    rows = xcalloc(n ? n : 1, sizeof(*rows));
    in = xcalloc(n ? n : 1, sizeof(*in));
    for (size_t g = 0; g < n;) {
        size_t end = g;
        long own = -1;
        struct merge_row *m = &rows[nrows++];
        snprintf(m->code, sizeof(m->code), "%s", mu[g].target);
        m->merged_from = json_array();
        for (; end < n && !strcmp(mu[end].target, mu[g].target); end++) {
            in[end - g] = mu[end].inputs;
            if (!strcmp(mu[end].code, m->code))
                own = (long)(end - g);
            else
                json_array_append_new(m->merged_from, json_string(mu[end].code));
        }
        m->inputs = xcalloc(fw->nelements ? fw->nelements : 1, sizeof(*m->inputs));
        merge_inputs(fw, in, end - g, own, m->inputs);
        score_unit(fw, m->inputs, &m->res);
        if ((r = units_as_of(db, m->code, as_of, &m->asof, e)) < 0)
            goto out;
        if (m->asof.parent[0]) {
            struct unit_asof p;
            if ((r = units_as_of(db, m->asof.parent, as_of, &p, e)) < 0)
                goto out;
            snprintf(m->parent_name, sizeof(m->parent_name), "%s", p.name);
        }
        g = end;
    }
    merge_rank(rows, nrows);
    qsort(rows, nrows, sizeof(*rows), merge_row_cmp);
    for (size_t i = 0; i < nrows; i++)
        json_array_append_new(units, merge_row_json(fw, version, level, &rows[i], nrows));
    json_object_set(doc, "units", units);
    *out = json_incref(doc);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(vals);
    for (size_t i = 0; i < nrows; i++) {
        score_result_free(rows[i].res);
        free(rows[i].inputs);
        json_decref(rows[i].merged_from);
    }
    free(rows);
    free(in);
    for (size_t i = 0; i < n; i++) {
        free(mu[i].inputs);
        json_decref(mu[i].detail);
    }
    free(mu);
    framework_free(fw);
    json_decref(units);
    json_decref(doc);
    return r;
}

int report_merged_render(sqlite3 *db, const char *period, const char *level, const char *as_of,
                         enum report_format f, struct buf *out, struct dti_err *e)
{
    json_t *doc = NULL;
    int r = report_merged_json(db, period, level, as_of, &doc, e);
    if (r < 0)
        return r;
    r = report_render_doc(doc, f, out, e);
    json_decref(doc);
    return r;
}
