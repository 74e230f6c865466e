/*
 * A worker's main loop: take local work, else search the pool, else park.
 *
 * Local order, per pick:
 *   1. every 61st pick, the inject queue first, so work arriving from
 *      outside (and actors that yielded) cannot starve behind local work;
 *   2. the next slot, at most SLOT_STREAK picks in a row, after which its
 *      actor goes to the inject queue so two actors trading messages do
 *      not monopolise the worker;
 *   3. the deque: newest first (cache-warm), but every 8th pick the oldest,
 *      which bounds how long an item can wait under a stream of new ones.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "actor.h"
#include "pool.h"
#include "runtime.h"
#include "task.h"

#define SLOT_STREAK 64u
#define INJECT_EVERY 61u
#define FIFO_EVERY 8u
#define INJECT_BATCH 32u
/* A worker with a `poll` operation polls at least every POLL_EVERY picks,
 * so completions are reaped while local work never runs out. */
#define POLL_EVERY 16u

_Thread_local bl__worker_t *bl__current_worker;

static uint64_t next_random(bl__worker_t *w)
{
	/* xorshift64: cheap victim selection, quality is irrelevant here. */
	uint64_t x = w->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rng = x;
	return x;
}

/*
 * Take work from the inject queue: up to INJECT_BATCH items under one turn
 * of its lock. The first is returned; the rest go to this worker's deque,
 * where other workers can steal them, so a burst submitted from outside
 * spreads over the pool without every worker queueing for the lock.
 */
static bl__runnable_t take_injected(bl__worker_t *w)
{
	bl__runnable_t batch[INJECT_BATCH];
	unsigned n = bl__inject_pop_many(&w->pool->inject, batch, INJECT_BATCH);

	if (n == 0)
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if (bl__deque_push(&w->deque, batch[i]) < 0)
			bl__inject_push(&w->pool->inject, batch[i]);
	}
	if (n > 1 && w->pool->worker_count > 1)
		bl__pool_notify(w->pool);
	return batch[0];
}

static bl__runnable_t take_slot(bl__worker_t *w)
{
	if (atomic_load_explicit(&w->slot, memory_order_relaxed) == 0)
		return 0;
	return atomic_exchange_explicit(&w->slot, 0, memory_order_acquire);
}

static bl__runnable_t pop_deque(bl__worker_t *w)
{
	if (w->ticks % FIFO_EVERY == 0) {
		bl__runnable_t r;
		int rc;
		do
			rc = bl__deque_steal(&w->deque, &r);
		while (rc == -EAGAIN);
		return rc == 0 ? r : 0;
	}
	return bl__deque_pop(&w->deque);
}

static bl__runnable_t next_local(bl__worker_t *w)
{
	bl__runnable_t r;

	w->ticks++;
	if (w->ticks % INJECT_EVERY == 0) {
		r = take_injected(w);
		if (r)
			return r;
	}

	r = take_slot(w);
	if (r) {
		if (++w->slot_streak <= SLOT_STREAK)
			return r;
		bl__pool_yield(w->pool, r);
	}
	w->slot_streak = 0;

	r = pop_deque(w);
	if (r)
		return r;
	return take_injected(w);
}

/*
 * Take `victim`'s slot when the victim has not started a new activation
 * since the previous search round saw the same runnable there: its owner is
 * busy in one long activation and would not get to it soon.
 */
static bl__runnable_t steal_stuck_slot(bl__worker_t *w, bl__worker_t *victim)
{
	bl__runnable_t seen = atomic_load_explicit(&victim->slot, memory_order_relaxed);
	uint64_t activations = atomic_load_explicit(&victim->activations, memory_order_relaxed);
	unsigned v = victim->index;

	if (seen == 0 || seen != w->seen_slot[v] || activations != w->seen_activations[v]) {
		w->seen_slot[v] = seen;
		w->seen_activations[v] = activations;
		return 0;
	}

	w->seen_slot[v] = 0;
	if (!atomic_compare_exchange_strong_explicit(&victim->slot, &seen, 0, memory_order_acquire,
						     memory_order_relaxed))
		return 0;
	return seen;
}

/* One pass over the pool: the inject queue, then every other worker's deque
 * from a random start, then slots stuck behind long activations. */
static bl__runnable_t search_round(bl__worker_t *w)
{
	bl_pool_t *pool = w->pool;
	bl__runnable_t r = take_injected(w);
	if (r)
		return r;

	unsigned n = pool->worker_count;
	unsigned start = (unsigned)(next_random(w) % n);
	for (unsigned i = 0; i < n; i++) {
		bl__worker_t *victim = &pool->workers[(start + i) % n];
		if (victim == w)
			continue;

		int rc;
		do
			rc = bl__deque_steal(&victim->deque, &r);
		while (rc == -EAGAIN);
		if (rc == 0) {
			atomic_fetch_add_explicit(&w->steals, 1, memory_order_relaxed);
			return r;
		}
	}

	for (unsigned i = 0; i < n; i++) {
		bl__worker_t *victim = &pool->workers[(start + i) % n];
		if (victim == w)
			continue;
		r = steal_stuck_slot(w, victim);
		if (r) {
			atomic_fetch_add_explicit(&w->steals, 1, memory_order_relaxed);
			return r;
		}
	}
	return 0;
}

/*
 * Wait a little between search rounds. The second half of the rounds gives
 * the CPU away instead of spinning: when a pool has as many workers as
 * cores, the thread that is about to submit work (often not a worker) is
 * otherwise starved by the workers waiting for it.
 */
static void pause_briefly(unsigned round, unsigned rounds)
{
	if (round > rounds / 2) {
		sched_yield();
		return;
	}
	for (int i = 0; i < 32; i++) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
	}
}

/* Stop searching after finding work. The last searcher to stop wakes
 * another worker, since the work it found may be the first of a burst. */
static void stop_searching(bl__worker_t *w)
{
	if (!w->searching)
		return;
	w->searching = false;
	if (atomic_fetch_sub_explicit(&w->pool->searching, 1, memory_order_seq_cst) == 1)
		bl__pool_notify(w->pool);
}

/* Search for up to spin_rounds rounds, then park; repeat until work is
 * found or the pool stops. Returns the work, or 0 when stopping. */
static bl__runnable_t find_work(bl__worker_t *w)
{
	bl_pool_t *pool = w->pool;

	if (!w->searching) {
		w->searching = true;
		atomic_fetch_add_explicit(&pool->searching, 1, memory_order_seq_cst);
	}

	while (!atomic_load_explicit(&pool->stopping, memory_order_acquire)) {
		for (unsigned round = 0; round <= pool->spin_rounds; round++) {
			/* What poll delivers to actors of this pool lands in this
			 * worker's own slot or deque, which search_round skips. */
			bool polled = pool->ops->poll && pool->ops->poll(w) > 0;
			bl__runnable_t r = polled ? next_local(w) : 0;
			if (!r)
				r = search_round(w);
			if (r) {
				stop_searching(w);
				return r;
			}
			pause_briefly(round, pool->spin_rounds);
		}
		bl__worker_park(w);
	}
	return 0;
}

static void run(bl__worker_t *w, bl__runnable_t r)
{
	if (bl__runnable_tag(r) == BL__RUNNABLE_TASK) {
		bl__task_run(w, bl__runnable_ptr(r));
		return;
	}
	bl__actor_run(w, bl__runnable_ptr(r));
}

void *bl__worker_main(void *arg)
{
	bl__worker_t *w = arg;
	bl_pool_t *pool = w->pool;

	bl__current_worker = w;
	int rc = pool->ops->worker_start(w);
	bl__pool_report_start(pool, rc);
	if (rc < 0) {
		bl__current_worker = NULL;
		return NULL;
	}

	while (!atomic_load_explicit(&pool->stopping, memory_order_relaxed)) {
		if (pool->ops->poll && w->ticks % POLL_EVERY == 0)
			pool->ops->poll(w);

		bl__runnable_t r = next_local(w);
		if (!r) {
			if (pool->ops->poll && pool->ops->poll(w) > 0)
				continue;
			r = find_work(w);
		}
		if (!r)
			break;
		run(w, r);
	}

	stop_searching(w);
	pool->ops->worker_stop(w);
	bl__cache_flush(&w->actor_cache);
	bl__current_worker = NULL;
	return NULL;
}
