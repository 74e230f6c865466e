#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include <beamline/sched.h>

#include "harness.h"
#include "stress.h"

enum {
	MSG_BLOCK = 1,
	MSG_FILL,
	MSG_MEET,
	MSG_FAREWELL,
	MSG_ECHO,
};

/* ------------------------------------------------------------------------ */
/* Shutdown with queued messages                                             */
/* ------------------------------------------------------------------------ */

#define FILLED_ACTORS 1000u
#define FILL_PER_ACTOR ((uint32_t)bl_test_iterations(1000, 100))

/* What happened to each message, by id: FATE_HANDLED or FATE_DISCARDED is
 * added each time. Discard callbacks receive only the message, so the array
 * is reached through a file-scope pointer. Each test runs in its own
 * process. */
#define FATE_HANDLED 1u
#define FATE_DISCARDED 16u
static uint8_t _Atomic *fates;

typedef struct stop_record {
	uint32_t _Atomic calls;
	int _Atomic reason;
} stop_record_t;

typedef struct filled_state {
	stop_record_t *stop;
} filled_state_t;

static int filled_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)self;
	(void)state;

	atomic_fetch_add(&fates[bl_msg_u64(msg)], FATE_HANDLED);
	return 0;
}

static void filled_stop(bl_actor_t *self, void *state, int reason)
{
	filled_state_t *s = state;
	(void)self;

	atomic_store(&s->stop->reason, reason);
	atomic_fetch_add(&s->stop->calls, 1);
}

static void filled_discard(bl_msg_t *msg)
{
	atomic_fetch_add(&fates[bl_msg_u64(msg)], FATE_DISCARDED);
}

static const bl_behaviour_t filled_behaviour = {
	.name = "filled",
	.receive = filled_receive,
	.stop = filled_stop,
	.discard = filled_discard,
};

/*
 * A blocker holds its worker inside one handler call until the runtime
 * starts shutting down, which it learns from bl_pool_submit returning
 * BL_ESHUTDOWN. The runtime cannot free the pool before its workers have
 * finished their activations, so polling the pool stays safe meanwhile.
 */
typedef struct blocker_state {
	bl_pool_t *pool;
	bl_latch_t *blocked;
	stop_record_t *stop;
} blocker_state_t;

static void do_nothing(void *arg)
{
	(void)arg;
}

static int blocker_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	blocker_state_t *s = state;
	(void)self;
	(void)msg;

	bl_latch_count_down(s->blocked);
	/* Each accepted no-op task is dropped at shutdown, and one per
	 * millisecond keeps their number small. */
	while (bl_pool_submit(s->pool, do_nothing, NULL) == 0) {
		struct timespec nap = {.tv_sec = 0, .tv_nsec = 1000000};
		nanosleep(&nap, NULL);
	}
	return 0;
}

static void blocker_stop(bl_actor_t *self, void *state, int reason)
{
	blocker_state_t *s = state;
	(void)self;

	atomic_store(&s->stop->reason, reason);
	atomic_fetch_add(&s->stop->calls, 1);
}

static const bl_behaviour_t blocker_behaviour = {
	.name = "blocker",
	.receive = blocker_receive,
	.stop = blocker_stop,
};

static void assert_stopped_once_by_shutdown(const stop_record_t *stop, const char *actor_label, uint32_t index)
{
	uint32_t calls = atomic_load(&stop->calls);
	int reason = atomic_load(&stop->reason);

	cr_assert_eq(calls, 1, "%s %u: stop callback ran %u times, expected once", actor_label, index, calls);
	cr_assert_eq(reason, BL_ESHUTDOWN, "%s %u: stop reason %s (%d), expected BL_ESHUTDOWN", actor_label,
		     index, bl_err_name(reason), reason);
}

/*
 * 1,000 actors hold 1,000 messages each (100 under ThreadSanitizer) when
 * the runtime is freed, while both workers are inside blocker handlers
 * that return only once shutdown has started. Each message must be either
 * handled or discarded, exactly once. Each actor's stop callback must run
 * once with BL_ESHUTDOWN, including the blockers', which were mid-handler.
 * The workers may start a few more activations before they notice the
 * shutdown, so nearly all messages, not all, are discarded.
 */
Test(sched_runtime, shutdown_discards_every_queued_message, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	size_t total = (size_t)FILLED_ACTORS * FILL_PER_ACTOR;
	fates = calloc(total, sizeof *fates);
	stop_record_t *stops = calloc(FILLED_ACTORS, sizeof *stops);
	stop_record_t blocker_stops[2] = {0};
	cr_assert(fates && stops, "calloc failed");
	bl_latch_t blocked;
	bl_latch_init(&blocked, 2);
	for (uint32_t b = 0; b < 2; b++) {
		blocker_state_t state = {.pool = pool, .blocked = &blocked, .stop = &blocker_stops[b]};
		bl_actor_t *blocker = NULL;
		int rc = bl_actor_spawn(&blocker, pool, &blocker_behaviour, &state, sizeof state);
		cr_assert_eq(rc, 0, "spawning blocker %u returned %s (%d), expected 0", b, bl_err_name(rc), rc);
		bl_send_u64(blocker, MSG_BLOCK, 0);
		bl_actor_release(&blocker);
	}
	await_latch(&blocked, "both workers to enter a blocker");
	for (uint32_t a = 0; a < FILLED_ACTORS; a++) {
		filled_state_t state = {.stop = &stops[a]};
		bl_actor_t *actor = NULL;
		int rc = bl_actor_spawn(&actor, pool, &filled_behaviour, &state, sizeof state);
		cr_assert_eq(rc, 0, "spawning actor %u returned %s (%d), expected 0", a, bl_err_name(rc), rc);
		for (uint32_t m = 0; m < FILL_PER_ACTOR; m++) {
			rc = bl_send_u64(actor, MSG_FILL, (uint64_t)a * FILL_PER_ACTOR + m);
			cr_assert_eq(rc, 0, "send %u to actor %u returned %s (%d), expected 0", m, a,
				     bl_err_name(rc), rc);
		}
		bl_actor_release(&actor);
	}

	bl_runtime_free(&rt);

	/* Count first and assert once: Criterion reports every assertion to its
	 * runner, which is slow for a million of them. */
	size_t handled = 0, discarded = 0, wrong = 0, first_wrong = 0;
	for (size_t id = 0; id < total; id++) {
		uint8_t fate = atomic_load(&fates[id]);
		handled += fate == FATE_HANDLED;
		discarded += fate == FATE_DISCARDED;
		if (fate != FATE_HANDLED && fate != FATE_DISCARDED && wrong++ == 0)
			first_wrong = id;
	}
	cr_assert_eq(
		wrong, 0,
		"%zu messages were not handled or discarded exactly once; message %zu was handled %u times and "
		"discarded %u times",
		wrong, first_wrong, atomic_load(&fates[first_wrong]) % FATE_DISCARDED,
		atomic_load(&fates[first_wrong]) / FATE_DISCARDED);
	cr_assert_gt(
		discarded, 0,
		"all %zu messages were handled and none discarded, so the blockers did not block the workers",
		handled);
	for (uint32_t a = 0; a < FILLED_ACTORS; a++) {
		if (atomic_load(&stops[a].calls) != 1 || atomic_load(&stops[a].reason) != BL_ESHUTDOWN)
			assert_stopped_once_by_shutdown(&stops[a], "actor", a);
	}
	for (uint32_t b = 0; b < 2; b++)
		assert_stopped_once_by_shutdown(&blocker_stops[b], "blocker", b);
	free(stops);
	free(fates);
}

/* ------------------------------------------------------------------------ */
/* Shutdown with actors that hold each other                                 */
/* ------------------------------------------------------------------------ */

#define RING_SIZE 100u

typedef struct ring_log {
	bl_latch_t met; /* opens when every member retained and linked its successor */
	stop_record_t stops[RING_SIZE];
	uint32_t _Atomic farewells_handled;
	uint32_t _Atomic farewells_discarded;
} ring_log_t;

typedef struct ring_state {
	ring_log_t *log;
	uint32_t index;
	bl_actor_t *next; /* one reference, released by the stop callback */
} ring_state_t;

/* A farewell owns a heap block. The receive or discard callback frees it. */
typedef struct farewell {
	ring_log_t *log;
	void *owned;
} farewell_t;

static int ring_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	ring_state_t *s = state;

	if (msg->type == MSG_MEET) {
		s->next = msg_ptr(msg);
		bl_actor_retain(s->next);
		int rc = bl_actor_link(self, s->next);
		bl_latch_count_down(&s->log->met);
		return rc;
	}

	farewell_t farewell;
	memcpy(&farewell, bl_msg_payload(msg), sizeof farewell);
	free(farewell.owned);
	atomic_fetch_add(&farewell.log->farewells_handled, 1);
	return 0;
}

/* Tell the successor goodbye, then drop the reference to it. */
static void ring_stop(bl_actor_t *self, void *state, int reason)
{
	ring_state_t *s = state;
	(void)self;

	atomic_store(&s->log->stops[s->index].reason, reason);
	atomic_fetch_add(&s->log->stops[s->index].calls, 1);
	if (!s->next)
		return;

	bl_msg_t *msg = bl_msg_new(MSG_FAREWELL, sizeof(farewell_t));
	if (msg) {
		farewell_t farewell = {.log = s->log, .owned = malloc(32)};
		memcpy(bl_msg_payload(msg), &farewell, sizeof farewell);
		bl_send(s->next, &msg);
	}
	bl_actor_release(&s->next);
}

static void ring_discard(bl_msg_t *msg)
{
	farewell_t farewell;

	if (msg->type != MSG_FAREWELL)
		return;
	memcpy(&farewell, bl_msg_payload(msg), sizeof farewell);
	free(farewell.owned);
	atomic_fetch_add(&farewell.log->farewells_discarded, 1);
}

static const bl_behaviour_t ring_behaviour = {
	.name = "ring",
	.receive = ring_receive,
	.stop = ring_stop,
	.discard = ring_discard,
};

/*
 * 100 actors in a ring each hold a reference to their successor and are
 * linked to it. The test keeps no reference. At shutdown every stop
 * callback runs once with BL_ESHUTDOWN (the links must not turn it into
 * BL_ELINKED), sends its successor a farewell and releases it. Each of the
 * 100 farewells is discarded, never handled, and frees its heap block.
 * AddressSanitizer reports a use of an actor freed while still referenced.
 */
Test(sched_runtime, shutdown_with_actors_holding_each_other, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	ring_log_t *log = calloc(1, sizeof *log);
	cr_assert_not_null(log, "calloc failed");
	bl_latch_init(&log->met, RING_SIZE);
	bl_actor_t *ring[RING_SIZE];
	for (uint32_t i = 0; i < RING_SIZE; i++) {
		ring_state_t state = {.log = log, .index = i};
		int rc = bl_actor_spawn(&ring[i], pool, &ring_behaviour, &state, sizeof state);
		cr_assert_eq(rc, 0, "spawning member %u returned %s (%d), expected 0", i, bl_err_name(rc), rc);
	}
	for (uint32_t i = 0; i < RING_SIZE; i++)
		send_ptr(ring[i], MSG_MEET, ring[(i + 1) % RING_SIZE]);
	await_latch(&log->met, "every ring member to hold its successor");
	for (uint32_t i = 0; i < RING_SIZE; i++)
		bl_actor_release(&ring[i]);

	bl_runtime_free(&rt);

	for (uint32_t i = 0; i < RING_SIZE; i++)
		assert_stopped_once_by_shutdown(&log->stops[i], "ring member", i);
	cr_assert_eq(atomic_load(&log->farewells_discarded), RING_SIZE, "%u farewells discarded, expected %u",
		     atomic_load(&log->farewells_discarded), RING_SIZE);
	cr_assert_eq(atomic_load(&log->farewells_handled), 0,
		     "%u farewells handled during shutdown, expected none",
		     atomic_load(&log->farewells_handled));
	free(log);
}

/* ------------------------------------------------------------------------ */
/* Runtimes and pools                                                        */
/* ------------------------------------------------------------------------ */

typedef struct echo_state {
	bl_latch_t *done;
} echo_state_t;

static int echo_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	echo_state_t *s = state;
	(void)self;
	(void)msg;

	bl_latch_count_down(s->done);
	return 0;
}

static const bl_behaviour_t echo_behaviour = {.name = "echo", .receive = echo_receive};

/* Spawn an echo actor on `pool`, send it one message and wait for it. */
static void assert_pool_runs_actor(bl_pool_t *pool)
{
	bl_latch_t done;
	bl_latch_init(&done, 1);
	echo_state_t state = {.done = &done};
	bl_actor_t *actor = NULL;

	int rc = bl_actor_spawn(&actor, pool, &echo_behaviour, &state, sizeof state);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	rc = bl_send_u64(actor, MSG_ECHO, 0);
	cr_assert_eq(rc, 0, "bl_send_u64 returned %s (%d), expected 0", bl_err_name(rc), rc);
	await_latch(&done, "the echo actor");
	bl_actor_release(&actor);
}

/* 50 runtimes in a row (10 under ThreadSanitizer) each start a two-worker
 * pool, run one actor and are freed, alternating with empty runtimes. Each
 * round must work after the previous one was freed, and AddressSanitizer
 * reports memory of a freed runtime that is still used. */
Test(sched_runtime, runtimes_created_and_freed_repeatedly, .timeout = TEST_TIMEOUT_S)
{
	unsigned rounds = (unsigned)bl_test_iterations(50, 10);

	for (unsigned round = 0; round < rounds; round++) {
		bl_runtime_t *empty = NULL;
		int rc = bl_runtime_new(&empty);
		cr_assert_eq(rc, 0, "round %u: bl_runtime_new returned %s (%d), expected 0", round,
			     bl_err_name(rc), rc);
		bl_runtime_free(&empty);
		cr_assert_null(empty, "round %u: bl_runtime_free left the handle at %p, expected NULL", round,
			       (void *)empty);

		bl_pool_t *pool;
		bl_runtime_t *rt = start_runtime(2, &pool);
		assert_pool_runs_actor(pool);
		bl_runtime_free(&rt);
		cr_assert_null(rt, "round %u: bl_runtime_free left the handle at %p, expected NULL", round,
			       (void *)rt);
	}
}

/* Each bad configuration alone makes bl_runtime_add_pool return BL_EINVAL
 * and leave *out as it was: no configuration, batch 0 (an actor could never
 * handle a message), no name, and a kind outside the enum. The runtime
 * then still accepts a good configuration. */
Test(sched_runtime, add_pool_rejects_invalid_config, .timeout = TEST_TIMEOUT_S)
{
	bl_runtime_t *rt = NULL;
	int rc = bl_runtime_new(&rt);
	cr_assert_eq(rc, 0, "bl_runtime_new returned %s (%d), expected 0", bl_err_name(rc), rc);
	bl_pool_config_t good, zero_batch, no_name, bad_kind;
	bl_pool_config_init(&good);
	good.workers = 1;
	good.pin_workers = false;
	zero_batch = no_name = bad_kind = good;
	zero_batch.batch = 0;
	no_name.name = NULL;
	bad_kind.kind = (bl_pool_kind_t)7;
	static char marker;
	bl_pool_t *const untouched = (bl_pool_t *)&marker;
	bl_pool_t *out = untouched;

	int null_cfg = bl_runtime_add_pool(rt, NULL, &out);
	int zero_batch_rc = bl_runtime_add_pool(rt, &zero_batch, &out);
	int no_name_rc = bl_runtime_add_pool(rt, &no_name, &out);
	int bad_kind_rc = bl_runtime_add_pool(rt, &bad_kind, &out);
	bl_pool_t *untouched_out = out;
	int good_rc = bl_runtime_add_pool(rt, &good, &out);

	cr_assert_eq(null_cfg, BL_EINVAL, "NULL config: %s (%d), expected BL_EINVAL", bl_err_name(null_cfg),
		     null_cfg);
	cr_assert_eq(zero_batch_rc, BL_EINVAL, "batch 0: %s (%d), expected BL_EINVAL",
		     bl_err_name(zero_batch_rc), zero_batch_rc);
	cr_assert_eq(no_name_rc, BL_EINVAL, "NULL name: %s (%d), expected BL_EINVAL", bl_err_name(no_name_rc),
		     no_name_rc);
	cr_assert_eq(bad_kind_rc, BL_EINVAL, "kind 7: %s (%d), expected BL_EINVAL", bl_err_name(bad_kind_rc),
		     bad_kind_rc);
	cr_assert_eq(untouched_out, untouched, "a rejected configuration wrote %p to *out",
		     (void *)untouched_out);
	cr_assert_eq(good_rc, 0, "the good configuration afterwards: %s (%d), expected 0", bl_err_name(good_rc),
		     good_rc);
	assert_pool_runs_actor(out);
	bl_runtime_free(&rt);
}

/* The pool keeps its own copy of the name (the caller's buffer is
 * overwritten after the call) and reports the configured worker count.
 * workers = 0 gives at least one worker. */
Test(sched_runtime, pool_reports_name_and_worker_count, .timeout = TEST_TIMEOUT_S)
{
	bl_runtime_t *rt = NULL;
	int rc = bl_runtime_new(&rt);
	cr_assert_eq(rc, 0, "bl_runtime_new returned %s (%d), expected 0", bl_err_name(rc), rc);
	char name[16] = "io-bound";
	bl_pool_config_t three, automatic;
	bl_pool_config_init(&three);
	three.name = name;
	three.workers = 3;
	three.pin_workers = false;
	bl_pool_config_init(&automatic);
	automatic.name = "automatic";
	automatic.pin_workers = false;
	bl_pool_t *three_pool = NULL, *automatic_pool = NULL;

	int three_rc = bl_runtime_add_pool(rt, &three, &three_pool);
	memset(name, 'x', sizeof name - 1);
	int automatic_rc = bl_runtime_add_pool(rt, &automatic, &automatic_pool);

	cr_assert_eq(three_rc, 0, "adding the 3-worker pool: %s (%d), expected 0", bl_err_name(three_rc),
		     three_rc);
	cr_assert_eq(automatic_rc, 0, "adding the automatic pool: %s (%d), expected 0",
		     bl_err_name(automatic_rc), automatic_rc);
	cr_assert_str_eq(bl_pool_name(three_pool), "io-bound",
			 "bl_pool_name returned \"%s\", expected \"io-bound\"", bl_pool_name(three_pool));
	cr_assert_eq(bl_pool_worker_count(three_pool), 3, "bl_pool_worker_count returned %u, expected 3",
		     bl_pool_worker_count(three_pool));
	cr_assert_geq(bl_pool_worker_count(automatic_pool), 1,
		      "workers = 0 gave %u workers, expected at least 1", bl_pool_worker_count(automatic_pool));
	bl_runtime_free(&rt);
}

typedef struct relay_state {
	bl_actor_t *next; /* borrowed: the test holds a reference until the end */
	bl_latch_t *done;
} relay_state_t;

/* Forward the message once to `next`, or count down at the end. */
static int relay_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	relay_state_t *s = state;
	(void)self;
	(void)msg;

	if (!s->next) {
		bl_latch_count_down(s->done);
		return 0;
	}
	return bl_send_u64(s->next, MSG_ECHO, 0);
}

static const bl_behaviour_t relay_behaviour = {.name = "relay", .receive = relay_receive};

/* An actor on one pool sends to an actor on another pool of the same
 * runtime, and shutdown stops both pools. */
Test(sched_runtime, actors_on_two_pools_exchange_messages, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *first_pool, *second_pool;
	bl_runtime_t *rt = start_runtime(1, &first_pool);
	bl_pool_config_t cfg;
	bl_pool_config_init(&cfg);
	cfg.name = "second";
	cfg.workers = 1;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(rt, &cfg, &second_pool);
	cr_assert_eq(rc, 0, "adding the second pool returned %s (%d), expected 0", bl_err_name(rc), rc);
	bl_latch_t done;
	bl_latch_init(&done, 1);
	relay_state_t end_state = {.done = &done};
	bl_actor_t *end = NULL, *start = NULL;
	rc = bl_actor_spawn(&end, second_pool, &relay_behaviour, &end_state, sizeof end_state);
	cr_assert_eq(rc, 0, "spawning on the second pool returned %s (%d), expected 0", bl_err_name(rc), rc);
	relay_state_t start_state = {.next = end, .done = &done};
	rc = bl_actor_spawn(&start, first_pool, &relay_behaviour, &start_state, sizeof start_state);
	cr_assert_eq(rc, 0, "spawning on the first pool returned %s (%d), expected 0", bl_err_name(rc), rc);

	bl_send_u64(start, MSG_ECHO, 0);
	await_latch(&done, "the message relayed to the second pool");

	cr_assert_eq(bl_actor_pool(end), second_pool,
		     "the receiving actor runs on %p, expected the second pool %p", (void *)bl_actor_pool(end),
		     (void *)second_pool);
	bl_actor_release(&start);
	bl_actor_release(&end);
	bl_runtime_free(&rt);
}

/* A thread outside the runtime, as an OpenCL event callback is. */
static void *send_from_outside(void *arg)
{
	bl_actor_t *actor = arg;
	struct timespec pause = {0, 20 * 1000 * 1000};

	nanosleep(&pause, NULL); /* long enough for the worker to fall asleep */
	bl_send_u64(actor, MSG_ECHO, 0);
	return NULL;
}

/* A GPU-kind pool runs actors like a CPU pool but pins no worker, even
 * when pinning is requested, and a message sent from a foreign thread
 * wakes its sleeping worker: that is how device completions arrive. */
Test(sched_runtime, gpu_pool_wakes_on_outside_send, .timeout = TEST_TIMEOUT_S)
{
	bl_runtime_t *rt = NULL;
	cr_assert_eq(bl_runtime_new(&rt), 0);
	bl_pool_config_t cfg;
	bl_pool_config_init(&cfg);
	cfg.name = "gpu";
	cfg.kind = BL_POOL_GPU;
	cfg.workers = 2;
	cfg.pin_workers = true;
	bl_pool_t *pool = NULL;
	int rc = bl_runtime_add_pool(rt, &cfg, &pool);
	cr_assert_eq(rc, 0, "adding a GPU pool returned %s (%d), expected 0", bl_err_name(rc), rc);

	bl_latch_t done;
	bl_latch_init(&done, 1);
	echo_state_t state = {.done = &done};
	bl_actor_t *actor = NULL;
	cr_assert_eq(bl_actor_spawn(&actor, pool, &echo_behaviour, &state, sizeof state), 0);
	pthread_t thread;
	cr_assert_eq(pthread_create(&thread, NULL, send_from_outside, actor), 0);
	await_latch(&done, "the message sent from outside the runtime");
	pthread_join(thread, NULL);

	bl_pool_stats_t stats;
	bl_pool_stats(pool, &stats);
	cr_assert_eq(stats.pinned, 0, "%llu GPU workers were pinned, expected none",
		     (unsigned long long)stats.pinned);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}
