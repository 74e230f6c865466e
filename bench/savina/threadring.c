/* Thread ring: 503 actors pass a token 5,000,000 hops. */
#include <stdlib.h>

#include "savina.h"

#define RING_SIZE 503u
#define HOPS 5000000u

enum { MSG_NEXT = 1, MSG_TOKEN };

typedef struct ring_state {
	bl_actor_t *next;
	uint64_t *hops; /* this actor's slot in the driver's array */
	bl_latch_t *done;
} ring_state_t;

static int ring_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	ring_state_t *s = state;
	(void)self;

	if (msg->type == MSG_NEXT) {
		s->next = savina_msg_ptr(msg);
		return 0;
	}

	uint64_t count = bl_msg_u64(msg);
	if (count == 0) {
		bl_latch_count_down(s->done);
		return 0;
	}
	(*s->hops)++;
	return bl_send_u64(s->next, MSG_TOKEN, count - 1);
}

static const bl_behaviour_t ring_behaviour = {.name = "ring", .receive = ring_receive};

int savina_threadring(bl_pool_t *pool, savina_result_t *out)
{
	bl_actor_t **ring = calloc(RING_SIZE, sizeof *ring);
	uint64_t *hops = calloc(RING_SIZE, sizeof *hops);
	bl_latch_t done;
	int rc = 0;

	if (!ring || !hops) {
		rc = BL_ENOMEM;
		goto out;
	}
	bl_latch_init(&done, 1);
	for (unsigned i = 0; i < RING_SIZE; i++) {
		ring_state_t s = {.hops = &hops[i], .done = &done};
		rc = bl_actor_spawn(&ring[i], pool, &ring_behaviour, &s, sizeof s);
		if (rc < 0)
			goto out;
	}
	for (unsigned i = 0; i < RING_SIZE; i++)
		savina_send_ptr(ring[i], MSG_NEXT, ring[(i + 1) % RING_SIZE]);

	double start = savina_now();
	bl_send_u64(ring[0], MSG_TOKEN, HOPS);
	bl_latch_wait(&done);
	out->elapsed_s = savina_now() - start;

	uint64_t total = 0;
	for (unsigned i = 0; i < RING_SIZE; i++)
		total += hops[i];
	out->ops = HOPS;
	out->unit = "hops";
	out->check = total == HOPS;

out:
	for (unsigned i = 0; ring && i < RING_SIZE; i++)
		bl_actor_release(&ring[i]);
	free(ring);
	free(hops);
	return rc;
}
