/*
 * Chase–Lev work-stealing deque of non-zero word-sized items.
 *
 * The owner thread pushes and pops at the bottom without atomic
 * read-modify-write operations in the common case; any thread steals from
 * the top with one compare-and-swap. The array grows by doubling when full;
 * arrays it outgrows are kept until bl__deque_destroy, because a thief may
 * still be reading one.
 *
 * Memory orders follow Lê, Pop, Cohen and Zappa Nardelli, "Correct and
 * Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013), with the
 * stand-alone fences folded into sequentially consistent accesses, because
 * ThreadSanitizer does not model fences and would report false races.
 */
#ifndef BL_SCHED_DEQUE_H
#define BL_SCHED_DEQUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bl__deque_array {
	struct bl__deque_array *retired; /* older, smaller array (owner only) */
	size_t mask;                     /* capacity - 1, capacity a power of two */
	uintptr_t _Atomic items[];
} bl__deque_array_t;

typedef struct bl__deque {
	/* Written by thieves (and the owner taking the last item). */
	_Alignas(64) int64_t _Atomic top;
	/* Written by the owner only. */
	_Alignas(64) int64_t _Atomic bottom;
	bl__deque_array_t *_Atomic array;
} bl__deque_t;

/* Initialise an empty deque with room for 2^log2_capacity items before it
 * grows. Returns 0 or -ENOMEM. */
int bl__deque_init(bl__deque_t *dq, unsigned log2_capacity);

/* Free the deque's arrays. No thread may use the deque afterwards. */
void bl__deque_destroy(bl__deque_t *dq);

/* Push a non-zero item at the bottom. Owner only. Returns 1 when the deque
 * looked empty before the push, 0 when it did not, or -ENOMEM when the
 * array must grow and cannot. */
int bl__deque_push(bl__deque_t *dq, uintptr_t item);

/* Pop the most recently pushed item, or return 0 when empty. Owner only. */
uintptr_t bl__deque_pop(bl__deque_t *dq);

/*
 * Steal the oldest item into *item. Any thread, including the owner (which
 * takes items in FIFO order this way). Returns 0, -ENOENT when the deque is
 * empty, or -EAGAIN when another thread took the item first (try again).
 */
int bl__deque_steal(bl__deque_t *dq, uintptr_t *item);

/* Return the number of items at the moment of reading; any thread. Exact
 * for the owner; a thief may read a stale value. */
static inline int64_t bl__deque_size(bl__deque_t *dq)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_seq_cst);
	int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
	return b > t ? b - t : 0;
}

#endif
