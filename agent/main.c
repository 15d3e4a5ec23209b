/*
 * main.c - the dti-agent command line: init, set, import, values, status,
 * conflicts, sync, template (the fill-in sheet) and score (the provisional
 * self-assessment). Errors are reported once, here: "dti-agent: cannot ...: reason".
 * `sync` exits 75 (EX_TEMPFAIL) when the hub cannot be reached: nothing is
 * lost, run it again when the link is back.
 */
#include "cli.h"
#include "courier.h"
#include "crypto.h"
#include "db.h"
#include "enroll.h"
#include "hlc.h"
#include "http.h"
#include "import.h"
#include "preview.h"
#include "rollup.h"
#include "relay.h"
#include "relaybox.h"
#include "store.h"
#include "sync.h"
#include "template.h"
#include "token.h"
#include "util.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dir_opt;

static const char usage_text[] =
    "usage: dti-agent [--dir DIR] COMMAND [OPTIONS]\n"
    "\n"
    "  init --token TOKEN [--hub https://HOST:PORT] [--fingerprint SHA256]\n"
    "                       make this office's key and enrol with the hub\n"
    "  set ELEMENT VALUE --period P [--unit CODE] [--comment TEXT] [--author NAME]\n"
    "                       record a figure (works offline)\n"
    "  import FILE.csv      record unit,element,period,value[,comment,author] rows, all or none\n"
    "                       (a filled-in template too; rows with a blank value are skipped)\n"
    "  values [--period P] [--json]   the figures held here\n"
    "  template --period P [--unit CODE] [--out FILE.csv]\n"
    "                       the fill-in sheet of every figure the framework asks for\n"
    "                       (UTF-8 CSV for Excel or LibreOffice): fill in the value\n"
    "                       column, then import the file\n"
    "  score --period P [--unit CODE] [--json]\n"
    "                       provisional self-assessed score of the figures held here,\n"
    "                       component by component, with what is still missing\n"
    "  rollup --period P [--json]\n"
    "                       district office: its communes together - provisional scores,\n"
    "                       completeness, ranking, averages and element totals\n"
    "  status [--json]      pending records and batches, last sync, last error\n"
    "  conflicts [--json]   what the hub decided about this office's edits, and what is open\n"
    "  export-bundle FILE   no link at all: write every unacknowledged batch to FILE\n"
    "                       (carry it to the hub; nothing leaves the outbox yet)\n"
    "  import-receipts FILE take in the receipts the hub exported for this office\n"
    "  sync                 push everything pending, then pull; exit 75 when the hub is\n"
    "                       unreachable (nothing is lost)\n"
    "  relay [--listen HOST:PORT]\n"
    "                       district office: serve communes that reach this office but\n"
    "                       not the hub (default 127.0.0.1:8444; --listen 0.0.0.0:8444\n"
    "                       for the office LAN); their batches go up on the next sync\n"
    "\n"
    "DIR defaults to $DTI_AGENT_DIR, then ./agent-data.\n";

struct args {
    const char *token, *hub, *fingerprint, *period, *unit, *comment, *author, *out;
    bool json;
};

static const struct option all_opts[] = {
    {"dir", required_argument, NULL, 'd'},         {"help", no_argument, NULL, 'h'},
    {"token", required_argument, NULL, 't'},       {"hub", required_argument, NULL, 'H'},
    {"fingerprint", required_argument, NULL, 'f'}, {"period", required_argument, NULL, 'p'},
    {"unit", required_argument, NULL, 'u'},        {"comment", required_argument, NULL, 'c'},
    {"author", required_argument, NULL, 'a'},      {"json", no_argument, NULL, 'j'},
    {"out", required_argument, NULL, 'o'},         {0}};

/* Parse options; `allowed` lists the short codes this command takes. */
static int parse(int argc, char **argv, const char *allowed, struct args *a)
{
    optind = 0; /* 0: glibc reinitialises its state */
    opterr = 0;
    int c;
    /* "-" keeps option order and hands non-options back as 1; getopt would read a
     * negative number as short options, so "-5" or "-.5" is stepped over here and
     * stays a value for positionals() */
    for (;;) {
        const char *next = optind < argc ? argv[optind] : "";
        if (next[0] == '-' && ((next[1] >= '0' && next[1] <= '9') || next[1] == '.')) {
            optind++;
            continue;
        }
        if ((c = getopt_long(argc, argv, "-", all_opts, NULL)) == -1)
            break;
        if (c == 1)
            continue; /* a positional argument: positionals() collects them */
        if (c == 'h') {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (c == 'd') {
            dir_opt = optarg;
            continue;
        }
        if (c == '?' || !strchr(allowed, c))
            return cli_usage("%s: unknown option or missing argument '%s'", argv[0],
                             argv[optind - 1]);
        switch (c) {
        case 't':
            a->token = optarg;
            break;
        case 'H':
            a->hub = optarg;
            break;
        case 'f':
            a->fingerprint = optarg;
            break;
        case 'p':
            a->period = optarg;
            break;
        case 'u':
            a->unit = optarg;
            break;
        case 'c':
            a->comment = optarg;
            break;
        case 'a':
            a->author = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'o':
            a->out = optarg;
            break;
        }
    }
    return 0;
}

/* Positional arguments of a command (everything that is not an option). */
static size_t positionals(int argc, char **argv, const char **out, size_t max)
{
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            const struct option *o = all_opts;
            const char *name = argv[i] + 2;
            while (o->name && strcmp(o->name, name) != 0)
                o++;
            if (o->name && o->has_arg == required_argument)
                i++;
            continue;
        }
        if (n < max)
            out[n] = argv[i];
        n++;
    }
    return n;
}

static const char *agent_dir(void)
{
    return cli_dir(dir_opt, "DTI_AGENT_DIR", "./agent-data");
}

static int load_key(struct signer **key, struct dti_err *e)
{
    char *path = path_join(agent_dir(), STORE_KEY);
    int r = signer_load(key, path, e);
    free(path);
    return r;
}

static int open_store(struct store **st)
{
    struct dti_err e = {0};
    int r = store_open(st, agent_dir(), &e);
    return r < 0 ? cli_fail(r, &e, "open the agent store") : 0;
}

static int new_transport(struct store *st, struct http_client **hc, struct transport *t,
                         struct dti_err *e)
{
    struct store_identity id;
    int r = store_identity(st, &id, e);
    if (r < 0)
        return r;
    if ((r = http_client_new(hc, id.hub_url, id.fingerprint, e)) < 0)
        return r;
    http_client_set_via(*hc, id.agent_id);
    *t = http_transport(*hc);
    return 0;
}

/* ---- init ---- */

/* Remove what a failed init created (store, its WAL files, key). */
static void remove_agent_files(const char *dir)
{
    static const char *const names[] = {STORE_DB, STORE_DB "-wal", STORE_DB "-shm", STORE_KEY};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *p = path_join(dir, names[i]);
        unlink(p);
        free(p);
    }
}

static int cmd_init(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "tHf", &a);
    if (r)
        return r;
    if (!a.token)
        return cli_usage("usage: dti-agent init --token TOKEN [--hub URL] [--fingerprint FP]");
    struct dti_err e = {0};
    struct token tok;
    struct store_identity id = {0};
    struct signer *key = NULL;
    struct store *st = NULL;
    struct http_client *hc = NULL;
    char *keypath = NULL;
    bool created = false;
    if ((r = token_decode(a.token, &tok, &e)) < 0)
        return cli_fail(r, &e, "read the enrolment token");
    if (a.hub && !hub_url_valid(a.hub))
        return cli_usage("--hub must be https://HOST:PORT, got '%s'", a.hub);
    snprintf(id.hub_url, sizeof(id.hub_url), "%s", a.hub ? a.hub : tok.hub_url);
    if (a.fingerprint) {
        if (crypto_fp_normalise(a.fingerprint, id.fingerprint) < 0)
            return cli_usage("--fingerprint must be a SHA-256 fingerprint (64 hex digits)");
    } else {
        memcpy(id.fingerprint, tok.fingerprint, sizeof(id.fingerprint));
    }
    snprintf(id.unit, sizeof(id.unit), "%s", tok.unit);
    memcpy(id.token_secret, tok.secret, sizeof(id.token_secret));
    id.has_token = true;
    if ((r = signer_generate(&key)) < 0) {
        dti_errf(&e, r, "cannot generate a key");
        goto fail;
    }
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    signer_public(key, pub);
    enroll_agent_id(pub, id.agent_id);
    /* the store first (it refuses an existing agent), then the key beside it */
    if ((r = store_create(&st, agent_dir(), &id, &e)) < 0)
        goto fail;
    created = true;
    keypath = path_join(agent_dir(), STORE_KEY);
    if ((r = signer_save(key, keypath, &e)) < 0)
        goto fail;
    struct transport t;
    if ((r = new_transport(st, &hc, &t, &e)) < 0)
        goto fail;
    r = sync_enrol(st, key, &t, wall_ms(), &e);
    if (r < 0 && !dti_transient(r))
        goto fail;
    printf("agent %s for unit %s, hub %s\n", id.agent_id, id.unit, id.hub_url);
    if (r == 0)
        printf("enrolled\n");
    else
        printf("the hub cannot be reached now (%s); enrolment will complete on the first sync\n",
               dti_err_text(&e, r));
    r = 0;
    goto out;
fail:
    r = cli_fail(r, &e, "initialise the agent");
    if (created) {
        /* a refused enrolment (wrong pin, bad token) leaves nothing behind: init can be
         * run again; nothing was recorded in a store this new */
        store_close(st);
        st = NULL;
        remove_agent_files(agent_dir());
    }
out:
    http_client_free(hc);
    store_close(st);
    signer_free(key);
    free(keypath);
    return r;
}

/* ---- set, import ---- */

static int cmd_set(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "puca", &a);
    if (r)
        return r;
    const char *pos[2] = {NULL, NULL};
    if (positionals(argc, argv, pos, 2) != 2 || !a.period)
        return cli_usage("usage: dti-agent set ELEMENT VALUE --period P [--unit CODE] "
                         "[--comment TEXT] [--author NAME]");
    struct store *st = NULL;
    struct store_identity id;
    struct dti_err e = {0};
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = store_identity(st, &id, &e)) < 0)
        goto fail;
    struct edit ed = {.unit = a.unit ? a.unit : id.unit,
                      .element = pos[0],
                      .period = a.period,
                      .author = a.author,
                      .comment = a.comment};
    if ((r = value_parse(pos[1], &ed.value, &e)) < 0)
        goto fail;
    size_t bad;
    if ((r = store_record(st, &ed, 1, wall_ms(), &bad, &e)) < 0)
        goto fail;
    char txt[64];
    value_format(&ed.value, txt, sizeof(txt));
    printf("recorded %s %s %s = %s (pending sync)\n", ed.unit, ed.period, ed.element, txt);
    store_close(st);
    return 0;
fail:
    store_close(st);
    return cli_fail(r, &e, "record the value");
}

static int cmd_import(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "", &a);
    if (r)
        return r;
    const char *pos[1] = {NULL};
    if (positionals(argc, argv, pos, 1) != 1)
        return cli_usage("usage: dti-agent import FILE.csv");
    const char *file = pos[0];
    struct dti_err e = {0};
    struct store *st = NULL;
    struct import im = {0};
    FILE *f = fopen(file, "rb");
    if (!f) {
        dti_errf(&e, DTI_EIO, "cannot open '%s'", file);
        return cli_fail(DTI_EIO, &e, "import");
    }
    if ((r = import_read(f, file, &im, &e)) < 0)
        goto fail;
    if ((r = open_store(&st)) != 0)
        goto out;
    if ((r = import_record(st, &im, wall_ms(), &e)) < 0)
        goto fail;
    printf("recorded %zu values from %s (pending sync)", im.n, file);
    if (im.skipped)
        printf("; %zu rows without a value left as not collected", im.skipped);
    printf("\n");
    r = 0;
    goto out;
fail:
    r = cli_fail(r, &e, "import (nothing was recorded)");
out:
    import_release(&im);
    fclose(f);
    store_close(st);
    return r;
}

/* ---- values, status ---- */

static int cmd_values(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "pj", &a);
    if (r)
        return r;
    if (a.period && !period_valid(a.period))
        return cli_usage("invalid period '%s': expected YYYY, YYYYQn or YYYY-MM", a.period);
    struct store *st = NULL;
    struct dti_err e = {0};
    sqlite3_stmt *s = NULL;
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = db_prepare(store_db(st), &s,
                        "SELECT unit, element, period, kind, num, txt, hlc, origin, state, "
                        "coalesce(note, ''), coalesce(author, ''), coalesce(comment, '') "
                        "FROM vals WHERE (?1 IS NULL OR period = ?1) "
                        "ORDER BY unit, period, element",
                        &e)) < 0) {
        store_close(st);
        return cli_fail(r, &e, "list values");
    }
    db_bind_text_or_null(s, 1, a.period);
    json_t *arr = a.json ? json_array() : NULL;
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct value v;
        db_column_value(s, 3, &v);
        char ver[40], txt[VALUE_TEXT_MAX + 1];
        hlc_format((uint64_t)sqlite3_column_int64(s, 6), ver);
        const char *state = db_column_str(s, 8), *note = db_column_str(s, 9);
        if (arr) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s}", "unit",
                                  db_column_str(s, 0), "element", db_column_str(s, 1), "period",
                                  db_column_str(s, 2), "value", cli_json_value(&v), "version", ver,
                                  "agent", db_column_str(s, 7), "state", state);
            if (*note)
                json_object_set_new(o, "note", json_string(note));
            if (*db_column_str(s, 10))
                json_object_set_new(o, "author", json_string(db_column_str(s, 10)));
            if (*db_column_str(s, 11))
                json_object_set_new(o, "comment", json_string(db_column_str(s, 11)));
            json_array_append_new(arr, o);
        } else {
            value_format(&v, txt, sizeof(txt));
            printf("%-8s %-8s %-24s %-16s %-10s%s%s\n", db_column_str(s, 0), db_column_str(s, 2),
                   db_column_str(s, 1), txt, state, *note ? " " : "", note);
        }
    }
    sqlite3_finalize(s);
    store_close(st);
    return arr ? cli_print_json(arr) : 0;
}

static int cmd_status(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "j", &a);
    if (r)
        return r;
    struct store *st = NULL;
    struct dti_err e = {0};
    struct store_identity id;
    struct store_status s;
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = store_identity(st, &id, &e)) < 0 || (r = store_status(st, &s, &e)) < 0) {
        store_close(st);
        return cli_fail(r, &e, "read status");
    }
    store_close(st);
    char last[32] = "never", attempt[32] = "never";
    if (s.last_sync_ms)
        format_utc(s.last_sync_ms, last);
    if (s.last_attempt_ms)
        format_utc(s.last_attempt_ms, attempt);
    if (a.json) {
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?, s:s?}", "agent",
            id.agent_id, "unit", id.unit, "hub", id.hub_url, "enrolled", id.enrolled,
            "pending_records", (json_int_t)s.pending_records, "pending_batches",
            (json_int_t)s.pending_batches, "acknowledged_batches", (json_int_t)s.acked_batches,
            "values", (json_int_t)s.values, "conflicts", (json_int_t)s.conflicts, "rejected",
            (json_int_t)s.rejected, "last_sync", s.last_sync_ms ? last : NULL, "last_attempt",
            s.last_attempt_ms ? attempt : NULL, "last_error",
            s.last_error[0] ? s.last_error : NULL);
        return cli_print_json(o);
    }
    printf("agent:            %s (unit %s)\n", id.agent_id, id.unit);
    printf("hub:              %s%s\n", id.hub_url, id.enrolled ? "" : " (enrolment pending)");
    printf("pending records:  %" PRIu64 " (%" PRIu64 " not yet in a batch)\n", s.pending_records,
           s.unsealed_records);
    printf("pending batches:  %" PRIu64 "\n", s.pending_batches);
    printf("acknowledged:     %" PRIu64 " batches\n", s.acked_batches);
    printf("values held:      %" PRIu64 " (%" PRIu64 " in conflict, %" PRIu64 " rejected)\n",
           s.values, s.conflicts, s.rejected);
    printf("last sync:        %s\n", last);
    if (s.last_error[0])
        printf("last error:       %s (at %s)\n", s.last_error, attempt);
    return 0;
}

/* ---- conflicts ---- */

static int cmd_conflicts(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "j", &a);
    if (r)
        return r;
    struct store *st = NULL;
    struct dti_err e = {0};
    sqlite3_stmt *s = NULL;
    if ((r = open_store(&st)) != 0)
        return r;
    sqlite3 *db = store_db(st);
    /* open: this office's figures the hub has not taken as they are */
    if ((r = db_prepare(db, &s,
                        "SELECT unit, element, period, kind, num, txt, state, coalesce(note, ''), "
                        "hub_kind, hub_num, hub_txt, coalesce(hub_origin, '') FROM vals "
                        "WHERE state IN ('conflict', 'superseded', 'amendment', 'rejected') "
                        "OR hub_hlc IS NOT NULL ORDER BY unit, period, element",
                        &e)) < 0)
        goto fail;
    json_t *open = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct value v, hv;
        db_column_value(s, 3, &v);
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s?}", "unit", db_column_str(s, 0),
                              "element", db_column_str(s, 1), "period", db_column_str(s, 2),
                              "value", cli_json_value(&v), "state", db_column_str(s, 6), "note",
                              *db_column_str(s, 7) ? db_column_str(s, 7) : NULL);
        if (sqlite3_column_type(s, 8) != SQLITE_NULL) {
            db_column_value(s, 8, &hv);
            json_object_set_new(o, "hub_value", cli_json_value(&hv));
            json_object_set_new(o, "hub_agent", json_string(db_column_str(s, 11)));
            json_object_set_new(o, "flagged", json_true());
        }
        json_array_append_new(open, o);
    }
    sqlite3_finalize(s);
    s = NULL;
    if ((r = db_prepare(db, &s,
                        "SELECT unit, element, period, hlc, kind, coalesce(comment, ''), "
                        "coalesce(by_whom, ''), at_ms FROM decisions ORDER BY id",
                        &e)) < 0) {
        json_decref(open);
        goto fail;
    }
    json_t *decided = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        char ver[40], at[32];
        hlc_format((uint64_t)sqlite3_column_int64(s, 3), ver);
        format_utc((uint64_t)sqlite3_column_int64(s, 7), at);
        json_array_append_new(
            decided, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s}", "unit",
                               db_column_str(s, 0), "element", db_column_str(s, 1), "period",
                               db_column_str(s, 2), "version", ver, "decision", db_column_str(s, 4),
                               "comment", *db_column_str(s, 5) ? db_column_str(s, 5) : NULL, "by",
                               *db_column_str(s, 6) ? db_column_str(s, 6) : NULL, "at", at));
    }
    sqlite3_finalize(s);
    store_close(st);
    if (a.json)
        return cli_print_json(json_pack("{s:o, s:o}", "open", open, "decisions", decided));
    size_t i;
    json_t *o;
    printf("open (%zu):\n", json_array_size(open));
    json_array_foreach(open, i, o)
    {
        char *val = json_dumps(json_object_get(o, "value"), JSON_ENCODE_ANY);
        printf("  %s %s %s = %s  [%s]%s%s\n", json_string_value(json_object_get(o, "unit")),
               json_string_value(json_object_get(o, "period")),
               json_string_value(json_object_get(o, "element")), val,
               json_string_value(json_object_get(o, "state")),
               json_is_string(json_object_get(o, "note")) ? " " : "",
               json_is_string(json_object_get(o, "note"))
                   ? json_string_value(json_object_get(o, "note"))
                   : "");
        free(val);
    }
    printf("decisions (%zu):\n", json_array_size(decided));
    json_array_foreach(decided, i, o)
    {
        const char *c = json_string_value(json_object_get(o, "comment"));
        const char *by = json_string_value(json_object_get(o, "by"));
        printf("  %s %s %s %s: %s%s%s%s%s\n", json_string_value(json_object_get(o, "at")),
               json_string_value(json_object_get(o, "unit")),
               json_string_value(json_object_get(o, "period")),
               json_string_value(json_object_get(o, "element")),
               json_string_value(json_object_get(o, "decision")), by ? " by " : "", by ? by : "",
               c ? " - " : "", c ? c : "");
    }
    json_decref(open);
    json_decref(decided);
    return 0;
fail:
    sqlite3_finalize(s);
    store_close(st);
    return cli_fail(r, &e, "list conflicts");
}

/* ---- template, score ---- */

#define TEMPLATE_FILE_MAX (64u << 20)

/* Which unit a command is about: --unit, else the agent's own. */
static int command_unit(struct store *st, const struct args *a, char unit[UNIT_CODE_MAX + 1],
                        struct dti_err *e)
{
    struct store_identity id;
    int r = store_identity(st, &id, e);
    if (r < 0)
        return r;
    snprintf(unit, UNIT_CODE_MAX + 1, "%s", a->unit ? a->unit : id.unit);
    return store_check_scope(st, unit, e);
}

/* No framework yet for the unit's level and period: say what to do about it. */
static int no_framework(struct store *st, const char *unit, const char *period, int r,
                        struct dti_err *e)
{
    char level[16];
    if (r == DTI_ENOTFOUND && store_unit_level(st, unit, level, NULL) == 0)
        dti_err_set(e, r, "no framework for %s units in period %s yet; run 'dti-agent sync'", level,
                    period);
    return r;
}

static int cmd_template(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "puo", &a);
    if (r)
        return r;
    if (positionals(argc, argv, NULL, 0) != 0 || !a.period)
        return cli_usage("usage: dti-agent template --period P [--unit CODE] [--out FILE.csv]");
    if (!period_valid(a.period))
        return cli_usage("invalid period '%s': expected YYYY, YYYYQn or YYYY-MM", a.period);
    struct store *st = NULL;
    struct framework *fw = NULL;
    struct preview_inputs held = {0};
    struct dti_err e = {0};
    struct buf out;
    char unit[UNIT_CODE_MAX + 1];
    uint64_t version = 0;
    buf_init(&out, TEMPLATE_FILE_MAX);
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = command_unit(st, &a, unit, &e)) < 0)
        goto fail;
    if ((r = store_framework(st, unit, a.period, &fw, &version, &e)) < 0) {
        no_framework(st, unit, a.period, r, &e);
        goto fail;
    }
    if ((r = preview_inputs(st, fw, unit, a.period, &held, &e)) < 0)
        goto fail;
    if ((r = template_build(&out, fw, unit, a.period, &held)) < 0) {
        dti_errf(&e, r, "the template is larger than %u bytes", TEMPLATE_FILE_MAX);
        goto fail;
    }
    if (a.out) {
        if ((r = write_file_atomic(a.out, out.data, out.len, 0644)) < 0) {
            dti_errf(&e, r, "cannot write '%s'", a.out);
            goto fail;
        }
        printf("wrote %s: %zu figures for unit %s, period %s (%zu required for scoring, "
               "%zu already held), framework %s version %" PRIu64 "\n",
               a.out, fw->nelements, unit, a.period, fw->nrequired, held.held, fw->id, version);
    } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        r = dti_errf(&e, DTI_EIO, "cannot write to standard output");
        goto fail;
    }
    r = 0;
    goto out;
fail:
    r = cli_fail(r, &e, "write the template");
out:
    buf_release(&out);
    preview_inputs_release(&held);
    framework_free(fw);
    store_close(st);
    return r;
}

/* The states a value held here can be in, in the order the summary lists them. */
static const char *const value_states[] = {"pending",    "synced",   "conflict",
                                           "superseded", "rejected", "amendment"};

static const char *state_label(const char *state)
{
    if (!strcmp(state, "pending"))
        return "pending sync";
    return state;
}

/* The inputs of scored component i that were not collected, as {element, name}. */
static json_t *missing_inputs(const struct framework *fw, const struct preview_inputs *in, size_t i)
{
    json_t *arr = json_array();
    const struct fw_method *m = &fw->components[i].method;
    for (size_t k = 0; k < m->ninputs; k++) {
        const struct fw_element *el = &fw->elements[m->inputs[k]];
        if (in->values[m->inputs[k]].kind == VALUE_NONE)
            json_array_append_new(arr,
                                  json_pack("{s:s, s:s}", "element", el->code, "name", el->name));
    }
    return arr;
}

static json_t *group_json(const struct fw_group *g, const struct score_group *sg)
{
    return json_pack("{s:s, s:s, s:f, s:f, s:f}", "code", g->code, "name", g->name, "points",
                     sg->points, "max", sg->max, "value", sg->value);
}

/* The whole preview as one JSON document. */
static json_t *score_json(const char *unit, const char *period, const struct framework *fw,
                          uint64_t version, const struct score_result *res,
                          const struct preview_inputs *in)
{
    char fwhash[2 * CRYPTO_SHA256_LEN + 1], inhash[2 * CRYPTO_SHA256_LEN + 1];
    hex_encode(fw->hash, CRYPTO_SHA256_LEN, fwhash);
    hex_encode(res->input_hash, CRYPTO_SHA256_LEN, inhash);
    json_t *states = json_object();
    for (size_t k = 0; k < ARRAY_SIZE(value_states); k++) {
        json_int_t n = 0;
        for (size_t i = 0; i < in->n; i++)
            n += in->states[i] && !strcmp(in->states[i], value_states[k]);
        if (n)
            json_object_set_new(states, value_states[k], json_integer(n));
    }
    json_t *inputs = json_array();
    for (size_t i = 0; i < in->n; i++)
        if (in->values[i].kind != VALUE_NONE)
            json_array_append_new(
                inputs, json_pack("{s:s, s:s, s:o, s:s}", "element", fw->elements[i].code, "name",
                                  fw->elements[i].name, "value", cli_json_value(&in->values[i]),
                                  "state", in->states[i]));
    json_t *components = json_array();
    for (size_t i = 0; i < fw->ncomponents; i++) {
        const struct fw_component *c = &fw->components[i];
        const struct score_component *sc = &res->components[i];
        bool scored = sc->note != SCORE_INFORMATIONAL;
        json_array_append_new(
            components, json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:s, s:o}", "code", c->code,
                                  "name", c->name, "indicator", fw->indicators[c->indicator].code,
                                  "method", fw_method_name(c->method.kind), "points", sc->points,
                                  "max", sc->max, "note", score_note_name(sc->note), "missing",
                                  scored ? missing_inputs(fw, in, i) : json_array()));
    }
    json_t *indicators = json_array();
    for (size_t i = 0; i < fw->nindicators; i++)
        json_array_append_new(
            indicators, json_pack("{s:s, s:s, s:f, s:f, s:f, s:b}", "code", fw->indicators[i].code,
                                  "name", fw->indicators[i].name, "points",
                                  res->indicators[i].points, "max", res->indicators[i].max, "value",
                                  res->indicators[i].value, "scored", res->indicators[i].scored));
    json_t *pillars = json_array(), *groups = json_array();
    for (size_t i = 0; i < fw->npillars; i++)
        json_array_append_new(pillars, group_json(&fw->pillars[i], &res->pillars[i]));
    for (size_t i = 0; i < fw->ngroups; i++)
        json_array_append_new(groups, group_json(&fw->groups[i], &res->groups[i]));
    json_t *missing = json_array();
    for (size_t k = 0; k < fw->nrequired; k++) {
        const struct fw_element *el = &fw->elements[fw->required[k]];
        if (in->values[fw->required[k]].kind == VALUE_NONE)
            json_array_append_new(missing,
                                  json_pack("{s:s, s:s}", "element", el->code, "name", el->name));
    }
    return json_pack("{s:b, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:I, s:s}, s:s, "
                     "s:{s:I, s:I, s:o}, s:o, s:o, s:o, s:o, s:o, "
                     "s:f, s:f, s:f, s:s?, s:f, s:I, s:I, s:o}",
                     "provisional", 1, "title", "Điểm tự đánh giá (tạm tính)", "unit", unit,
                     "period", period, "level", fw_level_name(fw->level), "framework", "id", fw->id,
                     "name", fw->name, "version", (json_int_t)version, "hash", fwhash, "input_hash",
                     inhash, "figures", "held", (json_int_t)in->held, "outside_framework",
                     (json_int_t)in->outside, "by_state", states, "inputs", inputs, "components",
                     components, "indicators", indicators, "pillars", pillars, "groups", groups,
                     "points", res->points, "max", res->max, "dti", res->dti, "band",
                     res->band_name, "completeness", res->completeness, "inputs_present",
                     (json_int_t)res->inputs_present, "inputs_required",
                     (json_int_t)res->inputs_required, "missing", missing);
}

static void print_group(const struct fw_group *g, const struct score_group *sg)
{
    char max[32];
    value_format_number(sg->max, max);
    printf("  %-6s %10.4f / %-6s (%.4f)  %s\n", g->code, sg->points, max, sg->value, g->name);
}

static void score_text(const char *unit, const char *period, const struct framework *fw,
                       uint64_t version, const struct score_result *res,
                       const struct preview_inputs *in)
{
    char hex[2 * CRYPTO_SHA256_LEN + 1], max[32];
    printf("Điểm tự đánh giá (tạm tính) - PROVISIONAL self-assessment from the figures held "
           "here;\nthe hub's appraisal is the authoritative score.\n\n");
    printf("unit %s, period %s, level %s\n", unit, period, fw_level_name(fw->level));
    printf("framework %s version %" PRIu64 ": %s\n", fw->id, version, fw->name);
    printf("figures used: %zu held here", in->held);
    const char *sep = " (";
    for (size_t k = 0; k < ARRAY_SIZE(value_states); k++) {
        size_t n = 0;
        for (size_t i = 0; i < in->n; i++)
            n += in->states[i] && !strcmp(in->states[i], value_states[k]);
        if (n) {
            printf("%s%zu %s", sep, n, state_label(value_states[k]));
            sep = ", ";
        }
    }
    printf("%s\n", *sep == ',' ? ")" : "");
    if (in->outside)
        printf("not in this framework, not scored: %zu figures held for this period\n",
               in->outside);
    hex_encode(res->input_hash, CRYPTO_SHA256_LEN, hex);
    printf("input hash: %s\n", hex);
    for (size_t i = 0; i < fw->nindicators; i++) {
        const struct fw_indicator *ind = &fw->indicators[i];
        const struct score_indicator *si = &res->indicators[i];
        value_format_number(si->max, max);
        if (si->scored)
            printf("\n%s %s: %.4f / %s (%.4f)\n", ind->code, ind->name, si->points, max, si->value);
        else
            printf("\n%s %s: not scored\n", ind->code, ind->name);
        for (size_t c = ind->first_component; c < ind->first_component + ind->ncomponents; c++) {
            const struct fw_component *co = &fw->components[c];
            const struct score_component *sc = &res->components[c];
            value_format_number(sc->max, max);
            printf("  %-6s %-12s %10.4f / %-5s %-17s %s\n", co->code,
                   fw_method_name(co->method.kind), sc->points, max, score_note_name(sc->note),
                   co->name);
            if (sc->note == SCORE_INFORMATIONAL)
                continue;
            const struct fw_method *m = &co->method;
            for (size_t k = 0; k < m->ninputs; k++) {
                const struct fw_element *el = &fw->elements[m->inputs[k]];
                if (in->values[m->inputs[k]].kind == VALUE_NONE)
                    printf("         missing: %s (%s)\n", el->code, el->name);
            }
        }
    }
    if (fw->npillars) {
        printf("\npillars:\n");
        for (size_t i = 0; i < fw->npillars; i++)
            print_group(&fw->pillars[i], &res->pillars[i]);
    }
    if (fw->ngroups) {
        printf("groups:\n");
        for (size_t i = 0; i < fw->ngroups; i++)
            print_group(&fw->groups[i], &res->groups[i]);
    }
    value_format_number(res->max, max);
    printf("\ntotal:        %.4f / %s (provisional)\n", res->points, max);
    printf("DTI value:    %.6f\n", res->dti);
    printf("band:         %s\n", res->band_name ? res->band_name : "(the framework has none)");
    printf("completeness: %.1f%% (%zu of %zu figures needed for scoring)\n",
           res->completeness * 100, res->inputs_present, res->inputs_required);
    size_t nmissing = res->inputs_required - res->inputs_present;
    if (nmissing) {
        printf("still missing (%zu):\n", nmissing);
        for (size_t k = 0; k < fw->nrequired; k++) {
            const struct fw_element *el = &fw->elements[fw->required[k]];
            if (in->values[fw->required[k]].kind == VALUE_NONE)
                printf("  %-34s %s\n", el->code, el->name);
        }
    }
}

static int cmd_score(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "puj", &a);
    if (r)
        return r;
    if (positionals(argc, argv, NULL, 0) != 0 || !a.period)
        return cli_usage("usage: dti-agent score --period P [--unit CODE] [--json]");
    if (!period_valid(a.period))
        return cli_usage("invalid period '%s': expected YYYY, YYYYQn or YYYY-MM", a.period);
    struct store *st = NULL;
    struct framework *fw = NULL;
    struct score_result *res = NULL;
    struct preview_inputs in = {0};
    struct dti_err e = {0};
    char unit[UNIT_CODE_MAX + 1];
    uint64_t version = 0;
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = command_unit(st, &a, unit, &e)) < 0)
        goto fail;
    if ((r = preview_score(st, unit, a.period, &res, &fw, &version, &in, &e)) < 0) {
        no_framework(st, unit, a.period, r, &e);
        goto fail;
    }
    if (a.json)
        r = cli_print_json(score_json(unit, a.period, fw, version, res, &in));
    else
        score_text(unit, a.period, fw, version, res, &in);
    goto out;
fail:
    r = cli_fail(r, &e, "score");
out:
    score_result_free(res);
    preview_inputs_release(&in);
    framework_free(fw);
    store_close(st);
    return r;
}

/* ---- rollup ---- */

static int cmd_rollup(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "pj", &a);
    if (r)
        return r;
    if (positionals(argc, argv, NULL, 0) != 0 || !a.period)
        return cli_usage("usage: dti-agent rollup --period P [--json]");
    if (!period_valid(a.period))
        return cli_usage("invalid period '%s': expected YYYY, YYYYQn or YYYY-MM", a.period);
    struct store *st = NULL;
    struct dti_err e = {0};
    json_t *doc = NULL;
    if ((r = open_store(&st)) != 0)
        return r;
    r = rollup_build(st, a.period, &doc, &e);
    store_close(st);
    if (r < 0)
        return cli_fail(r, &e, "roll up");
    if (a.json)
        return cli_print_json(doc);
    const json_t *dti = json_object_get(doc, "dti");
    printf("unit %s, period %s: %lld communes, %lld reporting, completeness %.4f\n",
           json_string_value(json_object_get(doc, "code")), a.period,
           (long long)json_integer_value(json_object_get(doc, "units")),
           (long long)json_integer_value(json_object_get(doc, "reporting")),
           json_number_value(json_object_get(doc, "completeness")));
    printf("DTI (provisional): mean %.4f, min %.4f, max %.4f\n",
           json_number_value(json_object_get(dti, "mean")),
           json_number_value(json_object_get(dti, "min")),
           json_number_value(json_object_get(dti, "max")));
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(doc, "ranking"), i, u)
    {
        printf("  %3lld. %-8s %9.4f points  DTI %.4f  completeness %.4f\n",
               (long long)json_integer_value(json_object_get(u, "rank")),
               json_string_value(json_object_get(u, "code")),
               json_number_value(json_object_get(u, "points")),
               json_number_value(json_object_get(u, "dti")),
               json_number_value(json_object_get(u, "completeness")));
    }
    json_array_foreach(json_object_get(doc, "elements"), i, u)
    {
        const json_t *v = json_object_get(u, "value");
        printf("  %-34s %-14s %s%.15g (%lld communes)\n",
               json_string_value(json_object_get(u, "code")),
               json_string_value(json_object_get(u, "aggregate")), json_is_number(v) ? "" : "none ",
               json_is_number(v) ? json_number_value(v) : 0.0,
               (long long)json_integer_value(json_object_get(u, "units")));
    }
    printf("scores are provisional: the figures held here, scored as the hub would\n");
    json_decref(doc);
    return 0;
}

/* ---- sync ---- */

/* ---- the USB-stick road ---- */

/* Open FILE for writing a bundle: a new file, or "-" for stdout. */
static FILE *open_out(const char *path, struct dti_err *e)
{
    if (!strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "wbx"); /* never overwrite: a stick may hold an earlier bundle */
    if (!f)
        dti_errf(e, DTI_EIO, "cannot create '%s' (does it exist already?)", path);
    return f;
}

static int cmd_export_bundle(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "", &a);
    if (r)
        return r;
    const char *pos[1] = {NULL};
    if (positionals(argc, argv, pos, 1) != 1)
        return cli_usage("usage: dti-agent export-bundle FILE");
    struct store *st = NULL;
    struct signer *key = NULL;
    struct dti_err e = {0};
    FILE *f = NULL;
    size_t n = 0;
    bool created = false;
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = load_key(&key, &e)) < 0)
        goto fail;
    if (!(f = open_out(pos[0], &e))) {
        r = DTI_EIO;
        goto fail;
    }
    created = f != stdout;
    if ((r = courier_export(st, key, wall_ms(), f, &n, &e)) < 0)
        goto fail;
    bool to_stdout = f == stdout;
    if (!to_stdout && fclose(f) != 0) {
        f = NULL;
        r = dti_errf(&e, DTI_EIO, "cannot write '%s'", pos[0]);
        goto fail;
    }
    f = NULL;
    /* with the bundle on stdout, people read about it on stderr */
    fprintf(to_stdout ? stderr : stdout,
            "wrote %zu batch%s to %s; they stay pending until their receipts come back\n", n,
            n == 1 ? "" : "es", pos[0]);
    r = 0;
    goto out;
fail:
    if (f && f != stdout)
        fclose(f);
    if (created)
        unlink(pos[0]); /* a partial bundle must not travel */
    r = cli_fail(r, &e, "export the bundle");
out:
    signer_free(key);
    store_close(st);
    return r;
}

static int cmd_import_receipts(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "", &a);
    if (r)
        return r;
    const char *pos[1] = {NULL};
    if (positionals(argc, argv, pos, 1) != 1)
        return cli_usage("usage: dti-agent import-receipts FILE");
    struct store *st = NULL;
    struct dti_err e = {0};
    struct courier_report rep;
    FILE *f = fopen(pos[0], "rb");
    if (!f) {
        dti_errf(&e, DTI_EIO, "cannot open '%s'", pos[0]);
        return cli_fail(DTI_EIO, &e, "import receipts");
    }
    if ((r = open_store(&st)) != 0) {
        fclose(f);
        return r;
    }
    r = courier_import_receipts(st, f, &rep, &e);
    fclose(f);
    store_close(st);
    if (r == 0 && rep.receipts == 0)
        r = dti_errf(&e, DTI_EPARSE, "'%s' holds no receipts (is it a bundle of batches?)", pos[0]);
    printf("%zu receipts: %zu acknowledged, %zu already acknowledged, %zu not for this "
           "agent\n",
           rep.receipts, rep.acked, rep.already, rep.foreign);
    if (r < 0)
        return cli_fail(r, &e, "import receipts");
    return 0;
}

static int cmd_sync(int argc, char **argv)
{
    struct args a = {0};
    int r = parse(argc, argv, "", &a);
    if (r)
        return r;
    struct store *st = NULL;
    struct signer *key = NULL;
    struct http_client *hc = NULL;
    struct dti_err e = {0};
    struct sync_report rep = {0};
    struct transport t;
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = load_key(&key, &e)) < 0 || (r = new_transport(st, &hc, &t, &e)) < 0)
        goto fail;
    uint64_t now = wall_ms();
    r = sync_run(st, key, &t, SYNC_BATCH_RECORDS, now, &rep, &e);
    store_note_sync(st, wall_ms(), r == 0, r < 0 ? dti_err_text(&e, r) : "", NULL);
    if (rep.sealed || rep.pushed || rep.applied || rep.flagged)
        printf("sealed %zu batches; pushed %zu batches (%zu records: %zu accepted, %zu duplicate, "
               "%zu superseded, %zu conflict, %zu rejected, %zu amendment); pulled %zu values "
               "(%zu flagged)\n",
               rep.sealed, rep.pushed, rep.records, rep.outcomes[1], rep.outcomes[2],
               rep.outcomes[3], rep.outcomes[4] + rep.outcomes[7], rep.outcomes[5], rep.outcomes[6],
               rep.applied, rep.flagged);
    /* an officer reads why here, not only in 'dti-agent conflicts' */
    for (size_t i = 0; i < rep.nrejects; i++)
        printf("rejected by the hub: %s\n", rep.rejects[i]);
    if (rep.outcomes[5] > rep.nrejects)
        printf("... and %zu more; 'dti-agent conflicts' lists them all\n",
               rep.outcomes[5] - rep.nrejects);
    if (rep.relayed || rep.relay_refused || rep.relay_waiting)
        printf("relayed %zu batches for %zu communes (%zu refused by the hub, %zu waiting for "
               "earlier batches)\n",
               rep.relayed, rep.relay_agents, rep.relay_refused, rep.relay_waiting);
    if (r < 0)
        goto fail;
    printf("in sync: everything recorded here is acknowledged by the hub\n");
    goto out;
fail:
    r = cli_fail(r, &e, "sync");
    if (r == EXIT_TEMPFAIL)
        fprintf(stderr, "dti-agent: nothing is lost; run 'dti-agent sync' again when the link "
                        "is back\n");
out:
    http_client_free(hc);
    signer_free(key);
    store_close(st);
    return r;
}

/* ---- relay (a district office) ---- */

static int cmd_relay(int argc, char **argv)
{
    /* its own small option loop: --listen is this command's alone */
    const char *listen = RELAY_DEFAULT_LISTEN;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen = argv[++i];
        else if (!strncmp(argv[i], "--listen=", 9))
            listen = argv[i] + 9;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_opt = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else
            return cli_usage("usage: dti-agent relay [--listen HOST:PORT]");
    }
    char host[256];
    unsigned port;
    if (relay_parse_listen(listen, host, sizeof(host), &port) < 0)
        return cli_usage("--listen must be HOST:PORT, got '%s'", listen);
    struct store *st = NULL;
    struct http_client *hc = NULL;
    struct relay *rl = NULL;
    struct dti_err e = {0};
    struct transport t;
    char fp[CRYPTO_FP_HEX_LEN + 1];
    bool created;
    int r;
    if ((r = open_store(&st)) != 0)
        return r;
    if ((r = new_transport(st, &hc, &t, &e)) < 0 ||
        (r = relay_identity(agent_dir(), host, fp, &created, &e)) < 0 ||
        (r = relay_open(&rl, agent_dir(), host, port, st, &t, &e)) < 0)
        goto fail;
    struct relaybox_counts rc;
    printf("relay certificate: sha256 %s%s\n", fp, created ? " (new)" : "");
    if (relaybox_counts(st, &rc, NULL) == 0 && rc.agents)
        printf("holding %" PRIu64 " batches for the hub (%" PRIu64 " acknowledged, %" PRIu64
               " refused; %" PRIu64 " communes)\n",
               rc.held, rc.acknowledged, rc.refused, rc.agents);
    printf("listening on https://%s:%u; communes enrol with\n"
           "  dti-agent init --token TOKEN --hub https://THIS-PC:%u --fingerprint %s\n",
           host, relay_port(rl), relay_port(rl), fp);
    fflush(stdout);
    if ((r = relay_run(rl, &e)) < 0)
        goto fail;
    goto out;
fail:
    r = cli_fail(r, &e, "relay");
out:
    relay_free(rl);
    http_client_free(hc);
    store_close(st);
    return r;
}

int main(int argc, char **argv)
{
    cli_set_program("dti-agent");
    int i = 1;
    /* global --dir before the command */
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir_opt = argv[i + 1];
            i += 2;
        } else if (!strncmp(argv[i], "--dir=", 6)) {
            dir_opt = argv[i] + 6;
            i++;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else {
            return cli_usage("unknown option '%s' (see dti-agent --help)", argv[i]);
        }
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"init", cmd_init},
                {"set", cmd_set},
                {"import", cmd_import},
                {"values", cmd_values},
                {"status", cmd_status},
                {"sync", cmd_sync},
                {"conflicts", cmd_conflicts},
                {"template", cmd_template},
                {"score", cmd_score},
                {"export-bundle", cmd_export_bundle},
                {"import-receipts", cmd_import_receipts},
                {"relay", cmd_relay},
                {"rollup", cmd_rollup}};
    for (size_t k = 0; k < ARRAY_SIZE(cmds); k++)
        if (!strcmp(argv[i], cmds[k].name))
            return cmds[k].fn(argc - i, argv + i);
    return cli_usage("unknown command '%s' (see dti-agent --help)", argv[i]);
}
