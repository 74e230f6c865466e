#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kernels.h>

#include "cpu/topk.h"

/* One row of x and the order asked for. */
typedef struct row {
	const bl_tensor_t *x;
	size_t start;
	bool largest;
} row_t;

/* Compare elements i and j of the row by value: negative, zero or positive
 * as x[i] is below, equal to or above x[j]. int64 is compared as integers,
 * which doubles could not tell apart beyond 2^53; the other dtypes convert
 * to double exactly. Neither element may be NaN. */
static int compare_values(const row_t *r, size_t i, size_t j)
{
	if (r->x->dtype == BL_DTYPE_I64) {
		const int64_t *p = (const int64_t *)r->x->data + r->start;
		return (p[i] > p[j]) - (p[i] < p[j]);
	}
	double a = bl_tensor_get(r->x, r->start + i);
	double b = bl_tensor_get(r->x, r->start + j);
	return (a > b) - (a < b);
}

static bool is_nan(const row_t *r, size_t i)
{
	return (r->x->dtype == BL_DTYPE_F32 || r->x->dtype == BL_DTYPE_F64) && isnan(bl_tensor_get(r->x, r->start + i));
}

/* Return whether element i ranks strictly before element j (i != j). This
 * is a total order: numbers before NaN, then by value, then by index. */
static bool ranks_before(const row_t *r, size_t i, size_t j)
{
	bool nan_i = is_nan(r, i);
	bool nan_j = is_nan(r, j);
	if (nan_i != nan_j)
		return nan_j;
	if (!nan_i) {
		int c = compare_values(r, i, j);
		if (c != 0)
			return r->largest ? c > 0 : c < 0;
	}
	return i < j;
}

/* Restore the heap below `at`. The heap keeps the element that ranks last
 * at its root, so the root is the one to evict. */
static void sift_down(const row_t *r, size_t *heap, size_t size, size_t at)
{
	for (;;) {
		size_t worst = at;
		size_t left = 2 * at + 1;
		size_t right = left + 1;
		if (left < size && ranks_before(r, heap[worst], heap[left]))
			worst = left;
		if (right < size && ranks_before(r, heap[worst], heap[right]))
			worst = right;
		if (worst == at)
			return;
		size_t tmp = heap[at];
		heap[at] = heap[worst];
		heap[worst] = tmp;
		at = worst;
	}
}

/*
 * Leave in heap[0..k) the indices of the k best elements of a row of n,
 * best first. A heap of the k best seen so far, worst at the root, takes
 * each further element that beats its root: O(n log k). Heap sort then
 * orders the survivors.
 */
static void select_row(const row_t *r, size_t n, size_t k, size_t *heap)
{
	for (size_t i = 0; i < k; i++)
		heap[i] = i;
	for (size_t i = k / 2; i-- > 0;)
		sift_down(r, heap, k, i);

	for (size_t i = k; i < n; i++) {
		if (ranks_before(r, i, heap[0])) {
			heap[0] = i;
			sift_down(r, heap, k, 0);
		}
	}

	for (size_t size = k; size > 1; size--) {
		size_t tmp = heap[0];
		heap[0] = heap[size - 1];
		heap[size - 1] = tmp;
		sift_down(r, heap, size - 1, 0);
	}
}

int bl__topk_check_args(const bl_tensor_t *x, size_t k, bl_error_t *err)
{
	if (x->ndim != 1 && x->ndim != 2)
		return bl_error_set(err, BL_EINVAL, "x", "x is %u-D, expected 1-D or 2-D", x->ndim);
	size_t n = x->shape[x->ndim - 1];
	if (k == 0 || k > n)
		return bl_error_set(err, BL_EINVAL, "k", "k is %zu, expected 1 to the row length %zu", k, n);
	return 0;
}

int bl_cpu_topk(bl_tensor_t **values, bl_tensor_t **indices, const bl_tensor_t *x, size_t k, bool largest,
		bl_error_t *err)
{
	int rc = bl__topk_check_args(x, k, err);
	if (rc < 0)
		return rc;
	size_t rows = x->ndim == 2 ? x->shape[0] : 1;
	size_t n = x->shape[x->ndim - 1];

	size_t shape[2] = {rows, k};
	const size_t *out_shape = x->ndim == 2 ? shape : &shape[1];
	bl_tensor_t *v;
	bl_tensor_t *ix;
	rc = bl_tensor_new(&v, x->dtype, x->ndim, out_shape, err);
	if (rc < 0)
		return rc;
	rc = bl_tensor_new(&ix, BL_DTYPE_I64, x->ndim, out_shape, err);
	if (rc < 0)
		goto err_free_values;
	size_t *heap = malloc(k * sizeof *heap);
	if (!heap) {
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory allocating %zu indices", k);
		goto err_free_indices;
	}

	size_t elem = bl_dtype_size(x->dtype);
	for (size_t r = 0; r < rows; r++) {
		row_t row = {x, r * n, largest};
		select_row(&row, n, k, heap);
		for (size_t i = 0; i < k; i++) {
			memcpy((unsigned char *)v->data + (r * k + i) * elem,
			       (const unsigned char *)x->data + (r * n + heap[i]) * elem, elem);
			((int64_t *)ix->data)[r * k + i] = (int64_t)heap[i];
		}
	}
	free(heap);
	*values = v;
	*indices = ix;
	return 0;

err_free_indices:
	bl_tensor_free(&ix);
err_free_values:
	bl_tensor_free(&v);
	return rc;
}
