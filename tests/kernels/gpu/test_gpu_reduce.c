#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

static const bl_reduce_op_t all_ops[] = {BL_REDUCE_SUM, BL_REDUCE_MAX, BL_REDUCE_MIN, BL_REDUCE_MEAN};
static const char *const op_names[] = {"sum", "max", "min", "mean"};

/* Reduce x on the device and on the CPU and compare the results within
 * `rel`. */
static void expect_reduce_matches(bl_gpu_t *gpu, bl_reduce_op_t op, const bl_tensor_t *x, int axis, bool all,
				  double rel, bool nan_matches)
{
	char what[160];
	snprintf(what, sizeof what, "%s of %s %u-D [%zu, ...] (%zu elements), %s %d", op_names[op],
		 bl_dtype_name(x->dtype), x->ndim, x->ndim ? x->shape[0] : 1, x->count, all ? "all, axis" : "axis",
		 axis);
	bl_error_t err = {0};
	bl_tensor_t *got = NULL;
	bl_tensor_t *want = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_reduce(launch, &got, op, x, axis, all, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_reduce returned %d: %s", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_reduce(&want, op, x, axis, all, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_reduce returned %d: %s", what, rc, err.message);

	gpu_test_expect_close(got, want, rel, nan_matches, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&got);
	bl_tensor_free(&want);
}

/* Every op along axis 0, 1, the last, -1 and -ndim, and over everything,
 * on fresh random data of `shape`. */
static void expect_every_axis_matches(bl_gpu_t *gpu, bl_dtype_t dtype, unsigned ndim, const size_t *shape,
				      double rel)
{
	int axes[] = {0, 1, (int)ndim - 1, -1, -(int)ndim};
	for (size_t o = 0; o < COUNT(all_ops); o++) {
		bl_tensor_t *x = gpu_test_random(dtype, ndim, shape, -1, 1);
		for (size_t a = 0; a < COUNT(axes); a++) {
			if (axes[a] < (int)ndim)
				expect_reduce_matches(gpu, all_ops[o], x, axes[a], false, rel, false);
		}
		expect_reduce_matches(gpu, all_ops[o], x, 0, true, rel, false);
		bl_tensor_free(&x);
	}
}

/* Shapes that take each path: one work item per line (short lines, or
 * more lines than elements), one work-group per line (lines of a few
 * hundred), and pieces merged by a second pass (long lines), contiguous
 * or strided. */
static void expect_axes_match(bl_gpu_t *gpu)
{
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 1, (size_t[]){1}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 1, (size_t[]){63}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 1, (size_t[]){65}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 1, (size_t[]){1000003}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){63, 65}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){3, 300}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){3, 5001}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){5001, 3}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 3, (size_t[]){5, 7, 130}, 1e-4);
	expect_every_axis_matches(gpu, BL_DTYPE_F32, 3, (size_t[]){3, 4001, 5}, 1e-4);
}

Test(gpu_reduce, axes_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_axes_match(gpu);
	bl_gpu_close(&gpu);
}

/* A few million elements, over everything and along long axes; sums
 * accumulate in another order than the CPU's pairwise float64 sum. */
Test(gpu_reduce, large_input_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	size_t shape[] = {2, 1500001};
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, shape, 0, 1);

	for (size_t o = 0; o < COUNT(all_ops); o++) {
		expect_reduce_matches(gpu, all_ops[o], x, 0, true, 1e-4, false);
		expect_reduce_matches(gpu, all_ops[o], x, 1, false, 1e-4, false);
		expect_reduce_matches(gpu, all_ops[o], x, 0, false, 1e-4, false);
	}
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* float64 x computes in double; integers are read as float64 and give a
 * float64 result, as on the CPU. */
static void expect_float64_and_int_match(bl_gpu_t *gpu)
{
	expect_every_axis_matches(gpu, BL_DTYPE_F64, 2, (size_t[]){65, 2000}, 1e-12);
	expect_every_axis_matches(gpu, BL_DTYPE_F64, 3, (size_t[]){4, 3, 70}, 1e-12);
	for (size_t o = 0; o < COUNT(all_ops); o++) {
		bl_tensor_t *xi = gpu_test_random(BL_DTYPE_I32, 2, (size_t[]){7, 1001}, -1000, 1000);
		bl_tensor_t *xl = gpu_test_random(BL_DTYPE_I64, 2, (size_t[]){1001, 7}, -1e9, 1e9);
		expect_reduce_matches(gpu, all_ops[o], xi, 1, false, 1e-12, false);
		expect_reduce_matches(gpu, all_ops[o], xi, 0, true, 1e-12, false);
		expect_reduce_matches(gpu, all_ops[o], xl, 0, false, 1e-12, false);
		bl_tensor_free(&xi);
		bl_tensor_free(&xl);
	}
}

Test(gpu_reduce, float64_and_int_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the device has no cl_khr_fp64");

	expect_float64_and_int_match(gpu);
	bl_gpu_close(&gpu);
}

/* A SUM over nothing is 0 for every output element; an axis of other
 * lengths in an empty tensor gives an empty result. */
Test(gpu_reduce, empty_axis_sums_to_zero)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *rows = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 0}, -1, 1);
	bl_tensor_t *cols = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){0, 4}, -1, 1);

	expect_reduce_matches(gpu, BL_REDUCE_SUM, rows, 1, false, 1e-4, false);
	expect_reduce_matches(gpu, BL_REDUCE_SUM, rows, 0, true, 1e-4, false);
	expect_reduce_matches(gpu, BL_REDUCE_SUM, cols, 0, false, 1e-4, false);
	for (size_t o = 0; o < COUNT(all_ops); o++) {
		expect_reduce_matches(gpu, all_ops[o], rows, 0, false, 1e-4, false);
		expect_reduce_matches(gpu, all_ops[o], cols, 1, false, 1e-4, false);
	}
	bl_tensor_free(&rows);
	bl_tensor_free(&cols);
	bl_gpu_close(&gpu);
}

/* A scalar x reduces with `all`; one element along an axis is itself. */
Test(gpu_reduce, one_element_and_scalar)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *one = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){1}, -1, 1);
	bl_tensor_t *scalar = gpu_test_random(BL_DTYPE_F32, 0, NULL, -1, 1);
	bl_tensor_t *column = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){70, 1}, -1, 1);

	for (size_t o = 0; o < COUNT(all_ops); o++) {
		expect_reduce_matches(gpu, all_ops[o], one, 0, false, 1e-4, false);
		expect_reduce_matches(gpu, all_ops[o], scalar, 0, true, 1e-4, false);
		expect_reduce_matches(gpu, all_ops[o], column, 1, false, 1e-4, false);
	}
	bl_tensor_free(&one);
	bl_tensor_free(&scalar);
	bl_tensor_free(&column);
	bl_gpu_close(&gpu);
}

/* NaN anywhere in a line makes every op on that line NaN; +inf and -inf
 * in one line sum to NaN; an all -inf line has max -inf. Lines are long
 * enough for the work-group path and short enough for the per-item one. */
static void expect_nan_and_inf_propagate(bl_gpu_t *gpu)
{
	static const size_t widths[] = {5, 300, 5000};

	for (size_t w = 0; w < COUNT(widths); w++) {
		size_t cols = widths[w];
		bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){4, cols}, -1, 1);
		float *v = x->data;
		v[cols / 2] = NAN;
		v[cols + cols - 1] = INFINITY;
		v[2 * cols] = -INFINITY;
		v[2 * cols + 1] = INFINITY;
		for (size_t j = 0; j < cols; j++)
			v[3 * cols + j] = -INFINITY;

		for (size_t o = 0; o < COUNT(all_ops); o++) {
			expect_reduce_matches(gpu, all_ops[o], x, 1, false, 1e-4, true);
			expect_reduce_matches(gpu, all_ops[o], x, 0, false, 1e-4, true);
			expect_reduce_matches(gpu, all_ops[o], x, 0, true, 1e-4, true);
		}
		bl_tensor_free(&x);
	}
}

Test(gpu_reduce, nan_and_inf_propagate)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_nan_and_inf_propagate(gpu);
	bl_gpu_close(&gpu);
}

/* Each form of the kernels on any device: the CPU form reduces contiguous
 * lines of more than 64 elements in pieces of 4096, the GPU form takes
 * every path of the tests above. */
static void expect_form_matches(bl_gpu_kernel_form_t form)
{
	bl_gpu_t *gpu = gpu_test_open_form(form);

	expect_axes_match(gpu);
	expect_nan_and_inf_propagate(gpu);
	if (bl_gpu_has_fp64(gpu))
		expect_float64_and_int_match(gpu);
	bl_gpu_close(&gpu);
}

Test(gpu_reduce, cpu_form_matches_cpu)
{
	expect_form_matches(BL_GPU_KERNELS_CPU);
}

Test(gpu_reduce, gpu_form_matches_cpu)
{
	expect_form_matches(BL_GPU_KERNELS_GPU);
}

/* A line of more than 4096 * 4096 elements takes three passes of the CPU
 * form: pieces, pieces of the pieces' results, and the last. */
Test(gpu_reduce, cpu_form_three_passes_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	size_t n = (size_t)4096 * 4096 + 4097;
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, 0, 1);

	for (size_t o = 0; o < COUNT(all_ops); o++)
		expect_reduce_matches(gpu, all_ops[o], x, 0, true, 1e-4, false);
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* Bad arguments get the CPU's code, field and message, and no result. */
static void expect_same_error(bl_gpu_t *gpu, bl_reduce_op_t op, const bl_tensor_t *x, int axis, bool all,
			      const char *what)
{
	bl_error_t gpu_err = {0};
	bl_error_t cpu_err = {0};
	bl_tensor_t *got = NULL;
	bl_tensor_t *want = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int gpu_rc = bl_gpu_reduce(launch, &got, op, x, axis, all, &gpu_err);
	int cpu_rc = bl_cpu_reduce(&want, op, x, axis, all, &cpu_err);

	cr_assert_eq(cpu_rc, BL_EINVAL, "%s: the CPU returned %d, expected BL_EINVAL", what, cpu_rc);
	cr_assert_eq(gpu_rc, cpu_rc, "%s: bl_gpu_reduce returned %d, expected %d", what, gpu_rc, cpu_rc);
	cr_assert_str_eq(gpu_err.field, cpu_err.field, "%s", what);
	cr_assert_str_eq(gpu_err.message, cpu_err.message, "%s", what);
	cr_assert_null(got, "%s: a result despite the error", what);
	bl_gpu_launch_free(&launch);
}

Test(gpu_reduce, bad_arguments_rejected_as_on_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 4}, -1, 1);
	bl_tensor_t *scalar = gpu_test_random(BL_DTYPE_F32, 0, NULL, -1, 1);
	bl_tensor_t *empty = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 0}, -1, 1);

	expect_same_error(gpu, (bl_reduce_op_t)9, x, 0, false, "unknown op");
	expect_same_error(gpu, BL_REDUCE_SUM, x, 2, false, "axis 2 of a 2-D tensor");
	expect_same_error(gpu, BL_REDUCE_SUM, x, -3, false, "axis -3 of a 2-D tensor");
	expect_same_error(gpu, BL_REDUCE_MAX, scalar, 0, false, "a scalar without all");
	expect_same_error(gpu, BL_REDUCE_MEAN, empty, 1, false, "mean of an empty axis");
	expect_same_error(gpu, BL_REDUCE_MIN, empty, 0, true, "min of an empty tensor");
	bl_tensor_free(&x);
	bl_tensor_free(&scalar);
	bl_tensor_free(&empty);
	bl_gpu_close(&gpu);
}
