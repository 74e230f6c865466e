/*
 * Calibration: each mix entry's service time on this host, measured by
 * running its jobs through the engine one at a time (plan.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "real_run.h"

void bl_plan_calibration_free(bl_plan_calibration_t *c)
{
	for (size_t e = 0; c->samples && e < c->entry_count; e++)
		free(c->samples[e].ms);
	free(c->samples);
	memset(c, 0, sizeof *c);
}

/* The mix entries of tenant `t`, as indices into w->entries. Returns
 * how many went into `out` (w->entry_count long). */
static size_t entries_of(const bl_plan_workload_t *w, uint32_t t, size_t *out)
{
	size_t n = 0;

	for (size_t e = 0; e < w->entry_count; e++) {
		if (w->entries[e].tenant == t)
			out[n++] = e;
	}
	return n;
}

/* Make the job lines: per entry, one warm-up job and then the samples. */
static char **make_lines(const bl_plan_workload_t *w, const size_t *entries, size_t count, size_t per_entry)
{
	char **lines = calloc(count ? count : 1, sizeof *lines);
	char id[32];

	for (size_t i = 0; lines && i < count; i++) {
		snprintf(id, sizeof id, "plan-%zu", i);
		lines[i] = bl_plan_job_line(w, &w->entries[entries[i / per_entry]], id, BL_PRIORITY_NORMAL);
	}
	return lines;
}

static void free_lines(char **lines, size_t count)
{
	for (size_t i = 0; lines && i < count; i++)
		free(lines[i]);
	free(lines);
}

/* Keep the run times of the entry whose jobs start at `first` in the run,
 * but the warm-up one. */
static int keep_samples(bl_plan_samples_t *s, const bl_plan_real_run_t *r, size_t first, size_t per_entry)
{
	s->ms = malloc((per_entry - 1) * sizeof *s->ms);
	if (!s->ms)
		return BL_ENOMEM;
	for (size_t k = 1; k < per_entry; k++)
		s->ms[s->count++] = r->run_ms[first + k];
	return 0;
}

/* Feed times of the calibration jobs, calibration_spacing_ms apart, or
 * NULL (all at once) when the spacing is 0. Sets *failed when memory runs
 * out. */
static double *make_feed_times(const bl_plan_workload_t *w, size_t count, bool *failed)
{
	double *at_ms = NULL;

	*failed = false;
	if (w->calibration_spacing_ms == 0)
		return NULL;
	at_ms = malloc((count ? count : 1) * sizeof *at_ms);
	*failed = at_ms == NULL;
	for (size_t i = 0; at_ms && i < count; i++)
		at_ms[i] = (double)i * (double)w->calibration_spacing_ms;
	return at_ms;
}

/*
 * Calibrate the `n` entries of one tenant in one run. A run per tenant,
 * because the quota that keeps jobs one at a time is per tenant, and two
 * tenants' jobs sharing the one worker would measure each other's time.
 */
static int calibrate_tenant(bl_plan_calibration_t *out, const bl_plan_workload_t *w, const size_t *entries, size_t n,
			    bl_error_t *err)
{
	size_t per_entry = w->calibration_samples + 1;
	size_t count = n * per_entry;
	bl_plan_real_run_t r = {.count = count, .cpu_workers = 1, .one_at_a_time = true};
	bool no_memory;
	double *at_ms = make_feed_times(w, count, &no_memory);
	int rc = 0;

	r.at_ms = at_ms;
	r.lines = make_lines(w, entries, count, per_entry);
	r.run_ms = calloc(count, sizeof *r.run_ms);
	r.latency_ms = calloc(count, sizeof *r.latency_ms);
	bool ready = r.lines && r.run_ms && r.latency_ms && !no_memory;
	for (size_t i = 0; ready && i < count; i++)
		ready = r.lines[i] != NULL;
	rc = ready ? bl_plan_real_run(&r, w, err)
		   : bl_error_set(err, BL_ENOMEM, NULL, "out of memory preparing the calibration jobs");

	if (rc == 0 && r.failed > 0) {
		size_t e = entries[r.first_failed / per_entry];
		const char *inner = r.first_failure.field;
		char field[BL_ERROR_FIELD_MAX];
		if (snprintf(field, sizeof field, "mix[%zu].job%s%.100s", e, inner[0] ? "." : "", inner) >= (int)sizeof field)
			field[sizeof field - 1] = '\0';
		rc = bl_error_set(err, BL_EINVAL, field, "a calibration job of '%s' did not succeed (%zu of %zu failed): %s",
				  w->entries[e].name, r.failed, count, r.first_failure.message);
	}
	for (size_t j = 0; rc == 0 && j < n; j++) {
		if (keep_samples(&out->samples[entries[j]], &r, j * per_entry, per_entry) < 0)
			rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	}
	out->jobs += count;
	out->wall_s += r.wall_s;
	if (r.other_cores < 0 || out->other_cores < 0)
		out->other_cores = -1;
	else {
		out->other_core_s += r.other_cores * r.wall_s;
		out->other_cores = out->wall_s > 0 ? out->other_core_s / out->wall_s : 0;
	}

	free_lines(r.lines, count);
	free(at_ms);
	free(r.run_ms);
	free(r.latency_ms);
	return rc;
}

int bl_plan_calibrate(bl_plan_calibration_t *out, const bl_plan_workload_t *w, bl_error_t *err)
{
	size_t *entries = calloc(w->entry_count, sizeof *entries);
	int rc = 0;

	memset(out, 0, sizeof *out);
	out->samples = calloc(w->entry_count, sizeof *out->samples);
	out->entry_count = w->entry_count;
	if (!entries || !out->samples)
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	for (uint32_t t = 0; rc == 0 && t < w->tenant_count; t++) {
		size_t n = entries_of(w, t, entries);
		if (n > 0)
			rc = calibrate_tenant(out, w, entries, n, err);
	}
	free(entries);
	if (rc < 0)
		bl_plan_calibration_free(out);
	return rc;
}
