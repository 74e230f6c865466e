#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kernels.h>

#define DATA_ALIGN 64u

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[BL_DTYPE_F32] = {"float32", 4},
	[BL_DTYPE_F64] = {"float64", 8},
	[BL_DTYPE_I32] = {"int32", 4},
	[BL_DTYPE_I64] = {"int64", 8},
};

static bool dtype_valid(bl_dtype_t dtype)
{
	return (unsigned)dtype < sizeof dtypes / sizeof *dtypes;
}

size_t bl_dtype_size(bl_dtype_t dtype)
{
	return dtype_valid(dtype) ? dtypes[dtype].size : 0;
}

const char *bl_dtype_name(bl_dtype_t dtype)
{
	return dtype_valid(dtype) ? dtypes[dtype].name : "unknown";
}

int bl_dtype_parse(bl_dtype_t *out, const char *name)
{
	for (unsigned i = 0; i < sizeof dtypes / sizeof *dtypes; i++) {
		if (strcmp(dtypes[i].name, name) == 0) {
			*out = (bl_dtype_t)i;
			return 0;
		}
	}
	return BL_EINVAL;
}

int bl_tensor_new(bl_tensor_t **out, bl_dtype_t dtype, unsigned ndim, const size_t *shape, bl_error_t *err)
{
	if (!dtype_valid(dtype))
		return bl_error_set(err, BL_EINVAL, NULL, "unknown dtype %d", (int)dtype);
	if (ndim > BL_TENSOR_DIMS_MAX)
		return bl_error_set(err, BL_EINVAL, NULL, "%u dimensions, at most %u are supported", ndim,
				    BL_TENSOR_DIMS_MAX);

	/* The overflow check covers the non-zero dimensions even when another
	 * is zero, so its result does not depend on their order. An empty
	 * tensor then cannot claim more rows than a full one could hold, which
	 * keeps loops over its outer dimensions bounded. */
	size_t nonzero = 1;
	bool empty = false;
	for (unsigned i = 0; i < ndim; i++) {
		if (shape[i] == 0) {
			empty = true;
			continue;
		}
		if (nonzero > SIZE_MAX / shape[i])
			return bl_error_set(err, BL_ELIMIT, NULL, "tensor size overflows at dimension %u", i);
		nonzero *= shape[i];
	}
	size_t elem = dtypes[dtype].size;
	if (nonzero > (SIZE_MAX - DATA_ALIGN) / elem)
		return bl_error_set(err, BL_ELIMIT, NULL, "tensor of %zu elements is too large", nonzero);
	size_t count = empty ? 0 : nonzero;

	bl_tensor_t *t = calloc(1, sizeof *t);
	/* aligned_alloc needs a size that is a multiple of the alignment, and
	 * an empty tensor still gets a valid pointer. */
	size_t bytes = count * elem;
	size_t rounded = (bytes + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
	void *data = aligned_alloc(DATA_ALIGN, rounded ? rounded : DATA_ALIGN);
	if (!t || !data) {
		free(t);
		free(data);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory allocating %zu bytes", bytes);
	}
	memset(data, 0, rounded ? rounded : DATA_ALIGN);

	t->dtype = dtype;
	t->ndim = ndim;
	for (unsigned i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->count = count;
	t->nbytes = bytes;
	t->data = data;
	*out = t;
	return 0;
}

void bl_tensor_free(bl_tensor_t **t)
{
	if (!*t)
		return;
	free((*t)->data);
	free(*t);
	*t = NULL;
}

double bl_tensor_get(const bl_tensor_t *t, size_t i)
{
	switch (t->dtype) {
	case BL_DTYPE_F32:
		return ((const float *)t->data)[i];
	case BL_DTYPE_F64:
		return ((const double *)t->data)[i];
	case BL_DTYPE_I32:
		return ((const int32_t *)t->data)[i];
	case BL_DTYPE_I64:
		return (double)((const int64_t *)t->data)[i];
	}
	return 0;
}

/*
 * Whether `v` truncated toward zero fits the integer dtype `dtype`. The
 * bounds are exact doubles: int32 takes (-2^31 - 1, 2^31), and int64 takes
 * [-2^63, 2^63) because no double lies between -2^63 - 1 and -2^63. NaN
 * fails every comparison and so never fits.
 */
static bool double_fits(double v, bl_dtype_t dtype)
{
	if (dtype == BL_DTYPE_I32)
		return v > -2147483649.0 && v < 2147483648.0;
	return v >= -9223372036854775808.0 && v < 9223372036854775808.0;
}

/*
 * Store element `i` of `in` as element `i` of `out`. Integer targets take
 * the value truncated toward zero, as C casts do. A value that does not fit
 * (NaN, infinities, out of range) returns BL_EINVAL, because the C cast
 * would be undefined behaviour. int64 converts to float32 directly, since
 * rounding through double first could round twice.
 */
static int convert_element(bl_tensor_t *out, const bl_tensor_t *in, size_t i, bl_error_t *err)
{
	if (in->dtype == BL_DTYPE_I64) {
		int64_t v = ((const int64_t *)in->data)[i];
		switch (out->dtype) {
		case BL_DTYPE_F32:
			((float *)out->data)[i] = (float)v;
			return 0;
		case BL_DTYPE_F64:
			((double *)out->data)[i] = (double)v;
			return 0;
		case BL_DTYPE_I32:
			if (v < INT32_MIN || v > INT32_MAX)
				return bl_error_set(err, BL_EINVAL, NULL,
						    "element %zu is %" PRId64 ", outside the range of int32", i, v);
			((int32_t *)out->data)[i] = (int32_t)v;
			return 0;
		case BL_DTYPE_I64:
			((int64_t *)out->data)[i] = v;
			return 0;
		}
	}

	/* Every other source dtype converts to double exactly. */
	double v = bl_tensor_get(in, i);
	switch (out->dtype) {
	case BL_DTYPE_F32:
		((float *)out->data)[i] = (float)v;
		return 0;
	case BL_DTYPE_F64:
		((double *)out->data)[i] = v;
		return 0;
	case BL_DTYPE_I32:
	case BL_DTYPE_I64:
		if (!double_fits(v, out->dtype))
			return bl_error_set(err, BL_EINVAL, NULL, "element %zu is %g, outside the range of %s", i, v,
					    bl_dtype_name(out->dtype));
		if (out->dtype == BL_DTYPE_I32)
			((int32_t *)out->data)[i] = (int32_t)v;
		else
			((int64_t *)out->data)[i] = (int64_t)v;
		return 0;
	}
	return 0;
}

int bl_tensor_convert(bl_tensor_t **out, const bl_tensor_t *in, bl_dtype_t dtype, bl_error_t *err)
{
	bl_tensor_t *t;
	int rc = bl_tensor_new(&t, dtype, in->ndim, in->shape, err);
	if (rc < 0)
		return rc;

	if (dtype == in->dtype) {
		memcpy(t->data, in->data, in->nbytes);
		*out = t;
		return 0;
	}
	for (size_t i = 0; i < in->count; i++) {
		rc = convert_element(t, in, i, err);
		if (rc < 0) {
			bl_tensor_free(&t);
			return rc;
		}
	}
	*out = t;
	return 0;
}

int bl_tensor_slice(bl_tensor_t **out, const bl_tensor_t *in, size_t row_start, size_t row_stop,
		    size_t col_start, size_t col_stop, bl_error_t *err)
{
	if (in->ndim != 1 && in->ndim != 2)
		return bl_error_set(err, BL_EINVAL, NULL, "slicing needs a 1-D or 2-D tensor, got %u dimensions",
				    in->ndim);

	size_t rows = in->shape[0];
	size_t cols = in->ndim == 2 ? in->shape[1] : 1;
	/* A 1-D result keeps only the row count, so any other column range
	 * would describe data that the copy below does not produce. */
	if (in->ndim == 1 && (col_start != 0 || col_stop != 1))
		return bl_error_set(err, BL_EINVAL, "columns",
				    "columns [%zu, %zu) given for a 1-D tensor, expected [0, 1)", col_start, col_stop);
	if (row_start > row_stop || row_stop > rows)
		return bl_error_set(err, BL_EINVAL, "rows", "rows [%zu, %zu) are outside [0, %zu)", row_start,
				    row_stop, rows);
	if (col_start > col_stop || col_stop > cols)
		return bl_error_set(err, BL_EINVAL, "columns", "columns [%zu, %zu) are outside [0, %zu)",
				    col_start, col_stop, cols);

	size_t shape[2] = {row_stop - row_start, col_stop - col_start};
	bl_tensor_t *t;
	int rc = bl_tensor_new(&t, in->dtype, in->ndim, shape, err);
	if (rc < 0)
		return rc;

	size_t elem = bl_dtype_size(in->dtype);
	size_t width = shape[1] * elem;
	for (size_t r = 0; r < shape[0]; r++) {
		const unsigned char *src = (const unsigned char *)in->data + ((row_start + r) * cols + col_start) * elem;
		memcpy((unsigned char *)t->data + r * width, src, width);
	}
	*out = t;
	return 0;
}
