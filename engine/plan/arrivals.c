/*
 * Making the jobs to replay (arrivals.h).
 */
#include "arrivals.h"

#include <stdlib.h>

#include "rng.h"

/* Draw an index by the weights in `share` (summing to 1). */
static size_t draw_share(bl_plan_rng_t *rng, const double *share, size_t n, size_t stride)
{
	double u = bl_plan_rng_uniform(rng), sum = 0;

	for (size_t i = 0; i < n; i++) {
		sum += *(const double *)((const char *)share + i * stride);
		if (u <= sum)
			return i;
	}
	/* Rounding left the sum just below u: the last entry with a share. */
	for (size_t i = n; i-- > 0;) {
		if (*(const double *)((const char *)share + i * stride) > 0)
			return i;
	}
	return n - 1;
}

int bl_plan_arrivals_make(bl_plan_job_t **out, size_t count, const bl_plan_workload_t *w,
			  const bl_plan_samples_t *samples, const double *trace_s, size_t trace_count, uint64_t seed,
			  bl_error_t *err)
{
	bl_plan_rng_t rng;
	double t = 0;

	for (size_t e = 0; e < w->entry_count; e++) {
		if (w->entries[e].share > 0 && samples[e].count == 0)
			return bl_error_set(err, BL_EINVAL, w->entries[e].name, "mix entry '%s' has no measured service time",
					    w->entries[e].name);
	}
	if (trace_s && trace_count < count)
		count = trace_count;
	bl_plan_job_t *jobs = calloc(count ? count : 1, sizeof *jobs);
	if (!jobs)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory making %zu jobs", count);

	bl_plan_rng_seed(&rng, seed);
	for (size_t i = 0; i < count; i++) {
		if (trace_s)
			t = (trace_s[i] - trace_s[0]) * w->time_scale * 1000.0;
		else
			t += bl_plan_rng_exponential(&rng, 1000.0 / w->rate_per_s);

		size_t e = draw_share(&rng, &w->entries[0].share, w->entry_count, sizeof w->entries[0]);
		const bl_plan_entry_t *entry = &w->entries[e];
		const bl_plan_tenant_spec_t *tenant = &w->tenants[entry->tenant];
		bl_priority_t priority = entry->has_priority
						 ? entry->priority
						 : (bl_priority_t)draw_share(&rng, tenant->priority_share, BL_PRIORITY_COUNT,
									     sizeof(double));
		const bl_plan_samples_t *s = &samples[e];
		jobs[i] = (bl_plan_job_t){
			.arrival_ms = t,
			.service_ms = s->ms[bl_plan_rng_below(&rng, s->count)],
			.tenant = entry->tenant,
			.entry = (uint32_t)e,
			.priority = priority,
			.kind = entry->kind,
		};
	}
	*out = jobs;
	return (int)count;
}
