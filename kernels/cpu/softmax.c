#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include <beamline/kernels.h>

/* Store element i of the result, rounding to float32 where it is one. */
static void store(bl_tensor_t *t, size_t i, double v)
{
	if (t->dtype == BL_DTYPE_F32)
		((float *)t->data)[i] = (float)v;
	else
		((double *)t->data)[i] = v;
}

/*
 * Write the softmax of the `n` elements of x from `start` into t, using
 * `scratch` (n doubles). The row's maximum is subtracted before exp, so
 * the largest term is exp(0) = 1 and nothing overflows. Rows the formula
 * cannot handle are settled first: NaN anywhere, or every element -inf
 * (0 / 0), gives NaN throughout, and +inf elements share the whole mass,
 * which is the limit as they grow.
 */
static void softmax_row(bl_tensor_t *t, const bl_tensor_t *x, size_t start, size_t n, double *scratch)
{
	double max = -INFINITY;
	size_t infinities = 0;
	bool nan = false;
	for (size_t i = 0; i < n; i++) {
		double v = bl_tensor_get(x, start + i);
		nan |= isnan(v);
		infinities += v == INFINITY;
		if (v > max)
			max = v;
	}

	if (nan || max == -INFINITY) {
		for (size_t i = 0; i < n; i++)
			store(t, start + i, NAN);
		return;
	}
	if (infinities > 0) {
		for (size_t i = 0; i < n; i++)
			store(t, start + i, bl_tensor_get(x, start + i) == INFINITY ? 1.0 / (double)infinities : 0.0);
		return;
	}

	/* Neumaier's compensated sum: `lost` collects the low-order bits that
	 * each addition drops, so long rows normalise to 1 within a few
	 * roundings rather than n of them. */
	double sum = 0;
	double lost = 0;
	for (size_t i = 0; i < n; i++) {
		double term = exp(bl_tensor_get(x, start + i) - max);
		double next = sum + term;
		lost += fabs(sum) >= term ? (sum - next) + term : (term - next) + sum;
		sum = next;
		scratch[i] = term;
	}
	sum += lost;
	for (size_t i = 0; i < n; i++)
		store(t, start + i, scratch[i] / sum);
}

int bl_cpu_softmax(bl_tensor_t **out, const bl_tensor_t *x, bl_error_t *err)
{
	if (x->ndim != 1 && x->ndim != 2)
		return bl_error_set(err, BL_EINVAL, "x", "x is %u-D, expected 1-D or 2-D", x->ndim);

	size_t rows = x->ndim == 2 ? x->shape[0] : 1;
	size_t cols = x->shape[x->ndim - 1];
	bl_tensor_t *t;
	int rc = bl_tensor_new(&t, x->dtype == BL_DTYPE_F32 ? BL_DTYPE_F32 : BL_DTYPE_F64, x->ndim, x->shape, err);
	if (rc < 0)
		return rc;
	if (x->count == 0) {
		*out = t;
		return 0;
	}

	double *scratch = malloc(cols * sizeof *scratch);
	if (!scratch) {
		bl_tensor_free(&t);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory allocating a row of %zu doubles", cols);
	}
	for (size_t r = 0; r < rows; r++)
		softmax_row(t, x, r * cols, cols, scratch);
	free(scratch);
	*out = t;
	return 0;
}
