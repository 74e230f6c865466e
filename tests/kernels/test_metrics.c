#include <criterion/criterion.h>

#include <beamline/kernels.h>

static bl_tensor_t *labels(const int64_t *values, size_t n)
{
	bl_tensor_t *t;
	cr_assert_eq(bl_tensor_new(&t, BL_DTYPE_I64, 1, (size_t[]){n}, NULL), 0);
	for (size_t i = 0; i < n; i++)
		((int64_t *)t->data)[i] = values[i];
	return t;
}

/* Known values of the adjusted Rand index, computed independently with the
 * contingency-table formula: renamed identical partitions score 1, a
 * partition orthogonal to the other scores below 0. */
Test(kernels_metrics, adjusted_rand_index_known_values, .timeout = 10)
{
	static const struct {
		int64_t a[9], b[9];
		size_t n;
		double expected;
	} cases[] = {
		{{0, 0, 1, 1}, {0, 0, 1, 2}, 4, 0.5714285714285715},
		{{0, 0, 1, 1, 2, 2}, {1, 1, 0, 0, 2, 2}, 6, 1.0},
		{{0, 0, 0, 1, 1, 1}, {0, 1, 2, 0, 1, 2}, 6, -0.36363636363636365},
		{{0, 1, 0, 1, 0, 1, 2, 2, 2}, {0, 0, 0, 1, 1, 1, 2, 2, 2}, 9, 0.4074074074074074},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_tensor_t *a = labels(cases[i].a, cases[i].n), *b = labels(cases[i].b, cases[i].n);
		double ari = 0;

		int rc = bl_adjusted_rand_index(&ari, a, b, NULL);

		cr_assert_eq(rc, 0, "case %zu failed with %d", i, rc);
		cr_assert_float_eq(ari, cases[i].expected, 1e-12, "case %zu: expected %.15f, got %.15f", i,
				   cases[i].expected, ari);
		bl_tensor_free(&a);
		bl_tensor_free(&b);
	}
}

/* Labellings of different lengths or of a floating dtype are rejected. */
Test(kernels_metrics, adjusted_rand_index_rejects_mismatch, .timeout = 10)
{
	int64_t v[3] = {0, 1, 2};
	bl_tensor_t *a = labels(v, 3), *b = labels(v, 2), *f;
	cr_assert_eq(bl_tensor_new(&f, BL_DTYPE_F64, 1, (size_t[]){3}, NULL), 0);
	double ari;

	int lengths = bl_adjusted_rand_index(&ari, a, b, NULL);
	int dtype = bl_adjusted_rand_index(&ari, a, f, NULL);

	cr_assert_eq(lengths, BL_EINVAL, "different lengths: expected BL_EINVAL, got %d", lengths);
	cr_assert_eq(dtype, BL_EINVAL, "float labels: expected BL_EINVAL, got %d", dtype);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&f);
}
