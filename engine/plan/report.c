/*
 * The planner's text and JSON output (report.h); the chart is in chart.c.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Rows shown past the first size that meets the target, per group. */
#define ROWS_PAST_TARGET 2

/* The mean, p50 and p99 of one entry's samples. */
static void sample_stats(const bl_plan_samples_t *s, double *mean, double *p50, double *p99)
{
	bl_plan_summarise(s->ms, s->count, mean, p50, p99);
}

void bl_plan_print_calibration(FILE *to, const bl_plan_workload_t *w, const bl_plan_calibration_t *c)
{
	fprintf(to, "calibration: %zu jobs through the engine in %.1f s, one at a time on one CPU worker", c->jobs,
		c->wall_s);
	if (w->calibration_spacing_ms > 0)
		fprintf(to, ", fed %llu ms apart", (unsigned long long)w->calibration_spacing_ms);
	if (c->other_cores >= 0)
		fprintf(to, "; other processes kept %.2f cores busy meanwhile", c->other_cores);
	fprintf(to, "\n");
	fprintf(to, "%-24s %7s %8s %10s %10s %10s\n", "mix entry", "share", "samples", "mean ms", "p50 ms", "p99 ms");
	for (size_t e = 0; e < c->entry_count; e++) {
		double mean, p50, p99;
		sample_stats(&c->samples[e], &mean, &p50, &p99);
		fprintf(to, "%-24s %6.1f%% %8zu %10.3f %10.3f %10.3f\n", w->entries[e].name, 100 * w->entries[e].share,
			c->samples[e].count, mean, p50, p99);
	}
}

static void print_row(FILE *to, const bl_plan_workload_t *w, const bl_plan_point_t *p, double target, bool marked)
{
	fprintf(to, "%9u %11u ", p->instances, p->cpu_workers);
	if (w->has_io)
		fprintf(to, "%10u ", p->io_workers);
	fprintf(to, "%6u %6.2f ", p->cores, p->offered_load);
	if (!p->simulated) {
		fprintf(to, "%10s %10s %6s  overloaded: the queue never drains\n", "-", "-", "-");
		return;
	}
	const char *verdict = p->result.p99_ms <= target ? "meets" : "misses";
	if (p->result.rejected > 0)
		verdict = "rejects jobs (max_queued)";
	fprintf(to, "%10.2f %10.2f %5.0f%%  %s%s\n", p->result.p50_ms, p->result.p99_ms, 100 * p->result.utilisation,
		verdict, marked ? "  <- recommended" : "");
}

void bl_plan_print_table(FILE *to, const bl_plan_workload_t *w, const bl_plan_sweep_t *s, double target_p99_ms)
{
	size_t past = 0;

	fprintf(to, "\n%9s %11s ", "instances", "cpu_workers");
	if (w->has_io)
		fprintf(to, "%10s ", "io_workers");
	fprintf(to, "%6s %6s %10s %10s %6s  target p99 %.1f ms\n", "cores", "load", "p50 ms", "p99 ms", "util",
		target_p99_ms);
	for (size_t i = 0; i < s->count; i++) {
		const bl_plan_point_t *p = &s->points[i];
		/* A new group starts at one CPU worker. */
		if (p->cpu_workers == 1)
			past = 0;
		if (past > ROWS_PAST_TARGET)
			continue;
		print_row(to, w, p, target_p99_ms, (int)i == s->recommended);
		if (past > 0 || (p->simulated && p->result.p99_ms <= target_p99_ms && p->result.rejected == 0))
			past++;
	}
}

/* Print how each entry's service time changed from calibration to the
 * real run, and the change over all entries weighted by their work. */
static void print_drift(FILE *to, const bl_plan_workload_t *w, const bl_plan_check_t *c)
{
	fprintf(to, "  service times in the real run against calibration, mean (p50):");
	for (size_t e = 0; e < c->entry_count; e++) {
		const bl_plan_entry_drift_t *d = &c->entries[e];
		if (d->jobs == 0) {
			fprintf(to, "%s %s no jobs", e ? "," : "", w->entries[e].name);
			continue;
		}
		if (!(d->calibrated_p50_ms > 0)) {
			/* A job faster than the clock's resolution has no relative change. */
			fprintf(to, "%s %s %.3f ms (calibrated p50 0 ms)", e ? "," : "", w->entries[e].name,
				d->real_p50_ms);
			continue;
		}
		fprintf(to, "%s %s %+.0f%% (%+.0f%%)", e ? "," : "", w->entries[e].name, 100 * d->change,
			100 * (d->real_p50_ms / d->calibrated_p50_ms - 1));
	}
	if (!isfinite(c->service_drift) || !isfinite(c->service_drift_mean)) {
		fprintf(to, "\n  work per job against calibration: unknown, because no entry has both jobs in this run and a "
			    "calibrated time above 0 ms\n");
		return;
	}
	fprintf(to, "\n  work per job against calibration: %+.1f%% by p50, %+.1f%% by mean; the simulation with each entry "
		    "moved by its change of p50 gives p99 %.2f ms\n",
		100 * c->service_drift, 100 * c->service_drift_mean, c->shifted_p99_ms);
}

void bl_plan_print_check(FILE *to, const bl_plan_workload_t *w, const bl_plan_check_t *c)
{
	fprintf(to,
		"validation, 1 instance with %u CPU workers: p99 predicted %.2f ms, real %.2f ms (95%% interval %.2f to "
		"%.2f ms), error %+.1f%%; p50 predicted %.2f ms, real %.2f ms\n",
		c->cpu_workers, c->predicted_p99_ms, c->real_p99_ms, c->real_p99_low_ms, c->real_p99_high_ms,
		100 * c->error, c->predicted_p50_ms, c->real_p50_ms);
	fprintf(to, "  %zu jobs fed at their arrival times in %.1f s (%zu failed); the simulation of exactly these jobs "
		    "gives p99 %.2f ms\n",
		c->jobs, c->wall_s, c->failed, c->same_jobs_p99_ms);
	if (c->other_cores >= 0)
		fprintf(to, "  other processes kept %.2f cores busy meanwhile; the simulation assumes none\n", c->other_cores);
	print_drift(to, w, c);
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */
/* ------------------------------------------------------------------------ */

/* A number, or null for NaN and infinities, which JSON cannot carry. */
static json_t *number(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

static json_t *point_json(const bl_plan_point_t *p)
{
	json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:f, s:b}", "instances", (json_int_t)p->instances, "cpu_workers",
			      (json_int_t)p->cpu_workers, "io_workers", (json_int_t)p->io_workers, "cores",
			      (json_int_t)p->cores, "offered_load", p->offered_load, "simulated", p->simulated);
	if (o && p->simulated)
		json_object_update_new(o, json_pack("{s:f, s:f, s:f, s:f, s:i, s:i}", "p50_ms", p->result.p50_ms, "p99_ms",
						    p->result.p99_ms, "mean_ms", p->result.mean_ms, "utilisation",
						    p->result.utilisation, "jobs", (json_int_t)p->result.jobs, "rejected",
						    (json_int_t)p->result.rejected));
	return o;
}

static json_t *calibration_json(const bl_plan_workload_t *w, const bl_plan_calibration_t *c)
{
	json_t *entries = json_array();

	for (size_t e = 0; entries && e < c->entry_count; e++) {
		double mean, p50, p99;
		sample_stats(&c->samples[e], &mean, &p50, &p99);
		json_t *samples = json_array();
		for (size_t i = 0; samples && i < c->samples[e].count; i++)
			json_array_append_new(samples, number(c->samples[e].ms[i]));
		json_array_append_new(entries, json_pack("{s:s, s:f, s:i, s:o, s:o, s:o, s:o*}", "name", w->entries[e].name,
							 "share", w->entries[e].share, "samples",
							 (json_int_t)c->samples[e].count, "mean_ms", number(mean), "p50_ms",
							 number(p50), "p99_ms", number(p99), "samples_ms", samples));
	}
	return json_pack("{s:i, s:f, s:o, s:o*}", "jobs", (json_int_t)c->jobs, "wall_s", c->wall_s, "other_cores",
			 c->other_cores >= 0 ? json_real(c->other_cores) : json_null(), "entries", entries);
}

static json_t *entry_drift_json(const bl_plan_workload_t *w, const bl_plan_check_t *c)
{
	json_t *entries = json_array();

	for (size_t e = 0; entries && e < c->entry_count; e++) {
		const bl_plan_entry_drift_t *d = &c->entries[e];
		json_array_append_new(entries, json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "name", w->entries[e].name,
							 "jobs", (json_int_t)d->jobs, "calibrated_mean_ms",
							 number(d->calibrated_mean_ms), "calibrated_p50_ms",
							 number(d->calibrated_p50_ms), "real_mean_ms", number(d->real_mean_ms),
							 "real_p50_ms", number(d->real_p50_ms), "change", number(d->change)));
	}
	return entries;
}

static json_t *check_json(const bl_plan_workload_t *w, const bl_plan_check_t *c)
{
	json_t *o = json_pack("{s:i, s:i, s:f, s:f, s:o, s:f, s:f, s:o, s:i, s:i, s:f, s:o}", "instances", (json_int_t)1,
			 "cpu_workers", (json_int_t)c->cpu_workers, "predicted_p50_ms", c->predicted_p50_ms,
			 "predicted_p99_ms", c->predicted_p99_ms, "same_jobs_p99_ms", number(c->same_jobs_p99_ms),
			 "real_p50_ms", c->real_p50_ms, "real_p99_ms", c->real_p99_ms, "error", number(c->error), "jobs",
			 (json_int_t)c->jobs, "failed", (json_int_t)c->failed, "wall_s", c->wall_s, "other_cores",
			 c->other_cores >= 0 ? json_real(c->other_cores) : json_null());

	if (o)
		json_object_update_new(o, json_pack("{s:o, s:o}", "real_p99_low_ms", number(c->real_p99_low_ms),
						    "real_p99_high_ms", number(c->real_p99_high_ms)));
	if (o)
		json_object_update_new(o, json_pack("{s:o, s:o, s:o, s:o*}", "service_drift", number(c->service_drift),
						    "service_drift_mean", number(c->service_drift_mean),
						    "shifted_p99_ms", number(c->shifted_p99_ms), "service_times",
						    entry_drift_json(w, c)));
	return o;
}

int bl_plan_write_json(const char *path, const bl_plan_workload_t *w, const bl_plan_calibration_t *c,
		       const bl_plan_sweep_t *s, double target_p99_ms, const bl_plan_check_t *checks,
		       size_t check_count, bl_error_t *err)
{
	json_t *points = json_array();
	json_t *validation = json_array();

	for (size_t i = 0; points && i < s->count; i++)
		json_array_append_new(points, point_json(&s->points[i]));
	for (size_t i = 0; validation && i < check_count; i++)
		json_array_append_new(validation, check_json(w, &checks[i]));
	json_t *recommended = s->recommended >= 0 ? point_json(&s->points[s->recommended]) : json_null();
	json_t *doc = json_pack("{s:f, s:o*, s:o*, s:o*, s:o*}", "target_p99_ms", target_p99_ms, "calibration",
				calibration_json(w, c), "points", points, "recommended", recommended, "validation",
				validation);
	if (!doc)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory writing the plan");

	int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	json_decref(doc);
	if (rc != 0)
		return bl_error_set(err, -EIO, path, "cannot write the plan's JSON");
	return 0;
}
