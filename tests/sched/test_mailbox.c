#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mailbox.h"
#include "stress.h"

typedef struct test_node {
	struct bl_mq_node node;
	uint32_t producer;
	uint32_t seq;
} test_node_t;

/* A new mailbox is marked, so the first push asks the pusher to schedule
 * the actor and the second does not. */
Test(sched_mailbox, first_push_requests_schedule, .timeout = 10)
{
	bl__mailbox_t mb;
	test_node_t a = {0}, b = {0};
	bl__mailbox_init(&mb);

	bool first = bl__mailbox_push(&mb, &a.node);
	bool second = bl__mailbox_push(&mb, &b.node);

	cr_assert(first, "expected the first push to see the mark");
	cr_assert(!second, "expected the second push not to see the mark");
}

/* A single producer's messages come out in push order; the stub is never
 * handed out and never retired. */
Test(sched_mailbox, pop_keeps_push_order, .timeout = 10)
{
	bl__mailbox_t mb;
	test_node_t nodes[8] = {0};
	struct bl_mq_node *retired;
	bl__mailbox_init(&mb);

	for (uint32_t i = 0; i < 8; i++) {
		nodes[i].seq = i;
		bl__mailbox_push(&mb, &nodes[i].node);
	}

	for (uint32_t i = 0; i < 8; i++) {
		test_node_t *n = (test_node_t *)bl__mailbox_pop(&mb, &retired);
		cr_assert_not_null(n, "expected node %u, got none", i);
		cr_assert_eq(n->seq, i, "expected seq %u, got %u", i, n->seq);
		if (i == 0)
			cr_assert_null(retired, "the stub must not be retired");
		else
			cr_assert_eq(retired, &nodes[i - 1].node, "expected node %u retired", i - 1);
	}
	cr_assert_null(bl__mailbox_pop(&mb, &retired), "expected an empty mailbox");
}

/* The mark can be set only when nothing is queued, and after it is set the
 * next push requests scheduling again. */
Test(sched_mailbox, mark_only_when_empty, .timeout = 10)
{
	bl__mailbox_t mb;
	test_node_t a = {0}, b = {0};
	struct bl_mq_node *retired;
	bl__mailbox_init(&mb);
	bl__mailbox_push(&mb, &a.node);

	bool marked_with_message = bl__mailbox_try_mark(&mb);
	bl__mailbox_pop(&mb, &retired);
	bool marked_empty = bl__mailbox_try_mark(&mb);
	bool push_after_mark = bl__mailbox_push(&mb, &b.node);

	cr_assert(!marked_with_message, "a mailbox with a message must not be marked");
	cr_assert(marked_empty, "an empty mailbox must accept the mark");
	cr_assert(push_after_mark, "the push after a mark must request scheduling");
}

typedef struct stress {
	bl__mailbox_t mb;
	test_node_t **nodes; /* per producer */
	unsigned producers;
	unsigned long per_producer;
	unsigned long _Atomic schedules; /* pushes that saw the mark */
} stress_t;

typedef struct producer_arg {
	stress_t *s;
	unsigned id;
} producer_arg_t;

static void *produce(void *arg)
{
	producer_arg_t *p = arg;
	stress_t *s = p->s;

	for (unsigned long i = 0; i < s->per_producer; i++) {
		test_node_t *n = &s->nodes[p->id][i];
		n->producer = p->id;
		n->seq = (uint32_t)i;
		if (bl__mailbox_push(&s->mb, &n->node))
			atomic_fetch_add_explicit(&s->schedules, 1, memory_order_release);
	}
	return NULL;
}

/*
 * Three producers push a million nodes each while one consumer follows the
 * scheduling protocol: it runs only when a push reported the mark (a
 * "schedule"), pops until empty, then tries to set the mark. Every node
 * must arrive exactly once and in its producer's order, and the consumer
 * must never be scheduled while it still owns the mailbox: schedules seen
 * must equal marks set.
 */
Test(sched_mailbox, concurrent_pushes_lose_nothing, .timeout = 120)
{
	stress_t s = {.producers = 3, .per_producer = bl_test_iterations(1000000, 100000)};
	pthread_t threads[3];
	producer_arg_t args[3];
	uint32_t next_seq[3] = {0};
	unsigned long consumed = 0, marks = 1, schedules_taken = 0;
	struct bl_mq_node *retired;
	bl__mailbox_init(&s.mb);
	atomic_init(&s.schedules, 0);
	s.nodes = calloc(s.producers, sizeof *s.nodes);
	for (unsigned i = 0; i < s.producers; i++)
		s.nodes[i] = calloc(s.per_producer, sizeof **s.nodes);

	for (unsigned i = 0; i < s.producers; i++) {
		args[i] = (producer_arg_t){&s, i};
		pthread_create(&threads[i], NULL, produce, &args[i]);
	}
	unsigned long total = s.producers * s.per_producer;
	while (consumed < total) {
		/* Wait to be scheduled. */
		while (atomic_load_explicit(&s.schedules, memory_order_acquire) == schedules_taken)
			sched_yield();
		schedules_taken++;
		cr_assert_eq(schedules_taken, marks, "scheduled %lu times but marked only %lu times",
			     schedules_taken, marks);

		for (;;) {
			test_node_t *n = (test_node_t *)bl__mailbox_pop(&s.mb, &retired);
			if (n) {
				cr_assert_eq(n->seq, next_seq[n->producer], "producer %u: expected seq %u, got %u",
					     n->producer, next_seq[n->producer], n->seq);
				next_seq[n->producer]++;
				consumed++;
				continue;
			}
			if (bl__mailbox_try_mark(&s.mb)) {
				marks++;
				break;
			}
			sched_yield(); /* a producer is between its exchange and its link */
		}
	}
	for (unsigned i = 0; i < s.producers; i++)
		pthread_join(threads[i], NULL);

	cr_assert_eq(consumed, total, "expected %lu nodes, consumed %lu", total, consumed);
	/* The final mark has no push after it. */
	cr_assert_eq(atomic_load(&s.schedules), marks - 1, "expected %lu schedules, got %lu", marks - 1,
		     atomic_load(&s.schedules));
	for (unsigned i = 0; i < s.producers; i++)
		free(s.nodes[i]);
	free(s.nodes);
}
