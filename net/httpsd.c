/*
 * httpsd.c - evhttp over OpenSSL bufferevents: TLS context, listening socket,
 * request bounds, signals, and the shape of answers (see httpsd.h).
 */
#include "httpsd.h"
#include "buf.h"
#include "util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define PROBLEM_OUT_MAX (64u << 10)

struct httpsd {
    char *name;
    struct event_base *base;
    struct evhttp *http;
    struct event *sigterm, *sigint;
    SSL_CTX *ssl;
    unsigned port;
    httpsd_route_fn route;
    void *ctx;
    struct buf out; /* encoded Problem bodies */
};

int httpsd_status_for(int code)
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
    case DTI_ERELAYED:
    case DTI_EUNREACHABLE:
    case DTI_ETIMEOUT:
        return 503;
    }
    return 500;
}

const char *httpsd_status_text(int status)
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
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    }
    return status >= 500 ? "Internal Server Error" : "Error";
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

void httpsd_reply(struct evhttp_request *req, int status, const char *content_type,
                  const void *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (len)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, status, httpsd_status_text(status), b);
    evbuffer_free(b);
}

void httpsd_refuse_problem(struct httpsd *d, struct evhttp_request *req, int status,
                           struct problem *pb)
{
    if (!status)
        status = httpsd_status_for(pb->code);
    if (!pb->reason[0])
        snprintf(pb->reason, sizeof(pb->reason), "%s", dti_reason(pb->code));
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "X-DTI-Reason", pb->reason);
    if (dti_transient(pb->code) || status == 503)
        evhttp_add_header(h, "Retry-After", "5");
    const char *uri = evhttp_request_get_uri(req);
    fprintf(stderr, "%s: refused %s: %d %s: %s\n", d->name, uri ? uri : "?", status, pb->reason,
            pb->message);
    buf_reset(&d->out);
    if (problem_encode(pb, &d->out) < 0)
        buf_reset(&d->out);
    httpsd_reply(req, status, HTTPSD_CT_PROTOBUF, d->out.data, d->out.len);
}

void httpsd_refuse(struct httpsd *d, struct evhttp_request *req, int code, const char *msg)
{
    struct problem pb = {0};
    pb.code = code;
    snprintf(pb.message, sizeof(pb.message), "%s", msg);
    httpsd_refuse_problem(d, req, 0, &pb);
}

void httpsd_refuse_method(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    evhttp_send_error(req, 405, allow[0] == 'P' ? "use POST" : "use GET");
}

const unsigned char *httpsd_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    return *len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
}

bool httpsd_is_protobuf(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = strlen(HTTPSD_CT_PROTOBUF);
    return ct && strncmp(ct, HTTPSD_CT_PROTOBUF, n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct httpsd *d = arg;
    set_nodelay(req);
    d->route(req, d->ctx);
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    struct httpsd *d = arg;
    SSL *ssl = SSL_new(d->ssl);
    if (!ssl)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct httpsd *d = arg;
    fprintf(stderr, "%s: %s received, stopping\n", d->name, sig == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopexit(d->base, NULL);
}

static int tls_fail(struct dti_err *e, const char *what, const char *path)
{
    unsigned long code = ERR_get_error();
    char msg[256];
    ERR_error_string_n(code, msg, sizeof(msg));
    ERR_clear_error();
    return dti_errf(e, DTI_ETLS, "cannot %s '%s': %s", what, path, msg);
}

int httpsd_open(struct httpsd **out, const struct httpsd_config *cfg, httpsd_route_fn route,
                void *ctx, struct dti_err *e)
{
    struct httpsd *d = xcalloc(1, sizeof(*d));
    int r = DTI_ETLS;
    d->name = xstrdup(cfg->name ? cfg->name : "dtisync");
    d->route = route;
    d->ctx = ctx;
    buf_init(&d->out, PROBLEM_OUT_MAX);
    d->ssl = SSL_CTX_new(TLS_server_method());
    if (!d->ssl) {
        tls_fail(e, "create TLS context", "");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(d->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(d->ssl, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(d->ssl, cfg->cert_path) != 1) {
        tls_fail(e, "load certificate", cfg->cert_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(d->ssl, cfg->key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(d->ssl) != 1) {
        tls_fail(e, "load TLS key", cfg->key_path);
        goto fail;
    }
    r = DTI_EIO;
    d->base = event_base_new();
    d->http = d->base ? evhttp_new(d->base) : NULL;
    if (!d->http) {
        dti_errf(e, r, "cannot create the event loop");
        goto fail;
    }
    evhttp_set_bevcb(d->http, make_bev, d);
    evhttp_set_gencb(d->http, on_request, d);
    evhttp_set_max_body_size(d->http, (ev_ssize_t)cfg->max_body);
    evhttp_set_max_headers_size(d->http, HTTPSD_MAX_HEADERS);
    evhttp_set_timeout(d->http, (int)(cfg->timeout_s ? cfg->timeout_s : 30));
    evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(d->http, cfg->host, (ev_uint16_t)cfg->port);
    if (!bs) {
        int err = EVUTIL_SOCKET_ERROR();
        dti_errf(e, r, "cannot listen on '%s:%u': %s", cfg->host, cfg->port,
                 err ? evutil_socket_error_to_string(err) : "address not available");
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
        d->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->sigint = evsignal_new(d->base, SIGINT, on_signal, d);
    if (!d->sigterm || !d->sigint || event_add(d->sigterm, NULL) < 0 ||
        event_add(d->sigint, NULL) < 0) {
        dti_errf(e, r, "cannot watch for SIGTERM and SIGINT");
        goto fail;
    }
    signal(SIGPIPE, SIG_IGN);
    *out = d;
    return 0;
fail:
    httpsd_free(d);
    return r;
}

unsigned httpsd_port(const struct httpsd *d)
{
    return d->port;
}

int httpsd_run(struct httpsd *d, struct dti_err *e)
{
    if (event_base_dispatch(d->base) < 0)
        return dti_errf(e, DTI_EIO, "event loop failed");
    return 0;
}

void httpsd_free(struct httpsd *d)
{
    if (!d)
        return;
    if (d->sigterm)
        event_free(d->sigterm);
    if (d->sigint)
        event_free(d->sigint);
    if (d->http)
        evhttp_free(d->http);
    if (d->base)
        event_base_free(d->base);
    if (d->ssl)
        SSL_CTX_free(d->ssl);
    buf_release(&d->out);
    free(d->name);
    free(d);
}
