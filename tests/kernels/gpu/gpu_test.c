#include "gpu_test.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng_state;

static uint64_t next_u64(void)
{
	if (rng_state == 0) {
		const char *fixed = getenv("GPU_TEST_SEED");
		rng_state = fixed ? strtoull(fixed, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)clock();
		if (rng_state == 0)
			rng_state = 1;
		fprintf(stderr, "gpu_test: GPU_TEST_SEED=%llu\n", (unsigned long long)rng_state);
	}

	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

bl_gpu_t *gpu_test_open_form(bl_gpu_kernel_form_t form)
{
	bl_gpu_config_t cfg;
	bl_gpu_config_init(&cfg);
	cfg.poison = true;
	cfg.kernel_form = form;

	bl_gpu_t *gpu = NULL;
	bl_error_t err = {0};
	int rc = bl_gpu_open(&gpu, &cfg, &err);
	if (rc == -ENODEV)
		cr_skip_test("no OpenCL device: %s", err.message);
	cr_assert_eq(rc, 0, "bl_gpu_open failed: %s", err.message);
	return gpu;
}

bl_gpu_t *gpu_test_open(void)
{
	return gpu_test_open_form(BL_GPU_KERNELS_AUTO);
}

bl_gpu_launch_t *gpu_test_launch(bl_gpu_t *gpu)
{
	bl_gpu_launch_t *launch = NULL;
	bl_error_t err = {0};
	int rc = bl_gpu_launch_new(&launch, gpu, "test", 0, &err);
	cr_assert_eq(rc, 0, "bl_gpu_launch_new failed: %s", err.message);
	return launch;
}

void gpu_test_finish(bl_gpu_launch_t *launch, const char *what)
{
	bl_error_t err = {0};
	int rc = bl_gpu_launch_wait(launch, &err);
	cr_assert_eq(rc, 0, "%s: the launch failed: %s", what, err.message);
}

bl_tensor_t *gpu_test_random(bl_dtype_t dtype, unsigned ndim, const size_t *shape, double lo, double hi)
{
	bl_tensor_t *t = NULL;
	cr_assert_eq(bl_tensor_new(&t, dtype, ndim, shape, NULL), 0);

	for (size_t i = 0; i < t->count; i++) {
		double u = (double)(next_u64() >> 11) / 9007199254740992.0;
		double v = lo + (hi - lo) * u;
		switch (dtype) {
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
	return t;
}

static void expect_same_shape(const bl_tensor_t *got, const bl_tensor_t *want, const char *what)
{
	cr_assert_not_null(got, "%s: no result", what);
	cr_assert_eq(got->dtype, want->dtype, "%s: dtype %s, expected %s", what, bl_dtype_name(got->dtype),
		     bl_dtype_name(want->dtype));
	cr_assert_eq(got->ndim, want->ndim, "%s: %u dimensions, expected %u", what, got->ndim, want->ndim);
	for (unsigned d = 0; d < want->ndim; d++)
		cr_assert_eq(got->shape[d], want->shape[d], "%s: dimension %u is %zu, expected %zu", what, d,
			     got->shape[d], want->shape[d]);
}

void gpu_test_expect_close(const bl_tensor_t *got, const bl_tensor_t *want, double rel, bool nan_matches,
			   const char *what)
{
	expect_same_shape(got, want, what);

	for (size_t i = 0; i < want->count; i++) {
		double g = bl_tensor_get(got, i);
		double w = bl_tensor_get(want, i);
		if (isnan(w) && nan_matches) {
			cr_assert(isnan(g), "%s: element %zu is %.9g, expected NaN", what, i, g);
			continue;
		}
		cr_assert(!isnan(g), "%s: element %zu is NaN, expected %.9g", what, i, w);
		if (isinf(w)) {
			cr_assert_eq(g, w, "%s: element %zu is %.9g, expected %.9g", what, i, g, w);
			continue;
		}
		double scale = fabs(w) > 1.0 ? fabs(w) : 1.0;
		cr_assert(fabs(g - w) <= rel * scale, "%s: element %zu is %.9g, expected %.9g (relative tolerance %g)",
			  what, i, g, w, rel);
	}
}

void gpu_test_expect_equal(const bl_tensor_t *got, const bl_tensor_t *want, const char *what)
{
	expect_same_shape(got, want, what);

	for (size_t i = 0; i < want->count; i++)
		cr_assert_eq(bl_tensor_get(got, i), bl_tensor_get(want, i), "%s: element %zu is %.0f, expected %.0f",
			     what, i, bl_tensor_get(got, i), bl_tensor_get(want, i));
}
