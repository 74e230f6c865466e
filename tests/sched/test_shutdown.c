#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <beamline/sched.h>

#include "alloc.h"
#include "pool.h"

enum { MSG_WORK = 1, MSG_BALL };

typedef struct gate {
	bl_latch_t entered;
	bl_latch_t open;
} gate_t;

/* Blocks its worker until the test opens the gate. */
static int gate_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	gate_t *g = *(gate_t **)state;
	(void)self;
	(void)msg;
	bl_latch_count_down(&g->entered);
	bl_latch_wait(&g->open);
	return 0;
}

static unsigned long _Atomic discarded;

static int idle_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	return 0;
}

static void count_discard(bl_msg_t *msg)
{
	(void)msg;
	atomic_fetch_add(&discarded, 1);
}

static const bl_behaviour_t gate_behaviour = {.name = "gate", .receive = gate_receive};
static const bl_behaviour_t idle_behaviour = {.name = "idle", .receive = idle_receive, .discard = count_discard};

static void *free_runtime(void *arg)
{
	bl_runtime_free(arg);
	return NULL;
}

/* Make a runtime whose one worker is blocked in a gate handler, so that
 * whatever is queued next stays queued. Returns the pool. */
static bl_pool_t *start_blocked_pool(bl_runtime_t **rt, gate_t *g)
{
	bl_pool_t *pool;
	bl_pool_config_t cfg;
	bl_actor_t *gate;
	gate_t *gp = g;

	bl_pool_config_init(&cfg);
	cfg.workers = 1;
	cfg.pin_workers = false;
	cr_assert_eq(bl_runtime_new(rt), 0);
	cr_assert_eq(bl_runtime_add_pool(*rt, &cfg, &pool), 0);
	bl_latch_init(&g->entered, 1);
	bl_latch_init(&g->open, 1);
	cr_assert_eq(bl_actor_spawn(&gate, pool, &gate_behaviour, &gp, sizeof gp), 0);
	bl_send_u64(gate, MSG_WORK, 0);
	bl_latch_wait(&g->entered);
	bl_actor_release(&gate);
	return pool;
}

/* Free the runtime on another thread, and open the gate once shutdown has
 * begun, so that nothing queued can run. */
static void free_while_blocked(bl_runtime_t *rt, bl_pool_t *pool, gate_t *g)
{
	pthread_t t;
	bl_runtime_t *doomed = rt;

	pthread_create(&t, NULL, free_runtime, &doomed);
	while (!atomic_load(&pool->stopping))
		sched_yield();
	bl_latch_count_down(&g->open);
	pthread_join(t, NULL);
}

/*
 * Shutdown while 100 actors still hold 100 messages each and a timer is
 * pending: the one worker is parked in a gate handler until shutdown has
 * begun, so none of those messages can run. Every message must pass
 * through its discard callback once, and every message object must be
 * freed: the shared arena's live count returns to where it started.
 */
Test(sched_shutdown, queued_messages_are_freed, .timeout = 60)
{
	enum { ACTORS = 100, EACH = 100 };
	int64_t baseline = bl__shared_live_objects();
	bl_runtime_t *rt;
	gate_t g;
	bl_actor_t *actors[ACTORS];
	bl_pool_t *pool = start_blocked_pool(&rt, &g);
	for (int i = 0; i < ACTORS; i++) {
		cr_assert_eq(bl_actor_spawn(&actors[i], pool, &idle_behaviour, NULL, 8), 0);
		for (int m = 0; m < EACH; m++)
			cr_assert_eq(bl_send_u64(actors[i], MSG_WORK, (uint64_t)m), 0);
	}
	bl_msg_t *late = bl_msg_new(MSG_WORK, 8);
	cr_assert_eq(bl_send_after(NULL, actors[0], &late, 60000), 0);
	for (int i = 0; i < ACTORS; i++)
		bl_actor_release(&actors[i]);
	free_while_blocked(rt, pool, &g);

	unsigned long expected = ACTORS * EACH + 1;
	cr_assert_eq(atomic_load(&discarded), expected, "expected %lu discards, got %lu", expected,
		     atomic_load(&discarded));
	cr_assert_eq(bl__shared_live_objects(), baseline, "%lld message objects leaked",
		     (long long)(bl__shared_live_objects() - baseline));
}

static unsigned long _Atomic tasks_ran, tasks_dropped;

/* A queued task's argument: memory it owns and an actor reference. */
typedef struct owned_arg {
	bl_actor_t *actor;
} owned_arg_t;

static void owned_run(void *arg)
{
	owned_arg_t *a = arg;
	atomic_fetch_add(&tasks_ran, 1);
	bl_actor_release(&a->actor);
	free(a);
}

static void owned_drop(void *arg)
{
	owned_arg_t *a = arg;
	atomic_fetch_add(&tasks_dropped, 1);
	bl_actor_release(&a->actor);
	free(a);
}

static void must_not_run(void *arg)
{
	(void)arg;
	abort();
}

/*
 * Shutdown with tasks still queued behind a blocked worker. Each task
 * submitted with a drop function runs it exactly once instead, so it gives
 * up the memory and the actor reference in its argument (AddressSanitizer
 * reports a leak otherwise). A task without one is freed without a call.
 */
Test(sched_shutdown, queued_tasks_are_dropped, .timeout = 60)
{
	enum { TASKS = 50 };
	bl_runtime_t *rt;
	gate_t g;
	bl_actor_t *target;
	bl_pool_t *pool = start_blocked_pool(&rt, &g);
	cr_assert_eq(bl_actor_spawn(&target, pool, &idle_behaviour, NULL, 8), 0);
	for (int i = 0; i < TASKS; i++) {
		owned_arg_t *a = malloc(sizeof *a);
		cr_assert_not_null(a);
		bl_actor_retain(target);
		a->actor = target;
		cr_assert_eq(bl_pool_submit_with_drop(pool, owned_run, owned_drop, a), 0);
	}
	cr_assert_eq(bl_pool_submit(pool, must_not_run, NULL), 0);
	bl_actor_release(&target);
	free_while_blocked(rt, pool, &g);

	cr_assert_eq(atomic_load(&tasks_ran), 0, "%lu tasks ran after shutdown began", atomic_load(&tasks_ran));
	cr_assert_eq(atomic_load(&tasks_dropped), TASKS, "expected %d drops, got %lu", TASKS,
		     atomic_load(&tasks_dropped));
}

typedef struct player {
	bl_actor_t *peer;
} player_t;

static int player_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	player_t *p = state;
	(void)self;
	if (msg->type == MSG_WORK) {
		p->peer = *(bl_actor_t **)bl_msg_payload(msg);
		return 0;
	}
	return bl_send_u64(p->peer, MSG_BALL, 0);
}

static void player_stop(bl_actor_t *self, void *state, int reason)
{
	player_t *p = state;
	(void)self;
	(void)reason;
	bl_actor_release(&p->peer);
}

static const bl_behaviour_t player_behaviour = {.name = "player", .receive = player_receive, .stop = player_stop};

/*
 * Shutdown in the middle of traffic: 50 pairs of actors pass balls back
 * and forth without end, each holding a reference to its peer that its
 * stop callback releases. Nothing may leak, whatever was in flight.
 */
Test(sched_shutdown, traffic_in_flight_leaks_nothing, .timeout = 60)
{
	enum { PAIRS = 50 };
	int64_t baseline = bl__shared_live_objects();
	bl_runtime_t *rt;
	bl_pool_t *pool;
	bl_pool_config_t cfg;
	bl_pool_config_init(&cfg);
	cfg.workers = 2;
	cfg.pin_workers = false;
	cr_assert_eq(bl_runtime_new(&rt), 0);
	cr_assert_eq(bl_runtime_add_pool(rt, &cfg, &pool), 0);
	for (int i = 0; i < PAIRS; i++) {
		bl_actor_t *a, *b;
		cr_assert_eq(bl_actor_spawn(&a, pool, &player_behaviour, NULL, sizeof(player_t)), 0);
		cr_assert_eq(bl_actor_spawn(&b, pool, &player_behaviour, NULL, sizeof(player_t)), 0);
		bl_msg_t *intro_a = bl_msg_new(MSG_WORK, sizeof b), *intro_b = bl_msg_new(MSG_WORK, sizeof a);
		bl_actor_retain(b);
		bl_actor_retain(a);
		*(bl_actor_t **)bl_msg_payload(intro_a) = b;
		*(bl_actor_t **)bl_msg_payload(intro_b) = a;
		bl_send(a, &intro_a);
		bl_send(b, &intro_b);
		for (int ball = 0; ball < 4; ball++)
			bl_send_u64(a, MSG_BALL, 0);
		bl_actor_release(&a);
		bl_actor_release(&b);
	}
	struct timespec pause = {.tv_nsec = 50 * 1000000};
	nanosleep(&pause, NULL);

	bl_runtime_free(&rt);

	cr_assert_null(rt, "bl_runtime_free must clear the handle");
	cr_assert_eq(bl__shared_live_objects(), baseline, "%lld message objects leaked",
		     (long long)(bl__shared_live_objects() - baseline));
}
