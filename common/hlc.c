/*
 * hlc.c - hybrid logical clock (Kulkarni et al., 2014), 48+16 bit layout.
 */
#include "hlc.h"
#include "err.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t hlc_tick(struct hlc *c, uint64_t now_ms)
{
    if (now_ms > HLC_MS_MAX)
        now_ms = HLC_MS_MAX;
    uint64_t wall = hlc_make(now_ms, 0);
    /* saturate rather than wrap to 0: only a hostile peer could push a clock to the
     * year 10889, and a stuck clock is detectable where a wrapped one is not */
    uint64_t next = wall > c->last ? wall : c->last == UINT64_MAX ? UINT64_MAX : c->last + 1;
    c->last = next;
    return next;
}

void hlc_observe(struct hlc *c, uint64_t remote)
{
    if (remote > c->last)
        c->last = remote;
}

void hlc_format(uint64_t ts, char out[40])
{
    uint64_t ms = hlc_ms(ts);
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    char date[24];
    if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(out, 40, "?");
        return;
    }
    snprintf(out, 40, "%s.%03uZ+%u", date, (unsigned)(ms % 1000u), (unsigned)hlc_logical(ts));
}

int hlc_parse(const char *s, uint64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    unsigned msec, logical;
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ+%u%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &msec, &logical, &n) != 8 ||
        s[n] != '\0' || msec > 999 || logical > 0xffffu)
        return DTI_EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0)
        return DTI_EINVAL;
    *out = hlc_make((uint64_t)t * 1000u + msec, (uint16_t)logical);
    return 0;
}
