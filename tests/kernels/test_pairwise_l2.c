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

static bl_tensor_t *new_matrix(bl_dtype_t dtype, size_t rows, size_t cols)
{
	size_t shape[2] = {rows, cols};
	bl_tensor_t *t = NULL;
	int rc = bl_tensor_new(&t, dtype, 2, shape, NULL);
	cr_assert_eq(rc, 0, "bl_tensor_new(%zu x %zu) returned %d, expected 0", rows, cols, rc);
	return t;
}

static bl_tensor_t *random_matrix(bl_dtype_t dtype, size_t rows, size_t cols, uint64_t seed)
{
	bl_tensor_t *t = new_matrix(dtype, rows, cols);
	uint64_t state = seed;
	for (size_t i = 0; i < t->count; i++)
		set_value(t, i, next_uniform(&state, -5, 5));
	return t;
}

/* Return the distance between row i of x and row j of y, summing squared
 * differences in long double. */
static double reference(const bl_tensor_t *x, size_t i, const bl_tensor_t *y, size_t j, bool squared)
{
	size_t d = x->shape[1];
	long double s = 0;
	for (size_t c = 0; c < d; c++) {
		long double diff = (long double)bl_tensor_get(x, i * d + c) - bl_tensor_get(y, j * d + c);
		s += diff * diff;
	}
	return squared ? (double)s : (double)sqrtl(s);
}

/* Check every entry of out (n x m) against the reference: float64 within
 * 1e-13 relative, float32 within two float32 roundings. */
static void check_distances(const bl_tensor_t *out, const bl_tensor_t *x, const bl_tensor_t *y, bool squared)
{
	size_t n = x->shape[0];
	size_t m = y->shape[0];
	cr_assert_eq(out->ndim, 2, "%u dimensions, expected 2", out->ndim);
	cr_assert_eq(out->shape[0], n, "%zu rows, expected %zu", out->shape[0], n);
	cr_assert_eq(out->shape[1], m, "%zu columns, expected %zu", out->shape[1], m);
	double tolerance = out->dtype == BL_DTYPE_F32 ? 2 * FLT_EPSILON : 1e-13;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < m; j++) {
			double expected = reference(x, i, y, j, squared);
			double got = bl_tensor_get(out, i * m + j);
			cr_assert(fabs(got - expected) <= tolerance * expected,
				  "distance (%zu, %zu) of %zu x %zu, d = %zu, squared %d: %.17g, expected %.17g", i, j,
				  n, m, x->shape[1], squared, got, expected);
		}
	}
}

static bl_tensor_t *pairwise_ok(const bl_tensor_t *x, const bl_tensor_t *y, bool squared)
{
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};
	int rc = bl_cpu_pairwise_l2(&out, x, y, squared, NULL, &err);
	cr_assert_eq(rc, 0, "bl_cpu_pairwise_l2 returned %d (%s), expected 0", rc, err.message);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* x against y for awkward sizes, widths 0 to 127, float32 and float64,
 * squared or not, matches the reference. */
Test(kernels_pairwise_l2, two_sets_match_reference)
{
	static const size_t sizes[][3] = {{1, 1, 1}, {7, 31, 3}, {31, 7, 127}, {0, 5, 4}, {5, 0, 4}, {3, 4, 0}};
	static const bl_dtype_t dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64};

	for (size_t d = 0; d < 2; d++) {
		for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
			bl_tensor_t *x = random_matrix(dtypes[d], sizes[s][0], sizes[s][2], 3 * s);
			bl_tensor_t *y = random_matrix(dtypes[d], sizes[s][1], sizes[s][2], 3 * s + 1);
			for (int squared = 0; squared < 2; squared++) {
				bl_tensor_t *out = pairwise_ok(x, y, squared);

				cr_assert_eq(out->dtype, dtypes[d], "dtype %s, expected %s", bl_dtype_name(out->dtype),
					     bl_dtype_name(dtypes[d]));
				check_distances(out, x, y, squared);
				bl_tensor_free(&out);
			}
			bl_tensor_free(&x);
			bl_tensor_free(&y);
		}
	}
}

/* With y NULL the result is x against itself: symmetric, zero on the
 * diagonal, and equal to passing x twice. */
Test(kernels_pairwise_l2, self_distances_symmetric)
{
	static const size_t sizes[][2] = {{1, 3}, {7, 5}, {127, 31}};

	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		bl_tensor_t *x = random_matrix(BL_DTYPE_F64, sizes[s][0], sizes[s][1], 50 + s);

		bl_tensor_t *out = pairwise_ok(x, NULL, false);

		check_distances(out, x, x, false);
		size_t n = sizes[s][0];
		const double *v = out->data;
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(v[i * n + i], 0.0, "diagonal %zu is %g, expected 0", i, v[i * n + i]);
			for (size_t j = 0; j < i; j++)
				cr_assert_eq(v[i * n + j], v[j * n + i], "(%zu, %zu) = %.17g but (%zu, %zu) = %.17g", i,
					     j, v[i * n + j], j, i, v[j * n + i]);
		}
		bl_tensor_free(&x);
		bl_tensor_free(&out);
	}
}

/* One large case: 600 x 517 rows of width 65, in float32. */
Test(kernels_pairwise_l2, large_sets_match_reference)
{
	bl_tensor_t *x = random_matrix(BL_DTYPE_F32, 600, 65, 1);
	bl_tensor_t *y = random_matrix(BL_DTYPE_F32, 517, 65, 2);

	bl_tensor_t *out = pairwise_ok(x, y, true);

	check_distances(out, x, y, true);
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_tensor_free(&out);
}

/* The result is float32 only when both inputs are; mixing in float64 or
 * integers gives float64. */
Test(kernels_pairwise_l2, dtype_follows_inputs)
{
	bl_tensor_t *f32 = random_matrix(BL_DTYPE_F32, 4, 3, 1);
	bl_tensor_t *f64 = random_matrix(BL_DTYPE_F64, 5, 3, 2);
	bl_tensor_t *i32 = random_matrix(BL_DTYPE_I32, 6, 3, 3);

	bl_tensor_t *mixed = pairwise_ok(f32, f64, false);
	bl_tensor_t *ints = pairwise_ok(i32, f32, false);
	bl_tensor_t *ints_self = pairwise_ok(i32, NULL, true);

	cr_assert_eq(mixed->dtype, BL_DTYPE_F64, "float32 with float64 gave %s", bl_dtype_name(mixed->dtype));
	cr_assert_eq(ints->dtype, BL_DTYPE_F64, "int32 with float32 gave %s", bl_dtype_name(ints->dtype));
	check_distances(mixed, f32, f64, false);
	check_distances(ints, i32, f32, false);
	check_distances(ints_self, i32, i32, true);
	bl_tensor_free(&f32);
	bl_tensor_free(&f64);
	bl_tensor_free(&i32);
	bl_tensor_free(&mixed);
	bl_tensor_free(&ints);
	bl_tensor_free(&ints_self);
}

/*
 * Close points keep their distance. Rows 1e8 + 1 and 1e8 + 1.5 are 0.5
 * apart. Expanded as |x|^2 + |y|^2 - 2 x.y, the squared distance 0.25
 * would be lost among terms near 1e16, which doubles space 2 apart.
 */
Test(kernels_pairwise_l2, close_points_keep_precision)
{
	bl_tensor_t *x = new_matrix(BL_DTYPE_F64, 2, 1);
	set_value(x, 0, 1e8 + 1);
	set_value(x, 1, 1e8 + 1.5);

	bl_tensor_t *out = pairwise_ok(x, NULL, false);

	cr_assert_eq(bl_tensor_get(out, 1), 0.5, "distance is %.17g, expected 0.5", bl_tensor_get(out, 1));
	bl_tensor_free(&x);
	bl_tensor_free(&out);
}

/* NaN in a row makes every distance of that row NaN, and only those. */
Test(kernels_pairwise_l2, nan_row_gives_nan)
{
	bl_tensor_t *x = random_matrix(BL_DTYPE_F64, 3, 4, 8);
	bl_tensor_t *y = random_matrix(BL_DTYPE_F64, 2, 4, 9);
	set_value(x, 1 * 4 + 2, NAN);

	bl_tensor_t *out = pairwise_ok(x, y, false);

	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < 2; j++) {
			double v = bl_tensor_get(out, i * 2 + j);
			if (i == 1)
				cr_assert(isnan(v), "(%zu, %zu) is %g, expected NaN", i, j, v);
			else
				cr_assert(!isnan(v), "(%zu, %zu) is NaN, expected a number", i, j);
		}
	}
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_tensor_free(&out);
}

/* A cancel already requested stops the work with BL_ECANCELED and no
 * result. */
Test(kernels_pairwise_l2, cancel_stops_work)
{
	bl_tensor_t *x = random_matrix(BL_DTYPE_F64, 50, 4, 1);
	bl_cancel_t cancel;
	atomic_init(&cancel.requested, true);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_pairwise_l2(&out, x, NULL, false, &cancel, &err);

	cr_assert_eq(rc, BL_ECANCELED, "returned %d, expected BL_ECANCELED", rc);
	cr_assert_eq(err.code, BL_ECANCELED, "err.code is %d, expected BL_ECANCELED", err.code);
	cr_assert_null(out, "out was written on cancel");
	bl_tensor_free(&x);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

static void expect_error(const bl_tensor_t *x, const bl_tensor_t *y, const char *field, const char *needle)
{
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_cpu_pairwise_l2(&out, x, y, false, NULL, &err);

	cr_assert_eq(rc, BL_EINVAL, "returned %d, expected BL_EINVAL", rc);
	cr_assert_str_eq(err.field, field, "err.field is \"%s\", expected \"%s\"", err.field, field);
	cr_assert(strstr(err.message, needle), "message \"%s\" does not mention \"%s\"", err.message, needle);
	cr_assert_null(out, "out was written on failure");
}

/* Rows of different widths, and inputs that are not matrices, are
 * rejected. */
Test(kernels_pairwise_l2, bad_shapes_rejected)
{
	bl_tensor_t *x = new_matrix(BL_DTYPE_F64, 3, 4);
	bl_tensor_t *y = new_matrix(BL_DTYPE_F64, 3, 5);
	size_t n = 4;
	bl_tensor_t *vector = NULL;
	cr_assert_eq(bl_tensor_new(&vector, BL_DTYPE_F64, 1, &n, NULL), 0, "could not allocate a vector");

	expect_error(x, y, "y", "width 5");
	expect_error(vector, NULL, "x", "1-D");
	expect_error(x, vector, "y", "1-D");
	bl_tensor_free(&x);
	bl_tensor_free(&y);
	bl_tensor_free(&vector);
}
