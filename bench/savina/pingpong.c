/* Ping-pong: 1,000,000 round trips between two actors. */
#include "savina.h"

#define ROUND_TRIPS 1000000u

enum { MSG_START = 1, MSG_PEER, MSG_PING, MSG_PONG };

typedef struct ping_state {
	bl_actor_t *pong;
	uint64_t left;
	uint64_t pongs;
	uint64_t *pongs_out;
	bl_latch_t *done;
} ping_state_t;

typedef struct pong_state {
	bl_actor_t *ping;
} pong_state_t;

static int ping_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	ping_state_t *s = state;
	(void)self;

	if (msg->type == MSG_PONG) {
		s->pongs++;
		if (--s->left == 0) {
			*s->pongs_out = s->pongs;
			bl_latch_count_down(s->done);
			return 0;
		}
	}
	/* MSG_START or a pong with round trips left: the next ping. */
	return bl_send_u64(s->pong, MSG_PING, 0);
}

static int pong_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	pong_state_t *s = state;
	(void)self;

	if (msg->type == MSG_PEER) {
		s->ping = savina_msg_ptr(msg);
		return 0;
	}
	return bl_send_u64(s->ping, MSG_PONG, 0);
}

static const bl_behaviour_t ping_behaviour = {.name = "ping", .receive = ping_receive};
static const bl_behaviour_t pong_behaviour = {.name = "pong", .receive = pong_receive};

int savina_pingpong(bl_pool_t *pool, savina_result_t *out)
{
	bl_latch_t done;
	uint64_t pongs = 0;
	bl_actor_t *ping, *pong;

	bl_latch_init(&done, 1);
	int rc = bl_actor_spawn(&pong, pool, &pong_behaviour, NULL, sizeof(pong_state_t));
	if (rc < 0)
		return rc;
	ping_state_t ps = {.pong = pong, .left = ROUND_TRIPS, .pongs_out = &pongs, .done = &done};
	rc = bl_actor_spawn(&ping, pool, &ping_behaviour, &ps, sizeof ps);
	if (rc < 0)
		return rc;
	savina_send_ptr(pong, MSG_PEER, ping);

	double start = savina_now();
	bl_send_u64(ping, MSG_START, 0);
	bl_latch_wait(&done);
	out->elapsed_s = savina_now() - start;

	out->ops = ROUND_TRIPS;
	out->unit = "round trips";
	out->check = pongs == ROUND_TRIPS;
	bl_actor_release(&ping);
	bl_actor_release(&pong);
	return 0;
}
