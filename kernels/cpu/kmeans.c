#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kernels.h>

#include "cpu/kmeans.h"

/* Step a splitmix64 generator: the 64-bit state advances by a fixed odd
 * constant and is then mixed into the output. Small and fast, and random
 * enough for choosing seeds. */
static uint64_t next_u64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Return a uniform double in [0, 1) from the top 53 bits. */
static double next_unit(uint64_t *state)
{
	return (double)(next_u64(state) >> 11) * 0x1.0p-53;
}

/* Return a uniform index in [0, n), n > 0. The bias of scaling a 53-bit
 * fraction is below n / 2^53, far too small to matter here. */
static size_t next_index(uint64_t *state, size_t n)
{
	size_t i = (size_t)(next_unit(state) * (double)n);
	return i < n ? i : n - 1;
}


static double squared_distance(const double *a, const double *b, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++) {
		double diff = a[i] - b[i];
		s += diff * diff;
	}
	return s;
}

static const double *row(const bl__kmeans_t *km, size_t i)
{
	return km->x + i * km->d;
}

/*
 * Return the row where the running sum of km->nearest first passes
 * target, a row of positive weight. When rounding leaves target past the
 * end, the last row of positive weight is returned.
 */
static size_t weighted_row(const bl__kmeans_t *km, double target)
{
	size_t pick = 0;
	double cumulative = 0;
	for (size_t i = 0; i < km->n; i++) {
		if (km->nearest[i] <= 0)
			continue;
		pick = i;
		cumulative += km->nearest[i];
		if (cumulative > target)
			break;
	}
	return pick;
}

/*
 * Seed the k centroids by k-means++: the first is a uniformly chosen
 * row, and each next one a row chosen with probability proportional to
 * its squared distance to the nearest centroid so far. When every row
 * already sits on a centroid (fewer distinct rows than k), the choice is
 * uniform. Returns 0 or BL_ECANCELED.
 */
int bl__kmeans_seed(bl__kmeans_t *km, uint64_t *rng)
{
	size_t first = next_index(rng, km->n);
	memcpy(km->centroids, row(km, first), km->d * sizeof(double));
	for (size_t i = 0; i < km->n; i++)
		km->nearest[i] = squared_distance(row(km, i), km->centroids, km->d);

	for (size_t c = 1; c < km->k; c++) {
		if (bl_cancel_requested(km->cancel))
			return BL_ECANCELED;

		double total = 0;
		for (size_t i = 0; i < km->n; i++)
			total += km->nearest[i];
		size_t pick = total > 0 ? weighted_row(km, next_unit(rng) * total) : next_index(rng, km->n);

		double *centroid = km->centroids + c * km->d;
		memcpy(centroid, row(km, pick), km->d * sizeof(double));
		for (size_t i = 0; i < km->n; i++) {
			double dist = squared_distance(row(km, i), centroid, km->d);
			if (dist < km->nearest[i])
				km->nearest[i] = dist;
		}
	}
	return 0;
}

/* Assign every row to its nearest centroid, the lower index on a tie, and
 * return the inertia through *inertia. Returns 0 or BL_ECANCELED. */
static int assign(bl__kmeans_t *km, double *inertia)
{
	double total = 0;
	for (size_t i = 0; i < km->n; i++) {
		if (bl_cancel_requested(km->cancel))
			return BL_ECANCELED;

		size_t best = 0;
		double best_dist = squared_distance(row(km, i), km->centroids, km->d);
		for (size_t c = 1; c < km->k; c++) {
			double dist = squared_distance(row(km, i), km->centroids + c * km->d, km->d);
			if (dist < best_dist) {
				best = c;
				best_dist = dist;
			}
		}
		km->labels[i] = (int64_t)best;
		km->nearest[i] = best_dist;
		total += best_dist;
	}
	*inertia = total;
	return 0;
}

double bl__kmeans_inertia(const bl__kmeans_t *km)
{
	double total = 0;
	for (size_t i = 0; i < km->n; i++)
		total += squared_distance(row(km, i), km->centroids + (size_t)km->labels[i] * km->d, km->d);
	return total;
}

/*
 * Re-seed an empty cluster with the row farthest from its own centroid,
 * the row the current clustering explains worst, and mark that row so
 * that a second empty cluster takes a different one. The row keeps its
 * old label until the next assignment moves it.
 */
static void reseed_empty(bl__kmeans_t *km, double *centroid)
{
	size_t farthest = 0;
	for (size_t i = 1; i < km->n; i++) {
		if (km->nearest[i] > km->nearest[farthest])
			farthest = i;
	}
	memcpy(centroid, row(km, farthest), km->d * sizeof(double));
	km->nearest[farthest] = -1;
}

/* Move each centroid to the mean of its rows and return the largest
 * distance any centroid moved. */
double bl__kmeans_update(bl__kmeans_t *km)
{
	size_t kd = km->k * km->d;
	memcpy(km->previous, km->centroids, kd * sizeof(double));
	memset(km->sums, 0, kd * sizeof(double));
	memset(km->sizes, 0, km->k * sizeof(size_t));
	for (size_t i = 0; i < km->n; i++) {
		size_t c = (size_t)km->labels[i];
		double *sum = km->sums + c * km->d;
		for (size_t j = 0; j < km->d; j++)
			sum[j] += row(km, i)[j];
		km->sizes[c]++;
	}

	double shift = 0;
	for (size_t c = 0; c < km->k; c++) {
		double *centroid = km->centroids + c * km->d;
		if (km->sizes[c] == 0) {
			reseed_empty(km, centroid);
		} else {
			for (size_t j = 0; j < km->d; j++)
				centroid[j] = km->sums[c * km->d + j] / (double)km->sizes[c];
		}
		double moved = sqrt(squared_distance(centroid, km->previous + c * km->d, km->d));
		if (moved > shift)
			shift = moved;
	}
	return shift;
}

/*
 * Run one start: seed, then Lloyd iterations (assign, update) until no
 * centroid moves further than `tolerance` or `max_iterations` have run,
 * and a last assignment against the final centroids so that labels and
 * inertia describe them. Returns 0 or BL_ECANCELED.
 */
static int run_start(bl__kmeans_t *km, const bl_kmeans_args_t *args, uint64_t *rng, double *inertia,
		     unsigned *iterations)
{
	int rc = bl__kmeans_seed(km, rng);
	if (rc < 0)
		return rc;

	unsigned it = 0;
	while (it < args->max_iterations) {
		rc = assign(km, inertia);
		if (rc < 0)
			return rc;
		double shift = bl__kmeans_update(km);
		it++;
		if (shift <= args->tolerance)
			break;
	}

	*iterations = it;
	return assign(km, inertia);
}

int bl__kmeans_check_args(const bl_tensor_t *x, const bl_kmeans_args_t *args, bl_error_t *err)
{
	if (x->ndim != 2)
		return bl_error_set(err, BL_EINVAL, "x", "x is %u-D, expected a 2-D n x d matrix", x->ndim);
	if (args->k == 0 || args->k > x->shape[0])
		return bl_error_set(err, BL_EINVAL, "k", "k is %zu, expected 1 to the row count %zu", args->k,
				    x->shape[0]);
	if (args->starts == 0)
		return bl_error_set(err, BL_EINVAL, "starts", "starts is 0, expected at least 1");
	if (!(args->tolerance >= 0))
		return bl_error_set(err, BL_EINVAL, "tolerance", "tolerance is %g, expected a number >= 0",
				    args->tolerance);
	for (size_t i = 0; i < x->count; i++) {
		double v = bl_tensor_get(x, i);
		if (!isfinite(v))
			return bl_error_set(err, BL_EINVAL, "x", "x[%zu][%zu] is %g, expected a finite number",
					    i / x->shape[1], i % x->shape[1], v);
	}
	return 0;
}

/* Allocate an array of `count` elements, at least one so that rows of
 * width 0 do not look like a failed malloc(0). */
static void *alloc_array(size_t count, size_t size)
{
	return malloc((count ? count : 1) * size);
}

/* Allocate the working arrays of *km, whose x, n, d, k and cancel are set.
 * Returns false when memory runs out, with whatever was allocated still
 * to be freed by bl__kmeans_destroy. */
bool bl__kmeans_init(bl__kmeans_t *km)
{
	size_t kd = km->k * km->d;
	km->centroids = alloc_array(kd, sizeof(double));
	km->previous = alloc_array(kd, sizeof(double));
	km->sums = alloc_array(kd, sizeof(double));
	km->sizes = alloc_array(km->k, sizeof(size_t));
	km->labels = alloc_array(km->n, sizeof(int64_t));
	km->nearest = alloc_array(km->n, sizeof(double));
	return km->centroids && km->previous && km->sums && km->sizes && km->labels && km->nearest;
}

void bl__kmeans_destroy(bl__kmeans_t *km)
{
	free(km->centroids);
	free(km->previous);
	free(km->sums);
	free(km->sizes);
	free(km->labels);
	free(km->nearest);
}

/* Keep the result of the start just run in *best. */
void bl__kmeans_keep(bl_kmeans_result_t *best, const bl__kmeans_t *km, double inertia, unsigned iterations)
{
	memcpy(best->centroids->data, km->centroids, best->centroids->nbytes);
	memcpy(best->labels->data, km->labels, best->labels->nbytes);
	best->inertia = inertia;
	best->iterations = iterations;
}

int bl_cpu_kmeans(bl_kmeans_result_t *out, const bl_tensor_t *x, const bl_kmeans_args_t *args,
		  const bl_cancel_t *cancel, bl_error_t *err)
{
	int rc = bl__kmeans_check_args(x, args, err);
	if (rc < 0)
		return rc;

	bl_tensor_t *copy = NULL;
	if (x->dtype != BL_DTYPE_F64) {
		rc = bl_tensor_convert(&copy, x, BL_DTYPE_F64, err);
		if (rc < 0)
			return rc;
	}
	bl__kmeans_t km = {
		.x = copy ? copy->data : x->data,
		.n = x->shape[0],
		.d = x->shape[1],
		.k = args->k,
		.cancel = cancel,
	};
	bl_kmeans_result_t best = {0};
	size_t centroid_shape[2] = {km.k, km.d};
	rc = bl_tensor_new(&best.centroids, BL_DTYPE_F64, 2, centroid_shape, err);
	if (rc < 0)
		goto done;
	rc = bl_tensor_new(&best.labels, BL_DTYPE_I64, 1, &km.n, err);
	if (rc < 0)
		goto done;
	if (!bl__kmeans_init(&km)) {
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory for k-means of %zu x %zu with k %zu", km.n,
				  km.d, km.k);
		goto done;
	}

	/* One generator runs through all starts, so each start seeds from a
	 * different part of the same deterministic stream. */
	uint64_t rng = args->seed;
	for (unsigned s = 0; s < args->starts; s++) {
		double inertia;
		unsigned iterations;
		if (run_start(&km, args, &rng, &inertia, &iterations) < 0) {
			rc = bl_error_set(err, BL_ECANCELED, NULL, "cancelled during start %u of %u", s + 1,
					  args->starts);
			goto done;
		}
		if (s == 0 || inertia < best.inertia)
			bl__kmeans_keep(&best, &km, inertia, iterations);
	}
	*out = best;

done:
	bl__kmeans_destroy(&km);
	bl_tensor_free(&copy);
	if (rc < 0)
		bl_kmeans_result_free(&best);
	return rc;
}

void bl_kmeans_result_free(bl_kmeans_result_t *r)
{
	if (!r)
		return;
	bl_tensor_free(&r->centroids);
	bl_tensor_free(&r->labels);
}
