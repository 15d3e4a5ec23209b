/*
 * test_merge_vectors.c - runs every case under tests/vectors/merge (format in
 * its README.md) through merge_decide and compares each expected field. A
 * mismatch names the case, the field and both values; every case runs before
 * the test fails, so one run shows them all. No cases, a case that cannot be
 * read, or a malformed line is a failure too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hlc.h"
#include "hubdb.h"
#include "merge.h"
#include "receipt.h"
#include "util.h"
#include "value.h"

#define MERGE_DIR DTI_VECTORS_DIR "/merge"
#define KV_MAX 24

/* ---- key = value files ---- */

struct kv {
    char *key, *val;
    bool used;
};

struct kvfile {
    const char *path;
    struct kv kv[KV_MAX];
    size_t n;
    int errors;
};

static void kv_error(struct kvfile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void kv_error(struct kvfile *f, const char *fmt, ...)
{
    va_list ap;
    char msg[300];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error("%s: %s\n", f->path, msg);
    f->errors++;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static void kv_read(struct kvfile *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->path = path;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        kv_error(f, "cannot open");
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    while (getline(&line, &cap, fp) != -1) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            kv_error(f, "line %u: no '=' in '%s'", lineno, s);
            continue;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        bool dup = false;
        for (size_t i = 0; i < f->n; i++)
            dup |= strcmp(f->kv[i].key, key) == 0;
        if (!*key || !*val || dup || f->n == KV_MAX) {
            kv_error(f, "line %u: empty, repeated or one too many key '%s'", lineno, key);
            continue;
        }
        f->kv[f->n].key = xstrdup(key);
        f->kv[f->n].val = xstrdup(val);
        f->n++;
    }
    free(line);
    fclose(fp);
}

/* The value of key (marked as read), or NULL after reporting it missing. */
static const char *kv_get(struct kvfile *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->kv[i].key, key) == 0) {
            f->kv[i].used = true;
            return f->kv[i].val;
        }
    kv_error(f, "missing key '%s'", key);
    return NULL;
}

/* Every key must have been read: anything else is a typo in the vector. */
static void kv_check_all_used(struct kvfile *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (!f->kv[i].used)
            kv_error(f, "unknown or unexpected key '%s'", f->kv[i].key);
}

static void kv_free(struct kvfile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->kv[i].key);
        free(f->kv[i].val);
    }
    f->n = 0;
}

/* ---- values ---- */

static uint64_t get_hlc(struct kvfile *f, const char *key)
{
    const char *v = kv_get(f, key);
    if (!v)
        return 0;
    char ms[32];
    const char *colon = strchr(v, ':');
    uint64_t m, l;
    if (!colon || (size_t)(colon - v) >= sizeof(ms)) {
        kv_error(f, "%s: '%s' is not ms:logical", key, v);
        return 0;
    }
    memcpy(ms, v, (size_t)(colon - v));
    ms[colon - v] = '\0';
    if (parse_u64(ms, HLC_MS_MAX, &m) < 0 || parse_u64(colon + 1, 0xffff, &l) < 0) {
        kv_error(f, "%s: '%s' is not ms:logical (ms < 2^48, logical < 65536)", key, v);
        return 0;
    }
    return hlc_make(m, (uint16_t)l);
}

static bool get_bool(struct kvfile *f, const char *key)
{
    const char *v = kv_get(f, key);
    if (v && strcmp(v, "yes") == 0)
        return true;
    if (v && strcmp(v, "no") != 0)
        kv_error(f, "%s: '%s' is not yes or no", key, v);
    return false;
}

static const char *get_origin(struct kvfile *f, const char *key)
{
    const char *v = kv_get(f, key);
    if (v && !origin_valid(v))
        kv_error(f, "%s: '%s' is not an agent id or 'hub'", key, v);
    return v ? v : "";
}

static int get_auth(struct kvfile *f, const char *key)
{
    static const char *const names[] = {"", "commune", "district", "province", "hub"};
    const char *v = kv_get(f, key);
    if (!v)
        return 0;
    for (int i = AUTH_COMMUNE; i <= AUTH_HUB; i++)
        if (strcmp(v, names[i]) == 0 || (v[0] == '0' + i && v[1] == '\0'))
            return i;
    kv_error(f, "%s: '%s' is not commune, district, province, hub or 1-4", key, v);
    return 0;
}

/* One of names[] (index = value); -1 after reporting it. */
static int get_enum(struct kvfile *f, const char *key, const char *const *names, int n)
{
    const char *v = kv_get(f, key);
    if (!v)
        return -1;
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(v, names[i]) == 0)
            return i;
    kv_error(f, "%s: '%s' is not a known value", key, v);
    return -1;
}

static const char *const outcome_names[] = {
    [OUTCOME_ACCEPTED] = "accepted",
    [OUTCOME_DUPLICATE] = "duplicate",
    [OUTCOME_SUPERSEDED] = "superseded",
    [OUTCOME_CONFLICT] = "conflict",
    [OUTCOME_REJECTED] = "rejected",
    [OUTCOME_AMENDMENT] = "amendment",
    [OUTCOME_CONFLICT_CURRENT] = "conflict_current",
};
static const char *const conflict_names[] = {
    [MERGE_NO_CONFLICT] = "none",
    [MERGE_CONFLICT_OPEN] = "open",
    [MERGE_CONFLICT_BY_AUTHORITY] = "authority",
};

static const char *name_of(const char *const *names, int n, int v)
{
    return v >= 0 && v < n && names[v] ? names[v] : "(out of range)";
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

/* ---- one case ---- */

static void read_input(struct kvfile *f, struct merge_input *in)
{
    memset(in, 0, sizeof(*in));
    const char *cur = kv_get(f, "current");
    if (cur && strcmp(cur, "present") == 0) {
        in->has_current = true;
        in->current.hlc = get_hlc(f, "current.hlc");
        in->current.origin = get_origin(f, "current.origin");
        in->current.auth = get_auth(f, "current.auth");
    } else if (cur && strcmp(cur, "absent") != 0) {
        kv_error(f, "current: '%s' is not present or absent", cur);
    }
    in->incoming.hlc = get_hlc(f, "incoming.hlc");
    in->incoming.origin = get_origin(f, "incoming.origin");
    in->incoming.auth = get_auth(f, "incoming.auth");
    const char *base = kv_get(f, "base.hlc");
    if (base && strcmp(base, "none") != 0) {
        in->base_hlc = get_hlc(f, "base.hlc");
        in->base_origin = get_origin(f, "base.origin");
        if (!in->base_hlc)
            kv_error(f, "base.hlc: 0:0 is not a version (write none)");
    } else {
        in->base_origin = "";
    }
    in->known_version = get_bool(f, "known_version");
    in->locked = get_bool(f, "locked");
    in->hub_hlc = get_hlc(f, "hub_hlc");
    const char *mf = kv_get(f, "max_future_ms");
    if (mf && parse_u64(mf, UINT64_MAX, &in->max_future_ms) < 0)
        kv_error(f, "max_future_ms: '%s' is not a number", mf);
    kv_check_all_used(f);
}

static void read_expected(struct kvfile *f, struct merge_result *want)
{
    memset(want, 0, sizeof(*want));
    want->outcome = get_enum(f, "outcome", outcome_names, (int)ARRAY_SIZE(outcome_names));
    want->becomes_current = get_bool(f, "becomes_current");
    want->conflict = (enum merge_conflict)get_enum(f, "conflict", conflict_names,
                                                   (int)ARRAY_SIZE(conflict_names));
    want->future_clamped = get_bool(f, "future_clamped");
    kv_check_all_used(f);
}

/* Run one case; the number of problems (format errors and mismatches). */
static int run_case(const char *name)
{
    char *dir = path_join(MERGE_DIR, name);
    char *ipath = path_join(dir, "input"), *epath = path_join(dir, "expected");
    struct kvfile fi, fe;
    struct merge_input in;
    struct merge_result want, got;
    kv_read(&fi, ipath);
    kv_read(&fe, epath);
    read_input(&fi, &in);
    read_expected(&fe, &want);
    int bad = fi.errors + fe.errors;
    if (bad == 0) {
        /* garbage in the result must not hide behind memset in merge_decide */
        memset(&got, 0xa5, sizeof(got));
        merge_decide(&in, &got);
        if (got.outcome != want.outcome) {
            print_error("%s: outcome is %s, expected %s\n", name,
                        name_of(outcome_names, (int)ARRAY_SIZE(outcome_names), got.outcome),
                        name_of(outcome_names, (int)ARRAY_SIZE(outcome_names), want.outcome));
            bad++;
        }
        if (got.becomes_current != want.becomes_current) {
            print_error("%s: becomes_current is %s, expected %s\n", name,
                        yes_no(got.becomes_current), yes_no(want.becomes_current));
            bad++;
        }
        if (got.conflict != want.conflict) {
            print_error(
                "%s: conflict is %s, expected %s\n", name,
                name_of(conflict_names, (int)ARRAY_SIZE(conflict_names), (int)got.conflict),
                name_of(conflict_names, (int)ARRAY_SIZE(conflict_names), (int)want.conflict));
            bad++;
        }
        if (got.future_clamped != want.future_clamped) {
            print_error("%s: future_clamped is %s, expected %s\n", name, yes_no(got.future_clamped),
                        yes_no(want.future_clamped));
            bad++;
        }
    }
    kv_free(&fi);
    kv_free(&fe);
    free(ipath);
    free(epath);
    free(dir);
    return bad;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_merge_vectors(void **state)
{
    DIR *d = opendir(MERGE_DIR);
    if (!d) {
        print_error("cannot open %s\n", MERGE_DIR);
        fail();
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = path_join(MERGE_DIR, de->d_name);
        struct stat st;
        bool is_dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        free(p);
        if (!is_dir)
            continue; /* README.md */
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);

    int bad_cases = 0;
    for (size_t i = 0; i < n; i++) {
        int bad = run_case(names[i]);
        bad_cases += bad != 0;
        print_message("%-40s %s\n", names[i], bad ? "FAIL" : "ok");
        free(names[i]);
    }
    free(names);
    if (n == 0)
        print_error("no cases in %s\n", MERGE_DIR);
    else
        print_message("%zu cases, %d failed\n", n, bad_cases);
    assert_int_not_equal(n, 0);
    assert_int_equal(bad_cases, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
