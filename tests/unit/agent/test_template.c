/*
 * test_template.c - the fill-in template (agent/template.c) and the importer
 * it feeds (agent/import.c).
 *
 * The template of the shipped commune framework starts with a UTF-8 BOM,
 * ends every line with CRLF, has one row per element in framework order
 * with the Vietnamese names byte for byte, quotes what RFC 4180 says to, and
 * fills in the figures already held. Filled in (some values, others left
 * blank) and imported, it records exactly the filled ones. The importer
 * takes extra columns only when a header names them, skips blank values,
 * and stays all or none for real errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "changes.h"
#include "crypto.h"
#include "csv.h"
#include "enroll.h"
#include "framework.h"
#include "import.h"
#include "preview.h"
#include "store.h"
#include "template.h"
#include "util.h"
#include "value.h"

#define UNIT "22750"
#define T0 UINT64_C(1700000000000)
#define FW_FILE DTI_SOURCE_DIR "/data/frameworks/ninh-thuan-commune-2023.json"

struct fx {
    char tmp[64];
    struct store *st;
    struct framework *fw;
    char *fwtext;
    size_t fwlen;
};

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *p = path_join(path, de->d_name);
        rm_tree(p);
        free(p);
    }
    closedir(d);
    rmdir(path);
}

/* A store enrolled for UNIT (commune) that has received the commune framework. */
static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/dti-template-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    if (read_file_bounded(FW_FILE, FRAMEWORK_FILE_MAX, &f->fwtext, &f->fwlen) < 0)
        return -1;
    struct fw_problems pr = {0};
    if (framework_parse(f->fwtext, f->fwlen, FW_FILE, &f->fw, &pr) < 0)
        return -1;
    fw_problems_release(&pr);
    struct store_identity id = {0};
    uint8_t pub[CRYPTO_PUBKEY_LEN] = {1, 2, 3}, hub_pub[CRYPTO_PUBKEY_LEN] = {9, 8, 7};
    enroll_agent_id(pub, id.agent_id);
    snprintf(id.unit, sizeof(id.unit), "%s", UNIT);
    snprintf(id.hub_url, sizeof(id.hub_url), "https://127.0.0.1:1");
    memset(id.fingerprint, '0', CRYPTO_FP_HEX_LEN);
    struct dti_err e = {0};
    char *dir = path_join(f->tmp, "agent");
    int r = store_create(&f->st, dir, &id, &e);
    free(dir);
    char scope[1][UNIT_CODE_MAX + 1] = {UNIT};
    char levels[1][16] = {"commune"};
    if (r < 0 || store_enrolled(f->st, hub_pub, scope, levels, 1, 1, &e) < 0) {
        print_error("store: %s\n", e.msg);
        return -1;
    }
    struct framework_doc doc = {.version = 1,
                                .level = "commune",
                                .period = "2023",
                                .json = f->fwtext,
                                .json_len = f->fwlen};
    struct changes_page p = {.next = 1, .nframeworks = 1, .frameworks = &doc};
    memcpy(p.agent_id, id.agent_id, sizeof(p.agent_id));
    size_t applied, flagged;
    if (store_apply_changes(f->st, &p, &applied, &flagged, &e) < 0) {
        print_error("store_apply_changes: %s\n", e.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    framework_free(f->fw);
    free(f->fwtext);
    rm_tree(f->tmp);
    free(f);
    return 0;
}

static int64_t count_vals(struct fx *f)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(f->st), "SELECT count(*) FROM vals", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* The value held for element in 2023 as canonical text, or "" when none. */
static void held(struct fx *f, const char *element, char *out, size_t n)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(f->st),
                                        "SELECT kind, num, txt FROM vals WHERE unit = ?1 AND "
                                        "element = ?2 AND period = '2023'",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, UNIT, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, element, -1, SQLITE_STATIC);
    out[0] = '\0';
    if (sqlite3_step(s) == SQLITE_ROW) {
        struct value v = {.kind = (enum value_kind)sqlite3_column_int(s, 0),
                          .num = sqlite3_column_double(s, 1),
                          .b = sqlite3_column_double(s, 1) != 0,
                          .text = (const char *)sqlite3_column_text(s, 2)};
        value_format(&v, out, n);
    }
    sqlite3_finalize(s);
}

static void record(struct fx *f, const char *element, const char *text, const char *comment,
                   const char *author)
{
    struct edit ed = {
        .unit = UNIT, .element = element, .period = "2023", .comment = comment, .author = author};
    struct dti_err e = {0};
    size_t bad;
    assert_int_equal(value_parse(text, &ed.value, &e), 0);
    if (store_record(f->st, &ed, 1, T0, &bad, &e) < 0) {
        print_error("store_record: %s\n", e.msg);
        fail();
    }
}

/* The template for UNIT 2023 with what the store holds, into out. */
static void build(struct fx *f, struct buf *out)
{
    struct preview_inputs in = {0};
    struct dti_err e = {0};
    assert_int_equal(preview_inputs(f->st, f->fw, UNIT, "2023", &in, &e), 0);
    buf_init(out, 64u << 20);
    assert_int_equal(template_build(out, f->fw, UNIT, "2023", &in), 0);
    preview_inputs_release(&in);
}

/* Bytes to a file in the fixture's dir; returns its path (caller frees). */
static char *write_tmp(struct fx *f, const char *name, const void *data, size_t len)
{
    char *path = path_join(f->tmp, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return path;
}

/* Import a file through the importer: 0 or the refusal's code (message in e). */
static int import_file(struct fx *f, const char *path, size_t *recorded, size_t *skipped,
                       struct dti_err *e)
{
    struct import im = {0};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    int r = import_read(fp, path, &im, e);
    if (r == 0)
        r = import_record(f->st, &im, T0 + 1000, e);
    if (r == 0) {
        *recorded = im.n;
        *skipped = im.skipped;
    }
    import_release(&im);
    fclose(fp);
    return r;
}

/* ---- the template ---- */

static void test_template_bytes(void **state)
{
    struct fx *f = *state;
    record(f, "so_cuoc_hop_bcd", "4", "Biên bản số 3, \"họp đủ\"", "Nguyễn Văn An");
    record(f, "co_ke_hoach_cds", "true", NULL, NULL);
    record(f, "co_quy_che_attt", "false", NULL, NULL);
    struct buf t;
    build(f, &t);
    const char *s = (const char *)t.data;

    /* BOM, then the header, CRLF everywhere and nowhere a bare LF or CR */
    assert_true(t.len > 3);
    assert_memory_equal(s, "\xef\xbb\xbf", 3);
    const char *hdr = "unit,element,period,value,comment,author,ten_chi_tieu,kieu,gioi_han,"
                      "bat_buoc,chi_so,minh_chung,mo_ta\r\n";
    assert_memory_equal(s + 3, hdr, strlen(hdr));
    size_t crlf = 0;
    for (size_t i = 0; i < t.len; i++) {
        if (s[i] == '\n') {
            assert_true(i > 0 && s[i - 1] == '\r');
            crlf++;
        } else if (s[i] == '\r') {
            assert_true(i + 1 < t.len && s[i + 1] == '\n');
        }
    }
    assert_memory_equal(s + t.len - 2, "\r\n", 2);
    /* no cell of this framework holds a line break: one line per row */
    assert_int_equal(crlf, 1 + f->fw->nelements);

    /* byte-exact Vietnamese, and RFC 4180 quoting where a cell holds a comma or a quote */
    assert_non_null(strstr(s, "\r\n" UNIT ",so_cuoc_hop_bcd,2023,4,\"Biên bản số 3, \"\"họp "
                              "đủ\"\"\",Nguyễn Văn An,Số cuộc họp của Ban chỉ đạo CĐS trong "
                              "năm,số nguyên,0..366,có,"));
    assert_non_null(strstr(s, "\r\n" UNIT ",co_ke_hoach_cds,2023,có,,,Có kế hoạch CĐS năm của "
                              "UBND xã,có/không,có / không,có,"));
    assert_non_null(strstr(s, "\r\n" UNIT ",co_quy_che_attt,2023,không,,,"));
    assert_non_null(strstr(s, "\r\n" UNIT ",so_tin_bai_tuyen_truyen,2023,,,,\"Số tin, bài tuyên "
                              "truyền về CĐS trên đài truyền thanh, trang thông tin điện tử của "
                              "xã\",số nguyên,0..100000,"));
    assert_non_null(strstr(s, "\r\n" UNIT ",truong_ban_cds,2023,,,,Người giữ chức Trưởng Ban chỉ "
                              "đạo chuyển đổi số của xã,danh mục,chu_tich = Chủ tịch UBND xã; "
                              "pho_chu_tich = Phó Chủ tịch UBND xã; khac = Người khác; "
                              "chua_thanh_lap = Chưa thành lập Ban chỉ đạo,có,1.1,"));
    assert_non_null(strstr(s, "\r\n" UNIT ",ty_le_so_hoa_ho_so,2023,,,,\"Tỷ lệ hồ sơ, kết quả giải "
                              "quyết thủ tục hành chính được số hóa (%)\",tỷ lệ %,0..100,có,7.4,"));
    /* informational: read by no scored component, so not required */
    assert_non_null(strstr(s, ",ghi_chu_do_thi_thong_minh,2023,,,,Ghi chú về các nhiệm vụ đô thị "
                              "thông minh trên địa bàn,văn bản,,không,"));

    /* read back with the project's CSV reader: one row per element, in order */
    FILE *fp = fmemopen(t.data, t.len, "rb");
    assert_non_null(fp);
    struct csv *c = NULL;
    assert_int_equal(csv_open(&c, fp), 0);
    char **fld;
    size_t nf, row = 0;
    struct dti_err e = {0};
    int r;
    while ((r = csv_next(c, &fld, &nf, &e)) > 0) {
        assert_int_equal(nf, TEMPLATE_COLUMNS);
        if (row == 0) {
            for (size_t k = 0; k < TEMPLATE_COLUMNS; k++)
                assert_string_equal(fld[k], template_columns[k]);
        } else {
            const struct fw_element *el = &f->fw->elements[row - 1];
            assert_string_equal(fld[0], UNIT);
            assert_string_equal(fld[1], el->code);
            assert_string_equal(fld[2], "2023");
            assert_string_equal(fld[6], el->name); /* byte for byte */
            bool required = false;
            for (size_t k = 0; k < f->fw->nrequired; k++)
                required |= f->fw->required[k] == row - 1;
            assert_string_equal(fld[9], required ? "có" : "không");
            if (!strcmp(el->code, "so_cuoc_hop_bcd")) {
                assert_string_equal(fld[3], "4");
                assert_string_equal(fld[4], "Biên bản số 3, \"họp đủ\"");
                assert_string_equal(fld[5], "Nguyễn Văn An");
                assert_string_equal(fld[10], "1.2; 1.3");
                assert_string_equal(fld[11], "1.2: Biên bản họp | 1.3: Biên bản họp, thông báo "
                                             "kết luận");
            } else if (strcmp(el->code, "co_ke_hoach_cds") != 0 &&
                       strcmp(el->code, "co_quy_che_attt") != 0) {
                assert_string_equal(fld[3], "");
            }
        }
        row++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(row, 1 + f->fw->nelements);
    csv_free(c);
    fclose(fp);
    buf_release(&t);
}

/* Fill in the value cell of element's row (the first three cells are codes,
 * never quoted) with cell, already CSV-quoted if need be. */
static void fill(struct buf *t, const char *element, const char *cell)
{
    char key[128];
    snprintf(key, sizeof(key), "\r\n" UNIT ",%s,2023,", element);
    char *at = strstr((char *)t->data, key);
    assert_non_null(at);
    size_t off = (size_t)(at - (char *)t->data) + strlen(key);
    assert_int_equal(t->data[off], ','); /* blank so far */
    struct buf nb;
    buf_init(&nb, BUF_UNLIMITED);
    buf_append(&nb, t->data, off);
    buf_puts(&nb, cell);
    buf_append(&nb, t->data + off, t->len - off);
    buf_release(t);
    *t = nb;
}

static void test_template_roundtrip(void **state)
{
    struct fx *f = *state;
    struct buf t;
    build(f, &t);
    fill(&t, "so_cuoc_hop_bcd", "4");
    fill(&t, "co_ke_hoach_cds", "có");
    fill(&t, "truong_ban_cds", "chu_tich");
    fill(&t, "ty_le_so_hoa_ho_so", "87.5");
    fill(&t, "so_hieu_qd_bcd", "\"125/QĐ-UBND, ngày 12/3/2023\"");
    fill(&t, "tong_so_ho", "0");
    char *path = write_tmp(f, "filled.csv", t.data, t.len);
    size_t recorded = 0, skipped = 0;
    struct dti_err e = {0};
    if (import_file(f, path, &recorded, &skipped, &e) < 0) {
        print_error("import: %s\n", e.msg);
        fail();
    }
    assert_int_equal(recorded, 6);
    assert_int_equal(skipped, f->fw->nelements - 6);
    assert_int_equal(count_vals(f), 6);
    char v[256];
    held(f, "so_cuoc_hop_bcd", v, sizeof(v));
    assert_string_equal(v, "4");
    held(f, "co_ke_hoach_cds", v, sizeof(v));
    assert_string_equal(v, "true");
    held(f, "truong_ban_cds", v, sizeof(v));
    assert_string_equal(v, "chu_tich");
    held(f, "ty_le_so_hoa_ho_so", v, sizeof(v));
    assert_string_equal(v, "87.5");
    held(f, "so_hieu_qd_bcd", v, sizeof(v));
    assert_string_equal(v, "125/QĐ-UBND, ngày 12/3/2023");
    held(f, "tong_so_ho", v, sizeof(v)); /* a reported zero is a value */
    assert_string_equal(v, "0");
    held(f, "so_tin_bai_tuyen_truyen", v, sizeof(v)); /* left blank: not collected */
    assert_string_equal(v, "");
    free(path);
    buf_release(&t);

    /* the next template carries the figures held; imported again as it is, it
     * records the same figures and nothing else */
    build(f, &t);
    assert_non_null(strstr((char *)t.data, "\r\n" UNIT ",co_ke_hoach_cds,2023,có,"));
    assert_non_null(strstr((char *)t.data, "\r\n" UNIT ",so_hieu_qd_bcd,2023,\"125/QĐ-UBND, "
                                           "ngày 12/3/2023\","));
    path = write_tmp(f, "again.csv", t.data, t.len);
    assert_int_equal(import_file(f, path, &recorded, &skipped, &e), 0);
    assert_int_equal(recorded, 6);
    assert_int_equal(count_vals(f), 6);
    held(f, "so_hieu_qd_bcd", v, sizeof(v));
    assert_string_equal(v, "125/QĐ-UBND, ngày 12/3/2023");
    free(path);
    buf_release(&t);
}

/* A filled template with one figure out of bounds records nothing, and says where and why. */
static void test_template_bad_value(void **state)
{
    struct fx *f = *state;
    struct buf t;
    build(f, &t);
    fill(&t, "so_cuoc_hop_bcd", "4");
    fill(&t, "tong_so_thon", "400000"); /* max 1000 */
    char *path = write_tmp(f, "bad.csv", t.data, t.len);
    size_t recorded = 0, skipped = 0;
    struct dti_err e = {0};
    assert_int_equal(import_file(f, path, &recorded, &skipped, &e), DTI_EVALUE);
    assert_non_null(strstr(e.msg, "bad.csv:"));
    assert_non_null(strstr(e.msg, "tong_so_thon 400000 is above the maximum 1000"));
    /* the line named is the row of tong_so_thon: header is line 1 */
    size_t idx;
    assert_true(framework_find_element(f->fw, "tong_so_thon", &idx));
    char where[64];
    snprintf(where, sizeof(where), "bad.csv:%zu:", idx + 2);
    assert_non_null(strstr(e.msg, where));
    assert_int_equal(count_vals(f), 0);
    free(path);
    buf_release(&t);
}

/* ---- the importer's rules ---- */

static int import_text(struct fx *f, const char *text, size_t *recorded, size_t *skipped,
                       struct dti_err *e)
{
    char *path = write_tmp(f, "in.csv", text, strlen(text));
    *e = (struct dti_err){0};
    int r = import_file(f, path, recorded, skipped, e);
    free(path);
    return r;
}

static void test_import_rules(void **state)
{
    struct fx *f = *state;
    size_t rec = 0, skip = 0;
    struct dti_err e = {0};

    /* extra columns without a header: refused, as before */
    assert_int_equal(import_text(f, UNIT ",tong_so_ho,2023,5,c,a,extra\n", &rec, &skip, &e),
                     DTI_EPARSE);
    assert_non_null(strstr(e.msg, "7 fields"));
    /* a header that names them: taken, and ignored */
    assert_int_equal(import_text(f,
                                 "unit,element,period,value,comment,author,ghi_chu,x\r\n" UNIT
                                 ",tong_so_ho,2023,5,c,a,anything,at all\r\n" UNIT
                                 ",tong_so_thon,2023,7\r\n",
                                 &rec, &skip, &e),
                     0);
    assert_int_equal(rec, 2);
    assert_int_equal(count_vals(f), 2);
    /* ... but a row longer than the header is not */
    assert_int_equal(import_text(f,
                                 "unit,element,period,value,comment,author,ghi_chu\n" UNIT
                                 ",tong_so_ho,2023,6,c,a,x,y\n",
                                 &rec, &skip, &e),
                     DTI_EPARSE);
    assert_non_null(strstr(e.msg, "in.csv:2: 8 fields"));
    /* a header whose columns are not the importer's, in its order */
    assert_int_equal(
        import_text(f, "unit,element,period,value,author,comment\n" UNIT ",tong_so_ho,2023,6,a,c\n",
                    &rec, &skip, &e),
        DTI_EPARSE);
    assert_non_null(strstr(e.msg, "header column 5 is 'author', expected 'comment'"));
    /* a BOM, and blank values: skipped, nothing recorded for them */
    assert_int_equal(import_text(f,
                                 "\xef\xbb\xbfunit,element,period,value\r\n" UNIT
                                 ",tong_so_ho,2023,\r\n" UNIT ",so_cbcc,2023,12\r\n",
                                 &rec, &skip, &e),
                     0);
    assert_int_equal(rec, 1);
    assert_int_equal(skip, 1);
    char v[64];
    held(f, "tong_so_ho", v, sizeof(v));
    assert_string_equal(v, "5"); /* the blank did not clear it */
    assert_int_equal(count_vals(f), 3);
    /* nothing but blanks: nothing recorded, not an error */
    assert_int_equal(
        import_text(f, UNIT ",tong_so_ho,2023,\n" UNIT ",so_cbcc,2023,,c,a\n", &rec, &skip, &e), 0);
    assert_int_equal(rec, 0);
    assert_int_equal(skip, 2);
    /* all or none: blanks around one bad row, nothing recorded */
    assert_int_equal(import_text(f,
                                 UNIT ",so_may_tinh_cbcc,2023,3\n" UNIT ",tong_so_ho,2023,\n" UNIT
                                      ",khong_co_element_nay,2023,1\n",
                                 &rec, &skip, &e),
                     DTI_EELEMENT);
    assert_non_null(strstr(e.msg, "in.csv:3"));
    assert_int_equal(count_vals(f), 3);
    /* too few fields is still an error, blank value or not */
    assert_int_equal(import_text(f, UNIT ",tong_so_ho,2023\n", &rec, &skip, &e), DTI_EPARSE);
}

/* Helper cells are cut so that every row stays importable: a category element
 * with hundreds of long labels. */
static void test_template_long_cells(void **state)
{
    (void)state;
    struct buf j;
    buf_init(&j, BUF_UNLIMITED);
    buf_puts(&j, "{\"id\": \"long\", \"name\": \"Dài\", \"level\": \"commune\", "
                 "\"period\": \"2023\", \"max_points\": 10, \"elements\": ["
                 "{\"code\": \"a\", \"name\": \"Nhiều lựa chọn\", \"type\": \"category\", "
                 "\"categories\": [");
    for (int k = 0; k < 200; k++) {
        buf_printf(&j, "%s{\"code\": \"c%d\", \"name\": \"", k ? ", " : "", k);
        for (int w = 0; w < 40; w++)
            buf_puts(&j, "Đường "); /* 8 bytes, "Đ" and "ờ" are two and three */
        buf_puts(&j, "\"}");
    }
    buf_puts(&j, "]}, {\"code\": \"b\", \"name\": \"Số\", \"type\": \"integer\"}], "
                 "\"indicators\": [{\"code\": \"1\", \"name\": \"Một\", \"max_points\": 10, "
                 "\"components\": [{\"code\": \"1.1\", \"name\": \"Một\", \"max_points\": 10, "
                 "\"method\": {\"kind\": \"tiers\", \"input\": \"b\", \"tiers\": [[1, 10]]}}]}]}");
    struct framework *fw = NULL;
    struct fw_problems pr = {0};
    int r = framework_parse((char *)j.data, j.len, "long.json", &fw, &pr);
    for (size_t i = 0; i < pr.n; i++)
        print_error("%s: %s\n", pr.items[i].path, pr.items[i].message);
    assert_int_equal(r, 0);
    fw_problems_release(&pr);
    struct buf t;
    buf_init(&t, BUF_UNLIMITED);
    assert_int_equal(template_build(&t, fw, UNIT, "2023", NULL), 0);
    FILE *fp = fmemopen(t.data, t.len, "rb");
    struct csv *c = NULL;
    assert_int_equal(csv_open(&c, fp), 0);
    char **fld;
    size_t nf, rows = 0;
    struct dti_err e = {0};
    while ((r = csv_next(c, &fld, &nf, &e)) > 0) {
        if (rows++ == 1) { /* element a */
            size_t n = strlen(fld[8]);
            assert_true(n > TEMPLATE_HELPER_MAX - 8 && n <= TEMPLATE_HELPER_MAX + 3);
            assert_string_equal(fld[8] + n - 3, "…");
            assert_memory_equal(fld[8], "c0 = Đường Đường", strlen("c0 = Đường Đường"));
        }
    }
    if (r < 0)
        print_error("%s\n", e.msg);
    assert_int_equal(r, 0); /* every cut left valid UTF-8 and rows within the ceiling */
    assert_int_equal(rows, 3);
    csv_free(c);
    fclose(fp);
    buf_release(&t);
    buf_release(&j);
    framework_free(fw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_template_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_bad_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_rules, setup, teardown),
        cmocka_unit_test(test_template_long_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
