/*
 * Tensors as nested JSON arrays. Reading walks the arrays twice. The first
 * walk checks shape, types, ranges and limits in document order, so that
 * the error names the first offending element, and it settles the dtype.
 * The second walk stores the numbers and cannot fail.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <beamline/json_load.h>
#include <beamline/kernels.h>

void bl_json_tensor_limits_init(bl_json_tensor_limits_t *lim)
{
	lim->max_elements = 65536;
	lim->max_depth = 8;
}

/* State of one walk over the arrays. */
typedef struct walk {
	const char *field;
	size_t max_elements;
	unsigned ndim;
	size_t shape[BL_TENSOR_DIMS_MAX];
	size_t index[BL_TENSOR_DIMS_MAX]; /* position at each level, for paths */
	bool dtype_given;                 /* check ranges against `dtype` */
	bl_dtype_t dtype;
	bool all_integers;
	size_t count;   /* numbers visited so far */
	bl_tensor_t *t; /* NULL while checking, the destination while storing */
	bl_error_t *err;
} walk_t;

/* Fill the error with the path of the element at `depth` levels below the
 * root (its indices are w->index[0 .. depth-1]) and a message. */
__attribute__((format(printf, 4, 5))) static int fail(const walk_t *w, unsigned depth, int code, const char *fmt,
						       ...)
{
	if (!w->err)
		return code;

	char path[BL_ERROR_FIELD_MAX];
	size_t used = (size_t)snprintf(path, sizeof path, "%s", w->field);
	for (unsigned i = 0; i < depth && used < sizeof path; i++)
		used += (size_t)snprintf(path + used, sizeof path - used, "[%zu]", w->index[i]);

	char message[BL_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	return bl_error_set(w->err, code, path, "%s", message);
}

/*
 * Take the shape from the first element at each level: [[1, 2], [3, 4]]
 * gives (2, 2), [] gives (0) and a bare number gives a scalar. The walk
 * that follows checks every other element against it.
 */
static int find_shape(walk_t *w, const json_t *value, unsigned max_depth)
{
	const json_t *v = value;
	w->ndim = 0;
	while (json_is_array(v)) {
		if (w->ndim == max_depth)
			return fail(w, w->ndim, BL_ELIMIT, "arrays nest deeper than the limit of %u levels", max_depth);
		w->index[w->ndim] = 0;
		w->shape[w->ndim++] = json_array_size(v);
		if (json_array_size(v) == 0)
			break;
		v = json_array_get(v, 0);
	}
	return 0;
}

/* Check that a number at `depth` fits the requested dtype. JSON integers
 * arrive as int64 and reals as finite doubles. */
static int check_range(const walk_t *w, const json_t *v, unsigned depth)
{
	const char *name = bl_dtype_name(w->dtype);
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (w->dtype == BL_DTYPE_I32 && (n < INT32_MIN || n > INT32_MAX))
			return fail(w, depth, BL_EINVAL, "%" JSON_INTEGER_FORMAT " is outside the range of int32", n);
		return 0;
	}

	double d = json_real_value(v);
	switch (w->dtype) {
	case BL_DTYPE_F32:
		if (d > FLT_MAX || d < -FLT_MAX)
			return fail(w, depth, BL_EINVAL, "%g is outside the range of float32", d);
		return 0;
	case BL_DTYPE_F64:
		return 0;
	case BL_DTYPE_I32:
		if (!(d > -2147483649.0 && d < 2147483648.0))
			return fail(w, depth, BL_EINVAL, "%g is outside the range of int32", d);
		return (double)(int32_t)d == d ? 0 : fail(w, depth, BL_EINVAL, "%g is not an integer, as %s needs", d, name);
	case BL_DTYPE_I64:
		/* -2^63 is exact in double; 2^63 is the first value above int64. */
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
			return fail(w, depth, BL_EINVAL, "%g is outside the range of int64", d);
		return (double)(int64_t)d == d ? 0 : fail(w, depth, BL_EINVAL, "%g is not an integer, as %s needs", d, name);
	}
	return 0;
}

/* Store the number `v` as element `i` of `t`; check_range has passed. */
static void store(bl_tensor_t *t, size_t i, const json_t *v)
{
	bool integer = json_is_integer(v);
	json_int_t n = integer ? json_integer_value(v) : 0;
	double d = integer ? (double)n : json_real_value(v);
	switch (t->dtype) {
	case BL_DTYPE_F32:
		((float *)t->data)[i] = integer ? (float)n : (float)d;
		break;
	case BL_DTYPE_F64:
		((double *)t->data)[i] = d;
		break;
	case BL_DTYPE_I32:
		((int32_t *)t->data)[i] = integer ? (int32_t)n : (int32_t)d;
		break;
	case BL_DTYPE_I64:
		((int64_t *)t->data)[i] = integer ? (int64_t)n : (int64_t)d;
		break;
	}
}

static int visit_number(walk_t *w, const json_t *v, unsigned depth)
{
	if (w->count == w->max_elements)
		return fail(w, depth, BL_ELIMIT, "the tensor has more elements than the limit of %zu",
			    w->max_elements);
	if (!json_is_number(v))
		return fail(w, depth, BL_EFORMAT, "expected a number, found %s", bl_json_type_phrase(v));
	if (json_is_real(v))
		w->all_integers = false;
	if (w->dtype_given) {
		int rc = check_range(w, v, depth);
		if (rc < 0)
			return rc;
	}

	if (w->t)
		store(w->t, w->count, v);
	w->count++;
	return 0;
}

/* Visit `v`, found `depth` levels below the root, and every number in it,
 * in document order. */
static int visit(walk_t *w, const json_t *v, unsigned depth)
{
	if (depth == w->ndim)
		return visit_number(w, v, depth);

	size_t want = w->shape[depth];
	if (!json_is_array(v))
		return fail(w, depth, BL_EFORMAT, "expected an array of %zu elements, found %s", want, bl_json_type_phrase(v));
	if (json_array_size(v) != want)
		return fail(w, depth, BL_EFORMAT, "expected an array of %zu elements, found one of %zu (the arrays "
			    "must be rectangular)", want, json_array_size(v));

	for (size_t i = 0; i < want; i++) {
		w->index[depth] = i;
		int rc = visit(w, json_array_get(v, i), depth + 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int bl_tensor_from_json(bl_tensor_t **out, const json_t *value, const bl_dtype_t *dtype,
			const bl_json_tensor_limits_t *lim, const char *field, bl_error_t *err)
{
	bl_json_tensor_limits_t defaults;
	if (!lim) {
		bl_json_tensor_limits_init(&defaults);
		lim = &defaults;
	}
	unsigned max_depth = lim->max_depth < BL_TENSOR_DIMS_MAX ? lim->max_depth : BL_TENSOR_DIMS_MAX;
	walk_t w = {
		.field = field ? field : "",
		.max_elements = lim->max_elements,
		.dtype_given = dtype != NULL,
		.dtype = dtype ? *dtype : BL_DTYPE_F64,
		.all_integers = true,
		.err = err,
	};
	if (dtype && bl_dtype_size(*dtype) == 0)
		return bl_error_set(err, BL_EINVAL, w.field, "unknown dtype %d", (int)*dtype);

	int rc = find_shape(&w, value, max_depth);
	if (rc < 0)
		return rc;
	rc = visit(&w, value, 0);
	if (rc < 0)
		return rc;

	if (!dtype)
		w.dtype = w.all_integers ? BL_DTYPE_I64 : BL_DTYPE_F64;
	rc = bl_tensor_new(&w.t, w.dtype, w.ndim, w.shape, err);
	if (rc < 0)
		return rc;
	w.count = 0;
	visit(&w, value, 0);

	*out = w.t;
	return 0;
}

static json_t *element_to_json(const bl_tensor_t *t, size_t i)
{
	switch (t->dtype) {
	case BL_DTYPE_I32:
		return json_integer(((const int32_t *)t->data)[i]);
	case BL_DTYPE_I64:
		return json_integer(((const int64_t *)t->data)[i]);
	case BL_DTYPE_F32:
	case BL_DTYPE_F64:
		break;
	}
	double d = bl_tensor_get(t, i);
	return isfinite(d) ? json_real(d) : json_null();
}

/* Build the value at `depth`; *next is the flat index of its first element. */
static json_t *build(const bl_tensor_t *t, unsigned depth, size_t *next)
{
	if (depth == t->ndim)
		return element_to_json(t, (*next)++);

	json_t *array = json_array();
	if (!array)
		return NULL;
	for (size_t i = 0; i < t->shape[depth]; i++) {
		/* json_array_append_new releases the item when it fails. */
		if (json_array_append_new(array, build(t, depth + 1, next)) < 0) {
			json_decref(array);
			return NULL;
		}
	}
	return array;
}

json_t *bl_tensor_to_json(const bl_tensor_t *t)
{
	size_t next = 0;
	return build(t, 0, &next);
}
