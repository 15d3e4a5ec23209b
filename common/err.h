/*
 * err.h - the one error vocabulary of dtisync.
 *
 * Every fallible function returns int: 0 on success or a negative DTI_E* code.
 * The codes come from one X-macro table that also gives each its wire reason
 * (the machine-readable string sent in HTTP error bodies and receipts), a
 * message, and whether the condition is transient ("retry later") or final.
 * Detail for people goes into an optional caller-owned struct dti_err; no
 * globals.
 */
#ifndef DTI_ERR_H
#define DTI_ERR_H

#include <stdbool.h>

/* X(NAME, wire_reason, message, transient) */
#define DTI_ERRNO_MAP(X)                                                                           \
    X(NOMEM, "out_of_memory", "out of memory", false)                                              \
    X(INVAL, "invalid_argument", "invalid argument", false)                                        \
    X(IO, "io_error", "input/output error", false)                                                 \
    X(DB, "database_error", "database error", false)                                               \
    X(BUSY, "busy", "database busy", true)                                                         \
    X(NOTFOUND, "not_found", "not found", false)                                                   \
    X(EXISTS, "already_exists", "already exists", false)                                           \
    X(PARSE, "malformed", "malformed input", false)                                                \
    X(TOOBIG, "too_large", "input too large", false)                                               \
    X(CRYPTO, "crypto_error", "cryptographic failure", false)                                      \
    X(BADSIG, "bad_signature", "bad signature", false)                                             \
    X(CHAIN, "broken_chain", "hash chain does not link to the previous batch", false)              \
    X(GAP, "sequence_gap", "batch sequence gap", false)                                            \
    X(AGENT, "unknown_agent", "unknown agent", false)                                              \
    X(REVOKED, "revoked", "agent revoked", false)                                                  \
    X(SCOPE, "out_of_scope", "unit outside the agent's scope", false)                              \
    X(TOKEN, "bad_token", "invalid, expired or used enrolment token", false)                       \
    X(VALUE, "invalid_value", "invalid value", false)                                              \
    X(ELEMENT, "invalid_element", "invalid element code", false)                                   \
    X(PERIOD, "invalid_period", "invalid period", false)                                           \
    X(UNIT, "unknown_unit", "unknown unit", false)                                                 \
    X(PROTO, "protocol_error", "protocol error", false)                                            \
    X(CONTENT_TYPE, "bad_content_type", "unsupported content type", false)                         \
    X(STATE, "bad_state", "operation not valid in this state", false)                              \
    X(PIN, "pin_mismatch", "hub certificate does not match the pinned fingerprint", false)         \
    X(TLS, "tls_error", "TLS failure", false)                                                      \
    X(HTTP, "http_error", "unexpected HTTP response", false)                                       \
    X(UNREACHABLE, "unreachable", "hub cannot be reached", true)                                   \
    X(TIMEOUT, "timeout", "timed out", true)                                                       \
    X(UNAVAILABLE, "unavailable", "service temporarily unavailable", true)                         \
    X(RELAYED, "relayed", "held by a district relay for forwarding to the hub", true)

enum dti_errno {
    DTI_OK = 0,
#define DTI__ENUM(name, reason, msg, transient) DTI_E##name,
    DTI__FIRST = -1000,
    DTI_ERRNO_MAP(DTI__ENUM)
#undef DTI__ENUM
        DTI__LAST
};

/* Caller-owned detail for one failure. Zero-initialise before use. */
struct dti_err {
    int code;
    char msg[512];
};

/* The symbolic name, e.g. "DTI_EBADSIG"; "DTI_OK" for 0; "DTI_E?" for unknown codes. */
const char *dti_strname(int code);
/* The wire reason, e.g. "bad_signature"; "ok" for 0. */
const char *dti_reason(int code);
/* The human message, e.g. "bad signature". */
const char *dti_strerror(int code);
/* True for codes that mean "try again later" (network down, busy). */
bool dti_transient(int code);
/* Map a wire reason back to its code; DTI_EPROTO when unknown. */
int dti_from_reason(const char *reason);

/*
 * Record a failure: formats into e->msg (if e is not NULL) and returns code,
 * so callers can write `return dti_errf(e, DTI_EPARSE, "line %d: ...", n);`.
 * Keeps the first message: a later call does not overwrite a set e->code.
 */
int dti_errf(struct dti_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put "prefix: " before e's message (e.g. a file name); returns code. NULL e is fine. */
int dti_err_prefix(struct dti_err *e, int code, const char *prefix);
/* Replace e's code and message outright; returns code. */
int dti_err_set(struct dti_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clear e to "no error". */
void dti_err_clear(struct dti_err *e);
/* The best text for e: its message if set, else dti_strerror(code). */
const char *dti_err_text(const struct dti_err *e, int code);

#endif
