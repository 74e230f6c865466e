#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <beamline/kernels.h>

static const bl_dtype_t all_dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64, BL_DTYPE_I32, BL_DTYPE_I64};

/* Parse `text` as JSON, failing the test when it is not. Decoding with
 * JSON_DECODE_ANY allows a bare number at the top level. */
static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
	cr_assert_not_null(v, "test JSON %s does not parse: %s", text, jerr.text);
	return v;
}

/* Convert `text` with `dtype` (NULL to infer) and default limits, and
 * expect success. */
static bl_tensor_t *from_text(const char *text, const bl_dtype_t *dtype)
{
	json_t *v = parse(text);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_tensor_from_json(&t, v, dtype, NULL, "x", &err);

	cr_assert_eq(rc, 0, "%s returned %d (%s at %s), expected 0", text, rc, err.message, err.field);
	json_decref(v);
	return t;
}

/* Convert `text` and expect `code` with err->field equal to `path`. */
static void assert_rejected(const char *text, const bl_dtype_t *dtype, const bl_json_tensor_limits_t *lim, int code,
			    const char *path)
{
	json_t *v = parse(text);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_tensor_from_json(&t, v, dtype, lim, "params.inputs.a", &err);

	cr_assert_eq(rc, code, "%s returned %d (%s), expected %d (%s)", text, rc, err.message, code,
		     bl_err_name(code));
	cr_assert_eq(err.code, code, "%s: err.code %d, expected %d", text, err.code, code);
	cr_assert_str_eq(err.field, path, "%s: the error names \"%s\", expected \"%s\" (%s)", text, err.field, path,
			 err.message);
	cr_assert_str_not_empty(err.message);
	cr_assert_null(t, "%s: the output was written on failure", text);
	json_decref(v);
}

static void assert_shape(const bl_tensor_t *t, unsigned ndim, const size_t *shape)
{
	cr_assert_eq(t->ndim, ndim, "ndim is %u, expected %u", t->ndim, ndim);
	for (unsigned i = 0; i < ndim; i++)
		cr_assert_eq(t->shape[i], shape[i], "shape[%u] is %zu, expected %zu", i, t->shape[i], shape[i]);
}

/* Dump `v` compactly for comparison; the caller frees the text. */
static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cr_assert_not_null(s);
	return s;
}

/* ------------------------------------------------------------------------ */
/* From JSON                                                                 */
/* ------------------------------------------------------------------------ */

/* Integers alone infer int64, one real anywhere makes the whole tensor
 * float64, and the values land in row-major order. */
Test(kernels_tensor_json, dtype_inferred_from_numbers)
{
	bl_tensor_t *ints = from_text("[[1, 2, 3], [4, 5, -6]]", NULL);
	bl_tensor_t *reals = from_text("[[1, 2, 3], [4, 5.5, 6]]", NULL);
	bl_tensor_t *whole = from_text("[1.0, 2]", NULL);

	size_t shape[2] = {2, 3};
	assert_shape(ints, 2, shape);
	cr_assert_eq(ints->dtype, BL_DTYPE_I64, "all-integer input gave %s, expected int64", bl_dtype_name(ints->dtype));
	cr_assert_eq(reals->dtype, BL_DTYPE_F64, "input with 5.5 gave %s, expected float64",
		     bl_dtype_name(reals->dtype));
	cr_assert_eq(whole->dtype, BL_DTYPE_F64, "1.0 is a JSON real; gave %s, expected float64",
		     bl_dtype_name(whole->dtype));
	int64_t want_ints[6] = {1, 2, 3, 4, 5, -6};
	double want_reals[6] = {1, 2, 3, 4, 5.5, 6};
	for (size_t i = 0; i < 6; i++) {
		cr_assert_eq(((int64_t *)ints->data)[i], want_ints[i], "int element %zu", i);
		cr_assert_eq(((double *)reals->data)[i], want_reals[i], "real element %zu", i);
	}
	bl_tensor_free(&ints);
	bl_tensor_free(&reals);
	bl_tensor_free(&whole);
}

/* A bare number is a scalar; [] is a 1-D tensor of 0 elements; [[], []]
 * is 2 x 0. */
Test(kernels_tensor_json, scalar_and_empty_shapes)
{
	bl_tensor_t *scalar = from_text("42", NULL);
	bl_tensor_t *empty = from_text("[]", NULL);
	bl_tensor_t *rows = from_text("[[], []]", NULL);

	cr_assert_eq(scalar->ndim, 0);
	cr_assert_eq(scalar->count, 1);
	cr_assert_eq(((int64_t *)scalar->data)[0], 42);
	size_t zero[1] = {0}, two_by_zero[2] = {2, 0};
	assert_shape(empty, 1, zero);
	cr_assert_eq(empty->count, 0);
	cr_assert_eq(empty->dtype, BL_DTYPE_I64, "an empty array infers %s, expected int64",
		     bl_dtype_name(empty->dtype));
	assert_shape(rows, 2, two_by_zero);
	bl_tensor_free(&scalar);
	bl_tensor_free(&empty);
	bl_tensor_free(&rows);
}

/* A requested dtype is honoured for every dtype: integers become floats,
 * integral reals become integers. */
Test(kernels_tensor_json, requested_dtype_is_used)
{
	for (size_t d = 0; d < 4; d++) {
		bl_tensor_t *t = from_text("[[1, -2], [3.0, 4e2]]", &all_dtypes[d]);

		cr_assert_eq(t->dtype, all_dtypes[d], "dtype %s, expected %s", bl_dtype_name(t->dtype),
			     bl_dtype_name(all_dtypes[d]));
		double want[4] = {1, -2, 3, 400};
		for (size_t i = 0; i < 4; i++)
			cr_assert_eq(bl_tensor_get(t, i), want[i], "%s element %zu is %g, expected %g",
				     bl_dtype_name(all_dtypes[d]), i, bl_tensor_get(t, i), want[i]);
		bl_tensor_free(&t);
	}
}

/* int64 keeps integers above 2^53 exactly, which a trip through double
 * would round. */
Test(kernels_tensor_json, int64_keeps_full_precision)
{
	bl_tensor_t *t = from_text("[9223372036854775807, -9223372036854775808, 9007199254740993]", NULL);

	int64_t *v = t->data;
	cr_assert_eq(v[0], INT64_MAX);
	cr_assert_eq(v[1], INT64_MIN);
	cr_assert_eq(v[2], INT64_C(9007199254740993), "2^53 + 1 became %lld", (long long)v[2]);
	bl_tensor_free(&t);
}

/* The error names the first row whose length differs, in document order. */
Test(kernels_tensor_json, ragged_array_names_first_bad_row)
{
	assert_rejected("[[1, 2], [3, 4], [5], [6]]", NULL, NULL, BL_EFORMAT, "params.inputs.a[2]");
	assert_rejected("[[1, 2], [3, 4, 5]]", NULL, NULL, BL_EFORMAT, "params.inputs.a[1]");
	assert_rejected("[[[1], [2]], [[3], [4, 5]]]", NULL, NULL, BL_EFORMAT, "params.inputs.a[1][1]");
	assert_rejected("[[], [1]]", NULL, NULL, BL_EFORMAT, "params.inputs.a[1]");
}

/* Nesting that differs from the first element's is ragged too: a number
 * where an array belongs, or an array where a number belongs. */
Test(kernels_tensor_json, mixed_nesting_is_rejected)
{
	assert_rejected("[[1, 2], 3]", NULL, NULL, BL_EFORMAT, "params.inputs.a[1]");
	assert_rejected("[1, [2]]", NULL, NULL, BL_EFORMAT, "params.inputs.a[1]");
	assert_rejected("[[1, 2], [3, [4]]]", NULL, NULL, BL_EFORMAT, "params.inputs.a[1][1]");
}

/* Strings, booleans, null and objects are not numbers; the path points at
 * the element, here a[3][1]. */
Test(kernels_tensor_json, non_numbers_name_their_path)
{
	static const char *const texts[] = {
		"[[0, 0], [0, 0], [0, 0], [0, \"1\"]]",
		"[[0, 0], [0, 0], [0, 0], [0, true]]",
		"[[0, 0], [0, 0], [0, 0], [0, null]]",
		"[[0, 0], [0, 0], [0, 0], [0, {}]]",
	};

	for (size_t i = 0; i < 4; i++)
		assert_rejected(texts[i], NULL, NULL, BL_EFORMAT, "params.inputs.a[3][1]");
	assert_rejected("\"12\"", NULL, NULL, BL_EFORMAT, "params.inputs.a");
	assert_rejected("{\"data\": [1]}", NULL, NULL, BL_EFORMAT, "params.inputs.a");
}

/* The message gives what was expected and what was found. */
Test(kernels_tensor_json, message_gives_expected_and_found)
{
	json_t *v = parse("[[1, 2], [3, \"x\"]]");
	bl_error_t err = {0};
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_from_json(&t, v, NULL, NULL, "in", &err);

	cr_assert_eq(rc, BL_EFORMAT);
	cr_assert_str_eq(err.message, "expected a number, found a string");
	json_decref(v);
}

/* int32 covers [-2^31, 2^31 - 1]: the bounds pass, one past them fails at
 * the exact element. */
Test(kernels_tensor_json, int32_range_errors_name_the_element)
{
	bl_dtype_t i32 = BL_DTYPE_I32;
	bl_tensor_t *t = from_text("[2147483647, -2147483648]", &i32);
	cr_assert_eq(((int32_t *)t->data)[0], INT32_MAX);
	cr_assert_eq(((int32_t *)t->data)[1], INT32_MIN);
	bl_tensor_free(&t);

	assert_rejected("[[0, 1], [2, 2147483648]]", &i32, NULL, BL_EINVAL, "params.inputs.a[1][1]");
	assert_rejected("[[0, 1], [-2147483649, 0]]", &i32, NULL, BL_EINVAL, "params.inputs.a[1][0]");
	assert_rejected("[0, 3e9]", &i32, NULL, BL_EINVAL, "params.inputs.a[1]");
	assert_rejected("[0, 1, 1.5]", &i32, NULL, BL_EINVAL, "params.inputs.a[2]");
}

/* int64 rejects reals at or beyond 2^63 and non-integral reals; JSON
 * integers beyond int64 never reach it, because jansson rejects them. */
Test(kernels_tensor_json, int64_range_errors_name_the_element)
{
	bl_dtype_t i64 = BL_DTYPE_I64;

	assert_rejected("[1, 9.3e18]", &i64, NULL, BL_EINVAL, "params.inputs.a[1]");
	assert_rejected("[[1], [-1e19]]", &i64, NULL, BL_EINVAL, "params.inputs.a[1][0]");
	assert_rejected("[0.5]", &i64, NULL, BL_EINVAL, "params.inputs.a[0]");
	bl_tensor_t *t = from_text("[-9.223372036854775808e18]", &i64);
	cr_assert_eq(((int64_t *)t->data)[0], INT64_MIN);
	bl_tensor_free(&t);
}

/* float32 rejects finite values it would turn into infinity. */
Test(kernels_tensor_json, float32_range_errors_name_the_element)
{
	bl_dtype_t f32 = BL_DTYPE_F32;

	assert_rejected("[1, 2, 1e39]", &f32, NULL, BL_EINVAL, "params.inputs.a[2]");
	assert_rejected("[-1e300]", &f32, NULL, BL_EINVAL, "params.inputs.a[0]");
	bl_tensor_t *t = from_text("[3.4e38, 1e-50]", &f32);
	cr_assert(isfinite(((float *)t->data)[0]), "3.4e38 did not stay finite");
	bl_tensor_free(&t);
}

/* With a limit of 5 elements, 5 pass and the sixth, a[1][2] in a 2 x 3
 * array, is named. */
Test(kernels_tensor_json, element_limit_names_first_element_over)
{
	bl_json_tensor_limits_t lim;
	bl_json_tensor_limits_init(&lim);
	lim.max_elements = 5;
	json_t *v = parse("[1, 2, 3, 4, 5]");
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_from_json(&t, v, NULL, &lim, "a", NULL);

	cr_assert_eq(rc, 0, "5 elements at a limit of 5 returned %d", rc);
	bl_tensor_free(&t);
	json_decref(v);
	assert_rejected("[[1, 2, 3], [4, 5, 6]]", NULL, &lim, BL_ELIMIT, "params.inputs.a[1][2]");
	lim.max_elements = 0;
	assert_rejected("7", NULL, &lim, BL_ELIMIT, "params.inputs.a");
}

/* A ragged row that comes before the element over the limit is the first
 * offence and is reported as such. */
Test(kernels_tensor_json, first_offence_in_document_order_wins)
{
	bl_json_tensor_limits_t lim = {.max_elements = 4, .max_depth = 8};

	assert_rejected("[[1, 2], [3], [4, 5], [6, 7]]", NULL, &lim, BL_EFORMAT, "params.inputs.a[1]");
	assert_rejected("[[1, 2], [3, 4], [5, 6], [7]]", NULL, &lim, BL_ELIMIT, "params.inputs.a[2][0]");
}

/* Depth 2 allows matrices; a third level is over the limit at the first
 * array that goes deeper. */
Test(kernels_tensor_json, depth_limit_is_enforced)
{
	bl_json_tensor_limits_t lim = {.max_elements = 100, .max_depth = 2};
	json_t *v = parse("[[1, 2], [3, 4]]");
	bl_tensor_t *t = NULL;
	cr_assert_eq(bl_tensor_from_json(&t, v, NULL, &lim, "a", NULL), 0, "depth 2 was rejected at a limit of 2");
	bl_tensor_free(&t);
	json_decref(v);

	assert_rejected("[[[1]]]", NULL, &lim, BL_ELIMIT, "params.inputs.a[0][0]");
	lim.max_depth = 0;
	assert_rejected("[1]", NULL, &lim, BL_ELIMIT, "params.inputs.a");
}

/* A depth limit above BL_TENSOR_DIMS_MAX still stops at eight levels. */
Test(kernels_tensor_json, depth_limit_is_capped_at_tensor_dims)
{
	bl_json_tensor_limits_t lim = {.max_elements = 100, .max_depth = 50};
	bl_tensor_t *t = NULL;
	json_t *eight = parse("[[[[[[[[1]]]]]]]]");

	int rc = bl_tensor_from_json(&t, eight, NULL, &lim, "a", NULL);

	cr_assert_eq(rc, 0, "eight levels returned %d", rc);
	cr_assert_eq(t->ndim, 8);
	bl_tensor_free(&t);
	json_decref(eight);
	assert_rejected("[[[[[[[[[1]]]]]]]]]", NULL, &lim, BL_ELIMIT, "params.inputs.a[0][0][0][0][0][0][0][0]");
}

/* The default limits are 65,536 elements and depth 8. */
Test(kernels_tensor_json, default_limits)
{
	bl_json_tensor_limits_t lim;

	bl_json_tensor_limits_init(&lim);

	cr_assert_eq(lim.max_elements, 65536);
	cr_assert_eq(lim.max_depth, 8);
}

/* 65,536 elements pass the default limit, 65,537 do not. */
Test(kernels_tensor_json, default_element_limit_boundary)
{
	json_t *row = json_array();
	for (size_t i = 0; i < 65536; i++)
		json_array_append_new(row, json_integer((json_int_t)i));
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_from_json(&t, row, NULL, NULL, "a", NULL);

	cr_assert_eq(rc, 0, "65536 elements returned %d", rc);
	cr_assert_eq(((int64_t *)t->data)[65535], 65535);
	bl_tensor_free(&t);
	json_array_append_new(row, json_integer(0));
	bl_error_t err = {0};
	rc = bl_tensor_from_json(&t, row, NULL, NULL, "a", &err);
	cr_assert_eq(rc, BL_ELIMIT, "65537 elements returned %d", rc);
	cr_assert_str_eq(err.field, "a[65536]");
	json_decref(row);
}

/* A NULL field leaves the path starting at the first index. */
Test(kernels_tensor_json, null_field_gives_bare_path)
{
	json_t *v = parse("[1, \"x\"]");
	bl_error_t err = {0};
	bl_tensor_t *t = NULL;

	int rc = bl_tensor_from_json(&t, v, NULL, NULL, NULL, &err);

	cr_assert_eq(rc, BL_EFORMAT);
	cr_assert_str_eq(err.field, "[1]");
	json_decref(v);
}

/* ------------------------------------------------------------------------ */
/* To JSON                                                                   */
/* ------------------------------------------------------------------------ */

/* Integers come out as JSON integers and floats as reals, nested by the
 * shape; a scalar is a bare number. */
Test(kernels_tensor_json, to_json_nests_by_shape)
{
	bl_tensor_t *m = from_text("[[1, 2, 3], [4, 5, 6]]", NULL);
	bl_tensor_t *s = from_text("2.5", NULL);
	bl_dtype_t i32 = BL_DTYPE_I32;
	bl_tensor_t *e = from_text("[[], []]", &i32);

	json_t *jm = bl_tensor_to_json(m), *js = bl_tensor_to_json(s), *je = bl_tensor_to_json(e);

	char *tm = dump(jm), *ts = dump(js), *te = dump(je);
	cr_assert_str_eq(tm, "[[1,2,3],[4,5,6]]");
	cr_assert_str_eq(ts, "2.5");
	cr_assert_str_eq(te, "[[],[]]");
	free(tm);
	free(ts);
	free(te);
	json_decref(jm);
	json_decref(js);
	json_decref(je);
	bl_tensor_free(&m);
	bl_tensor_free(&s);
	bl_tensor_free(&e);
}

/* NaN and both infinities, which JSON cannot hold, become null, in
 * float32 and float64 alike. */
Test(kernels_tensor_json, to_json_writes_non_finite_as_null)
{
	size_t n = 4;
	for (size_t d = 0; d < 2; d++) {
		bl_tensor_t *t = NULL;
		cr_assert_eq(bl_tensor_new(&t, all_dtypes[d], 1, &n, NULL), 0);
		double values[4] = {NAN, INFINITY, -INFINITY, 1.5};
		for (size_t i = 0; i < 4; i++) {
			if (t->dtype == BL_DTYPE_F32)
				((float *)t->data)[i] = (float)values[i];
			else
				((double *)t->data)[i] = values[i];
		}

		json_t *j = bl_tensor_to_json(t);

		char *text = dump(j);
		cr_assert_str_eq(text, "[null,null,null,1.5]", "%s gave %s", bl_dtype_name(t->dtype), text);
		free(text);
		json_decref(j);
		bl_tensor_free(&t);
	}
}

/* Every dtype round-trips through JSON text with the dtype given: float64
 * prints with 17 significant digits and float32 widens to double exactly,
 * so no value changes. */
Test(kernels_tensor_json, round_trip_every_dtype)
{
	size_t shape[3] = {2, 3, 4};
	for (size_t d = 0; d < 4; d++) {
		bl_tensor_t *in = NULL;
		cr_assert_eq(bl_tensor_new(&in, all_dtypes[d], 3, shape, NULL), 0);
		for (size_t i = 0; i < in->count; i++) {
			double v = ((double)i - 11.0) / 3.0;
			switch (in->dtype) {
			case BL_DTYPE_F32:
				((float *)in->data)[i] = (float)v;
				break;
			case BL_DTYPE_F64:
				((double *)in->data)[i] = v;
				break;
			case BL_DTYPE_I32:
				((int32_t *)in->data)[i] = (int32_t)(v * 1e8);
				break;
			case BL_DTYPE_I64:
				((int64_t *)in->data)[i] = (int64_t)(v * 1e17);
				break;
			}
		}

		json_t *j = bl_tensor_to_json(in);
		char *text = dump(j);
		bl_tensor_t *out = from_text(text, &all_dtypes[d]);

		cr_assert_eq(out->dtype, in->dtype);
		assert_shape(out, 3, shape);
		cr_assert_eq(memcmp(out->data, in->data, in->nbytes), 0, "%s: %s came back different",
			     bl_dtype_name(in->dtype), text);
		free(text);
		json_decref(j);
		bl_tensor_free(&in);
		bl_tensor_free(&out);
	}
}

/* A large tensor (100 x 600 = 60,000 elements, under the default limit)
 * round-trips too. */
Test(kernels_tensor_json, round_trip_large_tensor)
{
	size_t shape[2] = {100, 600};
	bl_tensor_t *in = NULL;
	cr_assert_eq(bl_tensor_new(&in, BL_DTYPE_I64, 2, shape, NULL), 0);
	for (size_t i = 0; i < in->count; i++)
		((int64_t *)in->data)[i] = (int64_t)(i * i) - 7;

	json_t *j = bl_tensor_to_json(in);
	bl_tensor_t *out = NULL;
	int rc = bl_tensor_from_json(&out, j, NULL, NULL, "big", NULL);

	cr_assert_eq(rc, 0, "returned %d", rc);
	assert_shape(out, 2, shape);
	cr_assert_eq(memcmp(out->data, in->data, in->nbytes), 0);
	json_decref(j);
	bl_tensor_free(&in);
	bl_tensor_free(&out);
}
