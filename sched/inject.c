#include "inject.h"

/* Actors and tasks both start with their bl__link_t. */
static bl__link_t *link_of(bl__runnable_t r)
{
	return (bl__link_t *)bl__runnable_ptr(r);
}

static bl__runnable_t stub_of(bl__inject_t *q)
{
	return (bl__runnable_t)&q->stub | BL__RUNNABLE_STUB;
}

void bl__inject_init(bl__inject_t *q)
{
	atomic_init(&q->stub.next, 0);
	atomic_init(&q->head, stub_of(q));
	q->tail = stub_of(q);
	atomic_init(&q->locked, false);
}

bool bl__inject_push(bl__inject_t *q, bl__runnable_t r)
{
	atomic_store_explicit(&link_of(r)->next, 0, memory_order_relaxed);

	/*
	 * Sequentially consistent: a worker about to park reads `head` after
	 * announcing itself as parked, and the pusher reads the parked count
	 * after this exchange. With both in the single total order, at least
	 * one of them sees the other.
	 */
	bl__runnable_t prev = atomic_exchange_explicit(&q->head, r, memory_order_seq_cst);

	/* Release: the consumer that follows this link sees the runnable. */
	atomic_store_explicit(&link_of(prev)->next, r, memory_order_release);
	return prev == stub_of(q);
}

/* Take the oldest runnable. Requires: `locked` held by the caller. */
static bl__runnable_t pop_locked(bl__inject_t *q)
{
	bl__runnable_t tail = q->tail;
	bl__runnable_t next = atomic_load_explicit(&link_of(tail)->next, memory_order_acquire);

	/* Step over the stub when it sits at the consumer end. */
	if (tail == stub_of(q)) {
		if (!next)
			return 0;
		q->tail = next;
		tail = next;
		next = atomic_load_explicit(&link_of(tail)->next, memory_order_acquire);
	}

	if (next) {
		q->tail = next;
		return tail;
	}

	/*
	 * `tail` is the last linked node. When `head` differs, a producer has
	 * exchanged but not linked yet: report empty for now rather than wait.
	 */
	if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
		return 0;

	/* Re-append the stub so `tail` can be handed out with nothing after it. */
	(void)bl__inject_push(q, stub_of(q));
	next = atomic_load_explicit(&link_of(tail)->next, memory_order_acquire);
	if (next) {
		q->tail = next;
		return tail;
	}
	return 0;
}

unsigned bl__inject_pop_many(bl__inject_t *q, bl__runnable_t *out, unsigned max)
{
	if (bl__inject_is_empty(q))
		return 0;
	if (atomic_exchange_explicit(&q->locked, true, memory_order_acquire))
		return 0;

	unsigned n = 0;
	while (n < max && (out[n] = pop_locked(q)) != 0)
		n++;

	atomic_store_explicit(&q->locked, false, memory_order_release);
	return n;
}

bl__runnable_t bl__inject_pop(bl__inject_t *q)
{
	bl__runnable_t r = 0;
	bl__inject_pop_many(q, &r, 1);
	return r;
}

bool bl__inject_is_empty(bl__inject_t *q)
{
	return atomic_load_explicit(&q->head, memory_order_seq_cst) == stub_of(q);
}
