/*
 * The engine's metrics (prefix beamline_engine_, listed in
 * docs/metrics.md) and the one-line calls that update them.
 *
 * Counters and histograms are updated where jobs finish or are rejected;
 * gauges that describe state owned elsewhere (the worker pools, the
 * process) are read at scrape time by collectors. Every update function
 * accepts a NULL set and then does nothing, so code paths and tests
 * without metrics need no checks. Updates are safe from any thread.
 */
#ifndef BL_ENGINE_METRICS_ENGINE_H
#define BL_ENGINE_METRICS_ENGINE_H

#include <stddef.h>

#include <beamline/error.h>
#include <beamline/job.h>
#include <beamline/sched.h>

#include "metrics.h"

typedef struct bl_engine_metrics bl_engine_metrics_t;

/* Pools watched at most. */
#define BL_ENGINE_METRICS_POOLS_MAX 8

/*
 * Make the engine's metrics in a new registry, with the process metrics.
 * Returns 0 and an owned set (free with bl_engine_metrics_free), or
 * BL_ENOMEM with *err set.
 */
int bl_engine_metrics_new(bl_engine_metrics_t **out, bl_error_t *err);

/* Free the set and its registry. Takes *metrics; NULL is fine. Nothing may
 * update or render it any more. */
void bl_engine_metrics_free(bl_engine_metrics_t **metrics);

/* Return the registry (borrowed for the set's life), for rendering and for
 * metrics that other parts of the engine register. */
bl_metrics_t *bl_engine_metrics_registry(bl_engine_metrics_t *metrics);

/*
 * Report `pool` (borrowed; it must outlive every render) in the pool
 * metrics: workers, busy time and ratio, steals, read at each scrape.
 * Returns 0, or BL_ELIMIT past BL_ENGINE_METRICS_POOLS_MAX pools. Call
 * before the first render.
 */
int bl_engine_metrics_watch_pool(bl_engine_metrics_t *metrics, const bl_pool_t *pool);

/*
 * Count one finished job: its tenant, block and status; its run time in
 * the duration histogram of its block and pool when `run_ms` >= 0; and
 * the GPU kernel time its result reports (result.timing_us.device_kernel).
 * Borrows *r and `block`.
 */
void bl_engine_metrics_job_finished(bl_engine_metrics_t *metrics, const bl_job_result_t *r, const char *block,
				    double run_ms);

/* Set the jobs queued and running, over all tenants. */
void bl_engine_metrics_queue(bl_engine_metrics_t *metrics, size_t queued, size_t running);

/*
 * Count one job of `tenant` rejected by its quota. `err` is admission's
 * rejection, from which the quota is told: "max_queued", "mem_bytes",
 * "unknown_tenant", or "other".
 */
void bl_engine_metrics_quota_rejected(bl_engine_metrics_t *metrics, const char *tenant, const bl_error_t *err);

/* Count one job of `tenant` moved to the dead-letter queue. */
void bl_engine_metrics_dlq_add(bl_engine_metrics_t *metrics, const char *tenant);

/*
 * Add the process metrics (process_start_time_seconds,
 * process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds, process_max_fds) to `registry`, read from /proc and
 * getrusage at each scrape (metrics_process.c). Returns 0 or a negative
 * code with *err set.
 */
int bl_metrics_process_register(bl_metrics_t *registry, bl_error_t *err);

#endif
