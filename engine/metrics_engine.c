/*
 * The engine's metric set: registration, the updates called where jobs
 * finish, and the collector that reads the worker pools at each scrape.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "metrics_engine.h"

#define PREFIX "beamline_engine_"

/* A ratio over a shorter window than this is too noisy: the previous one
 * stays until the next scrape at least this far apart. */
#define RATIO_MIN_WINDOW_NS 1000000000u

/* Job run times, in seconds: from sub-millisecond kernels to jobs that
 * wait minutes for I/O. */
static const double duration_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
					  1,     2.5,    5,     10,   30,    60,   120, 300, 600};

typedef struct watched_pool {
	const bl_pool_t *pool;
	bl_metric_series_t *workers;
	bl_metric_series_t *busy_seconds;
	bl_metric_series_t *busy_ratio;
	bl_metric_series_t *steals;
	/* Collector-only: the previous reading, for the ratio's window. */
	uint64_t last_busy_ns;
	uint64_t last_age_ns;
	uint64_t busy_ns;   /* never decreases, as its counter must not */
	double ratio;
} watched_pool_t;

struct bl_engine_metrics {
	/* Set at creation; the series are then updated from any thread. */
	bl_metrics_t *registry;
	bl_metric_t *jobs_finished;
	bl_metric_t *job_duration;
	bl_metric_t *quota_rejections;
	bl_metric_t *dlq;
	bl_metric_t *gpu_kernel;
	bl_metric_series_t *queued;
	bl_metric_series_t *running;

	/* Set before the first render; the collector's own afterwards. */
	watched_pool_t pools[BL_ENGINE_METRICS_POOLS_MAX];
	unsigned pool_count;
	bl_metric_t *pool_workers;
	bl_metric_t *pool_busy_seconds;
	bl_metric_t *pool_busy_ratio;
	bl_metric_t *pool_steals;
};

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

static int add(bl_engine_metrics_t *m, bl_metric_t **out, const char *name, bl_metric_type_t type, const char *help,
	       const char *const *labels, bl_error_t *err)
{
	bl_metric_desc_t d = {.name = name, .help = help, .type = type, .labels = labels};
	if (type == BL_METRIC_HISTOGRAM) {
		d.buckets = duration_buckets;
		d.bucket_count = sizeof duration_buckets / sizeof *duration_buckets;
	}
	return bl_metrics_register(m->registry, &d, out, err);
}

static int add_job_metrics(bl_engine_metrics_t *m, bl_error_t *err)
{
	static const char *const finished[] = {"tenant", "block", "status", NULL};
	static const char *const duration[] = {"block", "pool", NULL};
	static const char *const rejected[] = {"tenant", "reason", NULL};
	static const char *const tenant[] = {"tenant", NULL};
	bl_metric_t *queued, *running;

	int rc = add(m, &m->jobs_finished, PREFIX "jobs_finished_total", BL_METRIC_COUNTER,
		     "Jobs that got a result, by tenant, block and result status.", finished, err);
	if (rc == 0)
		rc = add(m, &m->job_duration, PREFIX "job_duration_seconds", BL_METRIC_HISTOGRAM,
			 "Run time of the jobs that ran, all attempts together, by block and pool.", duration, err);
	if (rc == 0)
		rc = add(m, &m->quota_rejections, PREFIX "quota_rejections_total", BL_METRIC_COUNTER,
			 "Jobs rejected at admission by their tenant's quota, by tenant and quota.", rejected, err);
	if (rc == 0)
		rc = add(m, &m->dlq, PREFIX "dlq_messages_total", BL_METRIC_COUNTER,
			 "Jobs moved to the dead-letter queue after their last attempt failed, by tenant.", tenant, err);
	if (rc == 0)
		rc = add(m, &m->gpu_kernel, PREFIX "gpu_kernel_seconds_total", BL_METRIC_COUNTER,
			 "Device time of the OpenCL kernels of finished jobs, by tenant.", tenant, err);
	if (rc == 0)
		rc = add(m, &queued, PREFIX "jobs_queued", BL_METRIC_GAUGE,
			 "Jobs admitted and waiting to start, over all tenants.", NULL, err);
	if (rc == 0)
		rc = add(m, &running, PREFIX "jobs_running", BL_METRIC_GAUGE,
			 "Jobs started and not finished, over all tenants.", NULL, err);
	if (rc < 0)
		return rc;
	m->queued = bl_metric_series(queued, NULL);
	m->running = bl_metric_series(running, NULL);
	return 0;
}

static int add_pool_metrics(bl_engine_metrics_t *m, bl_error_t *err)
{
	static const char *const pool[] = {"pool", NULL};

	int rc = add(m, &m->pool_workers, PREFIX "pool_workers", BL_METRIC_GAUGE, "Worker threads of each pool.", pool,
		     err);
	if (rc == 0)
		rc = add(m, &m->pool_busy_seconds, PREFIX "pool_busy_seconds_total", BL_METRIC_COUNTER,
			 "Time the pool's workers were not parked (running or looking for work), summed over workers.",
			 pool, err);
	if (rc == 0)
		rc = add(m, &m->pool_busy_ratio, PREFIX "pool_busy_ratio", BL_METRIC_GAUGE,
			 "Share of the pool's worker time not parked, between the last two scrapes (0 to 1).", pool,
			 err);
	if (rc == 0)
		rc = add(m, &m->pool_steals, PREFIX "pool_steals_total", BL_METRIC_COUNTER,
			 "Actors or tasks a worker took from another worker's queue.", pool, err);
	return rc;
}

static int add_build_info(bl_engine_metrics_t *m, bl_error_t *err)
{
	static const char *const labels[] = {"version", NULL};
	static const char *const version[] = {BL_ENGINE_VERSION, NULL};
	bl_metric_t *info;

	int rc = add(m, &info, PREFIX "build_info", BL_METRIC_GAUGE, "Always 1; the engine's version is its label.",
		     labels, err);
	if (rc == 0)
		bl_metric_set(bl_metric_series(info, version), 1);
	return rc;
}

static void collect_pools(void *ctx);

int bl_engine_metrics_new(bl_engine_metrics_t **out, bl_error_t *err)
{
	*out = NULL;
	bl_engine_metrics_t *m = calloc(1, sizeof *m);
	if (!m || bl_metrics_new(&m->registry) < 0) {
		free(m);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory making the metrics");
	}

	int rc = add_job_metrics(m, err);
	if (rc == 0)
		rc = add_pool_metrics(m, err);
	if (rc == 0)
		rc = add_build_info(m, err);
	if (rc == 0)
		rc = bl_metrics_process_register(m->registry, err);
	if (rc == 0 && bl_metrics_add_collector(m->registry, collect_pools, m, NULL) < 0)
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory making the metrics");
	if (rc < 0) {
		bl_engine_metrics_free(&m);
		return rc;
	}
	*out = m;
	return 0;
}

void bl_engine_metrics_free(bl_engine_metrics_t **metrics)
{
	if (!*metrics)
		return;
	bl_metrics_free(&(*metrics)->registry);
	free(*metrics);
	*metrics = NULL;
}

bl_metrics_t *bl_engine_metrics_registry(bl_engine_metrics_t *metrics)
{
	return metrics->registry;
}

/* ------------------------------------------------------------------------ */
/* Pools                                                                     */
/* ------------------------------------------------------------------------ */

int bl_engine_metrics_watch_pool(bl_engine_metrics_t *m, const bl_pool_t *pool)
{
	if (m->pool_count == BL_ENGINE_METRICS_POOLS_MAX)
		return BL_ELIMIT;

	const char *name[] = {bl_pool_name(pool), NULL};
	watched_pool_t *w = &m->pools[m->pool_count];
	*w = (watched_pool_t){.pool = pool};
	w->workers = bl_metric_series(m->pool_workers, name);
	w->busy_seconds = bl_metric_series(m->pool_busy_seconds, name);
	w->busy_ratio = bl_metric_series(m->pool_busy_ratio, name);
	w->steals = bl_metric_series(m->pool_steals, name);
	m->pool_count++;
	return 0;
}

/* Busy time is worker time not parked: workers × age − parked. The
 * ratio covers the time since the previous reading at least
 * RATIO_MIN_WINDOW_NS back, or the pool's whole life at the first. */
static void read_pool(watched_pool_t *w)
{
	bl_pool_stats_t st;
	bl_pool_stats(w->pool, &st);
	unsigned workers = bl_pool_worker_count(w->pool);
	uint64_t total_ns = (uint64_t)workers * st.age_ns;
	uint64_t busy = total_ns > st.parked_ns ? total_ns - st.parked_ns : 0;
	if (busy > w->busy_ns)
		w->busy_ns = busy;

	uint64_t window = st.age_ns - w->last_age_ns;
	if (workers > 0 && (w->last_age_ns == 0 || window >= RATIO_MIN_WINDOW_NS) && window > 0) {
		double ratio = (double)(w->busy_ns - w->last_busy_ns) / ((double)workers * (double)window);
		w->ratio = fmin(fmax(ratio, 0), 1);
		w->last_busy_ns = w->busy_ns;
		w->last_age_ns = st.age_ns;
	}

	bl_metric_set(w->workers, workers);
	bl_metric_set(w->busy_seconds, (double)w->busy_ns / 1e9);
	bl_metric_set(w->busy_ratio, w->ratio);
	bl_metric_set(w->steals, (double)st.steals);
}

static void collect_pools(void *ctx)
{
	bl_engine_metrics_t *m = ctx;
	for (unsigned i = 0; i < m->pool_count; i++)
		read_pool(&m->pools[i]);
}

/* ------------------------------------------------------------------------ */
/* Updates                                                                   */
/* ------------------------------------------------------------------------ */

/* Seconds of device kernel time in a result: result.timing_us.device_kernel
 * (microseconds), which the kernel block reports for jobs run on a GPU. */
static double kernel_seconds(const json_t *result)
{
	const json_t *timing = json_object_get(result, "timing_us");
	const json_t *kernel = json_object_get(timing, "device_kernel");
	return json_is_integer(kernel) && json_integer_value(kernel) > 0 ? (double)json_integer_value(kernel) / 1e6
									 : 0;
}

void bl_engine_metrics_job_finished(bl_engine_metrics_t *m, const bl_job_result_t *r, const char *block,
				    double run_ms)
{
	if (!m)
		return;
	const char *b = block && *block ? block : "none";
	const char *pool = r->pool && *r->pool ? r->pool : "none";

	const char *finished[] = {r->tenant, b, bl_job_status_name(r->status)};
	bl_metric_inc(bl_metric_series(m->jobs_finished, finished));
	if (run_ms >= 0) {
		const char *duration[] = {b, pool};
		bl_metric_observe(bl_metric_series(m->job_duration, duration), run_ms / 1000.0);
	}

	double kernel = r->result ? kernel_seconds(r->result) : 0;
	if (kernel > 0) {
		const char *tenant[] = {r->tenant};
		bl_metric_add(bl_metric_series(m->gpu_kernel, tenant), kernel);
	}
}

void bl_engine_metrics_queue(bl_engine_metrics_t *m, size_t queued, size_t running)
{
	if (!m)
		return;
	bl_metric_set(m->queued, (double)queued);
	bl_metric_set(m->running, (double)running);
}

/* NOTE: admission names the quota that rejected a job only in its error's
 * field and message (admission.c), so the reason is read from them. A
 * reworded message shows up here as "other", not as a wrong quota. */
static const char *rejection_reason(const bl_error_t *err)
{
	if (!err)
		return "other";
	if (strcmp(err->field, "params") == 0)
		return "mem_bytes";
	if (strstr(err->message, "max_queued"))
		return "max_queued";
	if (strstr(err->message, "no quota"))
		return "unknown_tenant";
	return "other";
}

void bl_engine_metrics_quota_rejected(bl_engine_metrics_t *m, const char *tenant, const bl_error_t *err)
{
	if (!m)
		return;
	const char *labels[] = {tenant, rejection_reason(err)};
	bl_metric_inc(bl_metric_series(m->quota_rejections, labels));
}

void bl_engine_metrics_dlq_add(bl_engine_metrics_t *m, const char *tenant)
{
	if (!m)
		return;
	const char *labels[] = {tenant};
	bl_metric_inc(bl_metric_series(m->dlq, labels));
}
