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

#include "benchgen.h"
#include "buf.h"
#include "framework.h"
#include "score.h"
#include "util.h"
#include "value.h"

#define DEFAULT_UNITS 11000

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
    char *text = bench_framework("2023");
    struct fw_problems pr = {0};
    struct framework *fw = NULL;
    double t0 = bench_now();
    if (framework_parse(text, strlen(text), "bench", &fw, &pr) < 0) {
        char line[600];
        for (size_t i = 0; i < pr.n; i++) {
            fw_problem_format(&pr, i, line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
        return 1;
    }
    double t_parse = bench_now() - t0;
    fw_problems_release(&pr);

    size_t ne = fw->nelements;
    struct value *inputs = xcalloc(units * ne, sizeof(*inputs));
    for (size_t u = 0; u < units; u++)
        for (size_t i = 0; i < ne; i++)
            bench_value(&fw->elements[i], &inputs[u * ne + i]);
    double *dti = xcalloc(units, sizeof(*dti));
    unsigned *ranks = xcalloc(units, sizeof(*ranks));

    double checksum = 0;
    t0 = bench_now();
    for (size_t u = 0; u < units; u++) {
        struct score_result *r = NULL;
        score_unit(fw, inputs + u * ne, &r);
        dti[u] = r->dti;
        checksum += r->points;
        score_result_free(r);
    }
    double t_score = bench_now() - t0;
    t0 = bench_now();
    score_rank(dti, units, ranks);
    double t_rank = bench_now() - t0;

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
