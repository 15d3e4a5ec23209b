/*
 * bundles.h - the hub's end of the USB-stick road: importing a bundle of
 * envelopes (the same verification and exactly-once rule as HTTPS: each
 * envelope goes through ingest), exporting an agent's receipts as a bundle
 * for its office to import, and the view of who is missing what.
 */
#ifndef DTI_BUNDLES_H
#define DTI_BUNDLES_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "ingest.h"

struct bundle_import_report {
    size_t envelopes; /* read whole from the file */
    size_t applied;   /* new batches applied */
    size_t replays;   /* already held: nothing changed */
    size_t parked;    /* ahead of a gap: kept until it closes */
    size_t refused;   /* refused (reason printed through the callback) */
    size_t receipts;  /* receipt entries (ignored by the hub) */
};

/* Called for each envelope: its position, and 0 or the refusal. */
typedef void (*bundle_import_cb)(void *ctx, size_t index, uint64_t offset, int r,
                                 const struct problem *pb);

/*
 * Take in every envelope of a bundle. Entries before any damage are applied
 * exactly once; damage stops the import with its offset in e (the return is
 * then negative, and the report counts what was done before it).
 */
int bundles_import(struct ingest *ing, FILE *f, uint64_t now_ms, bundle_import_cb cb, void *ctx,
                   struct bundle_import_report *rep, struct dti_err *e);

/* Write the receipts of an agent's batches numbered >= from_seq as a bundle. */
int bundles_export_receipts(sqlite3 *db, const char *agent, uint64_t from_seq, FILE *f,
                            size_t *count, struct dti_err *e);

/* Per agent: last batch received, batches parked ahead of a gap (the missing
 * range), last seen, and whether it has been silent longer than silent_days. */
int bundles_gaps_json(sqlite3 *db, uint64_t now_ms, unsigned silent_days, json_t **out,
                      struct dti_err *e);

#endif
