/*
 * test_report.c - unit tests of hub/report.c: reports and explanations read
 * from scoring runs made in process (a temporary hub database, a few units,
 * an inline commune framework, values written with SQL, scoring_run).
 *
 * Covered: CSV bytes (BOM, CRLF, RFC 4180 quoting of commas and quotes,
 * Vietnamese names byte for byte through a CSV reader, the formula guard,
 * rows in rank order, pillar columns); the JSON document (parses, has every
 * figure: points, DTI, band, ranks, completeness, pillars, indicators,
 * components, growth, self-assessment gap); the HTML page (self-contained: no
 * http(s) references, inline SVG, every text escaped); level filters and
 * refusals; explanations (inputs, methods, missing inputs, and the check
 * that stored inputs reproduce the stored result); the size ceiling.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "buf.h"
#include "crypto.h"
#include "csv.h"
#include "db.h"
#include "frameworks.h"
#include "hubdb.h"
#include "hubfix.h"
#include "report.h"
#include "scoring.h"
#include "util.h"
#include "value.h"

#define NOW UINT64_C(1700000000000)
#define AGENT_A "a1a1a1a1a1a1a1a1" /* enrolled for 22741 */
#define AGENT_B "b2b2b2b2b2b2b2b2" /* enrolled for 22738 */

/* 22801's name has a comma, quotes and markup; 22807's looks like a formula */
#define TRICKY_NAME "Xã Vĩnh Hải, \"Làng chài\" <b>"
static const char units_csv[] = "code,name,level,parent_code\n"
                                "58,Tỉnh Ninh Thuận,province,\n"
                                "582,Thành phố Phan Rang-Tháp Chàm,district,58\n"
                                "586,Huyện Ninh Hải,district,58\n"
                                "22738,Phường Đô Vinh,commune,582\n"
                                "22741,Phường Phước Mỹ,commune,582\n"
                                "22744,Phường Bảo An,commune,582\n"
                                "22801,\"Xã Vĩnh Hải, \"\"Làng chài\"\" <b>\",commune,586\n"
                                "22804,Xã Thanh Hải,commune,586\n"
                                "22807,=1+2 Xã Tri Hải,commune,586\n";

static char *fw_json(const char *period)
{
    return xasprintf(
        "{\"id\":\"test-commune-%s\",\"name\":\"Bộ chỉ số thử <cấp xã>\",\"level\":\"commune\","
        "\"period\":\"%s\",\"max_points\":100,\"elements\":["
        "{\"code\":\"meetings\",\"name\":\"Số cuộc họp BCĐ\",\"type\":\"integer\",\"min\":0},"
        "{\"code\":\"chair\",\"name\":\"Trưởng ban chỉ đạo\",\"type\":\"category\","
        "\"categories\":[\"chu_tich\",\"pho\",\"khac\"]},"
        "{\"code\":\"plan\",\"name\":\"Có kế hoạch CĐS\",\"type\":\"boolean\"},"
        "{\"code\":\"docs_done\",\"name\":\"Số văn bản đã ban hành\",\"type\":\"integer\"},"
        "{\"code\":\"docs_required\",\"name\":\"Số văn bản phải ban hành\",\"type\":\"integer\"}],"
        "\"indicators\":[{\"code\":\"1\",\"name\":\"Nhận thức số\",\"max_points\":60,"
        "\"components\":["
        "{\"code\":\"1.1\",\"name\":\"Họp BCĐ\",\"max_points\":20,\"evidence\":\"Biên bản họp\","
        "\"method\":{\"kind\":\"tiers\",\"input\":\"meetings\",\"tiers\":[[4,20],[2,10]]}},"
        "{\"code\":\"1.2\",\"name\":\"Trưởng ban\",\"max_points\":40,\"method\":{\"kind\":"
        "\"categorical\",\"input\":\"chair\",\"map\":{\"chu_tich\":1,\"pho\":0.5}}}]},"
        "{\"code\":\"2\",\"name\":\"Thể chế số\",\"max_points\":40,\"components\":["
        "{\"code\":\"2.1\",\"name\":\"Kế hoạch\",\"max_points\":10,\"method\":{\"kind\":"
        "\"boolean\",\"input\":\"plan\"}},"
        "{\"code\":\"2.2\",\"name\":\"Văn bản\",\"max_points\":30,\"method\":{\"kind\":\"ratio\","
        "\"numerator\":\"docs_done\",\"denominator\":\"docs_required\",\"target\":0.8}}]}],"
        "\"pillars\":[{\"code\":\"CQS\",\"name\":\"Chính quyền số\",\"indicators\":[\"1\",\"2\"]},"
        "{\"code\":\"XHS\",\"name\":\"Xã hội số\",\"indicators\":[\"2\"]}],"
        "\"bands\":[{\"name\":\"Tốt\",\"min\":0.8},{\"name\":\"Khá\",\"min\":0.5},"
        "{\"name\":\"Yếu\",\"min\":0}]}",
        period, period);
}

/* ---- fixture ---- */

struct fx {
    char *dir;
    sqlite3 *db;
    int64_t chg;
};

static void put(struct fx *f, const char *unit, const char *element, const char *period,
                const char *text, const char *origin)
{
    struct value v;
    struct dti_err e = {0};
    assert_int_equal(value_parse(text, &v, &e), 0);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(f->db,
                           "INSERT OR REPLACE INTO vals(unit, element, period, kind, num, txt, "
                           "hlc, origin, auth, chg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9)",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, element, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    db_bind_value(st, 4, &v);
    f->chg++;
    sqlite3_bind_int64(st, 7, 1000 + f->chg);
    sqlite3_bind_text(st, 8, origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, f->chg);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static void import_fw(struct fx *f, const char *period)
{
    char *text = fw_json(period);
    struct fw_problems pr = {0};
    struct dti_err e = {0};
    int64_t version;
    bool unchanged;
    int r = frameworks_import(f->db, text, strlen(text), "test.json", "tester", NOW, &version,
                              &unchanged, &pr, &e);
    if (r < 0)
        fail_msg("frameworks_import: %s", e.msg);
    fw_problems_release(&pr);
    free(text);
}

static void score(struct fx *f, const char *period)
{
    struct scoring_summary s;
    struct dti_err e = {0};
    if (scoring_run(f->db, period, "Nguyễn Văn A", NOW, &s, &e) < 0)
        fail_msg("scoring_run %s: %s", period, e.msg);
}

/* 2022: 22804 first (0.4), 22738 second (0.2). 2023: 22738 100 points, 22741
 * 55 with a self-assessed 65, 22744 55, 22801 20, 22804 and 22807 nothing. */
static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    char tmpl[] = "/tmp/dti-test-report.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    f->dir = xstrdup(tmpl);
    struct dti_err e = {0};
    assert_int_equal(hubdb_open(&f->db, f->dir, true, &e), 0);
    fix_import_units(f->db, units_csv, NULL);
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    assert_int_equal(crypto_random(pub, sizeof(pub)), 0);
    assert_int_equal(agents_create(f->db, AGENT_A, "22741", pub, NOW, NULL), 0);
    pub[0] ^= 1;
    assert_int_equal(agents_create(f->db, AGENT_B, "22738", pub, NOW, NULL), 0);
    *state = f;

    import_fw(f, "2022");
    import_fw(f, "2023");
    put(f, "22804", "chair", "2022", "chu_tich", "hub");
    put(f, "22738", "meetings", "2022", "4", "hub");
    score(f, "2022");
    put(f, "22738", "meetings", "2023", "4", AGENT_B);
    put(f, "22738", "chair", "2023", "chu_tich", AGENT_B);
    put(f, "22738", "plan", "2023", "true", AGENT_B);
    put(f, "22738", "docs_done", "2023", "8", AGENT_B);
    put(f, "22738", "docs_required", "2023", "10", AGENT_B);
    put(f, "22741", "meetings", "2023", "2", "hub"); /* the operator's correction ... */
    put(f, "22741", "chair", "2023", "pho", AGENT_A);
    put(f, "22741", "plan", "2023", "true", AGENT_A);
    put(f, "22741", "docs_done", "2023", "2", AGENT_A);
    put(f, "22741", "docs_required", "2023", "5", AGENT_A);
    sqlite3_exec(f->db,
                 "INSERT INTO history(unit, element, period, kind, num, hlc, origin, auth, fate, "
                 "recorded_ms) VALUES ('22741', 'meetings', '2023', 1, 4, 500, '" AGENT_A
                 "', 1, 'superseded', 0)", /* ... of the office's 4 */
                 NULL, NULL, NULL);
    put(f, "22744", "meetings", "2023", "3", "hub");
    put(f, "22744", "chair", "2023", "pho", "hub");
    put(f, "22744", "plan", "2023", "true", "hub");
    put(f, "22744", "docs_done", "2023", "2", "hub");
    put(f, "22744", "docs_required", "2023", "5", "hub");
    put(f, "22801", "meetings", "2023", "4", "hub");
    put(f, "22801", "docs_done", "2023", "0", "hub");
    put(f, "22801", "docs_required", "2023", "0", "hub");
    score(f, "2023");
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    db_close(f->db);
    fix_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static char *render(struct fx *f, const char *period, const char *level, enum report_format fmt,
                    size_t *len)
{
    struct buf b;
    struct dti_err e = {0};
    buf_init(&b, REPORT_MAX);
    int r = report_render(f->db, period, level, fmt, &b, &e);
    if (r < 0)
        fail_msg("report_render: %s", e.msg);
    return (char *)buf_take(&b, len);
}

/* ---- CSV ---- */

static void test_csv_bytes(void **state)
{
    struct fx *f = *state;
    size_t len;
    char *csv = render(f, "2023", NULL, REPORT_CSV, &len);
    assert_memory_equal(csv, "\xEF\xBB\xBF", 3);
    assert_int_equal(strlen(csv), len);
    /* every line ends with CRLF; there is no bare LF or CR */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
        if (csv[i] == '\n') {
            assert_true(i > 0 && csv[i - 1] == '\r');
            lines++;
        } else if (csv[i] == '\r') {
            assert_true(i + 1 < len && csv[i + 1] == '\n');
        }
    }
    assert_int_equal(lines, 1 + 6);
    assert_int_equal(csv[len - 1], '\n');
    /* RFC 4180: the field with a comma and quotes is quoted, quotes doubled */
    assert_non_null(strstr(csv, ",\"Xã Vĩnh Hải, \"\"Làng chài\"\" <b>\","));
    /* a text a spreadsheet would run as a formula is not one */
    assert_non_null(strstr(csv, ",\"'=1+2 Xã Tri Hải\","));
    assert_null(strstr(csv, ",=1+2"));

    /* read back with the project's RFC 4180 reader: names byte for byte */
    FILE *in = fmemopen(csv, len, "r");
    struct csv *c = NULL;
    struct dti_err e = {0};
    char **fld;
    size_t nf, ncols;
    assert_int_equal(csv_open(&c, in), 0);
    assert_int_equal(csv_next(c, &fld, &nf, &e), 1);
    ncols = nf;
    assert_string_equal(fld[0], "Mã đơn vị (code)");
    assert_string_equal(fld[1], "Tên đơn vị (name)");
    assert_string_equal(fld[7], "Điểm (points)");
    assert_string_equal(fld[9], "Chỉ số DTI (DTI value)");
    assert_string_equal(fld[11], "Chính quyền số (CQS)");
    assert_string_equal(fld[12], "Xã hội số (XHS)");
    static const struct {
        const char *code, *name, *rank, *points, *dti, *band, *cqs;
    } want[] = {
        {"22738", "Phường Đô Vinh", "1", "100", "1", "Tốt", "1"},
        {"22741", "Phường Phước Mỹ", "2", "55", "0.55", "Khá", "0.55"},
        {"22744", "Phường Bảo An", "2", "55", "0.55", "Khá", "0.55"},
        {"22801", TRICKY_NAME, "4", "20", "0.2", "Yếu", "0.2"},
        {"22804", "Xã Thanh Hải", "5", "0", "0", "Yếu", "0"},
        {"22807", "'=1+2 Xã Tri Hải", "5", "0", "0", "Yếu", "0"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        assert_int_equal(csv_next(c, &fld, &nf, &e), 1);
        assert_int_equal(nf, ncols);
        assert_string_equal(fld[0], want[i].code);
        assert_string_equal(fld[1], want[i].name);
        assert_string_equal(fld[2], "xã");
        assert_string_equal(fld[5], want[i].rank);
        assert_string_equal(fld[7], want[i].points);
        assert_string_equal(fld[8], "100");
        assert_string_equal(fld[9], want[i].dti);
        assert_string_equal(fld[10], want[i].band);
        assert_string_equal(fld[11], want[i].cqs);
        if (!strcmp(want[i].code, "22801"))
            assert_memory_equal(fld[1], TRICKY_NAME, sizeof(TRICKY_NAME));
        if (!strcmp(want[i].code, "22738")) {
            assert_string_equal(fld[3], "582");
            assert_string_equal(fld[4], "Thành phố Phan Rang-Tháp Chàm");
            assert_string_equal(fld[15], "1");     /* completeness */
            assert_string_equal(fld[16], "0.2");   /* DTI 2022 */
            assert_string_equal(fld[17], "0.8");   /* change */
            assert_string_equal(fld[18], "2");     /* rank 2022 */
            assert_string_equal(fld[19], "1");     /* moved up one */
            assert_string_equal(fld[20], "100");   /* self-assessed */
            assert_string_equal(fld[21], "0");     /* gap */
            assert_string_equal(fld[22], "2");     /* framework version */
            assert_int_equal(strlen(fld[23]), 64); /* input hash */
        }
        if (!strcmp(want[i].code, "22741")) {
            assert_string_equal(fld[20], "65");
            assert_string_equal(fld[21], "-10");
        }
        if (!strcmp(want[i].code, "22804")) {
            assert_string_equal(fld[13], "0"); /* nothing collected */
            assert_string_equal(fld[14], "5");
            assert_string_equal(fld[19], "-4"); /* 1 -> 5 */
            assert_string_equal(fld[20], "");   /* no self-assessment */
        }
    }
    assert_int_equal(csv_next(c, &fld, &nf, &e), 0);
    csv_free(c);
    fclose(in);
    free(csv);
}

/* ---- JSON ---- */

static const json_t *unit_of(const json_t *doc, const char *code)
{
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(doc, "units"), i, u)
    {
        if (!strcmp(json_string_value(json_object_get(u, "code")), code))
            return u;
    }
    fail_msg("no unit %s in the report", code);
    return NULL;
}

static double num_at(const json_t *o, const char *path)
{
    /* "a.b.c" through objects */
    const json_t *cur = o;
    for (const char *p = path; cur;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        cur = json_object_getn(cur, p, n);
        if (!dot)
            break;
        p = dot + 1;
    }
    if (!json_is_number(cur))
        fail_msg("%s is not a number", path);
    return json_number_value(cur);
}

static void test_json_document(void **state)
{
    struct fx *f = *state;
    size_t len;
    char *text = render(f, "2023", "commune", REPORT_JSON, &len);
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (!doc)
        fail_msg("the JSON report does not parse: %s (line %d)", je.text, je.line);
    assert_string_equal(json_string_value(json_object_get(doc, "period")), "2023");
    assert_string_equal(json_string_value(json_object_get(doc, "level")), "commune");
    assert_string_equal(json_string_value(json_object_get(doc, "previous_period")), "2022");
    assert_int_equal(json_integer_value(json_object_get(doc, "run")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "ran_by")), "Nguyễn Văn A");
    json_t *fws = json_object_get(doc, "frameworks");
    assert_int_equal(json_array_size(fws), 1);
    assert_int_equal(num_at(json_array_get(fws, 0), "version"), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(fws, 0), "name")),
                        "Bộ chỉ số thử <cấp xã>");
    assert_int_equal(json_array_size(json_object_get(doc, "units")), 6);

    const json_t *u = unit_of(doc, "22738");
    assert_true(num_at(u, "points") == 100);
    assert_true(num_at(u, "dti") == 1);
    assert_string_equal(json_string_value(json_object_get(u, "band")), "Tốt");
    assert_string_equal(json_string_value(json_object_get(u, "parent_name")),
                        "Thành phố Phan Rang-Tháp Chàm");
    assert_true(num_at(u, "rank.level") == 1);
    assert_true(num_at(u, "rank.level_units") == 6);
    assert_true(num_at(u, "rank.parent") == 1);
    assert_true(num_at(u, "rank.parent_units") == 3);
    assert_true(num_at(u, "completeness.required") == 5);
    assert_true(num_at(u, "completeness.present") == 5);
    assert_true(num_at(u, "completeness.ratio") == 1);
    assert_true(num_at(u, "growth.previous_dti") == 0.2);
    assert_true(num_at(u, "growth.dti_change") == 1 - 0.2);
    assert_true(num_at(u, "growth.previous_rank") == 2);
    assert_true(num_at(u, "growth.rank_change") == 1);
    assert_true(num_at(u, "self_assessed.points") == 100);
    assert_true(num_at(u, "self_assessed.gap") == 0);
    assert_true(json_number_value(json_object_get(json_object_get(u, "components"), "2.2")) == 30);
    json_t *pillars = json_object_get(u, "pillars");
    assert_int_equal(json_array_size(pillars), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pillars, 1), "code")),
                        "XHS");
    assert_true(num_at(json_array_get(pillars, 1), "points") == 40);
    assert_true(num_at(json_array_get(pillars, 1), "value") == 1);
    json_t *inds = json_object_get(u, "indicators");
    assert_int_equal(json_array_size(inds), 2);
    assert_true(num_at(json_array_get(inds, 0), "points") == 60);
    assert_true(num_at(json_array_get(inds, 0), "max") == 60);
    assert_true(json_is_true(json_object_get(json_array_get(inds, 0), "scored")));

    u = unit_of(doc, "22741");
    assert_true(num_at(u, "points") == 55);
    assert_true(num_at(u, "self_assessed.points") == 65);
    assert_true(num_at(u, "self_assessed.gap") == -10);
    assert_true(num_at(u, "rank.level") == 2);
    u = unit_of(doc, "22744"); /* a tie shares the rank */
    assert_true(num_at(u, "rank.level") == 2);
    assert_true(json_is_null(json_object_get(u, "self_assessed")));
    /* 22744: 2 of 5 documents against a target of 0.8: 0.5 x 30 = 15 */
    assert_true(json_number_value(json_object_get(json_object_get(u, "components"), "2.2")) == 15);
    u = unit_of(doc, "22801");
    assert_string_equal(json_string_value(json_object_get(u, "name")), TRICKY_NAME);
    assert_true(num_at(u, "completeness.present") == 3);
    assert_true(num_at(u, "rank.parent") == 1);
    assert_true(num_at(u, "rank.parent_units") == 3);
    json_decref(doc);
    free(text);

    /* a period never scored has no growth base: growth is null, not zero */
    text = render(f, "2022", NULL, REPORT_JSON, &len);
    doc = json_loadb(text, len, 0, &je);
    assert_non_null(doc);
    assert_true(json_is_null(json_object_get(unit_of(doc, "22804"), "growth")));
    assert_true(num_at(unit_of(doc, "22804"), "dti") == 0.4);
    json_decref(doc);
    free(text);
}

/* ---- HTML ---- */

static void test_html_page(void **state)
{
    struct fx *f = *state;
    size_t len;
    char *html = render(f, "2023", NULL, REPORT_HTML, &len);
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    assert_non_null(strstr(html, "<meta charset=\"utf-8\">"));
    /* self-contained: nothing fetched from anywhere */
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "@import"));
    assert_non_null(strstr(html, "<svg"));
    assert_non_null(strstr(html, "<style>"));
    /* every text escaped: the unit name and the framework name carry markup */
    assert_null(strstr(html, "<b>"));
    assert_non_null(strstr(html, "Xã Vĩnh Hải, &quot;Làng chài&quot; &lt;b&gt;"));
    assert_null(strstr(html, "<cấp xã>"));
    assert_non_null(strstr(html, "Bộ chỉ số thử &lt;cấp xã&gt;"));
    /* Vietnamese headings, names and figures */
    assert_non_null(strstr(html, "<html lang=\"vi\">"));
    assert_non_null(strstr(html, "Kết quả đánh giá chỉ số chuyển đổi số (DTI) năm 2023"));
    assert_non_null(strstr(html, "Bảng xếp hạng"));
    assert_non_null(strstr(html, "Phường Đô Vinh"));
    assert_non_null(strstr(html, "người thực hiện: Nguyễn Văn A"));
    assert_non_null(strstr(html, "Chính quyền số"));
    assert_non_null(strstr(html, ">0,5500<"));
    /* two charts per level: DTI values and pillar values */
    size_t svgs = 0;
    for (const char *p = html; (p = strstr(p, "<svg")); p++)
        svgs++;
    assert_int_equal(svgs, 2);
    assert_int_equal(html[len - 1], '\n');
    assert_non_null(strstr(html, "</html>\n"));
    free(html);
}

/* ---- filters and refusals ---- */

static void test_filters_and_refusals(void **state)
{
    struct fx *f = *state;
    struct buf b;
    struct dti_err e = {0};
    buf_init(&b, REPORT_MAX);
    assert_int_equal(report_render(f->db, "2023", "district", REPORT_CSV, &b, &e), DTI_ENOTFOUND);
    assert_int_equal(b.len, 0);
    dti_err_clear(&e);
    assert_int_equal(report_render(f->db, "2023", "village", REPORT_CSV, &b, &e), DTI_EINVAL);
    dti_err_clear(&e);
    assert_int_equal(report_render(f->db, "2024", NULL, REPORT_HTML, &b, &e), DTI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "dti-hub score --period 2024"));
    dti_err_clear(&e);
    assert_int_equal(report_render(f->db, "2023Q9", NULL, REPORT_HTML, &b, &e), DTI_EPERIOD);
    assert_int_equal(b.len, 0);
    buf_release(&b);

    /* past the ceiling: refused, the buffer untouched */
    buf_init(&b, 512);
    dti_err_clear(&e);
    assert_int_equal(report_render(f->db, "2023", NULL, REPORT_HTML, &b, &e), DTI_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_release(&b);

    enum report_format fmt;
    assert_int_equal(report_format_parse("csv", &fmt), 0);
    assert_int_equal(fmt, REPORT_CSV);
    assert_int_equal(report_format_parse("html", &fmt), 0);
    assert_int_equal(fmt, REPORT_HTML);
    assert_int_equal(report_format_parse("pdf", &fmt), DTI_EINVAL);
    assert_string_equal(report_content_type(REPORT_CSV), "text/csv; charset=utf-8");
    assert_string_equal(report_content_type(REPORT_HTML), "text/html; charset=utf-8");
    assert_string_equal(report_content_type(REPORT_JSON), "application/json");
}

/* ---- explain ---- */

static const json_t *component(const json_t *doc, const char *code)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "components"), i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "code")), code))
            return c;
    }
    fail_msg("no component %s", code);
    return NULL;
}

static void test_explain(void **state)
{
    struct fx *f = *state;
    struct dti_err e = {0};
    json_t *doc = NULL;
    assert_int_equal(report_explain_json(f->db, "22801", "2023", &doc, &e), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "unit")), "22801");
    assert_string_equal(json_string_value(json_object_get(doc, "name")), TRICKY_NAME);
    assert_true(json_is_true(json_object_get(doc, "reproduced")));
    assert_true(json_number_value(json_object_get(doc, "points")) == 20);
    assert_int_equal(json_array_size(json_object_get(doc, "components")), 4);
    const json_t *c = component(doc, "2.2");
    assert_string_equal(json_string_value(json_object_get(c, "note")), "zero_denominator");
    assert_string_equal(json_string_value(json_object_get(c, "indicator")), "2");
    const json_t *m = json_object_get(c, "method");
    assert_string_equal(json_string_value(json_object_get(m, "kind")), "ratio");
    assert_true(json_number_value(json_object_get(m, "target")) == 0.8);
    assert_string_equal(json_string_value(json_object_get(m, "zero_denominator")), "zero");
    const json_t *ins = json_object_get(c, "inputs");
    assert_int_equal(json_array_size(ins), 2);
    const json_t *num = json_array_get(ins, 0);
    assert_string_equal(json_string_value(json_object_get(num, "element")), "docs_done");
    assert_string_equal(json_string_value(json_object_get(num, "name")), "Số văn bản đã ban hành");
    assert_string_equal(json_string_value(json_object_get(num, "role")), "numerator");
    assert_int_equal(json_integer_value(json_object_get(num, "value")), 0);
    assert_true(json_is_false(json_object_get(num, "missing")));
    c = component(doc, "1.2");
    assert_string_equal(json_string_value(json_object_get(c, "note")), "missing");
    const json_t *chair = json_array_get(json_object_get(c, "inputs"), 0);
    assert_true(json_is_null(json_object_get(chair, "value")));
    assert_true(json_is_true(json_object_get(chair, "missing")));
    assert_true(json_number_value(json_object_get(
                    json_object_get(json_object_get(c, "method"), "map"), "pho")) == 0.5);
    c = component(doc, "1.1");
    assert_true(json_number_value(json_object_get(c, "points")) == 20);
    assert_string_equal(json_string_value(json_object_get(c, "evidence")), "Biên bản họp");
    assert_int_equal(json_array_size(json_object_get(json_object_get(c, "method"), "tiers")), 2);
    json_t *missing = json_object_get(doc, "missing_inputs");
    assert_int_equal(json_array_size(missing), 2);
    assert_string_equal(json_string_value(json_array_get(missing, 0)), "chair");
    assert_string_equal(json_string_value(json_array_get(missing, 1)), "plan");
    assert_true(json_number_value(json_object_get(json_object_get(doc, "rank"), "level")) == 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "framework"), "id")),
                        "test-commune-2023");
    json_decref(doc);

    /* a stored result whose inputs were altered no longer reproduces */
    assert_int_equal(sqlite3_exec(f->db,
                                  "UPDATE results SET detail = replace(detail, '\"meetings\":4', "
                                  "'\"meetings\":5') WHERE unit = '22801' AND period = '2023'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(f->db), 1);
    assert_int_equal(report_explain_json(f->db, "22801", "2023", &doc, &e), 0);
    assert_true(json_is_false(json_object_get(doc, "reproduced")));
    json_decref(doc);

    /* so does a result whose points were altered */
    assert_int_equal(sqlite3_exec(f->db,
                                  "UPDATE results SET points = 21 WHERE unit = '22804' AND "
                                  "period = '2023'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(report_explain_json(f->db, "22804", "2023", &doc, &e), 0);
    assert_true(json_is_false(json_object_get(doc, "reproduced")));
    json_decref(doc);
    assert_int_equal(report_explain_json(f->db, "22741", "2023", &doc, &e), 0);
    assert_true(json_is_true(json_object_get(doc, "reproduced")));
    json_decref(doc);

    assert_int_equal(report_explain_json(f->db, "582", "2023", &doc, &e), DTI_ENOTFOUND);
    dti_err_clear(&e);
    assert_int_equal(report_explain_json(f->db, "22801", "2021", &doc, &e), DTI_ENOTFOUND);
    dti_err_clear(&e);
    assert_int_equal(report_explain_json(f->db, "x y", "2023", &doc, &e), DTI_EUNIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
