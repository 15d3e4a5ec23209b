/*
 * main.c - the dti-hub command line: init, units, enroll, serve, agents,
 * revoke, values. Each command opens the hub directory, does one thing,
 * and reports errors once, here, as "dti-hub: cannot ...: reason".
 */
#include "buf.h"
#include "cli.h"
#include "crypto.h"
#include "db.h"
#include "framework.h"
#include "frameworks.h"
#include "hlc.h"
#include "bundles.h"
#include "hubdb.h"
#include "reconcile.h"
#include "report.h"
#include "scoring.h"
#include "server.h"
#include "tlscert.h"
#include "token.h"
#include "util.h"
#include "value.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HUB_KEY "hub.key"
#define TLS_CERT "tls.crt"
#define TLS_KEY "tls.key"
#define DEFAULT_LISTEN "127.0.0.1:8443"
#define TOKEN_TTL_DAYS 30

static const char *dir_opt;

static const char usage_text[] =
    "usage: dti-hub [--dir DIR] COMMAND [OPTIONS]\n"
    "\n"
    "  init [--listen HOST:PORT] [--url https://HOST:PORT] [--cert FILE --key FILE]\n"
    "                              create the hub; print its certificate fingerprint\n"
    "  units import FILE.csv       import administrative units (code,name,level,parent_code)\n"
    "  units list [--json]         list units\n"
    "  enroll --unit CODE [--days N]  print a one-time enrolment token\n"
    "  serve [--listen HOST:PORT]  run the HTTPS server until SIGTERM or SIGINT\n"
    "  agents [--json]             enrolled agents\n"
    "  revoke AGENT_ID             refuse the agent's later batches\n"
    "  values [--unit CODE] [--period P] [--json]\n"
    "                              current authoritative values\n"
    "  history --unit CODE --element E --period P [--json]\n"
    "                              every version of one value and what became of it\n"
    "  conflicts [--status open|resolved|all] [--unit CODE] [--json]\n"
    "  conflict show ID [--json]\n"
    "  resolve ID (--keep current|incoming | --value V) [--comment TEXT]\n"
    "  lock|approve|unlock --period P [--unit CODE | --level L]\n"
    "  locks [--json]              active locks and approvals\n"
    "  amendments [--status pending|accepted|rejected|all] [--json]\n"
    "  accept ID [--comment TEXT]  an amendment becomes the value\n"
    "  reject ID --comment TEXT    the office reads the comment\n"
    "  import-bundle FILE          take in a bundle of batches an office carried on a stick\n"
    "  export-receipts --agent ID FILE [--from SEQ]\n"
    "                              the agent's receipts as a bundle, to carry back\n"
    "  gaps [--silent-days N] [--json]\n"
    "                              per agent: last batch, batches known but missing, silence\n"
    "  framework import FILE.json  validate an indicator framework, store it as a new version\n"
    "  framework list [--json]     framework versions; which is in force per level and period\n"
    "  score --period P            authoritative scoring of every unit with a framework for P\n"
    "  report --period P [--level L] [--format csv|json|html] [--out FILE]\n"
    "                              the latest scoring of P (default CSV to stdout); served\n"
    "                              at https://HOST:PORT/v1/reports/P.html (.csv, .json)\n"
    "      --group-by L2           roll units of level L up under their L2 (e.g. --level\n"
    "                              commune --group-by district) as units stood at period end\n"
    "      --merge-into-successors [--as-of YYYY-MM-DD]\n"
    "                              with --level: each merged unit's figures rolled into the\n"
    "                              successor in effect today (or on --as-of), rescored (a view)\n"
    "  explain --unit CODE --period P [--json]\n"
    "                              how each point of a unit's score was earned\n"
    "\n"
    "Decisions are recorded with --by NAME (default $DTI_OPERATOR, then $USER).\n"
    "\n"
    "DIR defaults to $DTI_HUB_DIR, then ./hub-data.\n";

static const char *hub_dir(void)
{
    return cli_dir(dir_opt, "DTI_HUB_DIR", "./hub-data");
}

/* Parse "HOST:PORT" (IPv4 or a name; port 0-65535). */
static int parse_listen(const char *s, char *host, size_t hostcap, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    uint64_t p;
    if (!colon || colon == s || (size_t)(colon - s) >= hostcap ||
        parse_u64(colon + 1, 65535, &p) < 0)
        return DTI_EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (unsigned)p;
    return 0;
}

/* Options every command accepts, followed by its own. */
#define COMMON_OPTS {"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}

static int parse_opts_mode(int argc, char **argv, const char *mode, const struct option *longopts,
                           int (*on_opt)(int c, const char *arg, void *ctx), void *ctx);

/* Options may come before or after a command's positional arguments (GNU
 * getopt permutes them to the end); "--" ends options. */
static int parse_opts(int argc, char **argv, const struct option *longopts,
                      int (*on_opt)(int c, const char *arg, void *ctx), void *ctx)
{
    return parse_opts_mode(argc, argv, "", longopts, on_opt, ctx);
}

static int parse_opts_mode(int argc, char **argv, const char *mode, const struct option *longopts,
                           int (*on_opt)(int c, const char *arg, void *ctx), void *ctx)
{
    optind = 0; /* 0, not 1: makes glibc reinitialise, permutation state included */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, mode, longopts, NULL)) != -1) {
        if (c == 'd') {
            dir_opt = optarg;
            continue;
        }
        if (c == 'h') {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (c == '?' || c == ':')
            return cli_usage("%s: unknown option or missing argument '%s'", argv[0],
                             argv[optind - 1]);
        int r = on_opt(c, optarg, ctx);
        if (r)
            return r;
    }
    return 0;
}

static int no_opt(int c, const char *arg, void *ctx)
{
    return cli_usage("unexpected option");
}

struct common_args {
    bool json;
    const char *unit;
    const char *period;
    const char *listen;
    const char *url;
    const char *cert;
    const char *key;
    const char *days;
    const char *status;
    const char *keep;
    const char *value;
    const char *comment;
    const char *level;
    const char *element;
    const char *by;
    const char *format; /* report --format */
    const char *out;    /* report --out */
    const char *agent;  /* export-receipts --agent */
    const char *from;   /* export-receipts --from */
    const char *silent; /* gaps --silent-days */
    const char *group_by; /* report --group-by */
    bool merge;           /* report --merge-into-successors */
    const char *as_of;    /* report --as-of */
};

static int on_common(int c, const char *arg, void *ctx)
{
    struct common_args *a = ctx;
    switch (c) {
    case 'j':
        a->json = true;
        break;
    case 'u':
        a->unit = arg;
        break;
    case 'p':
        a->period = arg;
        break;
    case 'l':
        a->listen = arg;
        break;
    case 'U':
        a->url = arg;
        break;
    case 'c':
        a->cert = arg;
        break;
    case 'k':
        a->key = arg;
        break;
    case 'D':
        a->days = arg;
        break;
    case 's':
        a->status = arg;
        break;
    case 'K':
        a->keep = arg;
        break;
    case 'V':
        a->value = arg;
        break;
    case 'C':
        a->comment = arg;
        break;
    case 'L':
        a->level = arg;
        break;
    case 'E':
        a->element = arg;
        break;
    case 'B':
        a->by = arg;
        break;
    case 'f':
        a->format = arg;
        break;
    case 'o':
        a->out = arg;
        break;
    case 'a':
        a->agent = arg;
        break;
    case 'n':
        a->from = arg;
        break;
    case 'S':
        a->silent = arg;
        break;
    case 'G':
        a->group_by = arg;
        break;
    case 'M':
        a->merge = true;
        break;
    case 'A':
        a->as_of = arg;
        break;
    default:
        return cli_usage("unexpected option");
    }
    return 0;
}

static int open_hub(sqlite3 **db)
{
    struct dti_err e = {0};
    int r = hubdb_open(db, hub_dir(), false, &e);
    return r < 0 ? cli_fail(r, &e, "open the hub") : 0;
}

/* ---- init ---- */

static int cmd_init(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"listen", required_argument, NULL, 'l'},
                                       {"url", required_argument, NULL, 'U'},
                                       {"cert", required_argument, NULL, 'c'},
                                       {"key", required_argument, NULL, 'k'},
                                       {0}};
    struct common_args a = {.listen = DEFAULT_LISTEN};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc)
        return cli_usage("init takes no arguments");
    if (!!a.cert != !!a.key)
        return cli_usage("--cert and --key go together");
    char host[256];
    unsigned port;
    if (parse_listen(a.listen, host, sizeof(host), &port) < 0)
        return cli_usage("--listen must be HOST:PORT, got '%s'", a.listen);
    char *url = a.url ? xstrdup(a.url) : xasprintf("https://%s", a.listen);
    if (!hub_url_valid(url)) {
        r = cli_usage("hub address '%s' must be https://HOST:PORT", url);
        free(url);
        return r;
    }

    const char *dir = hub_dir();
    struct dti_err e = {0};
    sqlite3 *db = NULL;
    struct signer *key = NULL;
    char *dbpath = path_join(dir, HUBDB_FILE), *keypath = path_join(dir, HUB_KEY);
    char *certpath = path_join(dir, TLS_CERT), *tlskeypath = path_join(dir, TLS_KEY);
    char fp[CRYPTO_FP_HEX_LEN + 1];
    if (access(dbpath, F_OK) == 0) {
        r = dti_errf(&e, DTI_EEXISTS, "a hub already exists in '%s'", dir);
        goto fail;
    }
    if ((r = hubdb_open(&db, dir, true, &e)) < 0)
        goto fail;
    if ((r = signer_generate(&key)) < 0 || (r = signer_save(key, keypath, &e)) < 0)
        goto fail;
    if (a.cert) {
        char *data = NULL;
        size_t len;
        if ((r = tlscert_check_pair(a.cert, a.key, &e)) < 0)
            goto fail;
        /* copy the operator's files in, so the hub directory is self-contained */
        if ((r = read_file_bounded(a.cert, 1 << 20, &data, &len)) < 0 ||
            (r = write_file_atomic(certpath, data, len, 0644)) < 0) {
            free(data);
            dti_errf(&e, r, "cannot copy certificate '%s'", a.cert);
            goto fail;
        }
        free(data);
        if ((r = read_file_bounded(a.key, 1 << 20, &data, &len)) < 0 ||
            (r = write_file_atomic(tlskeypath, data, len, 0600)) < 0) {
            free(data);
            dti_errf(&e, r, "cannot copy key '%s'", a.key);
            goto fail;
        }
        free(data);
    } else if ((r = tlscert_generate(host, certpath, tlskeypath, &e)) < 0) {
        goto fail;
    }
    if ((r = tlscert_fingerprint_file(certpath, fp, &e)) < 0)
        goto fail;
    if ((r = db_meta_set(db, "listen", a.listen, &e)) < 0 ||
        (r = db_meta_set(db, "url", url, &e)) < 0 ||
        (r = db_meta_set(db, "fingerprint", fp, &e)) < 0)
        goto fail;
    printf("hub created in %s\n", dir);
    printf("listen:      %s\n", a.listen);
    printf("address:     %s\n", url);
    printf("certificate: sha256 %s\n", fp);
    r = 0;
    goto out;
fail:
    r = cli_fail(r, &e, "initialise the hub");
out:
    signer_free(key);
    db_close(db);
    free(url);
    free(dbpath);
    free(keypath);
    free(certpath);
    free(tlskeypath);
    return r;
}

/* ---- units ---- */

static int cmd_units(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS, {"json", no_argument, NULL, 'j'}, {0}};
    if (argc < 2)
        return cli_usage("units: expected 'import FILE.csv' or 'list'");
    const char *sub = argv[1];
    struct common_args a = {0};
    int r = parse_opts(argc - 1, argv + 1, lo, on_common, &a);
    if (r)
        return r;
    argc--;
    argv++;
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    if (!strcmp(sub, "import")) {
        if (optind != argc - 1)
            return cli_usage("units import: expected one FILE.csv");
        const char *file = argv[optind];
        FILE *f = fopen(file, "rb");
        if (!f) {
            dti_errf(&e, DTI_EIO, "cannot open '%s'", file);
            return cli_fail(DTI_EIO, &e, "import units");
        }
        size_t n = 0;
        if ((r = open_hub(&db)) == 0) {
            r = units_import(db, f, file, &n, &e);
            r = r < 0 ? cli_fail(r, &e, "import units") : 0;
            if (r == 0)
                printf("imported %zu units from %s\n", n, file);
        }
        fclose(f);
        db_close(db);
        return r;
    }
    if (strcmp(sub, "list") != 0)
        return cli_usage("units: unknown subcommand '%s'", sub);
    if (optind != argc)
        return cli_usage("units list takes no arguments");
    if ((r = open_hub(&db)) != 0)
        return r;
    sqlite3_stmt *st = NULL;
    if ((r = db_prepare(db, &st,
                        "SELECT code, name, level, coalesce(parent, ''), "
                        "coalesce(valid_from, ''), coalesce(valid_to, ''), "
                        "coalesce(successor, '') FROM units ORDER BY code",
                        &e)) < 0) {
        db_close(db);
        return cli_fail(r, &e, "list units");
    }
    json_t *arr = a.json ? json_array() : NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *code = db_column_str(st, 0), *name = db_column_str(st, 1),
                   *level = db_column_str(st, 2), *parent = db_column_str(st, 3);
        if (arr) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s?}", "code", code, "name", name, "level",
                                  level, "parent", *parent ? parent : NULL);
            if (*db_column_str(st, 4))
                json_object_set_new(o, "valid_from", json_string(db_column_str(st, 4)));
            if (*db_column_str(st, 5))
                json_object_set_new(o, "valid_to", json_string(db_column_str(st, 5)));
            if (*db_column_str(st, 6))
                json_object_set_new(o, "successor", json_string(db_column_str(st, 6)));
            json_array_append_new(arr, o);
        } else {
            printf("%-8s %-10s %-8s %s\n", code, level, parent, name);
        }
    }
    sqlite3_finalize(st);
    db_close(db);
    return arr ? cli_print_json(arr) : 0;
}

/* ---- enroll ---- */

static int cmd_enroll(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"unit", required_argument, NULL, 'u'},
                                       {"days", required_argument, NULL, 'D'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (!a.unit || optind != argc)
        return cli_usage("usage: dti-hub enroll --unit CODE [--days N]");
    uint64_t days = TOKEN_TTL_DAYS;
    if (a.days && (parse_u64(a.days, 3650, &days) < 0 || days == 0))
        return cli_usage("--days must be 1-3650");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    char *url = NULL, *fp = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    struct token t = {0};
    if ((r = db_meta_get(db, "url", &url, &e)) < 0 ||
        (r = db_meta_get(db, "fingerprint", &fp, &e)) < 0 ||
        (r = tokens_issue(db, a.unit, wall_ms(), days * 86400000ull, t.secret, &e)) < 0) {
        r = cli_fail(r, &e, "issue an enrolment token");
        goto out;
    }
    snprintf(t.hub_url, sizeof(t.hub_url), "%s", url);
    snprintf(t.fingerprint, sizeof(t.fingerprint), "%s", fp);
    snprintf(t.unit, sizeof(t.unit), "%s", a.unit);
    char *tok = token_encode(&t);
    printf("%s\n", tok);
    free(tok);
    r = 0;
out:
    free(url);
    free(fp);
    db_close(db);
    return r;
}

/* ---- serve ---- */

static int cmd_serve(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS, {"listen", required_argument, NULL, 'l'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc)
        return cli_usage("serve takes no arguments");
    const char *dir = hub_dir();
    sqlite3 *db = NULL;
    struct signer *key = NULL;
    struct server *srv = NULL;
    struct dti_err e = {0};
    char *listen = NULL, *keypath = path_join(dir, HUB_KEY);
    char *certpath = path_join(dir, TLS_CERT), *tlskeypath = path_join(dir, TLS_KEY);
    if ((r = open_hub(&db)) != 0)
        goto out_nofail;
    if ((r = signer_load(&key, keypath, &e)) < 0)
        goto fail;
    if (a.listen)
        listen = xstrdup(a.listen);
    else if ((r = db_meta_get(db, "listen", &listen, &e)) < 0)
        goto fail;
    char host[256];
    unsigned port;
    if (parse_listen(listen, host, sizeof(host), &port) < 0) {
        r = dti_errf(&e, DTI_EINVAL, "listen address '%s' is not HOST:PORT", listen);
        goto fail;
    }
    struct server_config cfg = {
        .host = host, .port = port, .cert_path = certpath, .key_path = tlskeypath,
        .timeout_s = 30};
    if ((r = server_open(&srv, &cfg, db, key, &e)) < 0)
        goto fail;
    fprintf(stderr, "dti-hub: listening on https://%s:%u (pid %ld)\n", host, server_port(srv),
            (long)getpid());
    if ((r = server_run(srv, &e)) < 0)
        goto fail;
    r = 0;
    goto out;
fail:
    r = cli_fail(r, &e, "serve");
out:
out_nofail:
    server_free(srv);
    signer_free(key);
    db_close(db);
    free(listen);
    free(keypath);
    free(certpath);
    free(tlskeypath);
    return r;
}

/* ---- agents, revoke ---- */

static int cmd_agents(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS, {"json", no_argument, NULL, 'j'}, {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc)
        return cli_usage("agents takes no arguments");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    sqlite3_stmt *st = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    if ((r = db_prepare(db, &st,
                        "SELECT id, unit, last_seq, coalesce(last_seen_ms, 0), "
                        "coalesce(revoked_ms, 0), enrolled_ms, clock_skew_ms "
                        "FROM agents ORDER BY unit, id",
                        &e)) < 0) {
        db_close(db);
        return cli_fail(r, &e, "list agents");
    }
    json_t *arr = a.json ? json_array() : NULL;
    if (!arr)
        printf("%-16s %-8s %8s  %-20s %s\n", "AGENT", "UNIT", "LAST_SEQ", "LAST_SEEN", "STATE");
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t seen = (uint64_t)sqlite3_column_int64(st, 3);
        uint64_t revoked = (uint64_t)sqlite3_column_int64(st, 4);
        int64_t skew = sqlite3_column_int64(st, 6);
        char seen_s[32] = "never", enrolled_s[32];
        if (seen)
            format_utc(seen, seen_s);
        format_utc((uint64_t)sqlite3_column_int64(st, 5), enrolled_s);
        bool clock_off = skew > 5 * 60 * 1000 || skew < -24LL * 3600 * 1000;
        if (arr) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:s?, s:s, s:b, s:I, s:b}", "id",
                                  db_column_str(st, 0), "unit", db_column_str(st, 1), "last_seq",
                                  (json_int_t)sqlite3_column_int64(st, 2), "last_seen",
                                  seen ? seen_s : NULL, "enrolled", enrolled_s, "revoked",
                                  revoked != 0, "clock_skew_ms", (json_int_t)skew, "clock_off",
                                  clock_off);
            json_array_append_new(arr, o);
        } else {
            printf("%-16s %-8s %8lld  %-20s %s%s\n", db_column_str(st, 0), db_column_str(st, 1),
                   (long long)sqlite3_column_int64(st, 2), seen_s,
                   revoked ? "revoked" : "active", clock_off ? " (clock far off)" : "");
        }
    }
    sqlite3_finalize(st);
    db_close(db);
    return arr ? cli_print_json(arr) : 0;
}

static int cmd_revoke(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS, {0}};
    int r = parse_opts(argc, argv, lo, no_opt, NULL);
    if (r)
        return r;
    if (optind != argc - 1)
        return cli_usage("usage: dti-hub revoke AGENT_ID");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    if ((r = open_hub(&db)) != 0)
        return r;
    r = agents_revoke(db, argv[optind], wall_ms(), &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "revoke agent");
    printf("revoked %s\n", argv[optind]);
    return 0;
}

/* ---- values ---- */

static int cmd_values(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"json", no_argument, NULL, 'j'},
                                       {"unit", required_argument, NULL, 'u'},
                                       {"period", required_argument, NULL, 'p'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc)
        return cli_usage("values takes no arguments");
    if (a.period && !period_valid(a.period))
        return cli_usage("invalid period '%s': expected YYYY, YYYYQn or YYYY-MM", a.period);
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    sqlite3_stmt *st = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    if ((r = db_prepare(db, &st,
                        "SELECT unit, element, period, kind, num, txt, hlc, origin, "
                        "coalesce(author, ''), coalesce(comment, '') FROM vals "
                        "WHERE (?1 IS NULL OR unit = ?1) AND (?2 IS NULL OR period = ?2) "
                        "ORDER BY unit, period, element",
                        &e)) < 0) {
        db_close(db);
        return cli_fail(r, &e, "list values");
    }
    db_bind_text_or_null(st, 1, a.unit);
    db_bind_text_or_null(st, 2, a.period);
    json_t *arr = a.json ? json_array() : NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct value v;
        db_column_value(st, 3, &v);
        char ver[40], txt[VALUE_TEXT_MAX + 1];
        hlc_format((uint64_t)sqlite3_column_int64(st, 6), ver);
        if (arr) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "unit", db_column_str(st, 0),
                                  "element", db_column_str(st, 1), "period",
                                  db_column_str(st, 2), "value", cli_json_value(&v), "version", ver,
                                  "agent", db_column_str(st, 7));
            if (*db_column_str(st, 8))
                json_object_set_new(o, "author", json_string(db_column_str(st, 8)));
            if (*db_column_str(st, 9))
                json_object_set_new(o, "comment", json_string(db_column_str(st, 9)));
            json_array_append_new(arr, o);
        } else {
            value_format(&v, txt, sizeof(txt));
            printf("%-8s %-8s %-24s %-16s %s  %s\n", db_column_str(st, 0), db_column_str(st, 2),
                   db_column_str(st, 1), txt, ver, db_column_str(st, 7));
        }
    }
    sqlite3_finalize(st);
    db_close(db);
    return arr ? cli_print_json(arr) : 0;
}

/* ---- reconciliation (issue 3) ---- */

static const char *operator_name(const struct common_args *a)
{
    const char *by = a->by;
    if (!by || !*by)
        by = getenv("DTI_OPERATOR");
    if (!by || !*by)
        by = getenv("USER");
    return by && *by ? by : "operator";
}

static int parse_id(const char *s, int64_t *id)
{
    return parse_i64(s, 1, INT64_MAX, id) < 0 ? cli_usage("'%s' is not an id", s) : 0;
}

static void print_value_json(const json_t *v)
{
    if (json_is_string(v))
        printf("%s", json_string_value(v));
    else if (json_is_true(v))
        printf("true");
    else if (json_is_false(v))
        printf("false");
    else if (json_is_integer(v))
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        printf("%.15g", json_real_value(v));
    else
        printf("-");
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void print_side(const char *label, const json_t *side)
{
    printf("  %-9s ", label);
    if (!json_is_object(side)) {
        printf("(none)\n");
        return;
    }
    print_value_json(json_object_get(side, "value"));
    printf("  by %s, version %s", jstr(side, "agent"), jstr(side, "version"));
    if (*jstr(side, "author"))
        printf(", author %s", jstr(side, "author"));
    if (json_is_integer(json_object_get(side, "batch")))
        printf(", batch %" JSON_INTEGER_FORMAT,
               json_integer_value(json_object_get(side, "batch")));
    if (*jstr(side, "comment"))
        printf(" - %s", jstr(side, "comment"));
    printf("\n");
}

static int cmd_conflicts(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"json", no_argument, NULL, 'j'},
                                       {"status", required_argument, NULL, 's'},
                                       {"unit", required_argument, NULL, 'u'},
                                       {0}};
    struct common_args a = {.status = "open"};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc)
        return cli_usage("conflicts takes no arguments");
    if (strcmp(a.status, "open") && strcmp(a.status, "resolved") && strcmp(a.status, "all"))
        return cli_usage("--status must be open, resolved or all");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    json_t *arr = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = reconcile_conflicts_json(db, a.status, a.unit, &arr, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "list conflicts");
    if (a.json)
        return cli_print_json(arr);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        printf("#%" JSON_INTEGER_FORMAT " %s %s %s  [%s]\n",
               json_integer_value(json_object_get(c, "id")), jstr(c, "unit"), jstr(c, "period"),
               jstr(c, "element"), jstr(c, "status"));
        print_side("current", json_object_get(c, "current"));
        print_side("incoming", json_object_get(c, "incoming"));
    }
    if (json_array_size(arr) == 0)
        printf("no %s conflicts\n", a.status);
    json_decref(arr);
    return 0;
}

static int cmd_conflict(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS, {"json", no_argument, NULL, 'j'}, {0}};
    if (argc < 3 || strcmp(argv[1], "show") != 0)
        return cli_usage("usage: dti-hub conflict show ID [--json]");
    struct common_args a = {0};
    int r = parse_opts(argc - 1, argv + 1, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc - 2)
        return cli_usage("usage: dti-hub conflict show ID [--json]");
    int64_t id;
    if ((r = parse_id(argv[1 + optind], &id)) != 0)
        return r;
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    json_t *o = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = reconcile_conflict_json(db, id, &o, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "show conflict");
    if (a.json)
        return cli_print_json(o);
    printf("conflict #%" PRId64 ": %s %s %s, %s (recorded %s)\n", id, jstr(o, "unit"),
           jstr(o, "period"), jstr(o, "element"), jstr(o, "status"), jstr(o, "created"));
    print_side("base", json_object_get(o, "base"));
    print_side("current", json_object_get(o, "current"));
    print_side("incoming", json_object_get(o, "incoming"));
    printf("  scoring uses the version by %s\n",
           jstr(json_object_get(o, "used_for_scoring"), "agent"));
    if (strcmp(jstr(o, "status"), "open") != 0)
        printf("  resolved: kept %s by %s at %s%s%s\n", jstr(o, "resolution"),
               jstr(o, "resolved_by"), jstr(o, "resolved"), *jstr(o, "comment") ? " - " : "",
               jstr(o, "comment"));
    printf("history:\n");
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(o, "history"), i, h)
    {
        printf("  %-28s %-16s ", jstr(h, "version"), jstr(h, "agent"));
        print_value_json(json_object_get(h, "value"));
        printf("  [%s]\n", jstr(h, "fate"));
    }
    json_decref(o);
    return 0;
}

static int cmd_resolve(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"keep", required_argument, NULL, 'K'},
                                       {"value", required_argument, NULL, 'V'},
                                       {"comment", required_argument, NULL, 'C'},
                                       {"by", required_argument, NULL, 'B'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc - 1 || !!a.keep == !!a.value)
        return cli_usage("usage: dti-hub resolve ID (--keep current|incoming | --value V) "
                         "[--comment TEXT]");
    int64_t id;
    if ((r = parse_id(argv[optind], &id)) != 0)
        return r;
    enum resolve_keep keep = KEEP_VALUE;
    if (a.keep && !strcmp(a.keep, "current"))
        keep = KEEP_CURRENT;
    else if (a.keep && !strcmp(a.keep, "incoming"))
        keep = KEEP_INCOMING;
    else if (a.keep)
        return cli_usage("--keep must be current or incoming");
    struct dti_err e = {0};
    struct value v = {0};
    if (a.value && (r = value_parse(a.value, &v, &e)) < 0)
        return cli_fail(r, &e, "resolve");
    if (a.comment && !utf8_valid_text(a.comment, strlen(a.comment)))
        return cli_usage("--comment must be UTF-8 text");
    sqlite3 *db = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    struct actor who = {.by = operator_name(&a), .now_ms = wall_ms()};
    r = reconcile_resolve(db, id, keep, &v, a.comment, &who, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "resolve");
    printf("conflict %" PRId64 " resolved; the offices receive the value on their next sync\n", id);
    return 0;
}

static int cmd_lock_common(int argc, char **argv, const char *what)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"period", required_argument, NULL, 'p'},
                                       {"unit", required_argument, NULL, 'u'},
                                       {"level", required_argument, NULL, 'L'},
                                       {"by", required_argument, NULL, 'B'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc || !a.period || (a.unit && a.level))
        return cli_usage("usage: dti-hub %s --period P [--unit CODE | --level L]", what);
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    if ((r = open_hub(&db)) != 0)
        return r;
    struct actor who = {.by = operator_name(&a), .now_ms = wall_ms()};
    size_t removed = 0;
    if (!strcmp(what, "unlock"))
        r = reconcile_unlock(db, a.period, a.unit, a.level, &who, &removed, &e);
    else
        r = reconcile_lock(db, a.period, a.unit, a.level,
                           !strcmp(what, "approve") ? "approved" : "locked", &who, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, what);
    const char *scope = a.unit ? a.unit : a.level ? a.level : "the whole province";
    if (!strcmp(what, "unlock"))
        printf("period %s unlocked for %s (%zu lock%s removed)\n", a.period, scope, removed,
               removed == 1 ? "" : "s");
    else
        printf("period %s %s for %s: new figures become amendments pending acceptance\n",
               a.period, !strcmp(what, "approve") ? "approved" : "locked", scope);
    return 0;
}

static int cmd_lock(int argc, char **argv)
{
    return cmd_lock_common(argc, argv, "lock");
}

static int cmd_approve(int argc, char **argv)
{
    return cmd_lock_common(argc, argv, "approve");
}

static int cmd_unlock(int argc, char **argv)
{
    return cmd_lock_common(argc, argv, "unlock");
}

static int cmd_locks(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS, {"json", no_argument, NULL, 'j'}, {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    json_t *arr = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = reconcile_locks_json(db, &arr, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "list locks");
    if (a.json)
        return cli_print_json(arr);
    size_t i;
    json_t *l;
    json_array_foreach(arr, i, l) printf("%-8s %-9s %-24s since %s by %s\n", jstr(l, "period"),
                                         jstr(l, "state"), jstr(l, "scope"), jstr(l, "since"),
                                         jstr(l, "by"));
    if (json_array_size(arr) == 0)
        printf("no locks\n");
    json_decref(arr);
    return 0;
}

static int cmd_amendments(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"json", no_argument, NULL, 'j'},
                                       {"status", required_argument, NULL, 's'},
                                       {0}};
    struct common_args a = {.status = "pending"};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (strcmp(a.status, "pending") && strcmp(a.status, "accepted") &&
        strcmp(a.status, "rejected") && strcmp(a.status, "all"))
        return cli_usage("--status must be pending, accepted, rejected or all");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    json_t *arr = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = reconcile_amendments_json(db, a.status, &arr, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "list amendments");
    if (a.json)
        return cli_print_json(arr);
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        printf("#%" JSON_INTEGER_FORMAT " %s %s %s = ", json_integer_value(json_object_get(m, "id")),
               jstr(m, "unit"), jstr(m, "period"), jstr(m, "element"));
        print_value_json(json_object_get(m, "value"));
        printf("  by %s  [%s]%s%s\n", jstr(m, "agent"), jstr(m, "status"),
               *jstr(m, "decision") ? " - " : "", jstr(m, "decision"));
    }
    if (json_array_size(arr) == 0)
        printf("no %s amendments\n", a.status);
    json_decref(arr);
    return 0;
}

static int decide(int argc, char **argv, bool accept)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"comment", required_argument, NULL, 'C'},
                                       {"by", required_argument, NULL, 'B'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc - 1 || (!accept && !a.comment))
        return cli_usage(accept ? "usage: dti-hub accept ID [--comment TEXT]"
                                : "usage: dti-hub reject ID --comment TEXT");
    int64_t id;
    if ((r = parse_id(argv[optind], &id)) != 0)
        return r;
    if (a.comment && !utf8_valid_text(a.comment, strlen(a.comment)))
        return cli_usage("--comment must be UTF-8 text");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    if ((r = open_hub(&db)) != 0)
        return r;
    struct actor who = {.by = operator_name(&a), .now_ms = wall_ms()};
    r = accept ? reconcile_accept(db, id, a.comment, &who, &e)
               : reconcile_reject(db, id, a.comment, &who, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, accept ? "accept" : "reject");
    printf("amendment %" PRId64 " %s\n", id, accept ? "accepted" : "rejected");
    return 0;
}

static int cmd_accept(int argc, char **argv)
{
    return decide(argc, argv, true);
}

static int cmd_reject(int argc, char **argv)
{
    return decide(argc, argv, false);
}

static int cmd_history(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"json", no_argument, NULL, 'j'},
                                       {"unit", required_argument, NULL, 'u'},
                                       {"element", required_argument, NULL, 'E'},
                                       {"period", required_argument, NULL, 'p'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc || !a.unit || !a.element || !a.period)
        return cli_usage("usage: dti-hub history --unit CODE --element E --period P [--json]");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    json_t *arr = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = reconcile_history_json(db, a.unit, a.element, a.period, &arr, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "read history");
    if (a.json)
        return cli_print_json(arr);
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h)
    {
        printf("%-28s %-16s ", jstr(h, "version"), jstr(h, "agent"));
        print_value_json(json_object_get(h, "value"));
        if (json_is_integer(json_object_get(h, "batch")))
            printf("  batch %" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(h, "batch")));
        if (*jstr(h, "author"))
            printf("  (%s)", jstr(h, "author"));
        printf("  [%s]%s%s\n", jstr(h, "fate"), *jstr(h, "comment") ? " " : "", jstr(h, "comment"));
    }
    if (json_array_size(arr) == 0)
        printf("no versions of %s %s %s\n", a.unit, a.element, a.period);
    json_decref(arr);
    return 0;
}

/* ---- frameworks, scoring, reports (issue 5) ---- */

static int cmd_framework(int argc, char **argv)
{
    static const struct option lo[] = {
        COMMON_OPTS, {"json", no_argument, NULL, 'j'}, {"by", required_argument, NULL, 'B'}, {0}};
    if (argc < 2)
        return cli_usage("framework: expected 'import FILE.json' or 'list'");
    const char *sub = argv[1];
    struct common_args a = {0};
    int r = parse_opts(argc - 1, argv + 1, lo, on_common, &a);
    if (r)
        return r;
    argc--;
    argv++;
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    if (!strcmp(sub, "import")) {
        if (optind != argc - 1)
            return cli_usage("framework import: expected one FILE.json");
        const char *file = argv[optind];
        char *text = NULL;
        size_t len = 0;
        if ((r = read_file_bounded(file, FRAMEWORK_FILE_MAX, &text, &len)) < 0) {
            if (r == DTI_ETOOBIG)
                dti_errf(&e, r, "'%s' is larger than %u bytes", file, FRAMEWORK_FILE_MAX);
            else
                dti_errf(&e, r, "cannot read '%s'%s", file,
                         r == DTI_ENOTFOUND ? ": no such file" : "");
            return cli_fail(r, &e, "import framework");
        }
        if ((r = open_hub(&db)) != 0) {
            free(text);
            return r;
        }
        struct fw_problems probs = {0};
        int64_t version = 0;
        bool unchanged = false;
        r = frameworks_import(db, text, len, file, operator_name(&a), wall_ms(), &version,
                              &unchanged, &probs, &e);
        free(text);
        if (r < 0) {
            char line[2600];
            fflush(stdout);
            for (size_t i = 0; i < probs.n; i++) {
                fw_problem_format(&probs, i, line, sizeof(line));
                fprintf(stderr, "dti-hub: %s\n", line);
            }
            fw_problems_release(&probs);
            db_close(db);
            return cli_fail(r, &e, "import framework");
        }
        fw_problems_release(&probs);
        struct framework *fw = NULL;
        if ((r = frameworks_load(db, version, &fw, &e)) < 0) {
            db_close(db);
            return cli_fail(r, &e, "import framework");
        }
        if (unchanged)
            printf("unchanged: version %" PRId64 " (%s, %s %s) is already in force\n", version,
                   fw->id, fw_level_name(fw->level), fw->period);
        else
            printf("imported %s as version %" PRId64 " of the %s framework for %s (%s); "
                   "agents receive it on their next sync\n",
                   file, version, fw_level_name(fw->level), fw->period, fw->id);
        framework_free(fw);
        db_close(db);
        return 0;
    }
    if (strcmp(sub, "list") != 0)
        return cli_usage("framework: unknown subcommand '%s'", sub);
    if (optind != argc)
        return cli_usage("framework list takes no arguments");
    json_t *arr = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = frameworks_list_json(db, &arr, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "list frameworks");
    if (a.json)
        return cli_print_json(arr);
    size_t i;
    json_t *f;
    if (json_array_size(arr))
        printf("%-7s %-10s %-7s %-8s %-20s %-12s %-12s %s\n", "VERSION", "LEVEL", "PERIOD",
               "IN_FORCE", "IMPORTED", "BY", "SHA256", "ID / NAME");
    json_array_foreach(arr, i, f)
    {
        printf("%-7" JSON_INTEGER_FORMAT " %-10s %-7s %-8s %-20s %-12s %-12.12s %s  %s\n",
               json_integer_value(json_object_get(f, "version")), jstr(f, "level"),
               jstr(f, "period"), json_is_true(json_object_get(f, "in_force")) ? "yes" : "no",
               jstr(f, "imported"), jstr(f, "by"), jstr(f, "hash"), jstr(f, "id"), jstr(f, "name"));
    }
    if (json_array_size(arr) == 0)
        printf("no frameworks (import one with 'dti-hub framework import FILE.json')\n");
    json_decref(arr);
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_score(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"period", required_argument, NULL, 'p'},
                                       {"by", required_argument, NULL, 'B'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc || !a.period)
        return cli_usage("usage: dti-hub score --period P");
    if (!period_valid(a.period))
        return cli_usage("invalid period '%s': expected YYYY, YYYYQn or YYYY-MM", a.period);
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    struct scoring_summary sum;
    if ((r = open_hub(&db)) != 0)
        return r;
    double t0 = mono_s();
    r = scoring_run(db, a.period, operator_name(&a), wall_ms(), &sum, &e);
    double t = mono_s() - t0;
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "score");
    printf("run %" PRId64 " scored period %s in %.3f s:\n", sum.run, sum.period, t);
    for (size_t i = 0; i < sum.nlevels; i++)
        printf("  %-10s %6zu unit%s  framework version %" PRId64 "\n", sum.levels[i].level,
               sum.levels[i].units, sum.levels[i].units == 1 ? " " : "s",
               sum.levels[i].framework_version);
    printf("%zu units in all; see 'dti-hub report --period %s'\n", sum.units, sum.period);
    return 0;
}

static int cmd_report(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"period", required_argument, NULL, 'p'},
                                       {"level", required_argument, NULL, 'L'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"group-by", required_argument, NULL, 'G'},
                                       {"merge-into-successors", no_argument, NULL, 'M'},
                                       {"as-of", required_argument, NULL, 'A'},
                                       {0}};
    struct common_args a = {.format = "csv"};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc || !a.period)
        return cli_usage("usage: dti-hub report --period P [--level L [--group-by L2 | "
                         "--merge-into-successors [--as-of YYYY-MM-DD]]] "
                         "[--format csv|json|html] [--out FILE]");
    if (a.group_by && !a.level)
        return cli_usage("--group-by needs --level (e.g. --level commune --group-by district)");
    if (a.merge && (!a.level || a.group_by))
        return cli_usage("--merge-into-successors needs --level and no --group-by");
    if (a.as_of && !a.merge)
        return cli_usage("--as-of goes with --merge-into-successors");
    char today[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(today, sizeof(today), "%Y-%m-%d", &tm); /* the hub's local date */
    enum report_format f;
    if (report_format_parse(a.format, &f) < 0)
        return cli_usage("--format must be csv, json or html");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    struct buf out;
    if ((r = open_hub(&db)) != 0)
        return r;
    buf_init(&out, REPORT_MAX);
    if (a.group_by)
        r = report_group_render(db, a.period, a.level, a.group_by, f, &out, &e);
    else if (a.merge)
        r = report_merged_render(db, a.period, a.level, a.as_of ? a.as_of : today, f, &out, &e);
    else
        r = report_render(db, a.period, a.level, f, &out, &e);
    db_close(db);
    if (r < 0) {
        buf_release(&out);
        return cli_fail(r, &e, "make the report");
    }
    if (a.out) {
        r = write_file_atomic(a.out, out.data, out.len, 0644);
        if (r < 0) {
            dti_errf(&e, r, "cannot write '%s'", a.out);
            r = cli_fail(r, &e, "make the report");
        } else {
            printf("wrote %s (%zu bytes)\n", a.out, out.len);
        }
    } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        dti_errf(&e, DTI_EIO, "cannot write to standard output");
        r = cli_fail(DTI_EIO, &e, "make the report");
    }
    buf_release(&out);
    return r;
}

/* A JSON number or value the way a person reads it. */
static void print_num(const json_t *v)
{
    if (json_is_number(v))
        printf("%.15g", json_number_value(v));
    else
        print_value_json(v);
}

/* "tiers so_cuoc_hop_bcd=4 (4→20, 3→15)" and the like, for one component. */
static void print_method(const json_t *c)
{
    const json_t *m = json_object_get(c, "method"), *ins = json_object_get(c, "inputs");
    const char *kind = jstr(m, "kind");
    size_t i;
    json_t *in;
    if (!strcmp(kind, "none")) {
        printf("informational");
        return;
    }
    printf("%s ", kind);
    json_array_foreach(ins, i, in)
    {
        if (i)
            printf(!strcmp(kind, "ratio") ? " / " : ", ");
        printf("%s=", jstr(in, "element"));
        if (json_is_true(json_object_get(in, "missing")))
            printf("missing");
        else
            print_num(json_object_get(in, "value"));
    }
    if (!strcmp(kind, "ratio")) {
        if (json_is_number(json_object_get(m, "target"))) {
            printf(" (target ");
            print_num(json_object_get(m, "target"));
            printf(")");
        }
        if (!strcmp(jstr(m, "zero_denominator"), "full"))
            printf(" (zero denominator: full)");
    } else if (!strcmp(kind, "tiers")) {
        json_t *t;
        printf(" (");
        json_array_foreach(json_object_get(m, "tiers"), i, t)
        {
            printf("%s>=", i ? ", " : "");
            print_num(json_array_get(t, 0));
            printf(" -> ");
            print_num(json_array_get(t, 1));
        }
        printf(")");
    } else if (!strcmp(kind, "categorical")) {
        const char *k;
        json_t *v;
        bool first = true;
        printf(" (");
        json_object_foreach(json_object_get(m, "map"), k, v)
        {
            printf("%s%s ", first ? "" : ", ", k);
            print_num(v);
            first = false;
        }
        printf(")");
    }
}

static int cmd_explain(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"json", no_argument, NULL, 'j'},
                                       {"unit", required_argument, NULL, 'u'},
                                       {"period", required_argument, NULL, 'p'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (optind != argc || !a.unit || !a.period)
        return cli_usage("usage: dti-hub explain --unit CODE --period P [--json]");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    json_t *o = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = report_explain_json(db, a.unit, a.period, &o, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "explain");
    if (a.json)
        return cli_print_json(o);
    const json_t *fw = json_object_get(o, "framework"), *rank = json_object_get(o, "rank");
    const json_t *comp = json_object_get(o, "completeness"), *gr = json_object_get(o, "growth");
    const json_t *self = json_object_get(o, "self_assessed");
    printf("%s %s, period %s: ", jstr(o, "unit"), jstr(o, "name"), jstr(o, "period"));
    print_num(json_object_get(o, "points"));
    printf(" of ");
    print_num(json_object_get(o, "max"));
    printf(" points, DTI ");
    print_num(json_object_get(o, "dti"));
    if (*jstr(o, "band"))
        printf(", band %s", jstr(o, "band"));
    printf("\nrun %" JSON_INTEGER_FORMAT " at %s by %s; framework %s version %" JSON_INTEGER_FORMAT
           "; stored inputs reproduce the result: %s\n",
           json_integer_value(json_object_get(o, "run")), jstr(o, "ran"), jstr(o, "ran_by"),
           jstr(fw, "id"), json_integer_value(json_object_get(fw, "version")),
           json_is_true(json_object_get(o, "reproduced")) ? "yes" : "NO");
    printf("rank %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " (%s)",
           json_integer_value(json_object_get(rank, "level")),
           json_integer_value(json_object_get(rank, "level_units")), jstr(o, "level"));
    if (*jstr(o, "parent"))
        printf(", %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " in %s %s",
               json_integer_value(json_object_get(rank, "parent")),
               json_integer_value(json_object_get(rank, "parent_units")), jstr(o, "parent"),
               jstr(o, "parent_name"));
    printf("\n");
    if (json_is_object(gr)) {
        printf("against %s: DTI ", jstr(gr, "previous_period"));
        print_num(json_object_get(gr, "previous_dti"));
        printf(" -> ");
        print_num(json_object_get(o, "dti"));
        printf(", rank %" JSON_INTEGER_FORMAT " -> %" JSON_INTEGER_FORMAT " (%+" JSON_INTEGER_FORMAT
               ")\n",
               json_integer_value(json_object_get(gr, "previous_rank")),
               json_integer_value(json_object_get(rank, "level")),
               json_integer_value(json_object_get(gr, "rank_change")));
    } else {
        printf("no result for the previous period\n");
    }
    if (json_is_object(self)) {
        printf("self-assessed: ");
        print_num(json_object_get(self, "points"));
        printf(" points; appraised minus self-assessed: ");
        print_num(json_object_get(self, "gap"));
        printf("\n");
    } else {
        printf("self-assessed: nothing submitted by the unit's own offices\n");
    }
    printf("inputs: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " collected",
           json_integer_value(json_object_get(comp, "present")),
           json_integer_value(json_object_get(comp, "required")));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(o, "missing_inputs"), i, x)
        printf("%s%s", i ? ", " : "; missing: ", json_string_value(x));
    printf("\n");
    const json_t *inds = json_object_get(o, "indicators");
    const char *shown = NULL;
    json_array_foreach(json_object_get(o, "components"), i, x)
    {
        const char *ind = jstr(x, "indicator");
        if (!shown || strcmp(shown, ind) != 0) {
            size_t k;
            json_t *d;
            json_array_foreach(inds, k, d)
            {
                if (strcmp(jstr(d, "code"), ind) != 0)
                    continue;
                printf("\n%s %s: ", ind, jstr(d, "name"));
                print_num(json_object_get(d, "points"));
                printf("/");
                print_num(json_object_get(d, "max"));
                printf("%s\n", json_is_true(json_object_get(d, "scored")) ? "" : " (not scored)");
            }
            shown = ind;
        }
        printf("  %-6s ", jstr(x, "code"));
        print_num(json_object_get(x, "points"));
        printf("/");
        print_num(json_object_get(x, "max"));
        printf("  %s  ", jstr(x, "note"));
        print_method(x);
        printf("\n");
    }
    json_t *p;
    printf("\n");
    json_array_foreach(json_object_get(o, "pillars"), i, p)
    {
        printf("pillar %s %s: ", jstr(p, "code"), jstr(p, "name"));
        print_num(json_object_get(p, "points"));
        printf("/");
        print_num(json_object_get(p, "max"));
        printf(", value ");
        print_num(json_object_get(p, "value"));
        printf("\n");
    }
    json_decref(o);
    return 0;
}

/* ---- the USB-stick road (issue 4) ---- */

static void on_imported(void *ctx, size_t index, uint64_t offset, int r, const struct problem *pb)
{
    if (r == 0)
        return;
    if (r == DTI_EGAP)
        printf("  batch at offset %llu: ahead of a gap, kept until the missing batches arrive "
               "(%s)\n",
               (unsigned long long)offset, pb->message);
    else
        printf("  batch at offset %llu: refused: %s: %s\n", (unsigned long long)offset,
               pb->reason, pb->message);
}

static int cmd_import_bundle(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS, {0}};
    int r = parse_opts(argc, argv, lo, no_opt, NULL);
    if (r)
        return r;
    if (optind != argc - 1)
        return cli_usage("usage: dti-hub import-bundle FILE");
    const char *file = argv[optind];
    struct dti_err e = {0};
    sqlite3 *db = NULL;
    struct signer *key = NULL;
    struct ingest *ing = NULL;
    struct bundle_import_report rep = {0};
    char *keypath = path_join(hub_dir(), HUB_KEY);
    FILE *f = fopen(file, "rb");
    if (!f) {
        free(keypath);
        dti_errf(&e, DTI_EIO, "cannot open '%s'", file);
        return cli_fail(DTI_EIO, &e, "import the bundle");
    }
    if ((r = open_hub(&db)) != 0)
        goto done;
    if ((r = signer_load(&key, keypath, &e)) < 0 || (r = ingest_open(&ing, db, key, &e)) < 0)
        goto fail;
    r = bundles_import(ing, f, wall_ms(), on_imported, NULL, &rep, &e);
    printf("%s: %zu batches: %zu applied, %zu already held, %zu parked, %zu refused\n", file,
           rep.envelopes, rep.applied, rep.replays, rep.parked, rep.refused);
    if (r < 0)
        goto fail;
    r = rep.refused ? 1 : 0;
    goto done;
fail:
    r = cli_fail(r, &e, "import the bundle");
done:
    ingest_free(ing);
    signer_free(key);
    db_close(db);
    fclose(f);
    free(keypath);
    return r;
}

static int cmd_export_receipts(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"agent", required_argument, NULL, 'a'},
                                       {"from", required_argument, NULL, 'n'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    if (!a.agent || optind != argc - 1)
        return cli_usage("usage: dti-hub export-receipts --agent ID FILE [--from SEQ]");
    uint64_t from = 1;
    if (a.from && parse_u64(a.from, INT64_MAX, &from) < 0)
        return cli_usage("--from must be a batch number");
    const char *file = argv[optind];
    struct dti_err e = {0};
    sqlite3 *db = NULL;
    size_t n = 0;
    if ((r = open_hub(&db)) != 0)
        return r;
    FILE *f = fopen(file, "wbx"); /* never overwrite a file on the stick */
    if (!f) {
        db_close(db);
        dti_errf(&e, DTI_EIO, "cannot create '%s' (does it exist already?)", file);
        return cli_fail(DTI_EIO, &e, "export receipts");
    }
    r = bundles_export_receipts(db, a.agent, from, f, &n, &e);
    if (fclose(f) != 0 && r == 0)
        r = dti_errf(&e, DTI_EIO, "cannot write '%s'", file);
    db_close(db);
    if (r < 0) {
        unlink(file);
        return cli_fail(r, &e, "export receipts");
    }
    printf("wrote %zu receipt%s for agent %s to %s\n", n, n == 1 ? "" : "s", a.agent, file);
    return 0;
}

static int cmd_gaps(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_OPTS,
                                       {"json", no_argument, NULL, 'j'},
                                       {"silent-days", required_argument, NULL, 'S'},
                                       {0}};
    struct common_args a = {0};
    int r = parse_opts(argc, argv, lo, on_common, &a);
    if (r)
        return r;
    uint64_t days = 7;
    if (optind != argc || (a.silent && parse_u64(a.silent, 3650, &days) < 0))
        return cli_usage("usage: dti-hub gaps [--silent-days N] [--json]");
    sqlite3 *db = NULL;
    struct dti_err e = {0};
    json_t *arr = NULL;
    if ((r = open_hub(&db)) != 0)
        return r;
    r = bundles_gaps_json(db, wall_ms(), (unsigned)days, &arr, &e);
    db_close(db);
    if (r < 0)
        return cli_fail(r, &e, "list gaps");
    if (a.json)
        return cli_print_json(arr);
    size_t i, shown = 0;
    json_t *g;
    json_array_foreach(arr, i, g)
    {
        json_t *missing = json_object_get(g, "missing");
        bool silent = json_is_true(json_object_get(g, "silent"));
        if (!json_array_size(missing) && !silent)
            continue;
        shown++;
        printf("%s %s (agent %s): last batch %" JSON_INTEGER_FORMAT, jstr(g, "unit"),
               jstr(g, "unit_name"), jstr(g, "agent"),
               json_integer_value(json_object_get(g, "last_seq")));
        size_t k;
        json_t *m;
        json_array_foreach(missing, k, m)
        printf(", batches %" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT " not yet received",
               json_integer_value(json_array_get(m, 0)), json_integer_value(json_array_get(m, 1)));
        if (*jstr(g, "last_seen"))
            printf(", last seen %s (%" JSON_INTEGER_FORMAT " days ago)", jstr(g, "last_seen"),
                   json_integer_value(json_object_get(g, "days_silent")));
        else
            printf(", never seen");
        json_t *via = json_object_get(g, "via");
        if (json_is_object(via) && !strcmp(jstr(via, "road"), "relay"))
            printf(" via district %s %s", jstr(via, "unit"), jstr(via, "unit_name"));
        else if (json_is_object(via))
            printf(" by bundle");
        printf("\n");
    }
    if (!shown)
        printf("no gaps, and no agent silent for %llu days or more\n", (unsigned long long)days);
    json_decref(arr);
    return 0;
}

int main(int argc, char **argv)
{
    cli_set_program("dti-hub");
    static const struct option lo[] = {COMMON_OPTS, {0}};
    /* "+": global options stop at the command name */
    int r = parse_opts_mode(argc, argv, "+", lo, no_opt, NULL);
    if (r)
        return r;
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"init", cmd_init},     {"units", cmd_units},   {"enroll", cmd_enroll},
                {"serve", cmd_serve},   {"agents", cmd_agents}, {"revoke", cmd_revoke},
                {"values", cmd_values},     {"history", cmd_history},
                {"conflicts", cmd_conflicts}, {"conflict", cmd_conflict},
                {"resolve", cmd_resolve},   {"lock", cmd_lock},
                {"approve", cmd_approve},   {"unlock", cmd_unlock},
                {"locks", cmd_locks},       {"amendments", cmd_amendments},
                {"accept", cmd_accept},     {"reject", cmd_reject},
                {"framework", cmd_framework}, {"score", cmd_score},
                {"report", cmd_report},     {"explain", cmd_explain},
                {"import-bundle", cmd_import_bundle}, {"export-receipts", cmd_export_receipts},
                {"gaps", cmd_gaps}};
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(sub_argc, sub_argv);
    return cli_usage("unknown command '%s' (see dti-hub --help)", cmd);
}
