/* Footprint: resident-set growth for 1,000,000 idle actors. */
#include <stdlib.h>
#include <string.h>

#include "savina.h"

#define ACTORS 1000000u

static int idle_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	return 0;
}

static const bl_behaviour_t idle_behaviour = {.name = "idle", .receive = idle_receive};

int savina_footprint(bl_pool_t *pool, savina_result_t *out)
{
	bl_actor_t **actors = malloc(ACTORS * sizeof *actors);
	if (!actors)
		return BL_ENOMEM;
	/* Make the handle array resident before the first reading. */
	memset(actors, 0, ACTORS * sizeof *actors);

	int64_t before = savina_rss_bytes();
	double start = savina_now();
	int rc = 0;
	uint64_t spawned = 0;
	for (; spawned < ACTORS && rc == 0; spawned++) {
		uint64_t state = spawned;
		rc = bl_actor_spawn(&actors[spawned], pool, &idle_behaviour, &state, sizeof state);
	}
	out->elapsed_s = savina_now() - start;
	int64_t after = savina_rss_bytes();

	out->ops = ACTORS;
	out->unit = "actors";
	out->rss_growth_bytes = after - before;
	out->bytes_per_actor = (double)(after - before) / ACTORS;
	out->check = rc == 0 && before > 0 && after > 0;

	for (uint64_t i = 0; i < spawned; i++)
		bl_actor_release(&actors[i]);
	free(actors);
	return rc;
}
