#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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

static bl_tensor_t *new_tensor(bl_dtype_t dtype, unsigned ndim, const size_t *shape)
{
	bl_tensor_t *t = NULL;
	int rc = bl_tensor_new(&t, dtype, ndim, shape, NULL);
	cr_assert_eq(rc, 0, "bl_tensor_new returned %d, expected 0", rc);
	return t;
}

static void set_value(bl_tensor_t *t, size_t i, double v)
{
	switch (t->dtype) {
	case BL_DTYPE_F32:
		((float *)t->data)[i] = (float)v;
		break;
	case BL_DTYPE_F64:
		((double *)t->data)[i] = v;
		break;
	case BL_DTYPE_I32:
		((int32_t *)t->data)[i] = (int32_t)v;
		break;
	case BL_DTYPE_I64:
		((int64_t *)t->data)[i] = (int64_t)v;
		break;
	}
}

/*
 * Fill a rows x n matrix with values drawn from only `distinct` levels,
 * so that ties are common, and, when `nan_every` is not 0, NaN in every
 * nan_every-th element.
 */
static bl_tensor_t *random_rows(bl_dtype_t dtype, size_t rows, size_t n, unsigned distinct, size_t nan_every,
				uint64_t seed)
{
	size_t shape[2] = {rows, n};
	bl_tensor_t *t = new_tensor(dtype, 2, shape);
	uint64_t state = seed;
	for (size_t i = 0; i < t->count; i++) {
		double v = (double)(next_random(&state) % distinct) - (double)distinct / 2;
		if (nan_every && i % nan_every == nan_every - 1)
			v = NAN;
		set_value(t, i, v);
	}
	return t;
}

/* The reference order for qsort, which passes no context: numbers before
 * NaN, then by value (descending when sort_largest), then by index. The
 * row starts at element sort_start of sort_tensor. */
static const bl_tensor_t *sort_tensor;
static size_t sort_start;
static bool sort_largest;

static int reference_compare(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa;
	size_t b = *(const size_t *)pb;
	double va = bl_tensor_get(sort_tensor, sort_start + a);
	double vb = bl_tensor_get(sort_tensor, sort_start + b);
	if (isnan(va) != isnan(vb))
		return isnan(va) ? 1 : -1;
	if (!isnan(va) && va != vb)
		return (sort_largest ? va > vb : va < vb) ? -1 : 1;
	return (a > b) - (a < b);
}

/* Check values and indices of one top-k result against a full qsort of
 * every row by the reference order. */
static void check_topk(const bl_tensor_t *values, const bl_tensor_t *indices, const bl_tensor_t *x, size_t rows,
		       size_t n, size_t k, bool largest)
{
	size_t *order = malloc((n ? n : 1) * sizeof *order);
	for (size_t r = 0; r < rows; r++) {
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		sort_tensor = x;
		sort_start = r * n;
		sort_largest = largest;
		qsort(order, n, sizeof *order, reference_compare);

		for (size_t i = 0; i < k; i++) {
			int64_t got_index = ((const int64_t *)indices->data)[r * k + i];
			double got_value = bl_tensor_get(values, r * k + i);
			double expected_value = bl_tensor_get(x, r * n + order[i]);
			cr_assert_eq(got_index, (int64_t)order[i],
				     "row %zu rank %zu of %zu x %zu, k %zu, largest %d: index %lld, expected %zu", r, i,
				     rows, n, k, largest, (long long)got_index, order[i]);
			cr_assert(got_value == expected_value || (isnan(got_value) && isnan(expected_value)),
				  "row %zu rank %zu: value %g, expected %g", r, i, got_value, expected_value);
		}
	}
	free(order);
}

typedef struct topk {
	bl_tensor_t *values;
	bl_tensor_t *indices;
} topk_t;

static topk_t topk_ok(const bl_tensor_t *x, size_t k, bool largest)
{
	topk_t t = {0};
	bl_error_t err = {0};
	int rc = bl_cpu_topk(&t.values, &t.indices, x, k, largest, &err);
	cr_assert_eq(rc, 0, "bl_cpu_topk returned %d (%s), expected 0", rc, err.message);
	cr_assert_eq(t.values->dtype, x->dtype, "values are %s, expected x's %s", bl_dtype_name(t.values->dtype),
		     bl_dtype_name(x->dtype));
	cr_assert_eq(t.indices->dtype, BL_DTYPE_I64, "indices are %s, expected int64",
		     bl_dtype_name(t.indices->dtype));
	return t;
}

static void topk_free(topk_t *t)
{
	bl_tensor_free(&t->values);
	bl_tensor_free(&t->indices);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* Rows of 1 to 1000 elements with many ties, every dtype, k from 1 to the
 * whole row, largest and smallest, match the reference sort. */
Test(kernels_topk, rows_match_reference)
{
	static const size_t shapes[][2] = {{1, 1}, {7, 7}, {31, 127}, {3, 1000}, {0, 5}};
	static const bl_dtype_t dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64, BL_DTYPE_I32, BL_DTYPE_I64};

	for (size_t d = 0; d < 4; d++) {
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			size_t rows = shapes[s][0];
			size_t n = shapes[s][1];
			bl_tensor_t *x = random_rows(dtypes[d], rows, n, 5, 0, 10 * s + d);
			size_t ks[] = {1, (n + 1) / 2, n};
			for (size_t ki = 0; ki < 3; ki++) {
				for (int largest = 0; largest < 2; largest++) {
					topk_t t = topk_ok(x, ks[ki], largest);

					cr_assert_eq(t.values->ndim, 2, "%u dimensions, expected 2", t.values->ndim);
					cr_assert_eq(t.values->shape[0], rows, "%zu rows, expected %zu",
						     t.values->shape[0], rows);
					cr_assert_eq(t.values->shape[1], ks[ki], "%zu columns, expected k = %zu",
						     t.values->shape[1], ks[ki]);
					check_topk(t.values, t.indices, x, rows, n, ks[ki], largest);
					topk_free(&t);
				}
			}
			bl_tensor_free(&x);
		}
	}
}

/* A large row: 200,003 float32 values with ties, k = 100. */
Test(kernels_topk, large_row_matches_reference)
{
	bl_tensor_t *x = random_rows(BL_DTYPE_F32, 1, 200003, 1000, 0, 5);

	topk_t t = topk_ok(x, 100, true);

	check_topk(t.values, t.indices, x, 1, 200003, 100, true);
	topk_free(&t);
	bl_tensor_free(&x);
}

/* NaN ranks after every number, for largest and for smallest alike, and
 * NaNs among themselves go by index. */
Test(kernels_topk, nan_ranks_last)
{
	bl_tensor_t *x = random_rows(BL_DTYPE_F64, 5, 31, 7, 3, 77);

	for (int largest = 0; largest < 2; largest++) {
		topk_t t = topk_ok(x, 31, largest);

		check_topk(t.values, t.indices, x, 5, 31, 31, largest);
		for (size_t r = 0; r < 5; r++) {
			cr_assert(!isnan(bl_tensor_get(t.values, r * 31)), "row %zu starts with NaN (largest %d)", r,
				  largest);
			cr_assert(isnan(bl_tensor_get(t.values, r * 31 + 30)), "row %zu does not end with NaN (largest %d)",
				  r, largest);
		}
		topk_free(&t);
	}
	bl_tensor_free(&x);
}

/* Ties go to the lower index: in [2, 5, 5, 1, 5], the top 2 are indices 1
 * and 2, and the bottom 1 of [3, 1, 1] is index 1. */
Test(kernels_topk, ties_go_to_lower_index)
{
	size_t five = 5;
	size_t three = 3;
	bl_tensor_t *a = new_tensor(BL_DTYPE_F32, 1, &five);
	bl_tensor_t *b = new_tensor(BL_DTYPE_I32, 1, &three);
	static const double av[] = {2, 5, 5, 1, 5};
	static const double bv[] = {3, 1, 1};
	for (size_t i = 0; i < 5; i++)
		set_value(a, i, av[i]);
	for (size_t i = 0; i < 3; i++)
		set_value(b, i, bv[i]);

	topk_t top = topk_ok(a, 2, true);
	topk_t bottom = topk_ok(b, 1, false);

	cr_assert_eq(top.indices->ndim, 1, "a 1-D input gave %u dimensions, expected 1", top.indices->ndim);
	cr_assert_eq(top.indices->shape[0], 2, "%zu indices, expected 2", top.indices->shape[0]);
	const int64_t *ti = top.indices->data;
	cr_assert_eq(ti[0], 1, "first index %lld, expected 1", (long long)ti[0]);
	cr_assert_eq(ti[1], 2, "second index %lld, expected 2", (long long)ti[1]);
	cr_assert_eq(((int64_t *)bottom.indices->data)[0], 1, "smallest index %lld, expected 1",
		     (long long)((int64_t *)bottom.indices->data)[0]);
	cr_assert_eq(((int32_t *)bottom.values->data)[0], 1, "smallest value %d, expected 1",
		     ((int32_t *)bottom.values->data)[0]);
	topk_free(&top);
	topk_free(&bottom);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
}

/* int64 values above 2^53, which doubles cannot tell apart, are ranked
 * exactly and returned unchanged. */
Test(kernels_topk, int64_compared_exactly)
{
	size_t three = 3;
	bl_tensor_t *x = new_tensor(BL_DTYPE_I64, 1, &three);
	int64_t *v = x->data;
	v[0] = (INT64_C(1) << 53);
	v[1] = (INT64_C(1) << 53) + 1;
	v[2] = INT64_MIN;

	topk_t t = topk_ok(x, 3, true);

	const int64_t *ix = t.indices->data;
	const int64_t *values = t.values->data;
	cr_assert_eq(ix[0], 1, "first index %lld, expected 1 (2^53 + 1)", (long long)ix[0]);
	cr_assert_eq(values[0], (INT64_C(1) << 53) + 1, "first value %lld, expected 2^53 + 1", (long long)values[0]);
	cr_assert_eq(ix[2], 2, "last index %lld, expected 2 (INT64_MIN)", (long long)ix[2]);
	topk_free(&t);
	bl_tensor_free(&x);
}

/* Infinities are ordinary numbers and rank ahead of NaN. */
Test(kernels_topk, infinities_rank_as_numbers)
{
	size_t four = 4;
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 1, &four);
	static const double v[] = {NAN, -INFINITY, 0, INFINITY};
	for (size_t i = 0; i < 4; i++)
		set_value(x, i, v[i]);

	topk_t largest = topk_ok(x, 4, true);
	topk_t smallest = topk_ok(x, 4, false);

	static const int64_t expected_largest[] = {3, 2, 1, 0};
	static const int64_t expected_smallest[] = {1, 2, 3, 0};
	for (size_t i = 0; i < 4; i++) {
		int64_t a = ((int64_t *)largest.indices->data)[i];
		int64_t b = ((int64_t *)smallest.indices->data)[i];
		cr_assert_eq(a, expected_largest[i], "largest rank %zu is index %lld, expected %lld", i, (long long)a,
			     (long long)expected_largest[i]);
		cr_assert_eq(b, expected_smallest[i], "smallest rank %zu is index %lld, expected %lld", i, (long long)b,
			     (long long)expected_smallest[i]);
	}
	topk_free(&largest);
	topk_free(&smallest);
	bl_tensor_free(&x);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

static void expect_error(const bl_tensor_t *x, size_t k, const char *field, const char *needle)
{
	bl_tensor_t *values = NULL;
	bl_tensor_t *indices = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_topk(&values, &indices, x, k, true, &err);

	cr_assert_eq(rc, BL_EINVAL, "returned %d, expected BL_EINVAL", rc);
	cr_assert_str_eq(err.field, field, "err.field is \"%s\", expected \"%s\"", err.field, field);
	cr_assert(strstr(err.message, needle), "message \"%s\" does not mention \"%s\"", err.message, needle);
	cr_assert_null(values, "values were written on failure");
	cr_assert_null(indices, "indices were written on failure");
}

/* k of 0 or above the row length, and tensors that are neither 1-D nor
 * 2-D, are rejected. */
Test(kernels_topk, bad_k_or_rank_rejected)
{
	size_t shape[3] = {2, 3, 4};
	bl_tensor_t *matrix = new_tensor(BL_DTYPE_F64, 2, shape);
	bl_tensor_t *cube = new_tensor(BL_DTYPE_F64, 3, shape);
	bl_tensor_t *scalar = new_tensor(BL_DTYPE_F64, 0, NULL);
	size_t zero = 0;
	bl_tensor_t *empty = new_tensor(BL_DTYPE_F64, 1, &zero);

	expect_error(matrix, 0, "k", "k is 0");
	expect_error(matrix, 4, "k", "k is 4");
	expect_error(empty, 1, "k", "k is 1");
	expect_error(cube, 1, "x", "3-D");
	expect_error(scalar, 1, "x", "0-D");
	bl_tensor_free(&matrix);
	bl_tensor_free(&cube);
	bl_tensor_free(&scalar);
	bl_tensor_free(&empty);
}
