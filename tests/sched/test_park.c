#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>

#include <beamline/sched.h>

#include "stress.h"

/* Workers that search for no rounds at all park as soon as they are idle,
 * so every item of work below has to wake a sleeping worker. */
static bl_pool_t *sleepy_pool(bl_runtime_t **rt, const char *name, unsigned workers)
{
	bl_pool_config_t cfg;
	bl_pool_t *pool = NULL;
	bl_pool_config_init(&cfg);
	cfg.name = name;
	cfg.workers = workers;
	cfg.spin_rounds = 0;
	cfg.pin_workers = false;
	if (!*rt)
		cr_assert_eq(bl_runtime_new(rt), 0);
	cr_assert_eq(bl_runtime_add_pool(*rt, &cfg, &pool), 0);
	return pool;
}

static void count_down(void *arg)
{
	bl_latch_count_down(arg);
}

/*
 * A task submitted from outside to a pool whose workers sleep must run.
 * Fifty thousand times, one at a time, so each submission races with
 * workers that are just going to sleep; a lost wake-up shows as a 10 s
 * timeout on the latch.
 */
Test(sched_park, outside_submit_wakes_sleeper, .timeout = 600)
{
	bl_runtime_t *rt = NULL;
	bl_pool_t *pool = sleepy_pool(&rt, "sleepy", 2);
	unsigned long rounds = bl_test_iterations(50000, 5000);
	bl_pool_stats_t st;

	for (unsigned long i = 0; i < rounds; i++) {
		bl_latch_t done;
		bl_latch_init(&done, 1);
		cr_assert_eq(bl_pool_submit(pool, count_down, &done), 0);
		int rc = bl_latch_wait_for(&done, 10000);
		cr_assert_eq(rc, 0, "round %lu: task did not run within 10 s (lost wake-up)", i);
	}
	bl_pool_stats(pool, &st);

	/* Proof that the test exercises parking at all. A loaded machine lets
	 * the next submission arrive while the worker is still searching, so
	 * far fewer parks than rounds are possible; none would mean the test
	 * measured nothing. */
	cr_assert_geq(st.parks, rounds / 50, "expected at least %lu parks in %lu rounds, got %llu", rounds / 50, rounds,
		      (unsigned long long)st.parks);
	bl_runtime_free(&rt);
}

typedef struct relay {
	bl_pool_t *pool;
	bool _Atomic second_ran;
	bool _Atomic timed_out;
	bl_latch_t done;
} relay_t;

static void second(void *arg)
{
	relay_t *r = arg;
	atomic_store_explicit(&r->second_ran, true, memory_order_release);
}

static void first(void *arg)
{
	relay_t *r = arg;
	struct timespec start, now;

	/* The second task lands on this worker's own deque; only the other
	 * worker, asleep until woken, can run it while this one waits. */
	bl_pool_submit(r->pool, second, r);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!atomic_load_explicit(&r->second_ran, memory_order_acquire)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 10) {
			atomic_store(&r->timed_out, true);
			break;
		}
	}
	bl_latch_count_down(&r->done);
}

/* Work a worker pushes onto its own deque wakes the sleeping other worker
 * when the pusher stays busy. */
Test(sched_park, local_push_wakes_other_worker, .timeout = 600)
{
	bl_runtime_t *rt = NULL;
	bl_pool_t *pool = sleepy_pool(&rt, "relay", 2);
	unsigned long rounds = bl_test_iterations(20000, 2000);

	for (unsigned long i = 0; i < rounds; i++) {
		relay_t r = {.pool = pool};
		atomic_init(&r.second_ran, false);
		atomic_init(&r.timed_out, false);
		bl_latch_init(&r.done, 1);

		cr_assert_eq(bl_pool_submit(pool, first, &r), 0);
		bl_latch_wait(&r.done);

		cr_assert(!atomic_load(&r.timed_out), "round %lu: the other worker was never woken", i);
	}
	bl_runtime_free(&rt);
}

enum { MSG_START = 1, MSG_BALL };

typedef struct player {
	bl_actor_t *peer;
	uint64_t left;
	bl_latch_t *done;
} player_t;

static int player_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	player_t *p = state;
	(void)self;

	if (msg->type == MSG_START) {
		p->peer = *(bl_actor_t **)bl_msg_payload(msg);
		return 0;
	}
	if (p->left-- == 0) {
		bl_latch_count_down(p->done);
		return 0;
	}
	return bl_send_u64(p->peer, MSG_BALL, 0);
}

static const bl_behaviour_t player_behaviour = {.name = "player", .receive = player_receive};

static void introduce(bl_actor_t *to, bl_actor_t *peer)
{
	bl_msg_t *msg = bl_msg_new(MSG_START, sizeof peer);
	*(bl_actor_t **)bl_msg_payload(msg) = peer;
	bl_send(to, &msg);
}

/* Two actors on two one-worker pools pass a ball 100,000 times: every pass
 * crosses pools through an inject queue and must wake the sleeping worker
 * of the other pool. */
Test(sched_park, cross_pool_messages_wake_workers, .timeout = 600)
{
	bl_runtime_t *rt = NULL;
	bl_pool_t *left_pool = sleepy_pool(&rt, "left", 1);
	bl_pool_t *right_pool = sleepy_pool(&rt, "right", 1);
	uint64_t passes = bl_test_iterations(100000, 10000);
	bl_latch_t done;
	bl_actor_t *left, *right;
	bl_latch_init(&done, 1);
	player_t lp = {.left = passes, .done = &done}, rp = {.left = passes, .done = &done};
	cr_assert_eq(bl_actor_spawn(&left, left_pool, &player_behaviour, &lp, sizeof lp), 0);
	cr_assert_eq(bl_actor_spawn(&right, right_pool, &player_behaviour, &rp, sizeof rp), 0);
	introduce(left, right);
	introduce(right, left);

	bl_send_u64(left, MSG_BALL, 0);
	int rc = bl_latch_wait_for(&done, 300000);

	cr_assert_eq(rc, 0, "the ball stopped: a wake-up was lost");
	bl_actor_release(&left);
	bl_actor_release(&right);
	bl_runtime_free(&rt);
}

static void spin_for_200ms(void *arg)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do
		clock_gettime(CLOCK_MONOTONIC, &now);
	while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 200000000L);
	bl_latch_count_down(arg);
}

/*
 * The pool's parked time and age give its busy share. Two workers idle
 * for 300 ms are parked for most of 600 ms of worker time, a park in
 * progress included; then one task busy for 200 ms keeps one worker out
 * of its park, so parked time grows by at most the elapsed worker time
 * less those 200 ms. The bounds leave room for a loaded machine.
 */
Test(sched_park, stats_report_parked_time, .timeout = 60)
{
	bl_runtime_t *rt = NULL;
	bl_pool_t *pool = sleepy_pool(&rt, "parked", 2);
	bl_pool_stats_t idle, busy;
	bl_latch_t done;
	struct timespec nap = {0, 300000000L};

	nanosleep(&nap, NULL);
	bl_pool_stats(pool, &idle);
	bl_latch_init(&done, 1);
	cr_assert_eq(bl_pool_submit(pool, spin_for_200ms, &done), 0);
	cr_assert_eq(bl_latch_wait_for(&done, 10000), 0);
	bl_pool_stats(pool, &busy);

	cr_expect_geq(idle.age_ns, 300000000u, "age %llu ns after a 300 ms sleep", (unsigned long long)idle.age_ns);
	cr_expect_leq(idle.parked_ns, 2 * idle.age_ns, "parked %llu ns of %llu ns of worker time",
		      (unsigned long long)idle.parked_ns, (unsigned long long)(2 * idle.age_ns));
	cr_expect_geq(idle.parked_ns, idle.age_ns, "two idle workers parked only %llu ns in %llu ns",
		      (unsigned long long)idle.parked_ns, (unsigned long long)idle.age_ns);
	uint64_t elapsed = 2 * (busy.age_ns - idle.age_ns);
	cr_expect_geq(busy.parked_ns, idle.parked_ns, "parked time went down");
	cr_expect_leq(busy.parked_ns - idle.parked_ns, elapsed - 200000000u,
		      "parked %llu ns of %llu ns of worker time while one worker ran 200 ms",
		      (unsigned long long)(busy.parked_ns - idle.parked_ns), (unsigned long long)elapsed);
	bl_runtime_free(&rt);
}
