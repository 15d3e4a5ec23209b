/*
 * http.c - libcurl transport with certificate pinning.
 *
 * Pinning: curl keeps peer verification on and hands us the OpenSSL context;
 * we replace chain verification with a check of the leaf certificate's
 * SHA-256 fingerprint (SSL_CTX_set_cert_verify_callback). The hub's
 * certificate is usually self-signed, so a CA chain means nothing here; the
 * fingerprint from the enrolment token is the trust anchor.
 */
#include "http.h"
#include "util.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct http_client {
    CURL *curl;
    char *base;
    char *via; /* "X-DTI-Via: <agent id>" or NULL */
    char pin[CRYPTO_FP_HEX_LEN + 1];
    bool pin_failed;
    char seen[CRYPTO_FP_HEX_LEN + 1];
    struct response *resp; /* the one being filled */
    bool overflow;
};

static int verify_pin(X509_STORE_CTX *xs, void *arg)
{
    struct http_client *c = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    char fp[CRYPTO_FP_HEX_LEN + 1];
    if (!leaf || crypto_cert_fingerprint(leaf, fp) < 0) {
        c->pin_failed = true;
        snprintf(c->seen, sizeof(c->seen), "%s", "(none)");
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    if (strcmp(fp, c->pin) != 0) {
        c->pin_failed = true;
        memcpy(c->seen, fp, sizeof(fp));
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    return 1;
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
    SSL_CTX_set_cert_verify_callback((SSL_CTX *)sslctx, verify_pin, arg);
    return CURLE_OK;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct http_client *c = arg;
    size_t len = size * n;
    if (buf_append(&c->resp->body, p, len) < 0) {
        c->overflow = true;
        return 0; /* aborts the transfer */
    }
    return len;
}

int http_client_new(struct http_client **out, const char *base_url,
                    const char fingerprint[CRYPTO_FP_HEX_LEN + 1], struct dti_err *e)
{
    static bool global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = true;
    }
    struct http_client *c = xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return dti_errf(e, DTI_ENOMEM, "cannot start libcurl");
    }
    c->base = xstrdup(base_url);
    snprintf(c->pin, sizeof(c->pin), "%s", fingerprint);
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    /* the pin names the exact certificate; host names add nothing to it */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    /* a link that trickles under 64 bytes/s for 60 s counts as down */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 64L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dti-agent/0.1");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    *out = c;
    return 0;
}

void http_client_set_via(struct http_client *c, const char *agent_id)
{
    free(c->via);
    c->via = agent_id ? xasprintf("X-DTI-Via: %s", agent_id) : NULL;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    free(c->via);
    curl_easy_cleanup(c->curl);
    free(c->base);
    free(c);
}

static int perform(struct http_client *c, const char *path, struct curl_slist *hdrs,
                   struct response *resp, struct dti_err *e)
{
    char *url = xasprintf("%s%s", c->base, path);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    resp->status = 0;
    buf_init(&resp->body, TRANSPORT_MAX_RESPONSE);
    c->resp = resp;
    c->overflow = false;
    c->pin_failed = false;
    CURLcode cc = curl_easy_perform(c->curl);
    int r = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    } else if (c->pin_failed) {
        r = dti_errf(e, DTI_EPIN,
                     "%s presented certificate sha256 %s, but this agent pinned %s "
                     "(a different server, or the hub's certificate changed)",
                     c->base, c->seen, c->pin);
    } else if (c->overflow) {
        r = dti_errf(e, DTI_ETOOBIG, "the answer from %s exceeds %u bytes", url,
                     TRANSPORT_MAX_RESPONSE);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        r = dti_errf(e, DTI_ETIMEOUT, "%s: %s", c->base, curl_easy_strerror(cc));
    } else if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
        r = dti_errf(e, DTI_EINVAL, "bad hub address '%s'", c->base);
    } else {
        /* refused, reset, cut mid-transfer, name not found, handshake cut:
         * the link is down; everything stays in the outbox for next time */
        r = dti_errf(e, DTI_EUNREACHABLE, "%s: %s", c->base, curl_easy_strerror(cc));
    }
    c->resp = NULL;
    free(url);
    if (r < 0)
        buf_release(&resp->body);
    return r;
}

static int do_post(void *ctx, const char *path, const void *body, size_t len, struct response *resp,
                   struct dti_err *e)
{
    struct http_client *c = ctx;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    h = curl_slist_append(h, "Expect:");
    if (c->via)
        h = curl_slist_append(h, c->via);
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    int r = perform(c, path, h, resp, e);
    curl_slist_free_all(h);
    return r;
}

static int do_get(void *ctx, const char *path, const char *const *headers, struct response *resp,
                  struct dti_err *e)
{
    struct http_client *c = ctx;
    struct curl_slist *h = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    if (c->via)
        h = curl_slist_append(h, c->via);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    int r = perform(c, path, h, resp, e);
    curl_slist_free_all(h);
    return r;
}

struct transport http_transport(struct http_client *c)
{
    struct transport t = {.post = do_post, .get = do_get, .ctx = c};
    return t;
}
