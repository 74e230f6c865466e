/*
 * Spin-then-park for a pool's idle workers, without lost wake-ups.
 *
 * Two counters describe the idle workers: `searching` (spinning through the
 * queues looking for work) and `parked` (on the idle list, asleep or about
 * to be). A thread that makes work visible calls bl__pool_notify, which
 * wakes one parked worker only when nobody is searching: a searcher will
 * find the work, and waking one worker per burst instead of one per message
 * saves a futex wake-up (tens of microseconds on a virtual machine) for
 * every message after the first.
 *
 * "Work" here includes the other workers' next slots (see
 * bl__pool_has_visible_work). The proof that no work is left with everyone
 * asleep is a store-then-load pair on each side, all sequentially
 * consistent:
 *
 *   notifier: publish work;          fence; read searching, then parked
 *   parker:   list self, parked++;   searching--; fence; look for work
 *
 * In the single total order of the fences, either the notifier's reads come
 * after the parker's updates (it sees parked > 0 with searching == 0 and
 * wakes someone), or the parker's look comes after the work was published
 * (it finds the work and cancels its park). A notifier that sees
 * searching > 0 relies on that searcher; the searcher, before it parks,
 * decrements searching and looks again, so it either finds the work or the
 * notifier saw searching == 0 instead.
 */
#include "pool.h"

#include "futex.h"

/* Take the most recently parked worker off the idle list, or return NULL. */
static bl__worker_t *pop_idle(bl_pool_t *pool)
{
	pthread_mutex_lock(&pool->idle_lock);
	bl__worker_t *w = pool->idle_head;
	if (w) {
		pool->idle_head = w->idle_next;
		w->idle_listed = false;
		atomic_fetch_sub_explicit(&pool->parked, 1, memory_order_seq_cst);
	}
	pthread_mutex_unlock(&pool->idle_lock);
	return w;
}

void bl__pool_notify(bl_pool_t *pool)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&pool->searching, memory_order_seq_cst) != 0)
		return;
	if (atomic_load_explicit(&pool->parked, memory_order_seq_cst) == 0)
		return;

	/*
	 * Become the one waker: the woken worker counts as a searcher from
	 * here on, so concurrent notifiers back off.
	 */
	uint32_t none = 0;
	if (!atomic_compare_exchange_strong_explicit(&pool->searching, &none, 1, memory_order_seq_cst,
						     memory_order_relaxed))
		return;

	bl__worker_t *w = pop_idle(pool);
	if (!w) {
		/* Another notifier woke the last sleeper; it is searching now. */
		atomic_fetch_sub_explicit(&pool->searching, 1, memory_order_seq_cst);
		return;
	}

	/* Release: the woken worker sees the state of the queues as of now. */
	atomic_store_explicit(&w->park_state, BL__PARK_NOTIFIED, memory_order_release);
	pool->ops->wake(w);
}

/*
 * Occupied next slots count as well: a slot filled by a worker that then
 * stays in one long handler is reachable only by a thief, and the push
 * that filled it woke nobody when a searcher existed. Without this, that
 * searcher could park right after the push and leave the slot stranded.
 */
bool bl__pool_has_visible_work(bl_pool_t *pool)
{
	if (!bl__inject_is_empty(&pool->inject))
		return true;
	for (unsigned i = 0; i < pool->worker_count; i++) {
		bl__worker_t *w = &pool->workers[i];
		if (bl__deque_size(&w->deque) > 0 || atomic_load_explicit(&w->slot, memory_order_seq_cst) != 0)
			return true;
	}
	return false;
}

static void list_idle(bl__worker_t *w)
{
	bl_pool_t *pool = w->pool;

	atomic_store_explicit(&w->park_state, BL__PARK_SLEEPING, memory_order_relaxed);
	pthread_mutex_lock(&pool->idle_lock);
	w->idle_next = pool->idle_head;
	pool->idle_head = w;
	w->idle_listed = true;
	atomic_fetch_add_explicit(&pool->parked, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&pool->idle_lock);
}

/* Take `w` off the idle list. Returns false when a notifier already took
 * it (and will set it NOTIFIED). */
static bool unlist_idle(bl__worker_t *w)
{
	bl_pool_t *pool = w->pool;
	bool was_listed;

	pthread_mutex_lock(&pool->idle_lock);
	was_listed = w->idle_listed;
	if (was_listed) {
		bl__worker_t **p = &pool->idle_head;
		while (*p != w)
			p = &(*p)->idle_next;
		*p = w->idle_next;
		w->idle_listed = false;
		atomic_fetch_sub_explicit(&pool->parked, 1, memory_order_seq_cst);
	}
	pthread_mutex_unlock(&pool->idle_lock);
	return was_listed;
}

static void sleep_until_notified(bl__worker_t *w)
{
	uint64_t began = bl__now_ns();

	atomic_fetch_add_explicit(&w->parks, 1, memory_order_relaxed);
	atomic_store_explicit(&w->park_began_ns, began, memory_order_relaxed);
	while (atomic_load_explicit(&w->park_state, memory_order_acquire) != BL__PARK_NOTIFIED)
		w->pool->ops->wait(w);
	atomic_fetch_add_explicit(&w->parked_ns, bl__now_ns() - began, memory_order_relaxed);
	atomic_store_explicit(&w->park_began_ns, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->wakeups, 1, memory_order_relaxed);
}

void bl__worker_park(bl__worker_t *w)
{
	bl_pool_t *pool = w->pool;

	list_idle(w);
	if (w->searching) {
		w->searching = false;
		atomic_fetch_sub_explicit(&pool->searching, 1, memory_order_seq_cst);
	}

	/* The parker's half of the pairing described at the top of the file. */
	atomic_thread_fence(memory_order_seq_cst);
	bool recheck = bl__pool_has_visible_work(pool) ||
		       atomic_load_explicit(&pool->stopping, memory_order_seq_cst);

	if (recheck && unlist_idle(w)) {
		/* Work appeared: search again instead of sleeping. */
		atomic_store_explicit(&w->park_state, BL__PARK_RUNNING, memory_order_relaxed);
		atomic_fetch_add_explicit(&pool->searching, 1, memory_order_seq_cst);
		w->searching = true;
		return;
	}

	/* Either nothing to do, or a notifier took us off the list and counted
	 * us as a searcher: wait for its NOTIFIED either way. */
	sleep_until_notified(w);
	atomic_store_explicit(&w->park_state, BL__PARK_RUNNING, memory_order_relaxed);
	w->searching = true;
}

void bl__worker_unpark_self(bl__worker_t *w)
{
	if (!unlist_idle(w))
		return;

	/* As in bl__pool_notify: the worker leaves the park as a searcher. */
	atomic_fetch_add_explicit(&w->pool->searching, 1, memory_order_seq_cst);
	atomic_store_explicit(&w->park_state, BL__PARK_NOTIFIED, memory_order_relaxed);
}

void bl__pool_wake_all(bl_pool_t *pool)
{
	for (;;) {
		bl__worker_t *w = pop_idle(pool);
		if (!w)
			return;

		/* The woken worker counts as a searcher, as in bl__pool_notify. */
		atomic_fetch_add_explicit(&pool->searching, 1, memory_order_seq_cst);
		atomic_store_explicit(&w->park_state, BL__PARK_NOTIFIED, memory_order_release);
		pool->ops->wake(w);
	}
}
