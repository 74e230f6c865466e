#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "futex.h"
#include "io.h"
#include "runtime.h"
#include "task.h"

#define DEFAULT_BATCH 64u
#define DEFAULT_SPIN_ROUNDS 256u
#define DEQUE_LOG2_CAPACITY 8u

void bl_pool_config_init(bl_pool_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->name = "cpu";
	cfg->kind = BL_POOL_CPU;
	cfg->batch = DEFAULT_BATCH;
	cfg->spin_rounds = DEFAULT_SPIN_ROUNDS;
	cfg->pin_workers = true;
}

/* ------------------------------------------------------------------------ */
/* Scheduling                                                                */
/* ------------------------------------------------------------------------ */

/*
 * A push onto the caller's own deque wakes another worker only when it
 * makes the deque non-empty. The push that did so woke a worker or found
 * one searching, and that worker, once it takes an item, wakes the next
 * idle one (stop_searching in worker.c), so a growing deque keeps drawing
 * thieves. Skipping the other pushes saves a sequentially consistent fence
 * each. Even a wake-up skipped wrongly would leave the work with its owner,
 * which runs it after its current activation: parallelism could be lost,
 * never work.
 */
void bl__pool_enqueue(bl_pool_t *pool, bl__runnable_t r, bool use_slot)
{
	bl__worker_t *w = bl__current_worker;
	bool wake = true;

	if (!w || w->pool != pool) {
		/* The same rule for the inject queue: a push into a non-empty
		 * queue needs no wake-up, because a worker that goes to sleep
		 * checks the queue after announcing it, and the push that made
		 * the queue non-empty woke a worker or found one awake. */
		if (bl__inject_push(&pool->inject, r))
			bl__pool_notify(pool);
		return;
	}

	if (use_slot) {
		/* The slot's previous occupant moves to the deque, where thieves
		 * can reach it. */
		r = atomic_exchange_explicit(&w->slot, r, memory_order_release);
		if (!r)
			goto notify;
	}

	int rc = bl__deque_push(&w->deque, r);
	if (rc < 0) {
		/* The deque could not grow, so use the inject queue, whose
		 * push allocates nothing and cannot fail. */
		bl__inject_push(&pool->inject, r);
	}
	wake = rc != 0;

notify:
	if (wake && pool->worker_count > 1)
		bl__pool_notify(pool);
}

void bl__pool_yield(bl_pool_t *pool, bl__runnable_t r)
{
	if (bl__inject_push(&pool->inject, r) && pool->worker_count > 1)
		bl__pool_notify(pool);
}

/* ------------------------------------------------------------------------ */
/* The CPU flavour: futex sleep, hwloc binding                               */
/* ------------------------------------------------------------------------ */

static int cpu_worker_start(bl__worker_t *w)
{
	bl_pool_t *pool = w->pool;

	if (!pool->pin_workers)
		return 0;

	/* Pinning is best effort: an unpinned worker still works. */
	const bl__topology_t *topo = bl__runtime_topology(pool->rt);
	w->pinned = bl__topology_bind_thread(topo, w->index) == 0;
	return 0;
}

static void cpu_worker_stop(bl__worker_t *w)
{
	(void)w;
}

static void cpu_wait(bl__worker_t *w)
{
	bl__futex_wait(&w->park_state, BL__PARK_SLEEPING, NULL);
}

static void cpu_wake(bl__worker_t *w)
{
	bl__futex_wake(&w->park_state, 1);
}

const bl__pool_ops_t bl__cpu_pool_ops = {
	.worker_start = cpu_worker_start,
	.worker_stop = cpu_worker_stop,
	.poll = NULL,
	.wait = cpu_wait,
	.wake = cpu_wake,
};

/* ------------------------------------------------------------------------ */
/* The GPU flavour: unpinned workers that sleep on a futex                   */
/* ------------------------------------------------------------------------ */

/* A GPU worker spends its activations enqueueing device work and handling
 * completions; the device runs the work, so the worker is not bound to a
 * core and leaves the cores to the CPU pool. Completions arrive from the
 * OpenCL implementation's callback thread as ordinary messages, which
 * wake a sleeping worker through the same futex as on the CPU pool. */
static int gpu_worker_start(bl__worker_t *w)
{
	(void)w;
	return 0;
}

const bl__pool_ops_t bl__gpu_pool_ops = {
	.worker_start = gpu_worker_start,
	.worker_stop = cpu_worker_stop,
	.poll = NULL,
	.wait = cpu_wait,
	.wake = cpu_wake,
};

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

static int check_config(const bl_pool_config_t *cfg)
{
	if (!cfg || !cfg->name || cfg->name[0] == '\0')
		return BL_EINVAL;
	if (cfg->kind != BL_POOL_CPU && cfg->kind != BL_POOL_GPU && cfg->kind != BL_POOL_IO)
		return BL_EINVAL;
	if (cfg->workers > 4096 || cfg->batch == 0)
		return BL_EINVAL;
	return 0;
}

static unsigned default_workers(bl_runtime_t *rt)
{
	const bl__topology_t *topo = bl__runtime_topology(rt);
	return topo->core_count > 0 ? topo->core_count : topo->online_cpus;
}

static int init_worker(bl_pool_t *pool, bl__worker_t *w, unsigned index)
{
	memset(w, 0, sizeof *w);
	w->pool = pool;
	w->index = index;
	w->rng = 0x9E3779B97F4A7C15ull * (index + 1);
	bl__cache_init(&w->actor_cache, &pool->rt->actors);

	w->seen_activations = calloc(pool->worker_count, sizeof *w->seen_activations);
	w->seen_slot = calloc(pool->worker_count, sizeof *w->seen_slot);
	if (!w->seen_activations || !w->seen_slot)
		return BL_ENOMEM;
	if (bl__deque_init(&w->deque, DEQUE_LOG2_CAPACITY) != 0)
		return BL_ENOMEM;
	return 0;
}

static void destroy_worker(bl__worker_t *w)
{
	if (w->pool->ops->worker_free)
		w->pool->ops->worker_free(w);
	bl__deque_destroy(&w->deque);
	free(w->seen_activations);
	free(w->seen_slot);
}

static const bl__pool_ops_t *pool_ops(bl_pool_kind_t kind)
{
	if (kind == BL_POOL_GPU)
		return &bl__gpu_pool_ops;
	if (kind == BL_POOL_IO)
		return &bl__io_pool_ops;
	return &bl__cpu_pool_ops;
}

static bl_pool_t *new_pool(bl_runtime_t *rt, unsigned index, const bl_pool_config_t *cfg)
{
	bl_pool_t *pool = aligned_alloc(64, (sizeof *pool + 63) / 64 * 64);
	if (!pool)
		return NULL;

	memset(pool, 0, sizeof *pool);
	pool->rt = rt;
	pool->index = index;
	snprintf(pool->name, sizeof pool->name, "%s", cfg->name);
	pool->started_ns = bl__now_ns();
	pool->kind = cfg->kind;
	pool->ops = pool_ops(cfg->kind);
	pool->worker_count = cfg->workers ? cfg->workers : default_workers(rt);
	pool->batch = cfg->batch;
	pool->spin_rounds = cfg->spin_rounds;
	pool->pin_workers = cfg->pin_workers;
	bl__inject_init(&pool->inject);
	atomic_init(&pool->start_error, 0);
	if (pthread_mutex_init(&pool->idle_lock, NULL) != 0) {
		free(pool);
		return NULL;
	}
	return pool;
}

void bl__pool_report_start(bl_pool_t *pool, int rc)
{
	if (rc < 0) {
		int none = 0;
		atomic_compare_exchange_strong(&pool->start_error, &none, rc);
	}
	bl_latch_count_down(&pool->started);
}

/* Start every worker thread and wait until each has run worker_start.
 * Returns 0, or the first error; threads already started keep running and
 * are stopped by bl__pool_stop. */
static int start_workers(bl_pool_t *pool, unsigned *started)
{
	bl_latch_init(&pool->started, pool->worker_count);
	for (*started = 0; *started < pool->worker_count; (*started)++) {
		bl__worker_t *w = &pool->workers[*started];
		int rc = pthread_create(&w->thread, NULL, bl__worker_main, w);
		w->thread_started = rc == 0;
		if (rc != 0) {
			/* Count down for the workers that will never start. */
			for (unsigned i = *started; i < pool->worker_count; i++)
				bl__pool_report_start(pool, -rc);
			break;
		}
	}
	bl_latch_wait(&pool->started);
	return atomic_load(&pool->start_error);
}

int bl__pool_create(bl_pool_t **out, bl_runtime_t *rt, unsigned index, const bl_pool_config_t *cfg)
{
	int rc = check_config(cfg);
	if (rc < 0)
		return rc;

	bl_pool_t *pool = new_pool(rt, index, cfg);
	if (!pool)
		return BL_ENOMEM;

	pool->workers = aligned_alloc(64, pool->worker_count * sizeof *pool->workers);
	if (!pool->workers) {
		bl__pool_free(pool);
		return BL_ENOMEM;
	}
	for (unsigned i = 0; i < pool->worker_count; i++) {
		rc = init_worker(pool, &pool->workers[i], i);
		if (rc < 0) {
			pool->worker_count = i + 1;
			bl__pool_free(pool);
			return rc;
		}
	}

	unsigned started = 0;
	rc = start_workers(pool, &started);
	if (rc == 0)
		rc = bl__timers_start(&pool->timers, index);
	if (rc < 0) {
		pool->worker_count = started;
		bl__pool_stop(pool);
		bl__pool_free(pool);
		return rc;
	}

	*out = pool;
	return 0;
}

void bl__pool_stop(bl_pool_t *pool)
{
	bl__timers_stop(&pool->timers);
	atomic_store_explicit(&pool->stopping, true, memory_order_seq_cst);
	bl__pool_wake_all(pool);
	for (unsigned i = 0; i < pool->worker_count; i++) {
		bl__worker_t *w = &pool->workers[i];
		if (w->thread_started)
			pthread_join(w->thread, NULL);
		w->thread_started = false;
	}
}

/* A dropped task's argument is released by its drop function, when it
 * was submitted with one (bl_pool_submit_with_drop). */
static void drop_runnable(bl__runnable_t r)
{
	/* Queued actors are found and freed by the runtime's arena walk. */
	if (bl__runnable_tag(r) == BL__RUNNABLE_TASK)
		bl__task_drop(bl__runnable_ptr(r));
}

void bl__pool_drop_queued(bl_pool_t *pool)
{
	bl__runnable_t r;

	while ((r = bl__inject_pop(&pool->inject)) != 0)
		drop_runnable(r);

	for (unsigned i = 0; i < pool->worker_count; i++) {
		bl__worker_t *w = &pool->workers[i];
		r = atomic_exchange(&w->slot, 0);
		if (r)
			drop_runnable(r);
		while ((r = bl__deque_pop(&w->deque)) != 0)
			drop_runnable(r);
	}
}

void bl__pool_free(bl_pool_t *pool)
{
	if (pool->workers) {
		for (unsigned i = 0; i < pool->worker_count; i++)
			destroy_worker(&pool->workers[i]);
		free(pool->workers);
	}
	bl__timers_destroy(&pool->timers);
	pthread_mutex_destroy(&pool->idle_lock);
	free(pool);
}

/* ------------------------------------------------------------------------ */
/* Introspection                                                             */
/* ------------------------------------------------------------------------ */

unsigned bl_pool_worker_count(const bl_pool_t *pool)
{
	return pool->worker_count;
}

const char *bl_pool_name(const bl_pool_t *pool)
{
	return pool->name;
}

static uint64_t load_counter(const uint64_t _Atomic *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Time `w` spent parked up to `now`. NOTE: the two counters are read
 * apart, so a park that ends between the reads is counted twice or not at
 * all for that one reading; the error is at most that park's length. */
static uint64_t parked_ns(const bl__worker_t *w, uint64_t now)
{
	uint64_t done = load_counter(&w->parked_ns);
	uint64_t began = load_counter(&w->park_began_ns);
	return done + (began && began < now ? now - began : 0);
}

void bl_pool_stats(const bl_pool_t *pool, bl_pool_stats_t *out)
{
	uint64_t now = bl__now_ns();

	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < pool->worker_count; i++) {
		const bl__worker_t *w = &pool->workers[i];
		out->activations += load_counter(&w->activations);
		out->messages += load_counter(&w->messages);
		out->tasks += load_counter(&w->tasks);
		out->steals += load_counter(&w->steals);
		out->parks += load_counter(&w->parks);
		out->wakeups += load_counter(&w->wakeups);
		out->spawned += load_counter(&w->spawned);
		out->exited += load_counter(&w->exited);
		out->pinned += w->pinned;
		out->parked_ns += parked_ns(w, now);
	}
	out->age_ns = now - pool->started_ns;
	out->spawned += load_counter(&pool->outside_spawned);
	out->exited += load_counter(&pool->outside_exited);
}
