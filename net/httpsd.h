/*
 * httpsd.h - the HTTPS server both programs run: libevent's evhttp over
 * OpenSSL bufferevents, one thread. It owns what every endpoint shares - the
 * TLS context from a certificate and key file, the listening socket (port 0
 * picks a free one), the bounds on every request (body, headers, time,
 * methods), TCP_NODELAY, a clean stop on SIGTERM or SIGINT - and the shape of
 * answers: bytes with a content type, or a refusal (HTTP status from the
 * DTI_E* code, an X-DTI-Reason header, a Problem body, Retry-After when the
 * reason is transient). What a path means is the route callback's business:
 * the hub's (hub/server.c) or a district agent's relay (agent/relay.c).
 */
#ifndef DTI_HTTPSD_H
#define DTI_HTTPSD_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "problem.h"

struct evhttp_request;

#define HTTPSD_CT_PROTOBUF "application/x-protobuf"
#define HTTPSD_MAX_HEADERS 8192

struct httpsd_config {
    const char *name;      /* the program, for log lines: "dti-hub" */
    const char *host;      /* listen address, e.g. "127.0.0.1" */
    unsigned port;         /* 0 = any free port */
    const char *cert_path; /* PEM certificate (chain) */
    const char *key_path;  /* PEM private key */
    unsigned timeout_s;    /* idle/read/write timeout per connection; 0 = 30 */
    size_t max_body;       /* request body ceiling in bytes */
};

/* Called once per request; it must answer (httpsd_reply, httpsd_refuse, ...). */
typedef void (*httpsd_route_fn)(struct evhttp_request *req, void *ctx);

struct httpsd;

/* Load TLS and bind; ctx is borrowed and handed to route with every request. */
int httpsd_open(struct httpsd **out, const struct httpsd_config *cfg, httpsd_route_fn route,
                void *ctx, struct dti_err *e);
/* The port actually bound (useful with port 0). */
unsigned httpsd_port(const struct httpsd *d);
/* Serve until SIGTERM or SIGINT, then return 0 after finishing the request in hand. */
int httpsd_run(struct httpsd *d, struct dti_err *e);
void httpsd_free(struct httpsd *d);

/* The HTTP status for a refusal with this DTI_E* code. */
int httpsd_status_for(int code);
/* "OK", "Forbidden", ... for the statuses dtisync sends. */
const char *httpsd_status_text(int status);

/* Answer status with body (copied) as content_type, never cached. */
void httpsd_reply(struct evhttp_request *req, int status, const char *content_type,
                  const void *body, size_t len);
/* Refuse with pb: status from pb->code unless status is non-zero, X-DTI-Reason
 * (pb->reason, or the code's reason when empty), Retry-After for a transient
 * code or a 503, the Problem body; logs one line. */
void httpsd_refuse_problem(struct httpsd *d, struct evhttp_request *req, int status,
                           struct problem *pb);
/* Refuse with a DTI_E* code and a message for people. */
void httpsd_refuse(struct httpsd *d, struct evhttp_request *req, int code, const char *msg);
/* Refuse a wrong method: 405 with an Allow header. */
void httpsd_refuse_method(struct evhttp_request *req, const char *allow);

/* The request body as one contiguous block (bounded by max_body); "" when empty. */
const unsigned char *httpsd_body(struct evhttp_request *req, size_t *len);
/* True when the request's Content-Type is application/x-protobuf. */
bool httpsd_is_protobuf(struct evhttp_request *req);

#endif
