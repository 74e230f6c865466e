#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <zlib.h>

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

static bl_tensor_t *new_tensor(bl_dtype_t dtype, unsigned ndim, const size_t *shape)
{
	bl_tensor_t *t = NULL;
	int rc = bl_tensor_new(&t, dtype, ndim, shape, NULL);
	cr_assert_eq(rc, 0, "bl_tensor_new returned %d, expected 0", rc);
	return t;
}

static bl_tensor_t *new_matrix(bl_dtype_t dtype, size_t rows, size_t cols)
{
	size_t shape[2] = {rows, cols};
	return new_tensor(dtype, 2, shape);
}

static bl_tensor_t *labels_of(const int64_t *values, size_t n)
{
	bl_tensor_t *t = new_tensor(BL_DTYPE_I64, 1, &n);
	memcpy(t->data, values, n * sizeof *values);
	return t;
}

/*
 * Read digits.csv.gz, the published table: one line per image, 64 pixel
 * values (0 to 16) then the label, no header line. Pixels go to *x
 * (float32, 1797 x 64) and labels to *y (int64, 1797).
 */
static void read_digits(bl_tensor_t **x, bl_tensor_t **y)
{
	const char *path = BL_EXAMPLES_DATA "/digits.csv.gz";
	gzFile f = gzopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	size_t rows = 1797;
	*x = new_matrix(BL_DTYPE_F32, rows, 64);
	*y = new_tensor(BL_DTYPE_I64, 1, &rows);
	float *pixels = (*x)->data;
	int64_t *labels = (*y)->data;

	char line[1024];
	for (size_t r = 0; r < rows; r++) {
		cr_assert_not_null(gzgets(f, line, sizeof line), "%s ends after %zu rows, expected 1797", path, r);
		char *p = line;
		for (size_t c = 0; c < 65; c++) {
			char *end;
			long v = strtol(p, &end, 10);
			cr_assert(end != p && (*end == (c < 64 ? ',' : '\n') || (c == 64 && *end == '\0')),
				  "%s row %zu field %zu is not an integer", path, r + 1, c + 1);
			if (c < 64)
				pixels[r * 64 + c] = (float)v;
			else
				labels[r] = v;
			p = end + 1;
		}
	}
	cr_assert_null(gzgets(f, line, sizeof line), "%s has more than 1797 rows", path);
	gzclose(f);
}

static bl_tensor_t *knn_ok(const bl_tensor_t *train_x, const bl_tensor_t *train_y, const bl_tensor_t *test_x,
			   size_t k)
{
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};
	int rc = bl_cpu_knn(&out, train_x, train_y, test_x, k, NULL, &err);
	cr_assert_eq(rc, 0, "bl_cpu_knn returned %d (%s), expected 0", rc, err.message);
	cr_assert_eq(out->dtype, BL_DTYPE_I64, "predictions are %s, expected int64", bl_dtype_name(out->dtype));
	cr_assert_eq(out->ndim, 1, "predictions are %u-D, expected 1-D", out->ndim);
	cr_assert_eq(out->shape[0], test_x->shape[0], "%zu predictions, expected %zu", out->shape[0],
		     test_x->shape[0]);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Reference                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ranked {
	long double dist;
	size_t index;
} ranked_t;

static int compare_ranked(const void *pa, const void *pb)
{
	const ranked_t *a = pa;
	const ranked_t *b = pb;
	if (a->dist != b->dist)
		return a->dist < b->dist ? -1 : 1;
	return (a->index > b->index) - (a->index < b->index);
}

/*
 * Classify one test row the long way: sort every training row by
 * (squared distance, index), take the first k, count votes per label, and
 * break a tie by the closer nearest member, then the smaller label.
 */
static int64_t reference_predict(const bl_tensor_t *train_x, const int64_t *train_y, const bl_tensor_t *test_x,
				 size_t row, size_t k)
{
	size_t n = train_x->shape[0];
	size_t d = train_x->shape[1];
	ranked_t *all = malloc(n * sizeof *all);
	for (size_t i = 0; i < n; i++) {
		long double s = 0;
		for (size_t a = 0; a < d; a++) {
			long double diff = (long double)bl_tensor_get(train_x, i * d + a) - bl_tensor_get(test_x, row * d + a);
			s += diff * diff;
		}
		all[i] = (ranked_t){s, i};
	}
	qsort(all, n, sizeof *all, compare_ranked);

	int64_t best = 0;
	size_t best_votes = 0;
	long double best_nearest = 0;
	for (size_t i = 0; i < k; i++) {
		int64_t label = train_y[all[i].index];
		size_t votes = 0;
		long double nearest = INFINITY;
		for (size_t j = 0; j < k; j++) {
			if (train_y[all[j].index] == label) {
				votes++;
				if (all[j].dist < nearest)
					nearest = all[j].dist;
			}
		}
		bool better = votes > best_votes ||
			      (votes == best_votes && (nearest < best_nearest || (nearest == best_nearest && label < best)));
		if (i == 0 || better) {
			best = label;
			best_votes = votes;
			best_nearest = nearest;
		}
	}
	free(all);
	return best;
}

/* ------------------------------------------------------------------------ */
/* Reference data                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Digits with k = 5, trained on the first 1,617 rows and tested on the
 * last 180, classifies 173 of the 180 correctly: the published accuracy
 * 0.961111 (examples/data/SOURCE.md).
 */
Test(kernels_knn, digits_reach_reference_accuracy)
{
	bl_tensor_t *x;
	bl_tensor_t *y;
	read_digits(&x, &y);
	bl_tensor_t *train_x = NULL;
	bl_tensor_t *test_x = NULL;
	cr_assert_eq(bl_tensor_slice(&train_x, x, 0, 1617, 0, 64, NULL), 0, "slicing the training rows failed");
	cr_assert_eq(bl_tensor_slice(&test_x, x, 1617, 1797, 0, 64, NULL), 0, "slicing the test rows failed");
	bl_tensor_t *train_y = labels_of(y->data, 1617);

	bl_tensor_t *predictions = knn_ok(train_x, train_y, test_x, 5);

	const int64_t *truth = (const int64_t *)y->data + 1617;
	const int64_t *got = predictions->data;
	size_t correct = 0;
	for (size_t i = 0; i < 180; i++)
		correct += got[i] == truth[i];
	cr_assert_eq(correct, 173, "%zu of 180 correct, expected 173", correct);
	for (size_t i = 0; i < 180; i++) {
		int64_t expected = reference_predict(train_x, train_y->data, test_x, i, 5);
		cr_assert_eq(got[i], expected, "test row %zu predicted %lld, the reference %lld", i, (long long)got[i],
			     (long long)expected);
	}
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&train_y);
	bl_tensor_free(&predictions);
}

/* ------------------------------------------------------------------------ */
/* Behaviour                                                                 */
/* ------------------------------------------------------------------------ */

/* Random small-integer data, where distance and vote ties are common,
 * matches the reference for awkward sizes, k up to n, and float32,
 * float64 and int32 features. */
Test(kernels_knn, random_data_matches_reference)
{
	static const size_t sizes[][4] = {
		/* n, m, d, k */
		{1, 1, 1, 1}, {7, 13, 2, 3}, {31, 13, 3, 31}, {127, 29, 5, 4}, {127, 0, 5, 5}, {10, 3, 0, 4},
	};
	static const bl_dtype_t dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64, BL_DTYPE_I32};

	for (size_t t = 0; t < 3; t++) {
		for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
			size_t n = sizes[s][0];
			size_t m = sizes[s][1];
			size_t d = sizes[s][2];
			size_t k = sizes[s][3];
			bl_tensor_t *train_x = new_matrix(dtypes[t], n, d);
			bl_tensor_t *test_x = new_matrix(dtypes[t], m, d);
			int64_t *labels = malloc((n ? n : 1) * sizeof *labels);
			uint64_t state = 31 * s + t + 1;
			for (size_t i = 0; i < n; i++)
				labels[i] = (int64_t)(next_random(&state) % 4) - 1;
			for (size_t i = 0; i < train_x->count + test_x->count; i++) {
				double v = (double)(next_random(&state) % 4);
				bl_tensor_t *dst = i < train_x->count ? train_x : test_x;
				size_t at = i < train_x->count ? i : i - train_x->count;
				if (dtypes[t] == BL_DTYPE_F32)
					((float *)dst->data)[at] = (float)v;
				else if (dtypes[t] == BL_DTYPE_F64)
					((double *)dst->data)[at] = v;
				else
					((int32_t *)dst->data)[at] = (int32_t)v;
			}
			bl_tensor_t *train_y = labels_of(labels, n);

			bl_tensor_t *out = knn_ok(train_x, train_y, test_x, k);

			for (size_t i = 0; i < m; i++) {
				int64_t expected = reference_predict(train_x, labels, test_x, i, k);
				int64_t got = ((int64_t *)out->data)[i];
				cr_assert_eq(got, expected, "%s n %zu m %zu d %zu k %zu, row %zu: %lld, expected %lld",
					     bl_dtype_name(dtypes[t]), n, m, d, k, i, (long long)got, (long long)expected);
			}
			free(labels);
			bl_tensor_free(&train_x);
			bl_tensor_free(&test_x);
			bl_tensor_free(&train_y);
			bl_tensor_free(&out);
		}
	}
}

/* Run a 1-D problem: training points on a line, one test point. */
static int64_t predict_1d(const double *points, const int64_t *labels, size_t n, double query, size_t k)
{
	bl_tensor_t *train_x = new_matrix(BL_DTYPE_F64, n, 1);
	bl_tensor_t *test_x = new_matrix(BL_DTYPE_F64, 1, 1);
	memcpy(train_x->data, points, n * sizeof *points);
	((double *)test_x->data)[0] = query;
	bl_tensor_t *train_y = labels_of(labels, n);

	bl_tensor_t *out = knn_ok(train_x, train_y, test_x, k);

	int64_t label = ((int64_t *)out->data)[0];
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&train_y);
	bl_tensor_free(&out);
	return label;
}

/*
 * A tie in votes goes to the label whose nearest member is closer, and
 * only then to the smaller label. Points 0 (label 5) and 1 (label 7), k =
 * 2: from 0.4 label 5 is closer; from 0.6 label 7 is closer, although 5
 * is smaller; from 0.5 both are 0.5 away and the smaller label 5 wins.
 * With labels swapped, 0.5 still gives 5.
 */
Test(kernels_knn, vote_ties_prefer_closer_label)
{
	static const double points[] = {0, 1};
	static const int64_t labels[] = {5, 7};
	static const int64_t swapped[] = {7, 5};

	int64_t at_04 = predict_1d(points, labels, 2, 0.4, 2);
	int64_t at_06 = predict_1d(points, labels, 2, 0.6, 2);
	int64_t at_05 = predict_1d(points, labels, 2, 0.5, 2);
	int64_t at_05_swapped = predict_1d(points, swapped, 2, 0.5, 2);

	cr_assert_eq(at_04, 5, "from 0.4: %lld, expected 5 (closer)", (long long)at_04);
	cr_assert_eq(at_06, 7, "from 0.6: %lld, expected 7 (closer)", (long long)at_06);
	cr_assert_eq(at_05, 5, "from 0.5: %lld, expected 5 (smaller)", (long long)at_05);
	cr_assert_eq(at_05_swapped, 5, "from 0.5 with labels swapped: %lld, expected 5 (smaller)",
		     (long long)at_05_swapped);
}

/* Neighbours at equal distance are taken by lower training index: points
 * 1, -1 and 1 all lie 1 from 0, so k = 1 takes index 0, label 3, over
 * the smaller labels of the others. */
Test(kernels_knn, distance_ties_take_lower_index)
{
	static const double points[] = {1, -1, 1};
	static const int64_t labels[] = {3, 1, 2};

	int64_t got = predict_1d(points, labels, 3, 0, 1);

	cr_assert_eq(got, 3, "k = 1 from 0 gave %lld, expected 3 (index 0)", (long long)got);
}

/* The majority wins over a closer minority: two far votes beat one near
 * one. */
Test(kernels_knn, majority_beats_nearest)
{
	static const double points[] = {0.1, 1, 1.1};
	static const int64_t labels[] = {4, 8, 8};

	int64_t got = predict_1d(points, labels, 3, 0, 3);

	cr_assert_eq(got, 8, "gave %lld, expected 8 (two votes of three)", (long long)got);
}

/* int32 labels work as int64 ones do, and come back as int64. */
Test(kernels_knn, int32_labels_accepted)
{
	bl_tensor_t *train_x = new_matrix(BL_DTYPE_F32, 3, 1);
	bl_tensor_t *test_x = new_matrix(BL_DTYPE_F32, 1, 1);
	size_t n = 3;
	bl_tensor_t *train_y = new_tensor(BL_DTYPE_I32, 1, &n);
	float *xv = train_x->data;
	int32_t *yv = train_y->data;
	xv[0] = 0;
	xv[1] = 5;
	xv[2] = 10;
	yv[0] = -2;
	yv[1] = 2000000000;
	yv[2] = 7;
	((float *)test_x->data)[0] = 4.9f;

	bl_tensor_t *out = knn_ok(train_x, train_y, test_x, 1);

	cr_assert_eq(((int64_t *)out->data)[0], 2000000000, "gave %lld, expected 2000000000",
		     (long long)((int64_t *)out->data)[0]);
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&train_y);
	bl_tensor_free(&out);
}

/* A cancel already requested stops the work with BL_ECANCELED. */
Test(kernels_knn, cancel_stops_work)
{
	bl_tensor_t *train_x = new_matrix(BL_DTYPE_F64, 10, 2);
	bl_tensor_t *test_x = new_matrix(BL_DTYPE_F64, 5, 2);
	int64_t labels[10] = {0};
	bl_tensor_t *train_y = labels_of(labels, 10);
	bl_cancel_t cancel;
	atomic_init(&cancel.requested, true);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_knn(&out, train_x, train_y, test_x, 3, &cancel, &err);

	cr_assert_eq(rc, BL_ECANCELED, "returned %d, expected BL_ECANCELED", rc);
	cr_assert_eq(err.code, BL_ECANCELED, "err.code is %d, expected BL_ECANCELED", err.code);
	cr_assert_null(out, "predictions were written on cancel");
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&train_y);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

static void expect_error(const bl_tensor_t *train_x, const bl_tensor_t *train_y, const bl_tensor_t *test_x, size_t k,
			 const char *field, const char *needle)
{
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_knn(&out, train_x, train_y, test_x, k, NULL, &err);

	cr_assert_eq(rc, BL_EINVAL, "returned %d, expected BL_EINVAL (%s)", rc, needle);
	cr_assert_str_eq(err.field, field, "err.field is \"%s\", expected \"%s\"", err.field, field);
	cr_assert(strstr(err.message, needle), "message \"%s\" does not mention \"%s\"", err.message, needle);
	cr_assert_null(out, "predictions were written on failure");
}

/* k outside 1..n, labels of the wrong dtype or count, widths that differ,
 * non-matrices and non-finite features are rejected. */
Test(kernels_knn, bad_arguments_rejected)
{
	bl_tensor_t *train_x = new_matrix(BL_DTYPE_F64, 4, 2);
	bl_tensor_t *test_x = new_matrix(BL_DTYPE_F64, 3, 2);
	bl_tensor_t *narrow = new_matrix(BL_DTYPE_F64, 3, 1);
	int64_t labels[4] = {0, 1, 0, 1};
	bl_tensor_t *train_y = labels_of(labels, 4);
	bl_tensor_t *short_y = labels_of(labels, 3);
	size_t four = 4;
	bl_tensor_t *float_y = new_tensor(BL_DTYPE_F64, 1, &four);
	bl_tensor_t *vector = new_tensor(BL_DTYPE_F64, 1, &four);

	expect_error(train_x, train_y, test_x, 0, "k", "k is 0");
	expect_error(train_x, train_y, test_x, 5, "k", "k is 5");
	expect_error(train_x, float_y, test_x, 1, "train_y", "float64");
	expect_error(train_x, short_y, test_x, 1, "train_y", "3 elements");
	expect_error(train_x, train_y, narrow, 1, "test_x", "width 1");
	expect_error(vector, train_y, test_x, 1, "train_x", "1-D");
	expect_error(train_x, train_y, vector, 1, "test_x", "1-D");

	((double *)train_x->data)[5] = NAN;
	expect_error(train_x, train_y, test_x, 1, "train_x", "train_x[2][1]");
	((double *)train_x->data)[5] = 0;
	((double *)test_x->data)[0] = INFINITY;
	expect_error(train_x, train_y, test_x, 1, "test_x", "test_x[0][0]");
	bl_tensor_free(&train_x);
	bl_tensor_free(&test_x);
	bl_tensor_free(&narrow);
	bl_tensor_free(&train_y);
	bl_tensor_free(&short_y);
	bl_tensor_free(&float_y);
	bl_tensor_free(&vector);
}
