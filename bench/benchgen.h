/*
 * benchgen.h - generated frameworks and inputs shared by score_bench and
 * report_bench (see benchgen.c).
 */
#ifndef DTI_BENCHGEN_H
#define DTI_BENCHGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "framework.h"
#include "value.h"

#define INDICATORS 10
#define PER_INDICATOR 10 /* components per main indicator */

/* Monotonic seconds. */
double bench_now(void);
/* The next number of a fixed-seed generator. */
uint32_t bench_rand(void);
/* The framework's JSON text for a period (caller frees). */
char *bench_framework(const char *period);
/* An input for el into v; false (v is "not collected") about 5% of the time.
 * Text values point at static strings. */
bool bench_value(const struct fw_element *el, struct value *v);

#endif
