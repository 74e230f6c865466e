/*
 * The capacity planner's discrete-event simulation of the engine's pools.
 *
 * Each simulated instance has its own admission, which is admission.c
 * itself with the same quotas. It also has its own compute slots (two per
 * CPU worker, as the dispatcher has them), its own I/O slots, and a CPU
 * pool whose workers take admitted compute jobs in the order they were
 * started. An I/O job keeps an I/O slot for its service time and uses no
 * CPU worker. Jobs come with their service time already drawn, so every
 * pool size sees the same jobs.
 *
 * Instances: with one instance every job enters admission when it arrives,
 * as in `beamline-engine run`. With several, they share one stream: a job
 * goes to the instance with the fewest jobs that is below its pull window,
 * else it waits in the stream until an instance has room.
 *
 * Not thread-safe; a simulation runs on the calling thread and allocates
 * what it needs.
 */
#ifndef BL_ENGINE_PLAN_SIM_H
#define BL_ENGINE_PLAN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/error.h>
#include <beamline/job.h>

#include "quota.h"

typedef enum bl_plan_kind {
	BL_PLAN_COMPUTE = 0, /* runs on a CPU worker */
	BL_PLAN_IO,          /* takes an I/O slot, no worker */
} bl_plan_kind_t;

/* One simulated job. */
typedef struct bl_plan_job {
	double arrival_ms;     /* since the start; non-decreasing over the array */
	double service_ms;     /* time on a worker (compute) or in a slot (I/O) */
	uint32_t tenant;       /* index into bl_plan_sim_config_t.tenants */
	uint32_t entry;        /* the mix entry, for the caller */
	bl_priority_t priority;
	bl_plan_kind_t kind;
} bl_plan_job_t;

typedef struct bl_plan_tenant {
	const char *name;      /* borrowed */
	bl_quota_t quota;
} bl_plan_tenant_t;

typedef struct bl_plan_sim_config {
	unsigned instances;      /* at least 1 */
	unsigned cpu_workers;    /* per instance, at least 1 */
	unsigned compute_slots;  /* per instance; 0: two per CPU worker */
	unsigned io_slots;       /* per instance; 0: 256, one I/O worker's worth */
	unsigned pull_window;    /* jobs an instance holds when there are several; 0: its slots */
	uint64_t ageing_ms;      /* admission ageing; 0: 1000 */
	const bl_plan_tenant_t *tenants; /* borrowed */
	size_t tenant_count;
	size_t warmup;           /* the first jobs, left out of the figures */
	double *wait_ms;         /* when not NULL: per job, arrival to start (-1 when rejected) */
	double *latency_ms;      /* when not NULL: per job, arrival to completion (-1 when rejected) */
} bl_plan_sim_config_t;

typedef struct bl_plan_sim_result {
	size_t jobs;             /* counted: after the warm-up, not rejected */
	size_t rejected;         /* refused by a tenant's max_queued */
	double p50_ms;           /* latency: arrival to completion */
	double p99_ms;
	double mean_ms;
	double wait_mean_ms;     /* arrival to the start of service */
	double wait_share;       /* counted jobs that waited at all */
	double utilisation;      /* busy CPU worker time over worker time, first arrival to last completion */
} bl_plan_sim_result_t;

/*
 * Simulate `count` jobs (borrowed; arrivals in order) under *cfg. Returns
 * 0 with *out written (all zero when no job is counted), BL_EINVAL with
 * *err naming the field for a config without instances or workers, a
 * tenant index out of range or arrivals out of order, or BL_ENOMEM.
 */
int bl_plan_simulate(bl_plan_sim_result_t *out, const bl_plan_sim_config_t *cfg, const bl_plan_job_t *jobs,
		     size_t count, bl_error_t *err);

/* Sort `n` values in place, ascending. */
void bl_plan_sort(double *values, size_t n);

/* Return the value at quantile `q` (0 to 1) of `n` sorted values: the
 * ceil(q * n)-th smallest, as `beamline-engine run` reports; 0 when n is 0. */
double bl_plan_quantile(const double *sorted, size_t n, double q);

/* Compute the mean, p50 and p99 of `n` values (unsorted, borrowed). Each
 * is NaN when n is 0 or memory runs out. */
void bl_plan_summarise(const double *values, size_t n, double *mean, double *p50, double *p99);

#endif
