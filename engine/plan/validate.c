/*
 * Trust: the simulation's prediction next to a real run of the same kind
 * of traffic, fed at its arrival times (plan.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p99_interval.h"
#include "plan.h"
#include "real_run.h"

/* The job lines of `jobs`, with ids plan-0, plan-1, ... */
static char **make_lines(const bl_plan_workload_t *w, const bl_plan_job_t *jobs, size_t count)
{
	char **lines = calloc(count ? count : 1, sizeof *lines);
	char id[32];

	for (size_t i = 0; lines && i < count; i++) {
		snprintf(id, sizeof id, "plan-%zu", i);
		lines[i] = bl_plan_job_line(w, &w->entries[jobs[i].entry], id, jobs[i].priority);
	}
	return lines;
}

/* A 95% confidence interval of the p99 of `sorted` if its values were
 * independent: the number of values below the true p99 is binomial(n,
 * 0.99), so the interval runs between the order statistics 1.96 standard
 * deviations either side of n x 0.99. */
static void order_interval(const double *sorted, size_t n, double *low, double *high)
{
	double centre = 0.99 * (double)n;
	double spread = 1.96 * sqrt((double)n * 0.99 * 0.01);
	double lo = floor(centre - spread), hi = ceil(centre + spread);

	*low = sorted[lo < 1 ? 0 : (size_t)lo - 1];
	*high = sorted[hi >= (double)n ? n - 1 : (size_t)hi - 1];
}

/* The jobs that arrive in one second on average, at least 1: the block
 * length of the bootstrap, long enough to hold a streak of slow jobs. */
static size_t jobs_per_second(const double *at_ms, size_t count)
{
	double first = INFINITY, last = -INFINITY;

	for (size_t i = 0; i < count; i++) {
		first = fmin(first, at_ms[i]);
		last = fmax(last, at_ms[i]);
	}
	double per_s = last > first ? (double)count * 1000 / (last - first) : (double)count;
	return per_s < 1 ? 1 : (size_t)lround(per_s);
}

/* The real run's p50 and p99 over the jobs that succeeded, and the 95%
 * interval of the p99: the wider of the block bootstrap's (p99_interval.c)
 * and the order statistics'. */
static void real_quantiles(bl_plan_check_t *out, const double *latency, const double *at_ms, size_t count)
{
	double *ok = malloc((count ? count : 1) * sizeof *ok);
	size_t n = 0;

	out->real_p99_low_ms = out->real_p99_high_ms = NAN;
	if (!ok)
		return;
	for (size_t i = 0; i < count; i++) {
		if (latency[i] >= 0)
			ok[n++] = latency[i];
	}
	if (n == 0) {
		free(ok);
		return;
	}

	double low, high;
	bl_plan_p99_interval(ok, n, jobs_per_second(at_ms, count), 1, &out->real_p99_low_ms, &out->real_p99_high_ms);
	bl_plan_sort(ok, n);
	out->real_p50_ms = bl_plan_quantile(ok, n, 0.50);
	out->real_p99_ms = bl_plan_quantile(ok, n, 0.99);
	order_interval(ok, n, &low, &high);
	out->real_p99_low_ms = fmin(low, out->real_p99_low_ms);
	out->real_p99_high_ms = fmax(high, out->real_p99_high_ms);
	free(ok);
}

/* The simulation of exactly `jobs`, to tell the model's error from the
 * difference between two samples of the same traffic. */
static double same_jobs_p99(const bl_plan_workload_t *w, const bl_plan_job_t *jobs, size_t count, unsigned workers)
{
	bl_plan_tenant_t *tenants = calloc(w->tenant_count, sizeof *tenants);
	bl_plan_sim_result_t r = {0};

	if (!tenants)
		return NAN;
	for (size_t t = 0; t < w->tenant_count; t++)
		tenants[t] = (bl_plan_tenant_t){w->tenants[t].name, w->tenants[t].quota};
	bl_plan_sim_config_t cfg = {.instances = 1, .cpu_workers = workers, .ageing_ms = w->ageing_ms,
				    .tenants = tenants, .tenant_count = w->tenant_count};
	int rc = bl_plan_simulate(&r, &cfg, jobs, count, NULL);
	free(tenants);
	return rc == 0 ? r.p99_ms : NAN;
}

/* The simulation of `jobs` with each job's service time moved by the
 * change of its entry's p50 from calibration to the real run, to tell the
 * model's error from a change of speed since calibration. */
static double shifted_p99(const bl_plan_workload_t *w, const bl_plan_check_t *c, const bl_plan_job_t *jobs,
			  size_t count, unsigned workers)
{
	bl_plan_job_t *copy = malloc((count ? count : 1) * sizeof *copy);

	if (!copy)
		return NAN;
	for (size_t i = 0; i < count; i++) {
		const bl_plan_entry_drift_t *d = &c->entries[jobs[i].entry];
		copy[i] = jobs[i];
		if (d->jobs > 0)
			copy[i].service_ms = fmax(0, jobs[i].service_ms + d->real_p50_ms - d->calibrated_p50_ms);
	}
	double p99 = same_jobs_p99(w, copy, count, workers);
	free(copy);
	return p99;
}

/* Summarise entry `e`'s service times in calibration and in the real
 * run. `scratch` has room for `count` values. */
static void entry_drift(bl_plan_entry_drift_t *d, const bl_plan_samples_t *calibrated, uint32_t e,
			const bl_plan_job_t *jobs, const double *run_ms, size_t count, double *scratch)
{
	double p99;

	d->jobs = 0;
	for (size_t i = 0; i < count; i++) {
		if (jobs[i].entry == e && run_ms[i] >= 0)
			scratch[d->jobs++] = run_ms[i];
	}
	bl_plan_summarise(calibrated->ms, calibrated->count, &d->calibrated_mean_ms, &d->calibrated_p50_ms, &p99);
	bl_plan_summarise(scratch, d->jobs, &d->real_mean_ms, &d->real_p50_ms, &p99);
	d->change = d->jobs > 0 && d->calibrated_mean_ms > 0 ? d->real_mean_ms / d->calibrated_mean_ms - 1 : NAN;
}

void bl_plan_check_free(bl_plan_check_t *c)
{
	free(c->entries);
	c->entries = NULL;
	c->entry_count = 0;
}

/*
 * Fill out->entries, out->service_drift and out->service_drift_mean. Each
 * overall figure is the relative change of the work per job, summed over
 * the entries by share, so an entry counts by the worker time it takes.
 * The real run's figures come from timing_us.run, which starts when the
 * dispatcher starts the job. A job that then waits for a busy CPU worker
 * has that wait in its run time, which pulls the mean up at any load. The
 * p50 stays clear of it while fewer than half an entry's jobs wait, so
 * service_drift is taken from the p50s.
 */
static int measure_drift(bl_plan_check_t *out, const bl_plan_workload_t *w, const bl_plan_calibration_t *cal,
			 const bl_plan_job_t *jobs, const double *run_ms, size_t count)
{
	double *scratch = malloc((count ? count : 1) * sizeof *scratch);
	double real_p50 = 0, calibrated_p50 = 0, real_mean = 0, calibrated_mean = 0;

	out->entries = calloc(w->entry_count ? w->entry_count : 1, sizeof *out->entries);
	if (!scratch || !out->entries) {
		free(scratch);
		bl_plan_check_free(out);
		return BL_ENOMEM;
	}
	out->entry_count = w->entry_count;

	for (uint32_t e = 0; e < w->entry_count; e++) {
		bl_plan_entry_drift_t *d = &out->entries[e];
		entry_drift(d, &cal->samples[e], e, jobs, run_ms, count, scratch);
		if (!isfinite(d->change))
			continue;
		real_p50 += w->entries[e].share * d->real_p50_ms;
		calibrated_p50 += w->entries[e].share * d->calibrated_p50_ms;
		real_mean += w->entries[e].share * d->real_mean_ms;
		calibrated_mean += w->entries[e].share * d->calibrated_mean_ms;
	}
	out->service_drift = calibrated_p50 > 0 ? real_p50 / calibrated_p50 - 1 : NAN;
	out->service_drift_mean = calibrated_mean > 0 ? real_mean / calibrated_mean - 1 : NAN;
	free(scratch);
	return 0;
}

int bl_plan_validate(bl_plan_check_t *out, const bl_plan_workload_t *w, const bl_plan_calibration_t *cal,
		     const bl_plan_point_t *predicted, const double *trace_s, size_t trace_count, uint64_t seed,
		     bl_error_t *err)
{
	bl_plan_job_t *jobs = NULL;
	bl_plan_real_run_t r = {.cpu_workers = predicted->cpu_workers, .io_workers = predicted->io_workers};
	double *at_ms = NULL;

	memset(out, 0, sizeof *out);
	int rc = bl_plan_arrivals_make(&jobs, w->validation_jobs, w, cal->samples, trace_s, trace_count, seed, err);
	if (rc < 0)
		return rc;
	r.count = (size_t)rc;
	r.lines = make_lines(w, jobs, r.count);
	r.at_ms = at_ms = malloc(r.count * sizeof *at_ms);
	r.run_ms = malloc(r.count * sizeof *r.run_ms);
	r.latency_ms = malloc(r.count * sizeof *r.latency_ms);
	bool ready = r.lines && r.at_ms && r.run_ms && r.latency_ms;
	for (size_t i = 0; ready && i < r.count; i++) {
		ready = r.lines[i] != NULL;
		at_ms[i] = jobs[i].arrival_ms;
	}

	rc = ready ? bl_plan_real_run(&r, w, err) : bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	if (rc == 0 && r.failed == r.count)
		rc = bl_error_set(err, BL_EINVAL, NULL, "no validation job succeeded; the first error: %s",
				  r.first_failure.message);
	if (rc == 0) {
		out->cpu_workers = predicted->cpu_workers;
		out->predicted_p50_ms = predicted->result.p50_ms;
		out->predicted_p99_ms = predicted->result.p99_ms;
		out->same_jobs_p99_ms = same_jobs_p99(w, jobs, r.count, predicted->cpu_workers);
		out->jobs = r.count;
		out->failed = r.failed;
		out->wall_s = r.wall_s;
		out->other_cores = r.other_cores;
		real_quantiles(out, r.latency_ms, at_ms, r.count);
		out->error = out->real_p99_ms > 0 ? (out->predicted_p99_ms - out->real_p99_ms) / out->real_p99_ms : NAN;
		if (measure_drift(out, w, cal, jobs, r.run_ms, r.count) < 0)
			rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
		else
			out->shifted_p99_ms = shifted_p99(w, out, jobs, r.count, predicted->cpu_workers);
	}

	for (size_t i = 0; r.lines && i < r.count; i++)
		free(r.lines[i]);
	free(r.lines);
	free(at_ms);
	free(r.run_ms);
	free(r.latency_ms);
	free(jobs);
	return rc;
}
