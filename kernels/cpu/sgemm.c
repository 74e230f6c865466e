#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include <cblas.h>

#include <beamline/kernels.h>

/* Room for "18446744073709551615 x 18446744073709551615". */
#define SHAPE_TEXT_MAX 48

/* Write the shape of `t` into buf as "3 x 4", or as "1-D" when it is not a
 * matrix, and return buf. */
static const char *shape_text(char *buf, const bl_tensor_t *t)
{
	if (t->ndim == 2)
		snprintf(buf, SHAPE_TEXT_MAX, "%zu x %zu", t->shape[0], t->shape[1]);
	else
		snprintf(buf, SHAPE_TEXT_MAX, "%u-D", t->ndim);
	return buf;
}

/* Check that `t`, called `name`, is a float32 matrix whose dimensions fit
 * the int that OpenBLAS takes. */
static int check_operand(const bl_tensor_t *t, const char *name, bl_error_t *err)
{
	char shape[SHAPE_TEXT_MAX];

	if (t->dtype != BL_DTYPE_F32)
		return bl_error_set(err, BL_EINVAL, name, "%s is %s, but sgemm takes float32 only", name,
				    bl_dtype_name(t->dtype));
	if (t->ndim != 2)
		return bl_error_set(err, BL_EINVAL, name, "%s is %s, expected a 2-D matrix", name,
				    shape_text(shape, t));
	if (t->shape[0] > INT_MAX || t->shape[1] > INT_MAX)
		return bl_error_set(err, BL_ELIMIT, name, "%s is %s, but OpenBLAS takes at most %d rows and columns",
				    name, shape_text(shape, t), INT_MAX);
	return 0;
}

int bl_sgemm_dims(size_t *m, size_t *n, size_t *k, const bl_tensor_t *a, const bl_tensor_t *b,
		  const bl_sgemm_args_t *args, bl_error_t *err)
{
	int rc = check_operand(a, "a", err);
	if (rc < 0)
		return rc;
	rc = check_operand(b, "b", err);
	if (rc < 0)
		return rc;

	size_t rows = args->trans_a ? a->shape[1] : a->shape[0];
	size_t inner_a = args->trans_a ? a->shape[0] : a->shape[1];
	size_t inner_b = args->trans_b ? b->shape[1] : b->shape[0];
	size_t cols = args->trans_b ? b->shape[0] : b->shape[1];
	if (inner_a != inner_b) {
		char shape_a[SHAPE_TEXT_MAX];
		char shape_b[SHAPE_TEXT_MAX];
		return bl_error_set(err, BL_EINVAL, "b",
				    "a is %s%s and b is %s%s, so op(a) has %zu columns but op(b) has %zu rows",
				    shape_text(shape_a, a), args->trans_a ? " (transposed)" : "",
				    shape_text(shape_b, b), args->trans_b ? " (transposed)" : "", inner_a, inner_b);
	}

	*m = rows;
	*n = cols;
	*k = inner_a;
	return 0;
}

/* Set C = beta * C, the whole product when K is 0. cblas_sgemm is not used
 * for that case because it rejects the leading dimension 0 that an empty A
 * would give. As in BLAS, beta 0 does not read C. */
static void scale_only(float *c, size_t count, float beta)
{
	for (size_t i = 0; i < count; i++)
		c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

int bl_cpu_sgemm_rows(bl_tensor_t *c, const bl_tensor_t *a, const bl_tensor_t *b, const bl_sgemm_args_t *args,
		      size_t row_start, size_t row_stop, bl_error_t *err)
{
	size_t m = 0;
	size_t n = 0;
	size_t k = 0;
	int rc = bl_sgemm_dims(&m, &n, &k, a, b, args, err);
	if (rc < 0)
		return rc;
	if (c->dtype != BL_DTYPE_F32)
		return bl_error_set(err, BL_EINVAL, "c", "c is %s, but sgemm takes float32 only",
				    bl_dtype_name(c->dtype));
	if (c->ndim != 2 || c->shape[0] != m || c->shape[1] != n) {
		char shape[SHAPE_TEXT_MAX];
		return bl_error_set(err, BL_EINVAL, "c", "c is %s, expected %zu x %zu to hold op(a) * op(b)",
				    shape_text(shape, c), m, n);
	}
	if (row_start > row_stop || row_stop > m)
		return bl_error_set(err, BL_EINVAL, "row_stop", "rows [%zu, %zu) are not within the %zu rows of c",
				    row_start, row_stop, m);

	size_t rows = row_stop - row_start;
	if (rows == 0 || n == 0)
		return 0;
	float *c_rows = (float *)c->data + row_start * n;
	if (k == 0) {
		scale_only(c_rows, rows * n, args->beta);
		return 0;
	}

	/* In row-major storage the leading dimension is the stored width.
	 * Row r of op(A) starts at row r of A, or at column r when A is
	 * transposed. */
	const float *a_rows = (const float *)a->data + (args->trans_a ? row_start : row_start * k);
	cblas_sgemm(CblasRowMajor, args->trans_a ? CblasTrans : CblasNoTrans,
		    args->trans_b ? CblasTrans : CblasNoTrans, (int)rows, (int)n, (int)k, args->alpha, a_rows,
		    (int)a->shape[1], (const float *)b->data, (int)b->shape[1], args->beta, c_rows, (int)n);
	return 0;
}
