#include <float.h>
#include <math.h>
#include <stdint.h>
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

static bl_tensor_t *new_tensor(bl_dtype_t dtype, unsigned ndim, const size_t *shape)
{
	bl_tensor_t *t = NULL;
	int rc = bl_tensor_new(&t, dtype, ndim, shape, NULL);
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

static bl_tensor_t *random_tensor(bl_dtype_t dtype, unsigned ndim, const size_t *shape, uint64_t seed)
{
	bl_tensor_t *t = new_tensor(dtype, ndim, shape);
	uint64_t state = seed;
	for (size_t i = 0; i < t->count; i++)
		set_value(t, i, next_uniform(&state, -100, 100));
	return t;
}

static const char *const op_names[] = {"sum", "max", "min", "mean"};

/*
 * Reduce the elements x[start + i * stride], i < n, the plain way: a
 * long double loop for the sum, whose 64-bit mantissa makes it more
 * precise than the double sums under test, and comparisons for max and
 * min. *magnitude gets
 * the sum of absolute values, which bounds the rounding error of a sum.
 */
static double reference(bl_reduce_op_t op, const bl_tensor_t *x, size_t start, size_t n, size_t stride,
			double *magnitude)
{
	long double sum = 0;
	double best = n > 0 ? bl_tensor_get(x, start) : NAN;
	*magnitude = 0;
	for (size_t i = 0; i < n; i++) {
		double v = bl_tensor_get(x, start + i * stride);
		sum += v;
		*magnitude += fabs(v);
		if (op == BL_REDUCE_MAX && v > best)
			best = v;
		if (op == BL_REDUCE_MIN && v < best)
			best = v;
	}
	switch (op) {
	case BL_REDUCE_SUM:
		return (double)sum;
	case BL_REDUCE_MAX:
	case BL_REDUCE_MIN:
		return best;
	case BL_REDUCE_MEAN:
		*magnitude /= (double)n;
		return (double)(sum / (long double)n);
	}
	return NAN;
}

/*
 * Reduce a random 3-D tensor of `shape` along every axis, given both ways
 * (0..2 and -3..-1), with every op, and check each result against the
 * reference. Float64 results must be within 1e-13 of the magnitude of the
 * terms; float32 results within one float32 rounding of it.
 */
static void check_all_axes(bl_dtype_t dtype, const size_t *shape, uint64_t seed)
{
	bl_tensor_t *x = random_tensor(dtype, 3, shape, seed);

	for (int axis = -3; axis < 3; axis++) {
		unsigned a = (unsigned)(axis < 0 ? axis + 3 : axis);
		size_t outer = 1;
		size_t inner = 1;
		for (unsigned i = 0; i < a; i++)
			outer *= shape[i];
		for (unsigned i = a + 1; i < 3; i++)
			inner *= shape[i];
		size_t n = shape[a];

		for (bl_reduce_op_t op = BL_REDUCE_SUM; op <= BL_REDUCE_MEAN; op++) {
			if (n == 0 && op != BL_REDUCE_SUM)
				continue;
			bl_tensor_t *out = NULL;
			bl_error_t err = {0};

			int rc = bl_cpu_reduce(&out, op, x, axis, false, &err);

			cr_assert_eq(rc, 0, "%s over axis %d returned %d (%s), expected 0", op_names[op], axis, rc,
				     err.message);
			cr_assert_eq(out->ndim, 2, "%s over axis %d has %u dimensions, expected 2", op_names[op], axis,
				     out->ndim);
			cr_assert_eq(out->count, outer * inner, "%s over axis %d has %zu elements, expected %zu",
				     op_names[op], axis, out->count, outer * inner);
			cr_assert_eq(out->dtype, dtype == BL_DTYPE_F32 ? BL_DTYPE_F32 : BL_DTYPE_F64,
				     "%s of %s gave %s", op_names[op], bl_dtype_name(dtype), bl_dtype_name(out->dtype));
			for (size_t o = 0; o < outer; o++) {
				for (size_t i = 0; i < inner; i++) {
					double magnitude;
					double expected = reference(op, x, o * n * inner + i, n, inner, &magnitude);
					double got = bl_tensor_get(out, o * inner + i);
					double bound = (dtype == BL_DTYPE_F32 ? FLT_EPSILON : 1e-13) * magnitude;
					cr_assert(fabs(got - expected) <= bound,
						  "%s over axis %d of %zu x %zu x %zu (%s), line (%zu, %zu): %.17g, "
						  "expected %.17g",
						  op_names[op], axis, shape[0], shape[1], shape[2], bl_dtype_name(dtype), o,
						  i, got, expected);
				}
			}
			bl_tensor_free(&out);
		}
	}
	bl_tensor_free(&x);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* Each name parses to its op, and nothing else does. */
Test(kernels_reduce, op_names_parse)
{
	for (bl_reduce_op_t op = BL_REDUCE_SUM; op <= BL_REDUCE_MEAN; op++) {
		bl_reduce_op_t parsed = (bl_reduce_op_t)-1;
		int rc = bl_reduce_op_parse(&parsed, op_names[op]);
		cr_assert_eq(rc, 0, "parsing \"%s\" returned %d, expected 0", op_names[op], rc);
		cr_assert_eq(parsed, op, "\"%s\" parsed as %d, expected %d", op_names[op], parsed, op);
	}

	static const char *const bad[] = {"avg", "", "Sum", "maximum"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bl_reduce_op_t parsed;
		int rc = bl_reduce_op_parse(&parsed, bad[i]);
		cr_assert_eq(rc, BL_EINVAL, "parsing \"%s\" returned %d, expected BL_EINVAL", bad[i], rc);
	}
}

/* Every op along every axis of awkward float64 shapes matches the
 * reference, including axes of length 1 and 0. */
Test(kernels_reduce, float64_axes_match_reference)
{
	static const size_t shapes[][3] = {{7, 31, 5}, {1, 1, 1}, {127, 1, 3}, {2, 0, 3}, {1, 257, 1}};

	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
		check_all_axes(BL_DTYPE_F64, shapes[s], 40 + s);
}

/* The same for float32, whose results stay float32. */
Test(kernels_reduce, float32_axes_match_reference)
{
	static const size_t shapes[][3] = {{7, 31, 5}, {13, 1, 2}, {3, 129, 7}};

	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
		check_all_axes(BL_DTYPE_F32, shapes[s], 80 + s);
}

/* Integer tensors are read as float64 and give float64 results. */
Test(kernels_reduce, integer_axes_match_reference)
{
	static const size_t shape[3] = {5, 7, 3};

	check_all_axes(BL_DTYPE_I32, shape, 7);
	check_all_axes(BL_DTYPE_I64, shape, 8);
}

/* `all` reduces every element to a scalar (no dimensions). */
Test(kernels_reduce, all_gives_scalar)
{
	size_t shape[2] = {31, 7};
	bl_tensor_t *x = random_tensor(BL_DTYPE_F64, 2, shape, 9);

	for (bl_reduce_op_t op = BL_REDUCE_SUM; op <= BL_REDUCE_MEAN; op++) {
		bl_tensor_t *out = NULL;
		int rc = bl_cpu_reduce(&out, op, x, 0, true, NULL);

		cr_assert_eq(rc, 0, "%s over all returned %d, expected 0", op_names[op], rc);
		cr_assert_eq(out->ndim, 0, "%s over all has %u dimensions, expected 0", op_names[op], out->ndim);
		cr_assert_eq(out->count, 1, "%s over all has %zu elements, expected 1", op_names[op], out->count);
		double magnitude;
		double expected = reference(op, x, 0, x->count, 1, &magnitude);
		cr_assert(fabs(bl_tensor_get(out, 0) - expected) <= 1e-13 * magnitude,
			  "%s over all is %.17g, expected %.17g", op_names[op], bl_tensor_get(out, 0), expected);
		bl_tensor_free(&out);
	}
	bl_tensor_free(&x);
}

/*
 * Float32 input is summed in float64: 20,000,000 ones sum to exactly
 * 2e7, which float32 represents exactly because it is even and below
 * 2^25. A float32 accumulator
 * would stop at 2^24 = 16,777,216, where adding 1 no longer changes it.
 */
Test(kernels_reduce, float32_sum_does_not_stall)
{
	size_t n = 20000000;
	bl_tensor_t *x = new_tensor(BL_DTYPE_F32, 1, &n);
	for (size_t i = 0; i < n; i++)
		((float *)x->data)[i] = 1.0f;
	bl_tensor_t *out = NULL;

	int rc = bl_cpu_reduce(&out, BL_REDUCE_SUM, x, 0, false, NULL);

	cr_assert_eq(rc, 0, "sum returned %d, expected 0", rc);
	cr_assert_eq(bl_tensor_get(out, 0), 2e7, "sum of 2e7 ones is %.1f, expected 20000000", bl_tensor_get(out, 0));
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/*
 * The sum is pairwise. Ten million copies of 0.1 (the double nearest it)
 * sum to 1e6 + 5.6e-11; a left-to-right double loop drifts by about 1e-4
 * on this input, while pairwise summation stays within 1e-8.
 */
Test(kernels_reduce, float64_sum_is_pairwise)
{
	size_t n = 10000000;
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 1, &n);
	for (size_t i = 0; i < n; i++)
		((double *)x->data)[i] = 0.1;
	bl_tensor_t *out = NULL;

	int rc = bl_cpu_reduce(&out, BL_REDUCE_SUM, x, -1, false, NULL);

	cr_assert_eq(rc, 0, "sum returned %d, expected 0", rc);
	double got = bl_tensor_get(out, 0);
	cr_assert(fabs(got - 1e6) < 1e-8, "sum of 1e7 copies of 0.1 is %.17g, expected 1e6 within 1e-8", got);
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/* A sum over nothing is 0, and an empty tensor sums to a scalar 0. */
Test(kernels_reduce, empty_sum_is_zero)
{
	size_t shape[2] = {0, 3};
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 2, shape);
	bl_tensor_t *along = NULL;
	bl_tensor_t *all = NULL;

	int rc_along = bl_cpu_reduce(&along, BL_REDUCE_SUM, x, 0, false, NULL);
	int rc_all = bl_cpu_reduce(&all, BL_REDUCE_SUM, x, 0, true, NULL);

	cr_assert_eq(rc_along, 0, "sum over an empty axis returned %d, expected 0", rc_along);
	cr_assert_eq(along->count, 3, "the result has %zu elements, expected 3", along->count);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(bl_tensor_get(along, i), 0.0, "element %zu is %g, expected 0", i, bl_tensor_get(along, i));
	cr_assert_eq(rc_all, 0, "sum over an empty tensor returned %d, expected 0", rc_all);
	cr_assert_eq(bl_tensor_get(all, 0), 0.0, "the empty sum is %g, expected 0", bl_tensor_get(all, 0));
	bl_tensor_free(&x);
	bl_tensor_free(&along);
	bl_tensor_free(&all);
}

/* Reducing a non-empty axis of a tensor with another empty axis gives an
 * empty result, for every op. */
Test(kernels_reduce, empty_other_axis_gives_empty_result)
{
	size_t shape[2] = {3, 0};
	bl_tensor_t *x = new_tensor(BL_DTYPE_F32, 2, shape);

	for (bl_reduce_op_t op = BL_REDUCE_SUM; op <= BL_REDUCE_MEAN; op++) {
		bl_tensor_t *out = NULL;
		int rc = bl_cpu_reduce(&out, op, x, 0, false, NULL);

		cr_assert_eq(rc, 0, "%s over the length-3 axis returned %d, expected 0", op_names[op], rc);
		cr_assert_eq(out->ndim, 1, "result has %u dimensions, expected 1", out->ndim);
		cr_assert_eq(out->shape[0], 0, "result has %zu elements, expected 0", out->shape[0]);
		bl_tensor_free(&out);
	}
	bl_tensor_free(&x);
}

/* NaN anywhere on a line makes its sum, max, min and mean NaN, wherever
 * the NaN sits; other lines are unaffected. */
Test(kernels_reduce, nan_propagates)
{
	size_t shape[2] = {3, 4};
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 2, shape);
	for (size_t i = 0; i < x->count; i++)
		set_value(x, i, (double)i);
	set_value(x, 0, NAN);  /* first element of row 0 */
	set_value(x, 7, NAN);  /* last element of row 1 */

	for (bl_reduce_op_t op = BL_REDUCE_SUM; op <= BL_REDUCE_MEAN; op++) {
		bl_tensor_t *out = NULL;
		int rc = bl_cpu_reduce(&out, op, x, 1, false, NULL);

		cr_assert_eq(rc, 0, "%s returned %d, expected 0", op_names[op], rc);
		cr_assert(isnan(bl_tensor_get(out, 0)), "%s of row 0 is %g, expected NaN", op_names[op],
			  bl_tensor_get(out, 0));
		cr_assert(isnan(bl_tensor_get(out, 1)), "%s of row 1 is %g, expected NaN", op_names[op],
			  bl_tensor_get(out, 1));
		cr_assert(!isnan(bl_tensor_get(out, 2)), "%s of row 2 is NaN, expected a number", op_names[op]);
		bl_tensor_free(&out);
	}
	bl_tensor_free(&x);
}

/* A 1-element tensor reduces to its element, and a scalar reduces with
 * `all`. */
Test(kernels_reduce, single_element_is_identity)
{
	size_t one = 1;
	bl_tensor_t *vector = new_tensor(BL_DTYPE_F32, 1, &one);
	bl_tensor_t *scalar = new_tensor(BL_DTYPE_I64, 0, NULL);
	set_value(vector, 0, -2.5);
	set_value(scalar, 0, 42);

	for (bl_reduce_op_t op = BL_REDUCE_SUM; op <= BL_REDUCE_MEAN; op++) {
		bl_tensor_t *a = NULL;
		bl_tensor_t *b = NULL;
		cr_assert_eq(bl_cpu_reduce(&a, op, vector, 0, false, NULL), 0, "%s of [-2.5] failed", op_names[op]);
		cr_assert_eq(bl_cpu_reduce(&b, op, scalar, 0, true, NULL), 0, "%s of scalar 42 failed", op_names[op]);

		cr_assert_eq(bl_tensor_get(a, 0), -2.5, "%s of [-2.5] is %g", op_names[op], bl_tensor_get(a, 0));
		cr_assert_eq(bl_tensor_get(b, 0), 42.0, "%s of 42 is %g", op_names[op], bl_tensor_get(b, 0));
		bl_tensor_free(&a);
		bl_tensor_free(&b);
	}
	bl_tensor_free(&vector);
	bl_tensor_free(&scalar);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

static void expect_error(int rc, const bl_error_t *err, const char *field, const char *needle)
{
	cr_assert_eq(rc, BL_EINVAL, "returned %d, expected BL_EINVAL", rc);
	cr_assert_eq(err->code, BL_EINVAL, "err.code is %d, expected BL_EINVAL", err->code);
	cr_assert_str_eq(err->field, field, "err.field is \"%s\", expected \"%s\"", err->field, field);
	cr_assert(strstr(err->message, needle), "message \"%s\" does not mention \"%s\"", err->message, needle);
}

/* MAX, MIN and MEAN of an empty axis, or of an empty tensor with `all`,
 * are undefined. */
Test(kernels_reduce, extreme_of_empty_rejected)
{
	size_t shape[2] = {0, 3};
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 2, shape);

	for (bl_reduce_op_t op = BL_REDUCE_MAX; op <= BL_REDUCE_MEAN; op++) {
		bl_tensor_t *out = NULL;
		bl_error_t err = {0};

		int rc = bl_cpu_reduce(&out, op, x, 0, false, &err);
		expect_error(rc, &err, "axis", op_names[op]);
		cr_assert_null(out, "out was written on failure");

		rc = bl_cpu_reduce(&out, op, x, 0, true, &err);
		expect_error(rc, &err, "x", op_names[op]);
	}
	bl_tensor_free(&x);
}

/* Axes outside -ndim .. ndim-1 are rejected, and a scalar has no axis. */
Test(kernels_reduce, bad_axis_rejected)
{
	size_t shape[3] = {2, 3, 4};
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 3, shape);
	bl_tensor_t *scalar = new_tensor(BL_DTYPE_F64, 0, NULL);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_reduce(&out, BL_REDUCE_SUM, x, 3, false, &err);
	expect_error(rc, &err, "axis", "axis 3");

	rc = bl_cpu_reduce(&out, BL_REDUCE_SUM, x, -4, false, &err);
	expect_error(rc, &err, "axis", "axis -4");

	rc = bl_cpu_reduce(&out, BL_REDUCE_SUM, scalar, 0, false, &err);
	expect_error(rc, &err, "axis", "scalar");
	bl_tensor_free(&x);
	bl_tensor_free(&scalar);
}

/* A value outside the enum is rejected. */
Test(kernels_reduce, unknown_op_rejected)
{
	size_t n = 2;
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 1, &n);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_reduce(&out, (bl_reduce_op_t)7, x, 0, false, &err);

	expect_error(rc, &err, "op", "7");
	bl_tensor_free(&x);
}
