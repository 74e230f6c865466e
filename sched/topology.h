/*
 * CPU topology through hwloc: which cores the process may run on, and
 * binding a thread to one of them.
 */
#ifndef BL_SCHED_TOPOLOGY_H
#define BL_SCHED_TOPOLOGY_H

#include <hwloc.h>

typedef struct bl__topology {
	hwloc_topology_t topo;  /* NULL when hwloc could not load one */
	unsigned core_count;    /* usable cores; 0 when none were found */
	hwloc_cpuset_t *cores;  /* core_count cpusets, owned */
	unsigned online_cpus;   /* from sysconf, the fallback worker count */
} bl__topology_t;

/*
 * Load the topology. Never fails: when hwloc reports nothing usable,
 * core_count is 0 and workers run unpinned, one per online CPU.
 */
void bl__topology_load(bl__topology_t *t);

/* Free what bl__topology_load allocated. */
void bl__topology_destroy(bl__topology_t *t);

/* Bind the calling thread to core `index` (modulo core_count). Returns 0,
 * -ENODEV when there is no usable core, or a negative errno from hwloc. */
int bl__topology_bind_thread(const bl__topology_t *t, unsigned index);

#endif
