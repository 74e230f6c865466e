#include <math.h>
#include <stdbool.h>

#include <beamline/kernels.h>

#include "cpu/pairwise_l2.h"

/*
 * Each distance sums the squared differences directly, in double, rather
 * than expanding |x|^2 + |y|^2 - 2 x.y through a matrix product. The
 * expansion is faster but cancels badly for close points and can come out
 * negative.
 */

static double squared_f32(const float *a, const float *b, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++) {
		double diff = (double)a[i] - (double)b[i];
		s += diff * diff;
	}
	return s;
}

static double squared_f64(const double *a, const double *b, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++) {
		double diff = a[i] - b[i];
		s += diff * diff;
	}
	return s;
}

/* Inputs in the dtype the kernel computes in: the tensors themselves, or
 * float64 copies owned here. */
typedef struct operands {
	const bl_tensor_t *x;
	const bl_tensor_t *y;
	bl_tensor_t *x_copy;
	bl_tensor_t *y_copy;
} operands_t;

static int prepare(operands_t *ops, const bl_tensor_t *x, const bl_tensor_t *y, bool f32, bl_error_t *err)
{
	*ops = (operands_t){x, y, NULL, NULL};
	if (f32)
		return 0;
	if (x->dtype != BL_DTYPE_F64) {
		int rc = bl_tensor_convert(&ops->x_copy, x, BL_DTYPE_F64, err);
		if (rc < 0)
			return rc;
		ops->x = ops->x_copy;
	}
	if (y == x) {
		ops->y = ops->x;
	} else if (y->dtype != BL_DTYPE_F64) {
		int rc = bl_tensor_convert(&ops->y_copy, y, BL_DTYPE_F64, err);
		if (rc < 0) {
			bl_tensor_free(&ops->x_copy);
			return rc;
		}
		ops->y = ops->y_copy;
	}
	return 0;
}

static double distance(const operands_t *ops, size_t i, size_t j, size_t d, bool squared)
{
	double s;
	if (ops->x->dtype == BL_DTYPE_F32)
		s = squared_f32((const float *)ops->x->data + i * d, (const float *)ops->y->data + j * d, d);
	else
		s = squared_f64((const double *)ops->x->data + i * d, (const double *)ops->y->data + j * d, d);
	return squared ? s : sqrt(s);
}

int bl__pairwise_l2_check_args(const bl_tensor_t *x, const bl_tensor_t *y, bl_error_t *err)
{
	if (x->ndim != 2)
		return bl_error_set(err, BL_EINVAL, "x", "x is %u-D, expected a 2-D n x d matrix", x->ndim);
	if (y->ndim != 2)
		return bl_error_set(err, BL_EINVAL, "y", "y is %u-D, expected a 2-D m x d matrix", y->ndim);
	if (y->shape[1] != x->shape[1])
		return bl_error_set(err, BL_EINVAL, "y", "y has rows of width %zu, but x has rows of width %zu",
				    y->shape[1], x->shape[1]);
	return 0;
}

int bl_cpu_pairwise_l2(bl_tensor_t **out, const bl_tensor_t *x, const bl_tensor_t *y, bool squared,
		       const bl_cancel_t *cancel, bl_error_t *err)
{
	bool self = y == NULL;
	if (self)
		y = x;
	int rc = bl__pairwise_l2_check_args(x, y, err);
	if (rc < 0)
		return rc;

	size_t n = x->shape[0];
	size_t m = y->shape[0];
	size_t d = x->shape[1];
	bool f32 = x->dtype == BL_DTYPE_F32 && y->dtype == BL_DTYPE_F32;
	size_t shape[2] = {n, m};
	bl_tensor_t *t;
	rc = bl_tensor_new(&t, f32 ? BL_DTYPE_F32 : BL_DTYPE_F64, 2, shape, err);
	if (rc < 0)
		return rc;
	operands_t ops;
	rc = prepare(&ops, x, y, f32, err);
	if (rc < 0)
		goto err_free_result;

	for (size_t i = 0; i < n; i++) {
		if (bl_cancel_requested(cancel)) {
			rc = bl_error_set(err, BL_ECANCELED, NULL, "cancelled after %zu of %zu rows", i, n);
			goto err_free_copies;
		}
		for (size_t j = 0; j < m; j++) {
			/* Against itself the matrix is symmetric: the lower
			 * triangle copies the upper one, already computed. */
			double v = self && j < i ? bl_tensor_get(t, j * m + i) : distance(&ops, i, j, d, squared);
			if (f32)
				((float *)t->data)[i * m + j] = (float)v;
			else
				((double *)t->data)[i * m + j] = v;
		}
	}

	bl_tensor_free(&ops.x_copy);
	bl_tensor_free(&ops.y_copy);
	*out = t;
	return 0;

err_free_copies:
	bl_tensor_free(&ops.x_copy);
	bl_tensor_free(&ops.y_copy);
err_free_result:
	bl_tensor_free(&t);
	return rc;
}
