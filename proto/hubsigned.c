/*
 * hubsigned.c - the HubSigned wrapper.
 */
#include "hubsigned.h"

#include "dtisync.pb-c.h"

int hubsigned_seal(const void *body, size_t len, const struct signer *hub, struct buf *out,
                   struct dti_err *e)
{
    uint8_t sig[CRYPTO_SIG_LEN];
    int r = signer_sign(hub, body, len, sig);
    if (r < 0)
        return dti_errf(e, r, "cannot sign hub message");
    Dti__V1__HubSigned hs = DTI__V1__HUB_SIGNED__INIT;
    hs.body.data = (uint8_t *)body;
    hs.body.len = len;
    hs.signature.data = sig;
    hs.signature.len = CRYPTO_SIG_LEN;
    size_t n = dti__v1__hub_signed__get_packed_size(&hs);
    buf_reset(out);
    if ((r = buf_reserve(out, n)) < 0)
        return dti_errf(e, r, "hub message too large");
    dti__v1__hub_signed__pack(&hs, out->data);
    out->len = n;
    return 0;
}

int hubsigned_verify(void *msg, const uint8_t pub[CRYPTO_PUBKEY_LEN], struct dti_err *e)
{
    Dti__V1__HubSigned *hs = msg;
    if (crypto_verify(pub, hs->body.data, hs->body.len, hs->signature.data) < 0)
        return dti_errf(e, DTI_EBADSIG, "hub signature does not verify with the pinned hub key");
    return 0;
}

int hubsigned_open(const void *bytes, size_t len, const uint8_t *pub, void **msg,
                   const uint8_t **body, size_t *bodylen, struct dti_err *e)
{
    if (len > HUBSIGNED_MAX)
        return dti_errf(e, DTI_ETOOBIG, "hub message of %zu bytes is too large", len);
    Dti__V1__HubSigned *hs = dti__v1__hub_signed__unpack(NULL, len, bytes);
    if (!hs)
        return dti_errf(e, DTI_EPARSE, "hub message is not a valid HubSigned");
    if (hs->signature.len != CRYPTO_SIG_LEN) {
        dti__v1__hub_signed__free_unpacked(hs, NULL);
        return dti_errf(e, DTI_EPARSE, "hub signature has the wrong length");
    }
    if (pub) {
        int r = hubsigned_verify(hs, pub, e);
        if (r < 0) {
            dti__v1__hub_signed__free_unpacked(hs, NULL);
            return r;
        }
    }
    *msg = hs;
    *body = hs->body.data;
    *bodylen = hs->body.len;
    return 0;
}

void hubsigned_free(void *msg)
{
    if (msg)
        dti__v1__hub_signed__free_unpacked(msg, NULL);
}
