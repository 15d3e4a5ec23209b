/*
 * hubdb.h - the hub's database: one SQLite file in the hub directory, its
 * schema and migrations, and the small administrative tables around the
 * values: units, enrolment tokens and agents. Admin commands and the running
 * server open the same file (WAL), so nothing here is cached across calls.
 *
 * Units are effective-dated rows (valid_from, valid_to, successor) so later
 * boundary changes keep their history; scope is "a unit and every unit
 * under it".
 */
#ifndef DTI_HUBDB_H
#define DTI_HUBDB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto.h"
#include "err.h"
#include "value.h"

#define HUBDB_FILE "hub.db"

/* Authority of a writer over a unit's values: higher wins a conflict. */
enum authority {
    AUTH_COMMUNE = 1, /* an office writing its own unit (communes, departments) */
    AUTH_DISTRICT = 2,
    AUTH_PROVINCE = 3,
    AUTH_HUB = 4, /* the hub operator */
};

/* Open dir/hub.db (create: make it and the schema), migrated to the latest schema. */
int hubdb_open(sqlite3 **out, const char *dir, bool create, struct dti_err *e);

/* The next number of the change feed (meta "chg"), inside the caller's
 * transaction. Values, notices and frameworks share these numbers. */
int hubdb_next_chg(sqlite3 *db, uint64_t *chg, struct dti_err *e);

/* Record who did what, when, in the audit table (inside the caller's transaction). */
int hubdb_audit(sqlite3 *db, uint64_t at_ms, const char *actor, const char *action,
                const char *detail, struct dti_err *e);

/* --- units --- */

/* Import code,name,level,parent_code[,valid_from,valid_to,successor] rows
 * (UTF-8 CSV with a header row) all or nothing; *count gets the rows read. */
int units_import(sqlite3 *db, FILE *csv, const char *name, size_t *count, struct dti_err *e);
/* The same, with the date a changed name or parent takes effect when a row
 * gives no valid_from ("today" for units_import, the local date). A row for a
 * known unit whose name or parent differs closes the old name or parent link
 * the day before its valid_from (or today) and opens the new one; the unit
 * keeps its start date. Nothing is deleted (docs/internals/UNITS.md). */
int units_import_on(sqlite3 *db, FILE *csv, const char *name, const char *today, size_t *count,
                    struct dti_err *e);

/* The first and last day (YYYY-MM-DD) of a period: 2023 is 2023-01-01 ..
 * 2023-12-31, 2023Q1 .. 2023-03-31, 2024-02 .. 2024-02-29. false when the
 * period is not valid. */
bool units_period_days(const char *period, char first[11], char last[11]);

#define UNIT_NAME_MAX 200

/* How a unit stood on one date. Strings are "" when none. */
struct unit_asof {
    bool exists;                  /* in effect on the date: valid_from <= date <= valid_to */
    char name[UNIT_NAME_MAX + 1]; /* its name on the date (the latest when none is dated) */
    char level[16];
    char parent[UNIT_CODE_MAX + 1]; /* its parent on the date */
    char valid_from[11], valid_to[11];
    char successor[UNIT_CODE_MAX + 1];
};

/* The name, parent and existence of code on date (YYYY-MM-DD) into *out.
 * DTI_EUNIT when the unit is unknown. */
int units_as_of(sqlite3 *db, const char *code, const char *date, struct unit_asof *out,
                struct dti_err *e);
/* Whether code was in effect on at least one day of period (*existed). When
 * it was not, why (when not NULL) says so for a person: "unit 22747 was
 * merged into 22750 on 2024-11-01: period 2025 is after it". DTI_EUNIT,
 * DTI_EPERIOD. */
int units_in_period(sqlite3 *db, const char *code, const char *period, bool *existed, char *why,
                    size_t whylen, struct dti_err *e);

/* Level of a unit ("province", "district", "commune", "department"); DTI_EUNIT if unknown. */
int units_level(sqlite3 *db, const char *code, char level[16], struct dti_err *e);
/* Authority an agent of this unit has over units in its scope. */
enum authority units_authority(const char *level);
/* The unit and every unit that is or ever was under it (any depth, over the
 * parent history: an office keeps sending for the periods its units stood
 * under it), into a new array of codes
 * the caller frees with units_scope_free. */
int units_scope(sqlite3 *db, const char *code, char ***codes, size_t *n, struct dti_err *e);
void units_scope_free(char **codes, size_t n);

/* --- enrolment tokens --- */

/* Make a one-time secret for unit, valid ttl_ms, stored as its SHA-256. */
int tokens_issue(sqlite3 *db, const char *unit, uint64_t now_ms, uint64_t ttl_ms,
                 uint8_t secret[32], struct dti_err *e);
/* Consume a secret for a new agent inside the caller's transaction: the unit
 * it was issued for goes to unit. Redeeming again for the same agent succeeds
 * (its first answer may have been lost). DTI_ETOKEN when unknown, used by
 * another agent, or expired. */
int tokens_redeem(sqlite3 *db, const uint8_t secret[32], const char *agent_id, uint64_t now_ms,
                  char unit[UNIT_CODE_MAX + 1], struct dti_err *e);

/* --- agents --- */

struct agent_row {
    char id[AGENT_ID_LEN + 1];
    char unit[UNIT_CODE_MAX + 1];
    char level[16];
    uint8_t pub[CRYPTO_PUBKEY_LEN];
    bool revoked;
    uint64_t last_seq;
    bool has_last_hash;
    uint8_t last_hash[CRYPTO_SHA256_LEN];
    uint64_t last_seen_ms;
    int64_t clock_skew_ms; /* agent clock minus hub clock at the last batch */
};

/* Create an agent row (enrolment). DTI_EEXISTS when the key is enrolled already. */
int agents_create(sqlite3 *db, const char *id, const char *unit, const uint8_t pub[32],
                  uint64_t now_ms, struct dti_err *e);
/* DTI_EAGENT when unknown. */
int agents_get(sqlite3 *db, const char *id, struct agent_row *a, struct dti_err *e);
/* Revoke: later batches from it are refused. DTI_EAGENT when unknown. */
int agents_revoke(sqlite3 *db, const char *id, uint64_t now_ms, struct dti_err *e);

#endif
