/*
 * reconcile.h - the operator's decisions: resolving conflicts, locking and
 * approving periods, accepting or rejecting amendments - and the read-only
 * views behind them (the conflict queue, one conflict in full, amendments,
 * locks, a value's history).
 *
 * Every decision is one transaction that writes a new authoritative version
 * where the value changes (origin "hub", authority AUTH_HUB, so it reaches
 * every office through the change feed), a notice to each office whose own
 * version was decided on, and an audit row (who, when, what). Nothing is
 * deleted: displaced versions move to history with their fate.
 */
#ifndef DTI_RECONCILE_H
#define DTI_RECONCILE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "value.h"

/* Who decides, and when. */
struct actor {
    const char *by; /* operator name, UTF-8 */
    uint64_t now_ms;
};

enum resolve_keep {
    KEEP_CURRENT,  /* the version the hub held when the conflict arose */
    KEEP_INCOMING, /* the version that arrived */
    KEEP_VALUE,    /* a value the operator enters */
};

/* Resolve conflict id (and any other open conflict on the same key) with a new
 * hub version. DTI_ENOTFOUND, DTI_ESTATE when it is not open. */
int reconcile_resolve(sqlite3 *db, int64_t id, enum resolve_keep keep, const struct value *v,
                      const char *comment, const struct actor *who, struct dti_err *e);

/* Lock (state "locked") or approve ("approved") a period for one unit, one
 * level, or the whole province (unit and level NULL). */
int reconcile_lock(sqlite3 *db, const char *period, const char *unit, const char *level,
                   const char *state, const struct actor *who, struct dti_err *e);
/* Remove the active locks with exactly this scope; *removed counts them. */
int reconcile_unlock(sqlite3 *db, const char *period, const char *unit, const char *level,
                     const struct actor *who, size_t *removed, struct dti_err *e);
/* Is the period locked or approved for this unit (by unit, its level, or all)? */
int reconcile_is_locked(sqlite3 *db, const char *unit, const char *period, bool *locked,
                        struct dti_err *e);

/* Accept a pending amendment: its version becomes current. */
int reconcile_accept(sqlite3 *db, int64_t id, const char *comment, const struct actor *who,
                     struct dti_err *e);
/* Reject a pending amendment; the comment (required) reaches the office. */
int reconcile_reject(sqlite3 *db, int64_t id, const char *comment, const struct actor *who,
                     struct dti_err *e);

/* Read-only views as JSON documents the caller decrefs. status: "open",
 * "resolved" or "all"; unit may be NULL. */
int reconcile_conflicts_json(sqlite3 *db, const char *status, const char *unit, json_t **out,
                             struct dti_err *e);
int reconcile_conflict_json(sqlite3 *db, int64_t id, json_t **out, struct dti_err *e);
int reconcile_amendments_json(sqlite3 *db, const char *status, json_t **out, struct dti_err *e);
int reconcile_locks_json(sqlite3 *db, json_t **out, struct dti_err *e);
int reconcile_history_json(sqlite3 *db, const char *unit, const char *element, const char *period,
                           json_t **out, struct dti_err *e);

#endif
