/*
 * server.c - evhttp + OpenSSL: routing, limits, and turning refusals into
 * HTTP answers. The work itself is in ingest.c, enrol.c and feed.c.
 */
#include "server.h"
#include "buf.h"
#include "changes.h"
#include "db.h"
#include "hubdb.h"
#include "envelope.h"
#include "enrol.h"
#include "feed.h"
#include "ingest.h"
#include "problem.h"
#include "report.h"
#include "util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define CT_PROTOBUF "application/x-protobuf"
#define MAX_HEADERS 8192
#define PULL_CONTEXT "dti-pull-v1\n"

#define SERVE_CACHE_KIB (128 * 1024)  /* page cache of the serving connection */
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
    struct event_base *base;
    struct evhttp *http;
    struct event *sigterm, *sigint;
    SSL_CTX *ssl;
    sqlite3 *db;
    const struct signer *hub;
    struct ingest *ingest;
    unsigned port;
    struct buf out;
};

int server_status_for(int code)
{
    switch (code) {
    case DTI_EPARSE:
    case DTI_EVALUE:
    case DTI_EELEMENT:
    case DTI_EPERIOD:
    case DTI_EPROTO:
    case DTI_EINVAL:
        return 400;
    case DTI_EBADSIG:
    case DTI_EAGENT:
        return 401;
    case DTI_EREVOKED:
    case DTI_ESCOPE:
    case DTI_ETOKEN:
    case DTI_EUNIT:
        return 403;
    case DTI_ENOTFOUND:
        return 404;
    case DTI_EGAP:
    case DTI_ECHAIN:
    case DTI_EEXISTS:
        return 409;
    case DTI_ETOOBIG:
        return 413;
    case DTI_ECONTENT_TYPE:
        return 415;
    case DTI_EBUSY:
    case DTI_EDB:
    case DTI_EIO:
    case DTI_EUNAVAILABLE:
        return 503;
    }
    return 500;
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 503:
        return "Service Unavailable";
    }
    return "Internal Server Error";
}

/* Without TCP_NODELAY every small answer waits for the peer's delayed ACK (~40 ms). */
static void set_nodelay(struct evhttp_request *req)
{
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void reply(struct evhttp_request *req, int status, const void *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", CT_PROTOBUF);
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (len)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, status, status_text(status), b);
    evbuffer_free(b);
}

static void reply_problem(struct server *s, struct evhttp_request *req, struct problem *pb)
{
    int status = server_status_for(pb->code);
    if (!pb->reason[0])
        snprintf(pb->reason, sizeof(pb->reason), "%s", dti_reason(pb->code));
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "X-DTI-Reason", pb->reason);
    if (dti_transient(pb->code))
        evhttp_add_header(h, "Retry-After", "5");
    const char *uri = evhttp_request_get_uri(req);
    fprintf(stderr, "dti-hub: refused %s: %d %s: %s\n", uri ? uri : "?", status, pb->reason,
            pb->message);
    buf_reset(&s->out);
    if (problem_encode(pb, &s->out) < 0)
        buf_reset(&s->out);
    reply(req, status, s->out.data, s->out.len);
}

static void refuse(struct server *s, struct evhttp_request *req, int code, const char *msg)
{
    struct problem pb = {0};
    pb.code = code;
    snprintf(pb.message, sizeof(pb.message), "%s", msg);
    reply_problem(s, req, &pb);
}

/* The request body as one contiguous block, bounded by evhttp's max body size. */
static const unsigned char *body_of(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    return *len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
}

static bool is_protobuf(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    return ct && strncmp(ct, CT_PROTOBUF, strlen(CT_PROTOBUF)) == 0 &&
           (ct[strlen(CT_PROTOBUF)] == '\0' || ct[strlen(CT_PROTOBUF)] == ';');
}

static void on_batches(struct server *s, struct evhttp_request *req)
{
    size_t len;
    const unsigned char *body = body_of(req, &len);
    struct problem pb;
    int replay;
    int r = ingest_envelope(s->ingest, body, len, wall_ms(), &s->out, &replay, &pb);
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
    if (enrol_handle(s->db, s->hub, body, len, now, ingest_hlc_now(s->ingest, now), &s->out,
                     &pb) < 0) {
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
    int status = server_status_for(code);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-DTI-Reason", dti_reason(code));
    const char *uri = evhttp_request_get_uri(req);
    fprintf(stderr, "dti-hub: refused %s: %d %s: %s\n", uri ? uri : "?", status, dti_reason(code),
            msg);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s\n", msg);
    evhttp_send_reply(req, status, status_text(status), b);
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
    set_nodelay(req);
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
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
            evhttp_send_error(req, 405, "use POST");
            return;
        }
        if (!is_protobuf(req)) {
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
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
            evhttp_send_error(req, 405, "use GET");
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

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    struct server *s = arg;
    SSL *ssl = SSL_new(s->ssl);
    if (!ssl)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;
    fprintf(stderr, "dti-hub: %s received, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopexit(s->base, NULL);
}

static int tls_fail(struct dti_err *e, const char *what, const char *path)
{
    unsigned long code = ERR_get_error();
    char msg[256];
    ERR_error_string_n(code, msg, sizeof(msg));
    ERR_clear_error();
    return dti_errf(e, DTI_ETLS, "cannot %s '%s': %s", what, path, msg);
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
    if ((r = db_exec(db, pragma, e)) < 0 || (r = db_exec(db, "PRAGMA wal_autocheckpoint=0", e)) < 0 ||
        (r = checkpointer_start(&s->ckpt, db, e)) < 0)
        goto fail;
    if ((r = ingest_open(&s->ingest, db, hub, e)) < 0)
        goto fail;
    r = DTI_ETLS;
    s->ssl = SSL_CTX_new(TLS_server_method());
    if (!s->ssl) {
        tls_fail(e, "create TLS context", "");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(s->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(s->ssl, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(s->ssl, cfg->cert_path) != 1) {
        tls_fail(e, "load certificate", cfg->cert_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(s->ssl, cfg->key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->ssl) != 1) {
        tls_fail(e, "load TLS key", cfg->key_path);
        goto fail;
    }
    r = DTI_EIO;
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    if (!s->http) {
        dti_errf(e, r, "cannot create the event loop");
        goto fail;
    }
    evhttp_set_bevcb(s->http, make_bev, s);
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_max_body_size(s->http, ENVELOPE_MAX);
    evhttp_set_max_headers_size(s->http, MAX_HEADERS);
    evhttp_set_timeout(s->http, (int)(cfg->timeout_s ? cfg->timeout_s : 30));
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, cfg->host,
                                                                    (ev_uint16_t)cfg->port);
    if (!bs) {
        dti_errf(e, r, "cannot listen on %s:%u: address in use or not available", cfg->host,
                 cfg->port);
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
        s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    event_add(s->sigterm, NULL);
    event_add(s->sigint, NULL);
    signal(SIGPIPE, SIG_IGN);
    *out = s;
    return 0;
fail:
    server_free(s);
    return r;
}

unsigned server_port(const struct server *s)
{
    return s->port;
}

int server_run(struct server *s, struct dti_err *e)
{
    if (event_base_dispatch(s->base) < 0)
        return dti_errf(e, DTI_EIO, "event loop failed");
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
    if (s->sigterm)
        event_free(s->sigterm);
    if (s->sigint)
        event_free(s->sigint);
    if (s->http)
        evhttp_free(s->http);
    if (s->base)
        event_base_free(s->base);
    if (s->ssl)
        SSL_CTX_free(s->ssl);
    ingest_free(s->ingest);
    checkpointer_stop(&s->ckpt);
    buf_release(&s->out);
    free(s);
}
