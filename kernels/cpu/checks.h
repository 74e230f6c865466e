/*
 * Argument checks and result shapes that the CPU kernels share with their
 * device counterparts (kernels/gpu), so both reject the same inputs with
 * the same codes and messages.
 */
#ifndef BL_KERNELS_CPU_CHECKS_H
#define BL_KERNELS_CPU_CHECKS_H

#include <beamline/kernels.h>

/* Check the op of a map and its y: ADD and MUL need y of x's shape or of
 * one element. Returns 0 or BL_EINVAL naming "op" or "y". */
int bl__map_check(bl_map_op_t op, const bl_tensor_t *x, const bl_tensor_t *y, bl_error_t *err);

/* Return whether `op` takes a second tensor y. */
bool bl__map_is_binary(bl_map_op_t op);

/*
 * A reduction seen as outer * inner lines of n elements, each element
 * `inner` apart, and the result's shape: x's shape without the reduced
 * axis, or no dimension when every element is reduced.
 */
typedef struct bl__reduce_plan {
	size_t outer;
	size_t n;
	size_t inner;
	unsigned ndim;
	size_t shape[BL_TENSOR_DIMS_MAX];
} bl__reduce_plan_t;

/* Check a reduction and fill *p for it: along `axis` (negative counts from
 * the end), or over everything when `all` is set. Returns 0, or BL_EINVAL
 * for an unknown op, an axis out of range, a scalar without `all`, or an
 * op other than SUM over an empty axis. */
int bl__reduce_plan(bl__reduce_plan_t *p, bl_reduce_op_t op, const bl_tensor_t *x, int axis, bool all,
		    bl_error_t *err);

/* Check the bin count of a histogram. Returns 0, BL_EINVAL for 0 or
 * BL_ELIMIT for SIZE_MAX. */
int bl__histogram_check_bins(size_t bins, bl_error_t *err);

/*
 * Check the range [*lo, *hi] of a histogram and widen a range of zero
 * width to [lo - 0.5, hi + 0.5], so that the bins have a width. The range
 * comes from the caller when `given` is set, else it is the data's non-NaN
 * minimum and maximum. Returns 0, or BL_EINVAL (field "range" or "x") for
 * bounds that are not finite, lo above hi, or a width that overflows a
 * double.
 */
int bl__histogram_settle_range(double *lo, double *hi, bool given, bl_error_t *err);

/* Fill edge[0 .. bins] with the edges of `bins` equal bins over a range
 * that bl__histogram_settle_range accepted: lo + (hi - lo) * i / bins,
 * and hi last. */
void bl__histogram_fill_edges(double *edge, double lo, double hi, size_t bins);

#endif
