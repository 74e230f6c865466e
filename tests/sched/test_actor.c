#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include <beamline/sched.h>

#include "harness.h"
#include "stress.h"

enum {
	MSG_CAPTURE = 1,
	MSG_GATE,
	MSG_COUNT,
	MSG_STOP_SELF,
	MSG_FAIL,
	MSG_SEQUENCE,
	MSG_SPIN,
	MSG_CHECK,
	MSG_SUBMIT,
};

/* ------------------------------------------------------------------------ */
/* Capture: records what one receive call was given                          */
/* ------------------------------------------------------------------------ */

typedef struct capture {
	bl_latch_t done;
	const bl_actor_t *self;
	const bl_actor_t *current; /* bl_actor_self() inside the handler */
	uintptr_t state_address;
	uint32_t type;
	uint64_t value;
	uint64_t state_words[8];
} capture_t;

typedef struct capture_state {
	capture_t *out;
	uint64_t words[8];
} capture_state_t;

static int capture_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	capture_state_t *s = state;
	capture_t *out = s->out;

	out->self = self;
	out->current = bl_actor_self();
	out->state_address = (uintptr_t)state;
	out->type = msg->type;
	out->value = bl_msg_u64(msg);
	memcpy(out->state_words, s->words, sizeof out->state_words);
	bl_latch_count_down(&out->done);
	return 0;
}

static const bl_behaviour_t capture_behaviour = {.name = "capture", .receive = capture_receive};

/* One message with a distinctive type and value is sent. The handler must
 * see that type and value, itself as `self`, and a 16-byte aligned state
 * block. */
Test(sched_actor, message_reaches_receive_callback, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	capture_t out = {0};
	bl_latch_init(&out.done, 1);
	capture_state_t state = {.out = &out};
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &capture_behaviour, &state, sizeof state);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);

	rc = bl_send_u64(actor, MSG_CAPTURE, UINT64_C(0x0123456789ABCDEF));
	await_latch(&out.done, "the capture handler");

	cr_assert_eq(rc, 0, "bl_send_u64 returned %s (%d), expected 0", bl_err_name(rc), rc);
	cr_assert_eq(out.type, MSG_CAPTURE, "receive saw type %u, expected %u", out.type, MSG_CAPTURE);
	cr_assert_eq(out.value, UINT64_C(0x0123456789ABCDEF), "receive saw value %#llx, expected %#llx",
		     (unsigned long long)out.value, 0x0123456789ABCDEFull);
	cr_assert_eq(out.self, actor, "receive saw self %p, expected the spawned actor %p",
		     (const void *)out.self, (void *)actor);
	cr_assert_eq(out.state_address % 16, 0, "state block at %#lx is not 16-byte aligned",
		     (unsigned long)out.state_address);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* The caller's state is copied at spawn: overwriting the caller's copy
 * afterwards must not change what the handler sees. Eight distinct words
 * make a partial or shifted copy visible. */
Test(sched_actor, spawn_copies_state, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	capture_t out = {0};
	bl_latch_init(&out.done, 1);
	capture_state_t state = {.out = &out};
	for (unsigned i = 0; i < 8; i++)
		state.words[i] = UINT64_C(0x1111111111111111) * (i + 1);
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &capture_behaviour, &state, sizeof state);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);

	memset(state.words, 0xEE, sizeof state.words);
	bl_send_u64(actor, MSG_CAPTURE, 0);
	await_latch(&out.done, "the capture handler");

	for (unsigned i = 0; i < 8; i++) {
		uint64_t expected = UINT64_C(0x1111111111111111) * (i + 1);
		cr_assert_eq(out.state_words[i], expected, "state word %u is %#llx, expected %#llx", i,
			     (unsigned long long)out.state_words[i], (unsigned long long)expected);
	}
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Zeroed state                                                              */
/* ------------------------------------------------------------------------ */

#define ZERO_STATE_SIZE 512u
#define ZERO_ACTORS 64u

typedef struct zero_check {
	bl_latch_t stopped;
	bl_latch_t checked;
	uint64_t _Atomic nonzero_bytes;
} zero_check_t;

/* First-generation actors keep a pointer to the check in their first word
 * and 0xAB in every other byte. */
static int dirty_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	return 0;
}

static void dirty_stop(bl_actor_t *self, void *state, int reason)
{
	zero_check_t *check;
	(void)self;
	(void)reason;

	memcpy(&check, state, sizeof check);
	bl_latch_count_down(&check->stopped);
}

static const bl_behaviour_t dirty_behaviour = {.name = "dirty", .receive = dirty_receive, .stop = dirty_stop};

/* Second-generation actors are spawned with NULL state and count the
 * non-zero bytes they find. The check arrives in the message. */
static int zero_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	zero_check_t *check = msg_ptr(msg);
	const unsigned char *bytes = state;
	uint64_t nonzero = 0;
	(void)self;

	for (size_t i = 0; i < ZERO_STATE_SIZE; i++)
		nonzero += bytes[i] != 0;
	atomic_fetch_add(&check->nonzero_bytes, nonzero);
	bl_latch_count_down(&check->checked);
	return 0;
}

static const bl_behaviour_t zero_behaviour = {.name = "zero", .receive = zero_receive};

/* NULL state means a zeroed block. The first 64 actors fill their 512-byte
 * blocks with 0xAB and are freed from this thread before the second 64 are
 * spawned, so the second generation likely reuses that memory and a
 * missing memset would show as stale bytes. */
Test(sched_actor, spawn_zeroes_state_when_null, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	zero_check_t check;
	bl_latch_init(&check.stopped, ZERO_ACTORS);
	bl_latch_init(&check.checked, ZERO_ACTORS);
	atomic_init(&check.nonzero_bytes, 0);
	unsigned char dirty[ZERO_STATE_SIZE];
	zero_check_t *check_ptr = &check;
	memset(dirty, 0xAB, sizeof dirty);
	memcpy(dirty, &check_ptr, sizeof check_ptr);
	bl_actor_t *actors[ZERO_ACTORS];
	for (unsigned i = 0; i < ZERO_ACTORS; i++) {
		int rc = bl_actor_spawn(&actors[i], pool, &dirty_behaviour, dirty, sizeof dirty);
		cr_assert_eq(rc, 0, "spawn %u returned %s (%d), expected 0", i, bl_err_name(rc), rc);
		bl_actor_stop(actors[i]);
	}
	await_latch(&check.stopped, "the first generation's stop callbacks");
	flush_worker(pool);
	for (unsigned i = 0; i < ZERO_ACTORS; i++)
		bl_actor_release(&actors[i]);

	for (unsigned i = 0; i < ZERO_ACTORS; i++) {
		int rc = bl_actor_spawn(&actors[i], pool, &zero_behaviour, NULL, ZERO_STATE_SIZE);
		cr_assert_eq(rc, 0, "spawn %u returned %s (%d), expected 0", i, bl_err_name(rc), rc);
		send_ptr(actors[i], MSG_CHECK, &check);
	}
	await_latch(&check.checked, "the second generation's checks");

	uint64_t nonzero = atomic_load(&check.nonzero_bytes);
	cr_assert_eq(nonzero, 0, "found %llu non-zero bytes in %u NULL-initialised state blocks, expected 0",
		     (unsigned long long)nonzero, ZERO_ACTORS);
	for (unsigned i = 0; i < ZERO_ACTORS; i++)
		bl_actor_release(&actors[i]);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Per-sender order                                                          */
/* ------------------------------------------------------------------------ */

#define SENDERS 4u
#define MESSAGES_PER_SENDER ((uint32_t)bl_test_iterations(200000, 20000))

typedef struct order_log {
	bl_latch_t done;
	uint64_t next[SENDERS]; /* next sequence number expected per sender */
	/* Written only by the handler. It is atomic so that a test that times
	 * out can report how far the actor got. */
	uint64_t _Atomic received;
	uint64_t violations;
	uint64_t first_value;    /* first out-of-order payload */
	uint64_t first_expected; /* what was expected there */
} order_log_t;

static int order_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	order_log_t *log = *(order_log_t **)state;
	uint64_t value = bl_msg_u64(msg);
	uint64_t sender = value >> 32;
	uint64_t seq = value & UINT32_MAX;
	(void)self;

	if (sender >= SENDERS || seq != log->next[sender]) {
		if (log->violations++ == 0) {
			log->first_value = value;
			log->first_expected = sender < SENDERS ? log->next[sender] : UINT64_MAX;
		}
	}
	if (sender < SENDERS)
		log->next[sender] = seq + 1;
	uint64_t received = atomic_load_explicit(&log->received, memory_order_relaxed) + 1;
	atomic_store_explicit(&log->received, received, memory_order_relaxed);
	if (received == (uint64_t)SENDERS * MESSAGES_PER_SENDER)
		bl_latch_count_down(&log->done);
	return 0;
}

static const bl_behaviour_t order_behaviour = {.name = "order", .receive = order_receive};

typedef struct sender {
	pthread_t thread;
	uint32_t index;
	bl_actor_t *target;
	pthread_barrier_t *start;
	int first_error;
} sender_t;

static void *send_sequence(void *arg)
{
	sender_t *s = arg;

	pthread_barrier_wait(s->start);
	for (uint32_t seq = 0; seq < MESSAGES_PER_SENDER; seq++) {
		int rc = bl_send_u64(s->target, MSG_SEQUENCE, (uint64_t)s->index << 32 | seq);
		if (rc != 0 && s->first_error == 0)
			s->first_error = rc;
	}
	return NULL;
}

/* Four threads send 200,000 numbered messages each at once (a tenth under
 * ThreadSanitizer), so their pushes interleave on the mailbox many times.
 * Each sender's numbers must arrive in order, and all of them must arrive. */
Test(sched_actor, per_sender_order_is_kept, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	order_log_t log = {0};
	bl_latch_init(&log.done, 1);
	atomic_init(&log.received, 0);
	order_log_t *log_ptr = &log;
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &order_behaviour, &log_ptr, sizeof log_ptr);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, SENDERS);
	sender_t senders[SENDERS];

	for (uint32_t i = 0; i < SENDERS; i++) {
		senders[i] = (sender_t){.index = i, .target = actor, .start = &start};
		pthread_create(&senders[i].thread, NULL, send_sequence, &senders[i]);
	}
	for (uint32_t i = 0; i < SENDERS; i++)
		pthread_join(senders[i].thread, NULL);
	int wait_rc = bl_latch_wait_for(&log.done, AWAIT_MS);

	cr_assert_eq(wait_rc, 0, "timed out after %u ms with %llu of %llu messages received", AWAIT_MS,
		     (unsigned long long)atomic_load(&log.received),
		     (unsigned long long)SENDERS * MESSAGES_PER_SENDER);

	for (uint32_t i = 0; i < SENDERS; i++) {
		cr_assert_eq(senders[i].first_error, 0, "sender %u got %s (%d) from bl_send_u64, expected 0", i,
			     bl_err_name(senders[i].first_error), senders[i].first_error);
	}
	cr_assert_eq(
		log.violations, 0,
		"%llu messages out of sender order; first: sender %llu sequence %llu where %llu was expected",
		(unsigned long long)log.violations, (unsigned long long)(log.first_value >> 32),
		(unsigned long long)(log.first_value & UINT32_MAX), (unsigned long long)log.first_expected);
	cr_assert_eq(atomic_load(&log.received), (uint64_t)SENDERS * MESSAGES_PER_SENDER,
		     "received %llu messages, expected %llu", (unsigned long long)atomic_load(&log.received),
		     (unsigned long long)SENDERS * MESSAGES_PER_SENDER);
	for (uint32_t i = 0; i < SENDERS; i++) {
		cr_assert_eq(log.next[i], MESSAGES_PER_SENDER,
			     "sender %u: last sequence seen %llu, expected %u", i,
			     (unsigned long long)log.next[i] - 1, MESSAGES_PER_SENDER - 1);
	}
	pthread_barrier_destroy(&start);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Gated actor: blocks its worker until the test has queued everything       */
/* ------------------------------------------------------------------------ */

typedef struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
} gate_t;

static void gate_init(gate_t *gate)
{
	pthread_mutex_init(&gate->lock, NULL);
	pthread_cond_init(&gate->cond, NULL);
	gate->open = false;
}

static void gate_open(gate_t *gate)
{
	pthread_mutex_lock(&gate->lock);
	gate->open = true;
	pthread_cond_broadcast(&gate->cond);
	pthread_mutex_unlock(&gate->lock);
}

static void gate_pass(gate_t *gate)
{
	pthread_mutex_lock(&gate->lock);
	while (!gate->open)
		pthread_cond_wait(&gate->cond, &gate->lock);
	pthread_mutex_unlock(&gate->lock);
}

static void gate_destroy(gate_t *gate)
{
	pthread_cond_destroy(&gate->cond);
	pthread_mutex_destroy(&gate->lock);
}

/*
 * Every message to a gated actor carries a pointer to its log, so that the
 * discard callback can count too. `handled` counts MSG_COUNT and
 * MSG_STOP_SELF messages. Only the actor's handler writes it, and the test
 * reads it after the stop callback.
 */
typedef struct gate_log {
	gate_t gate;
	unsigned handled;
	uint32_t _Atomic discarded;
	bl_latch_t discards; /* armed by the test with the discards it expects */
	bl_latch_t stopped;
	int stop_reason;
} gate_log_t;

static int gated_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	gate_log_t *log = msg_ptr(msg);
	(void)state;

	switch (msg->type) {
	case MSG_GATE:
		gate_pass(&log->gate);
		return 0;
	case MSG_STOP_SELF:
		bl_actor_stop(self);
		log->handled++;
		return 0;
	case MSG_FAIL:
		return TEST_FAILURE;
	default:
		log->handled++;
		return 0;
	}
}

static void gated_stop(bl_actor_t *self, void *state, int reason)
{
	gate_log_t *log = *(gate_log_t **)state;
	(void)self;

	log->stop_reason = reason;
	bl_latch_count_down(&log->stopped);
}

static void gated_discard(bl_msg_t *msg)
{
	gate_log_t *log = msg_ptr(msg);

	atomic_fetch_add(&log->discarded, 1);
	bl_latch_count_down(&log->discards);
}

static const bl_behaviour_t gated_behaviour = {
	.name = "gated",
	.receive = gated_receive,
	.stop = gated_stop,
	.discard = gated_discard,
};

static void gate_log_init(gate_log_t *log, uint32_t expected_discards)
{
	gate_init(&log->gate);
	log->handled = 0;
	atomic_init(&log->discarded, 0);
	bl_latch_init(&log->discards, expected_discards);
	bl_latch_init(&log->stopped, 1);
	log->stop_reason = 1; /* no reason the runtime passes is positive */
}

static bl_actor_t *spawn_gated(bl_pool_t *pool, gate_log_t *log)
{
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &gated_behaviour, &log, sizeof log);

	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	return actor;
}

static void send_to_gated(bl_actor_t *actor, uint32_t type, gate_log_t *log, unsigned times)
{
	for (unsigned i = 0; i < times; i++) {
		int rc = send_ptr(actor, type, log);
		cr_assert_eq(rc, 0, "sending type %u returned %s (%d), expected 0", type, bl_err_name(rc), rc);
	}
}

/* A handler's negative return ends the actor with exactly that code: a
 * monitoring probe must see it in BL_MSG_DOWN. TEST_FAILURE (-EPROTO) is a
 * code the runtime never produces itself. */
Test(sched_actor, negative_return_sets_exit_reason, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t watch;
	bl_actor_t *watcher = spawn_probe(pool, &probe_behaviour, &watch);
	gate_log_t log;
	gate_log_init(&log, 0);
	bl_actor_t *actor = spawn_gated(pool, &log);
	int rc = probe_run(watcher, &watch, PROBE_MONITOR, actor);
	cr_assert_eq(rc, 0, "bl_actor_monitor returned %s (%d), expected 0", bl_err_name(rc), rc);

	send_to_gated(actor, MSG_FAIL, &log, 1);
	const probe_event_t *down = probe_await_event(&watch, 0);

	cr_assert_eq(down->type, BL_MSG_DOWN, "watcher got message type %#x, expected BL_MSG_DOWN", down->type);
	cr_assert_eq(down->actor, actor, "BL_MSG_DOWN names actor %p, expected %p", (const void *)down->actor,
		     (void *)actor);
	cr_assert_eq(down->reason, TEST_FAILURE, "BL_MSG_DOWN reason is %s (%d), expected %d",
		     bl_err_name(down->reason), down->reason, TEST_FAILURE);
	bl_actor_release(&actor);
	bl_actor_release(&watcher);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* bl_actor_stop from the handler ends the actor after the current message.
 * Of COUNT, STOP_SELF, COUNT, COUNT (queued while the gate blocks the
 * actor), two are handled and the last two are discarded. */
Test(sched_actor, stop_in_handler_skips_later_messages, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	gate_log_t log;
	gate_log_init(&log, 2);
	bl_actor_t *actor = spawn_gated(pool, &log);
	send_to_gated(actor, MSG_GATE, &log, 1);
	send_to_gated(actor, MSG_COUNT, &log, 1);
	send_to_gated(actor, MSG_STOP_SELF, &log, 1);
	send_to_gated(actor, MSG_COUNT, &log, 2);

	gate_open(&log.gate);
	await_latch(&log.stopped, "the stop callback");
	await_latch(&log.discards, "two discards");

	cr_assert_eq(log.handled, 2, "handled %u messages, expected 2 (COUNT and STOP_SELF)", log.handled);
	cr_assert_eq(atomic_load(&log.discarded), 2, "discarded %u messages, expected 2",
		     atomic_load(&log.discarded));
	cr_assert_eq(log.stop_reason, 0, "stop reason %s (%d), expected 0 for a normal exit",
		     bl_err_name(log.stop_reason), log.stop_reason);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* bl_actor_stop from another thread ends the actor after the messages
 * already queued: the 10 sent before the call are handled, the one sent
 * after it is discarded. */
Test(sched_actor, outside_stop_runs_queued_messages_first, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	gate_log_t log;
	gate_log_init(&log, 1);
	bl_actor_t *actor = spawn_gated(pool, &log);
	send_to_gated(actor, MSG_GATE, &log, 1);
	send_to_gated(actor, MSG_COUNT, &log, 10);

	bl_actor_stop(actor);
	send_to_gated(actor, MSG_COUNT, &log, 1);
	gate_open(&log.gate);
	await_latch(&log.stopped, "the stop callback");
	await_latch(&log.discards, "one discard");

	cr_assert_eq(log.handled, 10, "handled %u messages, expected the 10 queued before the stop",
		     log.handled);
	cr_assert_eq(atomic_load(&log.discarded), 1, "discarded %u messages, expected 1",
		     atomic_load(&log.discarded));
	cr_assert_eq(log.stop_reason, 0, "stop reason %s (%d), expected 0 for a normal exit",
		     bl_err_name(log.stop_reason), log.stop_reason);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* bl_actor_kill ends the actor with the given reason after the messages
 * already queued: 5 handled, 1 sent afterwards discarded, and both the stop
 * callback and a monitor see -4242, a code the runtime never uses. */
Test(sched_actor, kill_runs_queued_messages_then_exits, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t watch;
	bl_actor_t *watcher = spawn_probe(pool, &probe_behaviour, &watch);
	gate_log_t log;
	gate_log_init(&log, 1);
	bl_actor_t *actor = spawn_gated(pool, &log);
	int rc = probe_run(watcher, &watch, PROBE_MONITOR, actor);
	cr_assert_eq(rc, 0, "bl_actor_monitor returned %s (%d), expected 0", bl_err_name(rc), rc);
	send_to_gated(actor, MSG_GATE, &log, 1);
	send_to_gated(actor, MSG_COUNT, &log, 5);

	bl_actor_kill(actor, -4242);
	send_to_gated(actor, MSG_COUNT, &log, 1);
	gate_open(&log.gate);
	await_latch(&log.stopped, "the stop callback");
	await_latch(&log.discards, "one discard");
	const probe_event_t *down = probe_await_event(&watch, 0);

	cr_assert_eq(log.handled, 5, "handled %u messages, expected the 5 queued before the kill", log.handled);
	cr_assert_eq(atomic_load(&log.discarded), 1, "discarded %u messages, expected 1",
		     atomic_load(&log.discarded));
	cr_assert_eq(log.stop_reason, -4242, "stop reason %s (%d), expected -4242",
		     bl_err_name(log.stop_reason), log.stop_reason);
	cr_assert_eq(down->reason, -4242, "BL_MSG_DOWN reason %s (%d), expected -4242",
		     bl_err_name(down->reason), down->reason);
	bl_actor_release(&actor);
	bl_actor_release(&watcher);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* A kill reason of 0 or above is replaced by BL_EKILLED. The values 0 and 5
 * stand for zero and any positive value. */
Test(sched_actor, kill_with_nonnegative_reason_uses_ekilled, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	gate_log_t zero_log, positive_log;
	gate_log_init(&zero_log, 0);
	gate_log_init(&positive_log, 0);
	bl_actor_t *zero = spawn_gated(pool, &zero_log);
	bl_actor_t *positive = spawn_gated(pool, &positive_log);

	bl_actor_kill(zero, 0);
	bl_actor_kill(positive, 5);
	await_latch(&zero_log.stopped, "the stop callback of the actor killed with 0");
	await_latch(&positive_log.stopped, "the stop callback of the actor killed with 5");

	cr_assert_eq(zero_log.stop_reason, BL_EKILLED, "kill(0): stop reason %s (%d), expected BL_EKILLED",
		     bl_err_name(zero_log.stop_reason), zero_log.stop_reason);
	cr_assert_eq(positive_log.stop_reason, BL_EKILLED, "kill(5): stop reason %s (%d), expected BL_EKILLED",
		     bl_err_name(positive_log.stop_reason), positive_log.stop_reason);
	bl_actor_release(&zero);
	bl_actor_release(&positive);
	bl_runtime_free(&rt);
	gate_destroy(&zero_log.gate);
	gate_destroy(&positive_log.gate);
}

/* Once an actor has terminated (its stop callback ran), bl_send returns
 * BL_EDEAD, has already run the discard callback once, and has taken the
 * message (set the caller's pointer to NULL). */
Test(sched_actor, send_to_terminated_actor_returns_edead, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	gate_log_t log;
	gate_log_init(&log, 1);
	bl_actor_t *actor = spawn_gated(pool, &log);
	bl_actor_stop(actor);
	await_latch(&log.stopped, "the stop callback");
	bl_msg_t *msg = bl_msg_new(MSG_COUNT, sizeof(gate_log_t *));
	cr_assert_not_null(msg, "bl_msg_new returned NULL");
	gate_log_t *log_ptr = &log;
	memcpy(bl_msg_payload(msg), &log_ptr, sizeof log_ptr);

	int rc = bl_send(actor, &msg);

	cr_assert_eq(rc, BL_EDEAD, "bl_send returned %s (%d), expected BL_EDEAD", bl_err_name(rc), rc);
	cr_assert_null(msg, "bl_send left the caller's message pointer at %p, expected NULL", (void *)msg);
	cr_assert_eq(atomic_load(&log.discarded), 1,
		     "discard callback ran %u times before bl_send returned, expected 1",
		     atomic_load(&log.discarded));
	cr_assert_eq(log.handled, 0, "handled %u messages, expected 0", log.handled);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* Messages still queued when an actor fails are each passed to its discard
 * callback once: 100 queued behind the failing message, none handled. */
Test(sched_actor, failure_discards_queued_messages, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	gate_log_t log;
	gate_log_init(&log, 100);
	bl_actor_t *actor = spawn_gated(pool, &log);
	send_to_gated(actor, MSG_GATE, &log, 1);
	send_to_gated(actor, MSG_FAIL, &log, 1);
	send_to_gated(actor, MSG_COUNT, &log, 100);

	gate_open(&log.gate);
	await_latch(&log.stopped, "the stop callback");
	await_latch(&log.discards, "100 discards");

	cr_assert_eq(log.stop_reason, TEST_FAILURE, "stop reason %s (%d), expected %d",
		     bl_err_name(log.stop_reason), log.stop_reason, TEST_FAILURE);
	cr_assert_eq(log.handled, 0, "handled %u messages after the failure, expected 0", log.handled);
	cr_assert_eq(atomic_load(&log.discarded), 100, "discarded %u messages, expected 100",
		     atomic_load(&log.discarded));
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* ------------------------------------------------------------------------ */
/* References                                                                */
/* ------------------------------------------------------------------------ */

/* A held reference keeps a terminated actor's memory valid: after the
 * actor stopped and its only worker finished with it, the test's two
 * references still allow reading it and sending to it. AddressSanitizer
 * reports the reads if the memory was freed at termination. */
Test(sched_actor, reference_outlives_termination, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	gate_log_t log;
	gate_log_init(&log, 2);
	bl_actor_t *actor = spawn_gated(pool, &log);
	bl_actor_t *second = actor;
	bl_actor_retain(second);
	bl_actor_stop(actor);
	await_latch(&log.stopped, "the stop callback");
	flush_worker(pool);

	int first_rc = send_ptr(actor, MSG_COUNT, &log);
	const char *name = bl_actor_name(actor);
	bl_actor_release(&actor);
	int second_rc = send_ptr(second, MSG_COUNT, &log);
	bl_pool_t *actor_pool = bl_actor_pool(second);
	bl_actor_release(&second);

	cr_assert_eq(first_rc, BL_EDEAD, "first send returned %s (%d), expected BL_EDEAD",
		     bl_err_name(first_rc), first_rc);
	cr_assert_str_eq(name, "gated", "bl_actor_name returned \"%s\", expected \"gated\"", name);
	cr_assert_null(actor, "bl_actor_release left the handle at %p, expected NULL", (void *)actor);
	cr_assert_eq(second_rc, BL_EDEAD,
		     "send through the second reference returned %s (%d), expected BL_EDEAD",
		     bl_err_name(second_rc), second_rc);
	cr_assert_eq(actor_pool, pool, "bl_actor_pool returned %p, expected %p", (void *)actor_pool,
		     (void *)pool);
	cr_assert_eq(atomic_load(&log.discarded), 2, "discarded %u messages, expected 2",
		     atomic_load(&log.discarded));
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* Releasing the only caller reference does not stop a running actor: it
 * still handles the 100 messages queued before the release, then the
 * STOP_SELF, and the runtime frees it when it terminates. */
Test(sched_actor, released_actor_runs_until_it_stops, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	gate_log_t log;
	gate_log_init(&log, 0);
	bl_actor_t *actor = spawn_gated(pool, &log);
	send_to_gated(actor, MSG_COUNT, &log, 100);
	send_to_gated(actor, MSG_STOP_SELF, &log, 1);

	bl_actor_release(&actor);
	await_latch(&log.stopped, "the stop callback");

	cr_assert_null(actor, "bl_actor_release left the handle at %p, expected NULL", (void *)actor);
	cr_assert_eq(log.handled, 101, "handled %u messages, expected 101", log.handled);
	cr_assert_eq(log.stop_reason, 0, "stop reason %s (%d), expected 0", bl_err_name(log.stop_reason),
		     log.stop_reason);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* ------------------------------------------------------------------------ */
/* Bounded batches                                                           */
/* ------------------------------------------------------------------------ */

/* Each spinner keeps exactly one message in its mailbox by sending the next
 * one to itself. It always has work, so only the batch limit ends its
 * activations. */
#define SPIN_TARGET 5000u

#define SPINNERS_MAX 2u

typedef struct spin_log {
	bl_latch_t progressed; /* opens when every spinner reached SPIN_TARGET */
	/* Messages handled per spinner. Each is written only by its spinner's
	 * handler, and atomic so that a test that times out can report it. */
	uint64_t _Atomic handled[SPINNERS_MAX];
} spin_log_t;

typedef struct spin_state {
	spin_log_t *log;
	unsigned index;
} spin_state_t;

static int spin_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	spin_state_t *s = state;
	uint64_t _Atomic *handled = &s->log->handled[s->index];
	(void)msg;

	uint64_t n = atomic_load_explicit(handled, memory_order_relaxed) + 1;
	atomic_store_explicit(handled, n, memory_order_relaxed);
	if (n == SPIN_TARGET)
		bl_latch_count_down(&s->log->progressed);
	return bl_send_u64(self, MSG_SPIN, 0);
}

static const bl_behaviour_t spin_behaviour = {.name = "spin", .receive = spin_receive};

static void spin_log_init(spin_log_t *log, uint32_t spinners)
{
	bl_latch_init(&log->progressed, spinners);
	for (unsigned i = 0; i < SPINNERS_MAX; i++)
		atomic_init(&log->handled[i], 0);
}

/* Wait until every spinner reached SPIN_TARGET. A timeout reports how far
 * each one got. */
static void await_spinners(spin_log_t *log)
{
	int rc = bl_latch_wait_for(&log->progressed, AWAIT_MS);

	cr_assert_eq(
		rc, 0,
		"timed out after %u ms waiting for spinners to handle %u messages each; handled: %llu, %llu",
		AWAIT_MS, SPIN_TARGET, (unsigned long long)atomic_load(&log->handled[0]),
		(unsigned long long)atomic_load(&log->handled[1]));
}

static bl_actor_t *spawn_spinner(bl_pool_t *pool, spin_log_t *log, unsigned index)
{
	spin_state_t state = {.log = log, .index = index};
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &spin_behaviour, &state, sizeof state);

	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	return actor;
}

/* Two actors that never run out of messages share one worker. Each must
 * reach 5,000 messages (78 batches of the default 64), which the second
 * cannot do if the first keeps the worker. */
Test(sched_actor, two_busy_actors_share_one_worker, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	spin_log_t log;
	spin_log_init(&log, 2);
	bl_actor_t *first = spawn_spinner(pool, &log, 0);
	bl_actor_t *second = spawn_spinner(pool, &log, 1);

	bl_send_u64(first, MSG_SPIN, 0);
	bl_send_u64(second, MSG_SPIN, 0);

	/* The wait fails the test, reporting how far each spinner got. */
	await_spinners(&log);

	bl_actor_release(&first);
	bl_actor_release(&second);
	bl_runtime_free(&rt);
}

/* With a spinner already running on the only worker, a message sent to a
 * second actor from outside must still be handled. */
Test(sched_actor, busy_actor_lets_other_actor_run, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	spin_log_t log;
	spin_log_init(&log, 1);
	bl_actor_t *spinner = spawn_spinner(pool, &log, 0);
	bl_send_u64(spinner, MSG_SPIN, 0);
	await_spinners(&log);
	capture_t out = {0};
	bl_latch_init(&out.done, 1);
	capture_state_t state = {.out = &out};
	bl_actor_t *other = NULL;
	int rc = bl_actor_spawn(&other, pool, &capture_behaviour, &state, sizeof state);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);

	bl_send_u64(other, MSG_CAPTURE, 17);
	await_latch(&out.done, "the second actor's handler");

	cr_assert_eq(out.value, 17, "second actor saw value %llu, expected 17", (unsigned long long)out.value);
	bl_actor_release(&spinner);
	bl_actor_release(&other);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* bl_actor_self                                                             */
/* ------------------------------------------------------------------------ */

/* Inside a receive callback bl_actor_self returns the actor being run. */
Test(sched_actor, self_is_running_actor_inside_handler, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	capture_t out = {0};
	bl_latch_init(&out.done, 1);
	capture_state_t state = {.out = &out};
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &capture_behaviour, &state, sizeof state);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);

	bl_send_u64(actor, MSG_CAPTURE, 0);
	await_latch(&out.done, "the capture handler");

	cr_assert_eq(out.current, actor, "bl_actor_self returned %p in the handler, expected %p",
		     (const void *)out.current, (void *)actor);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

typedef struct self_in_task {
	bl_latch_t done;
	const bl_actor_t *current;
} self_in_task_t;

static void record_self(void *arg)
{
	self_in_task_t *t = arg;

	t->current = bl_actor_self();
	bl_latch_count_down(&t->done);
}

/* Outside any handler bl_actor_self returns NULL: on the test's own thread,
 * and in a task on a worker that has just run an actor's handler. */
Test(sched_actor, self_is_null_outside_handler, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	capture_t out = {0};
	bl_latch_init(&out.done, 1);
	capture_state_t state = {.out = &out};
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &capture_behaviour, &state, sizeof state);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);
	bl_send_u64(actor, MSG_CAPTURE, 0);
	await_latch(&out.done, "the capture handler");
	self_in_task_t task = {.current = actor};
	bl_latch_init(&task.done, 1);

	bl_actor_t *on_test_thread = bl_actor_self();
	rc = bl_pool_submit(pool, record_self, &task);
	await_latch(&task.done, "the task");

	cr_assert_null(on_test_thread, "bl_actor_self returned %p on the test thread, expected NULL",
		       (void *)on_test_thread);
	cr_assert_eq(rc, 0, "bl_pool_submit returned %s (%d), expected 0", bl_err_name(rc), rc);
	cr_assert_null(task.current, "bl_actor_self returned %p in a task, expected NULL",
		       (const void *)task.current);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments and limits                                              */
/* ------------------------------------------------------------------------ */

static const bl_behaviour_t no_receive_behaviour = {.name = "no_receive"};

/* Each invalid argument alone makes bl_actor_spawn return BL_EINVAL and
 * leave *out as it was: NULL out, pool or behaviour, a behaviour without
 * receive, and a state one byte over BL_ACTOR_STATE_MAX. */
Test(sched_actor, spawn_rejects_invalid_arguments, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	static char marker;
	bl_actor_t *const untouched = (bl_actor_t *)&marker; /* any recognisable non-NULL value */
	bl_actor_t *out = untouched;

	int null_out = bl_actor_spawn(NULL, pool, &capture_behaviour, NULL, 16);
	int null_pool = bl_actor_spawn(&out, NULL, &capture_behaviour, NULL, 16);
	int null_behaviour = bl_actor_spawn(&out, pool, NULL, NULL, 16);
	int no_receive = bl_actor_spawn(&out, pool, &no_receive_behaviour, NULL, 16);
	int too_large = bl_actor_spawn(&out, pool, &capture_behaviour, NULL, BL_ACTOR_STATE_MAX + 1);

	cr_assert_eq(null_out, BL_EINVAL, "NULL out: %s (%d), expected BL_EINVAL", bl_err_name(null_out),
		     null_out);
	cr_assert_eq(null_pool, BL_EINVAL, "NULL pool: %s (%d), expected BL_EINVAL", bl_err_name(null_pool),
		     null_pool);
	cr_assert_eq(null_behaviour, BL_EINVAL, "NULL behaviour: %s (%d), expected BL_EINVAL",
		     bl_err_name(null_behaviour), null_behaviour);
	cr_assert_eq(no_receive, BL_EINVAL, "behaviour without receive: %s (%d), expected BL_EINVAL",
		     bl_err_name(no_receive), no_receive);
	cr_assert_eq(too_large, BL_EINVAL, "state of %u bytes: %s (%d), expected BL_EINVAL",
		     BL_ACTOR_STATE_MAX + 1, bl_err_name(too_large), too_large);
	cr_assert_eq(out, untouched, "a failed spawn wrote %p to *out", (void *)out);
	bl_runtime_free(&rt);
}

typedef struct large_check {
	bl_latch_t done;
	size_t mismatches;
} large_check_t;

static int large_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	large_check_t *check = msg_ptr(msg);
	unsigned char *bytes = state;
	(void)self;

	for (size_t i = 0; i < BL_ACTOR_STATE_MAX; i++) {
		if (bytes[i] != (unsigned char)(i * 7))
			check->mismatches++;
		bytes[i] = 0; /* the whole block must be writable */
	}
	bl_latch_count_down(&check->done);
	return 0;
}

static const bl_behaviour_t large_behaviour = {.name = "large", .receive = large_receive};

/* A state of exactly BL_ACTOR_STATE_MAX bytes is accepted and copied whole.
 * The handler reads and writes every byte, so AddressSanitizer catches a
 * block allocated too small. */
Test(sched_actor, spawn_accepts_largest_state, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	static unsigned char pattern[BL_ACTOR_STATE_MAX];
	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (unsigned char)(i * 7);
	large_check_t check = {0};
	bl_latch_init(&check.done, 1);
	bl_actor_t *actor = NULL;

	int rc = bl_actor_spawn(&actor, pool, &large_behaviour, pattern, sizeof pattern);
	cr_assert_eq(rc, 0, "spawn with %u bytes of state returned %s (%d), expected 0", BL_ACTOR_STATE_MAX,
		     bl_err_name(rc), rc);
	send_ptr(actor, MSG_CHECK, &check);
	await_latch(&check.done, "the state check");

	cr_assert_eq(check.mismatches, 0, "%zu of %u state bytes differ from the spawn argument",
		     check.mismatches, BL_ACTOR_STATE_MAX);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* Message types from BL_MSG_SYSTEM_BASE up belong to the runtime, so
 * bl_msg_new refuses them: the base itself and BL_MSG_DOWN. */
Test(sched_actor, msg_new_rejects_system_types, .timeout = TEST_TIMEOUT_S)
{
	bl_msg_t *base = bl_msg_new(BL_MSG_SYSTEM_BASE, 8);
	bl_msg_t *down = bl_msg_new(BL_MSG_DOWN, 8);
	bl_msg_t *below = bl_msg_new(BL_MSG_SYSTEM_BASE - 1, 8);

	cr_assert_null(base, "bl_msg_new(BL_MSG_SYSTEM_BASE) returned %p, expected NULL", (void *)base);
	cr_assert_null(down, "bl_msg_new(BL_MSG_DOWN) returned %p, expected NULL", (void *)down);
	cr_assert_not_null(below, "bl_msg_new(BL_MSG_SYSTEM_BASE - 1) returned NULL, expected a message");
	bl_msg_free(&below);
	cr_assert_null(below, "bl_msg_free left the pointer at %p, expected NULL", (void *)below);
}

/* bl_actor_name and bl_actor_pool return the behaviour's name and the
 * spawning pool. */
Test(sched_actor, actor_reports_its_name_and_pool, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &capture_behaviour, NULL, sizeof(capture_state_t));
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);

	const char *name = bl_actor_name(actor);
	bl_pool_t *actor_pool = bl_actor_pool(actor);

	cr_assert_str_eq(name, "capture", "bl_actor_name returned \"%s\", expected \"capture\"", name);
	cr_assert_eq(actor_pool, pool, "bl_actor_pool returned %p, expected %p", (void *)actor_pool,
		     (void *)pool);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

#define TASKS ((unsigned)bl_test_iterations(10000, 1000))

typedef struct task_run {
	bl_pool_t *pool;
	uint32_t _Atomic ran;
	bl_latch_t done;
	int submit_error;
} task_run_t;

static void counted_task(void *arg)
{
	task_run_t *run = arg;

	atomic_fetch_add(&run->ran, 1);
	bl_latch_count_down(&run->done);
}

/* Submit TASKS counted tasks and record the first error. */
static void submit_counted(task_run_t *run)
{
	for (unsigned i = 0; i < TASKS; i++) {
		int rc = bl_pool_submit(run->pool, counted_task, run);
		if (rc != 0 && run->submit_error == 0)
			run->submit_error = rc;
	}
}

static void submit_counted_task(void *arg)
{
	submit_counted(arg);
}

static void task_run_init(task_run_t *run, bl_pool_t *pool)
{
	run->pool = pool;
	atomic_init(&run->ran, 0);
	bl_latch_init(&run->done, TASKS);
	run->submit_error = 0;
}

static void assert_all_tasks_ran(task_run_t *run)
{
	cr_assert_eq(run->submit_error, 0, "bl_pool_submit returned %s (%d), expected 0",
		     bl_err_name(run->submit_error), run->submit_error);
	cr_assert_eq(atomic_load(&run->ran), TASKS, "%u tasks ran, expected %u", atomic_load(&run->ran), TASKS);
}

/* 10,000 tasks submitted from the test thread (1,000 under
 * ThreadSanitizer) all run, each once. */
Test(sched_actor, submit_from_outside_runs_every_task, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	task_run_t run;
	task_run_init(&run, pool);

	submit_counted(&run);
	await_latch(&run.done, "every task");

	assert_all_tasks_ran(&run);
	bl_runtime_free(&rt);
}

/* The same count submitted by a task running on a worker (the worker's own
 * deque, then stealing by the other worker) all run, each once. */
Test(sched_actor, submit_from_worker_runs_every_task, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	task_run_t run;
	task_run_init(&run, pool);

	int rc = bl_pool_submit(pool, submit_counted_task, &run);
	await_latch(&run.done, "every task");

	cr_assert_eq(rc, 0, "bl_pool_submit returned %s (%d), expected 0", bl_err_name(rc), rc);
	assert_all_tasks_ran(&run);
	bl_runtime_free(&rt);
}

static int submitter_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)self;
	(void)state;

	submit_counted(msg_ptr(msg));
	return 0;
}

static const bl_behaviour_t submitter_behaviour = {.name = "submitter", .receive = submitter_receive};

/* The same count submitted from an actor's handler all run, each once. */
Test(sched_actor, submit_from_handler_runs_every_task, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	task_run_t run;
	task_run_init(&run, pool);
	bl_actor_t *actor = NULL;
	int rc = bl_actor_spawn(&actor, pool, &submitter_behaviour, NULL, 0);
	cr_assert_eq(rc, 0, "bl_actor_spawn returned %s (%d), expected 0", bl_err_name(rc), rc);

	send_ptr(actor, MSG_SUBMIT, &run);
	await_latch(&run.done, "every task");

	assert_all_tasks_ran(&run);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Pool statistics                                                           */
/* ------------------------------------------------------------------------ */

/* On a fresh one-worker pool, one actor handles 100 COUNT messages and a
 * STOP_SELF: the counters must show those 101 messages, one spawn and one
 * exit. The flush orders the worker's counter updates before the read. */
Test(sched_actor, stats_count_messages_spawns_and_exits, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	gate_log_t log;
	gate_log_init(&log, 0);
	bl_actor_t *actor = spawn_gated(pool, &log);
	send_to_gated(actor, MSG_COUNT, &log, 100);
	send_to_gated(actor, MSG_STOP_SELF, &log, 1);
	await_latch(&log.stopped, "the stop callback");
	flush_worker(pool);

	bl_pool_stats_t stats;
	bl_pool_stats(pool, &stats);

	cr_assert_eq(stats.messages, 101, "stats.messages is %llu, expected 101",
		     (unsigned long long)stats.messages);
	cr_assert_eq(stats.spawned, 1, "stats.spawned is %llu, expected 1", (unsigned long long)stats.spawned);
	cr_assert_eq(stats.exited, 1, "stats.exited is %llu, expected 1", (unsigned long long)stats.exited);
	cr_assert_geq(stats.activations, 1, "stats.activations is %llu, expected at least 1",
		      (unsigned long long)stats.activations);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* stats.messages counts messages handed to receive callbacks: 100 COUNT
 * messages then a stop request from outside, which reaches no receive
 * callback, make 100. */
Test(sched_actor, stats_messages_exclude_stop_requests, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	gate_log_t log;
	gate_log_init(&log, 0);
	bl_actor_t *actor = spawn_gated(pool, &log);
	send_to_gated(actor, MSG_COUNT, &log, 100);
	bl_actor_stop(actor);
	await_latch(&log.stopped, "the stop callback");
	flush_worker(pool);

	bl_pool_stats_t stats;
	bl_pool_stats(pool, &stats);

	cr_assert_eq(log.handled, 100, "handled %u messages, expected 100", log.handled);
	cr_assert_eq(stats.messages, 100, "stats.messages is %llu, expected the 100 handed to receive",
		     (unsigned long long)stats.messages);
	bl_actor_release(&actor);
	bl_runtime_free(&rt);
	gate_destroy(&log.gate);
}

/* stats.tasks counts tasks run: after TASKS tasks and the flush task behind
 * them, at least TASKS. */
Test(sched_actor, stats_count_tasks, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	task_run_t run;
	task_run_init(&run, pool);
	submit_counted(&run);
	await_latch(&run.done, "every task");
	flush_worker(pool);

	bl_pool_stats_t stats;
	bl_pool_stats(pool, &stats);

	cr_assert_geq(stats.tasks, TASKS, "stats.tasks is %llu, expected at least %u",
		      (unsigned long long)stats.tasks, TASKS);
	bl_runtime_free(&rt);
}
