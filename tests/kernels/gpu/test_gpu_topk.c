#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

/* Select on the device and on the CPU from the same x and compare: the
 * order is total (value, NaN last, then index), so even with ties the
 * indices must be the same, and the values equal. */
static void expect_topk_matches(bl_gpu_t *gpu, const bl_tensor_t *x, size_t k, bool largest, const char *what)
{
	bl_error_t err = {0};
	bl_tensor_t *values = NULL;
	bl_tensor_t *indices = NULL;
	bl_tensor_t *want_values = NULL;
	bl_tensor_t *want_indices = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_topk(launch, &values, &indices, x, k, largest, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_topk returned %d (%s), expected 0", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_topk(&want_values, &want_indices, x, k, largest, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_topk returned %d (%s), expected 0", what, rc, err.message);

	gpu_test_expect_equal(indices, want_indices, what);
	if (x->dtype == BL_DTYPE_F32 || x->dtype == BL_DTYPE_F64)
		gpu_test_expect_close(values, want_values, 0, true, what);
	else
		gpu_test_expect_equal(values, want_values, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&values);
	bl_tensor_free(&indices);
	bl_tensor_free(&want_values);
	bl_tensor_free(&want_indices);
}

/* Random rows (rows x n) of `dtype` in [lo, hi), with k = 1, about half
 * the row, and the whole row. */
static void expect_random_matches(bl_gpu_t *gpu, bl_dtype_t dtype, size_t rows, size_t n, double lo, double hi,
				  bool largest)
{
	bl_tensor_t *x = gpu_test_random(dtype, 2, (size_t[]){rows, n}, lo, hi);
	size_t ks[3] = {1, n / 2 + 1, n};

	for (size_t i = 0; i < 3; i++) {
		char what[128];
		snprintf(what, sizeof what, "%s %zu x %zu, k %zu, largest %d", bl_dtype_name(dtype), rows, n, ks[i],
			 largest);
		expect_topk_matches(gpu, x, ks[i], largest, what);
	}
	bl_tensor_free(&x);
}

static const size_t row_counts[] = {1, 7, 63, 65, 257};
static const size_t row_lengths[] = {1, 5, 33, 130};

#define COUNT(a) (sizeof(a) / sizeof *(a))

Test(gpu_topk, largest_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	for (size_t r = 0; r < COUNT(row_counts); r++)
		for (size_t n = 0; n < COUNT(row_lengths); n++)
			expect_random_matches(gpu, BL_DTYPE_F32, row_counts[r], row_lengths[n], -10, 10, true);
	bl_gpu_close(&gpu);
}

Test(gpu_topk, smallest_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	for (size_t r = 0; r < COUNT(row_counts); r++)
		for (size_t n = 0; n < COUNT(row_lengths); n++)
			expect_random_matches(gpu, BL_DTYPE_F32, row_counts[r], row_lengths[n], -10, 10, false);
	bl_gpu_close(&gpu);
}

/* Values drawn from four integers tie often; ties go to the lower index
 * on both. */
Test(gpu_topk, ties_take_lower_index)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){65, 41}, 0, 4);
	float *v = x->data;
	for (size_t i = 0; i < x->count; i++)
		v[i] = floorf(v[i]);

	expect_topk_matches(gpu, x, 10, true, "ties, largest");
	expect_topk_matches(gpu, x, 10, false, "ties, smallest");
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* NaN ranks after every number whether the largest or the smallest are
 * selected, so it appears only when k reaches it. */
Test(gpu_topk, nan_ranks_last)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){7, 9}, -1, 1);
	float *v = x->data;
	for (size_t i = 0; i < x->count; i += 4)
		v[i] = NAN;

	expect_topk_matches(gpu, x, 3, true, "NaN, largest, k 3");
	expect_topk_matches(gpu, x, 3, false, "NaN, smallest, k 3");
	expect_topk_matches(gpu, x, 9, true, "NaN, largest, whole row");
	expect_topk_matches(gpu, x, 9, false, "NaN, smallest, whole row");
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* A 1-D tensor is one row, and the results are 1-D. */
Test(gpu_topk, one_dimensional_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){257}, -5, 5);
	bl_tensor_t *single = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){1}, -5, 5);

	expect_topk_matches(gpu, x, 1, true, "1-D, k 1");
	expect_topk_matches(gpu, x, 17, false, "1-D, k 17");
	expect_topk_matches(gpu, x, 257, true, "1-D, whole row");
	expect_topk_matches(gpu, single, 1, true, "1 element");
	bl_tensor_free(&x);
	bl_tensor_free(&single);
	bl_gpu_close(&gpu);
}

/* Integer rows keep their dtype; int64 compares as integers, so values
 * that float64 cannot tell apart (beyond 2^53) still rank correctly. */
Test(gpu_topk, integers_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_random_matches(gpu, BL_DTYPE_I32, 65, 33, -20, 20, true);
	expect_random_matches(gpu, BL_DTYPE_I64, 65, 33, -20, 20, false);

	bl_tensor_t *big = gpu_test_random(BL_DTYPE_I64, 1, (size_t[]){6}, 0, 1);
	int64_t *v = big->data;
	int64_t base = INT64_C(1) << 60;
	int64_t values[6] = {base + 1, base + 3, base, base + 2, base + 3, -base};
	memcpy(v, values, sizeof values);
	expect_topk_matches(gpu, big, 6, true, "int64 beyond 2^53, largest");
	expect_topk_matches(gpu, big, 6, false, "int64 beyond 2^53, smallest");
	bl_tensor_free(&big);
	bl_gpu_close(&gpu);
}

Test(gpu_topk, float64_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the OpenCL device has no cl_khr_fp64");
	expect_random_matches(gpu, BL_DTYPE_F64, 63, 33, -1e6, 1e6, true);
	expect_random_matches(gpu, BL_DTYPE_F64, 7, 130, -1e6, 1e6, false);
	bl_gpu_close(&gpu);
}

/* A matrix of no rows gives empty results of k columns. */
Test(gpu_topk, no_rows_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){0, 5}, -1, 1);
	expect_topk_matches(gpu, x, 3, true, "0 x 5, k 3");
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* Compare the device's rejection with the CPU's: same code, same field,
 * and no results set. */
static void expect_rejected_like_cpu(bl_gpu_t *gpu, const bl_tensor_t *x, size_t k, const char *what)
{
	bl_error_t want = {0};
	bl_error_t got = {0};
	bl_tensor_t *values = NULL;
	bl_tensor_t *indices = NULL;
	int want_rc = bl_cpu_topk(&values, &indices, x, k, true, &want);
	cr_assert_lt(want_rc, 0, "%s: the CPU accepted it", what);

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_topk(launch, &values, &indices, x, k, true, &got);

	cr_assert_eq(rc, want_rc, "%s: returned %d, expected %d", what, rc, want_rc);
	cr_assert_str_eq(got.field, want.field, "%s: field '%s', expected '%s'", what, got.field, want.field);
	cr_assert_null(values, "%s: values were set", what);
	cr_assert_null(indices, "%s: indices were set", what);
	bl_gpu_launch_free(&launch);
}

Test(gpu_topk, bad_arguments_rejected)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 4}, -1, 1);
	bl_tensor_t *cube = gpu_test_random(BL_DTYPE_F32, 3, (size_t[]){2, 2, 2}, -1, 1);

	expect_rejected_like_cpu(gpu, x, 0, "k 0");
	expect_rejected_like_cpu(gpu, x, 5, "k 5 above the row length 4");
	expect_rejected_like_cpu(gpu, cube, 1, "3-D x");

	bl_tensor_free(&x);
	bl_tensor_free(&cube);
	bl_gpu_close(&gpu);
}
