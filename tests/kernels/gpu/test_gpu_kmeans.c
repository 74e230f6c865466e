#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

/* Read the 150 x 4 iris measurements from iris.csv, after its shape
 * line "150,4,setosa,versicolor,virginica". */
static bl_tensor_t *read_iris(void)
{
	const char *path = BL_EXAMPLES_DATA "/iris.csv";
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	size_t rows = 0;
	size_t cols = 0;
	cr_assert_eq(fscanf(f, "%zu,%zu,%*s", &rows, &cols), 2, "%s does not start with a shape line", path);
	cr_assert(rows == 150 && cols == 4, "%s is %zu x %zu, expected 150 x 4", path, rows, cols);

	bl_tensor_t *t = NULL;
	cr_assert_eq(bl_tensor_new(&t, BL_DTYPE_F64, 2, (size_t[]){rows, cols}, NULL), 0);
	double *v = t->data;
	for (size_t i = 0; i < rows; i++) {
		int label;
		int got = fscanf(f, "%lf,%lf,%lf,%lf,%d", &v[i * 4], &v[i * 4 + 1], &v[i * 4 + 2], &v[i * 4 + 3], &label);
		cr_assert_eq(got, 5, "row %zu of %s does not hold five fields", i + 1, path);
	}
	fclose(f);
	return t;
}

/* `clusters` blobs of `per_cluster` rows of width d: blob c centred at
 * 100 * c on every axis, with uniform noise in [-1, 1). */
static bl_tensor_t *blobs(bl_dtype_t dtype, size_t clusters, size_t per_cluster, size_t d)
{
	bl_tensor_t *t = gpu_test_random(BL_DTYPE_F64, 2, (size_t[]){clusters * per_cluster, d}, -1, 1);
	double *v = t->data;
	for (size_t i = 0; i < t->count; i++)
		v[i] += 100.0 * (double)(i / d / per_cluster);

	bl_tensor_t *converted = NULL;
	cr_assert_eq(bl_tensor_convert(&converted, t, dtype, NULL), 0);
	bl_tensor_free(&t);
	return converted;
}

/*
 * Cluster x on the device and on the CPU with the same arguments. The
 * labels and the iteration count must be the same, and the inertia and
 * centroids within a relative 1e-4. Returns the device result, owned by
 * the caller.
 */
static bl_kmeans_result_t expect_kmeans_matches(bl_gpu_t *gpu, const bl_tensor_t *x, const bl_kmeans_args_t *args,
						const char *what)
{
	bl_error_t err = {0};
	bl_kmeans_result_t got = {0};
	bl_kmeans_result_t want = {0};

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_kmeans(launch, &got, x, args, NULL, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_kmeans returned %d (%s), expected 0", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_kmeans(&want, x, args, NULL, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_kmeans returned %d (%s), expected 0", what, rc, err.message);

	gpu_test_expect_equal(got.labels, want.labels, what);
	gpu_test_expect_close(got.centroids, want.centroids, 1e-4, false, what);
	cr_assert(fabs(got.inertia - want.inertia) <= 1e-4 * want.inertia, "%s: inertia %.9g, expected %.9g", what,
		  got.inertia, want.inertia);
	cr_assert_eq(got.iterations, want.iterations, "%s: %u iterations, expected %u", what, got.iterations,
		     want.iterations);
	bl_gpu_launch_free(&launch);
	bl_kmeans_result_free(&want);
	return got;
}

/* Iris with k = 3 and ten starts reaches inertia 78.851441 on the CPU,
 * for several seeds; the device reaches the same clustering, in float64
 * and from float32 measurements. */
Test(gpu_kmeans, iris_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x64 = read_iris();
	bl_tensor_t *x32 = NULL;
	cr_assert_eq(bl_tensor_convert(&x32, x64, BL_DTYPE_F32, NULL), 0);
	bool fp64 = bl_gpu_has_fp64(gpu);

	for (uint64_t seed = 0; seed < 5; seed++) {
		bl_kmeans_args_t args = {.k = 3, .max_iterations = 300, .tolerance = 1e-9, .seed = seed, .starts = 10};
		char what[64];
		snprintf(what, sizeof what, "iris float32, seed %llu", (unsigned long long)seed);
		bl_kmeans_result_t r = expect_kmeans_matches(gpu, x32, &args, what);
		cr_assert(fabs(r.inertia - 78.851441) < 1e-4 * 78.851441, "%s: inertia %.9f, expected 78.851441",
			  what, r.inertia);
		bl_kmeans_result_free(&r);
		if (!fp64)
			continue;

		snprintf(what, sizeof what, "iris float64, seed %llu", (unsigned long long)seed);
		r = expect_kmeans_matches(gpu, x64, &args, what);
		cr_assert(fabs(r.inertia - 78.851441) < 1e-4 * 78.851441, "%s: inertia %.9f, expected 78.851441",
			  what, r.inertia);
		bl_kmeans_result_free(&r);
	}
	bl_tensor_free(&x64);
	bl_tensor_free(&x32);
	bl_gpu_close(&gpu);
}

/* Well-separated float32 blobs, with row counts around the 64-item
 * work-group and odd widths. */
Test(gpu_kmeans, blobs_match_cpu)
{
	static const size_t cases[][3] = {{1, 1, 1}, {7, 1, 3}, {3, 21, 5}, {5, 13, 7}, {4, 64, 3}, {2, 129, 9}};
	bl_gpu_t *gpu = gpu_test_open();

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t clusters = cases[i][0];
		bl_tensor_t *x = blobs(BL_DTYPE_F32, clusters, cases[i][1], cases[i][2]);
		bl_kmeans_args_t args = {.k = clusters, .max_iterations = 100, .tolerance = 1e-6, .seed = i, .starts = 3};
		char what[96];
		snprintf(what, sizeof what, "%zu blobs of %zu rows of %zu", clusters, cases[i][1], cases[i][2]);

		bl_kmeans_result_t r = expect_kmeans_matches(gpu, x, &args, what);

		bl_kmeans_result_free(&r);
		bl_tensor_free(&x);
	}
	bl_gpu_close(&gpu);
}

/* More clusters than blobs leave clusters empty during the iterations,
 * which are re-seeded as on the CPU; in float64 the device follows the
 * CPU step for step. */
Test(gpu_kmeans, empty_clusters_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the OpenCL device has no cl_khr_fp64");
	bl_tensor_t *x = blobs(BL_DTYPE_F64, 4, 31, 5);
	bl_kmeans_args_t args = {.k = 7, .max_iterations = 100, .tolerance = 1e-6, .seed = 12345, .starts = 3};

	bl_kmeans_result_t r = expect_kmeans_matches(gpu, x, &args, "7 clusters of 4 blobs");

	bl_kmeans_result_free(&r);
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* With no iterations the result is the seeding's, labelled once. */
Test(gpu_kmeans, no_iterations_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = blobs(BL_DTYPE_F32, 3, 20, 4);
	bl_kmeans_args_t args = {.k = 3, .max_iterations = 0, .tolerance = 0, .seed = 7, .starts = 2};

	bl_kmeans_result_t r = expect_kmeans_matches(gpu, x, &args, "max_iterations 0");

	cr_assert_eq(r.iterations, 0, "%u iterations, expected 0", r.iterations);
	bl_kmeans_result_free(&r);
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* Rows of small integers lie at equal distances from several seeded
 * centroids, which are rows too. float32 represents those distances
 * exactly, so the device must give a tie to the lower centroid index as
 * the CPU does. Without iterations the centroids stay on the seeded rows. */
Test(gpu_kmeans, ties_take_lower_centroid)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){65, 2}, 0, 3);
	float *v = x->data;
	for (size_t i = 0; i < x->count; i++)
		v[i] = floorf(v[i]);

	for (uint64_t seed = 0; seed < 8; seed++) {
		bl_kmeans_args_t args = {.k = 4, .max_iterations = 0, .tolerance = 0, .seed = seed, .starts = 1};
		char what[64];
		snprintf(what, sizeof what, "ties, seed %llu", (unsigned long long)seed);
		bl_kmeans_result_t r = expect_kmeans_matches(gpu, x, &args, what);
		bl_kmeans_result_free(&r);
	}
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* A cancel requested before the run stops it with BL_ECANCELED, either
 * while seeding or at the first host step, and leaves *out unset. */
Test(gpu_kmeans, cancel_stops_work)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = blobs(BL_DTYPE_F32, 3, 20, 4);
	bl_cancel_t cancel = {true};
	static const size_t ks[] = {1, 3};

	for (size_t i = 0; i < 2; i++) {
		bl_kmeans_args_t args = {.k = ks[i], .max_iterations = 10, .tolerance = 0, .seed = 1, .starts = 1};
		bl_kmeans_result_t r = {0};
		bl_error_t err = {0};
		bl_gpu_launch_t *launch = gpu_test_launch(gpu);

		int rc = bl_gpu_kmeans(launch, &r, x, &args, &cancel, &err);
		if (rc == 0)
			rc = bl_gpu_launch_wait(launch, &err);

		cr_assert_eq(rc, BL_ECANCELED, "k %zu: returned %d (%s), expected BL_ECANCELED", ks[i], rc,
			     err.message);
		cr_assert_null(r.centroids, "k %zu: centroids were set", ks[i]);
		cr_assert_null(r.labels, "k %zu: labels were set", ks[i]);
		bl_gpu_launch_free(&launch);
	}
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* Compare the device's rejection with the CPU's: same code, same field,
 * same message. */
static void expect_rejected_like_cpu(bl_gpu_t *gpu, const bl_tensor_t *x, const bl_kmeans_args_t *args,
				     const char *what)
{
	bl_error_t want = {0};
	bl_error_t got = {0};
	bl_kmeans_result_t r = {0};
	int want_rc = bl_cpu_kmeans(&r, x, args, NULL, &want);
	cr_assert_lt(want_rc, 0, "%s: the CPU accepted it", what);

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_kmeans(launch, &r, x, args, NULL, &got);

	cr_assert_eq(rc, want_rc, "%s: returned %d, expected %d", what, rc, want_rc);
	cr_assert_str_eq(got.field, want.field, "%s: field '%s', expected '%s'", what, got.field, want.field);
	cr_assert_str_eq(got.message, want.message, "%s: message '%s', expected '%s'", what, got.message,
			 want.message);
	cr_assert_null(r.centroids, "%s: a result was set", what);
	bl_gpu_launch_free(&launch);
}

Test(gpu_kmeans, bad_arguments_rejected)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){5, 2}, -1, 1);
	bl_tensor_t *vector = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){5}, -1, 1);
	bl_tensor_t *with_nan = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){5, 2}, -1, 1);
	((float *)with_nan->data)[3] = NAN;
	bl_kmeans_args_t ok = {.k = 2, .max_iterations = 10, .tolerance = 0, .seed = 1, .starts = 1};
	bl_kmeans_args_t args;

	expect_rejected_like_cpu(gpu, vector, &ok, "1-D x");
	expect_rejected_like_cpu(gpu, with_nan, &ok, "NaN in x");
	args = ok;
	args.k = 0;
	expect_rejected_like_cpu(gpu, x, &args, "k 0");
	args.k = 6;
	expect_rejected_like_cpu(gpu, x, &args, "k 6 above 5 rows");
	args = ok;
	args.starts = 0;
	expect_rejected_like_cpu(gpu, x, &args, "starts 0");
	args = ok;
	args.tolerance = NAN;
	expect_rejected_like_cpu(gpu, x, &args, "tolerance NaN");
	args.tolerance = -1;
	expect_rejected_like_cpu(gpu, x, &args, "tolerance -1");

	bl_tensor_free(&x);
	bl_tensor_free(&vector);
	bl_tensor_free(&with_nan);
	bl_gpu_close(&gpu);
}
