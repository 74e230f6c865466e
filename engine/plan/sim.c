/*
 * The discrete-event simulation behind `beamline-engine plan` (sim.h).
 *
 * Events are arrivals (taken in order from the job array) and completions
 * (a binary heap on time). Admission runs the engine's own code on each
 * instance, and dispatch() below follows the dispatcher's loop: a job
 * picked while its kind is full is held, one per kind, and starts first
 * once a slot frees.
 */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"

#define DEFAULT_IO_SLOTS 256u
#define KINDS 2

typedef struct sim_job {
	bl_admission_entry_t entry; /* entry.job points back at this */
	uint32_t index;
	unsigned instance;
	double start_ms;
	double end_ms;
	bool rejected;
} sim_job_t;

/* A completion: job `job` leaves its worker or slot at `at_ms`. */
typedef struct event {
	double at_ms;
	uint32_t job;
} event_t;

typedef struct heap {
	event_t *items;
	size_t count;
} heap_t;

/* A ring of job indices; `cap` is the most it ever contains at once. */
typedef struct fifo {
	uint32_t *items;
	size_t head;
	size_t size;
	size_t cap;
} fifo_t;

typedef struct instance {
	bl_admission_t *adm;
	size_t capacity[KINDS];
	size_t running[KINDS];
	sim_job_t *held[KINDS];
	fifo_t pool;    /* started compute jobs waiting for a worker */
	unsigned busy;  /* workers running a job */
	size_t holding; /* jobs admitted and not yet complete */
} instance_t;

typedef struct sim {
	const bl_plan_sim_config_t *cfg;
	const bl_plan_job_t *jobs;
	size_t count;
	sim_job_t *state;
	instance_t *inst;
	heap_t events;
	fifo_t stream;
	bl_quota_table_t table;
	unsigned window;
	double now;
	double busy_ms;
} sim_t;

/* ------------------------------------------------------------------------ */
/* Heap and ring                                                             */
/* ------------------------------------------------------------------------ */

static void heap_push(heap_t *h, double at_ms, uint32_t job)
{
	size_t i = h->count++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->items[parent].at_ms <= at_ms)
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = (event_t){at_ms, job};
}

static event_t heap_pop(heap_t *h)
{
	event_t top = h->items[0];
	event_t last = h->items[--h->count];
	size_t i = 0;

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->count)
			break;
		if (child + 1 < h->count && h->items[child + 1].at_ms < h->items[child].at_ms)
			child++;
		if (last.at_ms <= h->items[child].at_ms)
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (h->count > 0)
		h->items[i] = last;
	return top;
}

static int fifo_init(fifo_t *f, size_t cap)
{
	f->items = malloc((cap ? cap : 1) * sizeof *f->items);
	f->head = f->size = 0;
	f->cap = cap ? cap : 1;
	return f->items ? 0 : BL_ENOMEM;
}

static void fifo_push(fifo_t *f, uint32_t job)
{
	f->items[(f->head + f->size++) % f->cap] = job;
}

static uint32_t fifo_pop(fifo_t *f)
{
	uint32_t job = f->items[f->head];
	f->head = (f->head + 1) % f->cap;
	f->size--;
	return job;
}

/* ------------------------------------------------------------------------ */
/* One instance: admission, dispatch and the CPU pool                        */
/* ------------------------------------------------------------------------ */

static uint64_t now_ms(const sim_t *s)
{
	return (uint64_t)s->now;
}

/* Give free workers the started compute jobs, in the order they started. */
static void feed_workers(sim_t *s, instance_t *in)
{
	while (in->busy < s->cfg->cpu_workers && in->pool.size > 0) {
		uint32_t j = fifo_pop(&in->pool);
		s->state[j].start_ms = s->now;
		in->busy++;
		heap_push(&s->events, s->now + s->jobs[j].service_ms, j);
	}
}

static void start_job(sim_t *s, instance_t *in, sim_job_t *job)
{
	bl_plan_kind_t kind = s->jobs[job->index].kind;

	in->running[kind]++;
	if (kind == BL_PLAN_COMPUTE) {
		fifo_push(&in->pool, job->index);
		feed_workers(s, in);
		return;
	}
	job->start_ms = s->now;
	heap_push(&s->events, s->now + s->jobs[job->index].service_ms, job->index);
}

static bool has_room(const instance_t *in, int kind)
{
	return in->running[kind] < in->capacity[kind];
}

static bool can_take_next(const instance_t *in)
{
	for (int kind = 0; kind < KINDS; kind++) {
		if (!has_room(in, kind) && in->held[kind])
			return false;
	}
	return true;
}

/* The dispatcher's loop (dispatcher.c, dispatch()). */
static void dispatch(sim_t *s, instance_t *in)
{
	for (int kind = 0; kind < KINDS; kind++) {
		sim_job_t *held = in->held[kind];
		if (held && has_room(in, kind)) {
			in->held[kind] = NULL;
			start_job(s, in, held);
		}
	}

	while (can_take_next(in)) {
		bl_admission_entry_t *e = bl_admission_next(in->adm, now_ms(s));
		if (!e)
			break;
		sim_job_t *job = e->job;
		bl_plan_kind_t kind = s->jobs[job->index].kind;
		if (has_room(in, kind))
			start_job(s, in, job);
		else
			in->held[kind] = job;
	}
}

static void admit(sim_t *s, unsigned k, uint32_t j)
{
	sim_job_t *job = &s->state[j];
	instance_t *in = &s->inst[k];
	const bl_plan_job_t *pj = &s->jobs[j];

	job->entry.job = job;
	job->entry.priority = pj->priority;
	job->entry.mem_estimate = 0;
	job->instance = k;
	if (bl_admission_enqueue(in->adm, &job->entry, s->cfg->tenants[pj->tenant].name, now_ms(s), NULL) < 0) {
		job->rejected = true;
		return;
	}
	in->holding++;
	dispatch(s, in);
}

/* The instance with the fewest jobs that is below its pull window, or -1. */
static int pick_instance(const sim_t *s)
{
	int best = -1;

	for (unsigned k = 0; k < s->cfg->instances; k++) {
		const instance_t *in = &s->inst[k];
		if (in->holding < s->window && (best < 0 || in->holding < s->inst[best].holding))
			best = (int)k;
	}
	return best;
}

static void arrive(sim_t *s, uint32_t j)
{
	s->now = s->jobs[j].arrival_ms;
	if (s->cfg->instances == 1) {
		admit(s, 0, j);
		return;
	}
	int k = pick_instance(s);
	if (k >= 0)
		admit(s, (unsigned)k, j);
	else
		fifo_push(&s->stream, j);
}

static void complete(sim_t *s, event_t ev)
{
	sim_job_t *job = &s->state[ev.job];
	const bl_plan_job_t *pj = &s->jobs[ev.job];
	instance_t *in = &s->inst[job->instance];

	s->now = ev.at_ms;
	job->end_ms = s->now;
	in->running[pj->kind]--;
	in->holding--;
	if (pj->kind == BL_PLAN_COMPUTE) {
		in->busy--;
		s->busy_ms += pj->service_ms;
	}
	bl_admission_finish(in->adm, &job->entry, pj->kind == BL_PLAN_COMPUTE ? pj->service_ms : 0, now_ms(s));
	feed_workers(s, in);
	dispatch(s, in);

	/* With several instances, the one that freed room takes from the stream. */
	while (s->cfg->instances > 1 && in->holding < s->window && s->stream.size > 0)
		admit(s, job->instance, fifo_pop(&s->stream));
}

/* ------------------------------------------------------------------------ */
/* Setting up, running and summing up                                        */
/* ------------------------------------------------------------------------ */

static int check_config(const bl_plan_sim_config_t *cfg, const bl_plan_job_t *jobs, size_t count, bl_error_t *err)
{
	if (cfg->instances == 0)
		return bl_error_set(err, BL_EINVAL, "instances", "expected at least 1 instance");
	if (cfg->cpu_workers == 0)
		return bl_error_set(err, BL_EINVAL, "cpu_workers", "expected at least 1 CPU worker");
	for (size_t t = 0; t < cfg->tenant_count; t++) {
		const bl_quota_t *q = &cfg->tenants[t].quota;
		if (q->max_concurrent == 0 || q->max_queued == 0 || q->weight == 0)
			return bl_error_set(err, BL_EINVAL, "quota",
					    "tenant '%s': max_concurrent, max_queued and weight must be at least 1",
					    cfg->tenants[t].name);
		/* A spent budget keeps jobs queued until a refill tick, and no event here drives one. */
		if (q->cpu_ms_per_s != 0)
			return bl_error_set(err, BL_EINVAL, "quota", "tenant '%s': cpu_ms_per_s is not simulated; give 0",
					    cfg->tenants[t].name);
	}
	if (count > UINT32_MAX)
		return bl_error_set(err, BL_EINVAL, "jobs", "at most %u jobs can be simulated", UINT32_MAX);
	for (size_t i = 0; i < count; i++) {
		if (jobs[i].tenant >= cfg->tenant_count)
			return bl_error_set(err, BL_EINVAL, "tenant", "job %zu names tenant %u of %zu", i,
					    jobs[i].tenant, cfg->tenant_count);
		if (i > 0 && !(jobs[i].arrival_ms >= jobs[i - 1].arrival_ms))
			return bl_error_set(err, BL_EINVAL, "arrival_ms", "job %zu arrives before job %zu", i, i - 1);
		if (!(jobs[i].service_ms >= 0) || (unsigned)jobs[i].priority >= BL_PRIORITY_COUNT)
			return bl_error_set(err, BL_EINVAL, "service_ms",
					    "job %zu has a negative or NaN service time, or no valid priority", i);
	}
	return 0;
}

static int setup(sim_t *s, const bl_plan_sim_config_t *cfg)
{
	unsigned compute_slots = cfg->compute_slots ? cfg->compute_slots : 2 * cfg->cpu_workers;
	unsigned io_slots = cfg->io_slots ? cfg->io_slots : DEFAULT_IO_SLOTS;

	s->window = cfg->pull_window ? cfg->pull_window : compute_slots + io_slots;
	bl_quota_init(&s->table.default_quota);
	s->table.entries = calloc(cfg->tenant_count ? cfg->tenant_count : 1, sizeof *s->table.entries);
	s->state = calloc(s->count ? s->count : 1, sizeof *s->state);
	s->inst = calloc(cfg->instances, sizeof *s->inst);
	s->events.items = malloc((s->count ? s->count : 1) * sizeof *s->events.items);
	if (!s->table.entries || !s->state || !s->inst || !s->events.items || fifo_init(&s->stream, s->count) < 0)
		return BL_ENOMEM;

	for (size_t t = 0; t < cfg->tenant_count; t++) {
		s->table.entries[t] = (bl_quota_entry_t){strdup(cfg->tenants[t].name), cfg->tenants[t].quota};
		s->table.count++;
		if (!s->table.entries[t].tenant)
			return BL_ENOMEM;
	}

	bl_admission_config_t acfg;
	bl_admission_config_init(&acfg);
	acfg.ageing_ms = cfg->ageing_ms ? cfg->ageing_ms : 1000;
	for (unsigned k = 0; k < cfg->instances; k++) {
		instance_t *in = &s->inst[k];
		in->capacity[BL_PLAN_COMPUTE] = compute_slots;
		in->capacity[BL_PLAN_IO] = io_slots;
		if (bl_admission_new(&in->adm, &acfg, &s->table) < 0 || fifo_init(&in->pool, compute_slots) < 0)
			return BL_ENOMEM;
	}
	for (size_t i = 0; i < s->count; i++)
		s->state[i].index = (uint32_t)i;
	return 0;
}

static void teardown(sim_t *s)
{
	for (unsigned k = 0; s->inst && k < s->cfg->instances; k++) {
		bl_admission_free(&s->inst[k].adm);
		free(s->inst[k].pool.items);
	}
	free(s->inst);
	free(s->state);
	free(s->events.items);
	free(s->stream.items);
	for (size_t t = 0; t < s->table.count; t++)
		free(s->table.entries[t].tenant);
	free(s->table.entries);
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void bl_plan_sort(double *values, size_t n)
{
	qsort(values, n, sizeof *values, compare_double);
}

double bl_plan_quantile(const double *sorted, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)ceil(q * (double)n);
	if (rank > n)
		rank = n;
	return sorted[(rank ? rank : 1) - 1];
}

void bl_plan_summarise(const double *values, size_t n, double *mean, double *p50, double *p99)
{
	double *sorted = malloc((n ? n : 1) * sizeof *sorted);
	double sum = 0;

	*mean = *p50 = *p99 = NAN;
	if (!sorted || n == 0) {
		free(sorted);
		return;
	}
	for (size_t i = 0; i < n; i++)
		sum += values[i];
	memcpy(sorted, values, n * sizeof *sorted);
	bl_plan_sort(sorted, n);
	*mean = sum / (double)n;
	*p50 = bl_plan_quantile(sorted, n, 0.50);
	*p99 = bl_plan_quantile(sorted, n, 0.99);
	free(sorted);
}

/* Fill the per-job arrays the caller asked for, and *out. */
static int sum_up(const sim_t *s, bl_plan_sim_result_t *out)
{
	const bl_plan_sim_config_t *cfg = s->cfg;
	double *latency = malloc((s->count ? s->count : 1) * sizeof *latency);
	double wait_sum = 0, latency_sum = 0, last_end = 0;
	size_t n = 0, waited = 0;

	if (!latency)
		return BL_ENOMEM;
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < s->count; i++) {
		const sim_job_t *job = &s->state[i];
		double arrival = s->jobs[i].arrival_ms;
		if (cfg->wait_ms)
			cfg->wait_ms[i] = job->rejected ? -1 : job->start_ms - arrival;
		if (cfg->latency_ms)
			cfg->latency_ms[i] = job->rejected ? -1 : job->end_ms - arrival;
		out->rejected += job->rejected;
		if (job->rejected)
			continue;
		last_end = fmax(last_end, job->end_ms);
		if (i < cfg->warmup)
			continue;
		latency[n++] = job->end_ms - arrival;
		latency_sum += job->end_ms - arrival;
		wait_sum += job->start_ms - arrival;
		waited += job->start_ms > arrival;
	}

	bl_plan_sort(latency, n);
	out->jobs = n;
	out->p50_ms = bl_plan_quantile(latency, n, 0.50);
	out->p99_ms = bl_plan_quantile(latency, n, 0.99);
	out->mean_ms = n ? latency_sum / (double)n : 0;
	out->wait_mean_ms = n ? wait_sum / (double)n : 0;
	out->wait_share = n ? (double)waited / (double)n : 0;
	double span = s->count ? last_end - s->jobs[0].arrival_ms : 0;
	double workers = (double)cfg->cpu_workers * cfg->instances;
	out->utilisation = span > 0 ? s->busy_ms / (workers * span) : 0;
	free(latency);
	return 0;
}

int bl_plan_simulate(bl_plan_sim_result_t *out, const bl_plan_sim_config_t *cfg, const bl_plan_job_t *jobs,
		     size_t count, bl_error_t *err)
{
	sim_t s = {.cfg = cfg, .jobs = jobs, .count = count};
	int rc = check_config(cfg, jobs, count, err);
	if (rc < 0)
		return rc;

	rc = setup(&s, cfg);
	if (rc < 0)
		goto out;

	/* The central loop: the earlier of the next completion and the next
	 * arrival; a completion first when both fall at the same time. Each
	 * step consumes an arrival or a completion, so it ends. */
	size_t next = 0;
	while (next < count || s.events.count > 0) {
		if (s.events.count > 0 && (next == count || s.events.items[0].at_ms <= jobs[next].arrival_ms))
			complete(&s, heap_pop(&s.events));
		else
			arrive(&s, (uint32_t)next++);
	}
	rc = sum_up(&s, out);

out:
	teardown(&s);
	if (rc == BL_ENOMEM)
		bl_error_set(err, BL_ENOMEM, NULL, "out of memory simulating %zu jobs", count);
	return rc;
}
