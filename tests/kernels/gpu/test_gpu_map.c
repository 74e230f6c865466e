#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

static const bl_map_op_t all_ops[] = {BL_MAP_ADD, BL_MAP_MUL, BL_MAP_SCALE, BL_MAP_RELU, BL_MAP_GELU, BL_MAP_EXP};
static const char *const op_names[] = {"add", "mul", "scale", "relu", "gelu", "exp"};

/* Run `op` on the device and on the CPU with the same inputs and compare
 * the results within `rel`. */
static void expect_map_matches(bl_gpu_t *gpu, bl_map_op_t op, const bl_tensor_t *x, const bl_tensor_t *y,
			       double scalar, double rel, bool nan_matches, const char *what)
{
	bl_error_t err = {0};
	bl_tensor_t *got = NULL;
	bl_tensor_t *want = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_map(launch, &got, op, x, y, scalar, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_map returned %d: %s", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_map(&want, op, x, y, scalar, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_map returned %d: %s", what, rc, err.message);

	gpu_test_expect_close(got, want, rel, nan_matches, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&got);
	bl_tensor_free(&want);
}

/* Run every op on fresh random x and y of `dtype` and `shape`. */
static void expect_every_op_matches(bl_gpu_t *gpu, bl_dtype_t dtype, unsigned ndim, const size_t *shape, double rel)
{
	for (size_t i = 0; i < COUNT(all_ops); i++) {
		bl_tensor_t *x = gpu_test_random(dtype, ndim, shape, -8, 8);
		bl_tensor_t *y = gpu_test_random(dtype, ndim, shape, -8, 8);
		char what[128];
		snprintf(what, sizeof what, "%s of %s, %zu elements", op_names[i], bl_dtype_name(dtype), x->count);

		expect_map_matches(gpu, all_ops[i], x, y, -1.75, rel, false, what);
		bl_tensor_free(&x);
		bl_tensor_free(&y);
	}
}

/* Sizes around the work-group size of 64 catch bounds checks and the
 * grid-stride loop; 1000003 elements need several elements per work item. */
Test(gpu_map, every_op_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	static const size_t sizes[] = {1, 63, 64, 65, 1000, 1000003};

	for (size_t i = 0; i < COUNT(sizes); i++)
		expect_every_op_matches(gpu, BL_DTYPE_F32, 1, &sizes[i], 1e-4);
	expect_every_op_matches(gpu, BL_DTYPE_F32, 3, (size_t[]){3, 5, 7}, 1e-4);
	bl_gpu_close(&gpu);
}

/* A few million elements: the grid is capped, so each work item takes
 * dozens of elements. */
Test(gpu_map, large_input_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	size_t shape[] = {1500, 2001};
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, shape, -8, 8);
	bl_tensor_t *y = gpu_test_random(BL_DTYPE_F32, 2, shape, -8, 8);

	expect_map_matches(gpu, BL_MAP_MUL, x, y, 0, 1e-4, false, "mul of 3001500 elements");
	expect_map_matches(gpu, BL_MAP_GELU, x, NULL, 0, 1e-4, false, "gelu of 3001500 elements");
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_gpu_close(&gpu);
}

/* float64 in, float64 out, computed in double on the device. */
Test(gpu_map, float64_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the device has no cl_khr_fp64");

	expect_every_op_matches(gpu, BL_DTYPE_F64, 1, (size_t[]){1001}, 1e-12);
	bl_gpu_close(&gpu);
}

/* Integers are read as float64, as on the CPU; a float32 x with an int64
 * y computes in float64 too. */
Test(gpu_map, int_inputs_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the device has no cl_khr_fp64");
	size_t n = 777;
	bl_tensor_t *xi = gpu_test_random(BL_DTYPE_I32, 1, &n, -20, 20);
	bl_tensor_t *yl = gpu_test_random(BL_DTYPE_I64, 1, &n, -1000, 1000);
	bl_tensor_t *xf = gpu_test_random(BL_DTYPE_F32, 1, &n, -20, 20);

	for (size_t i = 0; i < COUNT(all_ops); i++)
		expect_map_matches(gpu, all_ops[i], xi, yl, 3.5, 1e-12, false, op_names[i]);
	expect_map_matches(gpu, BL_MAP_ADD, xf, yl, 0, 1e-12, false, "float32 + int64");
	bl_tensor_free(&xi);
	bl_tensor_free(&yl);
	bl_tensor_free(&xf);
	bl_gpu_close(&gpu);
}

/* A y of one element, 1-D or a scalar, is broadcast over x. */
Test(gpu_map, single_element_y_broadcasts)
{
	bl_gpu_t *gpu = gpu_test_open();
	size_t shape[] = {13, 11};
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, shape, -8, 8);
	bl_tensor_t *y1 = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){1}, -8, 8);
	bl_tensor_t *y0 = gpu_test_random(BL_DTYPE_F32, 0, NULL, -8, 8);

	expect_map_matches(gpu, BL_MAP_ADD, x, y1, 0, 1e-4, false, "add of a 1-element y");
	expect_map_matches(gpu, BL_MAP_MUL, x, y0, 0, 1e-4, false, "mul by a scalar y");
	bl_tensor_free(&x);
	bl_tensor_free(&y1);
	bl_tensor_free(&y0);
	bl_gpu_close(&gpu);
}

/* Empty tensors launch nothing and give an empty result of x's shape; a
 * scalar x gives a scalar. */
Test(gpu_map, empty_and_scalar_x)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *empty = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 0}, -1, 1);
	bl_tensor_t *one = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){1}, -1, 1);
	bl_tensor_t *scalar = gpu_test_random(BL_DTYPE_F32, 0, NULL, -1, 1);

	for (size_t i = 0; i < COUNT(all_ops); i++) {
		expect_map_matches(gpu, all_ops[i], empty, empty, 2, 1e-4, false, "empty x and y");
		expect_map_matches(gpu, all_ops[i], empty, one, 2, 1e-4, false, "empty x, 1-element y");
		expect_map_matches(gpu, all_ops[i], scalar, scalar, 2, 1e-4, false, "scalar x");
	}
	bl_tensor_free(&empty);
	bl_tensor_free(&one);
	bl_tensor_free(&scalar);
	bl_gpu_close(&gpu);
}

/* NaN stays NaN through every op, RELU included; infinities follow IEEE
 * arithmetic (inf + -inf and gelu(-inf) are NaN on the CPU too). */
Test(gpu_map, nan_and_inf_propagate)
{
	bl_gpu_t *gpu = gpu_test_open();
	size_t n = 200;
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, -8, 8);
	bl_tensor_t *y = gpu_test_random(BL_DTYPE_F32, 1, &n, -8, 8);
	float *xv = x->data;
	float *yv = y->data;
	xv[0] = NAN;
	xv[65] = INFINITY;
	xv[130] = -INFINITY;
	xv[199] = -0.0f;
	yv[65] = -INFINITY;
	yv[131] = NAN;

	for (size_t i = 0; i < COUNT(all_ops); i++)
		expect_map_matches(gpu, all_ops[i], x, y, 2, 1e-4, true, op_names[i]);
	expect_map_matches(gpu, BL_MAP_SCALE, x, NULL, INFINITY, 1e-4, true, "scale by inf");
	expect_map_matches(gpu, BL_MAP_SCALE, x, NULL, NAN, 1e-4, true, "scale by NaN");
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_gpu_close(&gpu);
}

/* The CPU scales float32 data in double and rounds once, so a scalar
 * outside float range still gives finite results for small x, and 0 for
 * x = 0. */
Test(gpu_map, scale_beyond_float_range)
{
	bl_gpu_t *gpu = gpu_test_open();
	size_t n = 100;
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, -8, 8);
	float *xv = x->data;
	xv[0] = 0;
	xv[1] = 1e-30f;
	xv[2] = -3e-35f;
	xv[3] = 1e30f;

	expect_map_matches(gpu, BL_MAP_SCALE, x, NULL, 1e39, 1e-4, false, "scale by 1e39");
	expect_map_matches(gpu, BL_MAP_SCALE, x, NULL, -1e300, 1e-4, false, "scale by -1e300");
	expect_map_matches(gpu, BL_MAP_SCALE, x, NULL, 1e-50, 1e-4, false, "scale by 1e-50");
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* Bad arguments get the CPU's code, field and message, and no result. */
static void expect_same_error(bl_gpu_t *gpu, bl_map_op_t op, const bl_tensor_t *x, const bl_tensor_t *y,
			      const char *what)
{
	bl_error_t gpu_err = {0};
	bl_error_t cpu_err = {0};
	bl_tensor_t *got = NULL;
	bl_tensor_t *want = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int gpu_rc = bl_gpu_map(launch, &got, op, x, y, 1, &gpu_err);
	int cpu_rc = bl_cpu_map(&want, op, x, y, 1, &cpu_err);

	cr_assert_eq(cpu_rc, BL_EINVAL, "%s: the CPU returned %d, expected BL_EINVAL", what, cpu_rc);
	cr_assert_eq(gpu_rc, cpu_rc, "%s: bl_gpu_map returned %d, expected %d", what, gpu_rc, cpu_rc);
	cr_assert_str_eq(gpu_err.field, cpu_err.field, "%s", what);
	cr_assert_str_eq(gpu_err.message, cpu_err.message, "%s", what);
	cr_assert_null(got, "%s: a result despite the error", what);
	bl_gpu_launch_free(&launch);
}

Test(gpu_map, bad_arguments_rejected_as_on_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 4}, -1, 1);
	bl_tensor_t *wrong = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){4, 3}, -1, 1);
	bl_tensor_t *empty = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){0}, -1, 1);

	expect_same_error(gpu, (bl_map_op_t)99, x, x, "unknown op");
	expect_same_error(gpu, BL_MAP_ADD, x, NULL, "add without y");
	expect_same_error(gpu, BL_MAP_MUL, x, wrong, "mul with y transposed");
	expect_same_error(gpu, BL_MAP_ADD, x, empty, "add with an empty y");
	bl_tensor_free(&x);
	bl_tensor_free(&wrong);
	bl_tensor_free(&empty);
	bl_gpu_close(&gpu);
}
