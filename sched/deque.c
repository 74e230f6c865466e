#include "deque.h"

#include <errno.h>
#include <stdlib.h>

static bl__deque_array_t *new_array(size_t capacity)
{
	bl__deque_array_t *a = malloc(sizeof *a + capacity * sizeof(uintptr_t));
	if (!a)
		return NULL;

	a->retired = NULL;
	a->mask = capacity - 1;
	for (size_t i = 0; i < capacity; i++)
		atomic_init(&a->items[i], 0);
	return a;
}

int bl__deque_init(bl__deque_t *dq, unsigned log2_capacity)
{
	bl__deque_array_t *a = new_array((size_t)1 << log2_capacity);
	if (!a)
		return -ENOMEM;

	atomic_init(&dq->top, 0);
	atomic_init(&dq->bottom, 0);
	atomic_init(&dq->array, a);
	return 0;
}

void bl__deque_destroy(bl__deque_t *dq)
{
	bl__deque_array_t *a = atomic_load_explicit(&dq->array, memory_order_relaxed);
	while (a) {
		bl__deque_array_t *older = a->retired;
		free(a);
		a = older;
	}
	atomic_store_explicit(&dq->array, NULL, memory_order_relaxed);
}

/* Copy the live range [top, bottom) into an array twice as large. */
static bl__deque_array_t *grow(bl__deque_t *dq, bl__deque_array_t *old, int64_t top, int64_t bottom)
{
	bl__deque_array_t *a = new_array((old->mask + 1) * 2);
	if (!a)
		return NULL;

	for (int64_t i = top; i < bottom; i++) {
		uintptr_t item = atomic_load_explicit(&old->items[(size_t)i & old->mask], memory_order_relaxed);
		atomic_store_explicit(&a->items[(size_t)i & a->mask], item, memory_order_relaxed);
	}
	a->retired = old;

	/* Release: a thief that loads the new array sees the copied items. */
	atomic_store_explicit(&dq->array, a, memory_order_release);
	return a;
}

int bl__deque_push(bl__deque_t *dq, uintptr_t item)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
	bl__deque_array_t *a = atomic_load_explicit(&dq->array, memory_order_relaxed);

	if (b - t > (int64_t)a->mask) {
		a = grow(dq, a, t, b);
		if (!a)
			return -ENOMEM;
	}

	atomic_store_explicit(&a->items[(size_t)b & a->mask], item, memory_order_relaxed);

	/* Release: a thief that reads the new bottom also reads the item. */
	atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
	return b == t;
}

uintptr_t bl__deque_pop(bl__deque_t *dq)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed) - 1;
	bl__deque_array_t *a = atomic_load_explicit(&dq->array, memory_order_relaxed);

	/*
	 * Sequentially consistent store, then load: the owner must publish its
	 * claim on slot b before reading top, and a thief reads top before
	 * bottom. Otherwise both could take the last item.
	 */
	atomic_store_explicit(&dq->bottom, b, memory_order_seq_cst);
	int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);

	if (t > b) {
		/* Empty: undo the claim. */
		atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
		return 0;
	}

	uintptr_t item = atomic_load_explicit(&a->items[(size_t)b & a->mask], memory_order_relaxed);
	if (t < b)
		return item;

	/* Last item: race the thieves for it through top. */
	if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1, memory_order_seq_cst,
						     memory_order_relaxed))
		item = 0;
	atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
	return item;
}

int bl__deque_steal(bl__deque_t *dq, uintptr_t *item)
{
	/* Read top before bottom; see bl__deque_pop. */
	int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_seq_cst);
	if (t >= b)
		return -ENOENT;

	/*
	 * Acquire: pairs with the release in grow(), so the items copied into
	 * a new array are visible. The item read may be stale when the owner
	 * or another thief took slot t meanwhile; the compare-and-swap on top
	 * then fails and the stale value is dropped.
	 */
	bl__deque_array_t *a = atomic_load_explicit(&dq->array, memory_order_acquire);
	uintptr_t value = atomic_load_explicit(&a->items[(size_t)t & a->mask], memory_order_relaxed);

	if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1, memory_order_seq_cst,
						     memory_order_relaxed))
		return -EAGAIN;

	*item = value;
	return 0;
}
