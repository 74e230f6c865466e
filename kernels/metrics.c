#include <stdlib.h>
#include <string.h>

#include <beamline/kernels.h>

static bool is_integer(const bl_tensor_t *t)
{
	return t->dtype == BL_DTYPE_I32 || t->dtype == BL_DTYPE_I64;
}

static int compare_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Map each label to its rank among the distinct labels, 0 .. k-1, so the
 * contingency table can be indexed; returns k, or 0 on BL_ENOMEM. */
static size_t compact(size_t *codes, const bl_tensor_t *t)
{
	size_t n = t->count;
	int64_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
	if (!sorted)
		return 0;
	for (size_t i = 0; i < n; i++)
		sorted[i] = (int64_t)bl_tensor_get(t, i);
	qsort(sorted, n, sizeof *sorted, compare_i64);

	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || sorted[i] != sorted[i - 1])
			sorted[k++] = sorted[i];
	}
	for (size_t i = 0; i < n; i++) {
		int64_t v = (int64_t)bl_tensor_get(t, i);
		int64_t *hit = bsearch(&v, sorted, k, sizeof *sorted, compare_i64);
		codes[i] = (size_t)(hit - sorted);
	}
	free(sorted);
	return k;
}

static double pairs(double n)
{
	return n * (n - 1) / 2;
}

int bl_adjusted_rand_index(double *out, const bl_tensor_t *a, const bl_tensor_t *b, bl_error_t *err)
{
	if (!is_integer(a) || !is_integer(b))
		return bl_error_set(err, BL_EINVAL, NULL, "labels must be int32 or int64, got %s and %s",
				    bl_dtype_name(a->dtype), bl_dtype_name(b->dtype));
	if (a->count != b->count)
		return bl_error_set(err, BL_EINVAL, NULL, "the labellings have %zu and %zu items", a->count, b->count);

	size_t n = a->count;
	size_t *ca = malloc((n ? n : 1) * sizeof *ca), *cb = malloc((n ? n : 1) * sizeof *cb);
	size_t ka = ca ? compact(ca, a) : 0, kb = cb ? compact(cb, b) : 0;
	double *table = (ka && kb) ? calloc(ka * kb, sizeof *table) : NULL;
	double *row = calloc(ka ? ka : 1, sizeof *row), *col = calloc(kb ? kb : 1, sizeof *col);
	if (n > 0 && (!ca || !cb || !table || !row || !col)) {
		free(ca), free(cb), free(table), free(row), free(col);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for the contingency table");
	}

	/* The contingency table, and the sums of pairs within cells, rows and
	 * columns that the index is built from. */
	for (size_t i = 0; i < n; i++) {
		table[ca[i] * kb + cb[i]]++;
		row[ca[i]]++;
		col[cb[i]]++;
	}
	double index = 0, sum_a = 0, sum_b = 0;
	for (size_t i = 0; i < ka * kb; i++)
		index += pairs(table[i]);
	for (size_t i = 0; i < ka; i++)
		sum_a += pairs(row[i]);
	for (size_t j = 0; j < kb; j++)
		sum_b += pairs(col[j]);

	double expected = n >= 2 ? sum_a * sum_b / pairs((double)n) : 0;
	double maximum = (sum_a + sum_b) / 2;
	*out = maximum == expected ? 1.0 : (index - expected) / (maximum - expected);
	free(ca), free(cb), free(table), free(row), free(col);
	return 0;
}
