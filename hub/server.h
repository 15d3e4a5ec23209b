/*
 * server.h - the hub's HTTPS endpoint: its routes on net/httpsd (evhttp over
 * OpenSSL bufferevents, one thread), one SQLite connection. Every request is
 * bounded (headers, body, time) and every refusal carries an HTTP status, an
 * X-DTI-Reason header and a Problem body. See docs/PROTOCOL.md.
 *
 *   POST /v1/enroll    EnrollRequest  -> HubSigned(EnrollResponse)
 *   POST /v1/batches   Envelope       -> HubSigned(ReceiptBody)
 *   GET  /v1/changes?after=N          -> HubSigned(Changes)   (agent-signed request)
 *   GET  /v1/health                   -> 200 "ok"
 *   GET  /v1/reports/P.html|.csv|.json[?level=L] -> the latest scoring run of P
 */
#ifndef DTI_SERVER_H
#define DTI_SERVER_H

#include <sqlite3.h>

#include "crypto.h"
#include "err.h"

struct server_config {
    const char *host;      /* listen address, e.g. "127.0.0.1" */
    unsigned port;         /* 0 = any free port */
    const char *cert_path; /* PEM certificate (chain) */
    const char *key_path;  /* PEM private key */
    unsigned timeout_s;    /* idle/read/write timeout per connection */
};

struct server;

/* Bind and load TLS; db and hub are borrowed and outlive the server. */
int server_open(struct server **out, const struct server_config *cfg, sqlite3 *db,
                const struct signer *hub, struct dti_err *e);
/* The port actually bound (useful with port 0). */
unsigned server_port(const struct server *s);
/* Serve until SIGTERM or SIGINT, then return 0 after finishing the request in hand. */
int server_run(struct server *s, struct dti_err *e);
void server_free(struct server *s);

#endif
