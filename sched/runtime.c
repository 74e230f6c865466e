#include "runtime.h"

#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "pool.h"

int bl_runtime_new(bl_runtime_t **out)
{
	bl_runtime_t *rt = calloc(1, sizeof *rt);
	if (!rt)
		return BL_ENOMEM;

	if (pthread_mutex_init(&rt->lock, NULL) != 0) {
		free(rt);
		return BL_ENOMEM;
	}
	if (bl__arena_init(&rt->actors) != 0) {
		pthread_mutex_destroy(&rt->lock);
		free(rt);
		return BL_ENOMEM;
	}

	*out = rt;
	return 0;
}

const bl__topology_t *bl__runtime_topology(bl_runtime_t *rt)
{
	pthread_mutex_lock(&rt->lock);
	if (!rt->topology_loaded) {
		bl__topology_load(&rt->topology);
		rt->topology_loaded = true;
	}
	pthread_mutex_unlock(&rt->lock);
	return &rt->topology;
}

bl_pool_t *bl__runtime_pool(bl_runtime_t *rt, unsigned index)
{
	if (index >= atomic_load_explicit(&rt->pool_count, memory_order_acquire))
		return NULL;
	return rt->pools[index];
}

int bl_runtime_add_pool(bl_runtime_t *rt, const bl_pool_config_t *cfg, bl_pool_t **out)
{
	if (atomic_load(&rt->shutting_down))
		return BL_ESHUTDOWN;

	/* Serialise pool creation so indexes stay dense; pools are few and
	 * created at start-up. */
	static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&add_lock);

	unsigned index = atomic_load(&rt->pool_count);
	int rc = index < BL__POOLS_MAX ? 0 : BL_EINVAL;
	bl_pool_t *pool = NULL;
	if (rc == 0)
		rc = bl__pool_create(&pool, rt, index, cfg);
	if (rc == 0) {
		rt->pools[index] = pool;
		/* Release: bl__runtime_pool readers see the pool's fields. */
		atomic_store_explicit(&rt->pool_count, index + 1, memory_order_release);
	}

	pthread_mutex_unlock(&add_lock);
	if (rc == 0)
		*out = pool;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Shutdown                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct teardown {
	bl_runtime_t *rt;
	size_t drained;
} teardown_t;

static bl_actor_t *live_actor(void *obj, bl_runtime_t *rt)
{
	bl_actor_t *a = obj;
	return a->tag == ((uintptr_t)rt | BL__ACTOR_LIVE_BIT) ? a : NULL;
}

/* Terminate a live actor without notifying anyone: every other actor is
 * being torn down too. */
static void stop_actor(void *obj, void *ctx)
{
	teardown_t *td = ctx;
	bl_actor_t *a = live_actor(obj, td->rt);
	if (!a)
		return;

	uint16_t flags = atomic_load_explicit(&a->flags, memory_order_relaxed);
	if (!(flags & BL__ACTOR_DEAD)) {
		atomic_store_explicit(&a->flags, flags | BL__ACTOR_DEAD, memory_order_relaxed);
		if (a->behaviour->stop) {
			bl__current_actor = a;
			a->behaviour->stop(a, a->state, BL_ESHUTDOWN);
			bl__current_actor = NULL;
		}
	}
	bl__link_clear(a);
}

static void drain_actor(void *obj, void *ctx)
{
	teardown_t *td = ctx;
	bl_actor_t *a = live_actor(obj, td->rt);
	if (!a)
		return;

	struct bl_mq_node *node, *retired;
	while ((node = bl__mailbox_pop(&a->mailbox, &retired)) != NULL) {
		if (retired)
			bl__msg_release((bl_msg_t *)retired);
		bl__msg_discard(a, (bl_msg_t *)node);
		/* The dropped message is still the mailbox's tail node: it is
		 * released by the next pop or by free_actor, never twice. */
		td->drained++;
	}
}

static void free_actor(void *obj, void *ctx)
{
	teardown_t *td = ctx;
	bl_actor_t *a = live_actor(obj, td->rt);
	if (a)
		bl__actor_release_parts(a);
}

/*
 * Stop callbacks and discard callbacks may still send messages (a stop
 * callback that tells its peers, say). Drain until a pass finds nothing;
 * the bound only guards against callbacks that send on every discard.
 */
static void drain_all(bl_runtime_t *rt)
{
	teardown_t td = {.rt = rt};
	for (int pass = 0; pass < 16; pass++) {
		td.drained = 0;
		bl__arena_walk(&rt->actors, drain_actor, &td);
		if (td.drained == 0)
			return;
	}
}

void bl_runtime_free(bl_runtime_t **rtp)
{
	bl_runtime_t *rt = *rtp;
	*rtp = NULL;
	if (!rt)
		return;

	unsigned pools = atomic_load(&rt->pool_count);
	atomic_store(&rt->shutting_down, true);
	for (unsigned i = 0; i < pools; i++)
		bl__pool_stop(rt->pools[i]);

	atomic_store(&rt->tearing_down, true);
	for (unsigned i = 0; i < pools; i++) {
		bl__pool_drop_queued(rt->pools[i]);
		bl__timers_destroy(&rt->pools[i]->timers);
	}

	teardown_t td = {.rt = rt};
	bl__arena_walk(&rt->actors, stop_actor, &td);
	drain_all(rt);
	bl__arena_walk(&rt->actors, free_actor, &td);

	for (unsigned i = 0; i < pools; i++)
		bl__pool_free(rt->pools[i]);
	bl__arena_destroy(&rt->actors);
	if (rt->topology_loaded)
		bl__topology_destroy(&rt->topology);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}
