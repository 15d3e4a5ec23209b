/*
 * transport.h - the seam between sync logic and the network: a small
 * function table. The real one (http.c) speaks HTTPS with libcurl and a
 * pinned certificate; tests put a fake behind the same table.
 */
#ifndef DTI_TRANSPORT_H
#define DTI_TRANSPORT_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define TRANSPORT_MAX_RESPONSE (16u << 20)

struct response {
    long status;     /* HTTP status; 0 when no answer arrived */
    struct buf body; /* bounded by TRANSPORT_MAX_RESPONSE */
};

struct transport {
    /*
     * POST body to path (e.g. "/v1/batches") as application/x-protobuf.
     * Returns 0 when an HTTP answer arrived (any status; check resp->status),
     * DTI_EUNREACHABLE / DTI_ETIMEOUT when the hub could not be reached or
     * the connection broke (retry later), DTI_EPIN / DTI_ETLS when the hub
     * is not the pinned one.
     */
    int (*post)(void *ctx, const char *path, const void *body, size_t len, struct response *resp,
                struct dti_err *e);
    /* GET path with extra "Name: value" headers (NULL-terminated). */
    int (*get)(void *ctx, const char *path, const char *const *headers, struct response *resp,
               struct dti_err *e);
    void *ctx;
};

#endif
