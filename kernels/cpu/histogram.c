#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include <beamline/kernels.h>

#include "checks.h"

/* Find the smallest and largest non-NaN elements of x. Returns false when
 * x has none. */
static bool data_range(double *lo, double *hi, const bl_tensor_t *x)
{
	bool found = false;
	for (size_t i = 0; i < x->count; i++) {
		double v = bl_tensor_get(x, i);
		if (isnan(v))
			continue;
		if (!found || v < *lo)
			*lo = v;
		if (!found || v > *hi)
			*hi = v;
		found = true;
	}
	return found;
}

int bl__histogram_check_bins(size_t bins, bl_error_t *err)
{
	if (bins == 0)
		return bl_error_set(err, BL_EINVAL, "bins", "bins is 0, expected at least 1");
	if (bins == SIZE_MAX)
		return bl_error_set(err, BL_ELIMIT, "bins", "bins is %zu, so bins + 1 edges overflow size_t", bins);
	return 0;
}

int bl__histogram_settle_range(double *lo, double *hi, bool given, bl_error_t *err)
{
	if (given) {
		if (!isfinite(*lo) || !isfinite(*hi))
			return bl_error_set(err, BL_EINVAL, "range", "range [%g, %g] is not finite", *lo, *hi);
		if (*lo > *hi)
			return bl_error_set(err, BL_EINVAL, "range", "range [%g, %g] has lo above hi", *lo, *hi);
	} else if (!isfinite(*lo) || !isfinite(*hi)) {
		return bl_error_set(err, BL_EINVAL, "x", "x spans [%g, %g], which is not finite; give a finite range",
				    *lo, *hi);
	}

	if (*lo == *hi) {
		*lo -= 0.5;
		*hi += 0.5;
	}
	if (*lo == *hi) {
		/* Beyond 2^53, 0.5 is below the spacing of doubles. */
		*lo = nextafter(*lo, -INFINITY);
		*hi = nextafter(*hi, INFINITY);
	}
	if (!isfinite(*hi - *lo))
		return bl_error_set(err, BL_EINVAL, given ? "range" : "x",
				    "the width of [%g, %g] overflows a double", *lo, *hi);
	return 0;
}

void bl__histogram_fill_edges(double *edge, double lo, double hi, size_t bins)
{
	double span = hi - lo;
	/* span * i overflows for a span near DBL_MAX, where the product went to
	 * +inf and every later edge with it. Dividing first changes the last
	 * bit of some edges, so it is taken only there. */
	bool wide = !isfinite(span * (double)bins);

	for (size_t i = 0; i < bins; i++)
		edge[i] = wide ? lo + span / (double)bins * (double)i : lo + span * (double)i / (double)bins;
	edge[bins] = hi;
}

/* Settle the range [*lo, *hi]: take it from x unless `given`, then check
 * and widen it. */
static int resolve_range(double *lo, double *hi, const bl_tensor_t *x, bool given, bl_error_t *err)
{
	if (!given && x->count == 0)
		return bl_error_set(err, BL_EINVAL, "x", "x is empty, so a range must be given");
	if (!given && !data_range(lo, hi, x))
		return bl_error_set(err, BL_EINVAL, "x", "x contains only NaN, so a range must be given");
	return bl__histogram_settle_range(lo, hi, given, err);
}

/* Return the bin of v, which lies in [edges[0], edges[bins]]. The division
 * gives a first guess that rounding can put one bin off, so the guess is
 * moved until edges[bin] <= v < edges[bin + 1]; v == edges[bins] belongs
 * to the last bin. */
static size_t find_bin(double v, const double *edges, size_t bins)
{
	double lo = edges[0];
	double width = edges[bins] - lo;
	double guess = (v - lo) / width * (double)bins;
	size_t bin = guess >= (double)bins ? bins - 1 : (size_t)guess;

	while (bin > 0 && v < edges[bin])
		bin--;
	while (bin + 1 < bins && v >= edges[bin + 1])
		bin++;
	return bin;
}

int bl_cpu_histogram(bl_tensor_t **counts, bl_tensor_t **edges, const bl_tensor_t *x, size_t bins, bool range,
		     double lo, double hi, bl_error_t *err)
{
	int rc = bl__histogram_check_bins(bins, err);
	if (rc < 0)
		return rc;
	rc = resolve_range(&lo, &hi, x, range, err);
	if (rc < 0)
		return rc;

	bl_tensor_t *c;
	bl_tensor_t *e;
	size_t edge_count = bins + 1;
	rc = bl_tensor_new(&c, BL_DTYPE_I64, 1, &bins, err);
	if (rc < 0)
		return rc;
	rc = bl_tensor_new(&e, BL_DTYPE_F64, 1, &edge_count, err);
	if (rc < 0) {
		bl_tensor_free(&c);
		return rc;
	}

	double *edge = e->data;
	bl__histogram_fill_edges(edge, lo, hi, bins);

	int64_t *count = c->data;
	for (size_t i = 0; i < x->count; i++) {
		double v = bl_tensor_get(x, i);
		/* NaN fails both comparisons and is skipped with the outliers. */
		if (!(v >= lo && v <= hi))
			continue;
		count[find_bin(v, edge, bins)]++;
	}
	*counts = c;
	*edges = e;
	return 0;
}
