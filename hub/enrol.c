/*
 * enrol.c - POST /v1/enroll.
 */
#include "enrol.h"
#include "db.h"
#include "enroll.h"
#include "hubdb.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static int fail(struct problem *pb, int code, const struct dti_err *e)
{
    memset(pb, 0, sizeof(*pb));
    pb->code = code;
    snprintf(pb->reason, sizeof(pb->reason), "%s", dti_reason(code));
    snprintf(pb->message, sizeof(pb->message), "%s", dti_err_text(e, code));
    return code;
}

int enrol_handle(sqlite3 *db, const struct signer *hub, const void *body, size_t len,
                 uint64_t now_ms, uint64_t hub_hlc, struct buf *out, struct problem *pb)
{
    struct dti_err e = {0};
    struct enroll_request rq;
    struct enroll_response rs = {0};
    char **scope = NULL;
    size_t nscope = 0;
    char unit[UNIT_CODE_MAX + 1];
    struct agent_row ag;
    int r = enroll_request_parse(body, len, &rq, &e);
    if (r < 0)
        return fail(pb, r, &e);
    enroll_agent_id(rq.pub, rs.agent_id);
    if ((r = db_begin(db, &e)) < 0)
        goto out;
    if ((r = tokens_redeem(db, rq.secret, rs.agent_id, now_ms, unit, &e)) < 0)
        goto out;
    r = agents_get(db, rs.agent_id, &ag, &e);
    if (r == 0) {
        /* the same key enrolling again (its first answer was lost): same unit only */
        if (strcmp(ag.unit, unit) != 0 || ag.revoked) {
            r = dti_errf(&e, DTI_EEXISTS, "agent %s is already enrolled for unit %s", ag.id,
                         ag.unit);
            goto out;
        }
        rs.next_seq = ag.last_seq + 1;
    } else if (r == DTI_EAGENT) {
        dti_err_clear(&e);
        if ((r = agents_create(db, rs.agent_id, unit, rq.pub, now_ms, &e)) < 0)
            goto out;
        rs.next_seq = 1;
    } else {
        goto out;
    }
    if ((r = units_scope(db, unit, &scope, &nscope, &e)) < 0)
        goto out;
    snprintf(rs.unit, sizeof(rs.unit), "%s", unit);
    signer_public(hub, rs.hub_pub);
    rs.hub_hlc = hub_hlc;
    rs.nscope = nscope;
    rs.scope = xcalloc(nscope, sizeof(*rs.scope));
    rs.scope_levels = xcalloc(nscope, sizeof(*rs.scope_levels));
    for (size_t i = 0; i < nscope; i++) {
        snprintf(rs.scope[i], sizeof(rs.scope[i]), "%s", scope[i]);
        if ((r = units_level(db, scope[i], rs.scope_levels[i], &e)) < 0)
            goto out;
    }
    if ((r = enroll_response_seal(&rs, hub, out, &e)) < 0)
        goto out;
    r = db_commit(db, &e);
out:
    if (r < 0) {
        db_rollback(db);
        fail(pb, r, &e);
    }
    units_scope_free(scope, nscope);
    enroll_response_release(&rs);
    return r;
}
