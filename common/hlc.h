/*
 * hlc.h - hybrid logical clock: the version of every data value.
 *
 * A timestamp is one uint64: the high 48 bits are milliseconds since the Unix
 * epoch, the low 16 bits a logical counter that orders events within one
 * millisecond (and runs on when the wall clock stalls or goes backwards).
 * Pure: the wall time is an argument, so tests choose it.
 * See docs/internals/HLC.md.
 */
#ifndef DTI_HLC_H
#define DTI_HLC_H

#include <stdint.h>

#define HLC_LOGICAL_BITS 16
#define HLC_MS_MAX ((UINT64_C(1) << 48) - 1)

/* The clock's state: the greatest timestamp issued or observed. Zero-initialise. */
struct hlc {
    uint64_t last;
};

static inline uint64_t hlc_make(uint64_t ms, uint16_t logical)
{
    return (ms << HLC_LOGICAL_BITS) | logical;
}
static inline uint64_t hlc_ms(uint64_t ts)
{
    return ts >> HLC_LOGICAL_BITS;
}
static inline uint16_t hlc_logical(uint64_t ts)
{
    return (uint16_t)(ts & 0xffffu);
}

/* A timestamp for a local event at wall time now_ms: strictly greater than
 * every timestamp this clock issued or observed, and >= now_ms. */
uint64_t hlc_tick(struct hlc *c, uint64_t now_ms);
/* Take in a timestamp seen from elsewhere (a hub response): later ticks are
 * greater than it. */
void hlc_observe(struct hlc *c, uint64_t remote);
/* "2026-11-22T19:22:32.123Z+5" into out (>= 40 bytes). */
void hlc_format(uint64_t ts, char out[40]);
/* Inverse of hlc_format. 0 or DTI_EINVAL. */
int hlc_parse(const char *s, uint64_t *out);

#endif
