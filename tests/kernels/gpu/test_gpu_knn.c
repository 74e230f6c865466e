#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gpu_test.h"

#define DIGITS_ROWS 1797u
#define DIGITS_TRAIN 1617u

/* Read digits.csv.gz: per line 64 pixel values (0 to 16), then the
 * label. Pixels go to *x (float32, 1797 x 64), labels to *y (int64). */
static void read_digits(bl_tensor_t **x, bl_tensor_t **y)
{
	const char *path = BL_EXAMPLES_DATA "/digits.csv.gz";
	gzFile f = gzopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(bl_tensor_new(x, BL_DTYPE_F32, 2, (size_t[]){DIGITS_ROWS, 64}, NULL), 0);
	cr_assert_eq(bl_tensor_new(y, BL_DTYPE_I64, 1, (size_t[]){DIGITS_ROWS}, NULL), 0);
	float *pixels = (*x)->data;
	int64_t *labels = (*y)->data;

	char line[1024];
	for (size_t r = 0; r < DIGITS_ROWS; r++) {
		cr_assert_not_null(gzgets(f, line, sizeof line), "%s ends after %zu rows", path, r);
		char *p = line;
		for (size_t c = 0; c <= 64; c++) {
			char *end;
			long v = strtol(p, &end, 10);
			cr_assert(end != p, "%s row %zu field %zu is not an integer", path, r + 1, c + 1);
			if (c < 64)
				pixels[r * 64 + c] = (float)v;
			else
				labels[r] = v;
			p = end + 1;
		}
	}
	gzclose(f);
}

/* Classify on the device and on the CPU from the same inputs. Returns
 * the device predictions, which must equal the CPU's, owned by the
 * caller. */
static bl_tensor_t *expect_knn_matches(bl_gpu_t *gpu, const bl_tensor_t *train_x, const bl_tensor_t *train_y,
				       const bl_tensor_t *test_x, size_t k, const char *what)
{
	bl_error_t err = {0};
	bl_tensor_t *got = NULL;
	bl_tensor_t *want = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_knn(launch, &got, train_x, train_y, test_x, k, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_knn returned %d (%s), expected 0", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_knn(&want, train_x, train_y, test_x, k, NULL, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_knn returned %d (%s), expected 0", what, rc, err.message);

	gpu_test_expect_equal(got, want, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&want);
	return got;
}

/*
 * Digits with k = 5, trained on the first 1,617 rows and tested on the
 * last 180, in float32: the CPU classifies 173 correctly, and the device
 * makes the same 180 predictions.
 */
Test(gpu_knn, digits_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x;
	bl_tensor_t *y;
	read_digits(&x, &y);
	bl_tensor_t *train_x = NULL;
	bl_tensor_t *test_x = NULL;
	bl_tensor_t *train_y = NULL;
	cr_assert_eq(bl_tensor_slice(&train_x, x, 0, DIGITS_TRAIN, 0, 64, NULL), 0);
	cr_assert_eq(bl_tensor_slice(&test_x, x, DIGITS_TRAIN, DIGITS_ROWS, 0, 64, NULL), 0);
	cr_assert_eq(bl_tensor_slice(&train_y, y, 0, DIGITS_TRAIN, 0, 1, NULL), 0);

	bl_tensor_t *got = expect_knn_matches(gpu, train_x, train_y, test_x, 5, "digits, k 5");

	const int64_t *truth = (const int64_t *)y->data + DIGITS_TRAIN;
	const int64_t *predicted = got->data;
	size_t correct = 0;
	for (size_t i = 0; i < DIGITS_ROWS - DIGITS_TRAIN; i++)
		correct += predicted[i] == truth[i];
	cr_assert_eq(correct, 173, "%zu of 180 correct, expected 173", correct);
	bl_tensor_free(&got);
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&train_y);
	bl_gpu_close(&gpu);
}

/* Features and labels drawn from a few small integers, so that distance
 * ties and vote ties are common. float32 represents these distances
 * exactly, so the device must break every tie as the CPU does. */
static void expect_random_matches(bl_gpu_t *gpu, bl_dtype_t dtype, size_t n, size_t m, size_t d, size_t k)
{
	char what[128];
	snprintf(what, sizeof what, "%s, %zu training and %zu test rows of %zu, k %zu", bl_dtype_name(dtype), n, m,
		 d, k);
	bl_tensor_t *train_x = gpu_test_random(BL_DTYPE_I32, 2, (size_t[]){n, d}, 0, 4);
	bl_tensor_t *test_x = gpu_test_random(BL_DTYPE_I32, 2, (size_t[]){m, d}, 0, 4);
	bl_tensor_t *train_y = gpu_test_random(BL_DTYPE_I64, 1, (size_t[]){n}, 0, 3);
	bl_tensor_t *train_conv = NULL;
	bl_tensor_t *test_conv = NULL;
	cr_assert_eq(bl_tensor_convert(&train_conv, train_x, dtype, NULL), 0);
	cr_assert_eq(bl_tensor_convert(&test_conv, test_x, dtype, NULL), 0);

	bl_tensor_t *got = expect_knn_matches(gpu, train_conv, train_y, test_conv, k, what);

	bl_tensor_free(&got);
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&train_y);
	bl_tensor_free(&train_conv);
	bl_tensor_free(&test_conv);
}

/* Test rows around the 64-item work-group, k from 1 to every training
 * row. */
Test(gpu_knn, random_ties_match_cpu)
{
	static const size_t tests[] = {1, 7, 63, 65, 257};
	static const size_t trains[][2] = {{1, 1}, {9, 3}, {63, 5}, {257, 7}, {40, 40}};
	bl_gpu_t *gpu = gpu_test_open();

	for (size_t t = 0; t < sizeof tests / sizeof *tests; t++)
		for (size_t i = 0; i < sizeof trains / sizeof *trains; i++)
			expect_random_matches(gpu, BL_DTYPE_F32, trains[i][0], tests[t], 3, trains[i][1]);
	bl_gpu_close(&gpu);
}

/* Float64 and int32 features compute in double precision; int32 labels
 * are read as the CPU reads them. */
Test(gpu_knn, float64_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the OpenCL device has no cl_khr_fp64");
	expect_random_matches(gpu, BL_DTYPE_F64, 100, 65, 5, 7);
	expect_random_matches(gpu, BL_DTYPE_I32, 33, 7, 2, 4);

	bl_tensor_t *train_x = gpu_test_random(BL_DTYPE_F64, 2, (size_t[]){50, 4}, -1, 1);
	bl_tensor_t *test_x = gpu_test_random(BL_DTYPE_F64, 2, (size_t[]){20, 4}, -1, 1);
	bl_tensor_t *train_y = gpu_test_random(BL_DTYPE_I32, 1, (size_t[]){50}, -5, 5);
	bl_tensor_t *got = expect_knn_matches(gpu, train_x, train_y, test_x, 3, "int32 labels");
	bl_tensor_free(&got);
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&train_y);
	bl_gpu_close(&gpu);
}

/* No test rows give no predictions; rows of width 0 are all at distance
 * 0, so the k lowest training indices vote. */
Test(gpu_knn, empty_inputs_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_random_matches(gpu, BL_DTYPE_F32, 10, 0, 3, 3);
	expect_random_matches(gpu, BL_DTYPE_F32, 10, 6, 0, 3);
	bl_gpu_close(&gpu);
}

/* Compare the device's rejection with the CPU's: same code, same field,
 * and no predictions set. */
static void expect_rejected_like_cpu(bl_gpu_t *gpu, const bl_tensor_t *train_x, const bl_tensor_t *train_y,
				     const bl_tensor_t *test_x, size_t k, const char *what)
{
	bl_error_t want = {0};
	bl_error_t got = {0};
	bl_tensor_t *out = NULL;
	int want_rc = bl_cpu_knn(&out, train_x, train_y, test_x, k, NULL, &want);
	cr_assert_lt(want_rc, 0, "%s: the CPU accepted it", what);

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_knn(launch, &out, train_x, train_y, test_x, k, &got);

	cr_assert_eq(rc, want_rc, "%s: returned %d, expected %d", what, rc, want_rc);
	cr_assert_str_eq(got.field, want.field, "%s: field '%s', expected '%s'", what, got.field, want.field);
	cr_assert_str_eq(got.message, want.message, "%s: message '%s', expected '%s'", what, got.message,
			 want.message);
	cr_assert_null(out, "%s: predictions were set", what);
	bl_gpu_launch_free(&launch);
}

Test(gpu_knn, bad_arguments_rejected)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *train_x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){6, 3}, -1, 1);
	bl_tensor_t *train_y = gpu_test_random(BL_DTYPE_I64, 1, (size_t[]){6}, 0, 3);
	bl_tensor_t *test_x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){4, 3}, -1, 1);
	bl_tensor_t *wide = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){4, 5}, -1, 1);
	bl_tensor_t *float_y = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){6}, 0, 3);
	bl_tensor_t *short_y = gpu_test_random(BL_DTYPE_I64, 1, (size_t[]){5}, 0, 3);
	bl_tensor_t *vector = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){3}, -1, 1);
	bl_tensor_t *infinite = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){4, 3}, -1, 1);
	((float *)infinite->data)[7] = INFINITY;

	expect_rejected_like_cpu(gpu, train_x, train_y, test_x, 0, "k 0");
	expect_rejected_like_cpu(gpu, train_x, train_y, test_x, 7, "k 7 above 6 rows");
	expect_rejected_like_cpu(gpu, train_x, train_y, wide, 1, "widths 3 and 5");
	expect_rejected_like_cpu(gpu, train_x, float_y, test_x, 1, "float32 labels");
	expect_rejected_like_cpu(gpu, train_x, short_y, test_x, 1, "5 labels for 6 rows");
	expect_rejected_like_cpu(gpu, vector, train_y, test_x, 1, "1-D train_x");
	expect_rejected_like_cpu(gpu, train_x, train_y, infinite, 1, "infinite feature");

	bl_tensor_free(&train_x);
	bl_tensor_free(&train_y);
	bl_tensor_free(&test_x);
	bl_tensor_free(&wide);
	bl_tensor_free(&float_y);
	bl_tensor_free(&short_y);
	bl_tensor_free(&vector);
	bl_tensor_free(&infinite);
	bl_gpu_close(&gpu);
}
