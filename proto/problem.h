/*
 * problem.h - the body of every refusal the hub sends (a non-2xx answer):
 * a wire reason code (err.h), a message for people, and for a sequence gap
 * the sequence the hub expects. Unsigned: a refusal changes nothing, so an
 * attacker who forges one gains only a retry.
 */
#ifndef DTI_PROBLEM_H
#define DTI_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct problem {
    int code; /* DTI_E* from the reason; DTI_EPROTO if unknown */
    char reason[40];
    char message[400];
    uint64_t expected_seq;
    uint64_t hub_hlc;
};

int problem_encode(const struct problem *p, struct buf *out);
/* Parse a refusal body; bounded, never fails on odd text (it is truncated). */
int problem_decode(const void *bytes, size_t len, struct problem *p);

#endif
