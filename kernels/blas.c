#include <stddef.h>
#include <strings.h>

#include <cblas.h>

#include <beamline/kernels.h>

#include "blas.h"

/*
 * OpenBLAS kernel sets by the widest vector instructions their sgemm
 * uses: 0 for SSE, 1 for AVX, 2 for AVX2 with FMA, 3 for AVX-512. AMD's
 * Bulldozer family also ranks 2, because its sets have kernels of their
 * own (FMA4 and FMA3) that were not measured against Haswell's. The
 * names are those that OpenBLAS 0.3.21 (DYNAMIC_ARCH build, as Debian 12
 * ships it) reports from openblas_get_corename() and accepts in
 * OPENBLAS_CORETYPE, where case does not matter. A name missing here, such
 * as one added by a later release, ranks as unknown.
 */
static const struct {
	const char *name;
	int level;
} core_levels[] = {
	{"Unknown", 0},     {"Katmai", 0},      {"Coppermine", 0},   {"Northwood", 0},  {"Prescott", 0},
	{"Banias", 0},      {"Atom", 0},        {"Core2", 0},        {"Penryn", 0},     {"Dunnington", 0},
	{"Nehalem", 0},     {"Athlon", 0},      {"Opteron", 0},      {"Opteron_SSE3", 0}, {"Barcelona", 0},
	{"Nano", 0},        {"Bobcat", 0},      {"Sandybridge", 1},  {"Bulldozer", 2},  {"Piledriver", 2},
	{"Steamroller", 2}, {"Excavator", 2},   {"Haswell", 2},      {"Zen", 2},        {"SkylakeX", 3},
	{"Cooperlake", 3},
};

/* Return the level of an OpenBLAS core name, or -1 for a name not listed. */
static int core_level(const char *name)
{
	for (size_t i = 0; i < sizeof core_levels / sizeof *core_levels; i++) {
		if (strcasecmp(core_levels[i].name, name) == 0)
			return core_levels[i].level;
	}
	return -1;
}

/*
 * Return the OPENBLAS_CORETYPE of the widest kernel set this CPU can run,
 * and its level in *level, or NULL when it has no AVX. The SkylakeX
 * kernels use AVX-512 F, CD, BW, DQ and VL. __builtin_cpu_supports
 * (GCC's libgcc) also checks through XGETBV that the operating system
 * saves the vector registers, so a CPU feature the kernel has disabled
 * reads as absent.
 */
static const char *best_supported_core(int *level)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl")) {
		*level = 3;
		return "SkylakeX";
	}
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		*level = 2;
		return "Haswell";
	}
	if (__builtin_cpu_supports("avx")) {
		*level = 1;
		return "Sandybridge";
	}
	return NULL;
}

const char *bl__blas_better_coretype(void)
{
	int current = core_level(bl_blas_core_name());
	if (current < 0)
		return NULL;

	int best = -1;
	const char *name = best_supported_core(&best);
	if (!name || best <= current)
		return NULL;
	return name;
}

const char *bl_blas_core_name(void)
{
	/* Declared as returning char * in OpenBLAS's cblas.h; the string is a
	 * static table entry. */
	return openblas_get_corename();
}
