/*
 * relay.c - the district relay's routes on net/httpsd (see relay.h and
 * docs/PROTOCOL.md, "Relay").
 *
 * Live forwarding (enrolment, change pages) calls the hub with the district's
 * blocking libcurl transport from inside the event loop: a district serves a
 * handful of communes, and the transport's own timeouts bound each call.
 */
#include "relay.h"
#include "envelope.h"
#include "httpsd.h"
#include "problem.h"
#include "relaybox.h"
#include "tlscert.h"
#include "util.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define RELAY_URI_MAX 1024
#define RELAY_SIG_MAX 128 /* base64url of a 64-byte signature is 86 */

struct relay {
    struct httpsd *httpsd;
    struct store *st;
    const struct transport *hub;
    char unit[UNIT_CODE_MAX + 1];
};

int relay_parse_listen(const char *s, char *host, size_t hostcap, unsigned *port)
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

int relay_identity(const char *dir, const char *host, char fp[CRYPTO_FP_HEX_LEN + 1], bool *created,
                   struct dti_err *e)
{
    char *cert = path_join(dir, RELAY_CERT), *key = path_join(dir, RELAY_KEY);
    bool have_cert = access(cert, F_OK) == 0, have_key = access(key, F_OK) == 0;
    int r;
    *created = false;
    if (!have_cert && !have_key) {
        /* the name matters little: communes pin the certificate itself */
        const char *name = strcmp(host, "0.0.0.0") && strcmp(host, "::") ? host : "localhost";
        if ((r = tlscert_generate(name, cert, key, e)) < 0)
            goto out;
        *created = true;
    } else if (!have_cert || !have_key) {
        r = dti_errf(e, DTI_ESTATE, "'%s' is there without '%s' (remove it to make a new pair)",
                     have_cert ? cert : key, have_cert ? key : cert);
        goto out;
    } else if ((r = tlscert_check_pair(cert, key, e)) < 0) {
        goto out;
    }
    r = tlscert_fingerprint_file(cert, fp, e);
out:
    free(cert);
    free(key);
    return r;
}

/* ---- POST /v1/batches: hold for forwarding, or hand back the hub's answer ---- */

static void on_batches(struct relay *rl, struct evhttp_request *req)
{
    size_t len;
    const unsigned char *body = httpsd_body(req, &len);
    struct envelope *env = NULL;
    struct relaybox_answer ans = {0};
    struct dti_err e = {0};
    char msg[400];
    int r = envelope_parse(body, len, &env, &e);
    if (r < 0) {
        httpsd_refuse(rl->httpsd, req, r, dti_err_text(&e, r));
        return;
    }
    const struct batch_header *h = envelope_header(env);
    const struct manifest_entry *m;
    size_t n = envelope_manifest(env, &m);
    for (size_t i = 0; i < n; i++) {
        struct dti_err se = {0};
        int sr = store_check_scope(rl->st, m[i].unit, &se);
        if (sr < 0 &&
            sr != DTI_ESCOPE) { /* the district's store is busy: not the commune's fault */
            httpsd_refuse(rl->httpsd, req, DTI_EUNAVAILABLE, dti_err_text(&se, sr));
            goto out;
        }
        if (sr < 0) {
            snprintf(msg, sizeof(msg),
                     "unit %s is outside the scope of this district relay (unit %s): it relays "
                     "only for units under it",
                     m[i].unit, rl->unit);
            httpsd_refuse(rl->httpsd, req, DTI_ESCOPE, msg);
            goto out;
        }
    }
    r = relaybox_offer(rl->st, h->agent_id, h->seq, envelope_hash(env), body, len, wall_ms(), &ans,
                       &e);
    if (r < 0) {
        /* the relay's own store failing is never the commune's fault: try later */
        snprintf(msg, sizeof(msg), "the district relay cannot hold the batch now: %s",
                 dti_err_text(&e, r));
        httpsd_refuse(rl->httpsd, req, DTI_EUNAVAILABLE, msg);
        goto out;
    }
    switch (ans.fate) {
    case RELAYBOX_HELD:
        snprintf(msg, sizeof(msg),
                 "batch %" PRIu64 " is stored by the district relay for forwarding to the hub; "
                 "sync again later for the hub's receipt",
                 h->seq);
        httpsd_refuse(rl->httpsd, req, DTI_ERELAYED, msg);
        break;
    case RELAYBOX_RECEIPT:
        /* the hub's signed receipt, byte for byte: the commune checks it with its own pin */
        httpsd_reply(req, 200, HTTPSD_CT_PROTOBUF, ans.body.data, ans.body.len);
        break;
    case RELAYBOX_REFUSED: {
        struct problem pb = {0}, hub = {0};
        if (problem_decode(ans.body.data, ans.body.len, &hub) < 0) {
            hub.code = DTI_EPROTO;
            snprintf(hub.reason, sizeof(hub.reason), "%s", dti_reason(DTI_EPROTO));
            snprintf(hub.message, sizeof(hub.message), "the hub refused the batch");
        }
        pb = hub;
        snprintf(pb.message, sizeof(pb.message), "relayed by district %s: %.300s", rl->unit,
                 hub.message);
        httpsd_refuse_problem(rl->httpsd, req, (int)ans.status, &pb);
        break;
    }
    case RELAYBOX_CONFLICT:
        snprintf(msg, sizeof(msg), "the district relay holds another batch %" PRIu64 " of agent %s",
                 h->seq, h->agent_id);
        httpsd_refuse(rl->httpsd, req, DTI_ECHAIN, msg);
        break;
    case RELAYBOX_FULL:
        snprintf(msg, sizeof(msg),
                 "the district relay is full (it holds as many batches as it may: %d per "
                 "commune agent, %d in all); sync again after the district has forwarded them",
                 RELAYBOX_MAX_PER_AGENT, RELAYBOX_MAX_HELD);
        httpsd_refuse(rl->httpsd, req, DTI_EUNAVAILABLE, msg);
        break;
    }
out:
    buf_release(&ans.body);
    envelope_free(env);
}

/* ---- live forwarding: the hub's answer passes back unchanged ---- */

static void pass_back(struct relay *rl, struct evhttp_request *req, int r,
                      const struct response *resp, const struct dti_err *e)
{
    if (r < 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the district relay cannot reach the hub now: %.300s",
                 dti_err_text(e, r));
        httpsd_refuse(rl->httpsd, req, DTI_EUNAVAILABLE, msg);
        return;
    }
    if (resp->status < 200 || resp->status > 599) {
        httpsd_refuse(rl->httpsd, req, DTI_EUNAVAILABLE, "the hub's answer was not HTTP");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (resp->status != 200) {
        struct problem pb;
        if (problem_decode(resp->body.data, resp->body.len, &pb) == 0 && pb.reason[0])
            evhttp_add_header(h, "X-DTI-Reason", pb.reason);
        if (resp->status == 503)
            evhttp_add_header(h, "Retry-After", "5");
    }
    httpsd_reply(req, (int)resp->status, HTTPSD_CT_PROTOBUF, resp->body.data, resp->body.len);
}

static void on_enroll(struct relay *rl, struct evhttp_request *req)
{
    size_t len;
    const unsigned char *body = httpsd_body(req, &len);
    struct response resp = {0};
    struct dti_err e = {0};
    int r = rl->hub->post(rl->hub->ctx, "/v1/enroll", body, len, &resp, &e);
    pass_back(rl, req, r, &resp, &e);
    if (r == 0 && resp.status == 200)
        fprintf(stderr, "dti-agent relay: an agent enrolled with the hub through this relay\n");
    buf_release(&resp.body);
}

/* A header value safe to pass on: 1..max characters of [A-Za-z0-9_-]. */
static bool token_chars(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

static void on_changes(struct relay *rl, struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    const char *agent = evhttp_find_header(ih, "X-DTI-Agent");
    const char *sig = evhttp_find_header(ih, "X-DTI-Signature");
    struct response resp = {0};
    struct dti_err e = {0};
    if (!token_chars(agent, AGENT_ID_LEN) || !token_chars(sig, RELAY_SIG_MAX)) {
        httpsd_refuse(rl->httpsd, req, DTI_EAGENT,
                      "missing or malformed X-DTI-Agent / X-DTI-Signature");
        return;
    }
    /* the agent signed the request-URI: it goes on exactly as it came */
    size_t n = strlen(uri);
    /* origin-form only: "/v1/...", never "//host/..." or "https://host/..." */
    bool ok = n <= RELAY_URI_MAX && uri[0] == '/' && uri[1] != '/';
    for (size_t i = 0; ok && i < n; i++)
        ok = uri[i] > 0x20 && uri[i] < 0x7f;
    if (!ok) {
        httpsd_refuse(rl->httpsd, req, DTI_EINVAL, "the request URI cannot be relayed");
        return;
    }
    char *h_agent = xasprintf("X-DTI-Agent: %s", agent);
    char *h_sig = xasprintf("X-DTI-Signature: %s", sig);
    const char *hdrs[] = {h_agent, h_sig, NULL};
    int r = rl->hub->get(rl->hub->ctx, uri, hdrs, &resp, &e);
    pass_back(rl, req, r, &resp, &e);
    buf_release(&resp.body);
    free(h_agent);
    free(h_sig);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct relay *rl = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (!path) {
        httpsd_refuse(rl->httpsd, req, DTI_EINVAL, "no path");
        return;
    }
    if (!strcmp(path, "/v1/health")) {
        if (m != EVHTTP_REQ_GET)
            httpsd_refuse_method(req, "GET");
        else
            httpsd_reply(req, 200, HTTPSD_CT_PROTOBUF, "ok\n", 3);
        return;
    }
    if (!strcmp(path, "/v1/batches") || !strcmp(path, "/v1/enroll")) {
        if (m != EVHTTP_REQ_POST) {
            httpsd_refuse_method(req, "POST");
            return;
        }
        if (!httpsd_is_protobuf(req)) {
            httpsd_refuse(rl->httpsd, req, DTI_ECONTENT_TYPE,
                          "Content-Type must be " HTTPSD_CT_PROTOBUF);
            return;
        }
        if (!strcmp(path, "/v1/batches"))
            on_batches(rl, req);
        else
            on_enroll(rl, req);
        return;
    }
    if (!strcmp(path, "/v1/changes")) {
        if (m != EVHTTP_REQ_GET)
            httpsd_refuse_method(req, "GET");
        else
            on_changes(rl, req);
        return;
    }
    httpsd_refuse(rl->httpsd, req, DTI_ENOTFOUND, "no such endpoint on a district relay");
}

int relay_open(struct relay **out, const char *dir, const char *host, unsigned port,
               struct store *st, const struct transport *hub, struct dti_err *e)
{
    struct relay *rl = xcalloc(1, sizeof(*rl));
    struct store_identity id;
    char *cert = path_join(dir, RELAY_CERT), *key = path_join(dir, RELAY_KEY);
    int r = store_identity(st, &id, e);
    if (r < 0)
        goto fail;
    if (!id.enrolled) {
        r = dti_errf(e, DTI_ESTATE,
                     "this agent is not enrolled yet: run 'dti-agent sync' once the hub can be "
                     "reached, then start the relay");
        goto fail;
    }
    rl->st = st;
    rl->hub = hub;
    snprintf(rl->unit, sizeof(rl->unit), "%s", id.unit);
    struct httpsd_config hc = {.name = "dti-agent relay",
                               .host = host,
                               .port = port,
                               .cert_path = cert,
                               .key_path = key,
                               .timeout_s = 30,
                               .max_body = ENVELOPE_MAX};
    if ((r = httpsd_open(&rl->httpsd, &hc, on_request, rl, e)) < 0)
        goto fail;
    free(cert);
    free(key);
    *out = rl;
    return 0;
fail:
    free(cert);
    free(key);
    relay_free(rl);
    return r;
}

unsigned relay_port(const struct relay *rl)
{
    return httpsd_port(rl->httpsd);
}

int relay_run(struct relay *rl, struct dti_err *e)
{
    return httpsd_run(rl->httpsd, e);
}

void relay_free(struct relay *rl)
{
    if (!rl)
        return;
    httpsd_free(rl->httpsd);
    free(rl);
}
