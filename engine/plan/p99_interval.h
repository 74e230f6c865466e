/*
 * A 95% confidence interval for the p99 of latencies that come in runs
 * (p99_interval.c).
 */
#ifndef BL_ENGINE_PLAN_P99_INTERVAL_H
#define BL_ENGINE_PLAN_P99_INTERVAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Set *low and *high to the 2.5% and 97.5% points of the p99 over block
 * bootstrap resamples of `latency` (n values in arrival order), with
 * blocks of `block` consecutive values and the resampling seeded by
 * `seed`. Both are NaN when n is 0. Returns -1 when memory runs out, with
 * both NaN.
 */
int bl_plan_p99_interval(const double *latency, size_t n, size_t block, uint64_t seed, double *low, double *high);

#endif
