/*
 * The planner's random numbers: xoshiro256** seeded through splitmix64,
 * so that a seed gives the same jobs on every machine. Not for anything
 * that needs unpredictability.
 */
#ifndef BL_ENGINE_PLAN_RNG_H
#define BL_ENGINE_PLAN_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct bl_plan_rng {
	uint64_t s[4];
} bl_plan_rng_t;

static inline uint64_t bl_plan_rng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void bl_plan_rng_seed(bl_plan_rng_t *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = bl_plan_rng_splitmix(&seed);
}

static inline uint64_t bl_plan_rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t bl_plan_rng_next(bl_plan_rng_t *r)
{
	uint64_t *s = r->s;
	uint64_t result = bl_plan_rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = bl_plan_rng_rotl(s[3], 45);
	return result;
}

/* Uniform in (0, 1]: never 0, so that log() of it is finite. */
static inline double bl_plan_rng_uniform(bl_plan_rng_t *r)
{
	return (double)((bl_plan_rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

/* Exponential with mean `mean`. */
static inline double bl_plan_rng_exponential(bl_plan_rng_t *r, double mean)
{
	return -mean * log(bl_plan_rng_uniform(r));
}

/* Uniform integer in [0, n), n > 0; the bias for n far below 2^64 is negligible. */
static inline uint64_t bl_plan_rng_below(bl_plan_rng_t *r, uint64_t n)
{
	return bl_plan_rng_next(r) % n;
}

#endif
