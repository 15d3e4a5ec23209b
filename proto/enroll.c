/*
 * enroll.c - enrolment request and response.
 */
#include "enroll.h"
#include "hubsigned.h"
#include "util.h"

#include "dtisync.pb-c.h"

#include <stdlib.h>
#include <string.h>

static const char enroll_context[] = "dti-enroll-v1";

void enroll_agent_id(const uint8_t pub[CRYPTO_PUBKEY_LEN], char out[AGENT_ID_LEN + 1])
{
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_sha256(pub, CRYPTO_PUBKEY_LEN, h);
    hex_encode(h, AGENT_ID_LEN / 2, out);
}

/* What the agent signs: context || secret || public key. */
static void pop_message(const uint8_t *secret, const uint8_t *pub, uint8_t *msg)
{
    memcpy(msg, enroll_context, sizeof(enroll_context) - 1);
    memcpy(msg + sizeof(enroll_context) - 1, secret, ENROLL_SECRET_LEN);
    memcpy(msg + sizeof(enroll_context) - 1 + ENROLL_SECRET_LEN, pub, CRYPTO_PUBKEY_LEN);
}

#define POP_LEN (sizeof(enroll_context) - 1 + ENROLL_SECRET_LEN + CRYPTO_PUBKEY_LEN)

int enroll_request_make(const struct signer *s, const uint8_t secret[ENROLL_SECRET_LEN],
                        uint64_t hlc, struct buf *out, struct dti_err *e)
{
    uint8_t pub[CRYPTO_PUBKEY_LEN], msg[POP_LEN], sig[CRYPTO_SIG_LEN];
    signer_public(s, pub);
    pop_message(secret, pub, msg);
    int r = signer_sign(s, msg, sizeof(msg), sig);
    if (r < 0)
        return dti_errf(e, r, "cannot sign enrolment request");
    Dti__V1__EnrollRequest rq = DTI__V1__ENROLL_REQUEST__INIT;
    rq.token_secret.data = (uint8_t *)secret;
    rq.token_secret.len = ENROLL_SECRET_LEN;
    rq.public_key.data = pub;
    rq.public_key.len = CRYPTO_PUBKEY_LEN;
    rq.hlc = hlc;
    rq.signature.data = sig;
    rq.signature.len = CRYPTO_SIG_LEN;
    size_t n = dti__v1__enroll_request__get_packed_size(&rq);
    buf_reset(out);
    if ((r = buf_reserve(out, n)) < 0)
        return r;
    dti__v1__enroll_request__pack(&rq, out->data);
    out->len = n;
    return 0;
}

int enroll_request_parse(const void *bytes, size_t len, struct enroll_request *rq,
                         struct dti_err *e)
{
    if (len > 4096)
        return dti_errf(e, DTI_ETOOBIG, "enrolment request too large");
    Dti__V1__EnrollRequest *m = dti__v1__enroll_request__unpack(NULL, len, bytes);
    int r = DTI_EPARSE;
    if (!m) {
        dti_errf(e, r, "enrolment request is not a valid EnrollRequest");
        goto out;
    }
    if (m->token_secret.len != ENROLL_SECRET_LEN || m->public_key.len != CRYPTO_PUBKEY_LEN ||
        m->signature.len != CRYPTO_SIG_LEN) {
        dti_errf(e, r, "enrolment request fields have the wrong lengths");
        goto out;
    }
    uint8_t msg[POP_LEN];
    pop_message(m->token_secret.data, m->public_key.data, msg);
    if (crypto_verify(m->public_key.data, msg, sizeof(msg), m->signature.data) < 0) {
        r = dti_errf(e, DTI_EBADSIG, "enrolment request is not signed by the key it presents");
        goto out;
    }
    memcpy(rq->secret, m->token_secret.data, ENROLL_SECRET_LEN);
    memcpy(rq->pub, m->public_key.data, CRYPTO_PUBKEY_LEN);
    rq->hlc = m->hlc;
    r = 0;
out:
    if (m)
        dti__v1__enroll_request__free_unpacked(m, NULL);
    return r;
}

int enroll_response_seal(const struct enroll_response *rs, const struct signer *hub,
                         struct buf *out, struct dti_err *e)
{
    Dti__V1__EnrollResponse m = DTI__V1__ENROLL_RESPONSE__INIT;
    m.agent_id = (char *)rs->agent_id;
    m.unit = (char *)rs->unit;
    m.hub_public_key.data = (uint8_t *)rs->hub_pub;
    m.hub_public_key.len = CRYPTO_PUBKEY_LEN;
    m.hub_hlc = rs->hub_hlc;
    m.next_seq = rs->next_seq;
    char **scope = xcalloc(rs->nscope, sizeof(char *));
    for (size_t i = 0; i < rs->nscope; i++)
        scope[i] = rs->scope[i];
    m.n_scope = rs->nscope;
    m.scope = scope;
    char **levels = xcalloc(rs->nscope ? rs->nscope : 1, sizeof(char *));
    for (size_t i = 0; rs->scope_levels && i < rs->nscope; i++)
        levels[i] = rs->scope_levels[i];
    m.n_scope_levels = rs->scope_levels ? rs->nscope : 0;
    m.scope_levels = levels;
    size_t n = dti__v1__enroll_response__get_packed_size(&m);
    uint8_t *bytes = xmalloc(n);
    dti__v1__enroll_response__pack(&m, bytes);
    int r = hubsigned_seal(bytes, n, hub, out, e);
    free(bytes);
    free(scope);
    free(levels);
    return r;
}

int enroll_response_open(const void *bytes, size_t len, struct enroll_response *rs,
                         struct dti_err *e)
{
    void *msg = NULL;
    const uint8_t *body;
    size_t blen;
    memset(rs, 0, sizeof(*rs));
    int r = hubsigned_open(bytes, len, NULL, &msg, &body, &blen, e);
    if (r < 0)
        return r;
    Dti__V1__EnrollResponse *m = dti__v1__enroll_response__unpack(NULL, blen, body);
    r = DTI_EPARSE;
    if (!m || m->hub_public_key.len != CRYPTO_PUBKEY_LEN || !origin_valid(m->agent_id) ||
        strlen(m->agent_id) != AGENT_ID_LEN || !unit_code_valid(m->unit) ||
        m->n_scope > ENROLL_MAX_SCOPE || m->next_seq == 0) {
        dti_errf(e, r, "enrolment response is malformed");
        goto out;
    }
    if ((r = hubsigned_verify(msg, m->hub_public_key.data, e)) < 0)
        goto out;
    r = DTI_EPARSE;
    if (m->n_scope_levels != 0 && m->n_scope_levels != m->n_scope) {
        dti_errf(e, r, "enrolment response has %zu levels for %zu scope units", m->n_scope_levels,
                 m->n_scope);
        goto out;
    }
    rs->scope_levels = xcalloc(m->n_scope ? m->n_scope : 1, sizeof(*rs->scope_levels));
    for (size_t i = 0; i < m->n_scope_levels; i++) {
        if (strlen(m->scope_levels[i]) >= sizeof(rs->scope_levels[i]) ||
            !unit_code_valid(m->scope_levels[i])) {
            dti_errf(e, r, "enrolment response names an invalid level");
            goto out;
        }
        memcpy(rs->scope_levels[i], m->scope_levels[i], strlen(m->scope_levels[i]) + 1);
    }
    rs->scope = xcalloc(m->n_scope ? m->n_scope : 1, sizeof(*rs->scope));
    for (size_t i = 0; i < m->n_scope; i++) {
        if (!unit_code_valid(m->scope[i])) {
            dti_errf(e, r, "enrolment response names an invalid unit");
            goto out;
        }
        memcpy(rs->scope[i], m->scope[i], strlen(m->scope[i]) + 1); /* length checked above */
    }
    rs->nscope = m->n_scope;
    memcpy(rs->agent_id, m->agent_id, AGENT_ID_LEN + 1);
    memcpy(rs->unit, m->unit, strlen(m->unit) + 1);
    memcpy(rs->hub_pub, m->hub_public_key.data, CRYPTO_PUBKEY_LEN);
    rs->hub_hlc = m->hub_hlc;
    rs->next_seq = m->next_seq;
    r = 0;
out:
    if (m)
        dti__v1__enroll_response__free_unpacked(m, NULL);
    hubsigned_free(msg);
    if (r < 0)
        enroll_response_release(rs);
    return r;
}

void enroll_response_release(struct enroll_response *rs)
{
    free(rs->scope);
    free(rs->scope_levels);
    memset(rs, 0, sizeof(*rs));
}
