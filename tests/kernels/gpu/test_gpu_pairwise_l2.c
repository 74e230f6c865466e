#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

/* Compute the distances on the device and on the CPU from the same
 * inputs and compare them; y NULL compares x against itself. Returns the
 * device result, owned by the caller. */
static bl_tensor_t *expect_pairwise_matches(bl_gpu_t *gpu, const bl_tensor_t *x, const bl_tensor_t *y, bool squared,
					    const char *what)
{
	bl_error_t err = {0};
	bl_tensor_t *got = NULL;
	bl_tensor_t *want = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_pairwise_l2(launch, &got, x, y, squared, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_pairwise_l2 returned %d (%s), expected 0", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_pairwise_l2(&want, x, y, squared, NULL, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_pairwise_l2 returned %d (%s), expected 0", what, rc, err.message);

	gpu_test_expect_close(got, want, 1e-4, true, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&want);
	return got;
}

/* Random float32 rows of x (n x d) against y (m x d), squared or not. */
static void expect_random_matches(bl_gpu_t *gpu, size_t n, size_t m, size_t d, bool squared)
{
	char what[128];
	snprintf(what, sizeof what, "%zu x %zu against %zu x %zu, squared %d", n, d, m, d, squared);
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){n, d}, -3, 3);
	bl_tensor_t *y = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){m, d}, -3, 3);

	bl_tensor_t *got = expect_pairwise_matches(gpu, x, y, squared, what);

	bl_tensor_free(&got);
	bl_tensor_free(&x);
	bl_tensor_free(&y);
}

/* Row counts around the 16 x 16 tile and the 64-item work-group, and odd
 * widths that leave the last tile of columns partly filled. */
Test(gpu_pairwise_l2, odd_sizes_match_cpu)
{
	static const size_t rows[] = {1, 7, 63, 65, 257};
	static const size_t widths[] = {1, 3, 17, 33};
	bl_gpu_t *gpu = gpu_test_open();

	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
			size_t other = rows[(i + 2) % (sizeof rows / sizeof *rows)];
			expect_random_matches(gpu, rows[i], other, widths[w], false);
			expect_random_matches(gpu, rows[i], other, widths[w], true);
		}
	}
	bl_gpu_close(&gpu);
}

/* 2000 x 2000 distances: 125 x 125 tiles, width 37. */
Test(gpu_pairwise_l2, large_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_random_matches(gpu, 2000, 2000, 37, false);
	bl_gpu_close(&gpu);
}

/* Without y the result is x against itself: it matches the CPU and is
 * exactly symmetric, as the CPU's is, with zeros on the diagonal. */
Test(gpu_pairwise_l2, self_is_symmetric)
{
	static const size_t rows[] = {1, 7, 65, 257};
	bl_gpu_t *gpu = gpu_test_open();

	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		size_t n = rows[i];
		char what[64];
		snprintf(what, sizeof what, "%zu x 19 against itself", n);
		bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){n, 19}, -3, 3);

		bl_tensor_t *got = expect_pairwise_matches(gpu, x, NULL, false, what);

		const float *v = got->data;
		for (size_t r = 0; r < n; r++) {
			cr_assert_eq(v[r * n + r], 0.0f, "%s: d(%zu, %zu) is %g, expected 0", what, r, r, v[r * n + r]);
			for (size_t c = 0; c < r; c++)
				cr_assert_eq(v[r * n + c], v[c * n + r], "%s: d(%zu, %zu) is %.9g but d(%zu, %zu) is %.9g",
					     what, r, c, v[r * n + c], c, r, v[c * n + r]);
		}
		bl_tensor_free(&got);
		bl_tensor_free(&x);
	}
	bl_gpu_close(&gpu);
}

/* A float64 or an integer input makes the result float64, computed in
 * double precision on a device that has it. */
Test(gpu_pairwise_l2, float64_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the OpenCL device has no cl_khr_fp64");
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F64, 2, (size_t[]){65, 9}, -1e3, 1e3);
	bl_tensor_t *y = gpu_test_random(BL_DTYPE_I32, 2, (size_t[]){30, 9}, -1000, 1000);

	bl_tensor_t *got = expect_pairwise_matches(gpu, x, y, true, "float64 against int32");
	cr_assert_eq(got->dtype, BL_DTYPE_F64, "result is %s, expected float64", bl_dtype_name(got->dtype));

	bl_tensor_free(&got);
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_gpu_close(&gpu);
}

/* A NaN in a row of x makes that row's distances NaN and no others, as on
 * the CPU. */
Test(gpu_pairwise_l2, nan_row_gives_nan)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){20, 5}, -1, 1);
	bl_tensor_t *y = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){17, 5}, -1, 1);
	((float *)x->data)[3 * 5 + 2] = NAN;

	bl_tensor_t *got = expect_pairwise_matches(gpu, x, y, false, "a NaN in row 3 of x");

	for (size_t j = 0; j < 17; j++)
		cr_assert(isnan(bl_tensor_get(got, 3 * 17 + j)), "d(3, %zu) is %g, expected NaN", j,
			  bl_tensor_get(got, 3 * 17 + j));
	bl_tensor_free(&got);
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_gpu_close(&gpu);
}

/* No rows on either side gives an empty result; rows of width 0 are all
 * at distance 0. */
Test(gpu_pairwise_l2, empty_inputs_match_cpu)
{
	static const size_t cases[][3] = {{0, 5, 3}, {5, 0, 3}, {0, 0, 3}, {4, 6, 0}};
	bl_gpu_t *gpu = gpu_test_open();

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_random_matches(gpu, cases[i][0], cases[i][1], cases[i][2], false);
	bl_gpu_close(&gpu);
}

/* Compare the device's rejection of x and y with the CPU's: same code,
 * same field. */
static void expect_rejected_like_cpu(bl_gpu_t *gpu, const bl_tensor_t *x, const bl_tensor_t *y, const char *what)
{
	bl_error_t want = {0};
	bl_error_t got = {0};
	bl_tensor_t *out = NULL;
	int want_rc = bl_cpu_pairwise_l2(&out, x, y, false, NULL, &want);
	cr_assert_lt(want_rc, 0, "%s: the CPU accepted it", what);

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_pairwise_l2(launch, &out, x, y, false, &got);

	cr_assert_eq(rc, want_rc, "%s: returned %d, expected %d", what, rc, want_rc);
	cr_assert_str_eq(got.field, want.field, "%s: field '%s', expected '%s'", what, got.field, want.field);
	cr_assert_null(out, "%s: a result was set", what);
	bl_gpu_launch_free(&launch);
}

Test(gpu_pairwise_l2, bad_shapes_rejected)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *vector = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){4}, -1, 1);
	bl_tensor_t *cube = gpu_test_random(BL_DTYPE_F32, 3, (size_t[]){2, 2, 2}, -1, 1);
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 4}, -1, 1);
	bl_tensor_t *narrow = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 5}, -1, 1);

	expect_rejected_like_cpu(gpu, vector, NULL, "1-D x");
	expect_rejected_like_cpu(gpu, x, cube, "3-D y");
	expect_rejected_like_cpu(gpu, x, narrow, "widths 4 and 5");

	bl_tensor_free(&vector);
	bl_tensor_free(&cube);
	bl_tensor_free(&x);
	bl_tensor_free(&narrow);
	bl_gpu_close(&gpu);
}
