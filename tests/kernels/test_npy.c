#define _GNU_SOURCE /* nftw, mkdtemp, O_DIRECTORY */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <beamline/kernels.h>

static const bl_dtype_t all_dtypes[] = {BL_DTYPE_F32, BL_DTYPE_F64, BL_DTYPE_I32, BL_DTYPE_I64};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Make a tensor of `dtype` and `shape` whose bytes follow a pattern that
 * depends on `seed`, so that any misplaced byte shows. */
static bl_tensor_t *make_tensor(bl_dtype_t dtype, unsigned ndim, const size_t *shape, unsigned seed)
{
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};
	int rc = bl_tensor_new(&t, dtype, ndim, shape, &err);
	cr_assert_eq(rc, 0, "bl_tensor_new returned %d (%s)", rc, err.message);
	unsigned char *bytes = t->data;
	for (size_t i = 0; i < t->nbytes; i++)
		bytes[i] = (unsigned char)(i * 31 + seed * 7 + i / 251);
	return t;
}

static void assert_tensors_equal(const bl_tensor_t *got, const bl_tensor_t *want)
{
	cr_assert_eq(got->dtype, want->dtype, "dtype is %s, expected %s", bl_dtype_name(got->dtype),
		     bl_dtype_name(want->dtype));
	cr_assert_eq(got->ndim, want->ndim, "ndim is %u, expected %u", got->ndim, want->ndim);
	for (unsigned i = 0; i < want->ndim; i++)
		cr_assert_eq(got->shape[i], want->shape[i], "shape[%u] is %zu, expected %zu", i, got->shape[i],
			     want->shape[i]);
	cr_assert_eq(got->count, want->count, "count is %zu, expected %zu", got->count, want->count);
	cr_assert_eq(got->nbytes, want->nbytes, "nbytes is %zu, expected %zu", got->nbytes, want->nbytes);
	cr_assert_eq(memcmp(got->data, want->data, want->nbytes), 0, "the data differs");
}

/*
 * Build a .npy image by hand: the preamble of format version `major`.0,
 * `dict` padded with spaces and '\n' to a multiple of 64 bytes, then
 * `data_len` bytes of data (zeros when `data` is NULL). Free with free().
 */
static unsigned char *build_npy(size_t *len, unsigned major, const char *dict, const void *data, size_t data_len)
{
	size_t len_bytes = major == 1 ? 2 : 4;
	size_t start = 8 + len_bytes;
	size_t preamble = (start + strlen(dict) + 1 + 63) / 64 * 64;
	size_t header_len = preamble - start;
	unsigned char *b = calloc(1, preamble + data_len + 1);
	cr_assert_not_null(b);

	memcpy(b, "\x93NUMPY", 6);
	b[6] = (unsigned char)major;
	b[7] = 0;
	for (size_t i = 0; i < len_bytes; i++)
		b[8 + i] = (unsigned char)(header_len >> (8 * i));
	memset(b + start, ' ', header_len - 1);
	memcpy(b + start, dict, strlen(dict));
	b[preamble - 1] = '\n';
	if (data)
		memcpy(b + preamble, data, data_len);
	*len = preamble + data_len;
	return b;
}

/* Decode `dict` with `data_len` zero bytes of data and check that it fails
 * with `code`, that err agrees, and that the message contains `needle`. */
static void assert_dict_rejected(const char *dict, size_t data_len, int code, const char *needle)
{
	size_t len;
	unsigned char *b = build_npy(&len, 1, dict, NULL, data_len);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_decode(&t, b, len, NULL, &err);

	cr_assert_eq(rc, code, "header %s returned %d (%s), expected %d", dict, rc, err.message, code);
	cr_assert_eq(err.code, rc, "err.code is %d, expected %d", err.code, rc);
	cr_assert_null(t, "header %s: the output was written on failure", dict);
	if (needle)
		cr_assert_not_null(strstr(err.message, needle), "header %s: message \"%s\" does not contain \"%s\"",
				   dict, err.message, needle);
	free(b);
}

/* Decode `dict` with `data_len` bytes and check that it succeeds. */
static bl_tensor_t *decode_dict(unsigned major, const char *dict, size_t data_len)
{
	size_t len;
	unsigned char *b = build_npy(&len, major, dict, NULL, data_len);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_decode(&t, b, len, NULL, &err);

	cr_assert_eq(rc, 0, "header %s returned %d (%s), expected 0", dict, rc, err.message);
	free(b);
	return t;
}

/* ------------------------------------------------------------------------ */
/* Decoding and encoding                                                     */
/* ------------------------------------------------------------------------ */

/* Every dtype survives encode and decode for a scalar, empty tensors (a
 * zero first, in the middle, and alone), vectors, matrices and the full
 * eight dimensions. */
Test(kernels_npy, round_trip_every_dtype_and_shape)
{
	static const struct {
		unsigned ndim;
		size_t shape[BL_TENSOR_DIMS_MAX];
	} shapes[] = {
		{0, {0}},
		{1, {0}},
		{2, {0, 3}},
		{3, {2, 0, 4}},
		{1, {1}},
		{1, {7}},
		{2, {3, 5}},
		{3, {2, 3, 4}},
		{8, {2, 1, 2, 1, 3, 1, 2, 2}},
	};

	for (size_t d = 0; d < 4; d++) {
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			bl_tensor_t *in = make_tensor(all_dtypes[d], shapes[s].ndim, shapes[s].shape, (unsigned)s);
			void *buf = NULL;
			size_t len = 0;
			bl_tensor_t *out = NULL;
			bl_error_t err = {0};

			int rc = bl_npy_encode(&buf, &len, in, &err);
			cr_assert_eq(rc, 0, "encode of %s shape %zu returned %d (%s)", bl_dtype_name(all_dtypes[d]), s,
				     rc, err.message);
			rc = bl_npy_decode(&out, buf, len, NULL, &err);

			cr_assert_eq(rc, 0, "decode of %s shape %zu returned %d (%s)", bl_dtype_name(all_dtypes[d]), s,
				     rc, err.message);
			assert_tensors_equal(out, in);
			bl_tensor_free(&in);
			bl_tensor_free(&out);
			free(buf);
		}
	}
}

/* A 1000 x 1000 float32 tensor (4 MB) and a 300 x 700 int64 tensor round
 * trip byte for byte. */
Test(kernels_npy, round_trip_large_tensors)
{
	size_t shapes[2][2] = {{1000, 1000}, {300, 700}};
	bl_dtype_t dtypes[2] = {BL_DTYPE_F32, BL_DTYPE_I64};

	for (size_t i = 0; i < 2; i++) {
		bl_tensor_t *in = make_tensor(dtypes[i], 2, shapes[i], 3);
		void *buf = NULL;
		size_t len = 0;
		bl_tensor_t *out = NULL;

		cr_assert_eq(bl_npy_encode(&buf, &len, in, NULL), 0);
		int rc = bl_npy_decode(&out, buf, len, NULL, NULL);

		cr_assert_eq(rc, 0, "decode returned %d", rc);
		assert_tensors_equal(out, in);
		bl_tensor_free(&in);
		bl_tensor_free(&out);
		free(buf);
	}
}

/* The encoder writes version 1.0 with the dict as numpy reads it, padded
 * with spaces so that the data starts at a multiple of 64 bytes. */
Test(kernels_npy, encode_writes_padded_version_1_header)
{
	static const struct {
		unsigned ndim;
		size_t shape[2];
		bl_dtype_t dtype;
		const char *dict;
	} cases[] = {
		{0, {0, 0}, BL_DTYPE_F64, "{'descr': '<f8', 'fortran_order': False, 'shape': ()}"},
		{1, {5, 0}, BL_DTYPE_I32, "{'descr': '<i4', 'fortran_order': False, 'shape': (5,)}"},
		{2, {2, 3}, BL_DTYPE_F32, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}"},
		{2, {0, 3}, BL_DTYPE_I64, "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 3)}"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_tensor_t *t = make_tensor(cases[i].dtype, cases[i].ndim, cases[i].shape, 1);
		unsigned char *b = NULL;
		size_t len = 0;

		int rc = bl_npy_encode((void **)&b, &len, t, NULL);

		cr_assert_eq(rc, 0, "case %zu: encode returned %d", i, rc);
		size_t preamble = len - t->nbytes;
		size_t dict_len = strlen(cases[i].dict);
		cr_assert_eq(preamble % 64, 0, "case %zu: data starts at byte %zu, not a multiple of 64", i, preamble);
		cr_assert_eq(memcmp(b, "\x93NUMPY\x01\x00", 8), 0, "case %zu: wrong magic or version", i);
		cr_assert_eq((size_t)(b[8] | b[9] << 8), preamble - 10, "case %zu: header length %u, expected %zu", i,
			     b[8] | b[9] << 8, preamble - 10);
		cr_assert_eq(memcmp(b + 10, cases[i].dict, dict_len), 0, "case %zu: header is \"%.*s\", expected %s",
			     i, (int)dict_len, (const char *)b + 10, cases[i].dict);
		for (size_t j = 10 + dict_len; j < preamble - 1; j++)
			cr_assert_eq(b[j], ' ', "case %zu: byte %zu of the padding is %#x, expected a space", i, j, b[j]);
		cr_assert_eq(b[preamble - 1], '\n', "case %zu: the header does not end with '\\n'", i);
		cr_assert_eq(memcmp(b + preamble, t->data, t->nbytes), 0, "case %zu: the data differs", i);
		free(b);
		bl_tensor_free(&t);
	}
}

/* Versions 2.0 and 3.0 differ from 1.0 only in a 4-byte header length. */
Test(kernels_npy, decode_accepts_versions_2_and_3)
{
	for (unsigned major = 2; major <= 3; major++) {
		bl_tensor_t *t = decode_dict(major, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2)}", 32);

		cr_assert_eq(t->dtype, BL_DTYPE_I64, "version %u: dtype %s, expected int64", major,
			     bl_dtype_name(t->dtype));
		cr_assert_eq(t->count, 4, "version %u: count %zu, expected 4", major, t->count);
		bl_tensor_free(&t);
	}
}

/* The header forms other writers produce: numpy's trailing ", }", double
 * quotes, keys in any order, a trailing comma in the shape, extra spaces,
 * and the "L" suffix of Python 2 integers in version 1.0 and 2.0 headers. */
Test(kernels_npy, decode_accepts_header_variants)
{
	static const struct {
		unsigned major;
		const char *dict;
		size_t count;
	} cases[] = {
		{1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 3},
		{1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3,)}", 3},
		{1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}", 6},
		{1, "{'descr':'<i4','fortran_order':False,'shape':(2,3,)}", 6},
		{1, "{ 'descr' : '<i4' , 'fortran_order' : False , 'shape' : ( 2 , 3 ) }", 6},
		{1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 3L)}", 6},
		{2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 3L)}", 6},
		{1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0,)}", 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t elem = strstr(cases[i].dict, "4'") || strstr(cases[i].dict, "4\"") ? 4 : 8;
		bl_tensor_t *t = decode_dict(cases[i].major, cases[i].dict, cases[i].count * elem);

		cr_assert_eq(t->count, cases[i].count, "case %zu: count %zu, expected %zu", i, t->count,
			     cases[i].count);
		bl_tensor_free(&t);
	}
}

/* Version 3.0 appeared after Python 2, so its headers never carry "L". */
Test(kernels_npy, decode_rejects_long_suffix_in_version_3)
{
	size_t len;
	unsigned char *b =
		build_npy(&len, 3, "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 3L)}", NULL, 48);
	bl_tensor_t *t = NULL;

	int rc = bl_npy_decode(&t, b, len, NULL, NULL);

	cr_assert_eq(rc, BL_EFORMAT, "decode returned %d, expected BL_EFORMAT", rc);
	free(b);
}

/* Every proper prefix of a valid image, from 0 bytes to one byte short,
 * fails cleanly with BL_EFORMAT and a message; AddressSanitizer catches any
 * read past the prefix. Each prefix is copied to its own allocation so
 * that such a read lands outside it. */
Test(kernels_npy, decode_rejects_every_truncation)
{
	size_t shape[2] = {2, 3};
	bl_tensor_t *in = make_tensor(BL_DTYPE_F64, 2, shape, 5);
	void *buf = NULL;
	size_t len = 0;
	cr_assert_eq(bl_npy_encode(&buf, &len, in, NULL), 0);

	for (size_t n = 0; n < len; n++) {
		unsigned char *prefix = malloc(n ? n : 1);
		memcpy(prefix, buf, n);
		bl_tensor_t *out = NULL;
		bl_error_t err = {0};

		int rc = bl_npy_decode(&out, prefix, n, NULL, &err);

		cr_assert_eq(rc, BL_EFORMAT, "prefix of %zu bytes returned %d (%s), expected BL_EFORMAT", n, rc,
			     err.message);
		cr_assert_eq(err.code, BL_EFORMAT, "prefix of %zu bytes: err.code %d", n, err.code);
		cr_assert_str_not_empty(err.message, "prefix of %zu bytes: no message", n);
		cr_assert_null(out, "prefix of %zu bytes: the output was written", n);
		free(prefix);
	}
	free(buf);
	bl_tensor_free(&in);
}

/* A header that declares more data than follows (2 x 3 float32 is 24
 * bytes, 16 follow) and one that declares less (24 declared, 28 follow)
 * are both rejected, and the message tells which. */
Test(kernels_npy, decode_rejects_lying_header)
{
	const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}";

	assert_dict_rejected(dict, 16, BL_EFORMAT, "truncated data");
	assert_dict_rejected(dict, 20, BL_EFORMAT, "takes 24 bytes");
	assert_dict_rejected(dict, 28, BL_EFORMAT, "trailing bytes");
	assert_dict_rejected(dict, 25, BL_EFORMAT, "trailing bytes");
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", 0, BL_EFORMAT, "truncated");
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (0,)}", 4, BL_EFORMAT, "trailing");
}

/* Big-endian data is named as such, with the accepted dtypes. */
Test(kernels_npy, decode_rejects_big_endian)
{
	static const char *const dicts[] = {
		"{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}",
		"{'descr': '>f8', 'fortran_order': False, 'shape': (2,)}",
		"{'descr': '>i4', 'fortran_order': False, 'shape': (2,)}",
		"{'descr': '>i8', 'fortran_order': False, 'shape': (2,)}",
	};

	for (size_t i = 0; i < 4; i++) {
		assert_dict_rejected(dicts[i], 16, BL_EFORMAT, "big-endian");
		assert_dict_rejected(dicts[i], 16, BL_EFORMAT, "'<f4' (float32)");
	}
}

/* Fortran order is rejected even where it would not change the layout. */
Test(kernels_npy, decode_rejects_fortran_order)
{
	bl_error_t err = {0};
	size_t len;
	unsigned char *b = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", NULL, 16);
	bl_tensor_t *t = NULL;

	int rc = bl_npy_decode(&t, b, len, NULL, &err);

	cr_assert_eq(rc, BL_EFORMAT, "decode returned %d, expected BL_EFORMAT", rc);
	cr_assert_str_eq(err.field, "fortran_order");
	cr_assert_not_null(strstr(err.message, "Fortran"), "message \"%s\" does not name Fortran order",
			   err.message);
	free(b);
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': True, 'shape': (4,)}", 16, BL_EFORMAT, "Fortran");
}

/* Every dtype outside the four is named in the message next to the
 * accepted ones: half floats, complex, objects, booleans, strings, and
 * the '|' and '=' byte orders, whose meaning depends on the writer's host
 * for multi-byte types. */
Test(kernels_npy, decode_rejects_unsupported_dtypes)
{
	static const char *const descrs[] = {"<f2", "<c8", "<c16", "O", "|O", "|b1", "<U4", "|S4", "<u4",
					     "<u8", "|u1", "|i1", "|i4", "=f4", "<M8[ns]", "f4", "", "<f4 "};

	for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++) {
		char dict[128], quoted[32];
		snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2,)}", descrs[i]);
		snprintf(quoted, sizeof quoted, "'%s'", descrs[i]);

		assert_dict_rejected(dict, 8, BL_EFORMAT, quoted);
		assert_dict_rejected(dict, 8, BL_EFORMAT, "expected '<f4' (float32), '<f8' (float64), '<i4' (int32) "
						       "or '<i8' (int64)");
	}
}

/* A structured dtype is a list in place of the descr string. */
Test(kernels_npy, decode_rejects_structured_dtype)
{
	assert_dict_rejected("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,)}", 16,
			     BL_EFORMAT, "structured");
}

/* Dicts that are missing a key, add one, repeat one, or do not parse. */
Test(kernels_npy, decode_rejects_malformed_dicts)
{
	static const struct {
		const char *dict;
		const char *needle;
	} cases[] = {
		{"{'descr': '<f4', 'fortran_order': False}", "'shape' is missing"},
		{"{'descr': '<f4', 'shape': (4,)}", "'fortran_order' is missing"},
		{"{'fortran_order': False, 'shape': (4,)}", "'descr' is missing"},
		{"{}", "missing"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1}", "unexpected key 'extra'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'descr': '<f4'}", "appears twice"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'shape': (4,)}", "appears twice"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,}", "a dimension"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': 4,)}", "'('"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': ((4,)}", "dimension"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,))}", "',' or '}'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)", "',' or '}'"},
		{"'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "'{'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (-4,)}", "negative dimension '-4'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': ('4',)}", "a dimension"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4.0,)}", "',' or ')'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (0x4,)}", "',' or ')'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (04,)}", "leading zero"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4)}", "not a tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': [4]}", "'('"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': None}", "'('"},
		{"{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}", "False"},
		{"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (4,)}", "False"},
		{"{'descr': '<f4' 'fortran_order': False, 'shape': (4,)}", "',' or '}'"},
		{"{'descr' '<f4', 'fortran_order': False, 'shape': (4,)}", "':'"},
		{"{'descr': '<f4, 'fortran_order': False, 'shape': (4,)}", "descr"},
		{"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (4,)}", "escape"},
		{"{descr: '<f4', 'fortran_order': False, 'shape': (4,)}", "quoted key"},
		{"{b'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "quoted key"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} junk", "after the dict"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}}", "after the dict"},
		{"{,'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "quoted key"},
		{"{'descr': '<f4',, 'fortran_order': False, 'shape': (4,)}", "quoted key"},
		{"", "'{'"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		assert_dict_rejected(cases[i].dict, 16, BL_EFORMAT, cases[i].needle);
}

/* The header must end with '\n', and a NUL inside it is just a byte that
 * does not parse. */
Test(kernels_npy, decode_rejects_header_without_newline)
{
	size_t len;
	unsigned char *b = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", NULL, 4);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};
	b[len - 5] = ' ';

	int rc = bl_npy_decode(&t, b, len, NULL, &err);

	cr_assert_eq(rc, BL_EFORMAT, "decode returned %d, expected BL_EFORMAT", rc);
	cr_assert_not_null(strstr(err.message, "'\\n'"), "message \"%s\" does not mention the newline", err.message);

	b[len - 5] = '\n';
	b[12] = '\0';
	rc = bl_npy_decode(&t, b, len, NULL, &err);
	cr_assert_eq(rc, BL_EFORMAT, "a NUL in the header returned %d, expected BL_EFORMAT", rc);
	free(b);
}

/* A dimension above 2^63 - 1 cannot come from numpy, so it is malformed.
 * Dimensions that each fit but whose product overflows are over the limit,
 * and so are non-zero dimensions above the data limit next to a zero. */
Test(kernels_npy, decode_rejects_huge_dimensions)
{
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775808,)}", 0,
			     BL_EFORMAT, "larger than 9223372036854775807");
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", 0,
			     BL_EFORMAT, "larger");
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4)}", 0,
			     BL_ELIMIT, "limit");
	assert_dict_rejected("{'descr': '<f8', 'fortran_order': False, 'shape': (3037000500, 3037000500)}", 0,
			     BL_ELIMIT, "limit");
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9223372036854775807)}", 0,
			     BL_ELIMIT, "limit");
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 0)}", 0, BL_ELIMIT,
			     "limit");
}

/* Dimension 2^63 - 1 parses, but even beside a zero the non-zero
 * dimensions must fit the data limit: 2^63 - 1 float32 rows would be
 * 2^65 bytes, over any size_t. A million empty rows are 4 MB, within it. */
Test(kernels_npy, decode_limits_rows_of_empty_arrays)
{
	bl_npy_limits_t lim = {.max_data_bytes = SIZE_MAX, .max_header_bytes = 4096};
	size_t len;
	unsigned char *b = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 0)}",
				     NULL, 0);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_decode(&t, b, len, &lim, &err);

	cr_assert_eq(rc, BL_ELIMIT, "returned %d (%s); 2^63 - 1 float32 rows exceed size_t bytes", rc, err.message);
	free(b);

	b = build_npy(&len, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1000000, 0)}", NULL, 0);
	rc = bl_npy_decode(&t, b, len, &lim, &err);
	cr_assert_eq(rc, 0, "returned %d (%s), expected 0", rc, err.message);
	cr_assert_eq(t->count, 0);
	cr_assert_eq(t->shape[0], 1000000);
	bl_tensor_free(&t);
	free(b);
}

/* Nine dimensions are one more than a tensor holds; eight decode. */
Test(kernels_npy, decode_rejects_nine_dimensions)
{
	assert_dict_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}", 4,
			     BL_EFORMAT, "more than 8 dimensions");
	bl_tensor_t *t = decode_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 2)}", 8);
	cr_assert_eq(t->ndim, 8);
	bl_tensor_free(&t);
}

/* Only the major versions 1 to 3 with minor 0 exist. */
Test(kernels_npy, decode_rejects_unknown_versions)
{
	static const unsigned char versions[][2] = {{0, 0}, {1, 1}, {2, 1}, {4, 0}, {255, 255}};

	for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
		size_t len;
		unsigned char *b = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", NULL, 4);
		b[6] = versions[i][0];
		b[7] = versions[i][1];
		bl_error_t err = {0};
		bl_tensor_t *t = NULL;

		int rc = bl_npy_decode(&t, b, len, NULL, &err);

		cr_assert_eq(rc, BL_EFORMAT, "version %u.%u returned %d, expected BL_EFORMAT", versions[i][0],
			     versions[i][1], rc);
		cr_assert_not_null(strstr(err.message, "version"), "message \"%s\" does not name the version",
				   err.message);
		free(b);
	}
}

Test(kernels_npy, decode_rejects_wrong_magic)
{
	size_t len;
	unsigned char *b = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", NULL, 4);
	b[5] = 'Z';
	bl_error_t err = {0};
	bl_tensor_t *t = NULL;

	int rc = bl_npy_decode(&t, b, len, NULL, &err);

	cr_assert_eq(rc, BL_EFORMAT, "decode returned %d, expected BL_EFORMAT", rc);
	cr_assert_not_null(strstr(err.message, "not a .npy file"), "message \"%s\"", err.message);
	free(b);
}

/* A header exactly at max_header_bytes (preamble included) decodes; one
 * byte of limit less rejects it with BL_ELIMIT. */
Test(kernels_npy, decode_enforces_header_limit)
{
	size_t len;
	unsigned char *b = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", NULL, 4);
	size_t preamble = len - 4;
	bl_npy_limits_t lim;
	bl_npy_limits_init(&lim);
	lim.max_header_bytes = preamble;
	bl_tensor_t *t = NULL;

	int rc = bl_npy_decode(&t, b, len, &lim, NULL);
	cr_assert_eq(rc, 0, "a header at the limit returned %d", rc);
	bl_tensor_free(&t);

	lim.max_header_bytes = preamble - 1;
	bl_error_t err = {0};
	rc = bl_npy_decode(&t, b, len, &lim, &err);

	cr_assert_eq(rc, BL_ELIMIT, "a header over the limit returned %d, expected BL_ELIMIT", rc);
	cr_assert_null(t);
	free(b);
}

/* A version 2.0 header length of 4 GiB - 1 is over the default 64 KiB
 * limit. The preamble alone rejects it, before the length is compared with
 * the bytes present. */
Test(kernels_npy, decode_rejects_huge_declared_header)
{
	unsigned char b[16] = "\x93NUMPY\x02\x00\xff\xff\xff\xff{";
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_decode(&t, b, sizeof b, NULL, &err);

	cr_assert_eq(rc, BL_ELIMIT, "decode returned %d, expected BL_ELIMIT", rc);
	cr_assert_not_null(strstr(err.message, "65536"), "message \"%s\" does not give the limit", err.message);
}

/* Data exactly at max_data_bytes decodes; 4 bytes more is over. */
Test(kernels_npy, decode_enforces_data_limit)
{
	bl_npy_limits_t lim;
	bl_npy_limits_init(&lim);
	lim.max_data_bytes = 16;
	size_t len;
	unsigned char *ok = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", NULL, 16);
	bl_tensor_t *t = NULL;

	int rc = bl_npy_decode(&t, ok, len, &lim, NULL);
	cr_assert_eq(rc, 0, "16 bytes at a 16-byte limit returned %d", rc);
	bl_tensor_free(&t);
	free(ok);

	unsigned char *over = build_npy(&len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,)}", NULL, 20);
	bl_error_t err = {0};
	rc = bl_npy_decode(&t, over, len, &lim, &err);

	cr_assert_eq(rc, BL_ELIMIT, "20 bytes at a 16-byte limit returned %d, expected BL_ELIMIT", rc);
	cr_assert_str_eq(err.field, "shape");
	free(over);

	/* A scalar is one element: a limit below its size rejects it too. */
	lim.max_data_bytes = 7;
	unsigned char *scalar = build_npy(&len, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': ()}", NULL, 8);
	rc = bl_npy_decode(&t, scalar, len, &lim, NULL);
	cr_assert_eq(rc, BL_ELIMIT, "an 8-byte scalar at a 7-byte limit returned %d, expected BL_ELIMIT", rc);
	free(scalar);
}

/* The defaults are 1 GiB of data and 64 KiB of header. */
Test(kernels_npy, limits_init_sets_defaults)
{
	bl_npy_limits_t lim = {0, 0};

	bl_npy_limits_init(&lim);

	cr_assert_eq(lim.max_data_bytes, (size_t)1 << 30, "max_data_bytes is %zu", lim.max_data_bytes);
	cr_assert_eq(lim.max_header_bytes, (size_t)65536, "max_header_bytes is %zu", lim.max_header_bytes);
}

/* A tensor that bl_tensor_new could not have made is not encoded. */
Test(kernels_npy, encode_rejects_invalid_tensor)
{
	size_t n = 2;
	bl_tensor_t *t = make_tensor(BL_DTYPE_F32, 1, &n, 1);
	void *buf = NULL;
	size_t len = 0;
	bl_error_t err = {0};
	t->dtype = (bl_dtype_t)9;

	int rc = bl_npy_encode(&buf, &len, t, &err);

	cr_assert_eq(rc, BL_EINVAL, "an unknown dtype returned %d, expected BL_EINVAL", rc);
	cr_assert_null(buf, "the output was written on failure");
	t->dtype = BL_DTYPE_F32;
	t->ndim = BL_TENSOR_DIMS_MAX + 1;
	rc = bl_npy_encode(&buf, &len, t, &err);
	cr_assert_eq(rc, BL_EINVAL, "%u dimensions returned %d, expected BL_EINVAL", t->ndim, rc);
	t->ndim = 1;
	bl_tensor_free(&t);
}

/* The image need not be aligned: data starting at an odd address is
 * copied into the tensor's aligned buffer. */
Test(kernels_npy, decode_accepts_unaligned_buffer)
{
	size_t shape[1] = {9};
	bl_tensor_t *in = make_tensor(BL_DTYPE_F64, 1, shape, 9);
	void *buf = NULL;
	size_t len = 0;
	cr_assert_eq(bl_npy_encode(&buf, &len, in, NULL), 0);
	unsigned char *odd = malloc(len + 1);
	memcpy(odd + 1, buf, len);
	bl_tensor_t *out = NULL;

	int rc = bl_npy_decode(&out, odd + 1, len, NULL, NULL);

	cr_assert_eq(rc, 0, "decode returned %d", rc);
	assert_tensors_equal(out, in);
	cr_assert_eq((uintptr_t)out->data % 64, 0, "the tensor's data is not 64-byte aligned");
	bl_tensor_free(&in);
	bl_tensor_free(&out);
	free(buf);
	free(odd);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Each file test gets a fresh directory tree, removed afterwards:
 *   <base>/            from mkdtemp under $TMPDIR or /tmp
 *   <base>/outside.npy a valid file that no path may reach
 *   <base>/root/       the directory passed as dirfd (root_fd)
 */
static char base_dir[PATH_MAX];
static char root_dir[PATH_MAX + 16];
static int root_fd = -1;

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "cannot create %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len, "cannot write %s", path);
	cr_assert_eq(fclose(f), 0);
}

/* Write a valid .npy of `n` float32 values to `path`. */
static void write_npy_at(const char *path, size_t n)
{
	bl_tensor_t *t = make_tensor(BL_DTYPE_F32, 1, &n, 2);
	void *buf = NULL;
	size_t len = 0;
	cr_assert_eq(bl_npy_encode(&buf, &len, t, NULL), 0);
	write_bytes(path, buf, len);
	free(buf);
	bl_tensor_free(&t);
}

static void make_tree(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(base_dir, sizeof base_dir, "%s/bl-npy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(base_dir), "mkdtemp failed: %s", strerror(errno));
	snprintf(root_dir, sizeof root_dir, "%s/root", base_dir);
	cr_assert_eq(mkdir(root_dir, 0755), 0, "mkdir %s failed: %s", root_dir, strerror(errno));
	char outside[PATH_MAX + 16];
	snprintf(outside, sizeof outside, "%s/outside.npy", base_dir);
	write_npy_at(outside, 3);
	root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(root_fd, 0, "cannot open %s: %s", root_dir, strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(void)
{
	if (root_fd >= 0)
		close(root_fd);
	root_fd = -1;
	if (base_dir[0])
		nftw(base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Path of `name` inside root/, for checks made with plain libc calls. */
static const char *in_root(const char *name)
{
	static char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/%s", root_dir, name);
	return path;
}

/* Count the entries of root/ (or one of its subdirectories), "." and ".."
 * aside, and check that none is a leftover temporary file. */
static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "cannot list %s: %s", dir, strerror(errno));
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		cr_assert_null(strstr(e->d_name, ".tmp"), "temporary file %s was left in %s", e->d_name, dir);
		n++;
	}
	closedir(d);
	return n;
}

/* Read `path` beneath root_fd and check that it fails with `code` and
 * names the path in err->field. */
static void assert_read_fails(const char *path, int code)
{
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_read(&t, root_fd, path, NULL, &err);

	cr_assert_eq(rc, code, "reading %s returned %d (%s: %s), expected %d (%s)", path, rc, bl_err_name(rc),
		     err.message, code, bl_err_name(code));
	cr_assert_str_eq(err.field, path, "err.field is \"%s\", expected \"%s\"", err.field, path);
	cr_assert_str_not_empty(err.message);
	cr_assert_null(t);
}

/* Every dtype written with bl_npy_write reads back equal, and the file
 * contains exactly what bl_npy_encode produces. */
Test(kernels_npy, write_then_read_every_dtype, .init = make_tree, .fini = remove_tree)
{
	size_t shape[2] = {3, 4};
	for (size_t d = 0; d < 4; d++) {
		char name[32];
		snprintf(name, sizeof name, "%s.npy", bl_dtype_name(all_dtypes[d]));
		bl_tensor_t *in = make_tensor(all_dtypes[d], 2, shape, (unsigned)d);
		bl_tensor_t *out = NULL;
		bl_error_t err = {0};

		int rc = bl_npy_write(in, root_fd, name, &err);
		cr_assert_eq(rc, 0, "writing %s returned %d (%s)", name, rc, err.message);
		rc = bl_npy_read(&out, root_fd, name, NULL, &err);

		cr_assert_eq(rc, 0, "reading %s returned %d (%s)", name, rc, err.message);
		assert_tensors_equal(out, in);
		struct stat st;
		void *buf = NULL;
		size_t len = 0;
		cr_assert_eq(bl_npy_encode(&buf, &len, in, NULL), 0);
		cr_assert_eq(stat(in_root(name), &st), 0);
		cr_assert_eq((size_t)st.st_size, len, "%s has %zu bytes, expected %zu", name, (size_t)st.st_size,
			     len);
		free(buf);
		bl_tensor_free(&in);
		bl_tensor_free(&out);
	}
	cr_assert_eq(count_entries(root_dir), 4, "root contains %zu entries, expected the 4 files",
		     count_entries(root_dir));
}

/* RESOLVE_BENEATH rejects an absolute path, even one that names a file
 * inside the directory. */
Test(kernels_npy, read_rejects_absolute_path, .init = make_tree, .fini = remove_tree)
{
	write_npy_at(in_root("a.npy"), 2);

	assert_read_fails(in_root("a.npy"), -EXDEV);
}

Test(kernels_npy, read_rejects_dotdot_above_directory, .init = make_tree, .fini = remove_tree)
{
	cr_assert_eq(mkdir(in_root("sub"), 0755), 0);

	assert_read_fails("../outside.npy", -EXDEV);
	assert_read_fails("sub/../../outside.npy", -EXDEV);
}

/* ".." that stays beneath the directory is allowed. */
Test(kernels_npy, read_allows_dotdot_within_directory, .init = make_tree, .fini = remove_tree)
{
	write_npy_at(in_root("a.npy"), 2);
	cr_assert_eq(mkdir(in_root("sub"), 0755), 0);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_read(&t, root_fd, "sub/../a.npy", NULL, &err);

	cr_assert_eq(rc, 0, "reading sub/../a.npy returned %d (%s)", rc, err.message);
	cr_assert_eq(t->count, 2);
	bl_tensor_free(&t);
}

/* Symbolic links out of the directory are rejected, both relative and
 * absolute ones, and a link to a directory outside cannot be walked. */
Test(kernels_npy, read_rejects_symlink_leaving_directory, .init = make_tree, .fini = remove_tree)
{
	char target[PATH_MAX + 16];
	snprintf(target, sizeof target, "%s/outside.npy", base_dir);
	cr_assert_eq(symlink("../outside.npy", in_root("relative.npy")), 0);
	cr_assert_eq(symlink(target, in_root("absolute.npy")), 0);
	cr_assert_eq(symlink("..", in_root("up")), 0);

	assert_read_fails("relative.npy", -EXDEV);
	assert_read_fails("absolute.npy", -EXDEV);
	assert_read_fails("up/outside.npy", -EXDEV);
}

/* A symbolic link that stays inside the directory is followed. */
Test(kernels_npy, read_follows_symlink_inside_directory, .init = make_tree, .fini = remove_tree)
{
	cr_assert_eq(mkdir(in_root("data"), 0755), 0);
	write_npy_at(in_root("data/a.npy"), 5);
	cr_assert_eq(symlink("data/a.npy", in_root("link.npy")), 0);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_read(&t, root_fd, "link.npy", NULL, &err);

	cr_assert_eq(rc, 0, "reading link.npy returned %d (%s)", rc, err.message);
	cr_assert_eq(t->count, 5, "count %zu, expected 5", t->count);
	bl_tensor_free(&t);
}

/* A missing file is -ENOENT with the path in err->field, and errno is as
 * the caller left it. */
Test(kernels_npy, read_missing_file_is_enoent, .init = make_tree, .fini = remove_tree)
{
	errno = EBUSY;

	assert_read_fails("missing/nothing.npy", -ENOENT);

	cr_assert_eq(errno, EBUSY, "errno is %d, expected the caller's EBUSY", errno);
}

/* /proc/self/fd/N is a magic link: it leads to the open file whatever its
 * path, so RESOLVE_NO_MAGICLINKS must stop it even beneath /proc/self. */
Test(kernels_npy, read_rejects_magic_link, .init = make_tree, .fini = remove_tree)
{
	write_npy_at(in_root("a.npy"), 2);
	int proc_fd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc_fd < 0)
		cr_skip_test("/proc is not mounted, so there is no magic link to try");
	int file_fd = open(in_root("a.npy"), O_RDONLY | O_CLOEXEC);
	cr_assert_geq(file_fd, 0);
	char path[32];
	snprintf(path, sizeof path, "fd/%d", file_fd);
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_read(&t, proc_fd, path, NULL, &err);

	cr_assert_eq(rc, -ELOOP, "reading /proc/self/%s returned %d (%s), expected -ELOOP", path, rc, err.message);
	cr_assert_str_eq(err.field, path);
	close(file_fd);
	close(proc_fd);
}

/* A directory is -EISDIR; a FIFO is rejected at once, not waited on. */
Test(kernels_npy, read_rejects_non_regular_files, .init = make_tree, .fini = remove_tree, .timeout = 10)
{
	cr_assert_eq(mkdir(in_root("dir.npy"), 0755), 0);
	cr_assert_eq(mkfifo(in_root("fifo.npy"), 0644), 0, "mkfifo failed: %s", strerror(errno));

	assert_read_fails("dir.npy", -EISDIR);
	assert_read_fails("fifo.npy", BL_EINVAL);
}

/* A file larger than both limits together is rejected from its size,
 * before it is read. */
Test(kernels_npy, read_rejects_file_over_limits, .init = make_tree, .fini = remove_tree)
{
	write_npy_at(in_root("big.npy"), 64);
	struct stat st;
	cr_assert_eq(stat(in_root("big.npy"), &st), 0);
	char size[32];
	snprintf(size, sizeof size, "%jd bytes", (intmax_t)st.st_size);
	bl_npy_limits_t lim = {.max_data_bytes = 128, .max_header_bytes = 64};
	bl_tensor_t *t = NULL;
	bl_error_t err = {0};

	int rc = bl_npy_read(&t, root_fd, "big.npy", &lim, &err);

	cr_assert_eq(rc, BL_ELIMIT, "returned %d (%s), expected BL_ELIMIT", rc, err.message);
	cr_assert_str_eq(err.field, "big.npy");
	cr_assert_not_null(strstr(err.message, size), "message \"%s\" does not give the size, %s", err.message, size);
}

/* A malformed file fails as bl_npy_decode does, with the path in place of
 * the header key in err->field. */
Test(kernels_npy, read_reports_decode_errors_with_path, .init = make_tree, .fini = remove_tree)
{
	size_t len;
	unsigned char *b = build_npy(&len, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", NULL, 8);
	write_bytes(in_root("complex.npy"), b, len);
	write_bytes(in_root("short.npy"), b, len - 3);
	free(b);

	assert_read_fails("complex.npy", BL_EFORMAT);
	assert_read_fails("short.npy", BL_EFORMAT);
}

/* Writing leaves exactly the named files: no temporary file survives. */
Test(kernels_npy, write_leaves_no_temporary_files, .init = make_tree, .fini = remove_tree)
{
	size_t n = 10;
	bl_tensor_t *t = make_tensor(BL_DTYPE_I64, 1, &n, 4);
	static const char *const names[] = {"a.npy", "b.npy", "c.npy", "a.npy"};

	for (size_t i = 0; i < 4; i++) {
		bl_error_t err = {0};
		int rc = bl_npy_write(t, root_fd, names[i], &err);
		cr_assert_eq(rc, 0, "writing %s returned %d (%s)", names[i], rc, err.message);
	}

	cr_assert_eq(count_entries(root_dir), 3, "root contains %zu entries, expected a.npy, b.npy and c.npy",
		     count_entries(root_dir));
	bl_tensor_free(&t);
}

/* Writing a small tensor over a large file replaces it whole: the file
 * then has exactly the small encoding's length, with no tail left. */
Test(kernels_npy, write_replaces_existing_file_whole, .init = make_tree, .fini = remove_tree)
{
	size_t big = 5000, small = 3;
	bl_tensor_t *large = make_tensor(BL_DTYPE_F64, 1, &big, 1);
	bl_tensor_t *little = make_tensor(BL_DTYPE_F64, 1, &small, 2);
	cr_assert_eq(bl_npy_write(large, root_fd, "x.npy", NULL), 0);
	void *buf = NULL;
	size_t len = 0;
	cr_assert_eq(bl_npy_encode(&buf, &len, little, NULL), 0);

	int rc = bl_npy_write(little, root_fd, "x.npy", NULL);

	cr_assert_eq(rc, 0, "the second write returned %d", rc);
	struct stat st;
	cr_assert_eq(stat(in_root("x.npy"), &st), 0);
	cr_assert_eq((size_t)st.st_size, len, "x.npy has %zu bytes, expected %zu", (size_t)st.st_size, len);
	bl_tensor_t *out = NULL;
	cr_assert_eq(bl_npy_read(&out, root_fd, "x.npy", NULL, NULL), 0);
	assert_tensors_equal(out, little);
	bl_tensor_free(&out);
	bl_tensor_free(&large);
	bl_tensor_free(&little);
	free(buf);
}

/* A write that fails halfway (here the file size limit stops it at 4 KiB
 * of a 400 KB tensor) leaves the old file whole under its name and no
 * temporary file behind. Without the temporary file, the target would
 * hold the first 4 KiB of the new data. */
Test(kernels_npy, failed_write_keeps_old_content, .init = make_tree, .fini = remove_tree)
{
	size_t small = 4, big = 100000;
	bl_tensor_t *old = make_tensor(BL_DTYPE_F32, 1, &small, 1);
	bl_tensor_t *fresh = make_tensor(BL_DTYPE_F32, 1, &big, 2);
	cr_assert_eq(bl_npy_write(old, root_fd, "x.npy", NULL), 0);
	struct rlimit fsize = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &fsize), 0, "setrlimit failed: %s", strerror(errno));
	bl_error_t err = {0};

	int rc = bl_npy_write(fresh, root_fd, "x.npy", &err);

	fsize.rlim_cur = RLIM_INFINITY;
	setrlimit(RLIMIT_FSIZE, &fsize);
	cr_assert_eq(rc, -EFBIG, "the write returned %d (%s), expected -EFBIG", rc, err.message);
	cr_assert_str_eq(err.field, "x.npy");
	bl_tensor_t *out = NULL;
	cr_assert_eq(bl_npy_read(&out, root_fd, "x.npy", NULL, NULL), 0, "x.npy no longer decodes");
	assert_tensors_equal(out, old);
	cr_assert_eq(count_entries(root_dir), 1, "root contains %zu entries, expected only x.npy",
		     count_entries(root_dir));
	bl_tensor_free(&out);
	bl_tensor_free(&old);
	bl_tensor_free(&fresh);
}

/* A file in a subdirectory is written there, beneath the directory. */
Test(kernels_npy, write_into_subdirectory, .init = make_tree, .fini = remove_tree)
{
	cr_assert_eq(mkdir(in_root("sub"), 0755), 0);
	size_t n = 6;
	bl_tensor_t *t = make_tensor(BL_DTYPE_I32, 1, &n, 6);
	bl_error_t err = {0};

	int rc = bl_npy_write(t, root_fd, "sub/y.npy", &err);

	cr_assert_eq(rc, 0, "writing sub/y.npy returned %d (%s)", rc, err.message);
	cr_assert_eq(count_entries(in_root("sub")), 1);
	bl_tensor_t *out = NULL;
	cr_assert_eq(bl_npy_read(&out, root_fd, "sub/y.npy", NULL, NULL), 0);
	assert_tensors_equal(out, t);
	bl_tensor_free(&out);
	bl_tensor_free(&t);
}

/* Writing follows the rules of reading: no absolute path, no ".." above
 * the directory, no directory symlink out of it; nothing is created
 * outside. */
Test(kernels_npy, write_rejects_paths_leaving_directory, .init = make_tree, .fini = remove_tree)
{
	size_t n = 2;
	bl_tensor_t *t = make_tensor(BL_DTYPE_F32, 1, &n, 1);
	cr_assert_eq(symlink("..", in_root("up")), 0);
	char absolute[PATH_MAX + 16];
	snprintf(absolute, sizeof absolute, "%s/new.npy", base_dir);
	const char *paths[] = {"../new.npy", "up/new.npy", absolute, "/new.npy"};

	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
		bl_error_t err = {0};
		int rc = bl_npy_write(t, root_fd, paths[i], &err);
		cr_assert_eq(rc, -EXDEV, "writing %s returned %d (%s), expected -EXDEV", paths[i], rc, err.message);
		cr_assert_str_eq(err.field, paths[i]);
	}

	cr_assert_eq(access(absolute, F_OK), -1, "%s was created outside the directory", absolute);
	cr_assert_eq(count_entries(root_dir), 1, "root contains %zu entries, expected only the link",
		     count_entries(root_dir));
	bl_tensor_free(&t);
}

/* A symbolic link at the target name is replaced by the file; the file it
 * pointed to, outside the directory, is untouched. */
Test(kernels_npy, write_replaces_symlink_not_its_target, .init = make_tree, .fini = remove_tree)
{
	cr_assert_eq(symlink("../outside.npy", in_root("x.npy")), 0);
	char outside[PATH_MAX + 16];
	snprintf(outside, sizeof outside, "%s/outside.npy", base_dir);
	struct stat before, after, target;
	cr_assert_eq(stat(outside, &before), 0);
	size_t n = 50;
	bl_tensor_t *t = make_tensor(BL_DTYPE_F64, 1, &n, 1);

	int rc = bl_npy_write(t, root_fd, "x.npy", NULL);

	cr_assert_eq(rc, 0, "the write returned %d", rc);
	cr_assert_eq(stat(outside, &after), 0);
	cr_assert_eq(after.st_size, before.st_size, "outside.npy changed size from %jd to %jd",
		     (intmax_t)before.st_size, (intmax_t)after.st_size);
	cr_assert_eq(lstat(in_root("x.npy"), &target), 0);
	cr_assert(S_ISREG(target.st_mode), "x.npy is not a regular file after the write");
	bl_tensor_free(&t);
}

/* A path must end with a file name. */
Test(kernels_npy, write_rejects_path_without_file_name, .init = make_tree, .fini = remove_tree)
{
	size_t n = 2;
	bl_tensor_t *t = make_tensor(BL_DTYPE_F32, 1, &n, 1);
	const char *paths[] = {"", "sub/", ".", "..", "sub/.."};

	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
		bl_error_t err = {0};
		int rc = bl_npy_write(t, root_fd, paths[i], &err);
		cr_assert_eq(rc, BL_EINVAL, "writing \"%s\" returned %d, expected BL_EINVAL", paths[i], rc);
		cr_assert_str_eq(err.field, paths[i]);
	}
	cr_assert_eq(count_entries(root_dir), 0);
	bl_tensor_free(&t);
}

/* Renaming over a directory fails; the temporary file is removed and the
 * directory stays. */
Test(kernels_npy, write_over_directory_fails_cleanly, .init = make_tree, .fini = remove_tree)
{
	cr_assert_eq(mkdir(in_root("x.npy"), 0755), 0);
	size_t n = 2;
	bl_tensor_t *t = make_tensor(BL_DTYPE_F32, 1, &n, 1);
	bl_error_t err = {0};

	int rc = bl_npy_write(t, root_fd, "x.npy", &err);

	cr_assert_eq(rc, -EISDIR, "the write returned %d (%s), expected -EISDIR", rc, err.message);
	cr_assert_eq(count_entries(root_dir), 1, "root contains %zu entries, expected only the directory",
		     count_entries(root_dir));
	struct stat st;
	cr_assert_eq(stat(in_root("x.npy"), &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	bl_tensor_free(&t);
}

/* A missing directory on the way is -ENOENT, with the path. */
Test(kernels_npy, write_into_missing_directory_is_enoent, .init = make_tree, .fini = remove_tree)
{
	size_t n = 2;
	bl_tensor_t *t = make_tensor(BL_DTYPE_F32, 1, &n, 1);
	bl_error_t err = {0};
	errno = EBUSY;

	int rc = bl_npy_write(t, root_fd, "nowhere/x.npy", &err);

	cr_assert_eq(rc, -ENOENT, "the write returned %d, expected -ENOENT", rc);
	cr_assert_str_eq(err.field, "nowhere/x.npy");
	cr_assert_eq(errno, EBUSY, "errno is %d, expected the caller's EBUSY", errno);
	bl_tensor_free(&t);
}
