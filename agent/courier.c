/*
 * courier.c - bundle export and receipt import (see courier.h).
 */
#include "courier.h"
#include "bundle.h"
#include "db.h"
#include "receipt.h"
#include "sync.h"
#include "util.h"

#include <inttypes.h>
#include <string.h>

int courier_export(struct store *st, const struct signer *key, uint64_t now_ms, FILE *f,
                   size_t *batches, struct dti_err *e)
{
    size_t sealed;
    struct bundle_writer *w = NULL;
    sqlite3_stmt *s = NULL;
    *batches = 0;
    int r = store_seal(st, key, SYNC_BATCH_RECORDS, now_ms, &sealed, e);
    if (r < 0)
        return r;
    if ((r = db_prepare(store_db(st), &s,
                        "SELECT envelope FROM batches WHERE receipt IS NULL ORDER BY seq", e)) < 0)
        return r;
    if ((r = bundle_writer_open(&w, f, e)) < 0)
        goto out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((r = bundle_write(w, BUNDLE_ENVELOPE, sqlite3_column_blob(s, 0),
                              (size_t)sqlite3_column_bytes(s, 0), e)) < 0)
            goto out;
        (*batches)++;
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(store_db(st), e, "read batches");
        goto out;
    }
    r = bundle_finish(w, e);
    w = NULL;
out:
    bundle_writer_free(w);
    sqlite3_finalize(s);
    return r;
}

int courier_import_receipts(struct store *st, FILE *f, struct courier_report *rep,
                            struct dti_err *e)
{
    struct store_identity id;
    struct bundle_reader *br = NULL;
    struct buf entry;
    memset(rep, 0, sizeof(*rep));
    int r = store_identity(st, &id, e);
    if (r < 0)
        return r;
    if (!id.enrolled)
        return dti_errf(e, DTI_ESTATE,
                        "this agent is not enrolled yet: it has no hub key to "
                        "check receipts with");
    if ((r = bundle_reader_open(&br, f, e)) < 0)
        return r;
    buf_init(&entry, BUF_UNLIMITED);
    char kind;
    while ((r = bundle_next(br, &kind, &entry, e)) > 0) {
        if (kind != BUNDLE_RECEIPT)
            continue;
        struct receipt rc;
        rep->receipts++;
        if ((r = receipt_open(entry.data, entry.len, id.hub_pub, &rc, e)) < 0) {
            dti_err_prefix(e, r, "a receipt in the bundle");
            break;
        }
        uint8_t hash[32];
        struct buf env;
        buf_init(&env, BUF_UNLIMITED);
        int have = strcmp(rc.agent_id, id.agent_id) == 0
                       ? store_unacked(st, rc.seq, hash, &env, NULL)
                       : DTI_EAGENT;
        buf_release(&env);
        if (have == 0) {
            /* store_ack checks the batch hash and record count against the batch */
            r = store_ack(st, &rc, entry.data, entry.len, e);
            if (r == 0)
                rep->acked++;
        } else if (have == DTI_ENOTFOUND) {
            rep->already++; /* acknowledged before, or never sealed here */
        } else {
            rep->foreign++;
        }
        receipt_release(&rc);
        if (r < 0)
            break;
    }
    buf_release(&entry);
    bundle_reader_free(br);
    return r;
}
