/*
 * The sweep: the simulation at every pool size and instance count within
 * the limits, and the recommendation (plan.h).
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* I/O workers tried when the mix has I/O blocks; each is one io_uring ring
 * with 256 job slots, as the dispatcher counts them. */
#define IO_WORKERS_MAX 4u
#define IO_SLOTS_PER_WORKER 256u

/* The busier of the CPU pool and the I/O slots, as offered load: work
 * brought per second over what the pools can do per second. */
static double offered_load(const bl_plan_job_t *jobs, size_t count, const bl_plan_point_t *p)
{
	double compute = 0, io = 0;

	for (size_t i = 0; i < count; i++) {
		if (jobs[i].kind == BL_PLAN_COMPUTE)
			compute += jobs[i].service_ms;
		else
			io += jobs[i].service_ms;
	}
	double span = count > 1 ? jobs[count - 1].arrival_ms - jobs[0].arrival_ms : 0;
	if (span <= 0)
		return 0;
	double cpu = compute / (span * p->cpu_workers * p->instances);
	double slots = io / (span * IO_SLOTS_PER_WORKER * p->io_workers * p->instances);
	return cpu > slots ? cpu : slots;
}

static int simulate_point(bl_plan_point_t *p, const bl_plan_workload_t *w, const bl_plan_tenant_t *tenants,
			  const bl_plan_job_t *jobs, size_t count, bl_error_t *err)
{
	bl_plan_sim_config_t cfg = {
		.instances = p->instances,
		.cpu_workers = p->cpu_workers,
		.io_slots = IO_SLOTS_PER_WORKER * p->io_workers,
		.pull_window = 2 * p->cpu_workers + (w->has_io ? IO_SLOTS_PER_WORKER * p->io_workers : 0),
		.ageing_ms = w->ageing_ms,
		.tenants = tenants,
		.tenant_count = w->tenant_count,
		.warmup = count / 20,
	};

	p->offered_load = offered_load(jobs, count, p);
	p->simulated = p->offered_load < BL_PLAN_LOAD_MAX;
	if (!p->simulated)
		return 0;
	return bl_plan_simulate(&p->result, &cfg, jobs, count, err);
}

/* Whether point a is a better recommendation than b: fewer cores, then
 * fewer instances, then the lower p99. */
static bool better(const bl_plan_point_t *a, const bl_plan_point_t *b)
{
	if (a->cores != b->cores)
		return a->cores < b->cores;
	if (a->instances != b->instances)
		return a->instances < b->instances;
	return a->result.p99_ms < b->result.p99_ms;
}

static void choose(bl_plan_sweep_t *s, double target)
{
	s->recommended = s->best = -1;
	for (size_t i = 0; i < s->count; i++) {
		const bl_plan_point_t *p = &s->points[i];
		if (!p->simulated || p->result.jobs == 0)
			continue;
		if (s->best < 0 || p->result.p99_ms < s->points[s->best].result.p99_ms)
			s->best = (int)i;
		/* A size that rejects jobs (a tenant's max_queued) does not serve the workload. */
		if (p->result.p99_ms <= target && p->result.rejected == 0 &&
		    (s->recommended < 0 || better(p, &s->points[s->recommended])))
			s->recommended = (int)i;
	}
}

/* Count the points within the limits, or fill them when `points` is not NULL. */
static size_t lay_out(bl_plan_point_t *points, const bl_plan_workload_t *w, const bl_plan_limits_t *lim)
{
	unsigned io_max = w->has_io ? IO_WORKERS_MAX : 1;
	size_t n = 0;

	for (unsigned inst = 1; inst <= lim->max_instances; inst++) {
		for (unsigned io = 1; io <= io_max; io++) {
			for (unsigned cpu = 1; inst * (cpu + (w->has_io ? io : 0)) <= lim->max_cores; cpu++) {
				if (points)
					points[n] = (bl_plan_point_t){.instances = inst, .cpu_workers = cpu,
								      .io_workers = io,
								      .cores = inst * (cpu + (w->has_io ? io : 0))};
				n++;
			}
		}
	}
	return n;
}

int bl_plan_sweep_run(bl_plan_sweep_t *out, const bl_plan_workload_t *w, const bl_plan_job_t *jobs, size_t count,
		      const bl_plan_limits_t *lim, bl_error_t *err)
{
	bl_plan_tenant_t *tenants = calloc(w->tenant_count, sizeof *tenants);
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (lim->max_cores == 0 || lim->max_instances == 0 || !(lim->target_p99_ms > 0))
		rc = bl_error_set(err, BL_EINVAL, "limits", "expected max cores, max instances and a target above 0");
	out->count = lay_out(NULL, w, lim);
	out->points = calloc(out->count ? out->count : 1, sizeof *out->points);
	if (rc == 0 && (!tenants || !out->points))
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	if (rc < 0)
		goto out;

	for (size_t t = 0; t < w->tenant_count; t++)
		tenants[t] = (bl_plan_tenant_t){w->tenants[t].name, w->tenants[t].quota};
	lay_out(out->points, w, lim);
	for (size_t i = 0; rc == 0 && i < out->count; i++)
		rc = simulate_point(&out->points[i], w, tenants, jobs, count, err);
	out->target_p99_ms = lim->target_p99_ms;
	choose(out, lim->target_p99_ms);

out:
	free(tenants);
	if (rc < 0)
		bl_plan_sweep_free(out);
	return rc;
}

void bl_plan_sweep_free(bl_plan_sweep_t *s)
{
	free(s->points);
	memset(s, 0, sizeof *s);
	s->recommended = s->best = -1;
}

/* The one-instance point with `cpu` CPU workers and `io` I/O workers that
 * was simulated, or -1. */
static int find_point(const bl_plan_sweep_t *s, unsigned cpu, unsigned io)
{
	for (size_t i = 0; i < s->count; i++) {
		const bl_plan_point_t *p = &s->points[i];
		if (p->instances == 1 && p->cpu_workers == cpu && p->io_workers == io && p->simulated)
			return (int)i;
	}
	return -1;
}

static int first_choice(const bl_plan_sweep_t *s)
{
	int met = -1, lowest = -1;

	if (s->recommended >= 0 && s->points[s->recommended].instances == 1)
		return s->recommended;
	for (size_t i = 0; i < s->count; i++) {
		const bl_plan_point_t *p = &s->points[i];
		if (p->instances != 1 || !p->simulated)
			continue;
		if (lowest < 0 || p->result.p99_ms < s->points[lowest].result.p99_ms)
			lowest = (int)i;
		if (p->result.p99_ms <= s->target_p99_ms && p->result.rejected == 0 && (met < 0 || p->cores < s->points[met].cores))
			met = (int)i;
	}
	return met >= 0 ? met : lowest;
}

size_t bl_plan_validation_points(const bl_plan_sweep_t *s, unsigned cores_here, int out[2], int *primary)
{
	size_t n = 0;

	*primary = first_choice(s);
	if (*primary < 0)
		return 0;
	const bl_plan_point_t *p = &s->points[*primary];
	if (p->cores <= cores_here)
		out[n++] = *primary;

	int smaller = p->cpu_workers > 1 ? find_point(s, p->cpu_workers - 1, p->io_workers) : -1;
	int larger = find_point(s, p->cpu_workers + 1, p->io_workers);
	if (smaller >= 0 && s->points[smaller].cores <= cores_here)
		out[n++] = smaller;
	else if (larger >= 0 && s->points[larger].cores <= cores_here)
		out[n++] = larger;
	return n;
}
