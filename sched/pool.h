/*
 * Pools and their workers.
 *
 * A pool is a set of worker threads with one inject queue. Each worker owns
 * a Chase–Lev deque and a one-item "next slot", which holds the actor that
 * the worker's current activation made runnable last: running it next keeps
 * a message exchange (ping-pong, a request and its reply) on one core and in
 * its cache. Thieves may take the slot too, but only from a worker that has
 * been inside one activation for at least one search round, so a long
 * handler does not hold its slot hostage.
 *
 * Pool flavours differ only in how an idle worker waits and what it polls;
 * that is the bl__pool_ops_t table. The CPU pool sleeps on a futex; the I/O
 * pool waits in its workers' io_urings and turns completions into messages
 * in `poll` (io_ring.c); the GPU pool receives OpenCL event callbacks as
 * messages.
 */
#ifndef BL_SCHED_POOL_H
#define BL_SCHED_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <beamline/sched.h>

#include "alloc.h"
#include "deque.h"
#include "inject.h"
#include "runnable.h"
#include "timer.h"

typedef struct bl__worker bl__worker_t;
struct bl__io_ring;

typedef struct bl__pool_ops {
	/* On the worker thread before its loop starts: bind to a core, open a
	 * ring. Returns 0 or a negative code, which stops the pool's start. */
	int (*worker_start)(bl__worker_t *w);
	/* On the worker thread after its loop ends. */
	void (*worker_stop)(bl__worker_t *w);
	/* When the pool is freed, after every worker thread has exited:
	 * release what a waker may still use until then. Optional. */
	void (*worker_free)(bl__worker_t *w);
	/* Between activations and before sleeping: turn completed external
	 * work into messages. Returns how many it delivered. Optional. */
	unsigned (*poll)(bl__worker_t *w);
	/* Sleep until bl__pool_ops_t.wake for this worker, or a spurious
	 * return; the caller rechecks its park state in a loop. */
	void (*wait)(bl__worker_t *w);
	/* Wake `w` from `wait`; any thread. */
	void (*wake)(bl__worker_t *w);
} bl__pool_ops_t;

/* Park states of a worker, in bl__worker_t.park_state. */
enum {
	BL__PARK_RUNNING = 0,
	BL__PARK_SLEEPING = 1,
	BL__PARK_NOTIFIED = 2,
};

struct bl__worker {
	/* Set once at start. */
	bl_pool_t *pool;
	unsigned index;
	pthread_t thread;
	bool thread_started;
	bool pinned;
	/* The I/O flavour's ring, set by its worker_start; NULL elsewhere. */
	struct bl__io_ring *io;

	/* Owner-written; read by thieves. */
	bl__deque_t deque;
	_Alignas(64) bl__runnable_t _Atomic slot;
	/* Activations started; thieves compare two readings to see whether the
	 * owner is stuck in one activation. Also a statistic. */
	uint64_t _Atomic activations;

	/* Owner only. */
	_Alignas(64) bl__cache_t actor_cache;
	uint64_t rng;
	unsigned ticks;
	unsigned slot_streak;
	bool searching;
	uint64_t *seen_activations; /* per victim, from the last search round */
	bl__runnable_t *seen_slot;

	/* Statistics: written by the owner with relaxed stores, read by
	 * bl_pool_stats from any thread. */
	uint64_t _Atomic messages;
	uint64_t _Atomic tasks;
	uint64_t _Atomic steals;
	uint64_t _Atomic parks;
	uint64_t _Atomic wakeups;
	uint64_t _Atomic spawned;
	uint64_t _Atomic exited;
	/* Nanoseconds spent parked in parks that ended, and the monotonic
	 * time the park in progress began (0: not parked). */
	uint64_t _Atomic parked_ns;
	uint64_t _Atomic park_began_ns;

	/* Parking; idle_next and idle_listed are guarded by the pool's
	 * idle_lock. */
	_Alignas(64) uint32_t _Atomic park_state;
	bl__worker_t *idle_next;
	bool idle_listed;
};

struct bl_pool {
	/* Set once at start. */
	bl_runtime_t *rt;
	unsigned index;
	char name[32];
	bl_pool_kind_t kind;
	const bl__pool_ops_t *ops;
	unsigned worker_count;
	uint64_t started_ns;    /* monotonic time the pool was made */
	unsigned batch;
	unsigned spin_rounds;
	bool pin_workers;
	bl__worker_t *workers;

	bl__inject_t inject;

	/* Parking. `parked` counts listed workers and changes only under
	 * idle_lock; it is atomic so notifiers can read it without the lock. */
	pthread_mutex_t idle_lock;
	bl__worker_t *idle_head;
	_Alignas(64) uint32_t _Atomic parked;
	uint32_t _Atomic searching;
	bool _Atomic stopping;

	/* Counters for work done on behalf of threads that are not workers of
	 * this pool. */
	_Alignas(64) uint64_t _Atomic outside_spawned;
	uint64_t _Atomic outside_exited;

	bl__timers_t timers;

	/* Start-up handshake: each worker reports its worker_start result. */
	bl_latch_t started;
	int _Atomic start_error;
};

/* The worker running on this thread, or NULL on other threads. */
extern _Thread_local bl__worker_t *bl__current_worker;

/* The CPU pool's operations. */
extern const bl__pool_ops_t bl__cpu_pool_ops;
extern const bl__pool_ops_t bl__gpu_pool_ops;

/*
 * Make `r` runnable on `pool`: into the calling worker's slot (when
 * `use_slot`) or deque when the caller is a worker of `pool`, else into the
 * inject queue; then wake a worker if none is looking for work. Any thread.
 */
void bl__pool_enqueue(bl_pool_t *pool, bl__runnable_t r, bool use_slot);

/* Queue `r` behind everything already in the pool's inject queue: for an
 * actor that used up its batch. */
void bl__pool_yield(bl_pool_t *pool, bl__runnable_t r);

/* Wake one sleeping worker when no worker is searching. Call after making
 * work visible. Any thread. */
void bl__pool_notify(bl_pool_t *pool);

/* Return true when the pool's inject queue or any deque holds work. */
bool bl__pool_has_visible_work(bl_pool_t *pool);

/*
 * Worker parking (park.c). bl__worker_park returns when the worker was
 * woken for work or the pool is stopping; the worker is then searching.
 * bl__pool_wake_all wakes every sleeping worker, for shutdown.
 */
void bl__worker_park(bl__worker_t *w);
void bl__pool_wake_all(bl_pool_t *pool);

/*
 * From a flavour's `wait`, on the worker's own thread, when the wait found
 * work that only this worker can see (an I/O completion on its ring): end
 * the park as a notifier would. Does nothing when a notifier already took
 * the worker off the idle list; its NOTIFIED then ends the park.
 */
void bl__worker_unpark_self(bl__worker_t *w);

/* The worker thread's main loop (worker.c). */
void *bl__worker_main(void *arg);

/* Record a worker's start-up result; the first error wins (pool.c). */
void bl__pool_report_start(bl_pool_t *pool, int rc);

/* Start and stop a pool's workers (pool.c). */
int bl__pool_create(bl_pool_t **out, bl_runtime_t *rt, unsigned index, const bl_pool_config_t *cfg);
void bl__pool_stop(bl_pool_t *pool);
void bl__pool_drop_queued(bl_pool_t *pool);
void bl__pool_free(bl_pool_t *pool);

#endif
