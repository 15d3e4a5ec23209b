/*
 * benchgen.c - what the scoring benchmarks generate: a framework of
 * INDICATORS x PER_INDICATOR components (ratio, tiers, categorical, checks,
 * boolean and value in turn; about 150 elements) and pseudo-random inputs
 * from a fixed seed (about 5% not collected), so runs are comparable.
 */
#include "benchgen.h"
#include "buf.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const CATEGORIES[] = {"chu_tich", "pho_chu_tich", "khac", "chua_co"};

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15u;

uint32_t bench_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

char *bench_framework(const char *period)
{
    struct buf els, inds;
    buf_init(&els, BUF_UNLIMITED);
    buf_init(&inds, BUF_UNLIMITED);
    int ne = 0;
#define EL(type, extra)                                                                            \
    buf_printf(&els, "%s{\"code\":\"e%03d\",\"name\":\"Yếu tố %d\",\"type\":\"%s\"%s}",            \
               ne ? "," : "", ne, ne, type, extra),                                                \
        ne++
    for (int i = 0; i < INDICATORS; i++) {
        buf_printf(&inds,
                   "%s{\"code\":\"%d\",\"name\":\"Chỉ số %d\",\"max_points\":100,"
                   "\"components\":[",
                   i ? "," : "", i + 1, i + 1);
        for (int c = 0; c < PER_INDICATOR; c++) {
            buf_printf(&inds,
                       "%s{\"code\":\"%d.%d\",\"name\":\"Thành phần %d.%d\","
                       "\"max_points\":10,\"method\":",
                       c ? "," : "", i + 1, c + 1, i + 1, c + 1);
            switch ((i * PER_INDICATOR + c) % 6) {
            case 0:
                buf_printf(
                    &inds,
                    "{\"kind\":\"ratio\",\"numerator\":\"e%03d\",\"denominator\":\"e%03d\"%s}", ne,
                    ne + 1, c % 2 ? ",\"target\":0.8" : "");
                EL("integer", ",\"min\":0,\"max\":100000");
                EL("integer", ",\"min\":0,\"max\":100000");
                break;
            case 1:
                buf_printf(&inds,
                           "{\"kind\":\"tiers\",\"input\":\"e%03d\",\"tiers\":[[4,10],[3,7.5],"
                           "[2,5],[1,2.5]]}",
                           ne);
                EL("integer", ",\"min\":0,\"max\":366");
                break;
            case 2:
                buf_printf(&inds,
                           "{\"kind\":\"categorical\",\"input\":\"e%03d\",\"map\":{\"chu_tich\":1,"
                           "\"pho_chu_tich\":0.5,\"khac\":0}}",
                           ne);
                EL("category", ",\"categories\":[\"chu_tich\",\"pho_chu_tich\",\"khac\","
                               "\"chua_co\"]");
                break;
            case 3:
                buf_printf(&inds,
                           "{\"kind\":\"checks\",\"inputs\":[\"e%03d\",\"e%03d\",\"e%03d\"]}", ne,
                           ne + 1, ne + 2);
                EL("boolean", "");
                EL("boolean", "");
                EL("boolean", "");
                break;
            case 4:
                buf_printf(&inds, "{\"kind\":\"boolean\",\"input\":\"e%03d\"}", ne);
                EL("boolean", "");
                break;
            default:
                buf_printf(&inds, "{\"kind\":\"value\",\"input\":\"e%03d\"}", ne);
                EL("percent", "");
                break;
            }
            buf_puts(&inds, "}");
        }
        buf_puts(&inds, "]}");
    }
#undef EL
    char *text = xasprintf(
        "{\"id\":\"bench-national-%s\",\"name\":\"Bộ chỉ số thử tải\",\"level\":\"commune\","
        "\"period\":\"%s\",\"max_points\":%d,\"elements\":[%s],\"indicators\":[%s],"
        "\"pillars\":[{\"code\":\"CQS\",\"name\":\"Chính quyền số\",\"indicators\":[\"1\",\"2\","
        "\"3\",\"4\",\"5\",\"6\",\"7\"]},{\"code\":\"KTS\",\"name\":\"Kinh tế số\",\"indicators\":"
        "[\"1\",\"2\",\"3\",\"4\",\"5\",\"8\"]},{\"code\":\"XHS\",\"name\":\"Xã hội số\","
        "\"indicators\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"9\",\"10\"]}],"
        "\"bands\":[{\"name\":\"Tốt\",\"min\":0.8},{\"name\":\"Khá\",\"min\":0.65},"
        "{\"name\":\"Trung bình\",\"min\":0.5},{\"name\":\"Yếu\",\"min\":0}]}",
        period, period, INDICATORS * 100, (const char *)els.data, (const char *)inds.data);
    buf_release(&els);
    buf_release(&inds);
    return text;
}

bool bench_value(const struct fw_element *el, struct value *v)
{
    memset(v, 0, sizeof(*v));
    if (bench_rand() % 100 < 5)
        return false; /* not collected */
    switch (el->type) {
    case FW_TYPE_BOOLEAN:
        v->kind = VALUE_BOOL;
        v->b = bench_rand() % 3 != 0;
        break;
    case FW_TYPE_CATEGORY:
        v->kind = VALUE_TEXT;
        v->text = CATEGORIES[bench_rand() % 4];
        break;
    case FW_TYPE_PERCENT:
        v->kind = VALUE_NUMBER;
        v->num = (double)(bench_rand() % 1001) / 10.0;
        break;
    case FW_TYPE_INTEGER:
        v->kind = VALUE_NUMBER;
        v->num = (double)(bench_rand() % (el->max > 1000 ? 5000 : 6));
        break;
    default:
        v->kind = VALUE_NUMBER;
        v->num = (double)(bench_rand() % 1000) / 1000.0;
        break;
    }
    return true;
}
