/*
 * Where a run happened, as its document records it: the machine, its
 * OpenCL devices, the build and the source revision, and the
 * machine-class key that baselines are filed under.
 */
#ifndef BL_BENCH_MACHINE_H
#define BL_BENCH_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * Describe this machine: CPU model (from /proc/cpuinfo), online cores,
 * memory, kernel release, and the OpenCL devices that `engine devices
 * --json` lists. `engine` is borrowed. When it is NULL, missing or fails,
 * the list is empty and "opencl_error" gives the reason. Returns owned
 * (json_decref).
 */
json_t *machine_describe(const char *engine);

/*
 * Write the machine-class key of `machine` (a machine_describe object,
 * borrowed) and `build_type` to `out`: lower-case words joined by '-',
 * e.g. "intel-xeon-processor-2c-release-opencl-cpu". Figures from two
 * classes are not comparable, so baselines are filed by this key. When
 * `machine` has "opencl_error" the key ends in "opencl-unknown", never in
 * "no-opencl".
 */
void machine_class(char *out, size_t size, const json_t *machine, const char *build_type);

/*
 * The git revision of the tree at `source_dir` and whether tracked files
 * differ from it: {"revision": "...", "dirty": bool}, or revision
 * "unknown" and dirty null outside a git tree. Returns owned.
 */
json_t *machine_source(const char *source_dir);

/* The "model name" of the first CPU in /proc/cpuinfo, or "unknown". */
void machine_cpu_model(char *out, size_t size);

/* The number of OpenCL devices in a machine_describe object. */
size_t machine_opencl_count(const json_t *machine);

#endif
