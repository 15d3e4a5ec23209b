/*
 * err.c - names, reasons and messages of the DTI_E* codes.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct errinfo {
    int code;
    const char *name;
    const char *reason;
    const char *msg;
    bool transient;
};

static const struct errinfo errtab[] = {
#define DTI__ROW(n, r, m, t) {DTI_E##n, "DTI_E" #n, r, m, t},
    DTI_ERRNO_MAP(DTI__ROW)
#undef DTI__ROW
};

static const struct errinfo *lookup(int code)
{
    for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (errtab[i].code == code)
            return &errtab[i];
    return NULL;
}

const char *dti_strname(int code)
{
    const struct errinfo *ei = lookup(code);
    if (code == 0)
        return "DTI_OK";
    return ei ? ei->name : "DTI_E?";
}

const char *dti_reason(int code)
{
    const struct errinfo *ei = lookup(code);
    if (code == 0)
        return "ok";
    return ei ? ei->reason : "unknown_error";
}

const char *dti_strerror(int code)
{
    const struct errinfo *ei = lookup(code);
    if (code == 0)
        return "success";
    return ei ? ei->msg : "unknown error";
}

bool dti_transient(int code)
{
    const struct errinfo *ei = lookup(code);
    return ei ? ei->transient : false;
}

int dti_from_reason(const char *reason)
{
    for (size_t i = 0; reason && i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (strcmp(errtab[i].reason, reason) == 0)
            return errtab[i].code;
    return DTI_EPROTO;
}

int dti_errf(struct dti_err *e, int code, const char *fmt, ...)
{
    if (e && e->code == 0) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int dti_err_prefix(struct dti_err *e, int code, const char *prefix)
{
    if (e) {
        char msg[sizeof(e->msg)];
        size_t n = strlen(prefix);
        snprintf(msg, sizeof(msg), "%s", e->msg[0] ? e->msg : dti_strerror(code));
        if (n > sizeof(e->msg) - 3)
            n = sizeof(e->msg) - 3;
        memcpy(e->msg, prefix, n);
        memcpy(e->msg + n, ": ", 2);
        size_t left = sizeof(e->msg) - n - 3, m = strlen(msg);
        if (m > left)
            m = left;
        memcpy(e->msg + n + 2, msg, m);
        e->msg[n + 2 + m] = '\0';
        e->code = code;
    }
    return code;
}

int dti_err_set(struct dti_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void dti_err_clear(struct dti_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}

const char *dti_err_text(const struct dti_err *e, int code)
{
    if (e && e->code != 0 && e->msg[0])
        return e->msg;
    return dti_strerror(code);
}
