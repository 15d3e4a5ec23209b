/*
 * test_score_vectors.c - runs every case under tests/vectors/score (format in
 * its README.md) through framework_parse and score_unit and compares each
 * expected figure. A mismatch names the case, the line and both values; every
 * case runs before the test fails. No cases, a case that cannot be read, or a
 * malformed line is a failure too. Each case is also scored twice: the two
 * results and input hashes must be identical.
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

#include "framework.h"
#include "score.h"
#include "util.h"
#include "value.h"

#define SCORE_DIR DTI_VECTORS_DIR "/score"
#define VEC_FILE_MAX (1u << 20)

struct run {
    const char *name; /* case */
    const char *file; /* "inputs" or "expected" */
    unsigned line;
    int errors;
    int checks;
};

static void bad(struct run *rn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct run *rn, const char *fmt, ...)
{
    va_list ap;
    char msg[600];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (rn->line)
        print_error("%s/%s:%u: %s\n", rn->name, rn->file, rn->line, msg);
    else
        print_error("%s/%s: %s\n", rn->name, rn->file, msg);
    rn->errors++;
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

/* Compare a figure with its expected text at the expected text's precision. */
static void num(struct run *rn, const char *what, const char *want, double got)
{
    const char *dot = strchr(want, '.');
    int decimals = dot ? (int)strlen(dot + 1) : 0;
    double w;
    if (parse_double(want, &w) < 0) {
        bad(rn, "%s: '%s' is not a number", what, want);
        return;
    }
    char g[64];
    snprintf(g, sizeof(g), "%.*f", decimals, got);
    rn->checks++;
    if (strcmp(g, want) != 0)
        bad(rn, "%s: expected %s, got %s", what, want, g);
}

static void str(struct run *rn, const char *what, const char *want, const char *got)
{
    rn->checks++;
    if (strcmp(want, got) != 0)
        bad(rn, "%s: expected %s, got %s", what, want, got);
}

/* ---- inputs ---- */

static void read_inputs(struct run *rn, const struct framework *fw, char *text,
                        struct value *inputs)
{
    rn->file = "inputs";
    bool *seen = xcalloc(fw->nelements ? fw->nelements : 1, sizeof(bool));
    char *save = NULL;
    rn->line = 0;
    for (char *ln = text; ln; ln = save) {
        save = strchr(ln, '\n');
        if (save)
            *save++ = '\0';
        rn->line++;
        char *s = trim(ln);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            bad(rn, "expected element=value");
            continue;
        }
        *eq = '\0';
        char *code = trim(s), *val = trim(eq + 1);
        size_t i;
        if (!framework_find_element(fw, code, &i)) {
            bad(rn, "element '%s' is not in the framework", code);
            continue;
        }
        if (seen[i]) {
            bad(rn, "element '%s' is listed twice", code);
            continue;
        }
        seen[i] = true;
        if (!*val)
            continue; /* not collected */
        struct dti_err e = {0};
        if (value_parse(val, &inputs[i], &e) < 0)
            bad(rn, "%s: %s", code, e.msg);
    }
    rn->line = 0;
    free(seen);
}

/* ---- expected ---- */

static void check_component(struct run *rn, const struct framework *fw,
                            const struct score_result *r, const char *code, char *kvs)
{
    size_t i;
    if (!framework_find_component(fw, code, &i)) {
        bad(rn, "no component '%s'", code);
        return;
    }
    const struct score_component *c = &r->components[i];
    char *save = NULL;
    for (char *kv = strtok_r(kvs, " \t", &save); kv; kv = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(kv, '=');
        char what[128];
        if (!eq) {
            bad(rn, "expected key=value, got '%s'", kv);
            continue;
        }
        *eq = '\0';
        snprintf(what, sizeof(what), "component %s %s", code, kv);
        if (!strcmp(kv, "points"))
            num(rn, what, eq + 1, c->points);
        else if (!strcmp(kv, "max"))
            num(rn, what, eq + 1, c->max);
        else if (!strcmp(kv, "missing"))
            num(rn, what, eq + 1, c->missing);
        else if (!strcmp(kv, "note"))
            str(rn, what, eq + 1, score_note_name(c->note));
        else
            bad(rn, "unknown component key '%s'", kv);
    }
}

static void check_indicator(struct run *rn, const struct framework *fw,
                            const struct score_result *r, const char *code, char *kvs)
{
    size_t i;
    if (!framework_find_indicator(fw, code, &i)) {
        bad(rn, "no indicator '%s'", code);
        return;
    }
    const struct score_indicator *s = &r->indicators[i];
    char *save = NULL;
    for (char *kv = strtok_r(kvs, " \t", &save); kv; kv = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(kv, '=');
        char what[128];
        if (!eq) {
            bad(rn, "expected key=value, got '%s'", kv);
            continue;
        }
        *eq = '\0';
        snprintf(what, sizeof(what), "indicator %s %s", code, kv);
        if (!strcmp(kv, "points"))
            num(rn, what, eq + 1, s->points);
        else if (!strcmp(kv, "max"))
            num(rn, what, eq + 1, s->max);
        else if (!strcmp(kv, "value"))
            num(rn, what, eq + 1, s->value);
        else if (!strcmp(kv, "scored"))
            str(rn, what, eq + 1, s->scored ? "yes" : "no");
        else
            bad(rn, "unknown indicator key '%s'", kv);
    }
}

static void check_group(struct run *rn, const char *kind, const struct fw_group *gs,
                        const struct score_group *rs, size_t n, const char *code, char *kvs)
{
    size_t i = 0;
    while (i < n && strcmp(gs[i].code, code) != 0)
        i++;
    if (i == n) {
        bad(rn, "no %s '%s'", kind, code);
        return;
    }
    char *save = NULL;
    for (char *kv = strtok_r(kvs, " \t", &save); kv; kv = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(kv, '=');
        char what[128];
        if (!eq) {
            bad(rn, "expected key=value, got '%s'", kv);
            continue;
        }
        *eq = '\0';
        snprintf(what, sizeof(what), "%s %s %s", kind, code, kv);
        if (!strcmp(kv, "points"))
            num(rn, what, eq + 1, rs[i].points);
        else if (!strcmp(kv, "max"))
            num(rn, what, eq + 1, rs[i].max);
        else if (!strcmp(kv, "value"))
            num(rn, what, eq + 1, rs[i].value);
        else
            bad(rn, "unknown %s key '%s'", kind, kv);
    }
}

static void check_file(struct run *rn, const struct framework *fw, const struct score_result *r,
                       char *text)
{
    rn->file = "expected";
    rn->line = 0;
    char *save = NULL;
    for (char *ln = text; ln; ln = save) {
        save = strchr(ln, '\n');
        if (save)
            *save++ = '\0';
        rn->line++;
        char *s = trim(ln);
        if (!*s || *s == '#')
            continue;
        char *sp = strpbrk(s, " \t");
        char *eq = strchr(s, '=');
        if (sp && (!eq || sp < eq)) {
            *sp = '\0';
            char *rest = trim(sp + 1);
            char *code = rest;
            char *end = strpbrk(rest, " \t");
            static char none[1];
            char *kvs = none;
            if (end) {
                *end = '\0';
                kvs = trim(end + 1);
            }
            if (!*kvs) {
                bad(rn, "nothing to check for %s %s", s, code);
            } else if (!strcmp(s, "component")) {
                check_component(rn, fw, r, code, kvs);
            } else if (!strcmp(s, "indicator")) {
                check_indicator(rn, fw, r, code, kvs);
            } else if (!strcmp(s, "pillar")) {
                check_group(rn, "pillar", fw->pillars, r->pillars, r->npillars, code, kvs);
            } else if (!strcmp(s, "group")) {
                check_group(rn, "group", fw->groups, r->groups, r->ngroups, code, kvs);
            } else {
                bad(rn, "unknown line kind '%s'", s);
            }
            continue;
        }
        if (!eq) {
            bad(rn, "expected key=value or 'component CODE k=v ...'");
            continue;
        }
        *eq = '\0';
        const char *k = trim(s), *v = trim(eq + 1);
        if (!strcmp(k, "total"))
            num(rn, "total", v, r->points);
        else if (!strcmp(k, "max"))
            num(rn, "max", v, r->max);
        else if (!strcmp(k, "dti"))
            num(rn, "dti", v, r->dti);
        else if (!strcmp(k, "completeness"))
            num(rn, "completeness", v, r->completeness);
        else if (!strcmp(k, "present"))
            num(rn, "present", v, (double)r->inputs_present);
        else if (!strcmp(k, "required"))
            num(rn, "required", v, (double)r->inputs_required);
        else if (!strcmp(k, "band"))
            str(rn, "band", v, r->band_name ? r->band_name : "none");
        else
            bad(rn, "unknown key '%s'", k);
    }
    rn->line = 0;
}

static bool same_result(const struct score_result *a, const struct score_result *b)
{
    return a->ncomponents == b->ncomponents &&
           !memcmp(a->components, b->components, a->ncomponents * sizeof(*a->components)) &&
           !memcmp(a->indicators, b->indicators, a->nindicators * sizeof(*a->indicators)) &&
           !memcmp(a->pillars, b->pillars, a->npillars * sizeof(*a->pillars)) &&
           !memcmp(a->groups, b->groups, a->ngroups * sizeof(*a->groups)) &&
           a->points == b->points && a->dti == b->dti && a->band == b->band &&
           a->completeness == b->completeness &&
           !memcmp(a->input_hash, b->input_hash, sizeof(a->input_hash));
}

static char *slurp(struct run *rn, const char *dir, const char *name, size_t *len)
{
    char *path = path_join(dir, name);
    char *text = NULL;
    size_t n = 0;
    rn->file = name;
    if (read_file_bounded(path, VEC_FILE_MAX, &text, &n) < 0) {
        bad(rn, "cannot read %s", path);
        text = NULL;
    }
    free(path);
    if (len)
        *len = n;
    return text;
}

/* One case: its figures checked and its errors are counted in rn. */
static void run_case(struct run *rn, const char *dir)
{
    size_t len = 0;
    char *fwtext = slurp(rn, dir, "framework.json", &len);
    char *in = slurp(rn, dir, "inputs", NULL);
    char *exp = slurp(rn, dir, "expected", NULL);
    struct framework *fw = NULL;
    struct value *inputs = NULL;
    struct score_result *r1 = NULL, *r2 = NULL;
    if (!fwtext || !in || !exp)
        goto out;
    struct fw_problems pr = {0};
    rn->file = "framework.json";
    if (framework_parse(fwtext, len, "framework.json", &fw, &pr) < 0) {
        char line[700];
        for (size_t i = 0; i < pr.n; i++) {
            fw_problem_format(&pr, i, line, sizeof(line));
            bad(rn, "%s", line);
        }
        fw_problems_release(&pr);
        goto out;
    }
    fw_problems_release(&pr);
    inputs = xcalloc(fw->nelements, sizeof(*inputs));
    read_inputs(rn, fw, in, inputs);
    assert_int_equal(score_unit(fw, inputs, &r1), 0);
    assert_int_equal(score_unit(fw, inputs, &r2), 0);
    if (!same_result(r1, r2))
        bad(rn, "scoring twice gave different results");
    int before = rn->checks;
    check_file(rn, fw, r1, exp);
    if (rn->checks == before)
        bad(rn, "checks nothing");
out:
    score_result_free(r1);
    score_result_free(r2);
    free(inputs);
    framework_free(fw);
    free(fwtext);
    free(in);
    free(exp);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_score_vectors(void **state)
{
    (void)state;
    DIR *d = opendir(SCORE_DIR);
    if (!d) {
        print_error("cannot open %s\n", SCORE_DIR);
        fail();
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = path_join(SCORE_DIR, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                names = xrealloc(names, cap * sizeof(*names));
            }
            names[n++] = xstrdup(de->d_name);
        }
        free(p);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    int errors = 0, checks = 0;
    for (size_t i = 0; i < n; i++) {
        struct run rn = {.name = names[i]};
        char *dir = path_join(SCORE_DIR, names[i]);
        run_case(&rn, dir);
        free(dir);
        errors += rn.errors;
        checks += rn.checks;
        free(names[i]);
    }
    free(names);
    print_message("%zu score cases, %d figures checked, %d errors\n", n, checks, errors);
    if (n == 0) {
        print_error("no cases under %s\n", SCORE_DIR);
        fail();
    }
    assert_int_equal(errors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
