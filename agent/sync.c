/*
 * sync.c - push and pull (see sync.h and docs/PROTOCOL.md).
 */
#include "sync.h"
#include "changes.h"
#include "enroll.h"
#include "problem.h"
#include "receipt.h"
#include "relaybox.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PULL_CONTEXT "dti-pull-v1\n"

/* A non-200 answer: decode the hub's problem, take in its clock, say why. */
static int refused(struct store *st, const struct response *resp, const char *what,
                   uint64_t *expected_seq, struct dti_err *e)
{
    struct problem pb;
    if (problem_decode(resp->body.data, resp->body.len, &pb) < 0 || !pb.reason[0]) {
        int code = resp->status == 413   ? DTI_ETOOBIG
                   : resp->status >= 500 ? DTI_EUNAVAILABLE
                                         : DTI_EHTTP;
        return dti_errf(e, code, "%s: the hub answered HTTP %ld", what, resp->status);
    }
    if (pb.hub_hlc)
        store_observe_hub(st, pb.hub_hlc, NULL);
    if (expected_seq)
        *expected_seq = pb.expected_seq;
    int code = pb.code;
    if (resp->status >= 500 && !dti_transient(code))
        code = DTI_EUNAVAILABLE;
    return dti_errf(e, code, "%s: the hub refused (%ld %s): %s", what, resp->status, pb.reason,
                    pb.message);
}

int sync_enrol(struct store *st, const struct signer *key, const struct transport *t,
               uint64_t now_ms, struct dti_err *e)
{
    struct store_identity id;
    struct buf req;
    struct response resp = {0};
    struct enroll_response rs = {0};
    uint64_t hlc;
    buf_init(&req, 4096);
    int r = store_identity(st, &id, e);
    if (r < 0)
        return r;
    if (id.enrolled)
        return 0;
    if (!id.has_token)
        return dti_errf(e, DTI_ESTATE, "enrolment is pending but the store holds no token");
    if ((r = store_tick(st, now_ms, &hlc, e)) < 0 ||
        (r = enroll_request_make(key, id.token_secret, hlc, &req, e)) < 0)
        goto out;
    if ((r = t->post(t->ctx, "/v1/enroll", req.data, req.len, &resp, e)) < 0)
        goto out;
    if (resp.status != 200) {
        r = refused(st, &resp, "enrol", NULL, e);
        goto out;
    }
    if ((r = enroll_response_open(resp.body.data, resp.body.len, &rs, e)) < 0)
        goto out;
    if (strcmp(rs.agent_id, id.agent_id) != 0 || strcmp(rs.unit, id.unit) != 0) {
        r = dti_errf(e, DTI_EPROTO, "the hub enrolled agent %s for unit %s, expected %s for %s",
                     rs.agent_id, rs.unit, id.agent_id, id.unit);
        goto out;
    }
    if ((r = store_enrolled(st, rs.hub_pub, rs.scope, rs.scope_levels, rs.nscope, rs.next_seq, e)) <
            0 ||
        (r = store_observe_hub(st, rs.hub_hlc, e)) < 0)
        goto out;
out:
    enroll_response_release(&rs);
    buf_release(&resp.body);
    buf_release(&req);
    return r;
}

/* Push one sealed batch and store its receipt. */
static int push_one(struct store *st, const struct store_identity *id, const struct transport *t,
                    uint64_t seq, const uint8_t hash[32], const struct buf *env,
                    uint64_t *expected_seq, struct sync_report *rep, struct dti_err *e)
{
    struct response resp = {0};
    struct receipt rc = {0};
    char what[64];
    snprintf(what, sizeof(what), "push batch %" PRIu64, seq);
    int r = t->post(t->ctx, "/v1/batches", env->data, env->len, &resp, e);
    if (r < 0)
        return r;
    if (resp.status != 200) {
        r = refused(st, &resp, what, expected_seq, e);
        goto out;
    }
    if ((r = receipt_open(resp.body.data, resp.body.len, id->hub_pub, &rc, e)) < 0)
        goto out;
    if (strcmp(rc.agent_id, id->agent_id) != 0 || rc.seq != seq ||
        memcmp(rc.batch_hash, hash, 32) != 0) {
        r = dti_errf(e, DTI_EPROTO, "the receipt for batch %" PRIu64 " names another batch", seq);
        goto out;
    }
    if ((r = store_ack(st, &rc, resp.body.data, resp.body.len, e)) < 0)
        goto out;
    rep->pushed++;
    rep->records += rc.n;
    for (size_t i = 0; i < rc.n; i++)
        rep->outcomes[rc.outcomes[i] & 7]++;
    for (size_t i = 0; i < rc.nrejects && rep->nrejects < SYNC_REJECTS_SHOWN; i++)
        snprintf(rep->rejects[rep->nrejects++], sizeof(rep->rejects[0]), "%s",
                 rc.rejects[i].message);
out:
    receipt_release(&rc);
    buf_release(&resp.body);
    return r;
}

static int push_all(struct store *st, const struct store_identity *id, const struct transport *t,
                    struct sync_report *rep, struct dti_err *e)
{
    struct buf env;
    buf_init(&env, BUF_UNLIMITED);
    uint8_t hash[32];
    uint64_t seq, jump = 0;
    int r, gaps = 0;
    bool past_held = false; /* a relay holds an earlier batch: go on from seq + 1 */
    for (;;) {
        r = jump ? store_unacked(st, jump, hash, &env, e)
                 : store_oldest_unacked(st, &seq, hash, &env, e);
        if (jump)
            seq = jump;
        if (r == DTI_ENOTFOUND && past_held) {
            r = dti_err_set(e, DTI_ERELAYED,
                            "the district relay holds %zu batch%s for the hub; sync again "
                            "later for the hub's receipts",
                            rep->held, rep->held == 1 ? "" : "es");
            break;
        }
        if (r == DTI_ENOTFOUND && !jump) {
            r = 0;
            break;
        }
        if (r == DTI_ENOTFOUND) {
            r = dti_err_set(e, DTI_EGAP,
                            "the hub expects batch %" PRIu64 ", which this agent no longer "
                            "holds unacknowledged (its receipt is stored here)",
                            jump);
            break;
        }
        if (r < 0)
            break;
        uint64_t expected = 0;
        jump = 0;
        r = push_one(st, id, t, seq, hash, &env, &expected, rep, e);
        if (r == DTI_ERELAYED || (r == 0 && past_held)) {
            /* a district relay stored this batch for the hub: offer it the later ones
             * too, so a district offline for weeks still collects all of them */
            rep->held += r == DTI_ERELAYED;
            dti_err_clear(e);
            past_held = true;
            jump = seq + 1;
            continue;
        }
        if (r == DTI_EGAP && expected && gaps++ < 3) {
            /* the hub is missing an earlier batch: send that one first */
            dti_err_clear(e);
            jump = expected;
            continue;
        }
        if (r < 0)
            break;
    }
    buf_release(&env);
    return r;
}

static int pull_all(struct store *st, const struct signer *key, const struct store_identity *id,
                    const struct transport *t, struct sync_report *rep, struct dti_err *e)
{
    int r = 0;
    for (size_t page = 0; page < SYNC_MAX_PAGES; page++) {
        uint64_t cursor;
        struct response resp = {0};
        struct changes_page cp = {0};
        if ((r = store_cursor(st, &cursor, e)) < 0)
            return r;
        char *path = xasprintf("/v1/changes?after=%" PRIu64, cursor);
        char *msg = xasprintf("%s%s", PULL_CONTEXT, path);
        uint8_t sig[CRYPTO_SIG_LEN];
        char *sig64 = NULL, *h_agent = NULL, *h_sig = NULL;
        if ((r = signer_sign(key, msg, strlen(msg), sig)) < 0) {
            dti_errf(e, r, "cannot sign the pull request");
            goto next;
        }
        sig64 = base64url_encode(sig, sizeof(sig));
        h_agent = xasprintf("X-DTI-Agent: %s", id->agent_id);
        h_sig = xasprintf("X-DTI-Signature: %s", sig64);
        const char *hdrs[] = {h_agent, h_sig, NULL};
        if ((r = t->get(t->ctx, path, hdrs, &resp, e)) < 0)
            goto next;
        if (resp.status != 200) {
            r = refused(st, &resp, "pull changes", NULL, e);
            goto next;
        }
        if ((r = changes_open(resp.body.data, resp.body.len, id->hub_pub, &cp, e)) < 0)
            goto next;
        if (strcmp(cp.agent_id, id->agent_id) != 0 || cp.after != cursor) {
            r = dti_errf(e, DTI_EPROTO, "the change page answers another request");
            goto next;
        }
        size_t applied, flagged;
        if ((r = store_apply_changes(st, &cp, &applied, &flagged, e)) < 0)
            goto next;
        uint64_t moved;
        if ((r = store_cursor(st, &moved, e)) < 0)
            goto next;
        if (moved != cp.next) { /* never ask for the same page forever */
            r = dti_errf(e, DTI_ESTATE, "the pull cursor did not advance to %" PRIu64, cp.next);
            goto next;
        }
        rep->pages++;
        rep->applied += applied;
        rep->flagged += flagged;
    next:;
        bool more = cp.more && cp.next > cursor;
        changes_release(&cp);
        buf_release(&resp.body);
        free(path);
        free(msg);
        free(sig64);
        free(h_agent);
        free(h_sig);
        if (r < 0 || !more)
            break;
    }
    return r;
}

int sync_run(struct store *st, const struct signer *key, const struct transport *t,
             size_t batch_records, uint64_t now_ms, struct sync_report *rep, struct dti_err *e)
{
    struct store_identity id;
    memset(rep, 0, sizeof(*rep));
    /* seal first: the officer's edits become durable batches even if the link is down */
    int r = store_seal(st, key, batch_records, now_ms, &rep->sealed, e);
    if (r < 0)
        return r;
    if ((r = sync_enrol(st, key, t, now_ms, e)) < 0)
        return r;
    if ((r = store_identity(st, &id, e)) < 0)
        return r;
    if ((r = push_all(st, &id, t, rep, e)) < 0)
        return r;
    /* a district: commune batches its relay holds go up on the district's own link */
    struct relaybox_report rr;
    r = relaybox_forward(st, id.hub_pub, t, now_ms, &rr, e);
    rep->relayed = rr.forwarded;
    rep->relay_agents = rr.agents;
    rep->relay_refused = rr.refused;
    rep->relay_waiting = rr.waiting;
    if (r < 0)
        return r;
    return pull_all(st, key, &id, t, rep, e);
}
