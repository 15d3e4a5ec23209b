/*
 * server.c - the hub's routes on net/httpsd (TLS, limits, signals and the
 * shape of refusals live there), and the WAL checkpoint thread. The work
 * itself is in ingest.c, enrol.c and feed.c.
 */
#include "server.h"
#include "buf.h"
#include "changes.h"
#include "db.h"
#include "hubdb.h"
#include "envelope.h"
#include "enrol.h"
#include "feed.h"
#include "httpsd.h"
#include "ingest.h"
#include "problem.h"
#include "report.h"
#include "util.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CT_PROTOBUF HTTPSD_CT_PROTOBUF
#define PULL_CONTEXT "dti-pull-v1\n"

#define SERVE_CACHE_KIB (128 * 1024) /* page cache of the serving connection */
#define CHECKPOINT_EVERY_MS 200

/* WAL checkpoints run on their own thread and connection, so copying pages
 * back to the database (a fifth of ingest time when done inside a commit)
 * happens on the other core, never inside a request. PASSIVE: it never
 * blocks the writer. */
struct checkpointer {
    pthread_t thread;
    sqlite3 *db;
    atomic_bool stop;
    bool running;
};

struct server {
    struct checkpointer ckpt;
    struct httpsd *httpsd;
    sqlite3 *db;
    const struct signer *hub;
    struct ingest *ingest;
    struct buf out;
};

static void reply(struct evhttp_request *req, int status, const void *body, size_t len)
{
    httpsd_reply(req, status, CT_PROTOBUF, body, len);
}

static void reply_problem(struct server *s, struct evhttp_request *req, struct problem *pb)
{
    httpsd_refuse_problem(s->httpsd, req, 0, pb);
}

static void refuse(struct server *s, struct evhttp_request *req, int code, const char *msg)
{
    httpsd_refuse(s->httpsd, req, code, msg);
}

/* The request body as one contiguous block, bounded by the server's max body size. */
static const unsigned char *body_of(struct evhttp_request *req, size_t *len)
{
    return httpsd_body(req, len);
}

static void on_batches(struct server *s, struct evhttp_request *req)
{
    size_t len;
    const unsigned char *body = body_of(req, &len);
    struct problem pb;
    int replay;
    /* the sender names itself; only an enrolled agent id is kept, as a hint */
    const char *via =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-DTI-Via");
    if (via && (!origin_valid(via) || strlen(via) != AGENT_ID_LEN))
        via = NULL;
    int r = ingest_envelope_via(s->ingest, body, len, wall_ms(), via, &s->out, &replay, &pb);
    if (r < 0) {
        reply_problem(s, req, &pb);
        return;
    }
    reply(req, 200, s->out.data, s->out.len);
}

static void on_enroll(struct server *s, struct evhttp_request *req)
{
    size_t len;
    const unsigned char *body = body_of(req, &len);
    struct problem pb;
    uint64_t now = wall_ms();
    if (enrol_handle(s->db, s->hub, body, len, now, ingest_hlc_now(s->ingest, now), &s->out, &pb) <
        0) {
        reply_problem(s, req, &pb);
        return;
    }
    fprintf(stderr, "dti-hub: enrolled an agent\n");
    reply(req, 200, s->out.data, s->out.len);
}

/* GET /v1/changes?after=N, signed by the agent over PULL_CONTEXT + the request URI. */
static void on_changes(struct server *s, struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    const char *agent = evhttp_find_header(ih, "X-DTI-Agent");
    const char *sig64 = evhttp_find_header(ih, "X-DTI-Signature");
    struct evkeyvalq q = {0};
    uint8_t *sig = NULL;
    size_t siglen = 0;
    struct problem pb = {0};
    struct agent_row ag;
    struct dti_err e = {0};
    if (!agent || !sig64 || !origin_valid(agent) || strlen(agent) != AGENT_ID_LEN) {
        refuse(s, req, DTI_EAGENT, "missing or malformed X-DTI-Agent / X-DTI-Signature");
        return;
    }
    if (base64url_decode(sig64, CRYPTO_SIG_LEN, &sig, &siglen) < 0 || siglen != CRYPTO_SIG_LEN) {
        refuse(s, req, DTI_EBADSIG, "malformed X-DTI-Signature");
        goto out;
    }
    int r = agents_get(s->db, agent, &ag, &e);
    if (r < 0) {
        refuse(s, req, r, dti_err_text(&e, r));
        goto out;
    }
    char *msg = xasprintf("%s%s", PULL_CONTEXT, uri);
    r = crypto_verify(ag.pub, msg, strlen(msg), sig);
    free(msg);
    if (r < 0) {
        refuse(s, req, DTI_EBADSIG, "request signature does not verify with the agent's key");
        goto out;
    }
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    uint64_t after = 0, limit = FEED_PAGE_DEFAULT;
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        const char *a = evhttp_find_header(&q, "after");
        const char *l = evhttp_find_header(&q, "limit");
        if ((a && parse_u64(a, INT64_MAX, &after) < 0) ||
            (l && parse_u64(l, CHANGES_PAGE_MAX, &limit) < 0)) {
            refuse(s, req, DTI_EINVAL, "after and limit must be non-negative integers");
            goto out;
        }
    }
    uint64_t now = wall_ms();
    if (feed_page(s->db, s->hub, agent, after, (size_t)limit, ingest_hlc_now(s->ingest, now),
                  &s->out, &pb) < 0) {
        reply_problem(s, req, &pb);
        goto out;
    }
    reply(req, 200, s->out.data, s->out.len);
out:
    evhttp_clear_headers(&q);
    free(sig);
}

/* ---- GET /v1/reports/PERIOD.(html|csv|json)[?level=L]: the latest scoring run
 * of a period, for people (issue 5; hub/report.c). Published results, no agent
 * signature. ---- */

#define REPORTS_PREFIX "/v1/reports/"

static void free_report(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

/* A refusal people read in a browser: text/plain, with the reason header. */
static void refuse_report(struct evhttp_request *req, int code, const char *msg)
{
    int status = httpsd_status_for(code);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-DTI-Reason", dti_reason(code));
    const char *uri = evhttp_request_get_uri(req);
    fprintf(stderr, "dti-hub: refused %s: %d %s: %s\n", uri ? uri : "?", status, dti_reason(code),
            msg);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s\n", msg);
    evhttp_send_reply(req, status, httpsd_status_text(status), b);
    evbuffer_free(b);
}

static void on_report(struct server *s, struct evhttp_request *req, const char *path)
{
    const char *name = path + strlen(REPORTS_PREFIX);
    const char *dot = strrchr(name, '.');
    char period[PERIOD_MAX + 1];
    enum report_format f;
    struct evkeyvalq q = {0};
    const char *level = NULL;
    struct dti_err e = {0};
    struct buf out;
    if (!dot || dot == name || (size_t)(dot - name) > PERIOD_MAX ||
        report_format_parse(dot + 1, &f) < 0) {
        refuse_report(req, DTI_ENOTFOUND,
                      "no such report: expected /v1/reports/PERIOD.html, .csv or .json");
        return;
    }
    memcpy(period, name, (size_t)(dot - name));
    period[dot - name] = '\0';
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query && evhttp_parse_query_str(query, &q) == 0)
        level = evhttp_find_header(&q, "level");
    buf_init(&out, REPORT_MAX);
    int r = report_render(s->db, period, level, f, &out, &e);
    if (r < 0) {
        refuse_report(req, r, dti_err_text(&e, r));
    } else {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Content-Type", report_content_type(f));
        evhttp_add_header(h, "Cache-Control", "no-cache");
        if (f == REPORT_CSV) {
            char cd[64];
            snprintf(cd, sizeof(cd), "inline; filename=\"dti-%s.csv\"", period);
            evhttp_add_header(h, "Content-Disposition", cd);
        }
        size_t len;
        unsigned char *data = buf_take(&out, &len);
        struct evbuffer *b = evbuffer_new();
        if (len)
            evbuffer_add_reference(b, data, len, free_report, NULL);
        else
            free(data);
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
    }
    buf_release(&out);
    evhttp_clear_headers(&q);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (!path) {
        refuse(s, req, DTI_EINVAL, "no path");
        return;
    }
    if (!strcmp(path, "/v1/health") && m == EVHTTP_REQ_GET) {
        reply(req, 200, "ok\n", 3);
        return;
    }
    bool post = m == EVHTTP_REQ_POST;
    if (!strcmp(path, "/v1/batches") || !strcmp(path, "/v1/enroll")) {
        if (!post) {
            httpsd_refuse_method(req, "POST");
            return;
        }
        if (!httpsd_is_protobuf(req)) {
            refuse(s, req, DTI_ECONTENT_TYPE, "Content-Type must be " CT_PROTOBUF);
            return;
        }
        if (!strcmp(path, "/v1/batches"))
            on_batches(s, req);
        else
            on_enroll(s, req);
        return;
    }
    if (!strcmp(path, "/v1/changes") && m == EVHTTP_REQ_GET) {
        on_changes(s, req);
        return;
    }
    if (!strncmp(path, REPORTS_PREFIX, strlen(REPORTS_PREFIX))) {
        if (m != EVHTTP_REQ_GET) {
            httpsd_refuse_method(req, "GET");
            return;
        }
        on_report(s, req, path);
        return;
    }
    refuse(s, req, DTI_ENOTFOUND, "no such endpoint");
}

static void *checkpoint_loop(void *arg)
{
    struct checkpointer *c = arg;
    struct timespec nap = {0, CHECKPOINT_EVERY_MS * 1000000L};
    while (!atomic_load(&c->stop)) {
        int log = 0, done = 0;
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        nanosleep(&nap, NULL);
    }
    return NULL;
}

static int checkpointer_start(struct checkpointer *c, sqlite3 *serving, struct dti_err *e)
{
    const char *path = sqlite3_db_filename(serving, "main");
    int r = db_open(&c->db, path, 0, e);
    if (r < 0)
        return r;
    atomic_store(&c->stop, false);
    if (pthread_create(&c->thread, NULL, checkpoint_loop, c) != 0) {
        db_close(c->db);
        c->db = NULL;
        return dti_errf(e, DTI_EIO, "cannot start the checkpoint thread");
    }
    c->running = true;
    return 0;
}

static void checkpointer_stop(struct checkpointer *c)
{
    if (c->running) {
        atomic_store(&c->stop, true);
        pthread_join(c->thread, NULL);
        c->running = false;
    }
    db_close(c->db);
    c->db = NULL;
}

int server_open(struct server **out, const struct server_config *cfg, sqlite3 *db,
                const struct signer *hub, struct dti_err *e)
{
    struct server *s = xcalloc(1, sizeof(*s));
    int r = DTI_EIO;
    s->db = db;
    s->hub = hub;
    buf_init(&s->out, (16u << 20));
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=-%d", SERVE_CACHE_KIB);
    if ((r = db_exec(db, pragma, e)) < 0 ||
        (r = db_exec(db, "PRAGMA wal_autocheckpoint=0", e)) < 0 ||
        (r = checkpointer_start(&s->ckpt, db, e)) < 0)
        goto fail;
    if ((r = ingest_open(&s->ingest, db, hub, e)) < 0)
        goto fail;
    struct httpsd_config hc = {.name = "dti-hub",
                               .host = cfg->host,
                               .port = cfg->port,
                               .cert_path = cfg->cert_path,
                               .key_path = cfg->key_path,
                               .timeout_s = cfg->timeout_s,
                               .max_body = ENVELOPE_MAX};
    if ((r = httpsd_open(&s->httpsd, &hc, on_request, s, e)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    server_free(s);
    return r;
}

unsigned server_port(const struct server *s)
{
    return httpsd_port(s->httpsd);
}

int server_run(struct server *s, struct dti_err *e)
{
    int r = httpsd_run(s->httpsd, e);
    if (r < 0)
        return r;
    const struct ingest_stats *st = ingest_stats(s->ingest);
    fprintf(stderr,
            "dti-hub: stopped after %llu batches, %llu records, %llu replays, %llu refusals\n",
            (unsigned long long)st->batches, (unsigned long long)st->records,
            (unsigned long long)st->replays, (unsigned long long)st->refused);
    return 0;
}

void server_free(struct server *s)
{
    if (!s)
        return;
    httpsd_free(s->httpsd);
    ingest_free(s->ingest);
    checkpointer_stop(&s->ckpt);
    buf_release(&s->out);
    free(s);
}
