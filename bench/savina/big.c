/* Big: 1,000 actors exchange pings and pongs with random peers until each
 * has received 20,000 pongs. */
#include <stdlib.h>

#include "savina.h"

#define ACTORS 1000u
#define PONGS 20000u

enum { MSG_START = 1, MSG_PING, MSG_PONG, MSG_DONE };

typedef struct big_state {
	bl_actor_t **peers;
	bl_actor_t *sink;
	uint64_t rng;
	uint64_t pongs;
} big_state_t;

typedef struct sink_state {
	uint64_t reports;
	uint64_t pongs;
	uint64_t *pongs_out;
	bl_latch_t *done;
} sink_state_t;

static bl_actor_t *random_peer(big_state_t *s)
{
	uint64_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	return s->peers[x % ACTORS];
}

static int big_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	big_state_t *s = state;

	switch (msg->type) {
	case MSG_PING:
		return savina_send_ptr(savina_msg_ptr(msg), MSG_PONG, self);
	case MSG_PONG:
		if (++s->pongs == PONGS)
			return bl_send_u64(s->sink, MSG_DONE, s->pongs);
		return savina_send_ptr(random_peer(s), MSG_PING, self);
	default: /* MSG_START */
		return savina_send_ptr(random_peer(s), MSG_PING, self);
	}
}

static int sink_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	sink_state_t *s = state;
	(void)self;

	s->pongs += bl_msg_u64(msg);
	if (++s->reports == ACTORS) {
		*s->pongs_out = s->pongs;
		bl_latch_count_down(s->done);
	}
	return 0;
}

static const bl_behaviour_t big_behaviour = {.name = "big", .receive = big_receive};
static const bl_behaviour_t sink_behaviour = {.name = "big-sink", .receive = sink_receive};

int savina_big(bl_pool_t *pool, savina_result_t *out)
{
	bl_actor_t **peers = calloc(ACTORS, sizeof *peers);
	bl_actor_t *sink = NULL;
	uint64_t pongs = 0;
	bl_latch_t done;
	int rc = BL_ENOMEM;

	if (!peers)
		return rc;
	bl_latch_init(&done, 1);
	sink_state_t ss = {.pongs_out = &pongs, .done = &done};
	rc = bl_actor_spawn(&sink, pool, &sink_behaviour, &ss, sizeof ss);
	for (unsigned i = 0; rc == 0 && i < ACTORS; i++) {
		big_state_t bs = {.peers = peers, .sink = sink, .rng = i + 1};
		rc = bl_actor_spawn(&peers[i], pool, &big_behaviour, &bs, sizeof bs);
	}
	if (rc < 0)
		goto out;

	double start = savina_now();
	for (unsigned i = 0; i < ACTORS; i++)
		bl_send_u64(peers[i], MSG_START, 0);
	bl_latch_wait(&done);
	out->elapsed_s = savina_now() - start;

	/* Every pong answers one ping. */
	out->ops = 2ull * ACTORS * PONGS;
	out->unit = "messages";
	out->check = pongs == (uint64_t)ACTORS * PONGS;

out:
	for (unsigned i = 0; i < ACTORS; i++)
		bl_actor_release(&peers[i]);
	bl_actor_release(&sink);
	free(peers);
	return rc;
}
