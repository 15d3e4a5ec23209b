/*
 * relay.h - `dti-agent relay`: a district agent's own small HTTPS endpoint
 * (net/httpsd) for communes whose link reaches the district office but not
 * the province. A commune syncs to it exactly as to the hub:
 *
 *   POST /v1/batches   held byte for byte (agent/relaybox.c) for the
 *                      district's next sync to forward; answered 503
 *                      `relayed` until the hub's receipt (or refusal) is here,
 *                      then with that receipt, unchanged
 *   POST /v1/enroll    forwarded live to the hub, the answer passed back
 *   GET  /v1/changes   forwarded live (path, X-DTI-Agent, X-DTI-Signature)
 *   GET  /v1/health    200 "ok"
 *
 * Every answer that matters is hub-signed and checked by the commune with its
 * own pins; the relay cannot forge one. It relays only for units in the
 * district agent's own scope.
 */
#ifndef DTI_RELAY_H
#define DTI_RELAY_H

#include <stdbool.h>

#include "crypto.h"
#include "err.h"
#include "store.h"
#include "transport.h"

#define RELAY_CERT "relay.crt"
#define RELAY_KEY "relay.key"
#define RELAY_DEFAULT_LISTEN "127.0.0.1:8444"

/* Parse "HOST:PORT" (port 0-65535) into host (hostcap bytes). 0 or DTI_EINVAL. */
int relay_parse_listen(const char *s, char *host, size_t hostcap, unsigned *port);

/*
 * The relay's TLS identity in dir: relay.crt and relay.key, made now (for
 * host) when neither exists, checked against each other otherwise. fp gets
 * the certificate's SHA-256 fingerprint, which communes pin.
 */
int relay_identity(const char *dir, const char *host, char fp[CRYPTO_FP_HEX_LEN + 1], bool *created,
                   struct dti_err *e);

struct relay;

/* Bind host:port with dir's relay certificate. st (an enrolled district
 * agent's store) and hub (its pinned transport to the hub) are borrowed. */
int relay_open(struct relay **out, const char *dir, const char *host, unsigned port,
               struct store *st, const struct transport *hub, struct dti_err *e);
/* The port actually bound (useful with port 0). */
unsigned relay_port(const struct relay *rl);
/* Serve until SIGTERM or SIGINT. */
int relay_run(struct relay *rl, struct dti_err *e);
void relay_free(struct relay *rl);

#endif
