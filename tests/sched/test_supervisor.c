#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <criterion/criterion.h>

#include <beamline/sched.h>

#include "harness.h"

/*
 * Every supervisor here runs on a one-worker pool, so that its children's
 * stop callbacks and its restarts happen in a fixed order, and so that
 * flush_worker() can show that a restart did not happen.
 */

enum {
	CHILD_FAIL = 1, /* return TEST_FAILURE */
	CHILD_FINISH,   /* stop normally */
	CHILD_PING,     /* payload: ping_t *, marked alive or, if discarded, dead */
};

#define LOG_MAX 32u

typedef struct child_start {
	size_t index;
	bl_actor_t *child; /* one reference, dropped by log_release */
	uint32_t ticket;
} child_start_t;

typedef struct child_stop {
	size_t index;
	int reason;
	uint32_t ticket;
} child_stop_t;

/*
 * Starts, written by on_child_start in the supervisor's handler, and child
 * stops, written by the children's stop callbacks, in the order they
 * happened. Tickets from one counter order starts against stops.
 * Latch k of each list opens when entry k is written.
 */
typedef struct sup_log {
	uint32_t _Atomic tickets;
	uint32_t _Atomic start_count;
	child_start_t starts[LOG_MAX];
	bl_latch_t start_seen[LOG_MAX];
	uint32_t _Atomic stop_count;
	child_stop_t stops[LOG_MAX];
	bl_latch_t stop_seen[LOG_MAX];
} sup_log_t;

typedef struct child_state {
	sup_log_t *log;
	size_t index;
} child_state_t;

typedef struct ping {
	bl_latch_t answered;
	bool alive;
} ping_t;

static void log_init(sup_log_t *log)
{
	atomic_init(&log->tickets, 0);
	atomic_init(&log->start_count, 0);
	atomic_init(&log->stop_count, 0);
	for (uint32_t k = 0; k < LOG_MAX; k++) {
		bl_latch_init(&log->start_seen[k], 1);
		bl_latch_init(&log->stop_seen[k], 1);
	}
}

/* Drop the references on_child_start took. */
static void log_release(sup_log_t *log)
{
	uint32_t n = atomic_load(&log->start_count);

	for (uint32_t k = 0; k < n && k < LOG_MAX; k++)
		bl_actor_release(&log->starts[k].child);
}

static void on_child_start(void *ctx, size_t index, bl_actor_t *child)
{
	sup_log_t *log = ctx;
	uint32_t k = atomic_fetch_add(&log->start_count, 1);
	if (k >= LOG_MAX)
		return;

	/* Kept until the test ends, so a restarted child can never reuse the
	 * memory, and so the address, of the child it replaces. */
	bl_actor_retain(child);
	uint32_t ticket = atomic_fetch_add(&log->tickets, 1);
	log->starts[k] = (child_start_t){.index = index, .child = child, .ticket = ticket};
	bl_latch_count_down(&log->start_seen[k]);
}

static int child_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)state;

	switch (msg->type) {
	case CHILD_FAIL:
		return TEST_FAILURE;
	case CHILD_FINISH:
		bl_actor_stop(self);
		return 0;
	case CHILD_PING: {
		ping_t *ping = msg_ptr(msg);
		ping->alive = true;
		bl_latch_count_down(&ping->answered);
		return 0;
	}
	default:
		return 0;
	}
}

static void child_stop(bl_actor_t *self, void *state, int reason)
{
	child_state_t *s = state;
	sup_log_t *log = s->log;
	(void)self;

	uint32_t k = atomic_fetch_add(&log->stop_count, 1);
	if (k >= LOG_MAX)
		return;
	uint32_t ticket = atomic_fetch_add(&log->tickets, 1);
	log->stops[k] = (child_stop_t){.index = s->index, .reason = reason, .ticket = ticket};
	bl_latch_count_down(&log->stop_seen[k]);
}

static void child_discard(bl_msg_t *msg)
{
	if (msg->type != CHILD_PING)
		return;
	ping_t *ping = msg_ptr(msg);
	ping->alive = false;
	bl_latch_count_down(&ping->answered);
}

static const bl_behaviour_t child_behaviour = {
	.name = "child",
	.receive = child_receive,
	.stop = child_stop,
	.discard = child_discard,
};

/* Fill `specs` (with `states` behind them) for `n` children of `log` with
 * the given restart types. */
static void make_children(bl_child_spec_t *specs, child_state_t *states, size_t n, sup_log_t *log,
			  const bl_restart_t *restarts)
{
	for (size_t i = 0; i < n; i++) {
		states[i] = (child_state_t){.log = log, .index = i};
		specs[i] = (bl_child_spec_t){
			.behaviour = &child_behaviour,
			.state = &states[i],
			.state_size = sizeof states[i],
			.restart = restarts[i],
		};
	}
}

static bl_supervisor_spec_t make_spec(bl_strategy_t strategy, unsigned max_restarts, uint32_t period_ms,
				      const bl_child_spec_t *children, size_t n, sup_log_t *log)
{
	return (bl_supervisor_spec_t){
		.strategy = strategy,
		.max_restarts = max_restarts,
		.period_ms = period_ms,
		.children = children,
		.n_children = n,
		.on_child_start = on_child_start,
		.ctx = log,
	};
}

static bl_actor_t *spawn_supervisor(bl_pool_t *pool, const bl_supervisor_spec_t *spec)
{
	bl_actor_t *sup = NULL;
	int rc = bl_supervisor_spawn(&sup, pool, spec);

	cr_assert_eq(rc, 0, "bl_supervisor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	return sup;
}

static const child_start_t *await_start(sup_log_t *log, uint32_t k)
{
	await_latch(&log->start_seen[k], "a child start");
	return &log->starts[k];
}

static const child_stop_t *await_child_stop(sup_log_t *log, uint32_t k)
{
	await_latch(&log->stop_seen[k], "a child's stop callback");
	return &log->stops[k];
}

static void tell(bl_actor_t *child, uint32_t type)
{
	int rc = bl_send_u64(child, type, 0);

	cr_assert_eq(rc, 0, "sending type %u to a child returned %s (%d), expected 0", type, bl_err_name(rc),
		     rc);
}

/* Returns whether `child` handled a ping (false: it had terminated). */
static bool is_alive(bl_actor_t *child)
{
	ping_t ping = {.alive = false};
	bl_latch_init(&ping.answered, 1);

	send_ptr(child, CHILD_PING, &ping);
	await_latch(&ping.answered, "a child's ping answer");
	return ping.alive;
}

static void assert_start(const child_start_t *start, size_t index)
{
	cr_assert_eq(start->index, index, "on_child_start got index %zu, expected %zu", start->index, index);
	cr_assert_not_null(start->child, "on_child_start got a NULL child");
}

static void assert_start_count(sup_log_t *log, uint32_t expected)
{
	uint32_t n = atomic_load(&log->start_count);

	cr_assert_eq(n, expected, "on_child_start ran %u times, expected %u", n, expected);
}

/* ------------------------------------------------------------------------ */
/* Restart types and strategies                                              */
/* ------------------------------------------------------------------------ */

/* one_for_one: child 1 of 2 fails and only it is restarted, as a new actor
 * reported through on_child_start. Child 0 keeps running. */
Test(sched_supervisor, one_for_one_restarts_failed_child, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[2] = {BL_RESTART_PERMANENT, BL_RESTART_PERMANENT};
	bl_child_spec_t children[2];
	child_state_t states[2];
	make_children(children, states, 2, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 5, 60000, children, 2, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	const child_start_t *first = await_start(&log, 0);
	const child_start_t *second = await_start(&log, 1);

	tell(second->child, CHILD_FAIL);
	const child_start_t *restart = await_start(&log, 2);
	const child_stop_t *stop = await_child_stop(&log, 0);
	flush_worker(pool);

	assert_start(first, 0);
	assert_start(second, 1);
	assert_start(restart, 1);
	cr_assert_neq(restart->child, second->child, "restart reported the failed child %p again",
		      (void *)second->child);
	cr_assert_eq(stop->index, 1, "child %zu stopped, expected child 1", stop->index);
	cr_assert_eq(stop->reason, TEST_FAILURE, "child stopped with %s (%d), expected %d",
		     bl_err_name(stop->reason), stop->reason, TEST_FAILURE);
	assert_start_count(&log, 3);
	cr_assert(is_alive(first->child), "child 0 terminated, expected it untouched by child 1's restart");
	cr_assert(is_alive(restart->child), "the restarted child 1 terminated");
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* A permanent child is restarted after a normal exit too. */
Test(sched_supervisor, permanent_child_restarted_after_normal_exit, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[1] = {BL_RESTART_PERMANENT};
	bl_child_spec_t children[1];
	child_state_t states[1];
	make_children(children, states, 1, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 5, 60000, children, 1, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	const child_start_t *first = await_start(&log, 0);

	tell(first->child, CHILD_FINISH);
	const child_start_t *restart = await_start(&log, 1);

	assert_start(restart, 0);
	cr_assert_neq(restart->child, first->child, "restart reported the stopped child %p again",
		      (void *)first->child);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* A transient child that exits normally is not restarted. Child 1, a
 * permanent marker, fails after child 0's exit reached the supervisor, so
 * the next start must be child 1's: a restart of child 0 would come first. */
Test(sched_supervisor, transient_normal_exit_is_not_restarted, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[2] = {BL_RESTART_TRANSIENT, BL_RESTART_PERMANENT};
	bl_child_spec_t children[2];
	child_state_t states[2];
	make_children(children, states, 2, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 5, 60000, children, 2, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	const child_start_t *transient = await_start(&log, 0);
	const child_start_t *marker = await_start(&log, 1);

	tell(transient->child, CHILD_FINISH);
	const child_stop_t *stop = await_child_stop(&log, 0);
	flush_worker(pool);
	tell(marker->child, CHILD_FAIL);
	const child_start_t *next = await_start(&log, 2);
	flush_worker(pool);

	cr_assert_eq(stop->reason, 0, "transient child stopped with %s (%d), expected 0",
		     bl_err_name(stop->reason), stop->reason);
	assert_start(next, 1);
	assert_start_count(&log, 3);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* A transient child that fails is restarted. */
Test(sched_supervisor, transient_child_restarted_after_failure, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[1] = {BL_RESTART_TRANSIENT};
	bl_child_spec_t children[1];
	child_state_t states[1];
	make_children(children, states, 1, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 5, 60000, children, 1, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	const child_start_t *first = await_start(&log, 0);

	tell(first->child, CHILD_FAIL);
	const child_start_t *restart = await_start(&log, 1);

	assert_start(restart, 0);
	cr_assert_neq(restart->child, first->child, "restart reported the failed child %p again",
		      (void *)first->child);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* Temporary children are never restarted. Child 0 fails, child 1 exits
 * normally, and then the permanent marker, child 2, fails. The next start
 * must be child 2's. */
Test(sched_supervisor, temporary_child_never_restarted, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[3] = {BL_RESTART_TEMPORARY, BL_RESTART_TEMPORARY, BL_RESTART_PERMANENT};
	bl_child_spec_t children[3];
	child_state_t states[3];
	make_children(children, states, 3, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 5, 60000, children, 3, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	const child_start_t *failing = await_start(&log, 0);
	const child_start_t *finishing = await_start(&log, 1);
	const child_start_t *marker = await_start(&log, 2);

	tell(failing->child, CHILD_FAIL);
	await_child_stop(&log, 0);
	tell(finishing->child, CHILD_FINISH);
	await_child_stop(&log, 1);
	flush_worker(pool);
	tell(marker->child, CHILD_FAIL);
	const child_start_t *next = await_start(&log, 3);
	flush_worker(pool);

	assert_start(next, 2);
	assert_start_count(&log, 4);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* one_for_all: child 1 of 3 fails, children 0 and 2 are stopped, and all
 * three are started again as new actors in index order. */
Test(sched_supervisor, one_for_all_restarts_children_in_order, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[3] = {BL_RESTART_PERMANENT, BL_RESTART_PERMANENT, BL_RESTART_PERMANENT};
	bl_child_spec_t children[3];
	child_state_t states[3];
	make_children(children, states, 3, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ALL, 5, 60000, children, 3, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	const child_start_t *old[3];
	for (uint32_t k = 0; k < 3; k++)
		old[k] = await_start(&log, k);

	tell(old[1]->child, CHILD_FAIL);
	const child_stop_t *stops[3];
	for (uint32_t k = 0; k < 3; k++)
		stops[k] = await_child_stop(&log, k);
	const child_start_t *fresh[3];
	for (uint32_t k = 0; k < 3; k++)
		fresh[k] = await_start(&log, 3 + k);
	flush_worker(pool);

	cr_assert_eq(stops[0]->index, 1, "child %zu stopped first, expected the failing child 1",
		     stops[0]->index);
	cr_assert_eq(stops[0]->reason, TEST_FAILURE, "child 1 stopped with %s (%d), expected %d",
		     bl_err_name(stops[0]->reason), stops[0]->reason, TEST_FAILURE);
	cr_assert_eq(stops[1]->index + stops[2]->index, 2,
		     "children %zu and %zu were stopped, expected 0 and 2", stops[1]->index, stops[2]->index);
	cr_assert_neq(stops[1]->index, 1, "child 1 stopped twice");
	for (uint32_t k = 0; k < 3; k++) {
		assert_start(fresh[k], k);
		cr_assert_neq(fresh[k]->child, old[k]->child, "child %u restarted as the old actor %p", k,
			      (void *)old[k]->child);
	}
	assert_start_count(&log, 6);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* one_for_all stops the other children, then restarts them all: the stop
 * callbacks of old children 0 and 2 run before on_child_start reports the
 * first new child. Tickets from one counter order the two kinds of event. */
Test(sched_supervisor, one_for_all_stops_children_before_restarting, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[3] = {BL_RESTART_PERMANENT, BL_RESTART_PERMANENT, BL_RESTART_PERMANENT};
	bl_child_spec_t children[3];
	child_state_t states[3];
	make_children(children, states, 3, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ALL, 5, 60000, children, 3, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	const child_start_t *old[3];
	for (uint32_t k = 0; k < 3; k++)
		old[k] = await_start(&log, k);

	tell(old[1]->child, CHILD_FAIL);
	const child_stop_t *stops[3];
	for (uint32_t k = 0; k < 3; k++)
		stops[k] = await_child_stop(&log, k);
	const child_start_t *first_fresh = await_start(&log, 3);

	for (uint32_t k = 1; k < 3; k++) {
		cr_assert_lt(stops[k]->ticket, first_fresh->ticket,
			     "old child %zu stopped at event %u, after the first restart at event %u",
			     stops[k]->index, stops[k]->ticket, first_fresh->ticket);
	}
	for (uint32_t k = 4; k < 6; k++)
		await_start(&log, k);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Restart intensity                                                         */
/* ------------------------------------------------------------------------ */

/* Spawn a probe that monitors `sup`. */
static bl_actor_t *watch_supervisor(bl_pool_t *pool, bl_actor_t *sup, probe_report_t *report)
{
	bl_actor_t *watcher = spawn_probe(pool, &probe_behaviour, report);
	int rc = probe_run(watcher, report, PROBE_MONITOR, sup);

	cr_assert_eq(rc, 0, "bl_actor_monitor returned %s (%d), expected 0", bl_err_name(rc), rc);
	return watcher;
}

/* With max_restarts 2 in a 60 s period (far longer than the test), the
 * third failure of child 0 would be the third restart: the supervisor
 * terminates with BL_EINTENSITY instead, and stops child 1. */
Test(sched_supervisor, intensity_exceeded_terminates_supervisor, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[2] = {BL_RESTART_PERMANENT, BL_RESTART_PERMANENT};
	bl_child_spec_t children[2];
	child_state_t states[2];
	make_children(children, states, 2, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 2, 60000, children, 2, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	probe_report_t watch;
	bl_actor_t *watcher = watch_supervisor(pool, sup, &watch);
	const child_start_t *current = await_start(&log, 0);
	await_start(&log, 1);

	for (uint32_t restart = 0; restart < 2; restart++) {
		tell(current->child, CHILD_FAIL);
		current = await_start(&log, 2 + restart);
		assert_start(current, 0);
	}
	tell(current->child, CHILD_FAIL);
	const probe_event_t *down = probe_await_event(&watch, 0);
	const child_stop_t *sibling_stop = await_child_stop(&log, 3);
	flush_worker(pool);

	cr_assert_eq(down->actor, sup, "BL_MSG_DOWN names %p, expected the supervisor %p",
		     (const void *)down->actor, (void *)sup);
	cr_assert_eq(down->reason, BL_EINTENSITY, "supervisor terminated with %s (%d), expected BL_EINTENSITY",
		     bl_err_name(down->reason), down->reason);
	cr_assert_eq(sibling_stop->index, 1, "child %zu stopped last, expected child 1", sibling_stop->index);
	assert_start_count(&log, 4);
	bl_actor_release(&watcher);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* max_restarts 0 allows no restart at all: the first failure terminates
 * the supervisor with BL_EINTENSITY. */
Test(sched_supervisor, zero_max_restarts_trips_on_first_failure, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[1] = {BL_RESTART_PERMANENT};
	bl_child_spec_t children[1];
	child_state_t states[1];
	make_children(children, states, 1, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 0, 60000, children, 1, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	probe_report_t watch;
	bl_actor_t *watcher = watch_supervisor(pool, sup, &watch);
	const child_start_t *first = await_start(&log, 0);

	tell(first->child, CHILD_FAIL);
	const probe_event_t *down = probe_await_event(&watch, 0);
	flush_worker(pool);

	cr_assert_eq(down->reason, BL_EINTENSITY, "supervisor terminated with %s (%d), expected BL_EINTENSITY",
		     bl_err_name(down->reason), down->reason);
	assert_start_count(&log, 1);
	bl_actor_release(&watcher);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0) {
	}
}

/* With max_restarts 1 per 100 ms, failures at least 150 ms apart never
 * have two restarts in one period: three of them all restart the child.
 * The sleeps are the property itself, and only their lower bound matters. */
Test(sched_supervisor, restarts_spread_beyond_period_do_not_trip, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[1] = {BL_RESTART_PERMANENT};
	bl_child_spec_t children[1];
	child_state_t states[1];
	make_children(children, states, 1, &log, restarts);
	bl_supervisor_spec_t spec = make_spec(BL_ONE_FOR_ONE, 1, 100, children, 1, &log);
	bl_actor_t *sup = spawn_supervisor(pool, &spec);
	probe_report_t watch;
	bl_actor_t *watcher = watch_supervisor(pool, sup, &watch);
	const child_start_t *current = await_start(&log, 0);

	for (uint32_t restart = 0; restart < 3; restart++) {
		tell(current->child, CHILD_FAIL);
		current = await_start(&log, 1 + restart);
		assert_start(current, 0);
		sleep_ms(150);
	}
	flush_worker(pool);
	probe_run(watcher, &watch, PROBE_PING, NULL);

	cr_assert_eq(atomic_load(&watch.event_count), 0,
		     "the supervisor terminated with %s (%d), expected it running",
		     bl_err_name(watch.events[0].reason), watch.events[0].reason);
	cr_assert(is_alive(current->child), "the third restarted child terminated");
	bl_actor_release(&watcher);
	bl_actor_release(&sup);
	log_release(&log);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Invalid specs                                                             */
/* ------------------------------------------------------------------------ */

static const bl_behaviour_t no_receive_behaviour = {.name = "no_receive"};

/* Each defect alone makes bl_supervisor_spawn return BL_EINVAL and leave
 * *out as it was: no spec, no children (count 0 or NULL array), more than
 * BL_SUPERVISOR_CHILDREN_MAX children or BL_SUPERVISOR_RESTARTS_MAX
 * restarts, a child without behaviour or receive callback, a child state
 * over BL_ACTOR_STATE_MAX, and strategy or restart values outside their
 * enums. */
Test(sched_supervisor, invalid_spec_returns_einval, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	sup_log_t log;
	log_init(&log);
	const bl_restart_t restarts[1] = {BL_RESTART_PERMANENT};
	bl_child_spec_t good[1];
	child_state_t states[1];
	make_children(good, states, 1, &log, restarts);
	size_t many = BL_SUPERVISOR_CHILDREN_MAX + 1;
	bl_child_spec_t *too_many = calloc(many, sizeof *too_many);
	cr_assert_not_null(too_many, "calloc of %zu child specs failed", many);
	for (size_t i = 0; i < many; i++)
		too_many[i] = good[0];
	bl_child_spec_t no_behaviour = good[0], no_receive = good[0], big_state = good[0],
			bad_restart = good[0];
	no_behaviour.behaviour = NULL;
	no_receive.behaviour = &no_receive_behaviour;
	big_state.state = NULL;
	big_state.state_size = BL_ACTOR_STATE_MAX + 1;
	bad_restart.restart = (bl_restart_t)7;
	struct {
		const char *defect;
		bl_supervisor_spec_t spec;
	} cases[] = {
		{"zero children", make_spec(BL_ONE_FOR_ONE, 1, 1000, good, 0, &log)},
		{"NULL children", make_spec(BL_ONE_FOR_ONE, 1, 1000, NULL, 1, &log)},
		{"too many children", make_spec(BL_ONE_FOR_ONE, 1, 1000, too_many, many, &log)},
		{"too many restarts",
		 make_spec(BL_ONE_FOR_ONE, BL_SUPERVISOR_RESTARTS_MAX + 1, 1000, good, 1, &log)},
		{"child without behaviour", make_spec(BL_ONE_FOR_ONE, 1, 1000, &no_behaviour, 1, &log)},
		{"child without receive", make_spec(BL_ONE_FOR_ONE, 1, 1000, &no_receive, 1, &log)},
		{"child state too large", make_spec(BL_ONE_FOR_ONE, 1, 1000, &big_state, 1, &log)},
		{"unknown restart type", make_spec(BL_ONE_FOR_ONE, 1, 1000, &bad_restart, 1, &log)},
		{"unknown strategy", make_spec((bl_strategy_t)7, 1, 1000, good, 1, &log)},
	};
	static char marker;
	bl_actor_t *const untouched = (bl_actor_t *)&marker;

	bl_actor_t *out = untouched;
	int null_spec = bl_supervisor_spawn(&out, pool, NULL);
	int results[sizeof cases / sizeof cases[0]];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		results[i] = bl_supervisor_spawn(&out, pool, &cases[i].spec);

	cr_assert_eq(null_spec, BL_EINVAL, "NULL spec: %s (%d), expected BL_EINVAL", bl_err_name(null_spec),
		     null_spec);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(results[i], BL_EINVAL, "%s: %s (%d), expected BL_EINVAL", cases[i].defect,
			     bl_err_name(results[i]), results[i]);
	}
	cr_assert_eq(out, untouched, "a rejected spec wrote %p to *out", (void *)out);
	assert_start_count(&log, 0);
	free(too_many);
	bl_runtime_free(&rt);
}
