/*
 * The jobs a simulation or a validation run replays. Arrival times come
 * from a Poisson process or a time-scaled trace. Each job's mix entry is
 * drawn by its share, its priority comes from the template or is drawn by
 * the tenant's shares, and its service time is drawn from the entry's
 * calibrated samples.
 */
#ifndef BL_ENGINE_PLAN_ARRIVALS_H
#define BL_ENGINE_PLAN_ARRIVALS_H

#include <stddef.h>
#include <stdint.h>

#include <beamline/error.h>

#include "sim.h"
#include "workload.h"

/* Measured service times of one mix entry, in ms. */
typedef struct bl_plan_samples {
	double *ms; /* owned by the code that filled it */
	size_t count;
} bl_plan_samples_t;

/*
 * Make `count` jobs of workload `w` (borrowed) with `samples` (one per
 * entry, borrowed) and the RNG seeded with `seed`. `trace_s` (borrowed,
 * sorted) gives arrival times in seconds, or NULL for the Poisson process.
 * With a trace, at most `trace_count` jobs are made. Their times are the
 * trace's times since its first arrival, multiplied by the workload's
 * time_scale. Returns the
 * number of jobs made, with *out owned (free with free()), or BL_EINVAL
 * naming the entry without samples, or BL_ENOMEM.
 */
int bl_plan_arrivals_make(bl_plan_job_t **out, size_t count, const bl_plan_workload_t *w,
			  const bl_plan_samples_t *samples, const double *trace_s, size_t trace_count, uint64_t seed,
			  bl_error_t *err);

/*
 * Read the arrival times (seconds, sorted) of trace `name` ("openb-pods"
 * or "lora-requests") from the gzip'd CSV at `path`. Returns the count
 * with *out owned (free with free()), -ENOENT with *err saying where the
 * file was expected, BL_EFORMAT for a file of another shape, or BL_ENOMEM.
 */
int bl_plan_trace_read(double **out, const char *name, const char *path, bl_error_t *err);

/* Return the default path of trace `name`: its file under the shared data
 * folder beside the project. Returns owned text (free with free()), or NULL
 * for an unknown name or when memory runs out. */
char *bl_plan_trace_default_path(const char *name);

#endif
