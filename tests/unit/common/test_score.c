/*
 * test_score.c - unit tests for the scoring engine (common/score.c) beyond the
 * vectors: determinism (same inputs give the identical result and input hash;
 * any change of an input, missing vs zero, or of the framework changes the
 * hash), the documented byte layout of the input hash, the shipped commune
 * framework scored full, empty and partly, rounding, and competition ranking.
 * Method-by-method figures are in tests/vectors/score.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "framework.h"
#include "score.h"
#include "util.h"
#include "value.h"

#define NT_FILE DTI_SOURCE_DIR "/data/frameworks/ninh-thuan-commune-2023.json"

static struct framework *parse_text(const char *text, size_t len)
{
    struct fw_problems pr = {0};
    struct framework *fw = NULL;
    int r = framework_parse(text, len, "test", &fw, &pr);
    char line[600];
    for (size_t i = 0; i < pr.n; i++) {
        fw_problem_format(&pr, i, line, sizeof(line));
        print_error("%s\n", line);
    }
    assert_int_equal(r, 0);
    fw_problems_release(&pr);
    return fw;
}

static void nt_text(char **text, size_t *len)
{
    *text = NULL;
    assert_int_equal(read_file_bounded(NT_FILE, FRAMEWORK_FILE_MAX, text, len), 0);
}

static struct framework *load_nt(void)
{
    size_t len;
    char *text;
    nt_text(&text, &len);
    struct framework *fw = parse_text(text, len);
    free(text);
    return fw;
}

static void set(const struct framework *fw, struct value *in, const char *code, const char *text)
{
    size_t i;
    if (!framework_find_element(fw, code, &i)) {
        print_error("no element %s\n", code);
        fail();
    }
    struct dti_err e = {0};
    if (!text) {
        memset(&in[i], 0, sizeof(in[i]));
        return;
    }
    assert_int_equal(value_parse(text, &in[i], &e), 0);
    assert_int_equal(framework_check_value(fw, code, &in[i], &e), 0);
}

/* Every element at its best: booleans true, the first category (the best in
 * this framework), counts 100 (so every ratio is 100/100), percents 100. */
static void fill_best(const struct framework *fw, struct value *in)
{
    for (size_t i = 0; i < fw->nelements; i++) {
        const struct fw_element *el = &fw->elements[i];
        struct value *v = &in[i];
        memset(v, 0, sizeof(*v));
        switch (el->type) {
        case FW_TYPE_BOOLEAN:
            v->kind = VALUE_BOOL;
            v->b = true;
            break;
        case FW_TYPE_CATEGORY:
            v->kind = VALUE_TEXT;
            v->text = el->categories[0].code;
            break;
        case FW_TYPE_TEXT:
            v->kind = VALUE_TEXT;
            v->text = "Ghi chú";
            break;
        default:
            v->kind = VALUE_NUMBER;
            v->num = 100;
            break;
        }
    }
}

static void assert_same(const struct score_result *a, const struct score_result *b)
{
    assert_int_equal(a->ncomponents, b->ncomponents);
    for (size_t i = 0; i < a->ncomponents; i++) {
        assert_true(a->components[i].points == b->components[i].points);
        assert_int_equal(a->components[i].note, b->components[i].note);
        assert_int_equal(a->components[i].missing, b->components[i].missing);
    }
    for (size_t i = 0; i < a->nindicators; i++)
        assert_true(a->indicators[i].points == b->indicators[i].points);
    for (size_t i = 0; i < a->npillars; i++)
        assert_true(a->pillars[i].points == b->pillars[i].points);
    assert_true(a->points == b->points);
    assert_true(a->dti == b->dti);
    assert_int_equal(a->band, b->band);
    assert_true(a->completeness == b->completeness);
    assert_memory_equal(a->input_hash, b->input_hash, CRYPTO_SHA256_LEN);
}

static void test_commune_best_and_empty(void **state)
{
    (void)state;
    struct framework *fw = load_nt();
    struct value *in = xcalloc(fw->nelements, sizeof(*in));
    struct score_result *r = NULL;

    fill_best(fw, in);
    assert_int_equal(score_unit(fw, in, &r), 0);
    assert_int_equal(r->ncomponents, fw->ncomponents);
    assert_int_equal(r->nindicators, fw->nindicators);
    assert_int_equal(r->npillars, 3);
    assert_int_equal(r->ngroups, 2);
    assert_true(r->points == 1000);
    assert_true(r->max == 1000);
    assert_true(r->dti == 1);
    assert_string_equal(r->band_name, "Tốt");
    assert_int_equal(r->band, 0);
    assert_true(r->completeness == 1);
    assert_int_equal(r->inputs_present, r->inputs_required);
    assert_int_equal(r->inputs_required, fw->nrequired);
    for (size_t i = 0; i < r->npillars; i++)
        assert_true(r->pillars[i].value == 1);
    for (size_t c = 0; c < fw->ncomponents; c++) {
        const struct fw_component *co = &fw->components[c];
        if (co->max_points > 0) {
            assert_true(r->components[c].points == co->max_points);
            /* ratios with a target below 1 are over it: capped */
            assert_int_equal(r->components[c].note,
                             co->method.has_target ? SCORE_CAPPED : SCORE_OK);
        } else {
            assert_int_equal(r->components[c].note, SCORE_INFORMATIONAL);
            assert_true(r->components[c].points == 0);
        }
    }
    score_result_free(r);

    /* Nothing collected: 0, the last band, completeness 0, every scored
     * component missing. */
    memset(in, 0, fw->nelements * sizeof(*in));
    assert_int_equal(score_unit(fw, in, &r), 0);
    assert_true(r->points == 0 && r->dti == 0);
    assert_string_equal(r->band_name, "Yếu");
    assert_true(r->completeness == 0);
    assert_int_equal(r->inputs_present, 0);
    for (size_t c = 0; c < fw->ncomponents; c++)
        assert_int_equal(r->components[c].note,
                         fw->components[c].max_points > 0 ? SCORE_MISSING : SCORE_INFORMATIONAL);
    score_result_free(r);
    free(in);
    framework_free(fw);
}

/* A commune with the figures of a real-looking report, worked out by hand. */
static void test_commune_partial(void **state)
{
    (void)state;
    struct framework *fw = load_nt();
    struct value *in = xcalloc(fw->nelements, sizeof(*in));
    fill_best(fw, in);
    set(fw, in, "truong_ban_cds", "pho_chu_tich");    /* 1.1: 10 of 20 */
    set(fw, in, "so_cuoc_hop_bcd", "3");              /* 1.2: 15 of 20 */
    set(fw, in, "so_cuoc_hop_chu_tich_chu_tri", "2"); /* 1.3: 2/3 x 20 = 13.3333 */
    set(fw, in, "co_hoi_nghi_quan_triet", "không");   /* 1.5: 10 of 20 */
    set(fw, in, "tong_so_ho", "2000");
    set(fw, in, "so_ho_cap_quang", "1200");                /* 3.1: 0.6/0.8 x 40 = 30 */
    set(fw, in, "so_ho_co_dien_thoai_thong_minh", "1500"); /* 9.3: 0.75 x 40 = 30 */
    set(fw, in, "so_van_ban_cds_yeu_cau", "0");            /* 2.2: zero denominator, full: 40 */
    set(fw, in, "so_van_ban_cds_ban_hanh", "0");
    set(fw, in, "co_sao_luu_du_lieu", NULL);   /* 5.2: 3 of 4 checks = 30, missing */
    set(fw, in, "ty_le_so_hoa_ho_so", "37.5"); /* 7.4: 0.375 x 30 = 11.25 */
    struct score_result *r = NULL;
    assert_int_equal(score_unit(fw, in, &r), 0);
    size_t i;
    assert_true(framework_find_indicator(fw, "1", &i));
    assert_true(r->indicators[i].points == 68.3333); /* 10 + 15 + 13.3333 + 20 + 10 */
    assert_true(framework_find_component(fw, "2.2", &i));
    assert_int_equal(r->components[i].note, SCORE_ZERO_DENOMINATOR);
    assert_true(r->components[i].points == 40);
    assert_true(framework_find_component(fw, "5.2", &i));
    assert_int_equal(r->components[i].note, SCORE_MISSING);
    assert_int_equal(r->components[i].missing, 1);
    assert_true(r->components[i].points == 30);
    /* lost: 31.6667 (indicator 1) + 10 (3.1) + 10 (9.3) + 10 (5.2) + 18.75 (7.4) */
    assert_true(r->points == 919.5833);
    assert_true(fabs(r->dti - 0.9195833) < 1e-9);
    assert_string_equal(r->band_name, "Tốt");
    assert_int_equal(r->inputs_present, r->inputs_required - 1);
    score_result_free(r);
    free(in);
    framework_free(fw);
}

static void test_same_inputs_same_hash(void **state)
{
    (void)state;
    struct framework *fw = load_nt();
    struct value *in = xcalloc(fw->nelements, sizeof(*in));
    fill_best(fw, in);
    set(fw, in, "so_cuoc_hop_bcd", "4");
    struct score_result *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(score_unit(fw, in, &a), 0);
    assert_int_equal(score_unit(fw, in, &b), 0);
    assert_same(a, b);
    uint8_t h[CRYPTO_SHA256_LEN];
    score_input_hash(fw, in, h);
    assert_memory_equal(h, a->input_hash, CRYPTO_SHA256_LEN);

    /* A different number: another hash (and here other points). */
    set(fw, in, "so_cuoc_hop_bcd", "3");
    assert_int_equal(score_unit(fw, in, &c), 0);
    assert_memory_not_equal(a->input_hash, c->input_hash, CRYPTO_SHA256_LEN);
    assert_true(c->points < a->points);
    score_result_free(c);

    /* Reported zero and not collected score the same here but hash apart. */
    uint8_t zero[CRYPTO_SHA256_LEN], none[CRYPTO_SHA256_LEN];
    set(fw, in, "so_cuoc_hop_bcd", "0");
    score_input_hash(fw, in, zero);
    set(fw, in, "so_cuoc_hop_bcd", NULL);
    score_input_hash(fw, in, none);
    assert_memory_not_equal(zero, none, CRYPTO_SHA256_LEN);

    /* An element no method reads still counts: the hash covers every input. */
    set(fw, in, "so_cuoc_hop_bcd", "4");
    score_input_hash(fw, in, h);
    assert_memory_equal(h, a->input_hash, CRYPTO_SHA256_LEN);
    set(fw, in, "ghi_chu_do_thi_thong_minh", "Khác");
    score_input_hash(fw, in, h);
    assert_memory_not_equal(h, a->input_hash, CRYPTO_SHA256_LEN);
    set(fw, in, "ghi_chu_do_thi_thong_minh", "Ghi chú");
    score_input_hash(fw, in, h);
    assert_memory_equal(h, a->input_hash, CRYPTO_SHA256_LEN);

    /* The same content in another framework (another hash) hashes apart. */
    size_t len;
    char *doc;
    nt_text(&doc, &len);
    const char *period = "\"period\": \"2023\"";
    assert_non_null(strstr(doc, period));
    size_t off = (size_t)(strstr(doc, period) - doc);
    doc[off + 14] = '4'; /* "2023" -> "2024" */
    struct framework *fw2 = parse_text(doc, len);
    score_input_hash(fw2, in, h);
    assert_memory_not_equal(h, a->input_hash, CRYPTO_SHA256_LEN);
    framework_free(fw2);
    free(doc);

    score_result_free(a);
    score_result_free(b);
    free(in);
    framework_free(fw);
}

/* The input hash is the documented byte string, byte for byte. */
static void test_input_hash_layout(void **state)
{
    (void)state;
    const char *t = "{\"id\":\"h\",\"name\":\"h\",\"level\":\"district\",\"period\":\"2023Q1\","
                    "\"max_points\":1,\"elements\":["
                    "{\"code\":\"b\",\"name\":\"b\",\"type\":\"number\"},"
                    "{\"code\":\"a\",\"name\":\"a\",\"type\":\"boolean\"},"
                    "{\"code\":\"c\",\"name\":\"c\",\"type\":\"text\"},"
                    "{\"code\":\"d\",\"name\":\"d\",\"type\":\"number\"}],"
                    "\"indicators\":[{\"code\":\"1\",\"name\":\"x\",\"max_points\":1,"
                    "\"components\":[{\"code\":\"1.1\",\"name\":\"x\",\"max_points\":1,"
                    "\"method\":{\"kind\":\"boolean\",\"input\":\"a\"}}]}]}";
    struct framework *fw = parse_text(t, strlen(t));
    struct value in[4];
    memset(in, 0, sizeof(in));
    in[0].kind = VALUE_NUMBER; /* b */
    in[0].num = 1.5;
    in[1].kind = VALUE_BOOL; /* a */
    in[1].b = true;
    in[2].kind = VALUE_TEXT; /* c */
    in[2].text = "hi";
    /* d: not collected */
    unsigned char want[200];
    size_t n = 0;
    memcpy(want, "dtisync-score-inputs-v1", 24); /* with its NUL */
    n = 24;
    memcpy(want + n, fw->hash, 32);
    n += 32;
    static const unsigned char rest[] = {
        'a', 0, 0x02, 1,                                /* a = true */
        'b', 0, 0x01, 0x3F, 0xF8, 0, 0, 0,   0,   0, 0, /* b = 1.5 */
        'c', 0, 0x03, 0,    0,    0, 2, 'h', 'i',       /* c = "hi" */
        'd', 0, 0x00,                                   /* d: none */
    };
    memcpy(want + n, rest, sizeof(rest));
    n += sizeof(rest);
    uint8_t expect[32], got[32];
    crypto_sha256(want, n, expect);
    score_input_hash(fw, in, got);
    assert_memory_equal(expect, got, 32);
    /* -0 is hashed as 0 */
    in[0].num = 0.0;
    score_input_hash(fw, in, expect);
    in[0].num = -0.0;
    score_input_hash(fw, in, got);
    assert_memory_equal(expect, got, 32);
    framework_free(fw);
}

static void test_round4(void **state)
{
    (void)state;
    assert_true(score_round4(0.03125) == 0.0313); /* 312.5 exactly: half away from zero */
    assert_true(score_round4(-0.03125) == -0.0313);
    assert_true(score_round4(0.09375) == 0.0938); /* 937.5: not to even */
    assert_true(score_round4(1.23454) == 1.2345);
    assert_true(score_round4(82.53) == 82.53);
    assert_true(score_round4(20.0 / 3.0) == 6.6667);
    assert_true(score_round4(0) == 0);
}

static void expect_ranks(const double *v, size_t n, const unsigned *want, const char *file,
                         int line)
{
    unsigned got[16];
    assert_true(n <= 16);
    score_rank(v, n, got);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            print_error("rank of value %zu (%.6f): expected %u, got %u\n", i, v[i], want[i],
                        got[i]);
            _fail(file, line);
        }
}
#define RANKS(v, ...)                                                                              \
    expect_ranks((v), ARRAY_SIZE(v), (const unsigned[]){__VA_ARGS__}, __FILE__, __LINE__)

static void test_rank(void **state)
{
    (void)state;
    const double a[] = {0.9, 0.8, 0.8, 0.7};
    RANKS(a, 1, 2, 2, 4);
    const double b[] = {0.5, 0.7, 0.7, 0.1, 0.7};
    RANKS(b, 4, 1, 1, 5, 1);
    const double c[] = {0.80001, 0.80004, 0.80006}; /* 0.8, 0.8, 0.8001 */
    RANKS(c, 2, 2, 1);
    const double d[] = {0.0, -0.0, 0.3};
    RANKS(d, 2, 2, 1);
    const double e[] = {0.42};
    RANKS(e, 1);
    const double f[] = {0.5, 0.5, 0.5};
    RANKS(f, 1, 1, 1);
    score_rank(NULL, 0, NULL); /* nothing to rank */
}

static void test_note_names(void **state)
{
    (void)state;
    assert_string_equal(score_note_name(SCORE_OK), "ok");
    assert_string_equal(score_note_name(SCORE_MISSING), "missing");
    assert_string_equal(score_note_name(SCORE_ZERO_DENOMINATOR), "zero_denominator");
    assert_string_equal(score_note_name(SCORE_CAPPED), "capped");
    assert_string_equal(score_note_name(SCORE_UNKNOWN_CATEGORY), "unknown_category");
    assert_string_equal(score_note_name(SCORE_INVALID), "invalid");
    assert_string_equal(score_note_name(SCORE_INFORMATIONAL), "informational");
    score_result_free(NULL);
}

/* Ranks overall and within groups: ties share a rank, the next is skipped. */
static void test_rank_grouped(void **state)
{
    (void)state;
    const double v[] = {1, 2, 2, 3, 0.5};
    const char *const g[] = {"a", "b", "a", "b", "c"};
    unsigned all[5], in_group[5];
    size_t size[5];
    score_rank_grouped(v, g, 5, all, in_group, size);
    const unsigned want_all[] = {4, 2, 2, 1, 5};
    const unsigned want_group[] = {2, 2, 1, 1, 1};
    const size_t want_size[] = {2, 2, 2, 2, 1};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(all[i], want_all[i]);
        assert_int_equal(in_group[i], want_group[i]);
        assert_int_equal(size[i], want_size[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_grouped),
        cmocka_unit_test(test_commune_best_and_empty),
        cmocka_unit_test(test_commune_partial),
        cmocka_unit_test(test_same_inputs_same_hash),
        cmocka_unit_test(test_input_hash_layout),
        cmocka_unit_test(test_round4),
        cmocka_unit_test(test_rank),
        cmocka_unit_test(test_note_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
