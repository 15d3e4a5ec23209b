/*
 * report_bench.c - the hub's side of a national-size year: 11,000 communes
 * (under 700 districts and 63 provinces) with one office each, a generated
 * commune framework of 100 components (ratio, tiers, categorical, checks,
 * boolean and value in turn; about 150 elements), and about 95% of every
 * unit's figures sent by its own office - 2% of units also carry an
 * operator's correction, so their self-assessment differs. All of it is
 * written into a temporary hub database before the clock starts.
 *
 * Timed: scoring_run for the previous year (no figures: every unit scores 0)
 * and for the year itself (read every unit's values and history, score the
 * appraised and self-assessed inputs, rank by level and parent, look up the
 * previous year, store the run in one transaction); then the reports of the
 * latest run: the JSON document, and CSV, JSON and HTML rendered from it.
 * Prints figures; asserts nothing.
 *
 *   report_bench [UNITS] [--keep]
 */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */

#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchgen.h"
#include "buf.h"
#include "db.h"
#include "framework.h"
#include "frameworks.h"
#include "hubdb.h"
#include "report.h"
#include "scoring.h"
#include "util.h"
#include "value.h"

#define DEFAULT_UNITS 11000
#define DISTRICTS 700
#define PROVINCES 63

static void die(const char *what, int r, const struct dti_err *e)
{
    fprintf(stderr, "report_bench: cannot %s: %s\n", what, dti_err_text(e, r));
    exit(1);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void import_framework(sqlite3 *db, const char *period)
{
    char *text = bench_framework(period);
    struct fw_problems pr = {0};
    struct dti_err e = {0};
    int64_t version;
    bool unchanged;
    int r = frameworks_import(db, text, strlen(text), "bench", "bench", wall_ms(), &version,
                              &unchanged, &pr, &e);
    if (r < 0)
        die("import the framework", r, &e);
    fw_problems_release(&pr);
    free(text);
}

/* Units, agents and values, in one transaction. */
static void fill(sqlite3 *db, size_t units, size_t *nvalues)
{
    struct dti_err e = {0};
    char *csv = NULL;
    size_t csvlen = 0;
    FILE *mf = open_memstream(&csv, &csvlen);
    fprintf(mf, "code,name,level,parent_code\n");
    for (int p = 0; p < PROVINCES; p++)
        fprintf(mf, "%d,Tỉnh Thử %d,province,\n", 10 + p, p + 1);
    for (int d = 0; d < DISTRICTS; d++)
        fprintf(mf, "%d,Huyện Thử %d,district,%d\n", 100 + d, d + 1, 10 + d % PROVINCES);
    for (size_t u = 0; u < units; u++)
        fprintf(mf, "%zu,Xã Thử Nghiệm Số %zu,commune,%d\n", 10000 + u, u + 1,
                100 + (int)(u % DISTRICTS));
    fclose(mf);
    FILE *in = fmemopen(csv, csvlen, "r");
    size_t n;
    int r = units_import(db, in, "units", &n, &e);
    fclose(in);
    free(csv);
    if (r < 0)
        die("import units", r, &e);

    struct framework *fw = NULL;
    if ((r = frameworks_in_force(db, "commune", "2023", NULL, &fw, &e)) < 0)
        die("load the framework", r, &e);
    sqlite3_stmt *ag = NULL, *val = NULL, *hist = NULL;
    if ((r = db_begin(db, &e)) < 0 ||
        (r = db_prepare(db, &ag,
                        "INSERT INTO agents(id, unit, pubkey, enrolled_ms) VALUES (?1, ?2, ?3, 0)",
                        &e)) < 0 ||
        (r = db_prepare(db, &val,
                        "INSERT INTO vals(unit, element, period, kind, num, txt, hlc, origin, "
                        "auth, chg) VALUES (?1, ?2, '2023', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        &e)) < 0 ||
        (r = db_prepare(db, &hist,
                        "INSERT INTO history(unit, element, period, kind, num, txt, hlc, origin, "
                        "auth, fate, recorded_ms) VALUES (?1, ?2, '2023', ?3, ?4, ?5, ?6, ?7, 1, "
                        "'superseded', 0)",
                        &e)) < 0)
        die("prepare", r, &e);
    uint64_t chg = 0;
    *nvalues = 0;
    for (size_t u = 0; u < units; u++) {
        char unit[16], id[AGENT_ID_LEN + 1];
        uint8_t pub[32] = {0};
        snprintf(unit, sizeof(unit), "%zu", 10000 + u);
        snprintf(id, sizeof(id), "%016zx", u + 1);
        memcpy(pub, &u, sizeof(u));
        sqlite3_reset(ag);
        sqlite3_bind_text(ag, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ag, 2, unit, -1, SQLITE_STATIC);
        sqlite3_bind_blob(ag, 3, pub, sizeof(pub), SQLITE_STATIC);
        if (sqlite3_step(ag) != SQLITE_DONE)
            die("store an agent", db_fail(db, &e, "store an agent"), &e);
        bool corrected = bench_rand() % 100 < 2;
        for (size_t i = 0; i < fw->nelements; i++) {
            struct value v;
            if (!bench_value(&fw->elements[i], &v))
                continue;
            uint64_t hlc = 1000 + 2 * ++chg;
            if (corrected && i == 0 && v.kind == VALUE_NUMBER) {
                /* the office's figure went to history under the operator's correction */
                sqlite3_reset(hist);
                sqlite3_bind_text(hist, 1, unit, -1, SQLITE_STATIC);
                sqlite3_bind_text(hist, 2, fw->elements[i].code, -1, SQLITE_STATIC);
                db_bind_value(hist, 3, &v);
                sqlite3_bind_int64(hist, 6, (sqlite3_int64)hlc);
                sqlite3_bind_text(hist, 7, id, -1, SQLITE_STATIC);
                if (sqlite3_step(hist) != SQLITE_DONE)
                    die("store a value", db_fail(db, &e, "store a value"), &e);
                v.num += 1;
            }
            bool hub = corrected && i == 0;
            sqlite3_reset(val);
            sqlite3_bind_text(val, 1, unit, -1, SQLITE_STATIC);
            sqlite3_bind_text(val, 2, fw->elements[i].code, -1, SQLITE_STATIC);
            db_bind_value(val, 3, &v);
            sqlite3_bind_int64(val, 6, (sqlite3_int64)hlc + 1);
            sqlite3_bind_text(val, 7, hub ? "hub" : id, -1, SQLITE_STATIC);
            sqlite3_bind_int(val, 8, hub ? AUTH_HUB : AUTH_COMMUNE);
            sqlite3_bind_int64(val, 9, (sqlite3_int64)chg);
            if (sqlite3_step(val) != SQLITE_DONE)
                die("store a value", db_fail(db, &e, "store a value"), &e);
            ++*nvalues;
        }
    }
    sqlite3_finalize(ag);
    sqlite3_finalize(val);
    sqlite3_finalize(hist);
    if ((r = db_meta_set_u64(db, "chg", chg, &e)) < 0 || (r = db_commit(db, &e)) < 0)
        die("commit", r, &e);
    framework_free(fw);
}

int main(int argc, char **argv)
{
    size_t units = DEFAULT_UNITS;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        uint64_t u;
        if (!strcmp(argv[i], "--keep"))
            keep = true;
        else if (parse_u64(argv[i], 1000000, &u) == 0 && u > 0)
            units = (size_t)u;
        else {
            fprintf(stderr, "usage: report_bench [UNITS] [--keep]\n");
            return 2;
        }
    }
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/dti-report-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("report_bench: mkdtemp");
        return 1;
    }
    struct dti_err e = {0};
    sqlite3 *db = NULL;
    int r = hubdb_open(&db, dir, true, &e);
    if (r < 0)
        die("create the hub", r, &e);

    double t0 = bench_now();
    import_framework(db, "2022");
    import_framework(db, "2023");
    size_t nvalues;
    fill(db, units, &nvalues);
    double t_fill = bench_now() - t0;
    printf("setup: %zu communes, %d districts, %d provinces, %zu values (one office each) in "
           "%.1f s\n",
           units, DISTRICTS, PROVINCES, nvalues, t_fill);

    struct scoring_summary s22, s23;
    t0 = bench_now();
    if ((r = scoring_run(db, "2022", "bench", wall_ms(), &s22, &e)) < 0)
        die("score 2022", r, &e);
    double t_s22 = bench_now() - t0;
    t0 = bench_now();
    if ((r = scoring_run(db, "2023", "bench", wall_ms(), &s23, &e)) < 0)
        die("score 2023", r, &e);
    double t_s23 = bench_now() - t0;
    printf("scoring_run 2022 (no figures): %zu units in %.3f s\n", s22.units, t_s22);
    printf("scoring_run 2023: %zu units x %d components in %.3f s (%.1f us per unit; "
           "appraised and self-assessed, ranks, growth, stored in one transaction)\n",
           s23.units, INDICATORS * PER_INDICATOR, t_s23, t_s23 * 1e6 / (double)s23.units);

    t0 = bench_now();
    json_t *doc = NULL;
    if ((r = report_json(db, "2023", NULL, &doc, &e)) < 0)
        die("build the report", r, &e);
    double t_doc = bench_now() - t0;
    printf("report_json: %zu units in %.3f s (read results, frameworks, detail)\n",
           json_array_size(json_object_get(doc, "units")), t_doc);
    static const struct {
        enum report_format f;
        const char *name;
    } formats[] = {{REPORT_CSV, "csv"}, {REPORT_JSON, "json"}, {REPORT_HTML, "html"}};
    double total_render = 0;
    for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
        struct buf b;
        buf_init(&b, REPORT_MAX);
        t0 = bench_now();
        if ((r = report_render_doc(doc, formats[i].f, &b, &e)) < 0)
            die("render", r, &e);
        double t = bench_now() - t0;
        total_render += t;
        printf("render %-4s: %.3f s, %.1f MB\n", formats[i].name, t, (double)b.len / 1e6);
        buf_release(&b);
    }
    json_decref(doc);
    t0 = bench_now();
    struct buf b;
    buf_init(&b, REPORT_MAX);
    if ((r = report_render(db, "2023", "commune", REPORT_HTML, &b, &e)) < 0)
        die("render", r, &e);
    double t_html = bench_now() - t0;
    buf_release(&b);
    printf("report_render html from the database (as GET /v1/reports/2023.html): %.3f s\n", t_html);
    printf("total: scoring %.3f s + report document %.3f s + three renderings %.3f s\n", t_s23,
           t_doc, total_render);

    db_close(db);
    if (keep)
        printf("kept %s\n", dir);
    else
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return 0;
}
