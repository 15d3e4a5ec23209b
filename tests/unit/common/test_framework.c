/*
 * test_framework.c - unit tests for framework files (common/framework.c): the
 * shipped frameworks parse; a small valid framework and its lookups, content
 * hash and value checks; and malformed or inconsistent variants, each of which
 * must be refused with exactly the expected problems (path, message, line),
 * all listed at once. Variants are made by replacing one piece of the valid
 * text, so each test shows the mistake it makes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "util.h"
#include "value.h"

/* The valid base framework; single quotes become double quotes (q()). */
static const char BASE[] =
    "{'id': 't-commune-2023', 'name': 'Thử nghiệm', 'level': 'commune',\n"
    " 'period': '2023', 'max_points': 100,\n"
    " 'elements': [\n"
    "  {'code': 'meetings', 'name': 'Số cuộc họp', 'type': 'integer', 'min': 0, 'max': 366,\n"
    "   'aggregate': 'sum'},\n"
    "  {'code': 'chaired', 'name': 'Số cuộc họp do Chủ tịch chủ trì', 'type': 'integer',\n"
    "   'min': 0, 'max': 366},\n"
    "  {'code': 'head', 'name': 'Trưởng ban', 'type': 'category',\n"
    "   'categories': ['chu_tich', {'code': 'pho_chu_tich', 'name': 'Phó Chủ tịch'}, 'khac']},\n"
    "  {'code': 'plan', 'name': 'Có kế hoạch', 'type': 'boolean'},\n"
    "  {'code': 'rule', 'name': 'Có quy chế', 'type': 'boolean'},\n"
    "  {'code': 'share', 'name': 'Tỷ lệ', 'type': 'percent', 'aggregate': "
    "'weighted_mean:meetings'},\n"
    "  {'code': 'note', 'name': 'Ghi chú', 'type': 'text'}\n"
    " ],\n"
    " 'indicators': [\n"
    "  {'code': '1', 'name': 'Nhận thức số', 'max_points': 60, 'components': [\n"
    "   {'code': '1.1', 'name': 'Họp', 'max_points': 20, 'evidence': 'Biên bản họp',\n"
    "    'method': {'kind': 'tiers', 'input': 'meetings', 'tiers': [[4, 20], [3, 15], [2, 10], "
    "[1, 5]]}},\n"
    "   {'code': '1.2', 'name': 'Chủ trì', 'max_points': 20,\n"
    "    'method': {'kind': 'ratio', 'numerator': 'chaired', 'denominator': 'meetings'}},\n"
    "   {'code': '1.3', 'name': 'Trưởng ban', 'max_points': 20,\n"
    "    'method': {'kind': 'categorical', 'input': 'head', 'map': {'chu_tich': 1, "
    "'pho_chu_tich': 0.5}}}\n"
    "  ]},\n"
    "  {'code': '2', 'name': 'Thể chế số', 'max_points': 40, 'components': [\n"
    "   {'code': '2.1', 'name': 'Kế hoạch', 'max_points': 10, 'method': {'kind': 'boolean', "
    "'input': 'plan'}},\n"
    "   {'code': '2.2', 'name': 'Quy chế', 'max_points': 20,\n"
    "    'method': {'kind': 'checks', 'inputs': ['plan', 'rule']}},\n"
    "   {'code': '2.3', 'name': 'Tỷ lệ', 'max_points': 10, 'method': {'kind': 'value', 'input': "
    "'share'}}\n"
    "  ]},\n"
    "  {'code': '6', 'name': 'Đô thị thông minh', 'max_points': 0, 'components': [\n"
    "   {'code': '6.1', 'name': 'Ghi chú', 'max_points': 0}\n"
    "  ]}\n"
    " ],\n"
    " 'pillars': [{'code': 'CQS', 'name': 'Chính quyền số', 'indicators': ['1', '2', '6']}],\n"
    " 'bands': [{'name': 'Tốt', 'min': 0.8}, {'name': 'Khá', 'min': 0.5}, {'name': 'Yếu', "
    "'min': 0}]\n"
    "}\n";

/* A copy of s with ' turned into ". */
static char *q(const char *s)
{
    char *t = xstrdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

/* BASE with each (from, to) pair replaced; each `from` must occur exactly once. */
static char *variant(int npairs, ...)
{
    char *s = xstrdup(BASE);
    va_list ap;
    va_start(ap, npairs);
    for (int i = 0; i < npairs; i++) {
        const char *from = va_arg(ap, const char *);
        const char *to = va_arg(ap, const char *);
        char *at = strstr(s, from);
        if (!at || strstr(at + 1, from)) {
            print_error("variant: '%s' must occur exactly once in BASE\n", from);
            fail();
        }
        char *n = xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
        free(s);
        s = n;
    }
    va_end(ap);
    char *r = q(s);
    free(s);
    return r;
}

static void dump(const struct fw_problems *pr)
{
    char line[1024];
    for (size_t i = 0; i < pr->n; i++) {
        fw_problem_format(pr, i, line, sizeof(line));
        print_error("  problem: %s\n", line);
    }
}

/* Parse text expecting refusal with code and exactly n problems. */
static void refuse(const char *text, int code, size_t n, struct fw_problems *pr, const char *file,
                   int at)
{
    struct framework *fw = NULL;
    int r = framework_parse(text, strlen(text), "t.json", &fw, pr);
    if (r != code || pr->n != n) {
        print_error("expected %s with %zu problems, got %s with %zu:\n", dti_strname(code), n,
                    dti_strname(r), pr->n);
        dump(pr);
    }
    _assert_int_equal(r, code, file, at);
    _assert_int_equal(pr->n, n, file, at);
    if (fw != NULL)
        _fail(file, at);
}
#define REFUSE(text, code, n, pr) refuse((text), (code), (n), (pr), __FILE__, __LINE__)

/* A problem at exactly path whose message contains want (and on line, if > 0). */
static void has_problem(const struct fw_problems *pr, const char *path, const char *want, int line,
                        const char *file, int at)
{
    for (size_t i = 0; i < pr->n; i++)
        if (strcmp(pr->items[i].path, path) == 0 && strstr(pr->items[i].message, want) &&
            (line <= 0 || pr->items[i].line == line))
            return;
    print_error("no problem at '%s' containing '%s' (line %d); got:\n", path, want, line);
    dump(pr);
    _fail(file, at);
}
#define HAS(pr, path, want) has_problem((pr), (path), (want), 0, __FILE__, __LINE__)
#define HAS_AT(pr, path, want, line) has_problem((pr), (path), (want), (line), __FILE__, __LINE__)

static struct framework *parse_ok(const char *text)
{
    struct fw_problems pr = {0};
    struct framework *fw = NULL;
    int r = framework_parse(text, strlen(text), "t.json", &fw, &pr);
    if (r != 0)
        dump(&pr);
    assert_int_equal(r, 0);
    assert_int_equal(pr.n, 0);
    assert_non_null(fw);
    fw_problems_release(&pr);
    return fw;
}

static struct framework *load_shipped(const char *name)
{
    char *path = xasprintf("%s/data/frameworks/%s", DTI_SOURCE_DIR, name);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(read_file_bounded(path, FRAMEWORK_FILE_MAX, &text, &len), 0);
    struct fw_problems pr = {0};
    struct framework *fw = NULL;
    int r = framework_parse(text, len, path, &fw, &pr);
    if (r != 0)
        dump(&pr);
    assert_int_equal(r, 0);
    assert_int_equal(pr.n, 0);
    fw_problems_release(&pr);
    free(text);
    free(path);
    return fw;
}

/* ---- the shipped frameworks ---- */

static void test_shipped_922(void **state)
{
    (void)state;
    struct framework *fw = load_shipped("dti-922-province-2022.json");
    assert_string_equal(fw->id, "dti-922-province-2022");
    assert_int_equal(fw->level, FW_LEVEL_PROVINCE);
    assert_string_equal(fw->period, "2022");
    assert_true(fw->max_points == 1000);
    assert_int_equal(fw->nindicators, 9);
    assert_int_equal(fw->npillars, 3);
    assert_int_equal(fw->ngroups, 2);
    size_t i6;
    assert_true(framework_find_indicator(fw, "6", &i6));
    assert_true(fw->indicators[i6].max_points == 0);
    assert_string_equal(fw->indicators[i6].name, "Đô thị thông minh");
    size_t scored = 0;
    for (size_t i = 0; i < fw->nindicators; i++)
        scored += fw->indicators[i].max_points > 0;
    assert_int_equal(scored, 8);
    for (size_t c = 0; c < fw->ncomponents; c++)
        assert_int_equal(fw->components[c].method.kind, FW_METHOD_VALUE);
    assert_int_equal(fw->nrequired, 8); /* v1..v9 without v6 */
    assert_true(fw->groups[0].max_points == 500 && fw->groups[1].max_points == 500);
    framework_free(fw);
}

static void test_shipped_ninh_thuan(void **state)
{
    (void)state;
    struct framework *fw = load_shipped("ninh-thuan-commune-2023.json");
    assert_string_equal(fw->id, "ninh-thuan-commune-2023");
    assert_int_equal(fw->level, FW_LEVEL_COMMUNE);
    assert_true(fw->max_points == 1000);
    assert_true(fw->ncomponents >= 25 && fw->ncomponents <= 40);
    static const char *const scored[] = {"1", "2", "3", "4", "5", "7", "8", "9"};
    static const double maxes[] = {100, 100, 100, 100, 100, 200, 150, 150};
    for (size_t k = 0; k < ARRAY_SIZE(scored); k++) {
        size_t i;
        assert_true(framework_find_indicator(fw, scored[k], &i));
        assert_true(fw->indicators[i].max_points == maxes[k]);
    }
    size_t i6;
    assert_true(framework_find_indicator(fw, "6", &i6));
    assert_true(fw->indicators[i6].max_points == 0);
    bool kinds[FW_METHOD_VALUE + 1] = {false};
    for (size_t c = 0; c < fw->ncomponents; c++)
        kinds[fw->components[c].method.kind] = true;
    for (int k = FW_METHOD_NONE; k <= FW_METHOD_VALUE; k++)
        if (!kinds[k]) {
            print_error("no component of kind %s\n", fw_method_name((enum fw_method_kind)k));
            fail();
        }
    assert_int_equal(fw->npillars, 3);
    assert_string_equal(fw->pillars[0].code, "CQS");
    assert_string_equal(fw->pillars[1].code, "KTS");
    assert_string_equal(fw->pillars[2].code, "XHS");
    assert_int_equal(fw->nbands, 4);
    assert_string_equal(fw->bands[0].name, "Tốt");
    assert_string_equal(fw->bands[3].name, "Yếu");
    assert_true(fw->bands[3].min == 0);
    size_t e;
    assert_true(framework_find_element(fw, "so_cuoc_hop_bcd", &e));
    assert_int_equal(fw->elements[e].type, FW_TYPE_INTEGER);
    assert_int_equal(fw->elements[e].aggregate, FW_AGG_SUM);
    size_t c12;
    assert_true(framework_find_component(fw, "1.2", &c12));
    assert_string_equal(fw->components[c12].evidence, "Biên bản họp");
    framework_free(fw);
}

/* ---- the base framework ---- */

static void test_base_parses(void **state)
{
    (void)state;
    char *t = q(BASE);
    struct framework *fw = parse_ok(t);
    assert_int_equal(fw->nelements, 7);
    assert_int_equal(fw->nindicators, 3);
    assert_int_equal(fw->ncomponents, 7);
    assert_int_equal(fw->indicators[1].first_component, 3);
    assert_int_equal(fw->indicators[1].ncomponents, 3);
    /* meetings, chaired, head, plan, rule, share: note is read by no scored component */
    assert_int_equal(fw->nrequired, 6);
    for (size_t k = 1; k < fw->nrequired; k++)
        assert_true(
            strcmp(fw->elements[fw->required[k - 1]].code, fw->elements[fw->required[k]].code) < 0);
    for (size_t k = 1; k < fw->nelements; k++)
        assert_true(
            strcmp(fw->elements[fw->by_code[k - 1]].code, fw->elements[fw->by_code[k]].code) < 0);
    size_t i;
    assert_true(framework_find_element(fw, "share", &i));
    assert_int_equal(i, 5);
    assert_true(fw->elements[i].has_min && fw->elements[i].min == 0);
    assert_true(fw->elements[i].has_max && fw->elements[i].max == 100);
    assert_int_equal(fw->elements[i].aggregate, FW_AGG_WEIGHTED_MEAN);
    assert_int_equal(fw->elements[i].weight, 0);
    assert_false(framework_find_element(fw, "nope", &i));
    assert_false(framework_find_element(fw, "", &i));
    assert_true(framework_find_element(fw, "head", &i));
    assert_int_equal(fw->elements[i].ncategories, 3);
    assert_null(fw->elements[i].categories[0].name);
    assert_string_equal(fw->elements[i].categories[1].name, "Phó Chủ tịch");
    assert_true(framework_find_component(fw, "1.3", &i));
    assert_int_equal(fw->components[i].method.nmap, 2);
    assert_int_equal(fw->components[i].method.map[1].index, 1);
    assert_true(framework_find_component(fw, "6.1", &i));
    assert_int_equal(fw->components[i].method.kind, FW_METHOD_NONE);
    assert_int_equal(fw->pillars[0].nindicators, 3);
    assert_true(fw->pillars[0].max_points == 100);
    framework_free(fw);
    free(t);
    framework_free(NULL);
}

static void test_hash_is_content(void **state)
{
    (void)state;
    char *t = q(BASE);
    struct framework *a = parse_ok(t);
    /* Same content, other layout and key order: same hash. */
    char *u = variant(2, "{'id': 't-commune-2023', 'name': 'Thử nghiệm', 'level': 'commune',",
                      "{ 'level' : 'commune' ,\n\n 'name':'Thử nghiệm','id':'t-commune-2023',",
                      "'bands': [", "'bands':\n[");
    struct framework *b = parse_ok(u);
    /* Other content: another hash. */
    char *v =
        variant(1, "'name': 'Tỷ lệ', 'max_points': 10", "'name': 'Tỷ lệ số', 'max_points': 10");
    struct framework *c = parse_ok(v);
    uint8_t ha[32], hb[32], hc[32];
    framework_hash(a, ha);
    framework_hash(b, hb);
    framework_hash(c, hc);
    assert_memory_equal(ha, hb, 32);
    assert_memory_not_equal(ha, hc, 32);
    /* A BOM changes nothing. */
    char *bom = xasprintf("\xEF\xBB\xBF%s", t);
    struct framework *d = parse_ok(bom);
    framework_hash(d, hc);
    assert_memory_equal(ha, hc, 32);
    framework_free(a);
    framework_free(b);
    framework_free(c);
    framework_free(d);
    free(t);
    free(u);
    free(v);
    free(bom);
}

/* ---- refusals ---- */

static void test_syntax_error_has_line(void **state)
{
    (void)state;
    char *t = variant(1, "'max_points': 100,\n", "'max_points': 100,,\n");
    struct fw_problems pr = {0};
    REFUSE(t, DTI_EPARSE, 1, &pr);
    assert_int_equal(pr.items[0].line, 2);
    char line[512];
    fw_problem_format(&pr, 0, line, sizeof(line));
    assert_true(strncmp(line, "t.json:2: ", 10) == 0);
    fw_problems_release(&pr);
    free(t);

    struct framework *fw = NULL;
    assert_int_equal(framework_parse("", 0, "empty.json", &fw, NULL), DTI_EPARSE);
    assert_int_equal(framework_parse("[1, 2]", 6, "a.json", &fw, &pr), DTI_EPARSE);
    HAS(&pr, "", "expected a JSON object at the top level");
    assert_null(fw);
    fw_problems_release(&pr);
}

static void test_duplicate_json_key(void **state)
{
    (void)state;
    char *t = variant(1, "'period': '2023',", "'period': '2023', 'period': '2024',");
    struct fw_problems pr = {0};
    REFUSE(t, DTI_EPARSE, 1, &pr);
    assert_non_null(strstr(pr.items[0].message, "duplicate"));
    assert_int_equal(pr.items[0].line, 2);
    fw_problems_release(&pr);
    free(t);
}

/* Three unrelated mistakes: all three are listed, each with its path and line. */
static void test_three_problems_at_once(void **state)
{
    (void)state;
    char *t = variant(3, "'level': 'commune'", "'level': 'village'", "'input': 'plan'}}",
                      "'input': 'plans'}}", "'indicators': ['1', '2', '6']",
                      "'indicators': ['1', '2', '7']");
    struct fw_problems pr = {0};
    REFUSE(t, DTI_EPARSE, 3, &pr);
    HAS_AT(&pr, "level", "unknown level 'village'", 1);
    HAS_AT(&pr, "indicators[1].components[0].method.input", "unknown element 'plans'", 25);
    HAS_AT(&pr, "pillars[0].indicators[2]", "unknown indicator '7'", 34);
    assert_string_equal(pr.source, "t.json");
    char line[512];
    fw_problem_format(&pr, 1, line, sizeof(line));
    assert_string_equal(
        line, "t.json:25: indicators[1].components[0].method.input: unknown element 'plans'");
    fw_problems_release(&pr);
    free(t);
}

static void test_points_do_not_add_up(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    /* Component 1.3 worth 25: indicator 1 no longer adds up (60 != 65), and the
     * tiers of 1.1 still fit. The framework total uses the indicators' own max. */
    char *t = variant(1, "'name': 'Trưởng ban', 'max_points': 20",
                      "'name': 'Trưởng ban', 'max_points': 25");
    REFUSE(t, DTI_EPARSE, 1, &pr);
    HAS(&pr, "indicators[0].max_points",
        "max_points 60 is not the sum of its components' max_points (65)");
    fw_problems_release(&pr);
    free(t);

    t = variant(1, " 'period': '2023', 'max_points': 100,", " 'period': '2023', 'max_points': 90,");
    REFUSE(t, DTI_EPARSE, 1, &pr);
    HAS(&pr, "max_points", "max_points 90 is not the sum of the indicators' max_points (100)");
    fw_problems_release(&pr);
    free(t);

    /* A scored component inside an unscored indicator. */
    t = variant(1, "{'code': '6.1', 'name': 'Ghi chú', 'max_points': 0}",
                "{'code': '6.1', 'name': 'Ghi chú', 'max_points': 5, 'method': {'kind': "
                "'boolean', 'input': 'plan'}}");
    REFUSE(t, DTI_EPARSE, 1, &pr);
    HAS(&pr, "indicators[2].max_points", "max_points 0 is not the sum");
    fw_problems_release(&pr);
    free(t);

    /* A pillar with a declared max that does not add up. */
    t = variant(1, "'indicators': ['1', '2', '6']}",
                "'indicators': ['1', '2', '6'], 'max_points': 90}");
    REFUSE(t, DTI_EPARSE, 1, &pr);
    HAS(&pr, "pillars[0].max_points", "not the sum of its indicators' max_points (100)");
    fw_problems_release(&pr);
    free(t);
}

static void test_unknown_element_in_method(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    char *t = variant(2, "'numerator': 'chaired'", "'numerator': 'chaired_x'",
                      "'inputs': ['plan', 'rule']", "'inputs': ['plan', 'rules']");
    REFUSE(t, DTI_EPARSE, 2, &pr);
    HAS(&pr, "indicators[0].components[1].method.numerator", "unknown element 'chaired_x'");
    HAS(&pr, "indicators[1].components[1].method.inputs[1]", "unknown element 'rules'");
    fw_problems_release(&pr);
    free(t);
}

static void test_pillar_unknown_indicator(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    char *t = variant(1, "'indicators': ['1', '2', '6']", "'indicators': ['1', '10', '1']");
    REFUSE(t, DTI_EPARSE, 2, &pr);
    HAS(&pr, "pillars[0].indicators[1]", "unknown indicator '10'");
    HAS(&pr, "pillars[0].indicators[2]", "indicator '1' is listed twice");
    fw_problems_release(&pr);
    free(t);
}

static void test_duplicate_codes(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    char *t = variant(4, "{'code': 'rule', 'name'", "{'code': 'plan', 'name'", "{'code': '2.3'",
                      "{'code': '1.1'", "{'code': '6', 'name'", "{'code': '2', 'name'", " 'bands'",
                      " 'groups': [{'code': 'I', 'name': 'Nền tảng', 'indicators': ['1']},\n"
                      "            {'code': 'I', 'name': 'Hoạt động', 'indicators': ['2']}],\n"
                      " 'bands'");
    /* Renaming rule to plan also leaves 'rule' unknown in checks 2.2. */
    REFUSE(t, DTI_EPARSE, 6, &pr);
    HAS(&pr, "elements[4].code", "duplicate element code 'plan' (also elements[3])");
    HAS(&pr, "indicators[1].components[1].method.inputs[1]", "unknown element 'rule'");
    HAS(&pr, "indicators[1].components[2].code",
        "duplicate component code '1.1' (also indicators[0].components[0])");
    HAS(&pr, "indicators[2].code", "duplicate indicator code '2' (also indicators[1])");
    HAS(&pr, "groups[1].code", "duplicate code 'I' (also groups[0])");
    /* Indicator 6 is now a second '2', so the pillar's '6' is unknown. */
    HAS(&pr, "pillars[0].indicators[2]", "unknown indicator '6'");
    fw_problems_release(&pr);
    free(t);
}

static void test_wrong_element_type_for_method(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    char *t =
        variant(4, "'numerator': 'chaired'", "'numerator': 'note'", "'inputs': ['plan', 'rule']",
                "'inputs': ['plan', 'meetings']", "'kind': 'categorical', 'input': 'head'",
                "'kind': 'categorical', 'input': 'plan'", "'kind': 'value', 'input': 'share'",
                "'kind': 'value', 'input': 'meetings'");
    REFUSE(t, DTI_EPARSE, 4, &pr);
    HAS(&pr, "indicators[0].components[1].method.numerator",
        "element 'note' is text; a ratio reads an integer, number or percent");
    HAS(&pr, "indicators[1].components[1].method.inputs[1]",
        "element 'meetings' is integer; checks reads a boolean");
    HAS(&pr, "indicators[0].components[2].method.input",
        "element 'plan' is boolean; categorical reads a category");
    HAS(&pr, "indicators[1].components[2].method.input",
        "element 'meetings' is integer; value reads a number (0..1) or percent");
    fw_problems_release(&pr);
    free(t);
}

static void test_method_problems(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    char *t = variant(
        4, "[[4, 20], [3, 15], [2, 10], [1, 5]]", "[[4, 25], [2, 15], [3, 10], [1]]",
        "'denominator': 'meetings'}",
        "'denominator': 'meetings', 'target': 0, 'zero_denominator': 'half', 'cap': 1}",
        "'map': {'chu_tich': 1, 'pho_chu_tich': 0.5}", "'map': {'chu_tich': 1.5, 'truong_thon': 0}",
        "'method': {'kind': 'boolean', 'input': 'plan'}", "'method': {'kind': 'guess'}");
    REFUSE(t, DTI_EPARSE, 9, &pr);
    HAS(&pr, "indicators[0].components[0].method.tiers[0]",
        "tier points 25 exceed the component's max_points 20");
    HAS(&pr, "indicators[0].components[0].method.tiers[2]",
        "tiers must be sorted by threshold, descending: 3 comes after 2");
    HAS(&pr, "indicators[0].components[0].method.tiers[3]", "expected [threshold, points]");
    HAS(&pr, "indicators[0].components[1].method.target", "must be above 0");
    HAS(&pr, "indicators[0].components[1].method.zero_denominator",
        "expected \"zero\" or \"full\", got 'half'");
    HAS(&pr, "indicators[0].components[1].method.cap", "unknown key 'cap'");
    HAS(&pr, "indicators[0].components[2].method.map.chu_tich",
        "expected a fraction of the max points from 0 to 1");
    HAS(&pr, "indicators[0].components[2].method.map.truong_thon",
        "'truong_thon' is not a category of element 'head'");
    HAS(&pr, "indicators[1].components[0].method.kind", "unknown method 'guess'");
    fw_problems_release(&pr);
    free(t);

    t = variant(1,
                "'name': 'Kế hoạch', 'max_points': 10, 'method': {'kind': 'boolean', 'input': "
                "'plan'}}",
                "'name': 'Kế hoạch', 'max_points': 10}");
    REFUSE(t, DTI_EPARSE, 1, &pr);
    HAS(&pr, "indicators[1].components[0]", "missing 'method'");
    fw_problems_release(&pr);
    free(t);
}

static void test_element_problems(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    char *t = variant(
        5, "'min': 0, 'max': 366,\n   'aggregate': 'sum'}",
        "'min': 10, 'max': 5.5,\n   'aggregate': 'total'}",
        "'categories': ['chu_tich', {'code': 'pho_chu_tich', 'name': 'Phó Chủ tịch'}, 'khac']",
        "'categories': ['chu_tich', 'pho_chu_tich', 'chu_tich']",
        "{'code': 'rule', 'name': 'Có quy chế', 'type': 'boolean'}",
        "{'code': 'rule', 'name': 'Có quy chế', 'type': 'boolean', 'max': 1, 'categories': ['a']}",
        "'aggregate': 'weighted_mean:meetings'", "'aggregate': 'weighted_mean:population'",
        "{'code': 'note', 'name': 'Ghi chú', 'type': 'text'}",
        "{'code': 'no te', 'name': '', 'type': 'string'}");
    REFUSE(t, DTI_EPARSE, 10, &pr);
    HAS(&pr, "elements[0].max", "an integer element has integer bounds");
    HAS(&pr, "elements[0].max", "max 5.5 is below min 10");
    HAS(&pr, "elements[0].aggregate", "unknown aggregate 'total'");
    HAS(&pr, "elements[2].categories[2]", "category 'chu_tich' is listed twice");
    HAS(&pr, "elements[4].max", "only integer, number and percent elements have bounds");
    HAS(&pr, "elements[4].categories", "only category elements list categories");
    HAS(&pr, "elements[5].aggregate", "weighted_mean by unknown element 'population'");
    HAS(&pr, "elements[6].code", "'no te' is not a valid code");
    HAS(&pr, "elements[6].name", "is empty");
    HAS(&pr, "elements[6].type", "unknown type 'string'");
    fw_problems_release(&pr);
    free(t);

    /* aggregates only on numbers; a category element needs its categories */
    t = variant(2, "{'code': 'plan', 'name': 'Có kế hoạch', 'type': 'boolean'}",
                "{'code': 'plan', 'name': 'Có kế hoạch', 'type': 'boolean', 'aggregate': 'sum'}",
                "'categories': ['chu_tich', {'code': 'pho_chu_tich', 'name': 'Phó Chủ tịch'}, "
                "'khac']",
                "'categories': []");
    REFUSE(t, DTI_EPARSE, 2, &pr);
    HAS(&pr, "elements[3].aggregate",
        "aggregate 'sum' needs an integer, number or percent element");
    HAS(&pr, "elements[2].categories", "lists at least one category");
    fw_problems_release(&pr);
    free(t);
}

static void test_band_problems(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    char *t = variant(
        1, "[{'name': 'Tốt', 'min': 0.8}, {'name': 'Khá', 'min': 0.5}, {'name': 'Yếu', 'min': 0}]",
        "[{'name': 'Tốt', 'min': 80}, {'name': 'Khá', 'min': 0.5}, {'name': 'Khá', "
        "'min': 0.6}, {'name': 'Yếu', 'min': 0.1}]");
    REFUSE(t, DTI_EPARSE, 4, &pr);
    HAS(&pr, "bands[0].min", "min 80 is outside 0..1");
    HAS(&pr, "bands[2].min", "bands must be sorted by min, descending: 0.6 comes after 0.5");
    HAS(&pr, "bands[2].name", "duplicate band 'Khá'");
    HAS(&pr, "bands[3].min", "the last band has min 0");
    fw_problems_release(&pr);
    free(t);
}

static void test_missing_fields_and_unknown_keys(void **state)
{
    (void)state;
    struct fw_problems pr = {0};
    const char *t = "{\"version\": 2}";
    REFUSE(t, DTI_EPARSE, 8, &pr);
    HAS_AT(&pr, "", "missing 'id'", 1);
    HAS(&pr, "", "missing 'name'");
    HAS(&pr, "", "missing 'level'");
    HAS(&pr, "", "missing 'period'");
    HAS(&pr, "", "missing 'max_points'");
    HAS(&pr, "", "missing 'elements'");
    HAS(&pr, "", "missing 'indicators'");
    HAS(&pr, "version", "unknown key 'version'");
    fw_problems_release(&pr);

    char *u = variant(3, "'period': '2023'", "'period': '2023Q5'", "'max_points': 60, 'components'",
                      "'max_point': 60, 'components'", "'id': 't-commune-2023'", "'id': 7");
    REFUSE(u, DTI_EPARSE, 4, &pr);
    HAS(&pr, "period", "invalid period '2023Q5'");
    HAS(&pr, "indicators[0].max_point", "unknown key 'max_point'");
    HAS_AT(&pr, "indicators[0]", "missing 'max_points'", 16);
    HAS(&pr, "id", "expected a string, got a number");
    fw_problems_release(&pr);
    free(u);
}

static void test_problems_are_bounded(void **state)
{
    (void)state;
    /* 300 elements with a bad type each: the list stops at FW_PROBLEMS_MAX + 1. */
    size_t cap = 300 * 80 + 400;
    char *s = xmalloc(cap);
    size_t n = (size_t)snprintf(s, cap,
                                "{\"id\":\"x\",\"name\":\"x\",\"level\":\"commune\","
                                "\"period\":\"2023\",\"max_points\":1,\"elements\":[");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s{\"code\":\"e%d\",\"name\":\"e\",\"type\":\"x\"}",
                              i ? "," : "", i);
    snprintf(s + n, cap - n, "],\"indicators\":[]}");
    struct fw_problems pr = {0};
    struct framework *fw = NULL;
    assert_int_equal(framework_parse(s, strlen(s), "big.json", &fw, &pr), DTI_EPARSE);
    assert_int_equal(pr.n, FW_PROBLEMS_MAX + 1);
    assert_non_null(strstr(pr.items[FW_PROBLEMS_MAX].message, "too many problems"));
    fw_problems_release(&pr);
    free(s);

    /* Over the file ceiling: refused before parsing. */
    size_t big = FRAMEWORK_FILE_MAX + 1;
    char *huge = xmalloc(big);
    memset(huge, ' ', big);
    assert_int_equal(framework_parse(huge, big, "huge.json", &fw, &pr), DTI_ETOOBIG);
    assert_int_equal(pr.n, 1);
    assert_null(fw);
    fw_problems_release(&pr);
    free(huge);
}

static void test_paths_with_escaped_keys_get_lines(void **state)
{
    (void)state;
    /* A map key written with \u escapes still finds its line. */
    char *t = variant(1, "'map': {'chu_tich': 1, 'pho_chu_tich': 0.5}",
                      "'map': {'chu_tich': 1,\n 'ph\\u00f3': 0.5}");
    struct fw_problems pr = {0};
    REFUSE(t, DTI_EPARSE, 1, &pr);
    HAS_AT(&pr, "indicators[0].components[2].method.map.phó", "is not a category", 23);
    fw_problems_release(&pr);
    free(t);
}

/* ---- values ---- */

static void check_one(const struct framework *fw, const char *el, const char *text, int code,
                      const char *msg, const char *file, int at)
{
    struct value v;
    struct dti_err e = {0};
    if (text)
        _assert_int_equal(value_parse(text, &v, &e), 0, file, at);
    else
        memset(&v, 0, sizeof(v));
    int r = framework_check_value(fw, el, &v, &e);
    if (r != code || (msg && strcmp(e.msg, msg) != 0))
        print_error("check %s=%s: %s '%s'\n", el, text ? text : "(none)", dti_strname(r), e.msg);
    _assert_int_equal(r, code, file, at);
    if (msg)
        _assert_string_equal(e.msg, msg, file, at);
}
#define CHECK(fw, el, text, code, msg)                                                             \
    check_one((fw), (el), (text), (code), (msg), __FILE__, __LINE__)

static void test_check_value(void **state)
{
    (void)state;
    char *t = q(BASE);
    struct framework *fw = parse_ok(t);
    CHECK(fw, "meetings", "4", 0, NULL);
    CHECK(fw, "meetings", "0", 0, NULL);
    CHECK(fw, "meetings", "366", 0, NULL);
    CHECK(fw, "meetings", "400", DTI_EVALUE, "meetings 400 is above the maximum 366");
    CHECK(fw, "meetings", "-1", DTI_EVALUE, "meetings -1 is below the minimum 0");
    CHECK(fw, "meetings", "2.5", DTI_EVALUE, "meetings 2.5 is not an integer");
    CHECK(fw, "meetings", "true", DTI_EVALUE, "meetings expects an integer, got boolean");
    CHECK(fw, "meetings", "bốn", DTI_EVALUE, "meetings expects an integer, got text");
    CHECK(fw, "meetings", NULL, 0, NULL); /* not collected is always acceptable */
    CHECK(fw, "share", "100", 0, NULL);
    CHECK(fw, "share", "100.5", DTI_EVALUE, "share 100.5 is above the maximum 100");
    CHECK(fw, "share", "no", DTI_EVALUE, "share expects a percent, got boolean");
    CHECK(fw, "plan", "có", 0, NULL);
    CHECK(fw, "plan", "1", DTI_EVALUE, "plan expects a boolean, got number");
    CHECK(fw, "head", "pho_chu_tich", 0, NULL);
    CHECK(fw, "head", "truong_thon", DTI_EVALUE,
          "head 'truong_thon' is not one of its categories: chu_tich, pho_chu_tich, khac");
    CHECK(fw, "head", "yes", DTI_EVALUE,
          "head expects one of its categories (chu_tich, pho_chu_tich, khac), got a boolean");
    CHECK(fw, "note", "Quyết định 125/QĐ-UBND", 0, NULL);
    CHECK(fw, "note", "12", 0, NULL);
    CHECK(fw, "nope", "1", DTI_EELEMENT, "element 'nope' is not in framework t-commune-2023");
    framework_free(fw);
    free(t);
}

static void test_names(void **state)
{
    (void)state;
    enum fw_level l;
    assert_int_equal(fw_level_parse("department", &l), 0);
    assert_int_equal(l, FW_LEVEL_DEPARTMENT);
    assert_string_equal(fw_level_name(l), "department");
    assert_int_equal(fw_level_parse("village", &l), DTI_EINVAL);
    assert_int_equal(fw_level_parse(NULL, &l), DTI_EINVAL);
    assert_string_equal(fw_type_name(FW_TYPE_CATEGORY), "category");
    assert_string_equal(fw_method_name(FW_METHOD_CHECKS), "checks");
    assert_string_equal(fw_aggregate_name(FW_AGG_WEIGHTED_MEAN), "weighted_mean");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_922),
        cmocka_unit_test(test_shipped_ninh_thuan),
        cmocka_unit_test(test_base_parses),
        cmocka_unit_test(test_hash_is_content),
        cmocka_unit_test(test_syntax_error_has_line),
        cmocka_unit_test(test_duplicate_json_key),
        cmocka_unit_test(test_three_problems_at_once),
        cmocka_unit_test(test_points_do_not_add_up),
        cmocka_unit_test(test_unknown_element_in_method),
        cmocka_unit_test(test_pillar_unknown_indicator),
        cmocka_unit_test(test_duplicate_codes),
        cmocka_unit_test(test_wrong_element_type_for_method),
        cmocka_unit_test(test_method_problems),
        cmocka_unit_test(test_element_problems),
        cmocka_unit_test(test_band_problems),
        cmocka_unit_test(test_missing_fields_and_unknown_keys),
        cmocka_unit_test(test_problems_are_bounded),
        cmocka_unit_test(test_paths_with_escaped_keys_get_lines),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
