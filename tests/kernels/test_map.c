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

/* Return a uniform double in [lo, hi). */
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

static bl_tensor_t *random_vector(bl_dtype_t dtype, size_t n, uint64_t seed, double lo, double hi)
{
	bl_tensor_t *t = new_tensor(dtype, 1, &n);
	uint64_t state = seed;
	for (size_t i = 0; i < n; i++)
		set_value(t, i, next_uniform(&state, lo, hi));
	return t;
}

/* The straightforward formulas, in double. */
static double reference(bl_map_op_t op, double x, double y, double scalar)
{
	switch (op) {
	case BL_MAP_ADD:
		return x + y;
	case BL_MAP_MUL:
		return x * y;
	case BL_MAP_SCALE:
		return x * scalar;
	case BL_MAP_RELU:
		return x > 0 ? x : 0;
	case BL_MAP_GELU:
		return x * 0.5 * (1.0 + erf(x / sqrt(2.0)));
	case BL_MAP_EXP:
		return exp(x);
	}
	return NAN;
}

static const bl_map_op_t all_ops[] = {BL_MAP_ADD, BL_MAP_MUL, BL_MAP_SCALE, BL_MAP_RELU, BL_MAP_GELU, BL_MAP_EXP};
static const char *const op_names[] = {"add", "mul", "scale", "relu", "gelu", "exp"};
#define OP_COUNT (sizeof all_ops / sizeof *all_ops)

/*
 * Check out[i] against the reference for every element. Float32 results
 * must be within 2 float32 rounding steps of the reference, and float64
 * within 1e-10 relative. That leaves room for the reference's GELU, whose
 * 1 + erf loses digits for negative x: about 1e-12 relative at x = -4.
 */
static void check_against_reference(const bl_tensor_t *out, bl_map_op_t op, const bl_tensor_t *x,
				    const bl_tensor_t *y, double scalar)
{
	for (size_t i = 0; i < x->count; i++) {
		double yv = y ? bl_tensor_get(y, y->count == 1 ? 0 : i) : 0;
		double expected = reference(op, bl_tensor_get(x, i), yv, scalar);
		double got = bl_tensor_get(out, i);
		double tolerance = out->dtype == BL_DTYPE_F32 ? 2 * FLT_EPSILON * fabs(expected) + 1e-37
							      : 1e-10 * fabs(expected) + 1e-300;
		cr_assert(fabs(got - expected) <= tolerance,
			  "%s: element %zu of %zu is %.17g, expected %.17g (x = %.17g, y = %.17g)",
			  op_names[op], i, x->count, got, expected, bl_tensor_get(x, i), yv);
	}
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* Each name parses to its op; other spellings, including other case, do
 * not. */
Test(kernels_map, op_names_parse)
{
	for (size_t i = 0; i < OP_COUNT; i++) {
		bl_map_op_t op = (bl_map_op_t)-1;
		int rc = bl_map_op_parse(&op, op_names[i]);
		cr_assert_eq(rc, 0, "parsing \"%s\" returned %d, expected 0", op_names[i], rc);
		cr_assert_eq(op, all_ops[i], "\"%s\" parsed as %d, expected %d", op_names[i], op, all_ops[i]);
	}

	static const char *const bad[] = {"sub", "", "ADD", "relu ", "exponent"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bl_map_op_t op;
		int rc = bl_map_op_parse(&op, bad[i]);
		cr_assert_eq(rc, BL_EINVAL, "parsing \"%s\" returned %d, expected BL_EINVAL", bad[i], rc);
	}
}

/* Every op on float32 and float64 vectors of 0, 1, 7, 127 and 100,003
 * elements matches the reference, and the result keeps x's shape and the
 * input dtype. */
Test(kernels_map, every_op_matches_reference)
{
	static const size_t sizes[] = {0, 1, 7, 127, 100003};
	static const bl_dtype_t dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64};

	for (size_t d = 0; d < 2; d++) {
		for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
			bl_tensor_t *x = random_vector(dtypes[d], sizes[s], 11 + s, -4, 4);
			bl_tensor_t *y = random_vector(dtypes[d], sizes[s], 1000 + s, -3, 3);
			for (size_t o = 0; o < OP_COUNT; o++) {
				bl_tensor_t *out = NULL;
				bl_error_t err = {0};

				int rc = bl_cpu_map(&out, all_ops[o], x, y, -1.75, &err);

				cr_assert_eq(rc, 0, "%s returned %d (%s), expected 0", op_names[o], rc, err.message);
				cr_assert_eq(out->dtype, dtypes[d], "%s gave %s, expected %s", op_names[o],
					     bl_dtype_name(out->dtype), bl_dtype_name(dtypes[d]));
				cr_assert_eq(out->ndim, 1, "%s gave %u dimensions, expected 1", op_names[o], out->ndim);
				cr_assert_eq(out->shape[0], sizes[s], "%s gave %zu elements, expected %zu",
					     op_names[o], out->shape[0], sizes[s]);
				check_against_reference(out, all_ops[o], x, y, -1.75);
				bl_tensor_free(&out);
			}
			bl_tensor_free(&x);
			bl_tensor_free(&y);
		}
	}
}

/* A y of one element, as a 1-element vector or as a scalar, applies to
 * every element of a 2-D x, whose shape the result keeps. */
Test(kernels_map, single_element_y_broadcasts)
{
	size_t shape[2] = {7, 31};
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 2, shape);
	uint64_t state = 3;
	for (size_t i = 0; i < x->count; i++)
		set_value(x, i, next_uniform(&state, -1, 1));
	size_t one = 1;
	bl_tensor_t *vector = new_tensor(BL_DTYPE_F64, 1, &one);
	bl_tensor_t *scalar = new_tensor(BL_DTYPE_F64, 0, NULL);
	set_value(vector, 0, 2.5);
	set_value(scalar, 0, -0.5);

	bl_tensor_t *sum = NULL;
	bl_tensor_t *product = NULL;
	int rc_sum = bl_cpu_map(&sum, BL_MAP_ADD, x, vector, 0, NULL);
	int rc_product = bl_cpu_map(&product, BL_MAP_MUL, x, scalar, 0, NULL);

	cr_assert_eq(rc_sum, 0, "add with a 1-element y returned %d, expected 0", rc_sum);
	cr_assert_eq(rc_product, 0, "mul with a scalar y returned %d, expected 0", rc_product);
	cr_assert_eq(sum->ndim, 2, "the sum has %u dimensions, expected 2", sum->ndim);
	cr_assert_eq(sum->shape[0], 7, "the sum has %zu rows, expected 7", sum->shape[0]);
	cr_assert_eq(sum->shape[1], 31, "the sum has %zu columns, expected 31", sum->shape[1]);
	check_against_reference(sum, BL_MAP_ADD, x, vector, 0);
	check_against_reference(product, BL_MAP_MUL, x, scalar, 0);
	bl_tensor_free(&x);
	bl_tensor_free(&vector);
	bl_tensor_free(&scalar);
	bl_tensor_free(&sum);
	bl_tensor_free(&product);
}

/* The result is float32 only when every tensor input is float32; a
 * float64 or integer input makes it float64. SCALE's scalar is not a
 * tensor and does not widen the result. */
Test(kernels_map, dtype_follows_inputs)
{
	static const struct {
		bl_map_op_t op;
		bl_dtype_t x;
		bl_dtype_t y;
		bl_dtype_t expected;
	} cases[] = {
		{BL_MAP_ADD, BL_DTYPE_F32, BL_DTYPE_F32, BL_DTYPE_F32},
		{BL_MAP_ADD, BL_DTYPE_F32, BL_DTYPE_F64, BL_DTYPE_F64},
		{BL_MAP_MUL, BL_DTYPE_F64, BL_DTYPE_F32, BL_DTYPE_F64},
		{BL_MAP_MUL, BL_DTYPE_F32, BL_DTYPE_I32, BL_DTYPE_F64},
		{BL_MAP_SCALE, BL_DTYPE_F32, BL_DTYPE_F64, BL_DTYPE_F32},
		{BL_MAP_RELU, BL_DTYPE_I64, BL_DTYPE_F32, BL_DTYPE_F64},
		{BL_MAP_EXP, BL_DTYPE_I32, BL_DTYPE_F32, BL_DTYPE_F64},
	};

	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		bl_tensor_t *x = random_vector(cases[c].x, 31, c, -4, 4);
		bl_tensor_t *y = random_vector(cases[c].y, 31, 100 + c, -4, 4);
		bl_tensor_t *out = NULL;

		int rc = bl_cpu_map(&out, cases[c].op, x, y, 0.5, NULL);

		cr_assert_eq(rc, 0, "case %zu returned %d, expected 0", c, rc);
		cr_assert_eq(out->dtype, cases[c].expected, "case %zu (%s on %s and %s) gave %s, expected %s", c,
			     op_names[cases[c].op], bl_dtype_name(cases[c].x), bl_dtype_name(cases[c].y),
			     bl_dtype_name(out->dtype), bl_dtype_name(cases[c].expected));
		check_against_reference(out, cases[c].op, x, y, 0.5);
		bl_tensor_free(&x);
		bl_tensor_free(&y);
		bl_tensor_free(&out);
	}
}

/* NaN in x stays NaN through every op, RELU included. */
Test(kernels_map, nan_propagates)
{
	size_t n = 3;
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 1, &n);
	bl_tensor_t *y = new_tensor(BL_DTYPE_F64, 1, &n);
	set_value(x, 0, 1.0);
	set_value(x, 1, NAN);
	set_value(x, 2, -1.0);

	for (size_t o = 0; o < OP_COUNT; o++) {
		bl_tensor_t *out = NULL;
		int rc = bl_cpu_map(&out, all_ops[o], x, y, 2.0, NULL);

		cr_assert_eq(rc, 0, "%s returned %d, expected 0", op_names[o], rc);
		cr_assert(isnan(bl_tensor_get(out, 1)), "%s(NaN) is %g, expected NaN", op_names[o],
			  bl_tensor_get(out, 1));
		bl_tensor_free(&out);
	}
	bl_tensor_free(&x);
	bl_tensor_free(&y);
}

/* EXP overflows to +inf, in float32 earlier than in float64, and RELU
 * maps negatives, -inf included, to 0. */
Test(kernels_map, exp_overflow_and_relu_edges)
{
	size_t n = 3;
	bl_tensor_t *f32 = new_tensor(BL_DTYPE_F32, 1, &n);
	bl_tensor_t *f64 = new_tensor(BL_DTYPE_F64, 1, &n);
	set_value(f32, 0, 100.0);
	set_value(f64, 0, 100.0);
	set_value(f64, 1, 1000.0);
	set_value(f64, 2, -INFINITY);
	bl_tensor_t *e32 = NULL;
	bl_tensor_t *e64 = NULL;
	bl_tensor_t *relu = NULL;

	cr_assert_eq(bl_cpu_map(&e32, BL_MAP_EXP, f32, NULL, 0, NULL), 0, "exp on float32 failed");
	cr_assert_eq(bl_cpu_map(&e64, BL_MAP_EXP, f64, NULL, 0, NULL), 0, "exp on float64 failed");
	cr_assert_eq(bl_cpu_map(&relu, BL_MAP_RELU, f64, NULL, 0, NULL), 0, "relu on float64 failed");

	cr_assert(isinf(bl_tensor_get(e32, 0)), "float32 exp(100) is %g, expected +inf", bl_tensor_get(e32, 0));
	cr_assert(!isinf(bl_tensor_get(e64, 0)), "float64 exp(100) is %g, expected finite", bl_tensor_get(e64, 0));
	cr_assert(isinf(bl_tensor_get(e64, 1)), "float64 exp(1000) is %g, expected +inf", bl_tensor_get(e64, 1));
	cr_assert_eq(bl_tensor_get(e64, 2), 0.0, "exp(-inf) is %g, expected 0", bl_tensor_get(e64, 2));
	cr_assert_eq(bl_tensor_get(relu, 2), 0.0, "relu(-inf) is %g, expected 0", bl_tensor_get(relu, 2));
	bl_tensor_free(&f32);
	bl_tensor_free(&f64);
	bl_tensor_free(&e32);
	bl_tensor_free(&e64);
	bl_tensor_free(&relu);
}

/* GELU keeps its precision far into the negative tail. Phi(-10) is
 * erfc(10 / sqrt 2) / 2 = 7.619853024160593e-24 (Python's math.erfc), so
 * GELU(-10) = -7.619853024160593e-23, where the form with 1 + erf returns
 * -0. */
Test(kernels_map, gelu_keeps_negative_tail)
{
	size_t n = 1;
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 1, &n);
	set_value(x, 0, -10.0);
	bl_tensor_t *out = NULL;

	int rc = bl_cpu_map(&out, BL_MAP_GELU, x, NULL, 0, NULL);

	cr_assert_eq(rc, 0, "gelu returned %d, expected 0", rc);
	double got = bl_tensor_get(out, 0);
	cr_assert(fabs(got / -7.619853024160593e-23 - 1.0) < 1e-12,
		  "gelu(-10) is %.17g, expected -7.619853024160593e-23", got);
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/* The unary ops ignore y, even one whose shape does not match x. */
Test(kernels_map, unary_ops_ignore_y)
{
	size_t three = 3;
	size_t five = 5;
	bl_tensor_t *x = random_vector(BL_DTYPE_F64, three, 1, -1, 1);
	bl_tensor_t *y = random_vector(BL_DTYPE_F64, five, 2, -1, 1);

	for (size_t o = 2; o < OP_COUNT; o++) {
		bl_tensor_t *out = NULL;
		int rc = bl_cpu_map(&out, all_ops[o], x, y, 3.0, NULL);

		cr_assert_eq(rc, 0, "%s with an unrelated y returned %d, expected 0", op_names[o], rc);
		check_against_reference(out, all_ops[o], x, NULL, 3.0);
		bl_tensor_free(&out);
	}
	bl_tensor_free(&x);
	bl_tensor_free(&y);
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

/* ADD and MUL need y. */
Test(kernels_map, binary_op_without_y_rejected)
{
	bl_tensor_t *x = random_vector(BL_DTYPE_F32, 4, 1, -1, 1);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_map(&out, BL_MAP_MUL, x, NULL, 0, &err);

	expect_error(rc, &err, "y", "mul");
	cr_assert_null(out, "out was written on failure");
	bl_tensor_free(&x);
}

/* A y that is neither x's shape nor a single element is rejected with
 * both shapes in the message. */
Test(kernels_map, mismatched_y_rejected)
{
	size_t shape_x[2] = {3, 4};
	size_t shape_y[2] = {4, 3};
	bl_tensor_t *x = new_tensor(BL_DTYPE_F64, 2, shape_x);
	bl_tensor_t *y = new_tensor(BL_DTYPE_F64, 2, shape_y);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_map(&out, BL_MAP_ADD, x, y, 0, &err);

	expect_error(rc, &err, "y", "[4, 3]");
	cr_assert(strstr(err.message, "[3, 4]"), "message \"%s\" does not give x's shape [3, 4]", err.message);
	bl_tensor_free(&x);
	bl_tensor_free(&y);
}

/* A value outside the enum is rejected. */
Test(kernels_map, unknown_op_rejected)
{
	bl_tensor_t *x = random_vector(BL_DTYPE_F64, 2, 1, -1, 1);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_map(&out, (bl_map_op_t)99, x, NULL, 0, &err);

	expect_error(rc, &err, "op", "99");
	bl_tensor_free(&x);
}
