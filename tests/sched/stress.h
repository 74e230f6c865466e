/*
 * Sizes for the concurrency stress tests. ThreadSanitizer slows these loops
 * by an order of magnitude, so its builds run fewer iterations; the
 * interleavings that matter occur within the first few thousand.
 */
#ifndef BL_TEST_STRESS_H
#define BL_TEST_STRESS_H

#include <stdlib.h>

#if defined(__SANITIZE_THREAD__)
#define BL_TEST_UNDER_TSAN 1
#else
#define BL_TEST_UNDER_TSAN 0
#endif

/* `normal` iterations, or `tsan` under ThreadSanitizer; the environment
 * variable BL_TEST_SCALE (a positive integer) multiplies either, for long
 * soak runs by hand. */
static inline unsigned long bl_test_iterations(unsigned long normal, unsigned long tsan)
{
	unsigned long n = BL_TEST_UNDER_TSAN ? tsan : normal;
	const char *scale = getenv("BL_TEST_SCALE");
	if (scale && atol(scale) > 0)
		n *= (unsigned long)atol(scale);
	return n;
}

#endif
