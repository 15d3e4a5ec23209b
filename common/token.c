/*
 * token.c - enrolment tokens.
 */
#include "token.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int hub_url_valid(const char *url)
{
    const char *p = "https://";
    if (!url || strncmp(url, p, strlen(p)) != 0 || strlen(url) > TOKEN_URL_MAX)
        return 0;
    const char *host = url + strlen(p);
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return 0;
    for (const char *h = host; h < colon; h++)
        if (!(((*h | 32) >= 'a' && (*h | 32) <= 'z') || (*h >= '0' && *h <= '9') || *h == '.' ||
              *h == '-' || *h == '[' || *h == ']' || *h == ':'))
            return 0;
    uint64_t port;
    return parse_u64(colon + 1, 65535, &port) == 0 && port > 0;
}

char *token_encode(const struct token *t)
{
    char secret[TOKEN_SECRET_LEN * 2 + 1];
    hex_encode(t->secret, TOKEN_SECRET_LEN, secret);
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "hub", t->hub_url, "fp",
                          t->fingerprint, "unit", t->unit, "secret", secret);
    char *js = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!js)
        return NULL;
    char *b64 = base64url_encode(js, strlen(js));
    free(js);
    char *out = xasprintf("%s%s", TOKEN_PREFIX, b64);
    free(b64);
    return out;
}

static int field(json_t *o, const char *key, char *dst, size_t cap, struct dti_err *e)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || strlen(s) >= cap)
        return dti_errf(e, DTI_ETOKEN, "enrolment token: missing or oversized '%s'", key);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int token_decode(const char *s, struct token *t, struct dti_err *e)
{
    memset(t, 0, sizeof(*t));
    size_t plen = strlen(TOKEN_PREFIX);
    if (!s || strncmp(s, TOKEN_PREFIX, plen) != 0)
        return dti_errf(e, DTI_ETOKEN, "enrolment token must start with '%s'", TOKEN_PREFIX);
    if (strlen(s) > TOKEN_MAX)
        return dti_errf(e, DTI_ETOKEN, "enrolment token is too long");
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    json_t *o = NULL;
    int r = DTI_ETOKEN;
    if (base64url_decode(s + plen, TOKEN_MAX, &raw, &rawlen) < 0) {
        dti_errf(e, r, "enrolment token is not valid base64url (was it copied whole?)");
        goto out;
    }
    json_error_t je;
    o = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o) || json_integer_value(json_object_get(o, "v")) != 1) {
        dti_errf(e, r, "enrolment token content is not a version 1 token");
        goto out;
    }
    char secret[TOKEN_SECRET_LEN * 2 + 2];
    char fp[CRYPTO_FP_HEX_LEN + 8];
    if ((r = field(o, "hub", t->hub_url, sizeof(t->hub_url), e)) < 0 ||
        (r = field(o, "fp", fp, sizeof(fp), e)) < 0 ||
        (r = field(o, "unit", t->unit, sizeof(t->unit), e)) < 0 ||
        (r = field(o, "secret", secret, sizeof(secret), e)) < 0)
        goto out;
    r = DTI_ETOKEN;
    if (!hub_url_valid(t->hub_url)) {
        dti_errf(e, r, "enrolment token: hub address '%s' is not https://HOST:PORT", t->hub_url);
        goto out;
    }
    if (crypto_fp_normalise(fp, t->fingerprint) < 0) {
        dti_errf(e, r, "enrolment token: bad certificate fingerprint");
        goto out;
    }
    if (!unit_code_valid(t->unit)) {
        dti_errf(e, r, "enrolment token: bad unit code");
        goto out;
    }
    if (strlen(secret) != TOKEN_SECRET_LEN * 2 ||
        hex_decode(secret, t->secret, TOKEN_SECRET_LEN) < 0) {
        dti_errf(e, r, "enrolment token: bad secret");
        goto out;
    }
    r = 0;
out:
    json_decref(o);
    free(raw);
    return r;
}
