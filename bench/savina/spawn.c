/* Spawn (Savina's fork-join actor creation): a driver actor spawns
 * 1,000,000 actors and sends each one message; each runs the computation
 * and terminates. */
#include <stdatomic.h>

#include "savina.h"

#define ACTORS 1000000u

enum { MSG_START = 1, MSG_WORK };

typedef struct shared {
	bl_latch_t done;
	uint64_t _Atomic handled;
} shared_t;

typedef struct child_state {
	shared_t *shared;
	double sum;
} child_state_t;

typedef struct driver_state {
	shared_t *shared;
	int error;
} driver_state_t;

static int child_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	child_state_t *s = state;
	(void)msg;

	s->sum += savina_compute(37.2);
	if (s->sum > 0)
		atomic_fetch_add_explicit(&s->shared->handled, 1, memory_order_relaxed);
	bl_actor_stop(self);
	return 0;
}

/* The actor counts as terminated once its stop callback has run. */
static void child_stop(bl_actor_t *self, void *state, int reason)
{
	child_state_t *s = state;
	(void)self;
	(void)reason;
	bl_latch_count_down(&s->shared->done);
}

static const bl_behaviour_t child_behaviour = {
	.name = "spawned", .receive = child_receive, .stop = child_stop};

static int driver_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	driver_state_t *s = state;
	(void)msg;

	child_state_t cs = {.shared = s->shared};
	for (unsigned i = 0; i < ACTORS; i++) {
		bl_actor_t *child;
		int rc = bl_actor_spawn(&child, bl_actor_pool(self), &child_behaviour, &cs, sizeof cs);
		if (rc == 0)
			rc = bl_send_u64(child, MSG_WORK, i);
		bl_actor_release(&child);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const bl_behaviour_t driver_behaviour = {.name = "spawn-driver", .receive = driver_receive};

int savina_spawn(bl_pool_t *pool, savina_result_t *out)
{
	shared_t shared;
	bl_actor_t *driver;

	bl_latch_init(&shared.done, ACTORS);
	atomic_init(&shared.handled, 0);
	driver_state_t ds = {.shared = &shared};
	int rc = bl_actor_spawn(&driver, pool, &driver_behaviour, &ds, sizeof ds);
	if (rc < 0)
		return rc;

	double start = savina_now();
	bl_send_u64(driver, MSG_START, 0);
	bl_latch_wait(&shared.done);
	out->elapsed_s = savina_now() - start;

	out->ops = ACTORS;
	out->unit = "actors";
	out->check = atomic_load(&shared.handled) == ACTORS;
	bl_actor_release(&driver);
	return 0;
}
