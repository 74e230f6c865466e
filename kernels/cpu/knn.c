#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kernels.h>

#include "cpu/knn.h"

/* Order neighbours by distance, the lower training index on a tie. */
static bool closer(const bl__knn_neighbour_t *a, const bl__knn_neighbour_t *b)
{
	if (a->dist != b->dist)
		return a->dist < b->dist;
	return a->index < b->index;
}

/* Restore the heap below `at`; the root is the farthest of the k kept. */
static void sift_down(bl__knn_neighbour_t *heap, size_t size, size_t at)
{
	for (;;) {
		size_t far = at;
		size_t left = 2 * at + 1;
		size_t right = left + 1;
		if (left < size && closer(&heap[far], &heap[left]))
			far = left;
		if (right < size && closer(&heap[far], &heap[right]))
			far = right;
		if (far == at)
			return;
		bl__knn_neighbour_t tmp = heap[at];
		heap[at] = heap[far];
		heap[far] = tmp;
		at = far;
	}
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

/* Leave in heap[0..k) the k training rows nearest to `query`, nearest
 * first, keeping a heap of the k nearest so far with the farthest at its
 * root. */
static void nearest_rows(bl__knn_neighbour_t *heap, size_t k, const double *train, size_t n, size_t d,
			 const double *query)
{
	for (size_t i = 0; i < k; i++)
		heap[i] = (bl__knn_neighbour_t){squared_distance(train + i * d, query, d), i};
	for (size_t i = k / 2; i-- > 0;)
		sift_down(heap, k, i);

	for (size_t i = k; i < n; i++) {
		bl__knn_neighbour_t candidate = {squared_distance(train + i * d, query, d), i};
		if (closer(&candidate, &heap[0])) {
			heap[0] = candidate;
			sift_down(heap, k, 0);
		}
	}

	for (size_t size = k; size > 1; size--) {
		bl__knn_neighbour_t tmp = heap[0];
		heap[0] = heap[size - 1];
		heap[size - 1] = tmp;
		sift_down(heap, size - 1, 0);
	}
}

/* Read label i of an int32 or int64 tensor. */
static int64_t label_at(const bl_tensor_t *y, size_t i)
{
	if (y->dtype == BL_DTYPE_I32)
		return ((const int32_t *)y->data)[i];
	return ((const int64_t *)y->data)[i];
}

/*
 * Return the label most of the k neighbours (nearest first) hold. A tie
 * goes to the label whose nearest neighbour is closer, then to the smaller
 * label. `tallies` has room for k entries.
 */
int64_t bl__knn_vote(const bl__knn_neighbour_t *neighbours, size_t k, const bl_tensor_t *train_y,
		     bl__knn_tally_t *tallies)
{
	size_t labels = 0;
	for (size_t i = 0; i < k; i++) {
		int64_t label = label_at(train_y, neighbours[i].index);
		size_t t = 0;
		while (t < labels && tallies[t].label != label)
			t++;
		if (t == labels)
			tallies[labels++] = (bl__knn_tally_t){label, 0, neighbours[i].dist};
		tallies[t].votes++;
	}

	const bl__knn_tally_t *best = &tallies[0];
	for (size_t t = 1; t < labels; t++) {
		const bl__knn_tally_t *c = &tallies[t];
		if (c->votes != best->votes) {
			if (c->votes > best->votes)
				best = c;
		} else if (c->nearest != best->nearest) {
			if (c->nearest < best->nearest)
				best = c;
		} else if (c->label < best->label) {
			best = c;
		}
	}
	return best->label;
}

/* Check that `t`, called `name`, is a matrix of finite numbers. */
static int check_matrix(const bl_tensor_t *t, const char *name, bl_error_t *err)
{
	if (t->ndim != 2)
		return bl_error_set(err, BL_EINVAL, name, "%s is %u-D, expected a 2-D matrix", name,
				    t->ndim);
	for (size_t i = 0; i < t->count; i++) {
		double v = bl_tensor_get(t, i);
		if (!isfinite(v))
			return bl_error_set(err, BL_EINVAL, name, "%s[%zu][%zu] is %g, expected a finite number", name,
					    i / t->shape[1], i % t->shape[1], v);
	}
	return 0;
}

int bl__knn_check_args(const bl_tensor_t *train_x, const bl_tensor_t *train_y, const bl_tensor_t *test_x, size_t k,
		       bl_error_t *err)
{
	int rc = check_matrix(train_x, "train_x", err);
	if (rc < 0)
		return rc;
	rc = check_matrix(test_x, "test_x", err);
	if (rc < 0)
		return rc;
	if (test_x->shape[1] != train_x->shape[1])
		return bl_error_set(err, BL_EINVAL, "test_x", "test_x has rows of width %zu, but train_x has %zu",
				    test_x->shape[1], train_x->shape[1]);

	size_t n = train_x->shape[0];
	if (train_y->dtype != BL_DTYPE_I32 && train_y->dtype != BL_DTYPE_I64)
		return bl_error_set(err, BL_EINVAL, "train_y", "train_y is %s, expected int32 or int64 labels",
				    bl_dtype_name(train_y->dtype));
	if (train_y->ndim != 1 || train_y->shape[0] != n)
		return bl_error_set(err, BL_EINVAL, "train_y",
				    "train_y is %u-D with %zu elements, expected a 1-D tensor with one label for "
				    "each of the %zu rows of train_x",
				    train_y->ndim, train_y->count, n);
	if (k == 0 || k > n)
		return bl_error_set(err, BL_EINVAL, "k", "k is %zu, expected 1 to the %zu rows of train_x", k, n);
	return 0;
}

/* Point *data at the float64 elements of t, converting into *copy when t
 * has another dtype. */
static int as_f64(const double **data, bl_tensor_t **copy, const bl_tensor_t *t, bl_error_t *err)
{
	*copy = NULL;
	if (t->dtype == BL_DTYPE_F64) {
		*data = t->data;
		return 0;
	}
	int rc = bl_tensor_convert(copy, t, BL_DTYPE_F64, err);
	if (rc < 0)
		return rc;
	*data = (*copy)->data;
	return 0;
}

int bl_cpu_knn(bl_tensor_t **predictions, const bl_tensor_t *train_x, const bl_tensor_t *train_y,
	       const bl_tensor_t *test_x, size_t k, const bl_cancel_t *cancel, bl_error_t *err)
{
	int rc = bl__knn_check_args(train_x, train_y, test_x, k, err);
	if (rc < 0)
		return rc;

	size_t n = train_x->shape[0];
	size_t m = test_x->shape[0];
	size_t d = train_x->shape[1];
	const double *train;
	const double *test;
	bl_tensor_t *train_copy = NULL;
	bl_tensor_t *test_copy = NULL;
	bl_tensor_t *t = NULL;
	bl__knn_neighbour_t *heap = malloc(k * sizeof *heap);
	bl__knn_tally_t *tallies = malloc(k * sizeof *tallies);
	if (!heap || !tallies) {
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory for %zu neighbours", k);
		goto done;
	}
	rc = as_f64(&train, &train_copy, train_x, err);
	if (rc < 0)
		goto done;
	rc = as_f64(&test, &test_copy, test_x, err);
	if (rc < 0)
		goto done;
	rc = bl_tensor_new(&t, BL_DTYPE_I64, 1, &m, err);
	if (rc < 0)
		goto done;

	for (size_t i = 0; i < m; i++) {
		if (bl_cancel_requested(cancel)) {
			rc = bl_error_set(err, BL_ECANCELED, NULL, "cancelled after %zu of %zu test rows", i, m);
			goto done;
		}
		nearest_rows(heap, k, train, n, d, test + i * d);
		((int64_t *)t->data)[i] = bl__knn_vote(heap, k, train_y, tallies);
	}
	*predictions = t;
	t = NULL;

done:
	bl_tensor_free(&t);
	bl_tensor_free(&test_copy);
	bl_tensor_free(&train_copy);
	free(tallies);
	free(heap);
	return rc;
}
