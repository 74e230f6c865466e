/*
 * The runtime record: its pools, the arena its actors live in, and the
 * shutdown state.
 */
#ifndef BL_SCHED_RUNTIME_H
#define BL_SCHED_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <beamline/sched.h>

#include "alloc.h"
#include "topology.h"

#define BL__POOLS_MAX 16u

struct bl_runtime {
	pthread_mutex_t lock; /* guards adding pools and loading the topology */
	bl_pool_t *pools[BL__POOLS_MAX];
	unsigned _Atomic pool_count;
	bl__arena_t actors;
	bl__topology_t topology;
	bool topology_loaded;
	/* Set when bl_runtime_free starts: no new actors, tasks or timers. */
	bool _Atomic shutting_down;
	/* Set once the workers are gone: releasing a last reference no longer
	 * frees, because shutdown frees every actor itself. */
	bool _Atomic tearing_down;
};

/* Return the runtime's pool with `index`, or NULL. */
bl_pool_t *bl__runtime_pool(bl_runtime_t *rt, unsigned index);

/* Return the runtime's topology, loading it on first use. */
const bl__topology_t *bl__runtime_topology(bl_runtime_t *rt);

#endif
