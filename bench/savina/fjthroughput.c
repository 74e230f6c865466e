/* Fork-join throughput: a driver sends 200,000 rounds of one message to
 * each of 60 workers, which run the computation per message. */
#include <stdlib.h>

#include "savina.h"

#define WORKERS 60u
#define MESSAGES 200000u

enum { MSG_START = 1, MSG_WORK };

typedef struct worker_state {
	uint64_t handled;
	double sum;
	uint64_t *handled_out;
	double *sum_out;
	bl_latch_t *done;
} worker_state_t;

typedef struct driver_state {
	bl_actor_t **workers;
} driver_state_t;

static int worker_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	worker_state_t *s = state;
	(void)self;
	(void)msg;

	s->sum += savina_compute(37.2);
	if (++s->handled == MESSAGES) {
		*s->handled_out = s->handled;
		*s->sum_out = s->sum;
		bl_latch_count_down(s->done);
	}
	return 0;
}

static int driver_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	driver_state_t *s = state;
	(void)self;
	(void)msg;

	for (unsigned round = 0; round < MESSAGES; round++) {
		for (unsigned i = 0; i < WORKERS; i++) {
			int rc = bl_send_u64(s->workers[i], MSG_WORK, round);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static const bl_behaviour_t worker_behaviour = {.name = "fj-worker", .receive = worker_receive};
static const bl_behaviour_t driver_behaviour = {.name = "fj-driver", .receive = driver_receive};

int savina_fjthroughput(bl_pool_t *pool, savina_result_t *out)
{
	bl_actor_t *workers[WORKERS] = {0};
	uint64_t handled[WORKERS] = {0};
	double sums[WORKERS] = {0};
	bl_actor_t *driver = NULL;
	bl_latch_t done;
	int rc;

	bl_latch_init(&done, WORKERS);
	for (unsigned i = 0; i < WORKERS; i++) {
		worker_state_t ws = {.handled_out = &handled[i], .sum_out = &sums[i], .done = &done};
		rc = bl_actor_spawn(&workers[i], pool, &worker_behaviour, &ws, sizeof ws);
		if (rc < 0)
			goto out;
	}
	driver_state_t ds = {.workers = workers};
	rc = bl_actor_spawn(&driver, pool, &driver_behaviour, &ds, sizeof ds);
	if (rc < 0)
		goto out;

	double start = savina_now();
	bl_send_u64(driver, MSG_START, 0);
	bl_latch_wait(&done);
	out->elapsed_s = savina_now() - start;

	out->ops = (uint64_t)WORKERS * MESSAGES;
	out->unit = "messages";
	out->check = true;
	for (unsigned i = 0; i < WORKERS; i++)
		out->check = out->check && handled[i] == MESSAGES && sums[i] > 0;

out:
	bl_actor_release(&driver);
	for (unsigned i = 0; i < WORKERS; i++)
		bl_actor_release(&workers[i]);
	return rc;
}
