#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <beamline/kernels.h>

#include "checks.h"

/* 1 / sqrt(2); M_SQRT1_2 is an XSI extension that strict C17 lacks. */
#define INV_SQRT2 0.70710678118654752440

static const char *const op_names[] = {
	[BL_MAP_ADD] = "add", [BL_MAP_MUL] = "mul",   [BL_MAP_SCALE] = "scale",
	[BL_MAP_RELU] = "relu", [BL_MAP_GELU] = "gelu", [BL_MAP_EXP] = "exp",
};

#define OP_COUNT (sizeof op_names / sizeof *op_names)

int bl_map_op_parse(bl_map_op_t *out, const char *name)
{
	for (size_t i = 0; i < OP_COUNT; i++) {
		if (strcmp(op_names[i], name) == 0) {
			*out = (bl_map_op_t)i;
			return 0;
		}
	}
	return BL_EINVAL;
}

static bool same_shape(const bl_tensor_t *a, const bl_tensor_t *b)
{
	if (a->ndim != b->ndim)
		return false;
	for (unsigned i = 0; i < a->ndim; i++) {
		if (a->shape[i] != b->shape[i])
			return false;
	}
	return true;
}

/* Room for BL_TENSOR_DIMS_MAX dimensions of 20 digits, with separators. */
#define SHAPE_TEXT_MAX (BL_TENSOR_DIMS_MAX * 22 + 3)

/* Write the shape of `t` into buf as "[3, 4]" ("[]" for a scalar) and
 * return buf. */
static const char *shape_text(char *buf, const bl_tensor_t *t)
{
	size_t used = (size_t)snprintf(buf, SHAPE_TEXT_MAX, "[");
	for (unsigned i = 0; i < t->ndim; i++)
		used += (size_t)snprintf(buf + used, SHAPE_TEXT_MAX - used, "%s%zu", i ? ", " : "", t->shape[i]);
	snprintf(buf + used, SHAPE_TEXT_MAX - used, "]");
	return buf;
}

/* Apply `op` to one element. y is ignored by the unary ops. */
static double apply(bl_map_op_t op, double x, double y, double scalar)
{
	switch (op) {
	case BL_MAP_ADD:
		return x + y;
	case BL_MAP_MUL:
		return x * y;
	case BL_MAP_SCALE:
		return x * scalar;
	case BL_MAP_RELU:
		/* Written so that NaN passes through, where fmax would drop it. */
		return x < 0 ? 0 : x;
	case BL_MAP_GELU:
		/* Phi(x) = erfc(-x / sqrt 2) / 2 equals (1 + erf(x / sqrt 2)) / 2,
		 * but keeps its precision for large negative x, where 1 + erf
		 * cancels. */
		return x * 0.5 * erfc(-x * INV_SQRT2);
	case BL_MAP_EXP:
		return exp(x);
	}
	return NAN;
}

bool bl__map_is_binary(bl_map_op_t op)
{
	return op == BL_MAP_ADD || op == BL_MAP_MUL;
}

int bl__map_check(bl_map_op_t op, const bl_tensor_t *x, const bl_tensor_t *y, bl_error_t *err)
{
	if ((unsigned)op >= OP_COUNT)
		return bl_error_set(err, BL_EINVAL, "op", "unknown map op %d", (int)op);
	bool binary = bl__map_is_binary(op);
	if (binary && !y)
		return bl_error_set(err, BL_EINVAL, "y", "op %s needs a second tensor y, got none", op_names[op]);
	if (binary && y->count != 1 && !same_shape(x, y)) {
		char shape_x[SHAPE_TEXT_MAX];
		char shape_y[SHAPE_TEXT_MAX];
		return bl_error_set(err, BL_EINVAL, "y", "y has shape %s, expected x's shape %s or a single element",
				    shape_text(shape_y, y), shape_text(shape_x, x));
	}
	return 0;
}

int bl_cpu_map(bl_tensor_t **out, bl_map_op_t op, const bl_tensor_t *x, const bl_tensor_t *y, double scalar,
	       bl_error_t *err)
{
	int rc = bl__map_check(op, x, y, err);
	if (rc < 0)
		return rc;
	bool binary = bl__map_is_binary(op);

	bool f32 = x->dtype == BL_DTYPE_F32 && (!binary || y->dtype == BL_DTYPE_F32);
	bl_tensor_t *t;
	rc = bl_tensor_new(&t, f32 ? BL_DTYPE_F32 : BL_DTYPE_F64, x->ndim, x->shape, err);
	if (rc < 0)
		return rc;

	/* Float32 results are computed in double and rounded once, which is
	 * at least as accurate as float arithmetic throughout. */
	for (size_t i = 0; i < x->count; i++) {
		double yv = binary ? bl_tensor_get(y, y->count == 1 ? 0 : i) : 0;
		double v = apply(op, bl_tensor_get(x, i), yv, scalar);
		if (f32)
			((float *)t->data)[i] = (float)v;
		else
			((double *)t->data)[i] = v;
	}
	*out = t;
	return 0;
}
