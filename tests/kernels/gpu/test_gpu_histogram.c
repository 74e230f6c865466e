#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* A histogram request: bins, and the range when `range` is set. */
typedef struct hist_case {
	size_t bins;
	bool range;
	double lo;
	double hi;
} hist_case_t;

/* Count x on the device and on the CPU: the counts must be equal and the
 * edges identical. */
static void expect_histogram_matches(bl_gpu_t *gpu, const bl_tensor_t *x, const hist_case_t *c)
{
	char what[160];
	snprintf(what, sizeof what, "histogram of %zu %s elements, %zu bins, range %s [%g, %g]", x->count,
		 bl_dtype_name(x->dtype), c->bins, c->range ? "given" : "from data", c->lo, c->hi);
	bl_error_t err = {0};
	bl_tensor_t *counts = NULL;
	bl_tensor_t *edges = NULL;
	bl_tensor_t *want_counts = NULL;
	bl_tensor_t *want_edges = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_histogram(launch, &counts, &edges, x, c->bins, c->range, c->lo, c->hi, &err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_histogram returned %d: %s", what, rc, err.message);
	gpu_test_finish(launch, what);
	rc = bl_cpu_histogram(&want_counts, &want_edges, x, c->bins, c->range, c->lo, c->hi, &err);
	cr_assert_eq(rc, 0, "%s: bl_cpu_histogram returned %d: %s", what, rc, err.message);

	gpu_test_expect_equal(counts, want_counts, what);
	gpu_test_expect_close(edges, want_edges, 0, false, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&counts);
	bl_tensor_free(&edges);
	bl_tensor_free(&want_counts);
	bl_tensor_free(&want_edges);
}

/* Bins counted in local memory (up to 1024) and with global atomics (more),
 * with the range from the data and given, on sizes around the work-group
 * size of 64. */
static void expect_sizes_and_bins_match(bl_gpu_t *gpu)
{
	static const size_t sizes[] = {1, 63, 65, 1000, 1000003};
	static const hist_case_t cases[] = {
		{1, false, 0, 0},   {7, false, 0, 0},	 {64, false, 0, 0},	  {1024, false, 0, 0},
		{1025, false, 0, 0}, {5000, false, 0, 0}, {10, true, -0.5, 0.25}, {3000, true, -2, 2},
	};

	for (size_t s = 0; s < COUNT(sizes); s++) {
		bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &sizes[s], -1, 1);
		for (size_t c = 0; c < COUNT(cases); c++)
			expect_histogram_matches(gpu, x, &cases[c]);
		bl_tensor_free(&x);
	}
}

Test(gpu_histogram, sizes_and_bins_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_sizes_and_bins_match(gpu);
	bl_gpu_close(&gpu);
}

/* A few million elements, counted by a capped grid of work-groups. */
Test(gpu_histogram, large_input_matches_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){1500, 2001}, -100, 100);

	expect_histogram_matches(gpu, x, &(hist_case_t){100, false, 0, 0});
	expect_histogram_matches(gpu, x, &(hist_case_t){4096, true, -50, 50});
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* float64 and integer x compute in double, as the CPU reads them. */
static void expect_float64_and_int_match(bl_gpu_t *gpu)
{
	size_t n = 10007;
	bl_tensor_t *inputs[] = {
		gpu_test_random(BL_DTYPE_F64, 1, &n, -1, 1),
		gpu_test_random(BL_DTYPE_I32, 1, &n, -50, 50),
		gpu_test_random(BL_DTYPE_I64, 1, &n, -1e6, 1e6),
	};

	for (size_t i = 0; i < COUNT(inputs); i++) {
		expect_histogram_matches(gpu, inputs[i], &(hist_case_t){13, false, 0, 0});
		expect_histogram_matches(gpu, inputs[i], &(hist_case_t){2000, false, 0, 0});
		expect_histogram_matches(gpu, inputs[i], &(hist_case_t){10, true, -20, 20});
		bl_tensor_free(&inputs[i]);
	}
}

Test(gpu_histogram, float64_and_int_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the device has no cl_khr_fp64");

	expect_float64_and_int_match(gpu);
	bl_gpu_close(&gpu);
}

/* float32 values at each edge of the histogram of `c` and one and two
 * floats either side of it. */
static bl_tensor_t *values_on_edges(const hist_case_t *c)
{
	size_t n = (c->bins + 1) * 5;
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, 0, 1);
	float *v = x->data;
	for (size_t e = 0; e <= c->bins; e++) {
		float edge = (float)(c->lo + (c->hi - c->lo) * (double)e / (double)c->bins);
		v[5 * e] = edge;
		v[5 * e + 1] = nextafterf(edge, INFINITY);
		v[5 * e + 2] = nextafterf(edge, -INFINITY);
		v[5 * e + 3] = nextafterf(v[5 * e + 1], INFINITY);
		v[5 * e + 4] = nextafterf(v[5 * e + 2], -INFINITY);
	}
	return x;
}

/* float32 values at and next to bin edges that float32 cannot hold: the
 * device compares with edges rounded so that each value lands in the
 * CPU's bin, and values next to hi are in the last bin or outside as on
 * the CPU. Ranges and bin counts are
 * chosen so that some edges round down to float32 and others up, in the
 * local-memory and the global-atomics path. */
static void expect_values_on_edges_match(bl_gpu_t *gpu, const hist_case_t *cases, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		bl_tensor_t *x = values_on_edges(&cases[i]);
		expect_histogram_matches(gpu, x, &cases[i]);
		bl_tensor_free(&x);
	}
}

static const hist_case_t edge_cases[] = {
	{6, true, 0.1, 0.7}, {10, true, -0.3, 1.7}, {1500, true, 0.1, 0.7}, {3001, true, -1.1, 2.3},
};

Test(gpu_histogram, values_on_edges_match_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_values_on_edges_match(gpu, edge_cases, COUNT(edge_cases));
	bl_gpu_close(&gpu);
}

/* Equal values, or a given range of zero width, widen to [v - 0.5, v + 0.5]. */
Test(gpu_histogram, zero_width_range_widens)
{
	bl_gpu_t *gpu = gpu_test_open();
	size_t n = 100;
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, 3, 3);

	expect_histogram_matches(gpu, x, &(hist_case_t){4, false, 0, 0});
	expect_histogram_matches(gpu, x, &(hist_case_t){5, true, 3, 3});
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* NaN is never counted, nor are infinities outside a given range; the range
 * from the data skips NaN. */
static void expect_nan_and_inf_not_counted(bl_gpu_t *gpu)
{
	size_t n = 1000;
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, -1, 1);
	float *v = x->data;
	v[0] = NAN;
	v[500] = NAN;
	v[999] = NAN;

	expect_histogram_matches(gpu, x, &(hist_case_t){10, false, 0, 0});
	v[1] = INFINITY;
	v[2] = -INFINITY;
	expect_histogram_matches(gpu, x, &(hist_case_t){10, true, -0.5, 0.5});
	bl_tensor_free(&x);
}

Test(gpu_histogram, nan_and_inf_not_counted)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_nan_and_inf_not_counted(gpu);
	bl_gpu_close(&gpu);
}

/*
 * Each form of the kernels on any device. The CPU form counts up to 64
 * bins. It guesses a value's bin from its offset when a bin is wide
 * against the rounding of that guess ([1000, 1001] in 50 bins still is),
 * and otherwise searches the edges: [1e6, 1e6 + 0.5] in 64 bins is
 * narrower than a float32 step at 1e6, so its rounded edges coincide.
 */
static void expect_form_matches(bl_gpu_kernel_form_t form)
{
	static const hist_case_t narrow_cases[] = {
		{50, true, 1000, 1001}, {64, true, 1e6, 1e6 + 0.5}, {7, true, 1e6, 1e6 + 0.5}, {64, true, -1, 1},
	};
	bl_gpu_t *gpu = gpu_test_open_form(form);

	expect_sizes_and_bins_match(gpu);
	expect_values_on_edges_match(gpu, edge_cases, COUNT(edge_cases));
	expect_values_on_edges_match(gpu, narrow_cases, COUNT(narrow_cases));
	size_t n = 100003;
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, 1e6 - 0.1, 1e6 + 0.6);
	for (size_t i = 0; i < COUNT(narrow_cases); i++)
		expect_histogram_matches(gpu, x, &narrow_cases[i]);
	bl_tensor_free(&x);

	expect_nan_and_inf_not_counted(gpu);
	if (bl_gpu_has_fp64(gpu))
		expect_float64_and_int_match(gpu);
	bl_gpu_close(&gpu);
}

Test(gpu_histogram, cpu_form_matches_cpu)
{
	expect_form_matches(BL_GPU_KERNELS_CPU);
}

Test(gpu_histogram, gpu_form_matches_cpu)
{
	expect_form_matches(BL_GPU_KERNELS_GPU);
}

/* Elements in one piece of the CPU form: 16 blocks of the work-group size
 * of 64, as PRIVATE_PIECE in kernels/gpu/histogram.c. */
#define CPU_PIECE 1024u

/* x of n float32 values in [-1.5, 1.5), with NaN and infinities at both
 * ends and in the middle, and the 65 edges of 64 bins over [-1, 1]. */
static bl_tensor_t *piece_values(size_t n)
{
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, &n, -1.5, 1.5);
	float *v = x->data;
	size_t places[] = {0, n / 2, n - 1};
	for (size_t i = 0; i < COUNT(places); i++) {
		v[places[i]] = NAN;
		v[(places[i] + 1) % n] = INFINITY;
		v[(places[i] + 2) % n] = -INFINITY;
	}
	for (size_t e = 0; e <= 64; e++)
		v[(n / 3 + e) % n] = (float)(-1.0 + 2.0 * (double)e / 64.0);
	return x;
}

/* The CPU form counts whole pieces without bounds checks and the elements
 * after them in a shorter last piece: sizes at and next to multiples of
 * the piece, with the special values in whole pieces and in the last.
 * [-1, 1] in 64 bins and in 8 bins have edges that the CPU form
 * computes, and the other ranges have edges that it loads or searches. */
Test(gpu_histogram, cpu_form_piece_sizes_match_cpu)
{
	static const size_t sizes[] = {CPU_PIECE - 1, CPU_PIECE, CPU_PIECE + 1, 2 * CPU_PIECE - 1, 3 * CPU_PIECE};
	static const hist_case_t cases[] = {
		{64, true, -1, 1}, {8, true, -1, 1}, {7, true, -0.5, 0.5}, {33, true, -1.25, 1.25},
		{64, true, 1e6, 1e6 + 0.5},
	};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);

	for (size_t s = 0; s < COUNT(sizes); s++) {
		bl_tensor_t *x = piece_values(sizes[s]);
		for (size_t c = 0; c < COUNT(cases); c++)
			expect_histogram_matches(gpu, x, &cases[c]);
		bl_tensor_free(&x);
	}
	bl_gpu_close(&gpu);
}

/* An empty x with a range gives zero counts and the edges; one element
 * works with and without a range. */
Test(gpu_histogram, empty_and_one_element)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *empty = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){0, 3}, -1, 1);
	bl_tensor_t *one = gpu_test_random(BL_DTYPE_F32, 0, NULL, -1, 1);

	expect_histogram_matches(gpu, empty, &(hist_case_t){8, true, -1, 1});
	expect_histogram_matches(gpu, one, &(hist_case_t){8, false, 0, 0});
	expect_histogram_matches(gpu, one, &(hist_case_t){8, true, -1, 1});
	bl_tensor_free(&empty);
	bl_tensor_free(&one);
	bl_gpu_close(&gpu);
}

/* Arguments checked before x is read get the CPU's code, field and message
 * at once, and no outputs. */
static void expect_same_error(bl_gpu_t *gpu, const bl_tensor_t *x, const hist_case_t *c, int code, const char *what)
{
	bl_error_t gpu_err = {0};
	bl_error_t cpu_err = {0};
	bl_tensor_t *counts = NULL;
	bl_tensor_t *edges = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int gpu_rc = bl_gpu_histogram(launch, &counts, &edges, x, c->bins, c->range, c->lo, c->hi, &gpu_err);
	int cpu_rc = bl_cpu_histogram(&counts, &edges, x, c->bins, c->range, c->lo, c->hi, &cpu_err);

	cr_assert_eq(cpu_rc, code, "%s: the CPU returned %d, expected %d", what, cpu_rc, code);
	cr_assert_eq(gpu_rc, cpu_rc, "%s: bl_gpu_histogram returned %d, expected %d", what, gpu_rc, cpu_rc);
	cr_assert_str_eq(gpu_err.field, cpu_err.field, "%s", what);
	cr_assert_str_eq(gpu_err.message, cpu_err.message, "%s", what);
	cr_assert_null(counts, "%s: counts despite the error", what);
	cr_assert_null(edges, "%s: edges despite the error", what);
	bl_gpu_launch_free(&launch);
}

Test(gpu_histogram, bad_arguments_rejected_as_on_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){10}, -1, 1);
	bl_tensor_t *empty = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){0}, -1, 1);

	expect_same_error(gpu, x, &(hist_case_t){0, false, 0, 0}, BL_EINVAL, "0 bins");
	expect_same_error(gpu, x, &(hist_case_t){SIZE_MAX, false, 0, 0}, BL_ELIMIT, "SIZE_MAX bins");
	expect_same_error(gpu, x, &(hist_case_t){4, true, 1, 0}, BL_EINVAL, "lo above hi");
	expect_same_error(gpu, x, &(hist_case_t){4, true, -INFINITY, 0}, BL_EINVAL, "infinite lo");
	expect_same_error(gpu, x, &(hist_case_t){4, true, 0, NAN}, BL_EINVAL, "NaN hi");
	expect_same_error(gpu, x, &(hist_case_t){4, true, -1e308, 1e308}, BL_EINVAL, "width overflows");
	expect_same_error(gpu, empty, &(hist_case_t){4, false, 0, 0}, BL_EINVAL, "empty x without a range");
	bl_tensor_free(&x);
	bl_tensor_free(&empty);
	bl_gpu_close(&gpu);
}

/* A range taken from data that has none (all NaN) or is not finite is
 * known only once the device has scanned x: the launch fails with the
 * CPU's code and message. */
static void expect_launch_error(bl_gpu_t *gpu, const bl_tensor_t *x, const char *what)
{
	bl_error_t gpu_err = {0};
	bl_error_t cpu_err = {0};
	bl_tensor_t *counts = NULL;
	bl_tensor_t *edges = NULL;
	bl_tensor_t *cpu_counts = NULL;
	bl_tensor_t *cpu_edges = NULL;

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_histogram(launch, &counts, &edges, x, 5, false, 0, 0, &gpu_err);
	cr_assert_eq(rc, 0, "%s: bl_gpu_histogram returned %d: %s", what, rc, gpu_err.message);
	int gpu_rc = bl_gpu_launch_wait(launch, &gpu_err);
	int cpu_rc = bl_cpu_histogram(&cpu_counts, &cpu_edges, x, 5, false, 0, 0, &cpu_err);

	cr_assert_eq(cpu_rc, BL_EINVAL, "%s: the CPU returned %d, expected BL_EINVAL", what, cpu_rc);
	cr_assert_eq(gpu_rc, cpu_rc, "%s: the launch returned %d, expected %d", what, gpu_rc, cpu_rc);
	cr_assert_str_eq(gpu_err.field, cpu_err.field, "%s", what);
	cr_assert_str_eq(gpu_err.message, cpu_err.message, "%s", what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&counts);
	bl_tensor_free(&edges);
}

Test(gpu_histogram, data_without_range_rejected_as_on_cpu)
{
	bl_gpu_t *gpu = gpu_test_open();
	size_t n = 300;
	bl_tensor_t *nan = gpu_test_random(BL_DTYPE_F32, 1, &n, -1, 1);
	bl_tensor_t *inf = gpu_test_random(BL_DTYPE_F32, 1, &n, -1, 1);
	for (size_t i = 0; i < n; i++)
		((float *)nan->data)[i] = NAN;
	((float *)inf->data)[299] = INFINITY;

	expect_launch_error(gpu, nan, "all NaN");
	expect_launch_error(gpu, inf, "+inf in x");
	bl_tensor_free(&nan);
	bl_tensor_free(&inf);
	bl_gpu_close(&gpu);
}


/* n values of `dtype` spread over the range of `c`, with its edges. */
static bl_tensor_t *values_across_range(bl_dtype_t dtype, size_t n, const hist_case_t *c)
{
	bl_tensor_t *x = gpu_test_random(dtype, 1, &n, c->lo, c->hi);
	for (size_t e = 0; e <= c->bins && e < n; e++) {
		double edge = c->lo + (c->hi - c->lo) * (double)e / (double)c->bins;
		if (dtype == BL_DTYPE_F32)
			((float *)x->data)[e] = (float)edge;
		else
			((double *)x->data)[e] = edge;
	}
	return x;
}

/* The CPU form guesses bins only where the guess fits the device's
 * precision. In float32, [-3e-38, 5e-38] in 64 bins has a scale of 8e38,
 * above FLT_MAX, and v - lo over [-3e38, 3e38] overflows. In float64,
 * [0, 1e-320] is subnormal and its scale overflows a double. */
Test(gpu_histogram, cpu_form_extreme_ranges_match_cpu)
{
	static const hist_case_t f32_cases[] = {
		{64, true, -3e-38, 5e-38}, {63, true, -3e-38, 5e-38}, {4, true, -3e38, 3e38}, {64, true, 0, 3e38},
	};
	static const hist_case_t f64_cases[] = {
		{64, true, 0, 1e-320},
		{3, true, -1e-310, 1e-310},
		{64, true, -1e307, 1e307},
		{200, true, -1e307, 1e307},
	};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);

	for (size_t c = 0; c < COUNT(f32_cases); c++) {
		bl_tensor_t *x = values_across_range(BL_DTYPE_F32, 3000, &f32_cases[c]);
		expect_histogram_matches(gpu, x, &f32_cases[c]);
		bl_tensor_free(&x);
	}
	for (size_t c = 0; bl_gpu_has_fp64(gpu) && c < COUNT(f64_cases); c++) {
		bl_tensor_t *x = values_across_range(BL_DTYPE_F64, 3000, &f64_cases[c]);
		expect_histogram_matches(gpu, x, &f64_cases[c]);
		bl_tensor_free(&x);
	}
	bl_gpu_close(&gpu);
}

/* Store v at index i of x when x has that many elements. */
static void put(bl_tensor_t *x, size_t i, double v)
{
	if (i >= x->count)
		return;
	if (x->dtype == BL_DTYPE_F32)
		((float *)x->data)[i] = (float)v;
	else
		((double *)x->data)[i] = v;
}

/* Return n random values over the range of `c` widened by 10 % on each
 * side. From index `start` come its edges, the floats next to lo and hi,
 * NaN, both zeros, and with a given range both infinities. */
static bl_tensor_t *histogram_values(bl_dtype_t dtype, size_t n, const hist_case_t *c, size_t start)
{
	double margin = (c->hi - c->lo) * 0.1;
	bl_tensor_t *x = gpu_test_random(dtype, 1, &n, c->lo - margin, c->hi + margin);
	size_t i = start;
	for (size_t e = 0; e <= c->bins; e++)
		put(x, i++, c->lo + (c->hi - c->lo) * (double)e / (double)c->bins);
	bool f32 = dtype == BL_DTYPE_F32;
	double ends[] = {c->lo, c->hi};
	for (size_t k = 0; k < 2; k++) {
		put(x, i++, f32 ? nextafterf((float)ends[k], INFINITY) : nextafter(ends[k], INFINITY));
		put(x, i++, f32 ? nextafterf((float)ends[k], -INFINITY) : nextafter(ends[k], -INFINITY));
	}
	put(x, i++, NAN);
	if (c->range) {
		put(x, i++, INFINITY);
		put(x, i++, -INFINITY);
	}
	put(x, i++, -0.0);
	put(x, i++, 0.0);
	return x;
}

static const hist_case_t cpu_form_cases[] = {
	{1, true, -1, 1},	{2, true, -1, 1},	  {3, true, -1, 1},	    {63, true, -1, 1},
	{64, true, -1, 1},	{65, true, -1, 1},	  {64, true, 0, 1},	    {3, true, -0.3, 0.7},
	{63, true, -0.3, 0.7},	{64, true, 1e6, 1e6 + 0.1}, {2, true, 1e6, 1e6 + 1e-3}, {7, true, -0.0, 1},
	{64, true, 0, 1e-38},	{2, true, 0, 1e-38},	  {64, false, 0, 0},	    {5, false, 0, 0},
};

/* float64 cases: the bin found by a computed edge, a loaded edge and a
 * search, and a range of no given width. Each case builds a program of
 * its own (2 to 3 s on PoCL), so float64 has fewer cases than float32. */
static const hist_case_t cpu_form_f64_cases[] = {
	{64, true, -1, 1},
	{3, true, -0.3, 0.7},
	{64, true, 1e6, 1e6 + 0.1},
	{5, false, 0, 0},
};

static void expect_histogram_sizes_match(bl_gpu_t *gpu, bl_dtype_t dtype, const hist_case_t *cases, size_t count,
					 const size_t *sizes, size_t size_count)
{
	for (size_t s = 0; s < size_count; s++) {
		for (size_t c = 0; c < count; c++) {
			const hist_case_t *hc = &cases[c];
			hist_case_t from = *hc;
			if (!hc->range) {
				from.lo = -1;
				from.hi = 1;
				from.range = false;
			}
			size_t starts[] = {0, sizes[s] > 40 ? sizes[s] - 40 : 0, sizes[s] / 1024 * 1024};
			for (size_t k = 0; k < COUNT(starts); k++) {
				bl_tensor_t *x = histogram_values(dtype, sizes[s], &from, starts[k]);
				expect_histogram_matches(gpu, x, hc);
				bl_tensor_free(&x);
			}
		}
	}
}

/* The CPU form over sizes around its pieces of 1024 elements, with the
 * special values at the start, the end and the last piece's start. */
Test(gpu_histogram, cpu_form_float32_sizes)
{
	static const size_t sizes[] = {1, 15, 16, 17, 1023, 1024, 1025, 16383, 16384, 16385};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	expect_histogram_sizes_match(gpu, BL_DTYPE_F32, cpu_form_cases, COUNT(cpu_form_cases), sizes, COUNT(sizes));
	bl_gpu_close(&gpu);
}

Test(gpu_histogram, cpu_form_float64_sizes)
{
	static const size_t sizes[] = {1, 17, 1023, 1025, 16385};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	if (!bl_gpu_has_fp64(gpu))
		cr_skip_test("the device has no cl_khr_fp64");
	expect_histogram_sizes_match(gpu, BL_DTYPE_F64, cpu_form_f64_cases, COUNT(cpu_form_f64_cases), sizes,
				     COUNT(sizes));
	bl_gpu_close(&gpu);
}

Test(gpu_histogram, cpu_form_empty_and_large)
{
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	bl_tensor_t *empty = gpu_test_random(BL_DTYPE_F32, 1, (size_t[]){0}, -1, 1);
	expect_histogram_matches(gpu, empty, &(hist_case_t){64, true, -1, 1});
	bl_tensor_free(&empty);

	hist_case_t c = {64, true, -1, 1};
	bl_tensor_t *x = histogram_values(BL_DTYPE_F32, (1u << 24) + 5, &c, (1u << 24) - 3);
	expect_histogram_matches(gpu, x, &c);
	expect_histogram_matches(gpu, x, &(hist_case_t){37, false, 0, 0});
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}

/* int32 values read as float64, with ranges that put them on edges. */
Test(gpu_histogram, cpu_form_int)
{
	static const hist_case_t cases[] = {{10, true, 0, 10}, {64, true, -32, 32}, {3, false, 0, 0}};
	bl_gpu_t *gpu = gpu_test_open_form(BL_GPU_KERNELS_CPU);
	bl_tensor_t *x = gpu_test_random(BL_DTYPE_I32, 1, (size_t[]){5000}, -40, 40);
	for (size_t c = 0; c < COUNT(cases); c++)
		expect_histogram_matches(gpu, x, &cases[c]);
	bl_tensor_free(&x);
	bl_gpu_close(&gpu);
}
