#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include <beamline/kernels.h>

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* xorshift64*: a fixed seed gives the same inputs on every run. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * UINT64_C(2685821657736338717);
}

static double next_uniform(uint64_t *state, double lo, double hi)
{
	return lo + (hi - lo) * (double)(next_random(state) >> 11) * 0x1.0p-53;
}

static bl_tensor_t *new_matrix(bl_dtype_t dtype, size_t rows, size_t cols)
{
	size_t shape[2] = {rows, cols};
	bl_tensor_t *t = NULL;
	int rc = bl_tensor_new(&t, dtype, 2, shape, NULL);
	cr_assert_eq(rc, 0, "bl_tensor_new(%zu x %zu) returned %d, expected 0", rows, cols, rc);
	return t;
}

/*
 * Build `clusters` blobs of `per_cluster` rows of width d: blob c is
 * centred at 100 * c on every axis, with uniform noise of +-spread. A
 * spread far below 100 makes the blobs unmistakable.
 */
static bl_tensor_t *blobs(size_t clusters, size_t per_cluster, size_t d, double spread, uint64_t seed)
{
	bl_tensor_t *t = new_matrix(BL_DTYPE_F64, clusters * per_cluster, d);
	double *v = t->data;
	uint64_t state = seed;
	for (size_t i = 0; i < clusters * per_cluster; i++) {
		for (size_t j = 0; j < d; j++)
			v[i * d + j] = 100.0 * (double)(i / per_cluster) + next_uniform(&state, -spread, spread);
	}
	return t;
}

/* Read the iris measurements from iris.csv: a shape line
 * "150,4,setosa,versicolor,virginica", then four numbers and a label per
 * row. */
static bl_tensor_t *read_iris(void)
{
	const char *path = BL_EXAMPLES_DATA "/iris.csv";
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	size_t rows = 0;
	size_t cols = 0;
	cr_assert_eq(fscanf(f, "%zu,%zu,%*s", &rows, &cols), 2, "%s does not start with a shape line", path);
	cr_assert_eq(rows, 150, "%s has %zu rows, expected 150", path, rows);
	cr_assert_eq(cols, 4, "%s has %zu columns, expected 4", path, cols);

	bl_tensor_t *t = new_matrix(BL_DTYPE_F64, rows, cols);
	double *v = t->data;
	for (size_t i = 0; i < rows; i++) {
		int label;
		int got = fscanf(f, "%lf,%lf,%lf,%lf,%d", &v[i * 4], &v[i * 4 + 1], &v[i * 4 + 2], &v[i * 4 + 3], &label);
		cr_assert_eq(got, 5, "row %zu of %s does not hold five fields", i + 1, path);
	}
	fclose(f);
	return t;
}

static bl_kmeans_result_t kmeans_ok(const bl_tensor_t *x, const bl_kmeans_args_t *args)
{
	bl_kmeans_result_t r = {0};
	bl_error_t err = {0};
	int rc = bl_cpu_kmeans(&r, x, args, NULL, &err);
	cr_assert_eq(rc, 0, "bl_cpu_kmeans returned %d (%s), expected 0", rc, err.message);
	cr_assert_eq(r.centroids->dtype, BL_DTYPE_F64, "centroids are %s, expected float64",
		     bl_dtype_name(r.centroids->dtype));
	cr_assert_eq(r.centroids->shape[0], args->k, "%zu centroids, expected k = %zu", r.centroids->shape[0],
		     args->k);
	cr_assert_eq(r.centroids->shape[1], x->shape[1], "centroids of width %zu, expected %zu",
		     r.centroids->shape[1], x->shape[1]);
	cr_assert_eq(r.labels->dtype, BL_DTYPE_I64, "labels are %s, expected int64", bl_dtype_name(r.labels->dtype));
	cr_assert_eq(r.labels->count, x->shape[0], "%zu labels, expected %zu", r.labels->count, x->shape[0]);
	return r;
}

/*
 * Check that each label names a nearest centroid (a tie may name either),
 * and that the inertia is the sum of squared distances to the labelled
 * centroids, both recomputed here in long double.
 */
static void check_consistent(const bl_kmeans_result_t *r, const bl_tensor_t *x)
{
	size_t n = x->shape[0];
	size_t d = x->shape[1];
	size_t k = r->centroids->shape[0];
	const double *c = r->centroids->data;
	const int64_t *labels = r->labels->data;
	long double inertia = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert(labels[i] >= 0 && (size_t)labels[i] < k, "label %lld of row %zu is outside [0, %zu)",
			  (long long)labels[i], i, k);
		long double best = INFINITY;
		long double own = 0;
		for (size_t j = 0; j < k; j++) {
			long double s = 0;
			for (size_t a = 0; a < d; a++) {
				long double diff = (long double)bl_tensor_get(x, i * d + a) - c[j * d + a];
				s += diff * diff;
			}
			if (s < best)
				best = s;
			if ((int64_t)j == labels[i])
				own = s;
		}
		cr_assert(own <= best * (1 + 1e-12L) + 1e-300L,
			  "row %zu is labelled %lld at squared distance %Lg, but a centroid is at %Lg", i,
			  (long long)labels[i], own, best);
		inertia += own;
	}
	cr_assert(fabs(r->inertia - (double)inertia) <= 1e-9 * (double)inertia + 1e-12,
		  "inertia is %.17g, expected %.17Lg", r->inertia, inertia);
}

/* ------------------------------------------------------------------------ */
/* Reference data                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Iris with k = 3 and ten starts reaches the published optimum: inertia
 * 78.851441 and centroids (5.006, 3.428, 1.462, 0.246), (5.9016, 2.7484,
 * 4.3935, 1.4339), (6.85, 3.0737, 5.7421, 2.0711), given to the digits
 * shown (examples/data/SOURCE.md). Several seeds are tried, since the
 * figure must not depend on a lucky one.
 */
Test(kernels_kmeans, iris_reaches_reference_inertia)
{
	static const double published[3][4] = {
		{5.006, 3.428, 1.462, 0.246},
		{5.9016, 2.7484, 4.3935, 1.4339},
		{6.85, 3.0737, 5.7421, 2.0711},
	};
	bl_tensor_t *x = read_iris();

	for (uint64_t seed = 0; seed < 5; seed++) {
		bl_kmeans_args_t args = {.k = 3, .max_iterations = 300, .tolerance = 1e-9, .seed = seed, .starts = 10};
		bl_kmeans_result_t r = kmeans_ok(x, &args);

		cr_assert(fabs(r.inertia - 78.851441) < 1e-4, "seed %llu: inertia %.9f, expected 78.851441 within 1e-4",
			  (unsigned long long)seed, r.inertia);
		check_consistent(&r, x);
		const double *c = r.centroids->data;
		for (size_t p = 0; p < 3; p++) {
			bool matched = false;
			for (size_t j = 0; j < 3 && !matched; j++) {
				matched = true;
				for (size_t a = 0; a < 4; a++)
					matched = matched && fabs(c[j * 4 + a] - published[p][a]) < 1e-4;
			}
			cr_assert(matched, "seed %llu: no centroid matches the published (%g, %g, %g, %g)",
				  (unsigned long long)seed, published[p][0], published[p][1], published[p][2],
				  published[p][3]);
		}
		bl_kmeans_result_free(&r);
	}
	bl_tensor_free(&x);
}

/* ------------------------------------------------------------------------ */
/* Behaviour                                                                 */
/* ------------------------------------------------------------------------ */

/* The same seed gives bit-identical centroids, labels, inertia and
 * iteration count. */
Test(kernels_kmeans, same_seed_same_result)
{
	bl_tensor_t *x = blobs(4, 31, 5, 60, 3);
	bl_kmeans_args_t args = {.k = 7, .max_iterations = 100, .tolerance = 1e-6, .seed = 12345, .starts = 3};

	bl_kmeans_result_t a = kmeans_ok(x, &args);
	bl_kmeans_result_t b = kmeans_ok(x, &args);

	cr_assert_eq(memcmp(a.centroids->data, b.centroids->data, a.centroids->nbytes), 0, "centroids differ");
	cr_assert_eq(memcmp(a.labels->data, b.labels->data, a.labels->nbytes), 0, "labels differ");
	cr_assert_eq(a.inertia, b.inertia, "inertia %.17g, then %.17g", a.inertia, b.inertia);
	cr_assert_eq(a.iterations, b.iterations, "%u iterations, then %u", a.iterations, b.iterations);
	bl_kmeans_result_free(&a);
	bl_kmeans_result_free(&b);
	bl_tensor_free(&x);
}

/* Labels name the nearest centroid and the inertia adds up, on random
 * data of awkward sizes and widths. Runs cut short after 1 or 2
 * iterations, whose centroids moved in the last update, must describe
 * the final centroids too. */
Test(kernels_kmeans, labels_and_inertia_consistent)
{
	static const size_t sizes[][3] = {{1, 1, 1}, {7, 3, 2}, {127, 5, 7}, {1031, 13, 3}};
	static const unsigned limits[] = {1, 2, 50};

	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		bl_tensor_t *x = new_matrix(BL_DTYPE_F64, sizes[s][0], sizes[s][2]);
		uint64_t state = 17 + s;
		for (size_t i = 0; i < x->count; i++)
			((double *)x->data)[i] = next_uniform(&state, -1, 1);
		size_t k = sizes[s][1] < sizes[s][0] ? sizes[s][1] : sizes[s][0];
		for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
			bl_kmeans_args_t args = {.k = k, .max_iterations = limits[l], .tolerance = 0, .seed = s,
						 .starts = 2};

			bl_kmeans_result_t r = kmeans_ok(x, &args);

			check_consistent(&r, x);
			cr_assert(r.iterations <= limits[l], "%u iterations, at most %u allowed", r.iterations,
				  limits[l]);
			bl_kmeans_result_free(&r);
		}
		bl_tensor_free(&x);
	}
}

/* Three tight, distant blobs come out as three clusters, one per blob. */
Test(kernels_kmeans, separated_blobs_recovered)
{
	bl_tensor_t *x = blobs(3, 40, 2, 1, 8);
	bl_kmeans_args_t args = {.k = 3, .max_iterations = 100, .tolerance = 0, .seed = 1, .starts = 1};

	bl_kmeans_result_t r = kmeans_ok(x, &args);

	const int64_t *labels = r.labels->data;
	for (size_t blob = 0; blob < 3; blob++) {
		for (size_t i = 1; i < 40; i++)
			cr_assert_eq(labels[blob * 40 + i], labels[blob * 40], "blob %zu is split at row %zu", blob, i);
		for (size_t other = 0; other < blob; other++)
			cr_assert_neq(labels[blob * 40], labels[other * 40], "blobs %zu and %zu share label %lld", blob,
				      other, (long long)labels[blob * 40]);
	}
	check_consistent(&r, x);
	bl_kmeans_result_free(&r);
	bl_tensor_free(&x);
}

/* With k = n every row is its own centroid and the inertia is 0. */
Test(kernels_kmeans, k_equals_n_gives_zero_inertia)
{
	bl_tensor_t *x = blobs(1, 7, 3, 5, 4);
	bl_kmeans_args_t args = {.k = 7, .max_iterations = 10, .tolerance = 0, .seed = 9, .starts = 1};

	bl_kmeans_result_t r = kmeans_ok(x, &args);

	cr_assert_eq(r.inertia, 0.0, "inertia %g, expected 0", r.inertia);
	bl_kmeans_result_free(&r);
	bl_tensor_free(&x);
}

/* With k = 1 the centroid is the mean of the rows. */
Test(kernels_kmeans, k_one_gives_mean)
{
	bl_tensor_t *x = blobs(3, 17, 4, 30, 6);
	bl_kmeans_args_t args = {.k = 1, .max_iterations = 10, .tolerance = 0, .seed = 2, .starts = 1};

	bl_kmeans_result_t r = kmeans_ok(x, &args);

	for (size_t a = 0; a < 4; a++) {
		double mean = 0;
		for (size_t i = 0; i < 51; i++)
			mean += bl_tensor_get(x, i * 4 + a);
		mean /= 51;
		double got = ((double *)r.centroids->data)[a];
		cr_assert(fabs(got - mean) < 1e-10, "centroid axis %zu is %.17g, expected the mean %.17g", a, got,
			  mean);
	}
	check_consistent(&r, x);
	bl_kmeans_result_free(&r);
	bl_tensor_free(&x);
}

/* The first of ten starts is the single start of the same seed, so ten
 * starts never end worse than one. */
Test(kernels_kmeans, more_starts_never_worse)
{
	bl_tensor_t *x = blobs(5, 20, 3, 80, 11);

	for (uint64_t seed = 0; seed < 10; seed++) {
		bl_kmeans_args_t one = {.k = 5, .max_iterations = 100, .tolerance = 0, .seed = seed, .starts = 1};
		bl_kmeans_args_t ten = one;
		ten.starts = 10;

		bl_kmeans_result_t a = kmeans_ok(x, &one);
		bl_kmeans_result_t b = kmeans_ok(x, &ten);

		cr_assert(b.inertia <= a.inertia, "seed %llu: ten starts gave %.17g, one start %.17g",
			  (unsigned long long)seed, b.inertia, a.inertia);
		bl_kmeans_result_free(&a);
		bl_kmeans_result_free(&b);
	}
	bl_tensor_free(&x);
}

/*
 * Fewer distinct rows than k: {0, 0, 0, 0, 10} with k = 3. Seeding must
 * then pick a row that already has a centroid, the duplicate centroid
 * gets no rows, and the empty cluster is re-seeded rather than averaged
 * over nothing, which would give NaN. Every seed ends with finite
 * centroids and inertia 0.
 */
Test(kernels_kmeans, duplicate_rows_keep_centroids_finite)
{
	bl_tensor_t *x = new_matrix(BL_DTYPE_F64, 5, 1);
	((double *)x->data)[4] = 10;

	for (uint64_t seed = 0; seed < 20; seed++) {
		bl_kmeans_args_t args = {.k = 3, .max_iterations = 20, .tolerance = 0, .seed = seed, .starts = 1};
		bl_kmeans_result_t r = kmeans_ok(x, &args);

		for (size_t j = 0; j < 3; j++)
			cr_assert(isfinite(((double *)r.centroids->data)[j]), "seed %llu: centroid %zu is %g",
				  (unsigned long long)seed, j, ((double *)r.centroids->data)[j]);
		cr_assert_eq(r.inertia, 0.0, "seed %llu: inertia %g, expected 0", (unsigned long long)seed, r.inertia);
		check_consistent(&r, x);
		bl_kmeans_result_free(&r);
	}
	bl_tensor_free(&x);
}

/* max_iterations 0 keeps the k-means++ seeds, which are rows of x, and
 * still labels every row. */
Test(kernels_kmeans, zero_iterations_keeps_seeds)
{
	bl_tensor_t *x = blobs(2, 13, 3, 40, 5);
	bl_kmeans_args_t args = {.k = 4, .max_iterations = 0, .tolerance = 0, .seed = 3, .starts = 1};

	bl_kmeans_result_t r = kmeans_ok(x, &args);

	cr_assert_eq(r.iterations, 0, "%u iterations, expected 0", r.iterations);
	const double *c = r.centroids->data;
	for (size_t j = 0; j < 4; j++) {
		bool is_row = false;
		for (size_t i = 0; i < 26 && !is_row; i++)
			is_row = memcmp(&c[j * 3], (const double *)x->data + i * 3, 3 * sizeof(double)) == 0;
		cr_assert(is_row, "centroid %zu is not a row of x", j);
	}
	check_consistent(&r, x);
	bl_kmeans_result_free(&r);
	bl_tensor_free(&x);
}

/* Float32 input is widened exactly, so it gives the same result as the
 * same values in float64. */
Test(kernels_kmeans, float32_matches_float64)
{
	bl_tensor_t *x64 = blobs(3, 19, 2, 50, 21);
	bl_tensor_t *x32 = new_matrix(BL_DTYPE_F32, 57, 2);
	for (size_t i = 0; i < x64->count; i++) {
		((float *)x32->data)[i] = (float)((double *)x64->data)[i];
		((double *)x64->data)[i] = ((float *)x32->data)[i];
	}
	bl_kmeans_args_t args = {.k = 3, .max_iterations = 100, .tolerance = 0, .seed = 5, .starts = 2};

	bl_kmeans_result_t a = kmeans_ok(x64, &args);
	bl_kmeans_result_t b = kmeans_ok(x32, &args);

	cr_assert_eq(a.inertia, b.inertia, "float64 inertia %.17g, float32 %.17g", a.inertia, b.inertia);
	cr_assert_eq(memcmp(a.labels->data, b.labels->data, a.labels->nbytes), 0, "labels differ");
	bl_kmeans_result_free(&a);
	bl_kmeans_result_free(&b);
	bl_tensor_free(&x64);
	bl_tensor_free(&x32);
}

/* A cancel already requested stops the work with BL_ECANCELED and leaves
 * the result untouched. */
Test(kernels_kmeans, cancel_stops_work)
{
	bl_tensor_t *x = blobs(2, 50, 2, 10, 1);
	bl_kmeans_args_t args = {.k = 2, .max_iterations = 100, .tolerance = 0, .seed = 1, .starts = 5};
	bl_cancel_t cancel;
	atomic_init(&cancel.requested, true);
	bl_kmeans_result_t r = {0};
	bl_error_t err = {0};

	int rc = bl_cpu_kmeans(&r, x, &args, &cancel, &err);

	cr_assert_eq(rc, BL_ECANCELED, "returned %d, expected BL_ECANCELED", rc);
	cr_assert_eq(err.code, BL_ECANCELED, "err.code is %d, expected BL_ECANCELED", err.code);
	cr_assert_null(r.centroids, "centroids were written on cancel");
	cr_assert_null(r.labels, "labels were written on cancel");
	bl_tensor_free(&x);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

static void expect_error(const bl_tensor_t *x, const bl_kmeans_args_t *args, const char *field, const char *needle)
{
	bl_kmeans_result_t r = {0};
	bl_error_t err = {0};

	int rc = bl_cpu_kmeans(&r, x, args, NULL, &err);

	cr_assert_eq(rc, BL_EINVAL, "returned %d, expected BL_EINVAL (%s)", rc, needle);
	cr_assert_str_eq(err.field, field, "err.field is \"%s\", expected \"%s\"", err.field, field);
	cr_assert(strstr(err.message, needle), "message \"%s\" does not mention \"%s\"", err.message, needle);
	cr_assert_null(r.centroids, "centroids were written on failure");
}

/* k outside 1..n, no starts, a negative or NaN tolerance, and x that is
 * not a matrix of finite numbers are rejected. */
Test(kernels_kmeans, bad_arguments_rejected)
{
	bl_tensor_t *x = blobs(1, 5, 2, 1, 1);
	bl_kmeans_args_t good = {.k = 2, .max_iterations = 10, .tolerance = 0, .seed = 1, .starts = 1};
	bl_kmeans_args_t args = good;

	args.k = 0;
	expect_error(x, &args, "k", "k is 0");
	args.k = 6;
	expect_error(x, &args, "k", "k is 6");

	args = good;
	args.starts = 0;
	expect_error(x, &args, "starts", "starts is 0");

	args = good;
	args.tolerance = -1;
	expect_error(x, &args, "tolerance", "-1");
	args.tolerance = NAN;
	expect_error(x, &args, "tolerance", "nan");

	((double *)x->data)[7] = NAN;
	expect_error(x, &good, "x", "x[3][1]");
	((double *)x->data)[7] = -INFINITY;
	expect_error(x, &good, "x", "x[3][1]");

	size_t n = 5;
	bl_tensor_t *vector = NULL;
	cr_assert_eq(bl_tensor_new(&vector, BL_DTYPE_F64, 1, &n, NULL), 0, "could not allocate a vector");
	expect_error(vector, &good, "x", "1-D");
	bl_tensor_free(&x);
	bl_tensor_free(&vector);
}
