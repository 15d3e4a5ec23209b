/*
 * score_bench.c - scoring a national-size year: 11,000 units against a
 * generated framework of 100 components (ratio, tiers, categorical, checks,
 * boolean and value in turn; about 150 elements), then ranking them. Inputs
 * are generated up front from a fixed seed (about 5% not collected), so only
 * score_unit (with its input hash) and score_rank are timed. Prints figures;
 * asserts nothing. Target: under 0.5 s for scoring and ranking together.
 *
 *   score_bench [UNITS]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "framework.h"
#include "score.h"
#include "util.h"
#include "value.h"

#define INDICATORS 10
#define PER_INDICATOR 10 /* components */
#define DEFAULT_UNITS 11000

static const char *const CATEGORIES[] = {"chu_tich", "pho_chu_tich", "khac", "chua_co"};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Element definitions and components for one framework, as JSON text. */
static char *generate_framework(void)
{
    struct buf els, inds;
    buf_init(&els, BUF_UNLIMITED);
    buf_init(&inds, BUF_UNLIMITED);
    int ne = 0;
#define EL(type, extra)                                                                            \
    buf_printf(&els, "%s{\"code\":\"e%d\",\"name\":\"Yếu tố %d\",\"type\":\"%s\"%s}",              \
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
                buf_printf(&inds,
                           "{\"kind\":\"ratio\",\"numerator\":\"e%d\",\"denominator\":\"e%d\"%s}",
                           ne, ne + 1, c % 2 ? ",\"target\":0.8" : "");
                EL("integer", ",\"min\":0,\"max\":100000,\"aggregate\":\"sum\"");
                EL("integer", ",\"min\":0,\"max\":100000,\"aggregate\":\"sum\"");
                break;
            case 1:
                buf_printf(&inds,
                           "{\"kind\":\"tiers\",\"input\":\"e%d\",\"tiers\":[[4,10],[3,7.5],[2,5],"
                           "[1,2.5]]}",
                           ne);
                EL("integer", ",\"min\":0,\"max\":366");
                break;
            case 2:
                buf_printf(&inds,
                           "{\"kind\":\"categorical\",\"input\":\"e%d\",\"map\":{\"chu_tich\":1,"
                           "\"pho_chu_tich\":0.5,\"khac\":0}}",
                           ne);
                EL("category", ",\"categories\":[\"chu_tich\",\"pho_chu_tich\",\"khac\","
                               "\"chua_co\"]");
                break;
            case 3:
                buf_printf(&inds, "{\"kind\":\"checks\",\"inputs\":[\"e%d\",\"e%d\",\"e%d\"]}", ne,
                           ne + 1, ne + 2);
                EL("boolean", "");
                EL("boolean", "");
                EL("boolean", "");
                break;
            case 4:
                buf_printf(&inds, "{\"kind\":\"boolean\",\"input\":\"e%d\"}", ne);
                EL("boolean", "");
                break;
            default:
                buf_printf(&inds, "{\"kind\":\"value\",\"input\":\"e%d\"}", ne);
                EL("percent", "");
                break;
            }
            buf_puts(&inds, "}");
        }
        buf_puts(&inds, "]}");
    }
#undef EL
    char *text = xasprintf(
        "{\"id\":\"bench-national\",\"name\":\"Bộ chỉ số thử tải\",\"level\":\"commune\","
        "\"period\":\"2023\",\"max_points\":%d,\"elements\":[%s],\"indicators\":[%s],"
        "\"pillars\":[{\"code\":\"CQS\",\"name\":\"Chính quyền số\",\"indicators\":[\"1\",\"2\","
        "\"3\",\"4\",\"5\",\"6\",\"7\"]},{\"code\":\"KTS\",\"name\":\"Kinh tế số\",\"indicators\":"
        "[\"1\",\"2\",\"3\",\"4\",\"5\",\"8\"]},{\"code\":\"XHS\",\"name\":\"Xã hội số\","
        "\"indicators\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"9\",\"10\"]}],"
        "\"bands\":[{\"name\":\"Tốt\",\"min\":0.8},{\"name\":\"Khá\",\"min\":0.65},"
        "{\"name\":\"Trung bình\",\"min\":0.5},{\"name\":\"Yếu\",\"min\":0}]}",
        INDICATORS * 100, (const char *)els.data, (const char *)inds.data);
    buf_release(&els);
    buf_release(&inds);
    return text;
}

static void generate_value(const struct fw_element *el, struct value *v)
{
    memset(v, 0, sizeof(*v));
    if (next_rand() % 100 < 5)
        return; /* not collected */
    switch (el->type) {
    case FW_TYPE_BOOLEAN:
        v->kind = VALUE_BOOL;
        v->b = next_rand() % 3 != 0;
        break;
    case FW_TYPE_CATEGORY:
        v->kind = VALUE_TEXT;
        v->text = CATEGORIES[next_rand() % 4];
        break;
    case FW_TYPE_PERCENT:
        v->kind = VALUE_NUMBER;
        v->num = (double)(next_rand() % 1001) / 10.0;
        break;
    case FW_TYPE_INTEGER:
        v->kind = VALUE_NUMBER;
        v->num = (double)(next_rand() % (el->max > 1000 ? 5000 : 6));
        break;
    default:
        v->kind = VALUE_NUMBER;
        v->num = (double)(next_rand() % 1000) / 1000.0;
        break;
    }
}

int main(int argc, char **argv)
{
    size_t units = DEFAULT_UNITS;
    if (argc > 1) {
        uint64_t u;
        if (parse_u64(argv[1], 10000000, &u) < 0 || u == 0) {
            fprintf(stderr, "usage: score_bench [UNITS]\n");
            return 2;
        }
        units = (size_t)u;
    }
    char *text = generate_framework();
    struct fw_problems pr = {0};
    struct framework *fw = NULL;
    double t0 = now();
    if (framework_parse(text, strlen(text), "bench", &fw, &pr) < 0) {
        char line[600];
        for (size_t i = 0; i < pr.n; i++) {
            fw_problem_format(&pr, i, line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
        return 1;
    }
    double t_parse = now() - t0;
    fw_problems_release(&pr);

    size_t ne = fw->nelements;
    struct value *inputs = xcalloc(units * ne, sizeof(*inputs));
    for (size_t u = 0; u < units; u++)
        for (size_t i = 0; i < ne; i++)
            generate_value(&fw->elements[i], &inputs[u * ne + i]);
    double *dti = xcalloc(units, sizeof(*dti));
    unsigned *ranks = xcalloc(units, sizeof(*ranks));

    double checksum = 0;
    t0 = now();
    for (size_t u = 0; u < units; u++) {
        struct score_result *r = NULL;
        score_unit(fw, inputs + u * ne, &r);
        dti[u] = r->dti;
        checksum += r->points;
        score_result_free(r);
    }
    double t_score = now() - t0;
    t0 = now();
    score_rank(dti, units, ranks);
    double t_rank = now() - t0;

    size_t first = 0;
    for (size_t u = 0; u < units; u++)
        first += ranks[u] == 1;
    printf("framework: %zu elements, %zu components, %zu bytes of JSON, parsed in %.4f s\n", ne,
           fw->ncomponents, strlen(text), t_parse);
    printf("score_unit: %zu units in %.4f s (%.2f us per unit)\n", units, t_score,
           t_score * 1e6 / (double)units);
    printf("score_rank: %zu values in %.4f s (%zu ranked first)\n", units, t_rank, first);
    printf("total: %.4f s (target < 0.5 s); checksum %.4f points\n", t_score + t_rank, checksum);

    free(ranks);
    free(dti);
    free(inputs);
    framework_free(fw);
    free(text);
    return 0;
}
