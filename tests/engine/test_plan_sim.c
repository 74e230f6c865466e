/*
 * The planner's simulation against queueing theory. With Poisson arrivals,
 * exponential service times, one tenant and one instance, the pools form
 * an M/M/c queue. Its waiting probability is Erlang's C formula C(c, a),
 * and its mean wait is C(c, a) / (c * mu - lambda).
 *
 * Tolerances come from the sample: the counted jobs are cut into batches,
 * and the spread of the batch means gives the standard error (waits of
 * neighbouring jobs are correlated, so the plain binomial error would be
 * too small). Each check allows four standard errors, and a companion
 * check insists that this band is narrower than 5% of the exact value, so
 * a sample too small to say anything fails instead of passing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "rng.h"
#include "sim.h"

#define BATCHES 20
#define WIDTH_MAX 0.05

/* Erlang's C formula: the probability that an arrival waits in M/M/c with
 * offered load a = lambda / mu (a < c). */
static double erlang_c(unsigned c, double a)
{
	double term = 1, sum = 0;

	for (unsigned k = 0; k < c; k++) {
		sum += term;
		term *= a / (double)(k + 1);
	}
	double last = term * (double)c / ((double)c - a);
	return last / (sum + last);
}

/* Poisson arrivals at `lambda` per ms, exponential service of mean 1 ms. */
static bl_plan_job_t *mmc_jobs(size_t n, double lambda, uint64_t seed)
{
	bl_plan_job_t *jobs = calloc(n, sizeof *jobs);
	bl_plan_rng_t rng;
	double t = 0;

	cr_assert_not_null(jobs);
	bl_plan_rng_seed(&rng, seed);
	for (size_t i = 0; i < n; i++) {
		t += bl_plan_rng_exponential(&rng, 1.0 / lambda);
		jobs[i] = (bl_plan_job_t){.arrival_ms = t, .service_ms = bl_plan_rng_exponential(&rng, 1.0),
					  .priority = BL_PRIORITY_NORMAL};
	}
	return jobs;
}

/* The mean over `n` values of batch means, and its standard error; with
 * `waited`, of the indicator that a value is above 0. */
static void batch_stats(const double *per_job, size_t from, size_t n, bool waited, double *mean, double *se)
{
	size_t size = n / BATCHES;
	double batch[BATCHES], sum = 0, sq = 0;

	for (int b = 0; b < BATCHES; b++) {
		double s = 0;
		for (size_t i = 0; i < size; i++)
			s += waited ? per_job[from + (size_t)b * size + i] > 0 : per_job[from + (size_t)b * size + i];
		batch[b] = s / (double)size;
		sum += batch[b];
	}
	*mean = sum / BATCHES;
	for (int b = 0; b < BATCHES; b++)
		sq += (batch[b] - *mean) * (batch[b] - *mean);
	*se = sqrt(sq / (BATCHES - 1) / BATCHES);
}

/* Simulate M/M/c at utilisation `rho` with `n` jobs and check both
 * figures; the first tenth is the warm-up. The c servers are either one
 * instance's CPU workers or, with `instances`, c instances of one worker
 * that each take a job from the shared stream only when idle. */
static void check_mmc_on(unsigned c, double rho, size_t n, bool instances)
{
	double lambda = rho * c;
	bl_plan_tenant_t tenant = {.name = "t"};
	bl_quota_init(&tenant.quota);
	tenant.quota.max_concurrent = 4 * c;
	tenant.quota.max_queued = (uint32_t)n;
	bl_plan_job_t *jobs = mmc_jobs(n, lambda, 1000 + c);
	double *wait = calloc(n, sizeof *wait);
	cr_assert_not_null(wait);
	bl_plan_sim_config_t cfg = {.instances = instances ? c : 1, .cpu_workers = instances ? 1 : c,
				    .pull_window = 1, .tenants = &tenant, .tenant_count = 1, .warmup = n / 10,
				    .wait_ms = wait};
	bl_plan_sim_result_t r;
	bl_error_t err = {0};

	int rc = bl_plan_simulate(&r, &cfg, jobs, n, &err);
	double p_exact = erlang_c(c, lambda);
	double w_exact = p_exact / ((double)c - lambda);
	double p, p_se, w, w_se;
	batch_stats(wait, n / 10, n - n / 10, true, &p, &p_se);
	batch_stats(wait, n / 10, n - n / 10, false, &w, &w_se);
	free(jobs);
	free(wait);

	cr_assert_eq(rc, 0, "simulate: %s", err.message);
	cr_assert_eq(r.rejected, 0, "c=%u rho=%.1f: %zu jobs rejected", c, rho, r.rejected);
	cr_assert_lt(4 * p_se, WIDTH_MAX * p_exact,
		     "c=%u rho=%.1f: P(wait) standard error %.4f is too large for %zu jobs", c, rho, p_se, n);
	cr_assert_lt(fabs(p - p_exact), 4 * p_se, "c=%u rho=%.1f: P(wait) expected %.4f, got %.4f (se %.4f)", c, rho,
		     p_exact, p, p_se);
	cr_assert_lt(4 * w_se, WIDTH_MAX * w_exact,
		     "c=%u rho=%.1f: mean wait standard error %.4f ms is too large for %zu jobs", c, rho, w_se, n);
	cr_assert_lt(fabs(w - w_exact), 4 * w_se, "c=%u rho=%.1f: mean wait expected %.4f ms, got %.4f ms (se %.4f)",
		     c, rho, w_exact, w, w_se);
}

static void check_mmc(unsigned c, double rho, size_t n)
{
	check_mmc_on(c, rho, n, false);
}

/* Half loaded, the waiting probability is far from both 0 and 1 for
 * small c. The job counts here and below are what it takes for four
 * standard errors of the mean wait to stay under 5%. */
Test(engine_plan_sim, erlang_c_at_half_load, .timeout = 60)
{
	check_mmc(1, 0.5, 600000);
	check_mmc(2, 0.5, 600000);
	check_mmc(4, 0.5, 600000);
}

Test(engine_plan_sim, erlang_c_at_80_percent, .timeout = 60)
{
	check_mmc(1, 0.8, 2000000);
	check_mmc(2, 0.8, 2000000);
	check_mmc(4, 0.8, 2000000);
}

/* Near saturation the waits of neighbouring jobs are strongly correlated:
 * the mean wait needs about four million jobs. */
Test(engine_plan_sim, erlang_c_at_90_percent, .timeout = 120)
{
	check_mmc(1, 0.9, 4000000);
	check_mmc(2, 0.9, 4000000);
	check_mmc(4, 0.9, 4000000);
}

/* Instances that pull from the shared stream only when their one worker
 * is idle form one queue in front of all their workers: M/M/4 again. */
Test(engine_plan_sim, instances_sharing_a_stream_are_mmc, .timeout = 60)
{
	check_mmc_on(4, 0.8, 2000000, true);
}

/*
 * Two tenants with weights 3 and 1 each queue 2,000 jobs of 1 ms at once
 * on one worker. Deficit round robin serves three of the first tenant's
 * jobs for each of the second's, so the first 2,000 jobs to finish hold
 * 1,500 of the first tenant's, give or take the first round.
 */
Test(engine_plan_sim, weights_share_a_saturated_worker, .timeout = 30)
{
	enum { PER_TENANT = 2000, FIRST = 2000 };
	bl_plan_tenant_t tenants[2] = {{.name = "heavy"}, {.name = "light"}};
	bl_plan_job_t *jobs = calloc(2 * PER_TENANT, sizeof *jobs);
	double *latency = calloc(2 * PER_TENANT, sizeof *latency);
	cr_assert_not_null(jobs);
	cr_assert_not_null(latency);
	for (int t = 0; t < 2; t++) {
		bl_quota_init(&tenants[t].quota);
		tenants[t].quota.weight = t == 0 ? 3 : 1;
		tenants[t].quota.max_queued = 2 * PER_TENANT;
	}
	for (size_t i = 0; i < 2 * PER_TENANT; i++)
		jobs[i] = (bl_plan_job_t){.service_ms = 1, .tenant = (uint32_t)(i % 2), .priority = BL_PRIORITY_NORMAL};
	bl_plan_sim_config_t cfg = {.instances = 1, .cpu_workers = 1, .tenants = tenants, .tenant_count = 2,
				    .latency_ms = latency};
	bl_plan_sim_result_t r;
	bl_error_t err = {0};

	int rc = bl_plan_simulate(&r, &cfg, jobs, 2 * PER_TENANT, &err);
	size_t heavy = 0;
	for (size_t i = 0; i < 2 * PER_TENANT; i++)
		heavy += jobs[i].tenant == 0 && latency[i] <= FIRST;
	free(jobs);
	free(latency);

	cr_assert_eq(rc, 0, "simulate: %s", err.message);
	cr_assert_eq(r.jobs, 2 * PER_TENANT);
	cr_assert_leq(heavy, 1500 + 3, "the heavy tenant got %zu of the first %d jobs, expected about 1500", heavy,
		      FIRST);
	cr_assert_geq(heavy, 1500 - 3, "the heavy tenant got %zu of the first %d jobs, expected about 1500", heavy,
		      FIRST);
}
