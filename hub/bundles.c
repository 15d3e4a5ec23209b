/*
 * bundles.c - bundle import, receipt export, and the gaps view.
 */
#include "bundles.h"
#include "bundle.h"
#include "db.h"
#include "envelope.h"
#include "hubdb.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int bundles_import(struct ingest *ing, FILE *f, uint64_t now_ms, bundle_import_cb cb, void *ctx,
                   struct bundle_import_report *rep, struct dti_err *e)
{
    struct bundle_reader *br = NULL;
    struct buf entry, receipt;
    memset(rep, 0, sizeof(*rep));
    int r = bundle_reader_open(&br, f, e);
    if (r < 0)
        return r;
    buf_init(&entry, ENVELOPE_MAX);
    buf_init(&receipt, BUF_UNLIMITED);
    char kind;
    while ((r = bundle_next(br, &kind, &entry, e)) > 0) {
        if (kind != BUNDLE_ENVELOPE) {
            rep->receipts++;
            continue;
        }
        struct problem pb;
        int replay;
        size_t index = rep->envelopes++;
        int ir = ingest_envelope_via(ing, entry.data, entry.len, now_ms, "bundle", &receipt,
                                     &replay, &pb);
        if (ir == 0 && replay)
            rep->replays++;
        else if (ir == 0)
            rep->applied++;
        else if (ir == DTI_EGAP)
            rep->parked++;
        else
            rep->refused++;
        if (cb)
            cb(ctx, index, bundle_offset(br), ir, &pb);
    }
    buf_release(&entry);
    buf_release(&receipt);
    bundle_reader_free(br);
    return r;
}

int bundles_export_receipts(sqlite3 *db, const char *agent, uint64_t from_seq, FILE *f,
                            size_t *count, struct dti_err *e)
{
    sqlite3_stmt *st = NULL;
    struct bundle_writer *w = NULL;
    int exists = 0;
    *count = 0;
    int r = db_prepare(db, &st, "SELECT count(*) FROM agents WHERE id = ?1", e);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, agent, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        exists = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (!exists)
        return dti_errf(e, DTI_EAGENT, "unknown agent '%s'", agent);
    if ((r = db_prepare(db, &st,
                        "SELECT receipt FROM batches WHERE agent = ?1 AND seq >= ?2 ORDER BY seq",
                        e)) < 0)
        return r;
    sqlite3_bind_text(st, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)from_seq);
    if ((r = bundle_writer_open(&w, f, e)) < 0)
        goto out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r = bundle_write(w, BUNDLE_RECEIPT, sqlite3_column_blob(st, 0),
                              (size_t)sqlite3_column_bytes(st, 0), e)) < 0)
            goto out;
        (*count)++;
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(db, e, "read receipts");
        goto out;
    }
    r = bundle_finish(w, e);
    w = NULL;
out:
    bundle_writer_free(w);
    sqlite3_finalize(st);
    return r;
}

int bundles_gaps_json(sqlite3 *db, uint64_t now_ms, unsigned silent_days, json_t **out,
                      struct dti_err *e)
{
    sqlite3_stmt *st = NULL, *pk = NULL;
    int r = db_prepare(db, &st,
                       "SELECT a.id, a.unit, coalesce(u.name, ''), a.last_seq, "
                       "coalesce(a.last_seen_ms, 0), a.revoked_ms IS NOT NULL, "
                       "coalesce(a.last_via, ''), coalesce(v.unit, ''), "
                       "coalesce(vu.name, '') FROM agents a "
                       "LEFT JOIN units u ON u.code = a.unit "
                       "LEFT JOIN agents v ON v.id = a.last_via "
                       "LEFT JOIN units vu ON vu.code = v.unit ORDER BY a.unit, a.id",
                       e);
    if (r < 0)
        return r;
    if ((r = db_prepare(db, &pk, "SELECT seq FROM parked WHERE agent = ?1 ORDER BY seq", e)) < 0) {
        sqlite3_finalize(st);
        return r;
    }
    json_t *arr = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = db_column_str(st, 0);
        uint64_t last = (uint64_t)sqlite3_column_int64(st, 3);
        uint64_t seen = (uint64_t)sqlite3_column_int64(st, 4);
        json_t *parked = json_array(), *missing = json_array();
        sqlite3_reset(pk);
        sqlite3_bind_text(pk, 1, id, -1, SQLITE_STATIC);
        uint64_t expect = last + 1;
        while (sqlite3_step(pk) == SQLITE_ROW) {
            uint64_t seq = (uint64_t)sqlite3_column_int64(pk, 0);
            json_array_append_new(parked, json_integer((json_int_t)seq));
            if (seq > expect) /* batches expect .. seq-1 exist but have not arrived */
                json_array_append_new(
                    missing, json_pack("[I, I]", (json_int_t)expect, (json_int_t)(seq - 1)));
            expect = seq + 1;
        }
        char seen_s[32] = "";
        if (seen)
            format_utc(seen, seen_s);
        uint64_t days = seen && now_ms > seen ? (now_ms - seen) / 86400000u : 0;
        bool silent = !sqlite3_column_int(st, 5) && (seen ? days >= silent_days : true);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:s?, s:I, s:b, s:b}", "agent", id,
                           "unit", db_column_str(st, 1), "unit_name", db_column_str(st, 2),
                           "last_seq", (json_int_t)last, "missing", missing, "parked", parked,
                           "last_seen", seen ? seen_s : NULL, "days_silent", (json_int_t)days,
                           "silent", silent, "revoked", sqlite3_column_int(st, 5) != 0));
        /* the road of its last batch, when not its own link: a district relay or a bundle */
        json_t *o = json_array_get(arr, json_array_size(arr) - 1);
        const char *via = db_column_str(st, 6);
        if (*via)
            json_object_set_new(o, "via",
                                !strcmp(via, "bundle")
                                    ? json_pack("{s:s}", "road", "bundle")
                                    : json_pack("{s:s, s:s, s:s, s:s}", "road", "relay", "agent",
                                                via, "unit", db_column_str(st, 7), "unit_name",
                                                db_column_str(st, 8)));
    }
    sqlite3_finalize(st);
    sqlite3_finalize(pk);
    *out = arr;
    return 0;
}
