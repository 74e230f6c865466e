#include <math.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include <beamline/kernels.h>

static const bl_dtype_t all_dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64, BL_DTYPE_I32, BL_DTYPE_I64};

/* Make a tensor of `dtype` and `shape` holding 0, 1, 2, ... */
static bl_tensor_t *make_counting(bl_dtype_t dtype, unsigned ndim, const size_t *shape)
{
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};
	int rc = bl_tensor_new(&t, dtype, ndim, shape, &err);
	cr_assert_eq(rc, 0, "bl_tensor_new returned %d (%s), expected 0", rc, err.message);
	for (size_t i = 0; i < t->count; i++) {
		switch (dtype) {
		case BL_DTYPE_F32:
			((float *)t->data)[i] = (float)i;
			break;
		case BL_DTYPE_F64:
			((double *)t->data)[i] = (double)i;
			break;
		case BL_DTYPE_I32:
			((int32_t *)t->data)[i] = (int32_t)i;
			break;
		case BL_DTYPE_I64:
			((int64_t *)t->data)[i] = (int64_t)i;
			break;
		}
	}
	return t;
}

/* Make a 1-D float64 tensor holding `n` given values. */
static bl_tensor_t *make_f64(const double *values, size_t n)
{
	bl_tensor_t *t = make_counting(BL_DTYPE_F64, 1, &n);
	memcpy(t->data, values, n * sizeof *values);
	return t;
}

/* Each dtype's name parses back to the same dtype, and the sizes are the
 * numpy item sizes. */
Test(kernels_tensor, dtype_names_round_trip)
{
	static const size_t sizes[] = {4, 8, 4, 8};
	static const char *const names[] = {"float32", "float64", "int32", "int64"};

	for (size_t i = 0; i < 4; i++) {
		bl_dtype_t parsed = (bl_dtype_t)-1;
		int rc = bl_dtype_parse(&parsed, bl_dtype_name(all_dtypes[i]));

		cr_assert_str_eq(bl_dtype_name(all_dtypes[i]), names[i], "name of dtype %zu is %s, expected %s", i,
				 bl_dtype_name(all_dtypes[i]), names[i]);
		cr_assert_eq(bl_dtype_size(all_dtypes[i]), sizes[i], "size of %s is %zu, expected %zu", names[i],
			     bl_dtype_size(all_dtypes[i]), sizes[i]);
		cr_assert_eq(rc, 0, "parsing %s returned %d, expected 0", names[i], rc);
		cr_assert_eq(parsed, all_dtypes[i], "%s parsed as %d, expected %d", names[i], parsed, all_dtypes[i]);
	}
}

/* Names that differ from bl_dtype_name's output by case or width are not
 * dtypes, and an unknown dtype has no size. */
Test(kernels_tensor, dtype_parse_rejects_unknown_names)
{
	static const char *const bad[] = {"float16", "Float32", "f4", "", "int"};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bl_dtype_t parsed = BL_DTYPE_F64;
		int rc = bl_dtype_parse(&parsed, bad[i]);
		cr_assert_eq(rc, BL_EINVAL, "parsing \"%s\" returned %d, expected BL_EINVAL", bad[i], rc);
		cr_assert_eq(parsed, BL_DTYPE_F64, "parsing \"%s\" wrote the output on failure", bad[i]);
	}
	cr_assert_eq(bl_dtype_size((bl_dtype_t)7), 0, "unknown dtype has size %zu, expected 0",
		     bl_dtype_size((bl_dtype_t)7));
	cr_assert_str_eq(bl_dtype_name((bl_dtype_t)7), "unknown");
}

/* A new tensor is zeroed, its data 64-byte aligned, and its count and byte
 * size follow the shape. 3 x 5 float64 is 120 bytes, not a multiple of 64,
 * so the rounding of the allocation is exercised. */
Test(kernels_tensor, new_tensor_is_zeroed_and_aligned)
{
	size_t shape[2] = {3, 5};
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_new(&t, BL_DTYPE_F64, 2, shape, NULL);

	cr_assert_eq(rc, 0, "bl_tensor_new returned %d, expected 0", rc);
	cr_assert_eq(t->count, 15, "count is %zu, expected 15", t->count);
	cr_assert_eq(t->nbytes, 120, "nbytes is %zu, expected 120", t->nbytes);
	cr_assert_eq((uintptr_t)t->data % 64, 0, "data at %p is not 64-byte aligned", t->data);
	for (size_t i = 0; i < t->count; i++)
		cr_assert_eq(bl_tensor_get(t, i), 0.0, "element %zu is %g, expected 0", i, bl_tensor_get(t, i));
	bl_tensor_free(&t);
	cr_assert_null(t, "bl_tensor_free left the pointer set");
}

/* A scalar has no dimensions and one element; shape may be NULL. */
Test(kernels_tensor, scalar_has_one_element)
{
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_new(&t, BL_DTYPE_I32, 0, NULL, NULL);

	cr_assert_eq(rc, 0, "bl_tensor_new returned %d, expected 0", rc);
	cr_assert_eq(t->ndim, 0);
	cr_assert_eq(t->count, 1, "scalar count is %zu, expected 1", t->count);
	cr_assert_eq(t->nbytes, 4, "scalar nbytes is %zu, expected 4", t->nbytes);
	bl_tensor_free(&t);
}

/* A zero anywhere in the shape gives count 0 and still a usable pointer. */
Test(kernels_tensor, empty_tensor_has_valid_data)
{
	size_t shape[3] = {4, 0, 7};
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_new(&t, BL_DTYPE_F32, 3, shape, NULL);

	cr_assert_eq(rc, 0, "bl_tensor_new returned %d, expected 0", rc);
	cr_assert_eq(t->count, 0, "count is %zu, expected 0", t->count);
	cr_assert_eq(t->nbytes, 0, "nbytes is %zu, expected 0", t->nbytes);
	cr_assert_not_null(t->data, "an empty tensor must still have non-NULL data");
	bl_tensor_free(&t);
}

/* Nine dimensions is one more than BL_TENSOR_DIMS_MAX. */
Test(kernels_tensor, new_rejects_too_many_dimensions)
{
	size_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_tensor_new(&t, BL_DTYPE_F32, 9, shape, &err);

	cr_assert_eq(rc, BL_EINVAL, "bl_tensor_new returned %d, expected BL_EINVAL", rc);
	cr_assert_eq(err.code, BL_EINVAL, "err.code is %d, expected BL_EINVAL", err.code);
	cr_assert_null(t, "the output was written on failure");
}

Test(kernels_tensor, new_rejects_unknown_dtype)
{
	size_t shape[1] = {2};
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_new(&t, (bl_dtype_t)4, 1, shape, NULL);

	cr_assert_eq(rc, BL_EINVAL, "bl_tensor_new returned %d, expected BL_EINVAL", rc);
	cr_assert_null(t);
}

/* 2^32 x 2^32 overflows a 64-bit size_t whatever comes after it, and the
 * result must not depend on where a zero dimension sits: (2^32, 2^32, 0)
 * and (0, 2^32, 2^32) are both too large. */
Test(kernels_tensor, new_rejects_overflow_in_any_order)
{
	size_t big = (size_t)1 << 32;
	size_t shapes[3][3] = {{big, big, 1}, {big, big, 0}, {0, big, big}};

	for (size_t i = 0; i < 3; i++) {
		bl_tensor_t *t = NULL;
		int rc = bl_tensor_new(&t, BL_DTYPE_I64, 3, shapes[i], NULL);
		cr_assert_eq(rc, BL_ELIMIT, "shape %zu returned %d, expected BL_ELIMIT", i, rc);
		cr_assert_null(t);
	}
}

/* 2^61 float64 elements are 2^64 bytes: the element count fits size_t but
 * the byte size does not. */
Test(kernels_tensor, new_rejects_byte_size_overflow)
{
	size_t shape[1] = {(size_t)1 << 61};
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_new(&t, BL_DTYPE_F64, 1, shape, NULL);

	cr_assert_eq(rc, BL_ELIMIT, "bl_tensor_new returned %d, expected BL_ELIMIT", rc);
}

Test(kernels_tensor, free_accepts_null)
{
	bl_tensor_t *t = NULL;

	bl_tensor_free(&t);

	cr_assert_null(t);
}

/* bl_tensor_get reads every dtype as a double, negative values included. */
Test(kernels_tensor, get_reads_every_dtype)
{
	size_t n = 2;
	for (size_t d = 0; d < 4; d++) {
		bl_tensor_t *t = make_counting(all_dtypes[d], 1, &n);
		switch (all_dtypes[d]) {
		case BL_DTYPE_F32:
			((float *)t->data)[1] = -2.5f;
			break;
		case BL_DTYPE_F64:
			((double *)t->data)[1] = -2.5;
			break;
		case BL_DTYPE_I32:
			((int32_t *)t->data)[1] = -2;
			break;
		case BL_DTYPE_I64:
			((int64_t *)t->data)[1] = -2;
			break;
		}
		double expected = all_dtypes[d] == BL_DTYPE_F32 || all_dtypes[d] == BL_DTYPE_F64 ? -2.5 : -2.0;

		double got = bl_tensor_get(t, 1);

		cr_assert_eq(got, expected, "%s element 1 reads %g, expected %g", bl_dtype_name(all_dtypes[d]), got,
			     expected);
		bl_tensor_free(&t);
	}
}

/* Every pair of dtypes converts the values 0 .. 5 unchanged, and the shape
 * is kept. */
Test(kernels_tensor, convert_every_pair_keeps_values)
{
	size_t shape[2] = {2, 3};
	for (size_t from = 0; from < 4; from++) {
		for (size_t to = 0; to < 4; to++) {
			bl_tensor_t *in = make_counting(all_dtypes[from], 2, shape);
			bl_tensor_t *out = NULL;

			int rc = bl_tensor_convert(&out, in, all_dtypes[to], NULL);

			cr_assert_eq(rc, 0, "%s to %s returned %d", bl_dtype_name(all_dtypes[from]),
				     bl_dtype_name(all_dtypes[to]), rc);
			cr_assert_eq(out->dtype, all_dtypes[to]);
			cr_assert_eq(out->ndim, 2);
			cr_assert_eq(out->shape[0], 2);
			cr_assert_eq(out->shape[1], 3);
			for (size_t i = 0; i < 6; i++)
				cr_assert_eq(bl_tensor_get(out, i), (double)i, "%s to %s: element %zu is %g",
					     bl_dtype_name(all_dtypes[from]), bl_dtype_name(all_dtypes[to]), i,
					     bl_tensor_get(out, i));
			bl_tensor_free(&in);
			bl_tensor_free(&out);
		}
	}
}

/* Floats convert to integers by truncation toward zero, as C casts do. */
Test(kernels_tensor, convert_truncates_toward_zero)
{
	double values[4] = {2.9, -2.9, 0.5, -0.5};
	bl_tensor_t *in = make_f64(values, 4);
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_convert(&out, in, BL_DTYPE_I32, NULL);

	cr_assert_eq(rc, 0, "convert returned %d, expected 0", rc);
	int32_t *got = out->data;
	cr_assert_eq(got[0], 2, "2.9 became %d, expected 2", got[0]);
	cr_assert_eq(got[1], -2, "-2.9 became %d, expected -2", got[1]);
	cr_assert_eq(got[2], 0, "0.5 became %d, expected 0", got[2]);
	cr_assert_eq(got[3], 0, "-0.5 became %d, expected 0", got[3]);
	bl_tensor_free(&in);
	bl_tensor_free(&out);
}

/* The int32 bounds themselves convert; one past them, NaN and infinity do
 * not, and the error gives the flat index of the offending element. */
Test(kernels_tensor, convert_rejects_values_outside_int32)
{
	double ok[4] = {2147483647.0, -2147483648.0, 2147483647.9, -2147483648.9};
	double bad[4] = {2147483648.0, -2147483649.0, NAN, INFINITY};
	bl_tensor_t *in = make_f64(ok, 4);
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_convert(&out, in, BL_DTYPE_I32, NULL);

	cr_assert_eq(rc, 0, "the int32 bounds were rejected with %d", rc);
	cr_assert_eq(((int32_t *)out->data)[0], INT32_MAX);
	cr_assert_eq(((int32_t *)out->data)[1], INT32_MIN);
	bl_tensor_free(&in);
	bl_tensor_free(&out);

	for (size_t i = 0; i < 4; i++) {
		double values[3] = {1.0, 2.0, bad[i]};
		bl_tensor_t *bad_in = make_f64(values, 3);
		bl_error_t err = {0};

		rc = bl_tensor_convert(&out, bad_in, BL_DTYPE_I32, &err);

		cr_assert_eq(rc, BL_EINVAL, "%g returned %d, expected BL_EINVAL", bad[i], rc);
		cr_assert_not_null(strstr(err.message, "element 2"), "message \"%s\" does not name element 2",
				   err.message);
		cr_assert_null(out, "the output was written on failure");
		bl_tensor_free(&bad_in);
	}
}

/* int64 covers [-2^63, 2^63): -2^63 converts, 2^63 does not. */
Test(kernels_tensor, convert_rejects_values_outside_int64)
{
	double values[2] = {-9223372036854775808.0, 9223372036854775808.0};
	bl_tensor_t *in = make_f64(values, 1);
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_convert(&out, in, BL_DTYPE_I64, NULL);

	cr_assert_eq(rc, 0, "-2^63 was rejected with %d", rc);
	cr_assert_eq(((int64_t *)out->data)[0], INT64_MIN);
	bl_tensor_free(&in);
	bl_tensor_free(&out);

	in = make_f64(values + 1, 1);
	rc = bl_tensor_convert(&out, in, BL_DTYPE_I64, NULL);
	cr_assert_eq(rc, BL_EINVAL, "2^63 returned %d, expected BL_EINVAL", rc);
	bl_tensor_free(&in);
}

/* int64 to int32 checks the range on the integers themselves. */
Test(kernels_tensor, convert_int64_to_int32_checks_range)
{
	size_t n = 2;
	bl_tensor_t *in = make_counting(BL_DTYPE_I64, 1, &n);
	((int64_t *)in->data)[0] = INT32_MIN;
	((int64_t *)in->data)[1] = (int64_t)INT32_MAX + 1;
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_tensor_convert(&out, in, BL_DTYPE_I32, &err);

	cr_assert_eq(rc, BL_EINVAL, "2^31 returned %d, expected BL_EINVAL", rc);
	cr_assert_not_null(strstr(err.message, "2147483648"), "message \"%s\" does not give the value",
			   err.message);
	bl_tensor_free(&in);
}

/* float32 values near 2^53 lie 2^30 apart. 2^53 + 2^29 + 1 lies just above
 * the midpoint, so direct rounding gives 2^53 + 2^30. Through double it
 * first rounds to the midpoint 2^53 + 2^29, which then ties to even at 2^53:
 * a conversion that rounds twice fails this test. */
Test(kernels_tensor, convert_int64_to_float32_rounds_once)
{
	size_t n = 1;
	bl_tensor_t *in = make_counting(BL_DTYPE_I64, 1, &n);
	int64_t v = ((int64_t)1 << 53) + ((int64_t)1 << 29) + 1;
	((int64_t *)in->data)[0] = v;
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_convert(&out, in, BL_DTYPE_F32, NULL);

	cr_assert_eq(rc, 0);
	float got = ((float *)out->data)[0];
	cr_assert_eq((double)got, 9007200328482816.0, "got %.1f, expected 2^53 + 2^30", (double)got);
	bl_tensor_free(&in);
	bl_tensor_free(&out);
}

/* Rows 1..3 and columns 1..3 of a 4 x 5 matrix holding 0 .. 19. */
Test(kernels_tensor, slice_copies_the_block)
{
	size_t shape[2] = {4, 5};
	bl_tensor_t *in = make_counting(BL_DTYPE_F32, 2, shape);
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_slice(&out, in, 1, 3, 1, 3, NULL);

	cr_assert_eq(rc, 0, "slice returned %d", rc);
	cr_assert_eq(out->shape[0], 2);
	cr_assert_eq(out->shape[1], 2);
	double expected[4] = {6, 7, 11, 12};
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(bl_tensor_get(out, i), expected[i], "element %zu is %g, expected %g", i,
			     bl_tensor_get(out, i), expected[i]);
	bl_tensor_free(&in);
	bl_tensor_free(&out);
}

/* A 1-D slice takes columns [0, 1) and keeps one dimension. */
Test(kernels_tensor, slice_of_vector_keeps_one_dimension)
{
	size_t n = 6;
	bl_tensor_t *in = make_counting(BL_DTYPE_I64, 1, &n);
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_slice(&out, in, 2, 5, 0, 1, NULL);

	cr_assert_eq(rc, 0, "slice returned %d", rc);
	cr_assert_eq(out->ndim, 1);
	cr_assert_eq(out->count, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(bl_tensor_get(out, i), (double)(i + 2), "element %zu is %g, expected %zu", i,
			     bl_tensor_get(out, i), i + 2);
	bl_tensor_free(&in);
	bl_tensor_free(&out);
}

/* Column ranges other than [0, 1) on a 1-D tensor would give a result
 * whose shape claims rows that were never copied. */
Test(kernels_tensor, slice_of_vector_rejects_other_columns)
{
	size_t n = 6;
	bl_tensor_t *in = make_counting(BL_DTYPE_I64, 1, &n);
	bl_tensor_t *out = NULL;
	bl_error_t err = {0};

	int rc = bl_tensor_slice(&out, in, 0, 6, 0, 0, &err);

	cr_assert_eq(rc, BL_EINVAL, "columns [0, 0) returned %d, expected BL_EINVAL", rc);
	cr_assert_str_eq(err.field, "columns");
	cr_assert_null(out);
	bl_tensor_free(&in);
}

/* Each bound out of range is named in err->field. */
Test(kernels_tensor, slice_rejects_bounds_out_of_range)
{
	size_t shape[2] = {4, 5};
	bl_tensor_t *in = make_counting(BL_DTYPE_F64, 2, shape);
	struct {
		size_t r0, r1, c0, c1;
		const char *field;
	} cases[] = {
		{0, 5, 0, 5, "rows"},
		{3, 2, 0, 5, "rows"},
		{0, 4, 0, 6, "columns"},
		{0, 4, 4, 3, "columns"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_tensor_t *out = NULL;
		bl_error_t err = {0};
		int rc = bl_tensor_slice(&out, in, cases[i].r0, cases[i].r1, cases[i].c0, cases[i].c1, &err);
		cr_assert_eq(rc, BL_EINVAL, "case %zu returned %d, expected BL_EINVAL", i, rc);
		cr_assert_str_eq(err.field, cases[i].field, "case %zu named \"%s\", expected \"%s\"", i, err.field,
				 cases[i].field);
		cr_assert_null(out);
	}
	bl_tensor_free(&in);
}

/* An empty slice of a matrix is a valid, empty tensor. */
Test(kernels_tensor, slice_may_be_empty)
{
	size_t shape[2] = {4, 5};
	bl_tensor_t *in = make_counting(BL_DTYPE_F64, 2, shape);
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_slice(&out, in, 2, 2, 0, 5, NULL);

	cr_assert_eq(rc, 0, "slice returned %d", rc);
	cr_assert_eq(out->count, 0);
	cr_assert_eq(out->shape[0], 0);
	cr_assert_eq(out->shape[1], 5);
	bl_tensor_free(&in);
	bl_tensor_free(&out);
}

/* Slicing needs one or two dimensions. */
Test(kernels_tensor, slice_rejects_other_ranks)
{
	size_t shape[3] = {2, 2, 2};
	bl_tensor_t *in = make_counting(BL_DTYPE_F64, 3, shape);
	bl_tensor_t *out = NULL;

	int rc = bl_tensor_slice(&out, in, 0, 1, 0, 1, NULL);

	cr_assert_eq(rc, BL_EINVAL, "a 3-D slice returned %d, expected BL_EINVAL", rc);
	bl_tensor_free(&in);
}
