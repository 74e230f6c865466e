/*
 * A confidence interval for the p99 of a real run's latencies, which are
 * not independent of each other. A queue behind a long job, or a streak
 * in which the host runs a core at half speed, lifts the latencies of
 * several jobs in a row, so the largest latencies of a run come in runs.
 * An interval that assumes independent values (order statistics, or a
 * bootstrap of single values) is then far too narrow. In one release run
 * it was 31.15 to 31.92 ms around a p99 of 31.46 ms, while repeated runs
 * of the same mix gave p99s from 26 to 40 ms.
 *
 * The interval here comes from a circular block bootstrap: each resample
 * strings together blocks of consecutive jobs, taken from random starts
 * and wrapping at the end, so runs of slow jobs stay together. The
 * caller gives the block length (a second of arrivals in validation).
 */
#include <stdlib.h>

#include "p99_interval.h"
#include "rng.h"
#include "sim.h"

/* Resamples: fewer for long runs, so that the cost stays near 2e7 values. */
#define RESAMPLES_MAX 1000
#define RESAMPLES_MIN 200
#define RESAMPLED_VALUES 20000000.0

static size_t resample_count(size_t n)
{
	double fit = RESAMPLED_VALUES / (double)n;

	if (fit > RESAMPLES_MAX)
		return RESAMPLES_MAX;
	if (fit < RESAMPLES_MIN)
		return RESAMPLES_MIN;
	return (size_t)fit;
}

/* Fill `out` (n values) with blocks of `block` consecutive values of `v`. */
static void resample(double *out, const double *v, size_t n, size_t block, bl_plan_rng_t *rng)
{
	size_t filled = 0;

	while (filled < n) {
		size_t start = (size_t)(bl_plan_rng_next(rng) % n);
		for (size_t k = 0; k < block && filled < n; k++)
			out[filled++] = v[(start + k) % n];
	}
}

int bl_plan_p99_interval(const double *latency, size_t n, size_t block, uint64_t seed, double *low, double *high)
{
	*low = *high = NAN;
	if (n == 0)
		return 0;

	size_t count = resample_count(n);
	double *scratch = malloc(n * sizeof *scratch);
	double *p99s = malloc(count * sizeof *p99s);
	if (!scratch || !p99s) {
		free(scratch);
		free(p99s);
		return -1;
	}

	bl_plan_rng_t rng;
	bl_plan_rng_seed(&rng, seed);
	if (block < 1)
		block = 1;
	if (block > n)
		block = n;
	for (size_t i = 0; i < count; i++) {
		resample(scratch, latency, n, block, &rng);
		bl_plan_sort(scratch, n);
		p99s[i] = bl_plan_quantile(scratch, n, 0.99);
	}

	bl_plan_sort(p99s, count);
	*low = bl_plan_quantile(p99s, count, 0.025);
	*high = bl_plan_quantile(p99s, count, 0.975);
	free(scratch);
	free(p99s);
	return 0;
}
