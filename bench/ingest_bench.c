/*
 * ingest_bench.c - how fast the hub takes in signed batches over HTTPS,
 * measured against raw SQLite with the same durability, in one run.
 *
 * It builds a hub directory in a temporary directory (schema, the province's
 * units, a hub key, a TLS certificate for 127.0.0.1), enrols K agents
 * directly in the database, one per commune, and seals every agent's batches
 * in memory with the real batch_builder. Then it starts the real
 * `dti-hub serve` as a child process and pushes the batches from K threads,
 * each with its own pinned libcurl connection (agent/http.c), one batch in
 * flight per agent, as a syncing agent would. Last, the same records go
 * straight into a fresh SQLite database (WAL, synchronous=FULL, one
 * transaction per batch, one prepared INSERT, one thread): the baseline.
 *
 * A benchmark, not a test: it prints figures and asserts nothing. It exits
 * non-zero only when it could not run at all.
 */
#include "crypto.h"
#include "db.h"
#include "enroll.h"
#include "envelope.h"
#include "hlc.h"
#include "http.h"
#include "hubdb.h"
#include "problem.h"
#include "receipt.h"
#include "tlscert.h"
#include "util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DTI_HUB_BIN
#define DTI_HUB_BIN "dti-hub"
#endif
#ifndef DTI_UNITS_CSV
#define DTI_UNITS_CSV "units-ninh-thuan-2023.csv"
#endif

#define MAX_AGENTS 64
#define MAX_RECORDS_PER_AGENT 10000000u
#define MIN_ELEMENTS 120
#define NPERIODS 1700             /* 100 years + 400 quarters + 1200 months, 2000-2099 */
#define HTTP_FRAMING_ESTIMATE 250 /* request line and headers of one POST, bytes */
#define AUTHOR "Nguyễn Văn A"
#define START_POLLS 200 /* x 50 ms: how long the hub may take to listen */
#define STOP_POLLS 200  /* x 50 ms: how long the hub may take to stop */
#define POLL_US 50000

/* ---- options ---- */

struct opts {
    size_t agents;
    size_t records; /* per agent */
    size_t batch;
    const char *units;
    const char *hub_bin;
    bool what_if; /* also time the baseline with the changes suggested in README */
    bool keep;
};

static const char usage_text[] =
    "usage: ingest_bench [--agents K] [--records N] [--batch B] [--units FILE.csv]\n"
    "                    [--hub-bin PATH] [--what-if] [--keep]\n"
    "  --agents K     concurrent agents, one per commune (default 4, at most 64)\n"
    "  --records N    records per agent (default 250000)\n"
    "  --batch B      records per batch (default 1000, at most 5000)\n"
    "  --units FILE   administrative units CSV (default the Ninh Thuan 2023 file)\n"
    "  --hub-bin PATH the dti-hub binary to start (default the one built with this bench)\n"
    "  --what-if      also time the baseline with the old key (unit, element, period), and\n"
    "                 with the default page cache (see bench/README.md)\n"
    "  --keep         keep the temporary directory (hub.db, hub.log, baseline.db)\n";

static int parse_size(const char *name, const char *s, uint64_t min, uint64_t max, size_t *out)
{
    uint64_t v;
    if (!s || parse_u64(s, max, &v) < 0 || v < min) {
        fprintf(stderr, "ingest_bench: %s must be an integer in %" PRIu64 "..%" PRIu64 "\n", name,
                min, max);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    o->agents = 4;
    o->records = 250000;
    o->batch = 1000;
    o->units = DTI_UNITS_CSV;
    o->hub_bin = DTI_HUB_BIN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0;
        bool takes_value = true;
        if (!strcmp(a, "--agents"))
            r = parse_size(a, v, 1, MAX_AGENTS, &o->agents);
        else if (!strcmp(a, "--records"))
            r = parse_size(a, v, 1, MAX_RECORDS_PER_AGENT, &o->records);
        else if (!strcmp(a, "--batch"))
            r = parse_size(a, v, 1, BATCH_MAX_RECORDS, &o->batch);
        else if (!strcmp(a, "--units") && v)
            o->units = v;
        else if (!strcmp(a, "--hub-bin") && v)
            o->hub_bin = v;
        else
            takes_value = false;
        if (takes_value) {
            if (r < 0)
                return -1;
            i++;
            continue;
        }
        if (!strcmp(a, "--what-if"))
            o->what_if = true;
        else if (!strcmp(a, "--keep"))
            o->keep = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            exit(0);
        } else {
            fprintf(stderr, "ingest_bench: unknown option or missing argument '%s'\n%s", a,
                    usage_text);
            return -1;
        }
    }
    return 0;
}

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a live process from /proc, in seconds; < 0 if unreadable. */
static double cpu_of_pid_s(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    /* after ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Bytes a process has handed to write(2)/pwrite(2) so far ("wchar" in
 * /proc/PID/io; "self" for this process); 0 if unreadable. */
static uint64_t written_by(const char *pid)
{
    char path[64], line[128];
    uint64_t v = 0;
    snprintf(path, sizeof(path), "/proc/%s/io", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    for (int i = 0; i < 16 && fgets(line, sizeof(line), f); i++)
        if (!strncmp(line, "wchar: ", 7)) {
            line[strcspn(line, "\n")] = '\0';
            if (parse_u64(line + 7, UINT64_MAX, &v) < 0)
                v = 0;
            break;
        }
    fclose(f);
    return v;
}

/* Remove dir and what it holds, two levels deep (the bench makes no more). */
static void remove_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *p = path_join(dir, de->d_name);
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && depth > 0)
                remove_tree(p, depth - 1);
            else
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* A database file and its -wal and -shm companions. */
static void remove_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
        char *p = xasprintf("%s%s", path, sfx[i]);
        unlink(p);
        free(p);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* 1234567 -> "1,234,567" */
static const char *group(double v, char out[32])
{
    char raw[32];
    snprintf(raw, sizeof(raw), "%.0f", v);
    size_t n = strlen(raw), o = 0;
    for (size_t i = 0; i < n && o + 2 < 32; i++) {
        if (i && (n - i) % 3 == 0 && raw[i - 1] != '-')
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
    return out;
}

/* splitmix64: a deterministic value per (agent, record), so the baseline
 * regenerates exactly the records the agents sealed. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* ---- the workload ---- */

static const char *const texts[] = {"đạt",        "chưa đạt", "Tốt", "Khá", "đang triển khai",
                                    "hoàn thành", "không có"};
static const char *const sectors[] = {"dan_so",      "lao_dong", "giao_duc",  "y_te",
                                      "nong_nghiep", "ha_tang",  "ngan_sach", "an_sinh"};

struct agent {
    char unit[UNIT_CODE_MAX + 1];
    char id[AGENT_ID_LEN + 1];
    struct signer *key;
    uint64_t hlc0; /* version of record 0 is hlc0 + 1 */
    size_t nbatches;
    unsigned char **env; /* sealed envelopes, owned */
    size_t *env_len;
    uint8_t (*hash)[CRYPTO_SHA256_LEN];
};

struct bench {
    struct opts o;
    char *tmp, *hubdir, *log_path;
    char periods[NPERIODS][PERIOD_MAX + 1];
    size_t nelem;
    char (*elements)[ELEMENT_CODE_MAX + 1];
    struct agent agents[MAX_AGENTS];
    struct signer *hub_key;
    uint8_t hub_pub[CRYPTO_PUBKEY_LEN];
    char fingerprint[CRYPTO_FP_HEX_LEN + 1];
    uint64_t env_bytes;
    size_t total_batches;
};

/* Periods in the order an office fills them: 2023 first, then the other
 * years, quarters and months of 2000-2099. */
static void make_periods(struct bench *b)
{
    size_t n = 0;
    snprintf(b->periods[n++], PERIOD_MAX + 1, "2023");
    for (int y = 2000; y <= 2099; y++)
        if (y != 2023)
            snprintf(b->periods[n++], PERIOD_MAX + 1, "%d", y);
    for (int y = 2000; y <= 2099; y++)
        for (int q = 1; q <= 4; q++)
            snprintf(b->periods[n++], PERIOD_MAX + 1, "%dQ%d", y, q);
    for (int y = 2000; y <= 2099; y++)
        for (int m = 1; m <= 12; m++)
            snprintf(b->periods[n++], PERIOD_MAX + 1, "%d-%02d", y, m);
}

/* Element codes in three styles a framework might use: "e001",
 * "chi_so_3_7", "y_te.chi_tieu_04". At least MIN_ELEMENTS; more when the
 * records per agent exceed what MIN_ELEMENTS x NPERIODS keys can hold. */
static void make_elements(struct bench *b)
{
    size_t need = (b->o.records + NPERIODS - 1) / NPERIODS;
    b->nelem = need > MIN_ELEMENTS ? need : MIN_ELEMENTS;
    b->elements = xcalloc(b->nelem, sizeof(*b->elements));
    for (size_t i = 0; i < b->nelem; i++) {
        switch (i % 3) {
        case 0:
            snprintf(b->elements[i], ELEMENT_CODE_MAX + 1, "e%03zu", i + 1);
            break;
        case 1:
            snprintf(b->elements[i], ELEMENT_CODE_MAX + 1, "chi_so_%zu_%zu", i / 10 + 1,
                     i % 10 + 1);
            break;
        default:
            snprintf(b->elements[i], ELEMENT_CODE_MAX + 1, "%s.chi_tieu_%02zu",
                     sectors[(i / 3) % ARRAY_SIZE(sectors)], i / 24 + 1);
            break;
        }
    }
}

/* Record i of agent a, in the order an office enters them: period by
 * period, every element of a period (so a batch of 1000 spans ~7 periods).
 * Integers 0..500, ~10% booleans, ~2% short Vietnamese text. */
static void make_record(const struct bench *b, size_t a, size_t i, struct record *rec)
{
    const struct agent *ag = &b->agents[a];
    uint64_t r = mix(((uint64_t)a << 40) ^ i);
    memset(rec, 0, sizeof(*rec));
    rec->unit = ag->unit;
    rec->element = b->elements[i % b->nelem];
    rec->period = b->periods[i / b->nelem];
    unsigned pct = (unsigned)(r % 100);
    if (pct < 10) {
        rec->value.kind = VALUE_BOOL;
        rec->value.b = (r >> 8) & 1;
    } else if (pct < 12) {
        rec->value.kind = VALUE_TEXT;
        rec->value.text = texts[(r >> 8) % ARRAY_SIZE(texts)];
    } else {
        rec->value.kind = VALUE_NUMBER;
        rec->value.num = (double)((r >> 16) % 501);
    }
    rec->hlc = ag->hlc0 + i + 1; /* an import: one clock tick per edit */
    rec->base_hlc = 0;           /* every key is new: every record is an insert */
    rec->base_origin = "";
    rec->author = AUTHOR;
    rec->comment = "";
}

/* ---- setting up the hub directory ---- */

static int setup_hub(struct bench *b)
{
    struct dti_err e = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    FILE *f = NULL;
    char *keypath = path_join(b->hubdir, "hub.key");
    char *cert = path_join(b->hubdir, "tls.crt"), *tlskey = path_join(b->hubdir, "tls.key");
    size_t nunits = 0, found = 0;
    int r;
    if ((r = hubdb_open(&db, b->hubdir, true, &e)) < 0)
        goto out;
    if (!(f = fopen(b->o.units, "rb"))) {
        r = dti_errf(&e, DTI_EIO, "cannot open '%s': %s", b->o.units, strerror(errno));
        goto out;
    }
    if ((r = units_import(db, f, b->o.units, &nunits, &e)) < 0)
        goto out;
    if ((r = signer_generate(&b->hub_key)) < 0 || (r = signer_save(b->hub_key, keypath, &e)) < 0)
        goto out;
    signer_public(b->hub_key, b->hub_pub);
    if ((r = tlscert_generate("127.0.0.1", cert, tlskey, &e)) < 0 ||
        (r = tlscert_fingerprint_file(cert, b->fingerprint, &e)) < 0)
        goto out;
    if ((r = db_prepare(db, &st,
                        "SELECT code FROM units WHERE level = 'commune' ORDER BY code LIMIT ?1",
                        &e)) < 0)
        goto out;
    sqlite3_bind_int(st, 1, (int)b->o.agents);
    while (found < b->o.agents && sqlite3_step(st) == SQLITE_ROW)
        snprintf(b->agents[found++].unit, UNIT_CODE_MAX + 1, "%s", db_column_str(st, 0));
    if (found < b->o.agents) {
        r = dti_errf(&e, DTI_EUNIT, "%s holds %zu commune units, %zu agents asked for", b->o.units,
                     found, b->o.agents);
        goto out;
    }
    uint64_t now = wall_ms();
    for (size_t a = 0; a < b->o.agents; a++) {
        struct agent *ag = &b->agents[a];
        uint8_t pub[CRYPTO_PUBKEY_LEN];
        if ((r = signer_generate(&ag->key)) < 0) {
            dti_errf(&e, r, "cannot make an agent key");
            goto out;
        }
        signer_public(ag->key, pub);
        enroll_agent_id(pub, ag->id);
        if ((r = agents_create(db, ag->id, ag->unit, pub, now, &e)) < 0)
            goto out;
        ag->hlc0 = hlc_make(now, 0);
    }
    printf("hub directory: %zu units imported from %s; %zu agents enrolled for communes", nunits,
           b->o.units, b->o.agents);
    for (size_t a = 0; a < b->o.agents && a < 8; a++)
        printf(" %s", b->agents[a].unit);
    printf("%s\n", b->o.agents > 8 ? " ..." : "");
out:
    if (r < 0)
        fprintf(stderr, "ingest_bench: cannot set up the hub: %s\n", dti_err_text(&e, r));
    sqlite3_finalize(st);
    if (f)
        fclose(f);
    db_close(db);
    free(keypath);
    free(cert);
    free(tlskey);
    return r;
}

/* ---- sealing ---- */

static int seal_all(struct bench *b)
{
    struct dti_err e = {0};
    struct buf out;
    buf_init(&out, ENVELOPE_MAX);
    int r = 0;
    size_t B = b->o.batch, N = b->o.records;
    double t0 = now_s();
    for (size_t a = 0; a < b->o.agents && r == 0; a++) {
        struct agent *ag = &b->agents[a];
        ag->nbatches = (N + B - 1) / B;
        ag->env = xcalloc(ag->nbatches, sizeof(*ag->env));
        ag->env_len = xcalloc(ag->nbatches, sizeof(*ag->env_len));
        ag->hash = xcalloc(ag->nbatches, sizeof(*ag->hash));
        for (size_t k = 0; k < ag->nbatches; k++) {
            struct batch_builder *bb;
            batch_builder_new(&bb);
            size_t first = k * B, last = first + B < N ? first + B : N;
            struct record rec = {0};
            for (size_t i = first; i < last; i++) {
                make_record(b, a, i, &rec);
                batch_builder_add(bb, &rec);
            }
            struct batch_header h = {0};
            memcpy(h.agent_id, ag->id, sizeof(h.agent_id));
            h.seq = k + 1;
            h.has_prev = k > 0;
            if (k > 0)
                memcpy(h.prev_hash, ag->hash[k - 1], CRYPTO_SHA256_LEN);
            h.hlc = rec.hlc + 1; /* the clock when sealed: after its last edit */
            r = batch_builder_seal(bb, &h, ag->key, &out, ag->hash[k], &e);
            batch_builder_free(bb);
            if (r < 0) {
                fprintf(stderr, "ingest_bench: cannot seal batch %zu of agent %s: %s\n", k + 1,
                        ag->id, dti_err_text(&e, r));
                break;
            }
            ag->env_len[k] = out.len;
            ag->env[k] = buf_take(&out, &ag->env_len[k]);
            b->env_bytes += ag->env_len[k];
            b->total_batches++;
        }
    }
    double dt = now_s() - t0;
    buf_release(&out);
    if (r == 0 && dt > 0) {
        char g[32];
        printf("sealed %zu envelopes in %.2f s (agent side, before the clock starts: %s "
               "records/s on one core)\n",
               b->total_batches, dt, group((double)(N * b->o.agents) / dt, g));
    }
    return r;
}

/* ---- the hub process ---- */

struct hub_proc {
    pid_t pid;
    unsigned port;
    struct rusage ru;
    int status;
    bool reaped;
};

/* The hub's output, to stderr, when something went wrong (bounded). */
static void print_log(const char *path)
{
    char *log = NULL;
    size_t len;
    if (read_file_bounded(path, 1 << 20, &log, &len) == 0)
        fprintf(stderr, "--- %s ---\n%s--- end ---\n", path, log);
    free(log);
}

/* Start `dti-hub serve` on an ephemeral port; its output goes to hub.log,
 * where it announces the port it bound. */
static int hub_start(struct bench *b, struct hub_proc *hp)
{
    memset(hp, 0, sizeof(*hp));
    int fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "ingest_bench: cannot create '%s': %s\n", b->log_path, strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ingest_bench: cannot fork: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        char *const argv[] = {(char *)b->o.hub_bin, "--dir",       b->hubdir, "serve",
                              "--listen",           "127.0.0.1:0", NULL};
        execv(b->o.hub_bin, argv);
        fprintf(stderr, "ingest_bench: cannot run '%s': %s\n", b->o.hub_bin, strerror(errno));
        _exit(127);
    }
    close(fd);
    hp->pid = pid;
    static const char marker[] = "listening on https://127.0.0.1:";
    for (int i = 0; i < START_POLLS; i++) {
        char *log = NULL;
        size_t len;
        if (read_file_bounded(b->log_path, 1 << 20, &log, &len) == 0) {
            const char *p = strstr(log, marker);
            uint64_t port = 0;
            if (p) {
                char digits[8] = "";
                size_t k = 0;
                p += strlen(marker);
                while (k < sizeof(digits) - 1 && p[k] >= '0' && p[k] <= '9') {
                    digits[k] = p[k];
                    k++;
                }
                digits[k] = '\0';
                if (parse_u64(digits, 65535, &port) == 0 && port) {
                    hp->port = (unsigned)port;
                    free(log);
                    return 0;
                }
            }
            free(log);
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            hp->reaped = true;
            fprintf(stderr, "ingest_bench: the hub exited before listening\n");
            print_log(b->log_path);
            return -1;
        }
        usleep(POLL_US);
    }
    fprintf(stderr, "ingest_bench: the hub did not listen within %d s\n",
            START_POLLS * POLL_US / 1000000);
    print_log(b->log_path);
    return -1;
}

/* SIGTERM, then wait (bounded) and collect its resource usage; SIGKILL if it hangs. */
static void hub_stop(struct hub_proc *hp)
{
    if (!hp->pid || hp->reaped)
        return;
    kill(hp->pid, SIGTERM);
    for (int i = 0; i < STOP_POLLS; i++) {
        if (wait4(hp->pid, &hp->status, WNOHANG, &hp->ru) == hp->pid) {
            hp->reaped = true;
            return;
        }
        usleep(POLL_US);
    }
    fprintf(stderr, "ingest_bench: the hub ignored SIGTERM; killing pid %ld\n", (long)hp->pid);
    kill(hp->pid, SIGKILL);
    if (wait4(hp->pid, &hp->status, 0, &hp->ru) == hp->pid)
        hp->reaped = true;
}

/* ---- the agents ---- */

/* Holds the client threads until every one is ready, then lets them go at
 * once (or tells them to give up). */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 wait, 1 go, -1 give up */
};

static void gate_set(struct gate *g, int state)
{
    pthread_mutex_lock(&g->mu);
    g->state = state;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static int gate_wait(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->state == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    int state = g->state;
    pthread_mutex_unlock(&g->mu);
    return state;
}

struct client {
    struct bench *b;
    size_t a;
    struct http_client *http;
    struct transport t;
    struct gate *start;
    size_t ok, failed;
    char first_error[512];
    struct buf last;     /* the last receipt */
    uint64_t down_bytes; /* receipt bytes received */
    double *latency;     /* per batch, seconds */
};

static void *client_run(void *arg)
{
    struct client *c = arg;
    struct agent *ag = &c->b->agents[c->a];
    if (gate_wait(c->start) < 0)
        return NULL;
    for (size_t k = 0; k < ag->nbatches; k++) {
        struct response resp = {0};
        struct dti_err e = {0};
        double t0 = now_s();
        int r = c->t.post(c->t.ctx, "/v1/batches", ag->env[k], ag->env_len[k], &resp, &e);
        c->latency[k] = now_s() - t0;
        if (r == 0 && resp.status == 200) {
            c->ok++;
            c->down_bytes += resp.body.len;
            buf_release(&c->last);
            c->last = resp.body;
            continue;
        }
        /* a refused batch breaks the chain: the rest would all be gaps */
        c->failed += ag->nbatches - k;
        if (r < 0) {
            snprintf(c->first_error, sizeof(c->first_error), "batch %zu: %s", k + 1,
                     dti_err_text(&e, r));
        } else {
            struct problem pb = {0};
            problem_decode(resp.body.data, resp.body.len, &pb);
            snprintf(c->first_error, sizeof(c->first_error), "batch %zu: HTTP %ld %s: %s", k + 1,
                     resp.status, pb.reason, pb.message);
            buf_release(&resp.body);
        }
        break;
    }
    return NULL;
}

/* GET /v1/health until it answers 200 (bounded): the hub is up and this
 * client's TLS connection is open before the clock starts. */
static int health(struct client *c)
{
    struct dti_err e = {0};
    int r = DTI_EUNREACHABLE;
    for (int i = 0; i < START_POLLS; i++) {
        struct response resp = {0};
        dti_err_clear(&e);
        r = c->t.get(c->t.ctx, "/v1/health", NULL, &resp, &e);
        long status = resp.status;
        if (r == 0)
            buf_release(&resp.body);
        if (r == 0 && status == 200)
            return 0;
        if (r == DTI_EPIN || r == DTI_ETLS)
            break;
        usleep(POLL_US);
    }
    fprintf(stderr, "ingest_bench: /v1/health did not answer: %s\n", dti_err_text(&e, r));
    return r < 0 ? r : DTI_EHTTP;
}

struct hub_result {
    double wall, hub_cpu, self_cpu;
    uint64_t hub_written; /* bytes the hub wrote in the timed window */
    size_t ok, failed, verified;
    size_t ok_by_agent[MAX_AGENTS];
    uint64_t down_bytes;
    double p50, p99, pmax;
    uint64_t held;
    double hub_total_cpu;
    long hub_maxrss_kb;
};

static void verify_receipts(struct bench *b, struct client *cl, struct hub_result *hr)
{
    for (size_t a = 0; a < b->o.agents; a++) {
        struct client *c = &cl[a];
        struct agent *ag = &b->agents[a];
        struct receipt rc = {0};
        struct dti_err e = {0};
        if (c->ok == 0)
            continue;
        int r = receipt_open(c->last.data, c->last.len, b->hub_pub, &rc, &e);
        size_t k = c->ok - 1, accepted = 0;
        if (r == 0) {
            for (size_t i = 0; i < rc.n; i++)
                accepted += rc.outcomes[i] == OUTCOME_ACCEPTED;
            bool good = rc.seq == k + 1 && !strcmp(rc.agent_id, ag->id) &&
                        !memcmp(rc.batch_hash, ag->hash[k], CRYPTO_SHA256_LEN) &&
                        accepted == rc.n && rc.n == (k + 1 < ag->nbatches ? b->o.batch : rc.n);
            if (good)
                hr->verified++;
            else
                printf("  agent %s: receipt of batch %zu says seq %" PRIu64
                       ", %zu of %zu accepted\n",
                       ag->id, k + 1, rc.seq, accepted, rc.n);
        } else {
            printf("  agent %s: receipt of batch %zu does not verify: %s\n", ag->id, k + 1,
                   dti_err_text(&e, r));
        }
        receipt_release(&rc);
    }
}

static uint64_t count_values(const char *dir)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct dti_err e = {0};
    uint64_t n = 0;
    if (hubdb_open(&db, dir, false, &e) == 0 &&
        db_prepare(db, &st, "SELECT count(*) FROM vals", &e) == 0 && sqlite3_step(st) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    db_close(db);
    return n;
}

static int run_hub(struct bench *b, struct hub_result *hr)
{
    struct hub_proc hp;
    struct client cl[MAX_AGENTS];
    pthread_t th[MAX_AGENTS];
    struct gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    size_t K = b->o.agents, started = 0;
    int r = -1;
    memset(cl, 0, sizeof(cl));
    memset(hr, 0, sizeof(*hr));
    if (hub_start(b, &hp) < 0)
        goto out;
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", hp.port);
    for (size_t a = 0; a < K; a++) {
        struct dti_err e = {0};
        struct client *c = &cl[a];
        c->b = b;
        c->a = a;
        c->start = &start;
        buf_init(&c->last, TRANSPORT_MAX_RESPONSE);
        c->latency = xcalloc(b->agents[a].nbatches, sizeof(double));
        /* created here, one after another: http_client_new is not thread-safe */
        if (http_client_new(&c->http, url, b->fingerprint, &e) < 0) {
            fprintf(stderr, "ingest_bench: %s\n", dti_err_text(&e, e.code));
            goto out;
        }
        c->t = http_transport(c->http);
        if (health(c) < 0)
            goto out;
    }
    for (; started < K; started++)
        if (pthread_create(&th[started], NULL, client_run, &cl[started]) != 0) {
            fprintf(stderr, "ingest_bench: cannot start a thread\n");
            gate_set(&start, -1);
            for (size_t a = 0; a < started; a++)
                pthread_join(th[a], NULL);
            goto out;
        }
    char pid[24];
    snprintf(pid, sizeof(pid), "%ld", (long)hp.pid);
    double cpu0 = cpu_of_pid_s(hp.pid), self0 = cpu_self_s();
    uint64_t w0 = written_by(pid);
    double t0 = now_s();
    gate_set(&start, 1);
    for (size_t a = 0; a < K; a++)
        pthread_join(th[a], NULL);
    hr->wall = now_s() - t0;
    hr->hub_cpu = cpu_of_pid_s(hp.pid) - cpu0;
    hr->hub_written = written_by(pid) - w0;
    hr->self_cpu = cpu_self_s() - self0;

    size_t nlat = 0;
    double *lat = xcalloc(b->total_batches ? b->total_batches : 1, sizeof(double));
    for (size_t a = 0; a < K; a++) {
        hr->ok += cl[a].ok;
        hr->ok_by_agent[a] = cl[a].ok;
        hr->failed += cl[a].failed;
        hr->down_bytes += cl[a].down_bytes;
        for (size_t k = 0; k < cl[a].ok; k++)
            lat[nlat++] = cl[a].latency[k];
        if (cl[a].first_error[0])
            printf("  agent %s failed: %s\n", b->agents[a].id, cl[a].first_error);
    }
    if (nlat) {
        qsort(lat, nlat, sizeof(double), cmp_double);
        hr->p50 = lat[nlat / 2];
        hr->p99 = lat[(nlat * 99) / 100];
        hr->pmax = lat[nlat - 1];
    }
    free(lat);
    verify_receipts(b, cl, hr);
    r = 0;
out:
    for (size_t a = 0; a < K; a++) {
        http_client_free(cl[a].http);
        buf_release(&cl[a].last);
        free(cl[a].latency);
    }
    hub_stop(&hp);
    if (hp.reaped) {
        hr->hub_total_cpu = (double)hp.ru.ru_utime.tv_sec + (double)hp.ru.ru_utime.tv_usec / 1e6 +
                            (double)hp.ru.ru_stime.tv_sec + (double)hp.ru.ru_stime.tv_usec / 1e6;
        hr->hub_maxrss_kb = hp.ru.ru_maxrss;
    }
    if (r == 0)
        hr->held = count_values(b->hubdir);
    return r;
}

/* ---- the baseline ---- */

/* The hub's vals table (hub/hubdb.c): the same columns, table kind, key
 * (unit, period, element) and page cache as the serving hub, unless a what-if
 * changes them. */
static const char baseline_columns[] =
    "CREATE TABLE vals("
    "  unit TEXT NOT NULL, element TEXT NOT NULL, period TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, num REAL, txt TEXT,"
    "  hlc INTEGER NOT NULL, origin TEXT NOT NULL, auth INTEGER NOT NULL,"
    "  base_hlc INTEGER NOT NULL DEFAULT 0, base_origin TEXT,"
    "  author TEXT, comment TEXT, seq INTEGER, chg INTEGER NOT NULL,";

struct baseline {
    const char *name; /* what is printed */
    const char *file; /* in the temporary directory */
    const char *key;
    const char *pragma; /* run after db_open, or NULL */
    double wall, cpu;
    uint64_t rows, written;
};

/* The same records straight into SQLite: db_open's settings (WAL,
 * synchronous=FULL, as the hub), one transaction per batch, batches taken
 * round-robin across agents as the hub sees them, one thread. */
static int run_baseline(struct bench *b, struct baseline *bl)
{
    struct dti_err e = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *path = path_join(b->tmp, bl->file);
    char *schema = xasprintf("%s PRIMARY KEY(%s)) WITHOUT ROWID", baseline_columns, bl->key);
    size_t B = b->o.batch, N = b->o.records, nb = (N + B - 1) / B;
    uint64_t chg = 0;
    int r;
    bl->rows = 0;
    if ((r = db_open(&db, path, 1, &e)) < 0 ||
        (bl->pragma && (r = db_exec(db, bl->pragma, &e)) < 0) ||
        (r = db_exec(db, schema, &e)) < 0 ||
        (r = db_prepare(db, &st,
                        "INSERT INTO vals(unit, element, period, kind, num, txt, hlc, origin, "
                        "auth, base_hlc, base_origin, author, comment, seq, chg) VALUES (?1, ?2, "
                        "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                        &e)) < 0)
        goto out;
    double t0 = now_s(), c0 = cpu_self_s();
    uint64_t w0 = written_by("self");
    for (size_t k = 0; k < nb; k++)
        for (size_t a = 0; a < b->o.agents; a++) {
            if ((r = db_begin(db, &e)) < 0)
                goto out;
            size_t first = k * B, last = first + B < N ? first + B : N;
            for (size_t i = first; i < last; i++) {
                struct record rec;
                make_record(b, a, i, &rec);
                sqlite3_reset(st);
                sqlite3_bind_text(st, 1, rec.unit, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, rec.element, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, rec.period, -1, SQLITE_STATIC);
                db_bind_value(st, 4, &rec.value);
                sqlite3_bind_int64(st, 7, (sqlite3_int64)rec.hlc);
                sqlite3_bind_text(st, 8, b->agents[a].id, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 9, AUTH_COMMUNE);
                sqlite3_bind_int64(st, 10, 0);
                sqlite3_bind_null(st, 11);
                db_bind_text_or_null(st, 12, rec.author);
                sqlite3_bind_null(st, 13);
                sqlite3_bind_int64(st, 14, (sqlite3_int64)(k + 1));
                sqlite3_bind_int64(st, 15, (sqlite3_int64)++chg);
                if (sqlite3_step(st) != SQLITE_DONE) {
                    r = db_fail(db, &e, "insert");
                    goto out;
                }
                bl->rows++;
            }
            if ((r = db_commit(db, &e)) < 0)
                goto out;
        }
    bl->wall = now_s() - t0;
    bl->cpu = cpu_self_s() - c0;
    bl->written = written_by("self") - w0;
out:
    if (r < 0) {
        fprintf(stderr, "ingest_bench: baseline %s: %s\n", bl->name, dti_err_text(&e, r));
        db_rollback(db);
    }
    sqlite3_finalize(st);
    db_close(db);
    if (!b->o.keep)
        remove_db(path);
    free(schema);
    free(path);
    return r;
}

/* ---- main ---- */

static const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

int main(int argc, char **argv)
{
    static struct bench bench; /* large: periods and agents */
    struct bench *b = &bench;
    int rc = 1;
    if (parse_opts(argc, argv, &b->o) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *tmpbase = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    b->tmp = xasprintf("%s/dti-ingest-bench-XXXXXX", tmpbase);
    if (!mkdtemp(b->tmp)) {
        fprintf(stderr, "ingest_bench: cannot create a directory in '%s': %s\n", tmpbase,
                strerror(errno));
        free(b->tmp);
        return 1;
    }
    b->hubdir = path_join(b->tmp, "hub");
    b->log_path = path_join(b->tmp, "hub.log");
    make_periods(b);
    make_elements(b);
    size_t total = b->o.agents * b->o.records;
    char g1[32], g2[32], g3[32];
    printf("dtisync ingest benchmark (figures only; nothing is asserted)\n");
    printf("workload: %zu agents x %s records = %s records in batches of %zu; keys %zu elements "
           "x %zu periods per commune, all new; integers 0-500, ~10%% booleans, ~2%% "
           "Vietnamese text, author \"%s\"; entered period by period\n",
           b->o.agents, group((double)b->o.records, g1), group((double)total, g2), b->o.batch,
           b->nelem, (b->o.records + b->nelem - 1) / b->nelem, AUTHOR);
    printf("temporary directory: %s%s\n", b->tmp, b->o.keep ? " (kept)" : "");

    struct hub_result hr = {0};
    struct baseline base = {.name = "as the hub",
                            .file = "baseline.db",
                            .key = "unit, period, element",
                            .pragma = "PRAGMA cache_size=-131072"};
    struct baseline what_if[] = {
        {.name = "what-if: the old key (unit, element, period)",
         .file = "whatif-oldkey.db",
         .key = "unit, element, period",
         .pragma = "PRAGMA cache_size=-131072"},
        {.name = "what-if: default page cache",
         .file = "whatif-cache.db",
         .key = "unit, period, element"},
    };
    if (setup_hub(b) < 0 || seal_all(b) < 0)
        goto out;
    printf("hub: %s serve on 127.0.0.1, %zu client threads (libcurl, keep-alive, TCP_NODELAY, "
           "pinned certificate), one batch in flight per agent\n",
           b->o.hub_bin, b->o.agents);
    if (run_hub(b, &hr) < 0)
        goto out;
    printf("baseline: the same records into a fresh SQLite database (WAL, synchronous=FULL), "
           "one transaction per batch, one thread\n");
    if (run_baseline(b, &base) < 0)
        goto out;
    for (size_t i = 0; b->o.what_if && i < ARRAY_SIZE(what_if); i++)
        if (run_baseline(b, &what_if[i]) < 0)
            goto out;

    /* records in acknowledged batches (an agent's last batch may be short) */
    uint64_t hub_records = 0;
    for (size_t a = 0; a < b->o.agents; a++)
        for (size_t k = 0; k < hr.ok_by_agent[a]; k++)
            hub_records += k * b->o.batch + b->o.batch <= b->o.records
                               ? b->o.batch
                               : b->o.records - k * b->o.batch;
    double hub_rps = hr.wall > 0 ? (double)hub_records / hr.wall : 0;
    double base_rps = base.wall > 0 ? (double)base.rows / base.wall : 0;
    double bpr = (double)b->env_bytes / (double)total;
    double bpr_http =
        (double)(b->env_bytes + (uint64_t)HTTP_FRAMING_ESTIMATE * b->total_batches) / (double)total;
    double ratio = base_rps > 0 ? hub_rps / base_rps : 0;

    printf("\nresults\n");
    printf("  hub over HTTPS        %12s records/s  %8.1f batches/s  (%s records in %.2f s; "
           "%zu batches acknowledged, %zu failed)\n",
           group(hub_rps, g1), hr.wall > 0 ? (double)hr.ok / hr.wall : 0,
           group((double)hub_records, g2), hr.wall, hr.ok, hr.failed);
    printf("    latency per batch   p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", hr.p50 * 1e3,
           hr.p99 * 1e3, hr.pmax * 1e3);
    if (hr.hub_cpu >= 0 && hr.wall > 0)
        printf("    hub CPU             %.2f s in the timed window = %.0f%% of one core, %.2f "
               "us/record (whole run %.2f s, peak RSS %ld MB)\n",
               hr.hub_cpu, 100 * hr.hub_cpu / hr.wall,
               hub_records ? 1e6 * hr.hub_cpu / (double)hub_records : 0, hr.hub_total_cpu,
               hr.hub_maxrss_kb / 1024);
    if (hub_records)
        printf("    hub writes          %.0f bytes/record to its files (WAL frames, checkpoints, "
               "stored envelopes)\n",
               (double)hr.hub_written / (double)hub_records);
    printf("    agents' CPU         %.2f s in the timed window (the %zu client threads, same "
           "2 cores)\n",
           hr.self_cpu, b->o.agents);
    printf("    last receipts       %zu of %zu verified with the hub key (seq, hash, every "
           "record accepted)\n",
           hr.verified, b->o.agents);
    printf("    hub holds           %s values (expected %s)\n", group((double)hr.held, g1),
           group((double)total, g2));
    printf("  SQLite baseline       %12s records/s  (%s records in %.2f s)\n", group(base_rps, g1),
           group((double)base.rows, g2), base.wall);
    if (base.wall > 0 && base.rows)
        printf("    baseline CPU        %.2f s = %.0f%% of one core, %.2f us/record (the rest of "
               "the time waits for fsync)\n",
               base.cpu, 100 * base.cpu / base.wall, 1e6 * base.cpu / (double)base.rows);
    if (base.rows)
        printf("    baseline writes     %.0f bytes/record to its files\n",
               (double)base.written / (double)base.rows);
    for (size_t i = 0; b->o.what_if && i < ARRAY_SIZE(what_if); i++) {
        const struct baseline *w = &what_if[i];
        if (w->wall > 0 && w->rows)
            printf("  %-36s %12s records/s  (%.2fx the baseline; %.2f us CPU and %.0f bytes "
                   "written per record)\n",
                   w->name, group((double)w->rows / w->wall, g1),
                   base_rps > 0 ? (double)w->rows / w->wall / base_rps : 0,
                   1e6 * w->cpu / (double)w->rows, (double)w->written / (double)w->rows);
    }
    printf("  wire, agent to hub    %.2f bytes/record in envelopes (%s bytes); ~%.2f with "
           "~%d bytes of HTTP/1.1 headers per request\n",
           bpr, group((double)b->env_bytes, g3), bpr_http, HTTP_FRAMING_ESTIMATE);
    printf("  wire, hub to agent    %.2f bytes/record in receipts (one outcome byte per "
           "record + signature)\n",
           hub_records ? (double)hr.down_bytes / (double)hub_records : 0);

    printf("\nsummary\n");
    printf("  hub ingest        %12s records/s   target >= 150,000      %s\n", group(hub_rps, g1),
           verdict(hub_rps >= 150000));
    printf("  SQLite baseline   %12s records/s\n", group(base_rps, g1));
    printf("  hub / baseline    %12.2f             target >= 0.50         %s\n", ratio,
           verdict(ratio >= 0.5));
    printf("  bytes/record      %12.2f             target <= 10           %s  (%.2f with HTTP "
           "headers)\n",
           bpr, verdict(bpr <= 10), bpr_http);
    if (hr.hub_cpu >= 0 && hr.wall > 0)
        printf("  hub CPU           %12.2f us/record  (%.0f%% of one core)\n",
               hub_records ? 1e6 * hr.hub_cpu / (double)hub_records : 0,
               100 * hr.hub_cpu / hr.wall);
    rc = 0;
out:
    for (size_t a = 0; a < b->o.agents; a++) {
        struct agent *ag = &b->agents[a];
        for (size_t k = 0; ag->env && k < ag->nbatches; k++)
            free(ag->env[k]);
        free(ag->env);
        free(ag->env_len);
        free(ag->hash);
        signer_free(ag->key);
    }
    signer_free(b->hub_key);
    free(b->elements);
    if (!b->o.keep)
        remove_tree(b->tmp, 2);
    free(b->tmp);
    free(b->hubdir);
    free(b->log_path);
    curl_global_cleanup();
    return rc;
}
