#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "stress.h"

/* Sizes map to the smallest class that fits; beyond 8 KiB is "large". */
Test(sched_alloc, class_of_picks_smallest_fit, .timeout = 10)
{
	static const struct {
		size_t size;
		size_t class_size;
	} cases[] = {{1, 16}, {16, 16}, {17, 32}, {256, 256}, {257, 320}, {4096, 4096}, {4097, 5120}, {8192, 8192}};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		unsigned cls = bl__class_of(cases[i].size);
		cr_assert_neq(cls, BL__CLASS_LARGE, "size %zu must have a class", cases[i].size);
		cr_assert_eq(bl__class_size(cls), cases[i].class_size, "size %zu: expected class size %zu, got %zu",
			     cases[i].size, cases[i].class_size, bl__class_size(cls));
	}
	cr_assert_eq(bl__class_of(8193), BL__CLASS_LARGE, "8193 bytes must be large");
}

static int compare_pointers(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return (x > y) - (x < y);
}

/* Ten thousand live objects of one class are distinct and do not overlap,
 * across several refills of the cache from the arena. */
Test(sched_alloc, live_objects_are_distinct, .timeout = 30)
{
	bl__arena_t arena;
	bl__cache_t cache;
	enum { N = 10000 };
	unsigned cls = bl__class_of(96);
	void **objs = malloc(N * sizeof *objs);
	cr_assert_eq(bl__arena_init(&arena), 0);
	bl__cache_init(&cache, &arena);

	for (int i = 0; i < N; i++) {
		objs[i] = bl__cache_alloc(&cache, cls);
		cr_assert_not_null(objs[i], "allocation %d failed", i);
		memset(objs[i], 0xAB, 96);
	}
	qsort(objs, N, sizeof *objs, compare_pointers);

	for (int i = 1; i < N; i++) {
		uintptr_t gap = (uintptr_t)objs[i] - (uintptr_t)objs[i - 1];
		cr_assert_geq(gap, 96, "objects %d and %d overlap (%lu bytes apart)", i - 1, i, (unsigned long)gap);
	}
	for (int i = 0; i < N; i++)
		bl__cache_free(&cache, cls, objs[i]);
	bl__cache_flush(&cache);
	bl__arena_destroy(&arena);
	free(objs);
}

static void count_object(void *obj, void *ctx)
{
	(void)obj;
	(*(size_t *)ctx)++;
}

/* The arena walk visits every object ever carved, including the ones that
 * are free again. */
Test(sched_alloc, walk_visits_every_carved_object, .timeout = 10)
{
	bl__arena_t arena;
	bl__cache_t cache;
	enum { N = 3000 };
	unsigned cls = bl__class_of(128);
	void *objs[N];
	size_t visited = 0;
	cr_assert_eq(bl__arena_init(&arena), 0);
	bl__cache_init(&cache, &arena);
	for (int i = 0; i < N; i++)
		objs[i] = bl__cache_alloc(&cache, cls);
	for (int i = 0; i < N / 2; i++)
		bl__cache_free(&cache, cls, objs[i]);

	bl__arena_walk(&arena, count_object, &visited);

	/* The cache carves whole batches, so it may have carved a few more
	 * objects than it handed out, never fewer. */
	cr_assert_geq(visited, (size_t)N, "walked %zu objects, expected at least %d", visited, N);
	cr_assert_lt(visited, (size_t)N + 256, "walked %zu objects for %d allocations", visited, N);
	bl__cache_flush(&cache);
	bl__arena_destroy(&arena);
}

typedef struct handoff {
	void **slots;
	size_t count;
	unsigned cls;
} handoff_t;

static void *free_all(void *arg)
{
	handoff_t *h = arg;
	for (size_t i = 0; i < h->count; i++)
		bl__shared_free(h->slots[i], h->cls);
	return NULL;
}

/*
 * Messages are allocated on one thread and freed on another. Over many
 * rounds the memory must flow back to the allocating thread instead of the
 * freeing thread's cache growing without bound: the allocating thread
 * keeps getting objects it had before.
 */
Test(sched_alloc, memory_flows_back_across_threads, .timeout = 60)
{
	enum { PER_ROUND = 4096 };
	unsigned long rounds = bl_test_iterations(200, 40);
	handoff_t h = {.slots = malloc(PER_ROUND * sizeof(void *)), .count = PER_ROUND};
	void *first_round_min = NULL, *first_round_max = NULL;
	size_t reused = 0;

	for (unsigned long r = 0; r < rounds; r++) {
		for (size_t i = 0; i < PER_ROUND; i++) {
			h.slots[i] = bl__shared_alloc(40, &h.cls);
			cr_assert_not_null(h.slots[i]);
			memset(h.slots[i], (int)r, 40);
			if (r == 0) {
				if (!first_round_min || h.slots[i] < first_round_min)
					first_round_min = h.slots[i];
				if (h.slots[i] > first_round_max)
					first_round_max = h.slots[i];
			} else if (h.slots[i] >= first_round_min && h.slots[i] <= first_round_max) {
				reused++;
			}
		}
		pthread_t t;
		pthread_create(&t, NULL, free_all, &h);
		pthread_join(t, NULL);
	}

	cr_assert_gt(reused, 0, "no object freed by another thread was ever handed out again");
	free(h.slots);
}

/* Sizes above the largest class go to malloc and come back through free. */
Test(sched_alloc, large_objects_use_malloc, .timeout = 10)
{
	unsigned cls;

	void *big = bl__shared_alloc(100000, &cls);
	memset(big, 1, 100000);
	bl__shared_free(big, cls);

	cr_assert_eq(cls, BL__CLASS_LARGE, "expected the large class, got %u", cls);
}
