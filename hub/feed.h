/*
 * feed.h - the change feed an agent pulls: authoritative values inside its
 * scope whose change number is above its cursor, oldest first, bounded per
 * page, hub-signed. Values the agent itself wrote are left out (it has them).
 */
#ifndef DTI_FEED_H
#define DTI_FEED_H

#include <sqlite3.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "problem.h"

#define FEED_PAGE_DEFAULT 2000

int feed_page(sqlite3 *db, const struct signer *hub, const char *agent_id, uint64_t after,
              size_t limit, uint64_t hub_hlc, struct buf *out, struct problem *pb);

#endif
