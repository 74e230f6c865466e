#include <float.h>
#include <limits.h>
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

/* Return a uniform float in [-1, 1). */
static float next_float(uint64_t *state)
{
	return (float)((double)(next_random(state) >> 11) * 0x1.0p-52 - 1.0);
}

static bl_tensor_t *new_matrix(bl_dtype_t dtype, size_t rows, size_t cols)
{
	size_t shape[2] = {rows, cols};
	bl_tensor_t *t = NULL;
	int rc = bl_tensor_new(&t, dtype, 2, shape, NULL);
	cr_assert_eq(rc, 0, "bl_tensor_new(%zu x %zu) returned %d, expected 0", rows, cols, rc);
	return t;
}

static bl_tensor_t *random_matrix(size_t rows, size_t cols, uint64_t *state)
{
	bl_tensor_t *t = new_matrix(BL_DTYPE_F32, rows, cols);
	for (size_t i = 0; i < t->count; i++)
		((float *)t->data)[i] = next_float(state);
	return t;
}

/* Return element (i, j) of op(t) for a row-major matrix t. */
static double op_at(const bl_tensor_t *t, bool trans, size_t i, size_t j)
{
	const float *p = t->data;
	return trans ? p[j * t->shape[1] + i] : p[i * t->shape[1] + j];
}

/*
 * Check every element of c against alpha * op(A) op(B) + beta * c0,
 * computed with a triple loop in double. The bound is the standard error
 * bound of a float32 dot product of length k, with two more roundings for
 * alpha and beta: (k + 2) * FLT_EPSILON times the sum of the magnitudes of
 * the terms. It is valid in whatever order OpenBLAS adds the terms.
 */
static void check_product(const bl_tensor_t *c, const bl_tensor_t *c0, const bl_tensor_t *a, const bl_tensor_t *b,
			  const bl_sgemm_args_t *args, size_t m, size_t n, size_t k)
{
	const float *got = c->data;
	const float *before = c0->data;
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < n; j++) {
			double sum = 0;
			double magnitude = 0;
			for (size_t l = 0; l < k; l++) {
				double term = op_at(a, args->trans_a, i, l) * op_at(b, args->trans_b, l, j);
				sum += term;
				magnitude += fabs(term);
			}
			double expected = args->alpha * sum;
			magnitude = fabs(args->alpha) * magnitude;
			if (args->beta != 0.0f) {
				expected += (double)args->beta * before[i * n + j];
				magnitude += fabs((double)args->beta * before[i * n + j]);
			}
			double bound = (double)(k + 2) * FLT_EPSILON * magnitude + 1e-30;
			cr_assert(fabs(got[i * n + j] - expected) <= bound,
				  "c[%zu][%zu] = %.9g, expected %.9g within %.3g (m %zu, n %zu, k %zu, trans_a %d, "
				  "trans_b %d)",
				  i, j, got[i * n + j], expected, bound, m, n, k, args->trans_a, args->trans_b);
		}
	}
}

/* Build random operands for an m x n x k product, run it over all rows of
 * C and check it against the reference. */
static void run_and_check(size_t m, size_t n, size_t k, const bl_sgemm_args_t *args, uint64_t seed)
{
	uint64_t state = seed;
	bl_tensor_t *a = args->trans_a ? random_matrix(k, m, &state) : random_matrix(m, k, &state);
	bl_tensor_t *b = args->trans_b ? random_matrix(n, k, &state) : random_matrix(k, n, &state);
	bl_tensor_t *c = random_matrix(m, n, &state);
	bl_tensor_t *c0 = random_matrix(m, n, &state);
	memcpy(c0->data, c->data, c->nbytes);

	bl_error_t err = {0};
	int rc = bl_cpu_sgemm_rows(c, a, b, args, 0, m, &err);

	cr_assert_eq(rc, 0, "bl_cpu_sgemm_rows returned %d (%s), expected 0", rc, err.message);
	check_product(c, c0, a, b, args, m, n, k);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
	bl_tensor_free(&c0);
}

/* ------------------------------------------------------------------------ */
/* Products                                                                  */
/* ------------------------------------------------------------------------ */

/* Every transpose combination on sizes that are 0, 1, primes or just off
 * a power of two, so that no OpenBLAS block size divides them. */
Test(kernels_sgemm, transposes_match_reference)
{
	static const size_t sizes[][3] = {
		{1, 1, 1}, {7, 31, 127}, {31, 7, 1}, {127, 33, 65}, {13, 1, 29}, {1, 17, 3}, {63, 65, 31},
	};

	for (int ta = 0; ta < 2; ta++) {
		for (int tb = 0; tb < 2; tb++) {
			bl_sgemm_args_t args = {.alpha = 1.0f, .beta = 0.0f, .trans_a = ta, .trans_b = tb};
			for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
				run_and_check(sizes[s][0], sizes[s][1], sizes[s][2], &args, 0x5EED0000u + s);
		}
	}
}

/* alpha and beta both take part, including negative values and beta 1,
 * which accumulates into C. */
Test(kernels_sgemm, alpha_beta_match_reference)
{
	static const float pairs[][2] = {{1.5f, 0.5f}, {-2.0f, 3.0f}, {0.25f, 1.0f}, {0.0f, -1.0f}};

	for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++) {
		for (int ta = 0; ta < 2; ta++) {
			bl_sgemm_args_t args = {.alpha = pairs[p][0], .beta = pairs[p][1], .trans_a = ta,
						.trans_b = !ta};
			run_and_check(37, 19, 53, &args, 0xAB00u + p);
		}
	}
}

/* One product well beyond every cache block: 521 x 263 x 1031. */
Test(kernels_sgemm, large_product_matches_reference)
{
	bl_sgemm_args_t args = {.alpha = 0.75f, .beta = -0.5f, .trans_a = false, .trans_b = true};

	run_and_check(521, 263, 1031, &args, 0xB16);
}

/* Row ranges that together cover C, one of them empty, give the same C as
 * one call over all rows, for plain and transposed A. */
Test(kernels_sgemm, row_ranges_cover_c)
{
	static const size_t bounds[] = {0, 13, 13, 64, 126, 127};
	const size_t m = 127;
	const size_t n = 33;
	const size_t k = 29;

	for (int ta = 0; ta < 2; ta++) {
		bl_sgemm_args_t args = {.alpha = 1.25f, .beta = 0.5f, .trans_a = ta, .trans_b = false};
		uint64_t state = 0xC0FFEE;
		bl_tensor_t *a = ta ? random_matrix(k, m, &state) : random_matrix(m, k, &state);
		bl_tensor_t *b = random_matrix(k, n, &state);
		bl_tensor_t *whole = random_matrix(m, n, &state);
		bl_tensor_t *parts = new_matrix(BL_DTYPE_F32, m, n);
		bl_tensor_t *c0 = new_matrix(BL_DTYPE_F32, m, n);
		memcpy(parts->data, whole->data, whole->nbytes);
		memcpy(c0->data, whole->data, whole->nbytes);

		int rc = bl_cpu_sgemm_rows(whole, a, b, &args, 0, m, NULL);
		cr_assert_eq(rc, 0, "the call over all rows returned %d, expected 0", rc);
		for (size_t r = 0; r + 1 < sizeof bounds / sizeof *bounds; r++) {
			rc = bl_cpu_sgemm_rows(parts, a, b, &args, bounds[r], bounds[r + 1], NULL);
			cr_assert_eq(rc, 0, "rows [%zu, %zu) returned %d, expected 0", bounds[r], bounds[r + 1], rc);
		}

		check_product(parts, c0, a, b, &args, m, n, k);
		for (size_t i = 0; i < m * n; i++) {
			float w = ((float *)whole->data)[i];
			float p = ((float *)parts->data)[i];
			cr_assert(fabsf(w - p) <= 1e-5f * (1.0f + fabsf(w)),
				  "element %zu is %.9g split in row ranges but %.9g in one call (trans_a %d)", i, p, w,
				  ta);
		}
		bl_tensor_free(&a);
		bl_tensor_free(&b);
		bl_tensor_free(&whole);
		bl_tensor_free(&parts);
		bl_tensor_free(&c0);
	}
}

/* A range that stops short of C leaves the other rows untouched. */
Test(kernels_sgemm, rows_outside_range_untouched)
{
	uint64_t state = 77;
	bl_tensor_t *a = random_matrix(7, 5, &state);
	bl_tensor_t *b = random_matrix(5, 3, &state);
	bl_tensor_t *c = new_matrix(BL_DTYPE_F32, 7, 3);
	for (size_t i = 0; i < c->count; i++)
		((float *)c->data)[i] = -42.0f;
	bl_sgemm_args_t args = {.alpha = 1.0f, .beta = 0.0f};

	int rc = bl_cpu_sgemm_rows(c, a, b, &args, 2, 5, NULL);

	cr_assert_eq(rc, 0, "rows [2, 5) returned %d, expected 0", rc);
	for (size_t i = 0; i < c->count; i++) {
		size_t r = i / 3;
		float v = ((float *)c->data)[i];
		if (r < 2 || r >= 5)
			cr_assert_eq(v, -42.0f, "row %zu outside [2, 5) changed to %g", r, v);
		else
			cr_assert_neq(v, -42.0f, "row %zu inside [2, 5) was not written", r);
	}
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
}

/* As in BLAS, beta 0 means C is not read, so NaN already in C does not
 * reach the result. */
Test(kernels_sgemm, beta_zero_ignores_nan_in_c)
{
	uint64_t state = 5;
	bl_tensor_t *a = random_matrix(31, 7, &state);
	bl_tensor_t *b = random_matrix(7, 11, &state);
	bl_tensor_t *c = new_matrix(BL_DTYPE_F32, 31, 11);
	for (size_t i = 0; i < c->count; i++)
		((float *)c->data)[i] = NAN;
	bl_sgemm_args_t args = {.alpha = 1.0f, .beta = 0.0f};

	int rc = bl_cpu_sgemm_rows(c, a, b, &args, 0, 31, NULL);

	cr_assert_eq(rc, 0, "bl_cpu_sgemm_rows returned %d, expected 0", rc);
	for (size_t i = 0; i < c->count; i++)
		cr_assert(!isnan(((float *)c->data)[i]), "c element %zu is NaN, expected the product", i);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
}

/* With K = 0 the product is empty and C becomes beta * C; beta 0 clears
 * C even where it held NaN. */
Test(kernels_sgemm, empty_inner_dimension_scales_c)
{
	bl_tensor_t *a = new_matrix(BL_DTYPE_F32, 3, 0);
	bl_tensor_t *b = new_matrix(BL_DTYPE_F32, 0, 2);
	bl_tensor_t *c = new_matrix(BL_DTYPE_F32, 3, 2);
	float *cv = c->data;
	for (size_t i = 0; i < c->count; i++)
		cv[i] = (float)i;
	bl_sgemm_args_t args = {.alpha = 2.0f, .beta = 3.0f};

	int rc = bl_cpu_sgemm_rows(c, a, b, &args, 0, 3, NULL);

	cr_assert_eq(rc, 0, "K = 0 returned %d, expected 0", rc);
	for (size_t i = 0; i < c->count; i++)
		cr_assert_eq(cv[i], 3.0f * (float)i, "c element %zu is %g, expected %g", i, cv[i], 3.0 * (double)i);

	cv[0] = NAN;
	args.beta = 0.0f;
	rc = bl_cpu_sgemm_rows(c, a, b, &args, 0, 3, NULL);

	cr_assert_eq(rc, 0, "K = 0 with beta 0 returned %d, expected 0", rc);
	for (size_t i = 0; i < c->count; i++)
		cr_assert_eq(cv[i], 0.0f, "c element %zu is %g, expected 0 with beta 0", i, cv[i]);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
}

/* Products with no rows or no columns succeed and write nothing. */
Test(kernels_sgemm, empty_outer_dimensions_succeed)
{
	static const size_t sizes[][3] = {{0, 5, 3}, {5, 0, 3}, {0, 0, 0}};

	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		bl_sgemm_args_t args = {.alpha = 1.0f, .beta = 1.0f, .trans_a = s == 1};
		run_and_check(sizes[s][0], sizes[s][1], sizes[s][2], &args, s);
	}
}

/* bl_sgemm_dims reads M, N and K through the transposes. */
Test(kernels_sgemm, dims_follow_transposes)
{
	bl_tensor_t *a = new_matrix(BL_DTYPE_F32, 3, 4);
	bl_tensor_t *b_plain = new_matrix(BL_DTYPE_F32, 4, 5);
	bl_tensor_t *b_trans = new_matrix(BL_DTYPE_F32, 5, 3);
	size_t m = 0;
	size_t n = 0;
	size_t k = 0;

	bl_sgemm_args_t plain = {.alpha = 1.0f};
	int rc = bl_sgemm_dims(&m, &n, &k, a, b_plain, &plain, NULL);
	cr_assert_eq(rc, 0, "plain 3x4 * 4x5 returned %d, expected 0", rc);
	cr_assert_eq(m, 3, "M is %zu, expected 3", m);
	cr_assert_eq(n, 5, "N is %zu, expected 5", n);
	cr_assert_eq(k, 4, "K is %zu, expected 4", k);

	bl_sgemm_args_t both = {.alpha = 1.0f, .trans_a = true, .trans_b = true};
	rc = bl_sgemm_dims(&m, &n, &k, a, b_trans, &both, NULL);
	cr_assert_eq(rc, 0, "transposed 3x4' * 5x3' returned %d, expected 0", rc);
	cr_assert_eq(m, 4, "M is %zu, expected 4", m);
	cr_assert_eq(n, 5, "N is %zu, expected 5", n);
	cr_assert_eq(k, 3, "K is %zu, expected 3", k);
	bl_tensor_free(&a);
	bl_tensor_free(&b_plain);
	bl_tensor_free(&b_trans);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments                                                         */
/* ------------------------------------------------------------------------ */

static void expect_error(int rc, const bl_error_t *err, int code, const char *field, const char *needle)
{
	cr_assert_eq(rc, code, "returned %d, expected %d", rc, code);
	cr_assert_eq(err->code, code, "err.code is %d, expected %d", err->code, code);
	cr_assert_str_eq(err->field, field, "err.field is \"%s\", expected \"%s\"", err->field, field);
	cr_assert(strstr(err->message, needle), "message \"%s\" does not mention \"%s\"", err->message, needle);
}

/* Inner dimensions that differ are rejected, and the message gives both
 * shapes. */
Test(kernels_sgemm, mismatched_inner_dimension_rejected)
{
	bl_tensor_t *a = new_matrix(BL_DTYPE_F32, 3, 4);
	bl_tensor_t *b = new_matrix(BL_DTYPE_F32, 5, 6);
	bl_tensor_t *c = new_matrix(BL_DTYPE_F32, 3, 6);
	bl_sgemm_args_t args = {.alpha = 1.0f};
	bl_error_t err = {0};

	int rc = bl_cpu_sgemm_rows(c, a, b, &args, 0, 3, &err);

	expect_error(rc, &err, BL_EINVAL, "b", "3 x 4");
	cr_assert(strstr(err.message, "5 x 6"), "message \"%s\" does not give b's shape 5 x 6", err.message);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
}

/* Only float32 matrices are accepted, for a, b and c alike. */
Test(kernels_sgemm, non_float32_rejected)
{
	bl_tensor_t *f32 = new_matrix(BL_DTYPE_F32, 2, 2);
	bl_tensor_t *f64 = new_matrix(BL_DTYPE_F64, 2, 2);
	bl_tensor_t *i32 = new_matrix(BL_DTYPE_I32, 2, 2);
	bl_sgemm_args_t args = {.alpha = 1.0f};
	bl_error_t err = {0};

	int rc = bl_cpu_sgemm_rows(f32, f64, f32, &args, 0, 2, &err);
	expect_error(rc, &err, BL_EINVAL, "a", "float64");

	rc = bl_cpu_sgemm_rows(f32, f32, i32, &args, 0, 2, &err);
	expect_error(rc, &err, BL_EINVAL, "b", "int32");

	rc = bl_cpu_sgemm_rows(f64, f32, f32, &args, 0, 2, &err);
	expect_error(rc, &err, BL_EINVAL, "c", "float64");
	bl_tensor_free(&f32);
	bl_tensor_free(&f64);
	bl_tensor_free(&i32);
}

/* An operand that is not a matrix is rejected with its rank. */
Test(kernels_sgemm, non_matrix_rejected)
{
	size_t len = 4;
	bl_tensor_t *vector = NULL;
	cr_assert_eq(bl_tensor_new(&vector, BL_DTYPE_F32, 1, &len, NULL), 0, "could not allocate a vector");
	bl_tensor_t *m = new_matrix(BL_DTYPE_F32, 4, 4);
	bl_sgemm_args_t args = {.alpha = 1.0f};
	bl_error_t err = {0};

	int rc = bl_cpu_sgemm_rows(m, vector, m, &args, 0, 4, &err);
	expect_error(rc, &err, BL_EINVAL, "a", "1-D");

	rc = bl_cpu_sgemm_rows(m, m, vector, &args, 0, 4, &err);
	expect_error(rc, &err, BL_EINVAL, "b", "1-D");

	rc = bl_cpu_sgemm_rows(vector, m, m, &args, 0, 4, &err);
	expect_error(rc, &err, BL_EINVAL, "c", "1-D");
	bl_tensor_free(&vector);
	bl_tensor_free(&m);
}

/* c must have the shape M x N of the product. */
Test(kernels_sgemm, wrong_c_shape_rejected)
{
	bl_tensor_t *a = new_matrix(BL_DTYPE_F32, 3, 4);
	bl_tensor_t *b = new_matrix(BL_DTYPE_F32, 4, 5);
	bl_tensor_t *c = new_matrix(BL_DTYPE_F32, 5, 3);
	bl_sgemm_args_t args = {.alpha = 1.0f};
	bl_error_t err = {0};

	int rc = bl_cpu_sgemm_rows(c, a, b, &args, 0, 3, &err);

	expect_error(rc, &err, BL_EINVAL, "c", "expected 3 x 5");
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
}

/* A row range that is reversed or runs past M is rejected. */
Test(kernels_sgemm, bad_row_range_rejected)
{
	bl_tensor_t *a = new_matrix(BL_DTYPE_F32, 3, 4);
	bl_tensor_t *b = new_matrix(BL_DTYPE_F32, 4, 5);
	bl_tensor_t *c = new_matrix(BL_DTYPE_F32, 3, 5);
	bl_sgemm_args_t args = {.alpha = 1.0f};
	bl_error_t err = {0};

	int rc = bl_cpu_sgemm_rows(c, a, b, &args, 0, 4, &err);
	expect_error(rc, &err, BL_EINVAL, "row_stop", "[0, 4)");

	rc = bl_cpu_sgemm_rows(c, a, b, &args, 2, 1, &err);
	expect_error(rc, &err, BL_EINVAL, "row_stop", "[2, 1)");
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
}

/* OpenBLAS takes int dimensions, so a larger one is a limit, not a shape
 * error. A matrix with a zero dimension has no data, so the test needs no
 * memory. */
Test(kernels_sgemm, dimension_above_int_max_rejected)
{
	bl_tensor_t *huge = new_matrix(BL_DTYPE_F32, (size_t)INT_MAX + 1, 0);
	bl_tensor_t *b = new_matrix(BL_DTYPE_F32, 0, 2);
	bl_sgemm_args_t args = {.alpha = 1.0f};
	size_t m;
	size_t n;
	size_t k;
	bl_error_t err = {0};

	int rc = bl_sgemm_dims(&m, &n, &k, huge, b, &args, &err);

	expect_error(rc, &err, BL_ELIMIT, "a", "2147483648 x 0");
	bl_tensor_free(&huge);
	bl_tensor_free(&b);
}
