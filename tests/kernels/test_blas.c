#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <beamline/kernels.h>

#include "blas.h"

/*
 * OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads, so the
 * tests that force a kernel set get the variable from CTest (see
 * tests/kernels/cpu.cmake) and skip when it is missing, as it is when the
 * program runs by hand.
 */
static void require_coretype(const char *expected)
{
	const char *value = getenv("OPENBLAS_CORETYPE");
	if (!value || strcmp(value, expected) != 0)
		cr_skip_test("needs OPENBLAS_CORETYPE=%s in the environment at start-up (set by CTest)", expected);
}

/* Return the OPENBLAS_CORETYPE of the widest kernel set this CPU runs:
 * SkylakeX for AVX-512, Haswell for AVX2 with FMA, Sandybridge for AVX,
 * NULL below that. */
static const char *best_for_this_cpu(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
	if (__builtin_cpu_supports("avx"))
		return "Sandybridge";
	return NULL;
}

/* The core name is OpenBLAS's own, never NULL or empty. */
Test(kernels_blas, core_name_is_reported)
{
	const char *name = bl_blas_core_name();

	cr_assert_not_null(name, "bl_blas_core_name returned NULL");
	cr_assert_neq(name[0], '\0', "bl_blas_core_name returned an empty name");
}

/* With the oldest x86-64 set forced, any CPU with AVX has a better one,
 * and it is the widest this CPU supports. */
Test(kernels_blas, prescott_upgrades_to_best)
{
	require_coretype("Prescott");
	const char *expected = best_for_this_cpu();

	const char *better = bl__blas_better_coretype();

	cr_assert_str_eq(bl_blas_core_name(), "Prescott", "OpenBLAS uses %s, expected the forced Prescott",
			 bl_blas_core_name());
	if (!expected) {
		cr_assert_null(better, "this CPU has no AVX, yet %s was suggested", better);
		return;
	}
	cr_assert_not_null(better, "nothing suggested over Prescott, expected %s", expected);
	cr_assert_str_eq(better, expected, "suggested %s over Prescott, expected %s", better, expected);
}

/* With Haswell forced, an AVX-512 CPU gets SkylakeX suggested and an AVX2
 * CPU gets nothing. */
Test(kernels_blas, haswell_upgrades_only_with_avx512)
{
	require_coretype("Haswell");
	const char *best = best_for_this_cpu();
	if (!best || strcmp(best, "Sandybridge") == 0)
		cr_skip_test("this CPU lacks AVX2, so OpenBLAS cannot run the forced Haswell set");

	const char *better = bl__blas_better_coretype();

	cr_assert_str_eq(bl_blas_core_name(), "Haswell", "OpenBLAS uses %s, expected the forced Haswell",
			 bl_blas_core_name());
	if (strcmp(best, "SkylakeX") == 0)
		cr_assert(better && strcmp(better, "SkylakeX") == 0, "suggested %s over Haswell, expected SkylakeX",
			  better ? better : "nothing");
	else
		cr_assert_null(better, "suggested %s over Haswell on a CPU without AVX-512", better);
}

/* Nothing beats SkylakeX, so no change is suggested. */
Test(kernels_blas, skylakex_needs_no_change)
{
	require_coretype("SkylakeX");
	const char *best = best_for_this_cpu();
	if (!best || strcmp(best, "SkylakeX") != 0)
		cr_skip_test("this CPU lacks AVX-512, so OpenBLAS cannot run the forced SkylakeX set");

	const char *better = bl__blas_better_coretype();

	cr_assert_str_eq(bl_blas_core_name(), "SkylakeX", "OpenBLAS uses %s, expected the forced SkylakeX",
			 bl_blas_core_name());
	cr_assert_null(better, "suggested %s although OpenBLAS already uses %s", better, bl_blas_core_name());
}
