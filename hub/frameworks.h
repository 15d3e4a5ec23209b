/*
 * frameworks.h - the hub's stored indicator frameworks: importing a file as a
 * new version, the version in force for a level and period, loading any
 * version back, and the list the operator sees.
 *
 * Versions only grow. The framework in force for (level, period) is the
 * highest version stored for them; older versions stay loadable for the
 * results that were scored against them. A file whose content hash equals
 * the version in force is not stored again. Each new version takes a number
 * of the change feed (hubdb_next_chg), so agents receive it on their next
 * sync. The format and its validation are common/framework.h.
 */
#ifndef DTI_FRAMEWORKS_H
#define DTI_FRAMEWORKS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "framework.h"

/*
 * Validate text (len bytes, the whole file) with framework_parse and store it
 * as a new version in one transaction. source_name labels problems (the file
 * name); by is who imports. On success *version is the version in force and
 * *unchanged tells whether it was already stored (same content hash as the
 * version in force for its level and period). A file with problems is
 * DTI_EPARSE or DTI_ETOOBIG with every problem in probs (caller-owned, see
 * framework.h) and nothing stored.
 */
int frameworks_import(sqlite3 *db, const char *text, size_t len, const char *source_name,
                      const char *by, uint64_t now_ms, int64_t *version, bool *unchanged,
                      struct fw_problems *probs, struct dti_err *e);

/* The version in force for level and period (the highest), parsed into a new
 * framework the caller frees with framework_free (fw may be NULL to get only
 * the version). DTI_ENOTFOUND when none was imported. */
int frameworks_in_force(sqlite3 *db, const char *level, const char *period, int64_t *version,
                        struct framework **fw, struct dti_err *e);

/* Any stored version, parsed into a new framework the caller frees.
 * DTI_ENOTFOUND when there is no such version. */
int frameworks_load(sqlite3 *db, int64_t version, struct framework **fw, struct dti_err *e);

/* Every version, oldest first, as a new JSON array the caller decrefs:
 * {version, id, name, level, period, imported, by, hash (hex), in_force}. */
int frameworks_list_json(sqlite3 *db, json_t **out, struct dti_err *e);

#endif
