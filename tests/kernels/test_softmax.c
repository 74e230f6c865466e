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

static bl_tensor_t *from_values(bl_dtype_t dtype, size_t rows, size_t cols, const double *values)
{
	size_t shape[2] = {rows, cols};
	bl_tensor_t *t = new_tensor(dtype, 2, shape);
	for (size_t i = 0; i < t->count; i++)
		set_value(t, i, values[i]);
	return t;
}

static bl_tensor_t *softmax_ok(const bl_tensor_t *x)
{
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};
	int rc = bl_cpu_softmax(&out, x, &err);
	cr_assert_eq(rc, 0, "bl_cpu_softmax returned %d (%s), expected 0", rc, err.message);
	return out;
}

/*
 * Check each row of out against exp(x) / sum(exp(x)) computed in long
 * double, which does not overflow for the inputs used here (|x| <= 30).
 * Float64 elements must match within 1e-14 relative, float32 within two
 * float32 roundings.
 */
static void check_rows(const bl_tensor_t *out, const bl_tensor_t *x, size_t rows, size_t cols)
{
	double tolerance = out->dtype == BL_DTYPE_F32 ? 2 * FLT_EPSILON : 1e-14;
	for (size_t r = 0; r < rows; r++) {
		long double sum = 0;
		for (size_t c = 0; c < cols; c++)
			sum += expl((long double)bl_tensor_get(x, r * cols + c));
		for (size_t c = 0; c < cols; c++) {
			double expected = (double)(expl((long double)bl_tensor_get(x, r * cols + c)) / sum);
			double got = bl_tensor_get(out, r * cols + c);
			cr_assert(fabs(got - expected) <= tolerance * expected,
				  "row %zu column %zu of %zu x %zu: %.17g, expected %.17g", r, c, rows, cols, got,
				  expected);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* Random 2-D inputs of awkward shapes, float32 and float64, match the
 * reference, and the result keeps the shape and dtype. */
Test(kernels_softmax, matrices_match_reference)
{
	static const size_t shapes[][2] = {{1, 1}, {7, 31}, {127, 1}, {3, 127}, {0, 5}, {5, 0}, {61, 1031}};
	static const bl_dtype_t dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64};

	for (size_t d = 0; d < 2; d++) {
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			bl_tensor_t *x = new_tensor(dtypes[d], 2, shapes[s]);
			uint64_t state = 100 + s;
			for (size_t i = 0; i < x->count; i++)
				set_value(x, i, next_uniform(&state, -30, 30));

			bl_tensor_t *out = softmax_ok(x);

			cr_assert_eq(out->dtype, dtypes[d], "dtype %s, expected %s", bl_dtype_name(out->dtype),
				     bl_dtype_name(dtypes[d]));
			cr_assert_eq(out->ndim, 2, "%u dimensions, expected 2", out->ndim);
			cr_assert_eq(out->shape[0], shapes[s][0], "%zu rows, expected %zu", out->shape[0],
				     shapes[s][0]);
			cr_assert_eq(out->shape[1], shapes[s][1], "%zu columns, expected %zu", out->shape[1],
				     shapes[s][1]);
			check_rows(out, x, shapes[s][0], shapes[s][1]);
			bl_tensor_free(&x);
			bl_tensor_free(&out);
		}
	}
}

/* A 1-D tensor is one row: 0, 1 and 100,003 elements. */
Test(kernels_softmax, vectors_match_reference)
{
	static const size_t sizes[] = {0, 1, 100003};

	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 1, &sizes[s]);
		uint64_t state = 7 + s;
		for (size_t i = 0; i < x->count; i++)
			set_value(x, i, next_uniform(&state, -10, 10));

		bl_tensor_t *out = softmax_ok(x);

		cr_assert_eq(out->ndim, 1, "%u dimensions, expected 1", out->ndim);
		cr_assert_eq(out->shape[0], sizes[s], "%zu elements, expected %zu", out->shape[0], sizes[s]);
		check_rows(out, x, 1, sizes[s]);
		bl_tensor_free(&x);
		bl_tensor_free(&out);
	}
}

/* Integer input is read as float64 and gives float64. */
Test(kernels_softmax, integers_give_float64)
{
	static const double values[] = {1, 2, 3, -4, 0, 4};
	bl_tensor_t *x = from_values(BL_DTYPE_I32, 2, 3, values);

	bl_tensor_t *out = softmax_ok(x);

	cr_assert_eq(out->dtype, BL_DTYPE_F64, "dtype %s, expected float64", bl_dtype_name(out->dtype));
	check_rows(out, x, 2, 3);
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/*
 * Large inputs do not overflow: exp(1000) is +inf in double, but after
 * subtracting the maximum the row [1000, 1001, 1002] gives the same as
 * [0, 1, 2]: 0.09003057317038046, 0.24472847105479764,
 * 0.6652409557748219 (computed in Python with math.exp).
 */
Test(kernels_softmax, large_inputs_stay_finite)
{
	static const double values[] = {1000, 1001, 1002, -1000, -1001, -1002};
	static const double expected[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219,
					  0.6652409557748219,  0.24472847105479764, 0.09003057317038046};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 2, 3, values);

	bl_tensor_t *out = softmax_ok(x);

	for (size_t i = 0; i < 6; i++) {
		double got = bl_tensor_get(out, i);
		cr_assert(fabs(got - expected[i]) <= 1e-15, "element %zu is %.17g, expected %.17g", i, got,
			  expected[i]);
	}
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/* A row with NaN becomes NaN throughout; the other rows are unaffected. */
Test(kernels_softmax, nan_row_becomes_nan)
{
	static const double values[] = {1, NAN, 2, 0, 0, 0};
	bl_tensor_t *x = from_values(BL_DTYPE_F32, 2, 3, values);

	bl_tensor_t *out = softmax_ok(x);

	for (size_t c = 0; c < 3; c++) {
		cr_assert(isnan(bl_tensor_get(out, c)), "row 0 column %zu is %g, expected NaN", c,
			  bl_tensor_get(out, c));
		cr_assert(fabs(bl_tensor_get(out, 3 + c) - 1.0 / 3.0) < 1e-7, "row 1 column %zu is %g, expected 1/3",
			  c, bl_tensor_get(out, 3 + c));
	}
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/* +inf elements share the row equally (the limit as they grow) and the
 * rest get 0; a row of only -inf is 0 / 0 and becomes NaN. */
Test(kernels_softmax, infinities_follow_the_limit)
{
	static const double values[] = {INFINITY, 1, INFINITY, -INFINITY, -INFINITY, -INFINITY};
	static const double shares[] = {0.5, 0, 0.5};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 2, 3, values);

	bl_tensor_t *out = softmax_ok(x);

	for (size_t c = 0; c < 3; c++) {
		cr_assert_eq(bl_tensor_get(out, c), shares[c], "row 0 column %zu is %g, expected %g", c,
			     bl_tensor_get(out, c), shares[c]);
		cr_assert(isnan(bl_tensor_get(out, 3 + c)), "row 1 column %zu is %g, expected NaN", c,
			  bl_tensor_get(out, 3 + c));
	}
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/* A row with some -inf still works: those elements get 0. */
Test(kernels_softmax, negative_infinity_gets_zero)
{
	static const double values[] = {-INFINITY, 0, 0};
	bl_tensor_t *x = from_values(BL_DTYPE_F64, 1, 3, values);

	bl_tensor_t *out = softmax_ok(x);

	cr_assert_eq(bl_tensor_get(out, 0), 0.0, "exp(-inf) share is %g, expected 0", bl_tensor_get(out, 0));
	cr_assert_eq(bl_tensor_get(out, 1), 0.5, "column 1 is %g, expected 0.5", bl_tensor_get(out, 1));
	cr_assert_eq(bl_tensor_get(out, 2), 0.5, "column 2 is %g, expected 0.5", bl_tensor_get(out, 2));
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

/* Only 1-D and 2-D tensors are accepted. */
Test(kernels_softmax, other_ranks_rejected)
{
	size_t shape[3] = {2, 2, 2};
	bl_tensor_t *cube = new_tensor(BL_DTYPE_F64, 3, shape);
	bl_tensor_t *scalar = new_tensor(BL_DTYPE_F64, 0, NULL);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_softmax(&out, cube, &err);
	cr_assert_eq(rc, BL_EINVAL, "3-D returned %d, expected BL_EINVAL", rc);
	cr_assert_str_eq(err.field, "x", "err.field is \"%s\", expected \"x\"", err.field);
	cr_assert(strstr(err.message, "3-D"), "message \"%s\" does not give the rank", err.message);

	rc = bl_cpu_softmax(&out, scalar, &err);
	cr_assert_eq(rc, BL_EINVAL, "a scalar returned %d, expected BL_EINVAL", rc);
	cr_assert_str_eq(err.field, "x", "err.field is \"%s\", expected \"x\"", err.field);
	cr_assert_null(out, "out was written on failure");
	bl_tensor_free(&cube);
	bl_tensor_free(&scalar);
}
