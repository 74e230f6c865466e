/*
 * The machine's CPU topology through hwloc, described for people: counts
 * of packages, NUMA nodes, cores and hardware threads, the model name and
 * the cache sizes. The pools use topology.c instead, which keeps only the
 * cores the process may run on.
 */
#include <beamline/sched.h>

#include <errno.h>
#include <hwloc.h>
#include <stdio.h>
#include <string.h>

static unsigned count_of(hwloc_topology_t topo, hwloc_obj_type_t type)
{
	int n = hwloc_get_nbobjs_by_type(topo, type);
	return n > 0 ? (unsigned)n : 0;
}

/* Store the size of the first cache of `type` and the number of them.
 * NOTE: on CPUs with two kinds of cores (Intel's P and E cores) the L2
 * caches differ in size, and this reports the first one's. */
static void read_cache(hwloc_topology_t topo, hwloc_obj_type_t type, uint64_t *bytes, unsigned *count)
{
	*count = count_of(topo, type);
	hwloc_obj_t first = hwloc_get_obj_by_type(topo, type, 0);
	*bytes = first && first->attr ? first->attr->cache.size : 0;
}

/* Copy the first package's CPUModel, or the machine object's when the
 * package has none. */
static void read_model(hwloc_topology_t topo, char *model, size_t size)
{
	const char *name = NULL;
	hwloc_obj_t package = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
	if (package)
		name = hwloc_obj_get_info_by_name(package, "CPUModel");
	if (!name)
		name = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo), "CPUModel");
	snprintf(model, size, "%s", name ? name : "");
}

int bl_cpu_info_load(bl_cpu_info_t *out)
{
	hwloc_topology_t topo;
	memset(out, 0, sizeof *out);

	int saved = errno;
	if (hwloc_topology_init(&topo) != 0) {
		errno = saved;
		return -ENODEV;
	}
	if (hwloc_topology_load(topo) != 0) {
		hwloc_topology_destroy(topo);
		errno = saved;
		return -ENODEV;
	}

	out->packages = count_of(topo, HWLOC_OBJ_PACKAGE);
	out->numa_nodes = count_of(topo, HWLOC_OBJ_NUMANODE);
	out->cores = count_of(topo, HWLOC_OBJ_CORE);
	out->pus = count_of(topo, HWLOC_OBJ_PU);
	read_model(topo, out->model, sizeof out->model);
	read_cache(topo, HWLOC_OBJ_L2CACHE, &out->l2_bytes, &out->l2_count);
	read_cache(topo, HWLOC_OBJ_L3CACHE, &out->l3_bytes, &out->l3_count);
	out->memory_bytes = hwloc_get_root_obj(topo)->total_memory;

	hwloc_topology_destroy(topo);
	errno = saved;
	return 0;
}
