#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "deque.h"
#include "stress.h"

/* A push reports whether the deque was empty before it, which decides
 * whether another worker must be woken. */
Test(sched_deque, push_reports_empty_deque, .timeout = 10)
{
	bl__deque_t dq;
	cr_assert_eq(bl__deque_init(&dq, 2), 0);

	int first = bl__deque_push(&dq, 1);
	int second = bl__deque_push(&dq, 2);
	bl__deque_pop(&dq);
	bl__deque_pop(&dq);
	int after_drain = bl__deque_push(&dq, 3);

	cr_assert_eq(first, 1, "expected 1 for a push into an empty deque, got %d", first);
	cr_assert_eq(second, 0, "expected 0 for a push into a non-empty deque, got %d", second);
	cr_assert_eq(after_drain, 1, "expected 1 after the deque was drained, got %d", after_drain);
	bl__deque_destroy(&dq);
}

/* The owner takes items newest first; a thief takes them oldest first. */
Test(sched_deque, pop_is_lifo_steal_is_fifo, .timeout = 10)
{
	bl__deque_t dq;
	uintptr_t item = 0;
	cr_assert_eq(bl__deque_init(&dq, 2), 0);
	for (uintptr_t i = 1; i <= 4; i++)
		bl__deque_push(&dq, i);

	int rc = bl__deque_steal(&dq, &item);
	uintptr_t popped = bl__deque_pop(&dq);

	cr_assert_eq(rc, 0, "expected a steal, got %d", rc);
	cr_assert_eq(item, 1, "expected the oldest item 1, got %lu", (unsigned long)item);
	cr_assert_eq(popped, 4, "expected the newest item 4, got %lu", (unsigned long)popped);
	bl__deque_destroy(&dq);
}

/* An empty deque reports empty to both ends. */
Test(sched_deque, empty_deque_returns_nothing, .timeout = 10)
{
	bl__deque_t dq;
	uintptr_t item = 0;
	cr_assert_eq(bl__deque_init(&dq, 2), 0);

	uintptr_t popped = bl__deque_pop(&dq);
	int rc = bl__deque_steal(&dq, &item);

	cr_assert_eq(popped, 0, "expected 0 from an empty deque, got %lu", (unsigned long)popped);
	cr_assert_eq(rc, -ENOENT, "expected -ENOENT, got %d", rc);
	bl__deque_destroy(&dq);
}

/* Pushing 10,000 items into a deque that starts with room for 4 grows it
 * repeatedly without losing or reordering anything. */
Test(sched_deque, growth_keeps_every_item, .timeout = 10)
{
	bl__deque_t dq;
	cr_assert_eq(bl__deque_init(&dq, 2), 0);

	for (uintptr_t i = 1; i <= 10000; i++)
		cr_assert_geq(bl__deque_push(&dq, i), 0);

	cr_assert_eq(bl__deque_size(&dq), 10000);
	for (uintptr_t i = 10000; i >= 1; i--) {
		uintptr_t popped = bl__deque_pop(&dq);
		cr_assert_eq(popped, i, "expected %lu, got %lu", (unsigned long)i, (unsigned long)popped);
	}
	bl__deque_destroy(&dq);
}

typedef struct race {
	bl__deque_t dq;
	unsigned long items;
	unsigned char _Atomic *taken; /* per item: how many times it was taken */
	bool _Atomic done;
	unsigned long _Atomic stolen;
} race_t;

static void take(race_t *r, uintptr_t item)
{
	atomic_fetch_add_explicit(&r->taken[item - 1], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
	race_t *r = arg;
	uintptr_t item;

	while (!atomic_load_explicit(&r->done, memory_order_acquire) || bl__deque_size(&r->dq) > 0) {
		if (bl__deque_steal(&r->dq, &item) == 0) {
			take(r, item);
			atomic_fetch_add_explicit(&r->stolen, 1, memory_order_relaxed);
		}
	}
	return NULL;
}

/*
 * The owner pushes two million items and pops about a third of them, in a
 * pattern that keeps the deque short (so the last-item race between pop
 * and steal happens constantly) and sometimes long (so it grows), while two
 * thieves steal. Every item must be taken exactly once.
 */
Test(sched_deque, concurrent_steals_take_each_item_once, .timeout = 120)
{
	race_t r = {.items = bl_test_iterations(2000000, 200000)};
	pthread_t thieves[2];
	unsigned long popped = 0;
	uint64_t rng = 42;
	cr_assert_eq(bl__deque_init(&r.dq, 3), 0);
	r.taken = calloc(r.items, 1);
	atomic_init(&r.done, false);
	atomic_init(&r.stolen, 0);

	for (int i = 0; i < 2; i++)
		pthread_create(&thieves[i], NULL, thief, &r);
	for (uintptr_t i = 1; i <= r.items; i++) {
		cr_assert_geq(bl__deque_push(&r.dq, i), 0);
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (rng % 3 == 0) {
			uintptr_t item = bl__deque_pop(&r.dq);
			if (item) {
				take(&r, item);
				popped++;
			}
		}
	}
	uintptr_t item;
	while ((item = bl__deque_pop(&r.dq)) != 0) {
		take(&r, item);
		popped++;
	}
	atomic_store_explicit(&r.done, true, memory_order_release);
	for (int i = 0; i < 2; i++)
		pthread_join(thieves[i], NULL);

	unsigned long stolen = atomic_load(&r.stolen);
	cr_assert_eq(popped + stolen, r.items, "popped %lu + stolen %lu, expected %lu", popped, stolen, r.items);
	for (unsigned long i = 0; i < r.items; i++)
		cr_assert_eq(r.taken[i], 1, "item %lu taken %u times", i + 1, r.taken[i]);
	free(r.taken);
	bl__deque_destroy(&r.dq);
}

typedef struct duel {
	bl__deque_t dq;
	unsigned long rounds;
	unsigned long _Atomic round;    /* round the owner has pushed */
	unsigned long _Atomic finished; /* round the thief has finished */
	unsigned long _Atomic thief_wins;
} duel_t;

static void *duel_thief(void *arg)
{
	duel_t *d = arg;
	uintptr_t item;

	for (unsigned long k = 1; k <= d->rounds; k++) {
		while (atomic_load_explicit(&d->round, memory_order_acquire) < k)
			;
		if (bl__deque_steal(&d->dq, &item) == 0)
			atomic_fetch_add_explicit(&d->thief_wins, 1, memory_order_relaxed);
		atomic_store_explicit(&d->finished, k, memory_order_release);
	}
	return NULL;
}

/*
 * One item, two takers, a million times: the owner's pop and the thief's
 * steal race for the only item. Exactly one of them may win each round.
 */
Test(sched_deque, last_item_goes_to_one_taker, .timeout = 120)
{
	duel_t d = {.rounds = bl_test_iterations(1000000, 50000)};
	pthread_t t;
	unsigned long owner_wins = 0;
	cr_assert_eq(bl__deque_init(&d.dq, 2), 0);
	atomic_init(&d.round, 0);
	atomic_init(&d.finished, 0);
	atomic_init(&d.thief_wins, 0);

	pthread_create(&t, NULL, duel_thief, &d);
	for (unsigned long k = 1; k <= d.rounds; k++) {
		bl__deque_push(&d.dq, k);
		atomic_store_explicit(&d.round, k, memory_order_release);
		if (bl__deque_pop(&d.dq) != 0)
			owner_wins++;
		while (atomic_load_explicit(&d.finished, memory_order_acquire) < k)
			;
	}
	pthread_join(t, NULL);

	unsigned long thief_wins = atomic_load(&d.thief_wins);
	cr_assert_eq(owner_wins + thief_wins, d.rounds, "owner %lu + thief %lu wins, expected %lu rounds",
		     owner_wins, thief_wins, d.rounds);
	bl__deque_destroy(&d.dq);
}
