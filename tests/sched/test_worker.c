#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>

#include <beamline/sched.h>

enum { MSG_GO = 1, MSG_SET = 2 };

typedef struct flag_holder {
	bool _Atomic *flag;
} flag_holder_t;

typedef struct waiter {
	bl_actor_t *setter;
	bool _Atomic *flag;
	bool _Atomic *timed_out;
	bl_latch_t *done;
} waiter_t;

static int setter_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	flag_holder_t *s = state;
	(void)self;
	(void)msg;
	atomic_store_explicit(s->flag, true, memory_order_release);
	return 0;
}

/* Sends to the setter (which lands in this worker's next slot), then waits
 * in the handler until the setter has run, which can only happen on the
 * other worker. */
static int waiter_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	waiter_t *s = state;
	struct timespec start, now;
	(void)self;
	(void)msg;

	bl_send_u64(s->setter, MSG_SET, 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!atomic_load_explicit(s->flag, memory_order_acquire)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 10) {
			atomic_store(s->timed_out, true);
			break;
		}
	}
	bl_latch_count_down(s->done);
	return 0;
}

static const bl_behaviour_t setter_behaviour = {.name = "setter", .receive = setter_receive};
static const bl_behaviour_t waiter_behaviour = {.name = "waiter", .receive = waiter_receive};

/*
 * An actor made runnable by a handler that then runs for a long time must
 * not wait for that handler: another worker takes it from the next slot.
 * Repeated 200 times, each with fresh actors.
 */
Test(sched_worker, stuck_next_slot_is_stolen, .timeout = 300)
{
	bl_runtime_t *rt;
	bl_pool_t *pool;
	bl_pool_config_t cfg;
	bl_pool_config_init(&cfg);
	cfg.workers = 2;
	cfg.pin_workers = false;
	cr_assert_eq(bl_runtime_new(&rt), 0);
	cr_assert_eq(bl_runtime_add_pool(rt, &cfg, &pool), 0);

	for (int round = 0; round < 200; round++) {
		bool _Atomic flag, timed_out;
		bl_latch_t done;
		bl_actor_t *setter, *waiter;
		atomic_init(&flag, false);
		atomic_init(&timed_out, false);
		bl_latch_init(&done, 1);
		flag_holder_t fs = {.flag = &flag};
		cr_assert_eq(bl_actor_spawn(&setter, pool, &setter_behaviour, &fs, sizeof fs), 0);
		waiter_t ws = {.setter = setter, .flag = &flag, .timed_out = &timed_out, .done = &done};
		cr_assert_eq(bl_actor_spawn(&waiter, pool, &waiter_behaviour, &ws, sizeof ws), 0);

		bl_send_u64(waiter, MSG_GO, 0);
		bl_latch_wait(&done);

		cr_assert(!atomic_load(&timed_out), "round %d: the setter waited behind the long handler", round);
		bl_actor_release(&setter);
		bl_actor_release(&waiter);
	}
	bl_runtime_free(&rt);
}
