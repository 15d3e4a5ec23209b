/*
 * changes.h - a page of the hub's change feed: authoritative values inside
 * an agent's scope that changed after a cursor, hub-signed.
 */
#ifndef DTI_CHANGES_H
#define DTI_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "value.h"

#define CHANGES_PAGE_MAX 5000

/* One authoritative value. Strings are borrowed (from the hub's statement
 * when sealing, from the page when opened). */
struct change {
    const char *unit;
    const char *element;
    const char *period;
    struct value value;
    uint64_t hlc;
    const char *origin; /* agent id or "hub" */
    const char *author;
    const char *comment;
};

/* What the hub decided about one of the agent's own versions. */
struct notice {
    const char *unit;
    const char *element;
    const char *period;
    uint64_t hlc;     /* the agent's version */
    const char *kind; /* "overruled", "upheld", "accepted", "rejected" */
    const char *comment;
    const char *by;
};

/* True for the five notice kinds. */
bool notice_kind_valid(const char *kind);

#define FRAMEWORK_JSON_MAX (4u << 20)

/* A framework document; json is borrowed (NUL-terminated, json_len bytes). */
struct framework_doc {
    uint64_t version;
    const char *level;
    const char *period;
    const char *json;
    size_t json_len;
};

struct changes_page {
    char agent_id[AGENT_ID_LEN + 1];
    uint64_t after;
    uint64_t next;
    bool more;
    uint64_t hub_hlc;
    size_t n;
    struct change *items; /* owned when opened */
    size_t nnotices;
    struct notice *notices; /* owned when opened */
    size_t nframeworks;
    struct framework_doc *frameworks; /* owned when opened */
    void *msg;                        /* owned when opened: backs the strings */
};

int changes_seal(const struct changes_page *p, const struct signer *hub, struct buf *out,
                 struct dti_err *e);
/* Verify with the pinned hub key and parse; every item is validated. */
int changes_open(const void *bytes, size_t len, const uint8_t hub_pub[CRYPTO_PUBKEY_LEN],
                 struct changes_page *p, struct dti_err *e);
void changes_release(struct changes_page *p);

#endif
