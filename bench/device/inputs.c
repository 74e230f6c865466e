/*
 * Inputs: tensors of uniform random numbers from fixed seeds, so every run
 * of the bench computes on the same data.
 */
#include <math.h>

#include "device_bench.h"

/* xorshift64*, the generator of the GPU tests. */
static uint64_t next_u64(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1Dull;
}

static void store(bl_tensor_t *t, size_t i, double v)
{
	switch (t->dtype) {
	case BL_DTYPE_F32:
		((float *)t->data)[i] = (float)v;
		break;
	case BL_DTYPE_F64:
		((double *)t->data)[i] = v;
		break;
	case BL_DTYPE_I32:
		((int32_t *)t->data)[i] = (int32_t)floor(v);
		break;
	case BL_DTYPE_I64:
		((int64_t *)t->data)[i] = (int64_t)floor(v);
		break;
	}
}

int bench_random(bl_tensor_t **out, bl_dtype_t dtype, unsigned ndim, const size_t *shape, double lo, double hi,
		 uint64_t seed, bl_error_t *err)
{
	bl_tensor_t *t;
	int rc = bl_tensor_new(&t, dtype, ndim, shape, err);
	if (rc < 0)
		return rc;

	uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < t->count; i++) {
		double u = (double)(next_u64(&state) >> 11) / 9007199254740992.0;
		store(t, i, lo + (hi - lo) * u);
	}
	*out = t;
	return 0;
}

double bench_max_rel_diff(const bl_tensor_t *a, const bl_tensor_t *b)
{
	if (a->count != b->count)
		return NAN;

	double diff = 0, scale = 0;
	for (size_t i = 0; i < a->count; i++) {
		double x = bl_tensor_get(a, i), y = bl_tensor_get(b, i);
		if (isnan(x) || isnan(y))
			return NAN;
		diff = fmax(diff, fabs(x - y));
		scale = fmax(scale, fabs(x));
	}
	return scale > 0 ? diff / scale : diff;
}
