#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "inject.h"
#include "stress.h"

typedef struct item {
	bl__task_t task; /* the inject link comes first, as in every runnable */
	uint32_t producer;
	uint32_t seq;
} item_t;

static bl__runnable_t runnable_of(item_t *it)
{
	return (bl__runnable_t)it | BL__RUNNABLE_TASK;
}

static item_t *item_of(bl__runnable_t r)
{
	return bl__runnable_ptr(r);
}

/* Items come out in the order they went in, and the queue reads empty once
 * they are gone, which is what a worker checks before it parks. */
Test(sched_inject, fifo_then_empty, .timeout = 10)
{
	bl__inject_t q;
	item_t items[5] = {0};
	bl__inject_init(&q);
	bool empty_at_start = bl__inject_is_empty(&q);

	for (uint32_t i = 0; i < 5; i++) {
		items[i].seq = i;
		bl__inject_push(&q, runnable_of(&items[i]));
	}

	cr_assert(empty_at_start, "a new queue must read empty");
	cr_assert(!bl__inject_is_empty(&q), "a queue with items must not read empty");
	for (uint32_t i = 0; i < 5; i++) {
		bl__runnable_t r = bl__inject_pop(&q);
		cr_assert_neq(r, 0, "expected item %u, got none", i);
		cr_assert_eq(item_of(r)->seq, i, "expected item %u, got %u", i, item_of(r)->seq);
	}
	cr_assert_eq(bl__inject_pop(&q), 0, "expected nothing after the last item");
	cr_assert(bl__inject_is_empty(&q), "a drained queue must read empty");
}

typedef struct stress {
	bl__inject_t q;
	unsigned producers;
	unsigned consumers;
	unsigned long per_producer;
	item_t **items;
	unsigned long _Atomic popped;
	unsigned char _Atomic **seen;
	uint32_t _Atomic *last_seq; /* per producer, last seq popped + 1 */
	bool _Atomic order_broken;
} stress_t;

typedef struct worker_arg {
	stress_t *s;
	unsigned id;
} worker_arg_t;

static void *produce(void *arg)
{
	worker_arg_t *w = arg;
	for (unsigned long i = 0; i < w->s->per_producer; i++)
		bl__inject_push(&w->s->q, runnable_of(&w->s->items[w->id][i]));
	return NULL;
}

static void *consume(void *arg)
{
	stress_t *s = arg;
	unsigned long total = s->producers * s->per_producer;

	while (atomic_load_explicit(&s->popped, memory_order_relaxed) < total) {
		bl__runnable_t r = bl__inject_pop(&s->q);
		if (!r)
			continue;
		item_t *it = item_of(r);
		atomic_fetch_add_explicit(&s->seen[it->producer][it->seq], 1, memory_order_relaxed);
		/* With one consumer, each producer's items must come out in push
		 * order. (With two, the check itself would race.) */
		if (s->consumers == 1) {
			uint32_t expected = it->seq;
			if (!atomic_compare_exchange_strong(&s->last_seq[it->producer], &expected, it->seq + 1))
				atomic_store(&s->order_broken, true);
		}
		atomic_fetch_add_explicit(&s->popped, 1, memory_order_relaxed);
	}
	return NULL;
}

/* Run four producers of `per_producer` items against `consumers` consumer
 * threads and check that each item came out exactly once. */
static void run_stress(unsigned consumers, unsigned long per_producer)
{
	stress_t s = {.producers = 4, .consumers = consumers, .per_producer = per_producer};
	pthread_t producers[4], consumer_threads[2];
	worker_arg_t args[4];
	bl__inject_init(&s.q);
	atomic_init(&s.popped, 0);
	atomic_init(&s.order_broken, false);
	s.items = calloc(s.producers, sizeof *s.items);
	s.seen = calloc(s.producers, sizeof *s.seen);
	s.last_seq = calloc(s.producers, sizeof *s.last_seq);
	for (unsigned p = 0; p < s.producers; p++) {
		s.items[p] = calloc(s.per_producer, sizeof **s.items);
		s.seen[p] = calloc(s.per_producer, 1);
		for (unsigned long i = 0; i < s.per_producer; i++)
			s.items[p][i] = (item_t){.producer = p, .seq = (uint32_t)i};
	}

	for (unsigned c = 0; c < consumers; c++)
		pthread_create(&consumer_threads[c], NULL, consume, &s);
	for (unsigned p = 0; p < s.producers; p++) {
		args[p] = (worker_arg_t){&s, p};
		pthread_create(&producers[p], NULL, produce, &args[p]);
	}
	for (unsigned p = 0; p < s.producers; p++)
		pthread_join(producers[p], NULL);
	for (unsigned c = 0; c < consumers; c++)
		pthread_join(consumer_threads[c], NULL);

	cr_assert(!atomic_load(&s.order_broken), "a producer's items came out of order");
	for (unsigned p = 0; p < s.producers; p++) {
		for (unsigned long i = 0; i < s.per_producer; i++)
			cr_assert_eq(s.seen[p][i], 1, "producer %u item %lu seen %u times", p, i, s.seen[p][i]);
		free(s.items[p]);
		free(s.seen[p]);
	}
	cr_assert(bl__inject_is_empty(&s.q), "the drained queue must read empty");
	free(s.items);
	free(s.seen);
	free(s.last_seq);
}

/* Four producers push half a million items each to one consumer: every
 * item comes out once, in its producer's order. */
Test(sched_inject, concurrent_pushes_keep_order, .timeout = 120)
{
	run_stress(1, bl_test_iterations(500000, 50000));
}

/* The same with two consumers racing for the queue's lock: every item
 * still comes out exactly once. */
Test(sched_inject, racing_consumers_take_each_once, .timeout = 120)
{
	run_stress(2, bl_test_iterations(500000, 50000));
}
