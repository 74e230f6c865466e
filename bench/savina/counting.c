/* Counting: one producer sends 10,000,000 increments to one counter. */
#include "savina.h"

#define INCREMENTS 10000000u

enum { MSG_START = 1, MSG_INCREMENT, MSG_RETRIEVE, MSG_RESULT };

typedef struct producer_state {
	bl_actor_t *counter;
	uint64_t *result;
	bl_latch_t *done;
} producer_state_t;

typedef struct counter_state {
	uint64_t count;
} counter_state_t;

static int producer_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	producer_state_t *s = state;

	if (msg->type == MSG_RESULT) {
		*s->result = bl_msg_u64(msg);
		bl_latch_count_down(s->done);
		return 0;
	}

	for (uint64_t i = 0; i < INCREMENTS; i++) {
		int rc = bl_send_u64(s->counter, MSG_INCREMENT, 0);
		if (rc < 0)
			return rc;
	}
	return savina_send_ptr(s->counter, MSG_RETRIEVE, self);
}

static int counter_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	counter_state_t *s = state;
	(void)self;

	if (msg->type == MSG_INCREMENT) {
		s->count++;
		return 0;
	}
	bl_actor_t *producer = savina_msg_ptr(msg);
	return bl_send_u64(producer, MSG_RESULT, s->count);
}

static const bl_behaviour_t producer_behaviour = {.name = "producer", .receive = producer_receive};
static const bl_behaviour_t counter_behaviour = {.name = "counter", .receive = counter_receive};

int savina_counting(bl_pool_t *pool, savina_result_t *out)
{
	bl_latch_t done;
	uint64_t result = 0;
	bl_actor_t *producer, *counter;

	bl_latch_init(&done, 1);
	int rc = bl_actor_spawn(&counter, pool, &counter_behaviour, NULL, sizeof(counter_state_t));
	if (rc < 0)
		return rc;
	producer_state_t ps = {.counter = counter, .result = &result, .done = &done};
	rc = bl_actor_spawn(&producer, pool, &producer_behaviour, &ps, sizeof ps);
	if (rc < 0)
		return rc;

	double start = savina_now();
	bl_send_u64(producer, MSG_START, 0);
	bl_latch_wait(&done);
	out->elapsed_s = savina_now() - start;

	out->ops = INCREMENTS;
	out->unit = "increments";
	out->check = result == INCREMENTS;
	bl_actor_release(&producer);
	bl_actor_release(&counter);
	return 0;
}
