/*
 * test_score_preview.c - the agent's provisional score (agent/preview.c)
 * agrees with the engine the hub calls, on every case of tests/vectors/score.
 *
 * For each case: a fresh agent store enrolled for one unit at the case's
 * level; the case's inputs recorded with store_record (before the framework
 * arrives, as an office may; that is also the only way a value of the wrong
 * kind, as in invalid_kind, can be held); then the framework received from
 * the hub as a change page (store_apply_changes). preview_score must give
 * the expected points, DTI value and band, and a result bit-identical to
 * score_unit called directly on the same framework and inputs - every double
 * and the input hash. Also: no framework yet is DTI_ENOTFOUND, a unit
 * outside the scope DTI_ESCOPE, and values of other periods, units or codes
 * the framework lacks are not inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "changes.h"
#include "crypto.h"
#include "enroll.h"
#include "framework.h"
#include "preview.h"
#include "score.h"
#include "store.h"
#include "util.h"
#include "value.h"

#define SCORE_DIR DTI_VECTORS_DIR "/score"
#define VEC_FILE_MAX (1u << 20)
#define UNIT "22750"
#define T0 UINT64_C(1700000000000)

/* ---- a store ---- */

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

struct fx {
    char tmp[64];
    struct store *st;
    char agent_id[AGENT_ID_LEN + 1];
};

/* A new store in a temp dir, enrolled for UNIT (and 22751) at level. */
static void fx_open(struct fx *f, const char *level)
{
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/dti-preview-XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    struct store_identity id = {0};
    uint8_t pub[CRYPTO_PUBKEY_LEN], hub_pub[CRYPTO_PUBKEY_LEN];
    for (int i = 0; i < CRYPTO_PUBKEY_LEN; i++) {
        pub[i] = (uint8_t)(i + 1);
        hub_pub[i] = (uint8_t)(200 - i);
    }
    enroll_agent_id(pub, id.agent_id);
    snprintf(id.unit, sizeof(id.unit), "%s", UNIT);
    snprintf(id.hub_url, sizeof(id.hub_url), "https://127.0.0.1:1");
    memset(id.fingerprint, '0', CRYPTO_FP_HEX_LEN);
    struct dti_err e = {0};
    char *dir = path_join(f->tmp, "agent");
    if (store_create(&f->st, dir, &id, &e) < 0) {
        print_error("store_create: %s\n", e.msg);
        fail();
    }
    free(dir);
    memcpy(f->agent_id, id.agent_id, sizeof(f->agent_id));
    char scope[2][UNIT_CODE_MAX + 1] = {UNIT, "22751"};
    char levels[2][16];
    snprintf(levels[0], sizeof(levels[0]), "%s", level);
    snprintf(levels[1], sizeof(levels[1]), "%s", "district");
    if (store_enrolled(f->st, hub_pub, scope, levels, 2, 1, &e) < 0) {
        print_error("store_enrolled: %s\n", e.msg);
        fail();
    }
}

static void fx_close(struct fx *f)
{
    store_close(f->st);
    f->st = NULL;
    rm_tree(f->tmp);
}

/* The hub's change feed brings one framework version. */
static void receive_framework(struct fx *f, const char *json, size_t len, const char *level,
                              const char *period, uint64_t version)
{
    struct framework_doc doc = {
        .version = version, .level = level, .period = period, .json = json, .json_len = len};
    struct changes_page p = {0};
    memcpy(p.agent_id, f->agent_id, sizeof(p.agent_id));
    uint64_t cursor = 0;
    struct dti_err e = {0};
    assert_int_equal(store_cursor(f->st, &cursor, &e), 0);
    p.after = cursor;
    p.next = cursor + 1;
    p.nframeworks = 1;
    p.frameworks = &doc;
    size_t applied = 0, flagged = 0;
    if (store_apply_changes(f->st, &p, &applied, &flagged, &e) < 0) {
        print_error("store_apply_changes: %s\n", e.msg);
        fail();
    }
}

static void record(struct fx *f, const char *unit, const char *element, const char *period,
                   const char *text)
{
    struct edit ed = {.unit = unit, .element = element, .period = period};
    struct dti_err e = {0};
    size_t bad;
    assert_int_equal(value_parse(text, &ed.value, &e), 0);
    if (store_record(f->st, &ed, 1, T0, &bad, &e) < 0) {
        print_error("store_record %s=%s: %s\n", element, text, e.msg);
        fail();
    }
}

/* ---- comparing results ---- */

static int mismatches;

static void bad(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(const char *name, const char *fmt, ...)
{
    va_list ap;
    char msg[600];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error("%s: %s\n", name, msg);
    mismatches++;
}

/* Bit for bit: every double compared as bytes, and the input hash. */
static void same_result(const char *name, const struct score_result *a,
                        const struct score_result *b)
{
    if (a->ncomponents != b->ncomponents || a->nindicators != b->nindicators ||
        a->npillars != b->npillars || a->ngroups != b->ngroups) {
        bad(name, "preview and engine results differ in shape");
        return;
    }
    for (size_t i = 0; i < a->ncomponents; i++)
        if (memcmp(&a->components[i], &b->components[i], sizeof(a->components[i])) != 0)
            bad(name, "component %zu: preview %.17g (%s), engine %.17g (%s)", i,
                a->components[i].points, score_note_name(a->components[i].note),
                b->components[i].points, score_note_name(b->components[i].note));
    for (size_t i = 0; i < a->nindicators; i++)
        if (memcmp(&a->indicators[i], &b->indicators[i], sizeof(a->indicators[i])) != 0)
            bad(name, "indicator %zu: preview %.17g, engine %.17g", i, a->indicators[i].points,
                b->indicators[i].points);
    if (memcmp(a->pillars, b->pillars, a->npillars * sizeof(*a->pillars)) != 0 ||
        memcmp(a->groups, b->groups, a->ngroups * sizeof(*a->groups)) != 0)
        bad(name, "pillars or groups differ");
    if (memcmp(&a->points, &b->points, sizeof(double)) != 0 ||
        memcmp(&a->max, &b->max, sizeof(double)) != 0 ||
        memcmp(&a->dti, &b->dti, sizeof(double)) != 0 ||
        memcmp(&a->completeness, &b->completeness, sizeof(double)) != 0)
        bad(name, "total: preview %.17g / dti %.17g, engine %.17g / dti %.17g", a->points, a->dti,
            b->points, b->dti);
    if (a->band != b->band || a->inputs_present != b->inputs_present ||
        a->inputs_required != b->inputs_required)
        bad(name, "band or completeness counts differ");
    if (memcmp(a->input_hash, b->input_hash, sizeof(a->input_hash)) != 0) {
        char ha[65], hb[65];
        hex_encode(a->input_hash, 32, ha);
        hex_encode(b->input_hash, 32, hb);
        bad(name, "input hash: preview %s, engine %s", ha, hb);
    }
}

/* A figure against its expected text, at the expected text's precision. */
static void num(const char *name, const char *what, const char *want, double got)
{
    const char *dot = strchr(want, '.');
    char g[64];
    snprintf(g, sizeof(g), "%.*f", dot ? (int)strlen(dot + 1) : 0, got);
    if (strcmp(g, want) != 0)
        bad(name, "%s: expected %s, got %s", what, want, g);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* The points, DTI value and band lines of `expected` (format: the vectors'
 * README); returns how many figures were compared. */
static int check_figures(const char *name, const struct framework *fw, const struct score_result *r,
                         char *text)
{
    int checks = 0;
    char *save = NULL;
    for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        char *s = trim(ln);
        if (!*s || *s == '#')
            continue;
        char kind[32], code[64];
        const char *pts = strstr(s, "points=");
        size_t i;
        if (sscanf(s, "%31s %63s", kind, code) == 2 && pts &&
            (!strcmp(kind, "component") || !strcmp(kind, "indicator"))) {
            char want[64];
            sscanf(pts + 7, "%63s", want);
            bool comp = !strcmp(kind, "component");
            if (comp ? !framework_find_component(fw, code, &i)
                     : !framework_find_indicator(fw, code, &i)) {
                bad(name, "expected names unknown %s %s", kind, code);
                continue;
            }
            char what[128];
            snprintf(what, sizeof(what), "%s %s points", kind, code);
            num(name, what, want, comp ? r->components[i].points : r->indicators[i].points);
            checks++;
        } else if (!strncmp(s, "total=", 6)) {
            num(name, "total", s + 6, r->points);
            checks++;
        } else if (!strncmp(s, "dti=", 4)) {
            num(name, "dti", s + 4, r->dti);
            checks++;
        } else if (!strncmp(s, "band=", 5)) {
            const char *got = r->band_name ? r->band_name : "none";
            if (strcmp(s + 5, got) != 0)
                bad(name, "band: expected %s, got %s", s + 5, got);
            checks++;
        }
    }
    return checks;
}

static char *slurp(const char *dir, const char *file, size_t *len)
{
    char *path = path_join(dir, file), *text = NULL;
    size_t n = 0;
    if (read_file_bounded(path, VEC_FILE_MAX, &text, &n) < 0) {
        print_error("cannot read %s\n", path);
        fail();
    }
    free(path);
    if (len)
        *len = n;
    return text;
}

/* ---- the vectors ---- */

static void run_case(const char *name, const char *dir, int *checks)
{
    size_t fwlen;
    char *fwtext = slurp(dir, "framework.json", &fwlen);
    char *intext = slurp(dir, "inputs", NULL);
    char *exptext = slurp(dir, "expected", NULL);
    struct framework *fw = NULL;
    struct fw_problems pr = {0};
    assert_int_equal(framework_parse(fwtext, fwlen, "framework.json", &fw, &pr), 0);
    fw_problems_release(&pr);
    const char *level = fw_level_name(fw->level);

    struct fx f = {0};
    fx_open(&f, level);
    /* the engine's inputs, and the same figures recorded in the store */
    struct value *inputs = xcalloc(fw->nelements, sizeof(*inputs));
    char *save = NULL;
    for (char *ln = strtok_r(intext, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        char *s = trim(ln);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        assert_non_null(eq);
        *eq = '\0';
        char *code = trim(s), *val = trim(eq + 1);
        size_t i;
        assert_true(framework_find_element(fw, code, &i));
        if (!*val)
            continue; /* not collected: nothing recorded */
        struct dti_err e = {0};
        assert_int_equal(value_parse(val, &inputs[i], &e), 0);
        record(&f, UNIT, code, fw->period, val);
    }
    /* noise that is not an input: another period, another unit, a code the framework lacks */
    record(&f, UNIT, fw->elements[0].code, "2019", "7");
    record(&f, "22751", fw->elements[0].code, fw->period, "7");
    record(&f, UNIT, "not_in_any_framework", fw->period, "7");

    struct score_result *got = NULL, *want = NULL;
    struct framework *pfw = NULL;
    uint64_t version = 0;
    struct dti_err e = {0};
    /* before the framework arrives there is nothing to score against */
    assert_int_equal(preview_score(f.st, UNIT, fw->period, &got, &pfw, &version, NULL, &e),
                     DTI_ENOTFOUND);
    assert_null(got);
    receive_framework(&f, fwtext, fwlen, level, fw->period, 3);

    struct preview_inputs in = {0};
    e = (struct dti_err){0};
    if (preview_score(f.st, UNIT, fw->period, &got, &pfw, &version, &in, &e) < 0) {
        print_error("%s: preview_score: %s\n", name, e.msg);
        fail();
    }
    assert_int_equal(version, 3);
    assert_memory_equal(pfw->hash, fw->hash, sizeof(fw->hash));
    assert_int_equal(in.n, fw->nelements);
    assert_int_equal(in.outside, 1);
    for (size_t i = 0; i < fw->nelements; i++)
        if (!value_equal(&in.values[i], &inputs[i]))
            bad(name, "input %s differs from what was recorded", fw->elements[i].code);
    assert_int_equal(score_unit(fw, inputs, &want), 0);
    same_result(name, got, want);
    int n = check_figures(name, pfw, got, exptext);
    if (n == 0)
        bad(name, "expected has no points, dti or band line");
    *checks += n;

    score_result_free(got);
    score_result_free(want);
    preview_inputs_release(&in);
    framework_free(pfw);
    framework_free(fw);
    free(inputs);
    free(fwtext);
    free(intext);
    free(exptext);
    fx_close(&f);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_preview_vectors(void **state)
{
    (void)state;
    DIR *d = opendir(SCORE_DIR);
    assert_non_null(d);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = path_join(SCORE_DIR, de->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            names = xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = xstrdup(de->d_name);
        }
        free(p);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    int checks = 0;
    mismatches = 0;
    for (size_t i = 0; i < n; i++) {
        char *dir = path_join(SCORE_DIR, names[i]);
        run_case(names[i], dir, &checks);
        free(dir);
        free(names[i]);
    }
    free(names);
    print_message("%zu score cases previewed, %d figures checked, %d mismatches\n", n, checks,
                  mismatches);
    assert_true(n > 0);
    assert_int_equal(mismatches, 0);
}

/* The preview follows the store: a later framework version, an edit, scope. */
static void test_preview_follows_store(void **state)
{
    (void)state;
    char *path = path_join(DTI_SOURCE_DIR, "data/frameworks/ninh-thuan-commune-2023.json");
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(read_file_bounded(path, FRAMEWORK_FILE_MAX, &text, &len), 0);
    free(path);
    struct fx f = {0};
    fx_open(&f, "commune");
    struct score_result *r = NULL;
    struct framework *fw = NULL;
    uint64_t version = 0;
    struct dti_err e = {0};
    /* a framework for another period is not in force for this one */
    receive_framework(&f, text, len, "commune", "2024", 1);
    assert_int_equal(preview_score(f.st, UNIT, "2023", &r, &fw, &version, NULL, &e), DTI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "no framework for commune units in period 2023"));
    receive_framework(&f, text, len, "commune", "2023", 2);

    record(&f, UNIT, "so_cuoc_hop_bcd", "2023", "3");
    e = (struct dti_err){0};
    assert_int_equal(preview_score(f.st, UNIT, "2023", &r, &fw, &version, NULL, &e), 0);
    assert_int_equal(version, 2);
    size_t c;
    assert_true(framework_find_component(fw, "1.2", &c));
    assert_int_equal(r->components[c].note, SCORE_OK);
    double before = r->points;
    uint8_t hash[32];
    memcpy(hash, r->input_hash, 32);
    score_result_free(r);
    framework_free(fw);

    /* another figure: more points, another input hash */
    record(&f, UNIT, "so_cuoc_hop_bcd", "2023", "4");
    assert_int_equal(preview_score(f.st, UNIT, "2023", &r, &fw, &version, NULL, &e), 0);
    assert_true(r->points > before);
    assert_memory_not_equal(r->input_hash, hash, 32);
    score_result_free(r);
    framework_free(fw);

    /* outside the scope */
    e = (struct dti_err){0};
    r = NULL;
    assert_int_equal(preview_score(f.st, "99999", "2023", &r, &fw, &version, NULL, &e), DTI_ESCOPE);
    assert_null(r);
    fx_close(&f);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview_vectors),
        cmocka_unit_test(test_preview_follows_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
