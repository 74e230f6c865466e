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

static double next_uniform(uint64_t *state, double lo, double hi)
{
	return lo + (hi - lo) * (double)(next_random(state) >> 11) * 0x1.0p-53;
}

static bl_tensor_t *new_vector(bl_dtype_t dtype, size_t n)
{
	bl_tensor_t *t = NULL;
	int rc = bl_tensor_new(&t, dtype, 1, &n, NULL);
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

static bl_tensor_t *from_values(bl_dtype_t dtype, size_t n, const double *values)
{
	bl_tensor_t *t = new_vector(dtype, n);
	for (size_t i = 0; i < n; i++)
		set_value(t, i, values[i]);
	return t;
}

typedef struct histogram {
	bl_tensor_t *counts;
	bl_tensor_t *edges;
} histogram_t;

static histogram_t histogram_ok(const bl_tensor_t *x, size_t bins, bool range, double lo, double hi)
{
	histogram_t h = {0};
	bl_error_t err = {0};
	int rc = bl_cpu_histogram(&h.counts, &h.edges, x, bins, range, lo, hi, &err);
	cr_assert_eq(rc, 0, "bl_cpu_histogram returned %d (%s), expected 0", rc, err.message);
	cr_assert_eq(h.counts->dtype, BL_DTYPE_I64, "counts are %s, expected int64", bl_dtype_name(h.counts->dtype));
	cr_assert_eq(h.edges->dtype, BL_DTYPE_F64, "edges are %s, expected float64", bl_dtype_name(h.edges->dtype));
	cr_assert_eq(h.counts->count, bins, "%zu counts, expected %zu", h.counts->count, bins);
	cr_assert_eq(h.edges->count, bins + 1, "%zu edges, expected %zu", h.edges->count, bins + 1);
	return h;
}

static void histogram_free(histogram_t *h)
{
	bl_tensor_free(&h->counts);
	bl_tensor_free(&h->edges);
}

/*
 * Check a histogram against the definition: edge i is lo + (hi - lo) * i
 * / bins, within 1e-12 of the width, the last edge is hi exactly, and
 * each count is the number of elements with edge[i] <= v < edge[i + 1]
 * (v <= hi in the last bin), found by scanning all bins.
 */
static void check_histogram(const histogram_t *h, const bl_tensor_t *x, size_t bins, double lo, double hi)
{
	const double *edge = h->edges->data;
	for (size_t i = 0; i < bins; i++) {
		double expected = lo + (hi - lo) * (double)i / (double)bins;
		cr_assert(fabs(edge[i] - expected) <= 1e-12 * (hi - lo), "edge %zu is %.17g, expected %.17g", i,
			  edge[i], expected);
	}
	cr_assert_eq(edge[bins], hi, "the last edge is %.17g, expected hi %.17g", edge[bins], hi);

	int64_t *expected = calloc(bins, sizeof *expected);
	for (size_t j = 0; j < x->count; j++) {
		double v = bl_tensor_get(x, j);
		for (size_t i = 0; i < bins; i++) {
			bool last = i + 1 == bins;
			if (v >= edge[i] && (v < edge[i + 1] || (last && v == edge[i + 1]))) {
				expected[i]++;
				break;
			}
		}
	}
	const int64_t *got = h->counts->data;
	for (size_t i = 0; i < bins; i++)
		cr_assert_eq(got[i], expected[i], "bin %zu [%.17g, %.17g) counts %lld, expected %lld", i, edge[i],
			     edge[i + 1], (long long)got[i], (long long)expected[i]);
	free(expected);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* Random float64 and float32 data of 1, 7, 1000 and 1,000,003 elements
 * in 1, 7, 31 and 127 bins, over the data's own range, match the
 * definition. */
Test(kernels_histogram, data_range_matches_reference)
{
	static const size_t sizes[] = {1, 7, 1000, 1000003};
	static const size_t bin_counts[] = {1, 7, 31, 127};
	static const bl_dtype_t dtypes[] = {BL_DTYPE_F64, BL_DTYPE_F32};

	for (size_t d = 0; d < 2; d++) {
		for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
			bl_tensor_t *x = new_vector(dtypes[d], sizes[s]);
			uint64_t state = 21 + s;
			for (size_t i = 0; i < x->count; i++)
				set_value(x, i, next_uniform(&state, -3.7, 12.1));
			double lo = INFINITY;
			double hi = -INFINITY;
			for (size_t i = 0; i < x->count; i++) {
				lo = fmin(lo, bl_tensor_get(x, i));
				hi = fmax(hi, bl_tensor_get(x, i));
			}
			if (lo == hi) {
				lo -= 0.5;
				hi += 0.5;
			}

			for (size_t b = 0; b < sizeof bin_counts / sizeof *bin_counts; b++) {
				histogram_t h = histogram_ok(x, bin_counts[b], false, 0, 0);
				check_histogram(&h, x, bin_counts[b], lo, hi);
				histogram_free(&h);
			}
			bl_tensor_free(&x);
		}
	}
}

/* With a range, elements outside it are not counted and the edges span
 * exactly the range. */
Test(kernels_histogram, given_range_drops_outliers)
{
	bl_tensor_t *x = new_vector(BL_DTYPE_F64, 5000);
	uint64_t state = 99;
	for (size_t i = 0; i < x->count; i++)
		set_value(x, i, next_uniform(&state, -10, 10));

	histogram_t h = histogram_ok(x, 13, true, -2.5, 4.0);

	check_histogram(&h, x, 13, -2.5, 4.0);
	int64_t total = 0;
	size_t inside = 0;
	for (size_t i = 0; i < 13; i++)
		total += ((int64_t *)h.counts->data)[i];
	for (size_t i = 0; i < x->count; i++)
		inside += bl_tensor_get(x, i) >= -2.5 && bl_tensor_get(x, i) <= 4.0;
	cr_assert_eq((size_t)total, inside, "counted %lld elements, expected the %zu inside [-2.5, 4]",
		     (long long)total, inside);
	histogram_free(&h);
	bl_tensor_free(&x);
}

/* A float64 range so wide that (hi - lo) * i overflows a double still gets
 * finite, rising edges: 0 and 5e306 over [-1e307, 1e307] in 64 bins fall
 * in bins 32 and 48. */
Test(kernels_histogram, widest_range_keeps_edges_finite)
{
	static const double values[] = {0, 5e306};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 2, values);

	histogram_t h = histogram_ok(x, 64, true, -1e307, 1e307);

	const double *edge = h.edges->data;
	const int64_t *count = h.counts->data;
	for (size_t i = 1; i <= 64; i++)
		cr_assert(isfinite(edge[i]) && edge[i] > edge[i - 1], "edge %zu is %g after %g", i, edge[i],
			  edge[i - 1]);
	cr_assert_eq(count[32], 1, "bin 32 counts %lld, expected 1 (the 0)", (long long)count[32]);
	cr_assert_eq(count[48], 1, "bin 48 counts %lld, expected 1 (5e306)", (long long)count[48]);
	histogram_free(&h);
	bl_tensor_free(&x);
}

/* Values on edges go to the bin that starts there, and hi itself to the
 * last bin: 0, 1, ..., 10 in 10 bins over [0, 10] give one per bin and two
 * in the last. */
Test(kernels_histogram, edges_belong_to_upper_bin)
{
	static const double values[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	bl_tensor_t *x = from_values(BL_DTYPE_I64, 11, values);

	histogram_t h = histogram_ok(x, 10, true, 0, 10);

	const int64_t *count = h.counts->data;
	for (size_t i = 0; i < 9; i++)
		cr_assert_eq(count[i], 1, "bin %zu counts %lld, expected 1", i, (long long)count[i]);
	cr_assert_eq(count[9], 2, "the last bin counts %lld, expected 2 (9 and 10)", (long long)count[9]);
	histogram_free(&h);
	bl_tensor_free(&x);
}

/*
 * Values where the division lands on the wrong side of an edge. With 5
 * bins over [0, 0.1] the edges are 0, 0.02, 0.04, 0.06000000000000001,
 * 0.08 and 0.1. For 0.02, 0.04, 0.06 and 0.08, (v - lo) / width * bins
 * gives 0.9999999999999999, 1.9999999999999998, 3.0 and
 * 3.9999999999999996 (computed in Python). By the edges the bins are 1,
 * 2, 2 and 4, and each must be counted there.
 */
Test(kernels_histogram, rounding_near_edges_follows_edges)
{
	static const double values[] = {0.02, 0.04, 0.06, 0.08};
	static const int64_t expected[] = {0, 1, 2, 0, 1};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 4, values);

	histogram_t h = histogram_ok(x, 5, true, 0.0, 0.1);

	const int64_t *count = h.counts->data;
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(count[i], expected[i], "bin %zu counts %lld, expected %lld", i, (long long)count[i],
			     (long long)expected[i]);
	check_histogram(&h, x, 5, 0.0, 0.1);
	histogram_free(&h);
	bl_tensor_free(&x);
}

/* NaN is not counted, with or without a range, and does not disturb the
 * range taken from the data. */
Test(kernels_histogram, nan_not_counted)
{
	static const double values[] = {NAN, 1, 2, NAN, 3, 4};
	bl_tensor_t *x = from_values(BL_DTYPE_F32, 6, values);

	histogram_t own = histogram_ok(x, 3, false, 0, 0);
	histogram_t given = histogram_ok(x, 3, true, 0, 4);

	const int64_t *a = own.counts->data;
	const int64_t *b = given.counts->data;
	cr_assert_eq(((double *)own.edges->data)[0], 1.0, "the data range starts at %g, expected 1",
		     ((double *)own.edges->data)[0]);
	cr_assert_eq(a[0] + a[1] + a[2], 4, "counted %lld, expected the 4 numbers", (long long)(a[0] + a[1] + a[2]));
	cr_assert_eq(b[0] + b[1] + b[2], 4, "counted %lld with a range, expected 4", (long long)(b[0] + b[1] + b[2]));
	histogram_free(&own);
	histogram_free(&given);
	bl_tensor_free(&x);
}

/* Data of a single value has no width; the range widens to value +- 0.5
 * and every element is counted. */
Test(kernels_histogram, single_value_widens_range)
{
	static const double values[] = {3, 3, 3};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 3, values);

	histogram_t h = histogram_ok(x, 4, false, 0, 0);

	const double *edge = h.edges->data;
	cr_assert_eq(edge[0], 2.5, "first edge %g, expected 2.5", edge[0]);
	cr_assert_eq(edge[4], 3.5, "last edge %g, expected 3.5", edge[4]);
	check_histogram(&h, x, 4, 2.5, 3.5);
	histogram_free(&h);
	bl_tensor_free(&x);
}

/* A given range of zero width widens the same way. */
Test(kernels_histogram, zero_width_range_widens)
{
	static const double values[] = {1, 2, 2, 3};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 4, values);

	histogram_t h = histogram_ok(x, 1, true, 2, 2);

	cr_assert_eq(((int64_t *)h.counts->data)[0], 2, "counted %lld, expected the two 2s",
		     (long long)((int64_t *)h.counts->data)[0]);
	histogram_free(&h);
	bl_tensor_free(&x);
}

/* An empty x with a range gives zero counts. */
Test(kernels_histogram, empty_with_range_counts_zero)
{
	bl_tensor_t *x = new_vector(BL_DTYPE_F64, 0);

	histogram_t h = histogram_ok(x, 5, true, 0, 1);

	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(((int64_t *)h.counts->data)[i], 0, "bin %zu counts %lld, expected 0", i,
			     (long long)((int64_t *)h.counts->data)[i]);
	histogram_free(&h);
	bl_tensor_free(&x);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

static void expect_error(const bl_tensor_t *x, size_t bins, bool range, double lo, double hi, const char *field,
			 const char *needle)
{
	bl_tensor_t *counts = NULL;
	bl_tensor_t *edges = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_histogram(&counts, &edges, x, bins, range, lo, hi, &err);

	cr_assert_eq(rc, BL_EINVAL, "returned %d, expected BL_EINVAL (%s)", rc, needle);
	cr_assert_str_eq(err.field, field, "err.field is \"%s\", expected \"%s\"", err.field, field);
	cr_assert(strstr(err.message, needle), "message \"%s\" does not mention \"%s\"", err.message, needle);
	cr_assert_null(counts, "counts were written on failure");
	cr_assert_null(edges, "edges were written on failure");
}

/* bins 0, lo above hi, and non-finite bounds are rejected. */
Test(kernels_histogram, bad_bins_or_range_rejected)
{
	static const double values[] = {1, 2};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 2, values);

	expect_error(x, 0, false, 0, 0, "bins", "bins is 0");
	expect_error(x, 4, true, 2, 1, "range", "lo above hi");
	expect_error(x, 4, true, NAN, 1, "range", "not finite");
	expect_error(x, 4, true, 0, INFINITY, "range", "not finite");
	expect_error(x, 4, true, -1.5e308, 1.5e308, "range", "overflows");
	bl_tensor_free(&x);
}

/* Without a range, x must have a finite number to take it from. */
Test(kernels_histogram, no_data_range_rejected)
{
	static const double nans[] = {NAN, NAN};
	static const double infinite[] = {1, INFINITY};
	bl_tensor_t *empty = new_vector(BL_DTYPE_F64, 0);
	bl_tensor_t *all_nan = from_values(BL_DTYPE_F64, 2, nans);
	bl_tensor_t *with_inf = from_values(BL_DTYPE_F64, 2, infinite);

	expect_error(empty, 4, false, 0, 0, "x", "empty");
	expect_error(all_nan, 4, false, 0, 0, "x", "only NaN");
	expect_error(with_inf, 4, false, 0, 0, "x", "not finite");
	bl_tensor_free(&empty);
	bl_tensor_free(&all_nan);
	bl_tensor_free(&with_inf);
}
