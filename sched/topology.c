#include "topology.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Collect the cores whose allowed cpuset is not empty. */
static void collect_cores(bl__topology_t *t)
{
	int depth = hwloc_get_type_depth(t->topo, HWLOC_OBJ_CORE);
	if (depth < 0)
		return;

	unsigned n = (unsigned)hwloc_get_nbobjs_by_depth(t->topo, depth);
	if (n == 0)
		return;

	t->cores = calloc(n, sizeof *t->cores);
	if (!t->cores)
		return;

	hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(t->topo);
	for (unsigned i = 0; i < n; i++) {
		hwloc_obj_t core = hwloc_get_obj_by_depth(t->topo, depth, i);
		if (!core->cpuset || !hwloc_bitmap_intersects(core->cpuset, allowed))
			continue;
		hwloc_cpuset_t set = hwloc_bitmap_dup(core->cpuset);
		if (!set)
			continue;
		hwloc_bitmap_and(set, set, allowed);
		t->cores[t->core_count++] = set;
	}
}

void bl__topology_load(bl__topology_t *t)
{
	t->topo = NULL;
	t->core_count = 0;
	t->cores = NULL;
	t->online_cpus = online_cpus();

	if (hwloc_topology_init(&t->topo) != 0) {
		t->topo = NULL;
		return;
	}
	if (hwloc_topology_load(t->topo) != 0) {
		hwloc_topology_destroy(t->topo);
		t->topo = NULL;
		return;
	}
	collect_cores(t);
}

void bl__topology_destroy(bl__topology_t *t)
{
	for (unsigned i = 0; i < t->core_count; i++)
		hwloc_bitmap_free(t->cores[i]);
	free(t->cores);
	if (t->topo)
		hwloc_topology_destroy(t->topo);
	t->cores = NULL;
	t->core_count = 0;
	t->topo = NULL;
}

int bl__topology_bind_thread(const bl__topology_t *t, unsigned index)
{
	if (!t->topo || t->core_count == 0)
		return -ENODEV;

	int saved = errno;
	int rc = hwloc_set_cpubind(t->topo, t->cores[index % t->core_count], HWLOC_CPUBIND_THREAD);
	int err = rc == 0 ? 0 : -errno;
	errno = saved;
	return err;
}
