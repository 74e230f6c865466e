#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <beamline/kernels.h>

#include "checks.h"

/* Elements summed in a plain loop at the leaves of the pairwise sum. The
 * rounding error grows with log2(n / PAIRWISE_BLOCK) rather than n. */
#define PAIRWISE_BLOCK 64u

static const char *const op_names[] = {
	[BL_REDUCE_SUM] = "sum",
	[BL_REDUCE_MAX] = "max",
	[BL_REDUCE_MIN] = "min",
	[BL_REDUCE_MEAN] = "mean",
};

#define OP_COUNT (sizeof op_names / sizeof *op_names)

int bl_reduce_op_parse(bl_reduce_op_t *out, const char *name)
{
	for (size_t i = 0; i < OP_COUNT; i++) {
		if (strcmp(op_names[i], name) == 0) {
			*out = (bl_reduce_op_t)i;
			return 0;
		}
	}
	return BL_EINVAL;
}

/* The elements x[start + i * stride] for i in [0, n): one line of a
 * reduction. */
typedef struct line {
	const bl_tensor_t *x;
	size_t start;
	size_t n;
	size_t stride;
} line_t;

/* Sum a line of at most PAIRWISE_BLOCK elements, dispatching on the dtype
 * once for the whole loop. */
static double sum_block(const line_t *l)
{
	double s = 0;
	switch (l->x->dtype) {
	case BL_DTYPE_F32: {
		const float *p = (const float *)l->x->data + l->start;
		for (size_t i = 0; i < l->n; i++)
			s += p[i * l->stride];
		break;
	}
	case BL_DTYPE_F64: {
		const double *p = (const double *)l->x->data + l->start;
		for (size_t i = 0; i < l->n; i++)
			s += p[i * l->stride];
		break;
	}
	case BL_DTYPE_I32:
	case BL_DTYPE_I64:
		for (size_t i = 0; i < l->n; i++)
			s += bl_tensor_get(l->x, l->start + i * l->stride);
		break;
	}
	return s;
}

/* Sum a line pairwise: split it in halves until a half fits one block. */
static double sum_pairwise(const line_t *l)
{
	if (l->n <= PAIRWISE_BLOCK)
		return sum_block(l);

	size_t half = l->n / 2;
	line_t low = {l->x, l->start, half, l->stride};
	line_t high = {l->x, l->start + half * l->stride, l->n - half, l->stride};
	return sum_pairwise(&low) + sum_pairwise(&high);
}

/* Return the maximum (or minimum) of a non-empty line; NaN when the line
 * contains NaN. */
static double extreme(const line_t *l, bool max)
{
	double best = bl_tensor_get(l->x, l->start);
	for (size_t i = 0; i < l->n && !isnan(best); i++) {
		double v = bl_tensor_get(l->x, l->start + i * l->stride);
		if (isnan(v) || (max ? v > best : v < best))
			best = v;
	}
	return best;
}

static double reduce_line(bl_reduce_op_t op, const line_t *l)
{
	switch (op) {
	case BL_REDUCE_SUM:
		return sum_pairwise(l);
	case BL_REDUCE_MAX:
		return extreme(l, true);
	case BL_REDUCE_MIN:
		return extreme(l, false);
	case BL_REDUCE_MEAN:
		return sum_pairwise(l) / (double)l->n;
	}
	return NAN;
}

/* Fill *p for a reduction along `axis` (negative counts from the end).
 * Returns 0 or BL_EINVAL. */
static int plan_axis(bl__reduce_plan_t *p, const bl_tensor_t *x, int axis, bl_error_t *err)
{
	if (x->ndim == 0)
		return bl_error_set(err, BL_EINVAL, "axis", "x is a scalar and has no axis %d; set all to reduce it",
				    axis);
	long resolved = axis < 0 ? (long)axis + (long)x->ndim : (long)axis;
	if (resolved < 0 || resolved >= (long)x->ndim)
		return bl_error_set(err, BL_EINVAL, "axis", "axis %d is out of range for a %u-D tensor", axis,
				    x->ndim);

	unsigned a = (unsigned)resolved;
	*p = (bl__reduce_plan_t){.outer = 1, .n = x->shape[a], .inner = 1, .ndim = x->ndim - 1};
	for (unsigned i = 0; i < x->ndim; i++) {
		if (i < a)
			p->outer *= x->shape[i];
		else if (i > a)
			p->inner *= x->shape[i];
		if (i != a)
			p->shape[i < a ? i : i - 1] = x->shape[i];
	}
	return 0;
}

int bl__reduce_plan(bl__reduce_plan_t *p, bl_reduce_op_t op, const bl_tensor_t *x, int axis, bool all,
		    bl_error_t *err)
{
	if ((unsigned)op >= OP_COUNT)
		return bl_error_set(err, BL_EINVAL, "op", "unknown reduce op %d", (int)op);
	if (all) {
		*p = (bl__reduce_plan_t){.outer = 1, .n = x->count, .inner = 1, .ndim = 0};
	} else {
		int rc = plan_axis(p, x, axis, err);
		if (rc < 0)
			return rc;
	}

	if (p->n == 0 && op != BL_REDUCE_SUM)
		return bl_error_set(err, BL_EINVAL, all ? "x" : "axis", "the %s of an empty %s is undefined",
				    op_names[op], all ? "tensor" : "axis");
	return 0;
}

int bl_cpu_reduce(bl_tensor_t **out, bl_reduce_op_t op, const bl_tensor_t *x, int axis, bool all,
		  bl_error_t *err)
{
	bl__reduce_plan_t p;
	int rc = bl__reduce_plan(&p, op, x, axis, all, err);
	if (rc < 0)
		return rc;

	bl_tensor_t *t;
	bool f32 = x->dtype == BL_DTYPE_F32;
	rc = bl_tensor_new(&t, f32 ? BL_DTYPE_F32 : BL_DTYPE_F64, p.ndim, p.shape, err);
	if (rc < 0)
		return rc;

	for (size_t o = 0; o < p.outer; o++) {
		for (size_t i = 0; i < p.inner; i++) {
			line_t l = {x, o * p.n * p.inner + i, p.n, p.inner};
			double v = reduce_line(op, &l);
			size_t at = o * p.inner + i;
			if (f32)
				((float *)t->data)[at] = (float)v;
			else
				((double *)t->data)[at] = v;
		}
	}
	*out = t;
	return 0;
}
