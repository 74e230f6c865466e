#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include <beamline/sched.h>

#include "harness.h"

/*
 * Every timer message carries its own index and a pointer to the test's
 * log, so that both the clock actor and the discard callback can record
 * it. Times are CLOCK_MONOTONIC nanoseconds, the clock the timers use.
 */

enum { MSG_TICK = 1 };

#define TIMERS_MAX 256u

typedef struct timer_log {
	/* Written by the clock actor's handler only. */
	uint32_t arrived;
	uint32_t order[TIMERS_MAX];     /* timer indexes in arrival order */
	int64_t arrival_ns[TIMERS_MAX]; /* per timer index */
	bl_latch_t all_arrived;         /* armed with the count the test waits for */

	/* Written by discard callbacks, on any thread. */
	uint32_t _Atomic discarded;
	uint32_t _Atomic discarded_index;
	bl_latch_t all_discarded; /* armed with the count the test waits for */
} timer_log_t;

typedef struct tick {
	timer_log_t *log;
	uint32_t index;
	void *owned; /* heap memory the message owns, or NULL */
} tick_t;

static int clock_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	tick_t tick;
	(void)self;
	(void)state;

	memcpy(&tick, bl_msg_payload(msg), sizeof tick);
	timer_log_t *log = tick.log;
	if (tick.index < TIMERS_MAX && log->arrived < TIMERS_MAX) {
		log->arrival_ns[tick.index] = monotonic_ns();
		log->order[log->arrived++] = tick.index;
	}
	free(tick.owned);
	bl_latch_count_down(&log->all_arrived);
	return 0;
}

static void clock_discard(bl_msg_t *msg)
{
	tick_t tick;

	memcpy(&tick, bl_msg_payload(msg), sizeof tick);
	atomic_store(&tick.log->discarded_index, tick.index);
	atomic_fetch_add(&tick.log->discarded, 1);
	free(tick.owned);
	bl_latch_count_down(&tick.log->all_discarded);
}

static const bl_behaviour_t clock_behaviour = {
	.name = "clock",
	.receive = clock_receive,
	.discard = clock_discard,
};

/* A latch counted down more often than armed wraps around. That only
 * happens in a failing test, which asserts on the counters instead. */
static void log_init(timer_log_t *log, uint32_t expected_arrivals, uint32_t expected_discards)
{
	memset(log, 0, sizeof *log);
	bl_latch_init(&log->all_arrived, expected_arrivals);
	bl_latch_init(&log->all_discarded, expected_discards);
	atomic_init(&log->discarded, 0);
	atomic_init(&log->discarded_index, UINT32_MAX);
}

static bl_actor_t *spawn_clock(bl_pool_t *pool)
{
	bl_actor_t *clock = NULL;
	int rc = bl_actor_spawn(&clock, pool, &clock_behaviour, NULL, 0);

	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	return clock;
}

static bl_msg_t *new_tick(timer_log_t *log, uint32_t index, void *owned)
{
	bl_msg_t *msg = bl_msg_new(MSG_TICK, sizeof(tick_t));
	cr_assert_not_null(msg, "bl_msg_new returned NULL");

	tick_t tick = {.log = log, .index = index, .owned = owned};
	memcpy(bl_msg_payload(msg), &tick, sizeof tick);
	return msg;
}

/* Set timer `index` on `clock` after `delay_ms` and return its id. The
 * test fails if bl_send_after fails. */
static bl_timer_id_t set_timer(bl_actor_t *clock, timer_log_t *log, uint32_t index, uint64_t delay_ms)
{
	bl_msg_t *msg = new_tick(log, index, NULL);
	bl_timer_id_t id = 0;

	int rc = bl_send_after(&id, clock, &msg, delay_ms);
	cr_assert_eq(rc, 0, "bl_send_after(%llu ms) returned %s (%d), expected 0", (unsigned long long)delay_ms,
		     bl_err_name(rc), rc);
	cr_assert_null(msg, "bl_send_after left the message pointer at %p, expected NULL", (void *)msg);
	return id;
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                  */
/* ------------------------------------------------------------------------ */

#define DELAY_TIMERS 16u

/* Sixteen timers of 5, 10, ... 80 ms each arrive no earlier than their
 * delay after the moment before bl_send_after was called. The timers are
 * set 0.31 ms apart, so their start times fall at different points within
 * a millisecond: a deadline computed from the current time rounded down to
 * whole milliseconds would make some of them arrive early. */
Test(sched_timer, delivery_waits_at_least_delay, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	timer_log_t log;
	log_init(&log, DELAY_TIMERS, 0);
	bl_actor_t *clock = spawn_clock(pool);
	int64_t set_ns[DELAY_TIMERS];

	for (uint32_t i = 0; i < DELAY_TIMERS; i++) {
		set_ns[i] = monotonic_ns();
		set_timer(clock, &log, i, 5 * (i + 1));
		struct timespec gap = {.tv_sec = 0, .tv_nsec = 310000};
		nanosleep(&gap, NULL);
	}
	await_latch(&log.all_arrived, "every timer");

	for (uint32_t i = 0; i < DELAY_TIMERS; i++) {
		int64_t waited_ns = log.arrival_ns[i] - set_ns[i];
		int64_t delay_ns = 5 * (int64_t)(i + 1) * NS_PER_MS;
		cr_assert_geq(waited_ns, delay_ns, "timer %u of %lld ms arrived after %lld us", i,
			      (long long)(delay_ns / NS_PER_MS), (long long)(waited_ns / 1000));
	}
	bl_actor_release(&clock);
	bl_runtime_free(&rt);
}

#define SAME_DELAY_TIMERS 100u

/* 100 timers set back to back with the same 20 ms delay: their deadlines
 * never decrease, so whether or not they share a millisecond they must
 * arrive exactly in the order they were set. */
Test(sched_timer, equal_delays_arrive_in_set_order, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	timer_log_t log;
	log_init(&log, SAME_DELAY_TIMERS, 0);
	bl_actor_t *clock = spawn_clock(pool);

	for (uint32_t i = 0; i < SAME_DELAY_TIMERS; i++)
		set_timer(clock, &log, i, 20);
	await_latch(&log.all_arrived, "every timer");

	cr_assert_eq(log.arrived, SAME_DELAY_TIMERS, "%u timers arrived, expected %u", log.arrived,
		     SAME_DELAY_TIMERS);
	for (uint32_t k = 0; k < SAME_DELAY_TIMERS; k++) {
		cr_assert_eq(log.order[k], k, "arrival %u was timer %u, expected timer %u", k, log.order[k], k);
	}
	bl_actor_release(&clock);
	bl_runtime_free(&rt);
}

#define RANDOM_TIMERS 200u
#define RANDOM_DELAY_MAX_MS 100u

static uint64_t next_random(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * 200 timers with delays from 0 to 100 ms, drawn from a fixed seed so a
 * failure reproduces, arrive in deadline order. The runtime reads the clock
 * in whole milliseconds, rounded down or up, somewhere inside
 * bl_send_after. So the deadline of timer i lies between floor(before_i) +
 * delay_i and ceil(after_i) + delay_i, with before and after read around
 * the call. Timer a may arrive before timer b only if a's lowest deadline
 * is at most b's highest.
 */
Test(sched_timer, random_delays_arrive_in_deadline_order, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	timer_log_t log;
	log_init(&log, RANDOM_TIMERS, 0);
	bl_actor_t *clock = spawn_clock(pool);
	int64_t earliest_ms[RANDOM_TIMERS], latest_ms[RANDOM_TIMERS];
	uint64_t delay_ms[RANDOM_TIMERS];
	uint64_t seed = UINT64_C(0x9E3779B97F4A7C15);

	for (uint32_t i = 0; i < RANDOM_TIMERS; i++) {
		delay_ms[i] = next_random(&seed) % (RANDOM_DELAY_MAX_MS + 1);
		int64_t before_ms = monotonic_ns() / NS_PER_MS;
		set_timer(clock, &log, i, delay_ms[i]);
		int64_t after_ms = (monotonic_ns() + NS_PER_MS - 1) / NS_PER_MS;
		earliest_ms[i] = before_ms + (int64_t)delay_ms[i];
		latest_ms[i] = after_ms + (int64_t)delay_ms[i];
	}
	await_latch(&log.all_arrived, "every timer");

	cr_assert_eq(log.arrived, RANDOM_TIMERS, "%u timers arrived, expected %u", log.arrived, RANDOM_TIMERS);
	for (uint32_t k = 0; k + 1 < RANDOM_TIMERS; k++) {
		uint32_t a = log.order[k], b = log.order[k + 1];
		cr_assert_leq(earliest_ms[a], latest_ms[b],
			      "timer %u (%llu ms, deadline >= %lld) arrived before timer %u "
			      "(%llu ms, deadline <= %lld)",
			      a, (unsigned long long)delay_ms[a], (long long)earliest_ms[a], b,
			      (unsigned long long)delay_ms[b], (long long)latest_ms[b]);
	}
	bl_actor_release(&clock);
	bl_runtime_free(&rt);
}

/* A timer whose target has terminated by the time it fires is dropped
 * through the target's discard callback, as bl_send drops a message to a
 * terminated actor. The timer is set after the target's BL_MSG_DOWN, so it
 * cannot arrive first. */
Test(sched_timer, timer_for_terminated_actor_is_discarded, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t watch;
	bl_actor_t *watcher = spawn_probe(pool, &probe_behaviour, &watch);
	timer_log_t log;
	log_init(&log, 0, 1);
	bl_actor_t *clock = spawn_clock(pool);
	probe_run(watcher, &watch, PROBE_MONITOR, clock);
	bl_actor_stop(clock);
	probe_await_event(&watch, 0);

	set_timer(clock, &log, 7, 1);
	await_latch(&log.all_discarded, "the timer's discard");

	cr_assert_eq(atomic_load(&log.discarded), 1, "discard callback ran %u times, expected once",
		     atomic_load(&log.discarded));
	cr_assert_eq(atomic_load(&log.discarded_index), 7, "discarded timer %u, expected timer 7",
		     atomic_load(&log.discarded_index));
	cr_assert_eq(log.arrived, 0, "%u timers reached the terminated actor's handler, expected none",
		     log.arrived);
	bl_actor_release(&clock);
	bl_actor_release(&watcher);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Cancelling                                                                */
/* ------------------------------------------------------------------------ */

/* Cancelling a 300 ms timer right after setting it returns 0 and has run
 * the discard callback by the time it returns. A 400 ms timer set after it
 * arrives alone: had the cancelled one fired, it would have come first. */
Test(sched_timer, cancel_before_expiry_discards_message, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	timer_log_t log;
	log_init(&log, 1, 1);
	bl_actor_t *clock = spawn_clock(pool);
	bl_timer_id_t cancelled = set_timer(clock, &log, 0, 300);
	set_timer(clock, &log, 1, 400);

	int rc = bl_timer_cancel(rt, cancelled);
	uint32_t discarded_at_return = atomic_load(&log.discarded);
	await_latch(&log.all_arrived, "the 400 ms timer");

	cr_assert_eq(rc, 0, "bl_timer_cancel returned %s (%d), expected 0", bl_err_name(rc), rc);
	cr_assert_eq(discarded_at_return, 1,
		     "discard callback ran %u times before bl_timer_cancel returned, expected 1",
		     discarded_at_return);
	cr_assert_eq(atomic_load(&log.discarded_index), 0, "discarded timer %u, expected timer 0",
		     atomic_load(&log.discarded_index));
	cr_assert_eq(log.arrived, 1, "%u timers arrived, expected only the 400 ms one", log.arrived);
	cr_assert_eq(log.order[0], 1, "timer %u arrived, expected timer 1", log.order[0]);
	bl_actor_release(&clock);
	bl_runtime_free(&rt);
}

/* Cancelling a timer that already fired returns BL_ENOTIMER and discards
 * nothing. */
Test(sched_timer, cancel_after_firing_returns_enotimer, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	timer_log_t log;
	log_init(&log, 1, 0);
	bl_actor_t *clock = spawn_clock(pool);
	bl_timer_id_t id = set_timer(clock, &log, 0, 1);
	await_latch(&log.all_arrived, "the 1 ms timer");

	int rc = bl_timer_cancel(rt, id);

	cr_assert_eq(rc, BL_ENOTIMER, "bl_timer_cancel returned %s (%d), expected BL_ENOTIMER", bl_err_name(rc),
		     rc);
	cr_assert_eq(atomic_load(&log.discarded), 0, "discard callback ran %u times, expected 0",
		     atomic_load(&log.discarded));
	bl_actor_release(&clock);
	bl_runtime_free(&rt);
}

/* A second cancel of the same timer returns BL_ENOTIMER and does not
 * discard the message again. */
Test(sched_timer, cancel_twice_returns_enotimer, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	timer_log_t log;
	log_init(&log, 0, 1);
	bl_actor_t *clock = spawn_clock(pool);
	bl_timer_id_t id = set_timer(clock, &log, 0, 60000);

	int first = bl_timer_cancel(rt, id);
	int second = bl_timer_cancel(rt, id);

	cr_assert_eq(first, 0, "first cancel returned %s (%d), expected 0", bl_err_name(first), first);
	cr_assert_eq(second, BL_ENOTIMER, "second cancel returned %s (%d), expected BL_ENOTIMER",
		     bl_err_name(second), second);
	cr_assert_eq(atomic_load(&log.discarded), 1, "discard callback ran %u times, expected once",
		     atomic_load(&log.discarded));
	bl_actor_release(&clock);
	bl_runtime_free(&rt);
}

/* Ids that were never issued return BL_ENOTIMER and leave a pending timer
 * alone: 0, all ones, and the pending id with each of its 64 bits flipped
 * in turn (which changes its pool, generation or record). */
Test(sched_timer, cancel_unknown_id_returns_enotimer, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	timer_log_t log;
	log_init(&log, 0, 1);
	bl_actor_t *clock = spawn_clock(pool);
	bl_timer_id_t pending = set_timer(clock, &log, 0, 60000);

	int zero = bl_timer_cancel(rt, 0);
	int ones = bl_timer_cancel(rt, UINT64_MAX);
	int flipped[64];
	for (unsigned bit = 0; bit < 64; bit++)
		flipped[bit] = bl_timer_cancel(rt, pending ^ (UINT64_C(1) << bit));
	uint32_t discarded_before = atomic_load(&log.discarded);
	int real = bl_timer_cancel(rt, pending);

	cr_assert_eq(zero, BL_ENOTIMER, "id 0: %s (%d), expected BL_ENOTIMER", bl_err_name(zero), zero);
	cr_assert_eq(ones, BL_ENOTIMER, "id ~0: %s (%d), expected BL_ENOTIMER", bl_err_name(ones), ones);
	for (unsigned bit = 0; bit < 64; bit++) {
		cr_assert_eq(flipped[bit], BL_ENOTIMER,
			     "pending id with bit %u flipped: %s (%d), expected BL_ENOTIMER", bit,
			     bl_err_name(flipped[bit]), flipped[bit]);
	}
	cr_assert_eq(discarded_before, 0, "unknown ids discarded %u messages, expected none", discarded_before);
	cr_assert_eq(real, 0, "cancelling the pending timer afterwards returned %s (%d), expected 0",
		     bl_err_name(real), real);
	bl_actor_release(&clock);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Shutdown                                                                  */
/* ------------------------------------------------------------------------ */

#define PENDING_TIMERS 100u

/* 100 timers an hour away are pending when the runtime is freed: each
 * message goes to the discard callback exactly once, which frees the heap
 * block the message owns (LeakSanitizer reports any block left). */
Test(sched_timer, pending_timers_discarded_at_shutdown, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	timer_log_t log;
	log_init(&log, 0, PENDING_TIMERS);
	bl_actor_t *clock = spawn_clock(pool);
	for (uint32_t i = 0; i < PENDING_TIMERS; i++) {
		void *owned = malloc(64);
		cr_assert_not_null(owned, "malloc failed");
		bl_msg_t *msg = new_tick(&log, i, owned);
		int rc = bl_send_after(NULL, clock, &msg, 3600 * 1000);
		cr_assert_eq(rc, 0, "bl_send_after returned %s (%d), expected 0", bl_err_name(rc), rc);
	}
	bl_actor_release(&clock);

	bl_runtime_free(&rt);

	cr_assert_null(rt, "bl_runtime_free left the handle at %p, expected NULL", (void *)rt);
	cr_assert_eq(atomic_load(&log.discarded), PENDING_TIMERS, "discard callback ran %u times, expected %u",
		     atomic_load(&log.discarded), PENDING_TIMERS);
	cr_assert_eq(log.arrived, 0, "%u timers arrived, expected none", log.arrived);
}
