/*
 * main.c - the dti-agent command line: init, set, import, values, status,
 * sync. Errors are reported once, here: "dti-agent: cannot ...: reason".
 * `sync` exits 75 (EX_TEMPFAIL) when the hub cannot be reached: nothing is
 * lost, run it again when the link is back.
 */
#include "cli.h"
#include "csv.h"
#include "db.h"
#include "enroll.h"
#include "hlc.h"
#include "http.h"
#include "store.h"
#include "sync.h"
#include "token.h"
#include "util.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMPORT_MAX_ROWS 1000000

static const char *dir_opt;

static const char usage_text[] =
    "usage: dti-agent [--dir DIR] COMMAND [OPTIONS]\n"
    "\n"
    "  init --token TOKEN [--hub https://HOST:PORT] [--fingerprint SHA256]\n"
    "                       make this office's key and enrol with the hub\n"
    "  set ELEMENT VALUE --period P [--unit CODE] [--comment TEXT] [--author NAME]\n"
    "                       record a figure (works offline)\n"
    "  import FILE.csv      record unit,element,period,value[,comment,author] rows, all or none\n"
    "  values [--period P] [--json]   the figures held here\n"
    "  status [--json]      pending records and batches, last sync, last error\n"
    "  conflicts [--json]   what the hub decided about this office's edits, and what is open\n"
    "  sync                 push everything pending, then pull; exit 75 when the hub is\n"
    "                       unreachable (nothing is lost)\n"
    "\n"
    "DIR defaults to $DTI_AGENT_DIR, then ./agent-data.\n";

struct args {
    const char *token, *hub, *fingerprint, *period, *unit, *comment, *author;
    bool json;
};

static const struct option all_opts[] = {
    {"dir", required_argument, NULL, 'd'},      {"help", no_argument, NULL, 'h'},
    {"token", required_argument, NULL, 't'},    {"hub", required_argument, NULL, 'H'},
    {"fingerprint", required_argument, NULL, 'f'}, {"period", required_argument, NULL, 'p'},
    {"unit", required_argument, NULL, 'u'},     {"comment", required_argument, NULL, 'c'},
    {"author", required_argument, NULL, 'a'},   {"json", no_argument, NULL, 'j'},
    {0}};

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
    struct csv *c = NULL;
    struct edit *edits = NULL;
    char **owned = NULL; /* every field string, copied */
    size_t n = 0, cap = 0, nowned = 0, *lines = NULL;
    FILE *f = fopen(file, "rb");
    if (!f) {
        dti_errf(&e, DTI_EIO, "cannot open '%s'", file);
        return cli_fail(DTI_EIO, &e, "import");
    }
    if ((r = csv_open(&c, f)) < 0)
        goto fail;
    char **fld;
    size_t nf;
    bool first = true;
    while ((r = csv_next(c, &fld, &nf, &e)) > 0) {
        size_t line = csv_line(c);
        if (first && nf >= 4 && !strcmp(fld[0], "unit") && !strcmp(fld[1], "element")) {
            first = false; /* header row */
            continue;
        }
        first = false;
        if (nf < 4 || nf > 6) {
            r = dti_errf(&e, DTI_EPARSE, "%s:%zu: %zu fields, expected "
                                         "unit,element,period,value[,comment,author]",
                         file, line, nf);
            goto fail;
        }
        if (n == IMPORT_MAX_ROWS) {
            r = dti_errf(&e, DTI_ETOOBIG, "%s: more than %d rows", file, IMPORT_MAX_ROWS);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            edits = xrealloc(edits, cap * sizeof(*edits));
            lines = xrealloc(lines, cap * sizeof(*lines));
            owned = xrealloc(owned, cap * 6 * sizeof(char *));
        }
        const char *v[6] = {NULL};
        for (size_t i = 0; i < nf; i++)
            v[i] = owned[nowned++] = xstrdup(fld[i]);
        struct edit *ed = &edits[n];
        memset(ed, 0, sizeof(*ed));
        ed->unit = v[0];
        ed->element = v[1];
        ed->period = v[2];
        ed->comment = v[4] && *v[4] ? v[4] : NULL;
        ed->author = v[5] && *v[5] ? v[5] : NULL;
        if ((r = value_parse(v[3], &ed->value, &e)) < 0) {
            char where[300];
            snprintf(where, sizeof(where), "%s:%zu", file, line);
            dti_err_prefix(&e, r, where);
            goto fail;
        }
        lines[n++] = line;
    }
    if (r < 0) {
        dti_err_prefix(&e, r, file);
        goto fail;
    }
    if ((r = open_store(&st)) != 0)
        goto out;
    size_t bad;
    if ((r = store_record(st, edits, n, wall_ms(), &bad, &e)) < 0) {
        char where[300];
        snprintf(where, sizeof(where), "%s:%zu", file, n ? lines[bad] : 0);
        dti_err_prefix(&e, r, where);
        goto fail;
    }
    printf("recorded %zu values from %s (pending sync)\n", n, file);
    r = 0;
    goto out;
fail:
    r = cli_fail(r, &e, "import (nothing was recorded)");
out:
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(edits);
    free(lines);
    csv_free(c);
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
            decided,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s}", "unit", db_column_str(s, 0),
                      "element", db_column_str(s, 1), "period", db_column_str(s, 2), "version",
                      ver, "decision", db_column_str(s, 4), "comment",
                      *db_column_str(s, 5) ? db_column_str(s, 5) : NULL, "by",
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
               json_string_value(json_object_get(o, "decision")), by ? " by " : "",
               by ? by : "", c ? " - " : "", c ? c : "");
    }
    json_decref(open);
    json_decref(decided);
    return 0;
fail:
    sqlite3_finalize(s);
    store_close(st);
    return cli_fail(r, &e, "list conflicts");
}

/* ---- sync ---- */

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
               rep.applied,
               rep.flagged);
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
    } cmds[] = {{"init", cmd_init},     {"set", cmd_set},       {"import", cmd_import},
                {"values", cmd_values}, {"status", cmd_status}, {"sync", cmd_sync},
                {"conflicts", cmd_conflicts}};
    for (size_t k = 0; k < ARRAY_SIZE(cmds); k++)
        if (!strcmp(argv[i], cmds[k].name))
            return cmds[k].fn(argc - i, argv + i);
    return cli_usage("unknown command '%s' (see dti-agent --help)", argv[i]);
}
