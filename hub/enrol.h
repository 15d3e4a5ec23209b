/*
 * enrol.h - redeeming an enrolment token: the agent proves it holds its key,
 * the one-time secret is consumed, the agent row is created, and the answer
 * (signed by the hub) carries the agent id, unit, scope and the hub key.
 * Enrolling again with the same key and a used token is refused; enrolling
 * an already-enrolled key with a fresh token for the same unit answers as
 * before (an agent that lost the first answer can finish).
 */
#ifndef DTI_ENROL_H
#define DTI_ENROL_H

#include <sqlite3.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "problem.h"

int enrol_handle(sqlite3 *db, const struct signer *hub, const void *body, size_t len,
                 uint64_t now_ms, uint64_t hub_hlc, struct buf *out, struct problem *pb);

#endif
