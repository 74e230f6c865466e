#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* Run softmax on the device and on the CPU and compare within `rel`. */
static void expect_softmax_matches(bl_gpu_t *gpu, const bl_tensor_t *x, double rel, bool nan_matches)
{
	char what[128];
	snprintf(what, sizeof what, "softmax of %s %u-D [%zu, %zu]", bl_dtype_name(x->dtype), x->ndim, x->shape[0],
		 x->ndim == 2 ? x->shape[1] : 0);
	bl_error_t err = {0};
	bl_tensor_t *got = NULL;
	bl_tensor_t *want = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_softmax(launch, &got, x, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_softmax returned %d: %s", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_softmax(&want, x, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_softmax returned %d: %s", what, rc, err.message);

	gpu_test_expect_close(got, want, rel, nan_matches, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&got);
	bl_tensor_free(&want);
}

static void expect_random_matches(bl_gpu_t *gpu, bl_dtype_t dtype, unsigned ndim, const size_t *shape, double rel)
{
	bl_tensor_t *x = gpu_test_random(dtype, ndim, shape, -20, 20);
	expect_softmax_matches(gpu, x, rel, false);
	bl_tensor_free(&x);
}

/* Rows of every length around the work-group size, rows short enough for
 * one work item each, rows of one work-group, and long rows cut into
 * pieces that a second pass merges. */
static void expect_shapes_match(bl_gpu_t *gpu)
{
	static const size_t lengths[] = {1, 2, 63, 64, 65, 1000, 1000003};
	static const size_t shapes[][2] = {{1, 1}, {7, 65}, {1000, 3}, {3, 500}, {3, 5000}, {64, 64}, {130, 129}};

	for (size_t i = 0; i < COUNT(lengths); i++)
		expect_random_matches(gpu, BL_DTYPE_F32, 1, &lengths[i], 1e-4);
	for (size_t i = 0; i < COUNT(shapes); i++)
		expect_random_matches(gpu, BL_DTYPE_F32, 2, shapes[i], 1e-4);
}

Test(gpu_softmax, shapes_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_shapes_match(gpu);
	bl_gpu_close(&gpu);
}

/* A few million elements in a handful of long rows. */
Test(gpu_softmax, large_input_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();

	expect_random_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){3, 1000001}, 1e-4);
	bl_gpu_close(&gpu);
}

/* float64 x computes in double; integers are read as float64. */
static void expect_float64_and_int_match(bl_gpu_t *gpu)
{
	expect_random_matches(gpu, BL_DTYPE_F64, 2, (size_t[]){5, 3001}, 1e-12);
	expect_random_matches(gpu, BL_DTYPE_F64, 1, (size_t[]){65}, 1e-12);
	expect_random_matches(gpu, BL_DTYPE_I32, 2, (size_t[]){100, 7}, 1e-12);
	expect_random_matches(gpu, BL_DTYPE_I64, 1, (size_t[]){1000}, 1e-12);
}

Test(gpu_softmax, float64_and_int_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the device has no cl_khr_fp64");

	expect_float64_and_int_match(gpu);
	bl_gpu_close(&gpu);
}

/* Empty tensors launch nothing and give an empty result of x's shape. */
Test(gpu_softmax, empty_tensors)
{
	bl_gpu_t *gpu = gpu_test_open();

	expect_random_matches(gpu, BL_DTYPE_F32, 1, (size_t[]){0}, 1e-4);
	expect_random_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){0, 5}, 1e-4);
	expect_random_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){5, 0}, 1e-4);
	bl_gpu_close(&gpu);
}

/* Rows the formula cannot handle, as the CPU settles them: NaN anywhere or
 * all -inf makes the row NaN; +inf elements share 1 and the rest get 0;
 * -inf next to finite values gets 0. Each width takes another path. */
static void expect_nan_and_inf_rows_match(bl_gpu_t *gpu)
{
	static const size_t widths[] = {5, 300, 5000};

	for (size_t w = 0; w < COUNT(widths); w++) {
		size_t cols = widths[w];
		bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){5, cols}, -20, 20);
		float *v = x->data;
		v[cols - 1] = NAN;
		for (size_t j = 0; j < cols; j++)
			v[cols + j] = -INFINITY;
		v[2 * cols] = INFINITY;
		v[2 * cols + cols / 2] = INFINITY;
		v[2 * cols + 1] = -INFINITY;
		v[3 * cols + cols - 1] = INFINITY;
		v[4 * cols + 2] = -INFINITY;

		expect_softmax_matches(gpu, x, 1e-4, true);
		bl_tensor_free(&x);
	}
}

Test(gpu_softmax, nan_and_inf_rows)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_nan_and_inf_rows_match(gpu);
	bl_gpu_close(&gpu);
}

/* Each form of the kernels on any device. The CPU form takes rows of up
 * to 4096 elements in one work-group each, so rows of 4096 and 4097 are
 * on either side of it; +inf and NaN in one work item's elements and not
 * in another's check how the work items' statistics merge. */
static void expect_form_matches(bl_gpu_kernel_form_t form)
{
	bl_gpu_t *gpu = gpu_test_open_form(form);

	expect_shapes_match(gpu);
	expect_nan_and_inf_rows_match(gpu);
	expect_random_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){3, 4096}, 1e-4);
	expect_random_matches(gpu, BL_DTYPE_F32, 2, (size_t[]){3, 4097}, 1e-4);

	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 1000}, -20, 20);
	float *v = x->data;
	v[70] = INFINITY;
	v[1000 + 999] = NAN;
	v[2000 + 5] = -INFINITY;
	v[2000 + 64 + 5] = -INFINITY;
	expect_softmax_matches(gpu, x, 1e-4, true);
	bl_tensor_free(&x);

	if (bl_gpu_has_fp64(gpu))
		expect_float64_and_int_match(gpu);
	bl_gpu_close(&gpu);
}

Test(gpu_softmax, cpu_form_matches_cpu)
{
	expect_form_matches(BL_GPU_KERNELS_CPU);
}

Test(gpu_softmax, gpu_form_matches_cpu)
{
	expect_form_matches(BL_GPU_KERNELS_GPU);
}

/* Six rows of `cols` random values. Row 0 is plain, row 1 has NaN in the
 * last block and row 2 +inf in the first and last blocks. Row 3 is all
 * -inf, every eighth element of row 4 from index 5 is -inf (all of work
 * item 5's elements in work-groups of 8, 16 or 64), and row 5 has NaN and
 * +inf. */
static bl_tensor_t *special_rows(size_t cols)
{
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){6, cols}, -20, 20);
	float *v = x->data;
	v[cols + cols - 1] = NAN;
	v[2 * cols + 3] = INFINITY;
	v[2 * cols + cols - 1] = INFINITY;
	for (size_t j = 0; j < cols; j++)
		v[3 * cols + j] = -INFINITY;
	for (size_t j = 5; j < cols; j += 8)
		v[4 * cols + j] = -INFINITY;
	v[5 * cols] = NAN;
	v[5 * cols + 1] = INFINITY;
	return x;
}

/* The CPU form checks bounds only in a partial last block of 8 or 16
 * elements: rows of whole blocks and rows one element longer, with
 * special values. */
Test(gpu_softmax, cpu_form_whole_blocks_match_cpu)
{
	static const size_t widths[] = {64, 65, 128, 1024, 1025, 4096};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);

	for (size_t w = 0; w < COUNT(widths); w++) {
		bl_tensor_t *x = special_rows(widths[w]);
		expect_softmax_matches(gpu, x, 1e-4, true);
		bl_tensor_free(&x);
	}
	bl_gpu_close(&gpu);
}

/* Large values do not overflow: each row's maximum is subtracted first. */
Test(gpu_softmax, large_values_stay_finite)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){4, 700}, 1e4, 1e4 + 50);

	expect_softmax_matches(gpu, x, 1e-4, false);
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* Only 1-D and 2-D tensors are accepted, with the CPU's code and message. */
Test(gpu_softmax, other_ranks_rejected_as_on_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *inputs[] = {
		gpu_test_random(BL_DTYPE_F32, 3, (size_t[]){2, 3, 4}, -1, 1),
		gpu_test_random(BL_DTYPE_F32, 0, NULL, -1, 1),
	};

	for (size_t i = 0; i < COUNT(inputs); i++) {
		bl_error_t gpu_err = {0};
		bl_error_t cpu_err = {0};
		bl_tensor_t *got = NULL;
		bl_tensor_t *want = NULL;
		bl_gpu_launch_t *launch = gpu_test_launch(gpu);

		int gpu_rc = bl_gpu_softmax(launch, &got, inputs[i], &gpu_err);
		int cpu_rc = bl_cpu_softmax(&want, inputs[i], &cpu_err);

		cr_assert_eq(cpu_rc, BL_EINVAL, "the CPU returned %d, expected BL_EINVAL", cpu_rc);
		cr_assert_eq(gpu_rc, cpu_rc, "bl_gpu_softmax returned %d, expected %d", gpu_rc, cpu_rc);
		cr_assert_str_eq(gpu_err.field, cpu_err.field);
		cr_assert_str_eq(gpu_err.message, cpu_err.message);
		cr_assert_null(got, "a result despite the error");
		bl_gpu_launch_free(&launch);
		bl_tensor_free(&inputs[i]);
	}
	bl_gpu_close(&gpu);
}

/* Rows made by special_softmax_rows. Row 0 is plain random values. */
#define SPECIAL_ROW_COUNT 22

/* Set the elements j of `row` with j % period == lane to v. */
static void set_lane(float *row, size_t cols, size_t period, size_t lane, float v)
{
	for (size_t j = lane; j < cols; j += period)
		row[j] = v;
}

/* SPECIAL_ROW_COUNT rows of `cols` float32 values. NaN and infinities sit
 * at the first and last element and in one work item's elements under
 * groups of 8 and 16. Other rows are all -inf or +inf, or have
 * differences that underflow or overflow exp. */
static bl_tensor_t *special_softmax_rows(size_t cols)
{
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){SPECIAL_ROW_COUNT, cols}, -20, 20);
	float *v = x->data;
	float *r;
	size_t last = cols - 1;

	v[1 * cols] = NAN;
	v[2 * cols + last] = NAN;
	v[3 * cols] = INFINITY;
	v[4 * cols + last] = INFINITY;
	v[5 * cols] = -INFINITY;
	v[5 * cols + last] = -INFINITY;
	set_lane(v + 6 * cols, cols, 1, 0, -INFINITY);
	set_lane(v + 7 * cols, cols, 8, 3, -INFINITY);
	set_lane(v + 8 * cols, cols, 16, 11, -INFINITY);
	set_lane(v + 9 * cols, cols, 1, 0, INFINITY);

	r = v + 10 * cols;
	set_lane(r, cols, 1, 0, -INFINITY);
	set_lane(r, cols, 8, 3 % cols, INFINITY);
	r = v + 11 * cols;
	set_lane(r, cols, 1, 0, -INFINITY);
	r[last] = INFINITY;
	r = v + 12 * cols;
	set_lane(r, cols, 1, 0, -INFINITY);
	r[last / 2] = 1.5f;
	r = v + 13 * cols;
	set_lane(r, cols, 1, 0, -INFINITY);
	r[last] = NAN;
	r = v + 14 * cols;
	for (size_t j = 0; j < cols; j++)
		r[j] = j % 2 ? 1e30f : -1e30f;
	r = v + 15 * cols;
	for (size_t j = 0; j < cols; j++)
		r[j] = j % 3 ? 0.0f : -100.0f;
	set_lane(v + 16 * cols, cols, 1, 0, 7.25f);
	r = v + 17 * cols;
	for (size_t j = 0; j < cols; j++)
		r[j] = j % 2 ? FLT_MAX : -FLT_MAX;
	r = v + 18 * cols;
	set_lane(r, cols, 16, 11 % cols, NAN);
	r[0] = INFINITY;
	r = v + 19 * cols;
	set_lane(r, cols, 8, 7 % cols, INFINITY);
	set_lane(r, cols, 16, 0, -INFINITY);
	r = v + 20 * cols;
	for (size_t j = 0; j < cols; j++)
		r[j] = -87.0f - (float)(j % 5);
	r[last] = 0.0f;
	r = v + 21 * cols;
	set_lane(r, cols, 8, 0, -INFINITY);
	set_lane(r, cols, 8, 1, NAN);
	return x;
}

static void expect_length_matches(bl_gpu_t *gpu, size_t cols)
{
	bl_tensor_t *x = special_softmax_rows(cols);
	expect_softmax_matches(gpu, x, 1e-4, true);
	bl_tensor_free(&x);

	bl_tensor_t *line = gpu_test_random(BL_DTYPE_F32, 1, &cols, -50, 50);
	expect_softmax_matches(gpu, line, 1e-4, false);
	bl_tensor_free(&line);
}

/* The CPU form over row lengths on both sides of its work-group sizes
 * of 8 and 16, and of 4096, the longest row it takes. Each length is a
 * program of its own, compiled in 1 to 11 s on PoCL, so the lengths are
 * a few around each border rather than every one. */
Test(gpu_softmax, cpu_form_short_rows)
{
	static const size_t lengths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 40};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	for (size_t i = 0; i < COUNT(lengths); i++)
		expect_length_matches(gpu, lengths[i]);
	bl_gpu_close(&gpu);
}

Test(gpu_softmax, cpu_form_long_rows)
{
	static const size_t lengths[] = {255, 256, 257, 512, 513, 1024, 4096, 4097};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	for (size_t i = 0; i < COUNT(lengths); i++)
		expect_length_matches(gpu, lengths[i]);
	bl_gpu_close(&gpu);
}

Test(gpu_softmax, cpu_form_row_counts)
{
	static const size_t lengths[] = {1, 8, 9, 256, 257, 4096};
	static const size_t rows[] = {1, 2, 3, 1000};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	for (size_t i = 0; i < COUNT(lengths); i++) {
		for (size_t r = 0; r < COUNT(rows); r++) {
			bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){rows[r], lengths[i]}, -30, 30);
			expect_softmax_matches(gpu, x, 1e-4, false);
			bl_tensor_free(&x);
		}
	}
	bl_gpu_close(&gpu);
}

/* float64 rows of special values, built from the float32 ones, which
 * take work-groups of 64. */
Test(gpu_softmax, cpu_form_float64_and_int)
{
	static const size_t lengths[] = {1, 63, 64, 65, 200};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the device has no cl_khr_fp64");

	for (size_t i = 0; i < COUNT(lengths); i++) {
		size_t cols = lengths[i];
		bl_tensor_t *narrow = special_softmax_rows(cols);
		bl_tensor_t *wide = gpu_test_random(BL_DTYPE_F64, 2, narrow->shape, -1, 1);
		for (size_t k = 0; k < narrow->count; k++)
			((double *)wide->data)[k] = ((float *)narrow->data)[k];
		expect_softmax_matches(gpu, wide, 1e-12, true);
		bl_tensor_free(&narrow);
		bl_tensor_free(&wide);

		bl_tensor_t *ints = gpu_test_random(BL_DTYPE_I32, 2, (size_t[]){5, cols}, -1000, 1000);
		expect_softmax_matches(gpu, ints, 1e-12, false);
		bl_tensor_free(&ints);
	}
	bl_gpu_close(&gpu);
}
