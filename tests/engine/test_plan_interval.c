/*
 * The 95% interval of a real run's p99 (p99_interval.c). On independent
 * latencies it is narrow around the p99. When the slow jobs come in runs,
 * blocks of a second of arrivals widen it, because some samples of
 * traffic miss those runs.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "p99_interval.h"
#include "rng.h"

#define JOBS 600

/* 600 latencies of 1 ms with 18 of 30 ms, in two runs of nine. */
static void two_slow_runs(double *latency)
{
	for (size_t i = 0; i < JOBS; i++)
		latency[i] = (i >= 150 && i < 159) || (i >= 450 && i < 459) ? 30 : 1;
}

Test(engine_plan_interval, independent_latencies_give_narrow_interval)
{
	double latency[JOBS], low, high;
	bl_plan_rng_t rng;
	bl_plan_rng_seed(&rng, 7);
	for (size_t i = 0; i < JOBS; i++)
		latency[i] = 100 * bl_plan_rng_uniform(&rng);

	cr_assert_eq(bl_plan_p99_interval(latency, JOBS, 1, 1, &low, &high), 0);
	cr_assert(low > 95 && low <= 99 && high >= 99 && high <= 100, "interval %.2f to %.2f around a p99 of 99", low,
		  high);
}

Test(engine_plan_interval, slow_runs_widen_interval_by_block)
{
	double latency[JOBS], low, high;
	two_slow_runs(latency);

	cr_assert_eq(bl_plan_p99_interval(latency, JOBS, 1, 1, &low, &high), 0);
	cr_assert(low == 30 && high == 30, "single values: %.2f to %.2f, expected 30 to 30", low, high);
	cr_assert_eq(bl_plan_p99_interval(latency, JOBS, 60, 1, &low, &high), 0);
	cr_assert(low == 1 && high == 30, "blocks of 60: %.2f to %.2f, expected 1 to 30", low, high);
}

Test(engine_plan_interval, same_seed_same_interval)
{
	double latency[JOBS], low1, high1, low2, high2;
	two_slow_runs(latency);
	latency[7] = 12;

	cr_assert_eq(bl_plan_p99_interval(latency, JOBS, 40, 3, &low1, &high1), 0);
	cr_assert_eq(bl_plan_p99_interval(latency, JOBS, 40, 3, &low2, &high2), 0);
	cr_assert(low1 == low2 && high1 == high2);
}

Test(engine_plan_interval, empty_and_oversized_block)
{
	double single = 5, low, high;

	cr_assert_eq(bl_plan_p99_interval(&single, 0, 10, 1, &low, &high), 0);
	cr_assert(isnan(low) && isnan(high), "no latencies: %f to %f", low, high);
	cr_assert_eq(bl_plan_p99_interval(&single, 1, 10, 1, &low, &high), 0);
	cr_assert(low == 5 && high == 5, "one latency: %f to %f", low, high);
}
