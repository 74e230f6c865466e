/*
 * Histograms on the device: checks, range and edges as bl_cpu_histogram,
 * and counting with histogram.cl. Without a given range the device first
 * finds the data's minimum and maximum, and a host step settles the range
 * and the edges before the counting is enqueued.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu/checks.h"
#include "grid.h"

/* Bins that histogram.cl counts in local memory (LOCAL_BINS there). */
#define LOCAL_BINS 1024u

/* Bins that the CPU form counts at most. It keeps bin indices in bytes,
 * which allows up to 128; only 64 and fewer were measured. */
#define PRIVATE_BINS 64u

/* Work-group size of the CPU form, and the blocks of that many elements
 * in one piece, as PRIVATE_GROUP and BLOCKS in histogram.cl. */
#define PRIVATE_GROUP 16u
#define PRIVATE_BLOCKS 64u
#define PRIVATE_PIECE (PRIVATE_BLOCKS * PRIVATE_GROUP)

/* Rows of work-group counts that one work-group of histogram_merge_rows
 * sums, and the maximum number of such slices, which the final sum adds. */
#define MERGE_ROWS 64u
#define MERGE_SLICES_MAX 1024u

/* How the CPU form finds a value's bin: `kind` is HISTOGRAM_GUESS there
 * (0 a search, 1 a guess checked against a loaded edge, 2 against a
 * computed edge), with the lower end, scale and bin width that the guess
 * takes. A search leaves them 0, because they need not fit a float. */
typedef struct private_guess {
	int kind;
	double lo;
	double scale;
	double width;
} private_guess_t;

/* One histogram in flight; freed with the launch. */
typedef struct histogram {
	const bl_tensor_t *x; /* borrowed until the launch ends */
	cl_mem x_buf;
	gpu_real_t real;
	size_t bins;
	bl_tensor_t *counts; /* the caller's outputs */
	bl_tensor_t *edges;
	bl_tensor_t *group_lo; /* per work-group minima and maxima, no range */
	bl_tensor_t *group_hi;
	bl_tensor_t *device_edges; /* edges rounded for the device */
} histogram_t;

static void free_histogram(void *ptr)
{
	histogram_t *h = ptr;
	bl_tensor_free(&h->group_lo);
	bl_tensor_free(&h->group_hi);
	bl_tensor_free(&h->device_edges);
	free(h);
}

/* Return the smallest float at or above v, which is finite. */
static float float_at_or_above(double v)
{
	if (v > FLT_MAX)
		return INFINITY;
	if (v < -FLT_MAX)
		return -FLT_MAX;
	float f = (float)v;
	return (double)f < v ? nextafterf(f, INFINITY) : f;
}

/* Return the largest float at or below v, which is finite. */
static float float_at_or_below(double v)
{
	if (v > FLT_MAX)
		return FLT_MAX;
	if (v < -FLT_MAX)
		return -INFINITY;
	float f = (float)v;
	return (double)f > v ? nextafterf(f, -INFINITY) : f;
}

/* Fill the edges over [lo, hi] as the CPU does, and the copy the device
 * compares with. In float32 each edge is rounded up, so that v >= edge
 * has the same result for every float v as against the float64 edge.
 * *top gets hi rounded down, for v <= top in the same way. */
static int make_edges(double *top, histogram_t *h, double lo, double hi, bl_error_t *err)
{
	double *edge = h->edges->data;
	bl__histogram_fill_edges(edge, lo, hi, h->bins);

	int rc = bl_tensor_new(&h->device_edges, h->real.dtype, 1, h->edges->shape, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i <= h->bins; i++) {
		if (h->real.dtype == BL_DTYPE_F32)
			((float *)h->device_edges->data)[i] = float_at_or_above(edge[i]);
		else
			((double *)h->device_edges->data)[i] = edge[i];
	}
	*top = h->real.dtype == BL_DTYPE_F32 ? (double)float_at_or_below(hi) : hi;
	return 0;
}

/*
 * Enqueue the sum of `groups` rows of h->bins counters in `partial` into
 * `counts`: slices of rows summed by histogram_merge_rows, then the
 * slices' sums by histogram_merge_sums. A slice has MERGE_ROWS rows, or
 * more when needed to keep the slices to MERGE_SLICES_MAX. A single slice
 * is summed straight into `counts`.
 */
static int enqueue_merge(bl_gpu_launch_t *launch, const histogram_t *h, const gpu_real_t *program, cl_mem partial,
			 size_t groups, cl_mem counts, bl_error_t *err)
{
	size_t rows = groups / MERGE_SLICES_MAX + 1;
	rows = rows > MERGE_ROWS ? rows : MERGE_ROWS;
	size_t slices = (groups + rows - 1) / rows;
	cl_mem sums = counts;
	int rc = 0;
	if (slices > 1)
		rc = bl_gpu_alloc(&sums, launch, slices * h->bins * sizeof(cl_long), err);
	if (rc < 0)
		return rc;

	const gpu_kernel_arg_t rows_args[] = {
		GPU_ARG_MEM(partial),
		GPU_ARG_ULONG(groups),
		GPU_ARG_ULONG(h->bins),
		GPU_ARG_ULONG(rows),
		GPU_ARG_MEM(sums),
	};
	size_t blocks = (h->bins + GPU_LOCAL_1D - 1) / GPU_LOCAL_1D;
	rc = gpu_run_kernel(launch, "histogram.cl", program, "histogram_merge_rows", rows_args,
			    GPU_ARG_COUNT(rows_args), gpu_groups_cap(slices * blocks), err);
	if (rc < 0 || slices == 1)
		return rc;

	const gpu_kernel_arg_t sums_args[] = {
		GPU_ARG_MEM(sums),
		GPU_ARG_ULONG(slices),
		GPU_ARG_ULONG(h->bins),
		GPU_ARG_MEM(counts),
	};
	return gpu_run_kernel(launch, "histogram.cl", program, "histogram_merge_sums", sums_args,
			      GPU_ARG_COUNT(sums_args), gpu_groups_for(h->bins), err);
}

/* Enqueue the count of every element in work-group histograms of local
 * memory, then their sum into `counts`. */
static int enqueue_local(bl_gpu_launch_t *launch, const histogram_t *h, cl_mem edges, double top, cl_mem counts,
			 bl_error_t *err)
{
	size_t groups = gpu_groups_for(h->x->count);
	cl_mem partial;
	int rc = bl_gpu_alloc(&partial, launch, groups * h->bins * sizeof(cl_uint), err);
	if (rc < 0)
		return rc;

	gpu_real_arg_t box;
	const gpu_kernel_arg_t count_args[] = {
		GPU_ARG_MEM(h->x_buf),
		GPU_ARG_ULONG(h->x->count),
		GPU_ARG_MEM(edges),
		GPU_ARG_ULONG(h->bins),
		gpu_arg_real(&box, &h->real, top),
		GPU_ARG_MEM(partial),
	};
	rc = gpu_run_kernel(launch, "histogram.cl", &h->real, "histogram_count_local", count_args,
			    GPU_ARG_COUNT(count_args), groups, err);
	if (rc < 0)
		return rc;
	return enqueue_merge(launch, h, &h->real, partial, groups, counts, err);
}

/*
 * Return whether the CPU form may guess each value's bin from
 * (v - lo) * scale and move it by one bin at most. That holds when the
 * guess, computed in the device's precision, is off by far less than a
 * bin: when a bin is at least 8 units in the last place of the range's
 * largest magnitude wide, and at least 8 of the smallest subnormal.
 * Narrower bins, whose rounded edges may even coincide, take the binary
 * search. So do ranges where lo or the scale does not fit the device's
 * precision as a normal number. Ranges wider than half its largest value
 * take the search too, because v - lo could overflow there. In float32,
 * [-3e-38, 5e-38] in 64 bins has a scale of 8e38, and v - lo over
 * [-3e38, 3e38] reaches 6e38.
 */
static bool bins_are_wide(const histogram_t *h)
{
	const double *edge = h->edges->data;
	double lo = edge[0];
	double hi = edge[h->bins];
	bool f32 = h->real.dtype == BL_DTYPE_F32;
	double epsilon = f32 ? (double)FLT_EPSILON : DBL_EPSILON;
	double largest_value = f32 ? (double)FLT_MAX : DBL_MAX;
	double smallest_normal = f32 ? (double)FLT_MIN : DBL_MIN;
	double smallest_step = f32 ? (double)FLT_TRUE_MIN : DBL_TRUE_MIN;

	double span = hi - lo;
	double scale = (double)h->bins / span;
	double largest = fmax(fabs(lo), fabs(hi));
	if (largest > largest_value || span > largest_value / 2)
		return false;
	if (!(scale >= smallest_normal && scale <= largest_value))
		return false;
	return span / (double)h->bins >= 8.0 * fmax(largest * epsilon, smallest_step);
}

/*
 * Store the bin width, rounded to the device's precision, in *width, and
 * return whether fma(i, *width, edges[0]) in that precision gives every
 * device edge i exactly. The CPU form then computes the edge nearest to a
 * guess in place of loading it. C's fma and fmaf round once, as OpenCL's
 * fma must.
 */
static bool edges_follow_width(double *width, const histogram_t *h)
{
	const double *edge = h->edges->data;
	double exact = (edge[h->bins] - edge[0]) / (double)h->bins;
	if (h->real.dtype == BL_DTYPE_F32) {
		const float *device_edge = h->device_edges->data;
		float step = (float)exact;
		*width = step;
		for (size_t i = 0; i <= h->bins; i++) {
			if (fmaf((float)i, step, device_edge[0]) != device_edge[i])
				return false;
		}
		return true;
	}

	const double *device_edge = h->device_edges->data;
	*width = exact;
	for (size_t i = 0; i <= h->bins; i++) {
		if (fma((double)i, exact, device_edge[0]) != device_edge[i])
			return false;
	}
	return true;
}

/* Enqueue the CPU form's kernel `name` of `program` over `groups`
 * work-groups, each counting one piece into its row of `partial`. */
static int enqueue_pieces(bl_gpu_launch_t *launch, const histogram_t *h, const gpu_real_t *program, const char *name,
			  size_t groups, cl_mem edges, double top, const private_guess_t *guess, cl_mem partial,
			  bl_error_t *err)
{
	gpu_real_arg_t top_box, lo_box, scale_box, width_box;
	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(h->x_buf),
		GPU_ARG_ULONG(h->x->count),
		GPU_ARG_MEM(edges),
		GPU_ARG_UINT(h->bins),
		gpu_arg_real(&top_box, &h->real, top),
		gpu_arg_real(&lo_box, &h->real, guess->lo),
		gpu_arg_real(&scale_box, &h->real, guess->scale),
		gpu_arg_real(&width_box, &h->real, guess->width),
		GPU_ARG_MEM(partial),
	};
	return gpu_run_kernel_sized(launch, "histogram.cl", program, name, args, GPU_ARG_COUNT(args), groups,
				    PRIVATE_GROUP, err);
}

/* The CPU form for at most PRIVATE_BINS bins: counts of each whole piece
 * of PRIVATE_PIECE elements and of the shorter piece at the end, if any,
 * then their sum into `counts`. The program is built for the smallest
 * power of two of bins that covers h->bins, and for the way it finds a
 * bin: a search, a guess checked against a loaded edge, or a guess
 * checked against a computed edge. */
static int enqueue_private(bl_gpu_launch_t *launch, const histogram_t *h, cl_mem edges, double top, cl_mem counts,
			   bl_error_t *err)
{
	unsigned slots = 1;
	while (slots < h->bins)
		slots *= 2;
	const double *edge = h->edges->data;
	private_guess_t guess = {0, 0.0, 0.0, 0.0};
	if (bins_are_wide(h)) {
		guess.lo = edge[0];
		guess.scale = (double)h->bins / (edge[h->bins] - edge[0]);
		guess.kind = edges_follow_width(&guess.width, h) ? 2 : 1;
	}
	char options[96];
	snprintf(options, sizeof options, "%s -DHISTOGRAM_SLOTS=%u -DHISTOGRAM_GUESS=%d", h->real.options, slots,
		 guess.kind);
	const gpu_real_t program = {h->real.dtype, options};

	size_t whole = h->x->count / PRIVATE_PIECE;
	bool tail = h->x->count % PRIVATE_PIECE != 0;
	size_t groups = whole + (tail ? 1 : 0);
	cl_mem partial;
	int rc = bl_gpu_alloc(&partial, launch, groups * h->bins * sizeof(cl_uint), err);
	if (rc < 0)
		return rc;

	if (whole > 0)
		rc = enqueue_pieces(launch, h, &program, "histogram_count_private", whole, edges, top, &guess, partial,
				    err);
	if (rc == 0 && tail)
		rc = enqueue_pieces(launch, h, &program, "histogram_count_private_tail", 1, edges, top, &guess,
				    partial, err);
	if (rc < 0)
		return rc;
	return enqueue_merge(launch, h, &program, partial, groups, counts, err);
}

/*
 * Enqueue the count of every element into 32-bit counters in device
 * memory with global atomics, then their copy into `counts`.
 * NOTE: a bin that would count more than UINT32_MAX elements would wrap,
 * so x may hold at most that many elements here (BL_ELIMIT beyond). A fix
 * would count in slices of x and add the slices up in int64.
 */
static int enqueue_global(bl_gpu_launch_t *launch, const histogram_t *h, cl_mem edges, double top, cl_mem counts,
			  bl_error_t *err)
{
	if (h->x->count > UINT32_MAX)
		return bl_error_set(err, BL_ELIMIT, "x",
				    "x has %zu elements, but a device histogram of more than %u bins counts at most %u",
				    h->x->count, LOCAL_BINS, UINT32_MAX);
	cl_mem counters;
	int rc = bl_gpu_alloc(&counters, launch, h->bins * sizeof(cl_uint), err);
	if (rc < 0)
		return rc;

	const gpu_kernel_arg_t clear_args[] = {GPU_ARG_MEM(counters), GPU_ARG_ULONG(h->bins)};
	rc = gpu_run_kernel(launch, "histogram.cl", &h->real, "histogram_clear", clear_args, GPU_ARG_COUNT(clear_args),
			    gpu_groups_for(h->bins), err);
	if (rc < 0)
		return rc;

	gpu_real_arg_t box;
	const gpu_kernel_arg_t count_args[] = {
		GPU_ARG_MEM(h->x_buf),
		GPU_ARG_ULONG(h->x->count),
		GPU_ARG_MEM(edges),
		GPU_ARG_ULONG(h->bins),
		gpu_arg_real(&box, &h->real, top),
		GPU_ARG_MEM(counters),
	};
	rc = gpu_run_kernel(launch, "histogram.cl", &h->real, "histogram_count_global", count_args,
			    GPU_ARG_COUNT(count_args), gpu_groups_for(h->x->count), err);
	if (rc < 0)
		return rc;

	return enqueue_merge(launch, h, &h->real, counters, 1, counts, err);
}

/* Fill the edges for [lo, hi] and enqueue the counting of x into
 * h->counts. An empty x leaves the zeroed counts as they are. */
static int enqueue_counts(bl_gpu_launch_t *launch, histogram_t *h, double lo, double hi, bl_error_t *err)
{
	double top;
	int rc = make_edges(&top, h, lo, hi, err);
	if (rc < 0 || h->x->count == 0)
		return rc;

	cl_mem edges;
	cl_mem counts;
	rc = bl_gpu_upload(&edges, launch, h->device_edges, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&counts, launch, h->counts->nbytes, err);
	if (rc < 0)
		return rc;

	if (gpu_launch_cpu_kernels(launch) && h->bins <= PRIVATE_BINS)
		rc = enqueue_private(launch, h, edges, top, counts, err);
	else if (h->bins <= LOCAL_BINS)
		rc = enqueue_local(launch, h, edges, top, counts, err);
	else
		rc = enqueue_global(launch, h, edges, top, counts, err);
	if (rc < 0)
		return rc;
	return bl_gpu_download(launch, counts, h->counts, err);
}

/* The host step after histogram_range: settle the range from the work-groups'
 * minima and maxima as bl_cpu_histogram does from the data, then count. */
static int finish_range(bl_gpu_launch_t *launch, void *arg, bl_error_t *err)
{
	histogram_t *h = arg;
	double lo = INFINITY;
	double hi = -INFINITY;
	for (size_t g = 0; g < h->group_lo->count; g++) {
		lo = fmin(lo, bl_tensor_get(h->group_lo, g));
		hi = fmax(hi, bl_tensor_get(h->group_hi, g));
	}

	if (lo > hi)
		return bl_error_set(err, BL_EINVAL, "x", "x contains only NaN, so a range must be given");
	int rc = bl__histogram_settle_range(&lo, &hi, false, err);
	if (rc < 0)
		return rc;
	return enqueue_counts(launch, h, lo, hi, err);
}

/* Enqueue histogram_range over x, the download of each work-group's
 * minimum and maximum, and the host step that goes on from there. x must
 * not be empty.
 * NOTE: a launch has one pending host step at most, so a second histogram
 * without a range on the same launch, before the first has run, fails
 * with BL_EINVAL from bl_gpu_launch_then. Use one launch per such
 * histogram. A fix would let a launch queue several steps. */
static int enqueue_range(bl_gpu_launch_t *launch, histogram_t *h, bl_error_t *err)
{
	size_t groups = gpu_groups_for(h->x->count);
	cl_mem lo;
	cl_mem hi;
	int rc = bl_tensor_new(&h->group_lo, h->real.dtype, 1, &groups, err);
	if (rc == 0)
		rc = bl_tensor_new(&h->group_hi, h->real.dtype, 1, &groups, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&lo, launch, h->group_lo->nbytes, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&hi, launch, h->group_hi->nbytes, err);
	if (rc < 0)
		return rc;

	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(h->x_buf),
		GPU_ARG_ULONG(h->x->count),
		GPU_ARG_MEM(lo),
		GPU_ARG_MEM(hi),
	};
	rc = gpu_run_kernel(launch, "histogram.cl", &h->real, "histogram_range", args, GPU_ARG_COUNT(args), groups,
			    err);
	if (rc == 0)
		rc = bl_gpu_download(launch, lo, h->group_lo, err);
	if (rc == 0)
		rc = bl_gpu_download(launch, hi, h->group_hi, err);
	if (rc < 0)
		return rc;
	return bl_gpu_launch_then(launch, finish_range, h, err);
}

/* Check the arguments that bl_cpu_histogram checks before it reads x's
 * values; with a range, settle it. */
static int check_inputs(double *lo, double *hi, const bl_tensor_t *x, size_t bins, bool range, bl_error_t *err)
{
	int rc = bl__histogram_check_bins(bins, err);
	if (rc < 0)
		return rc;
	if (range)
		return bl__histogram_settle_range(lo, hi, true, err);
	if (x->count == 0)
		return bl_error_set(err, BL_EINVAL, "x", "x is empty, so a range must be given");
	return 0;
}

/* Allocate the outputs and the state of a histogram, kept until the launch
 * is freed. */
static int new_histogram(histogram_t **out, bl_gpu_launch_t *launch, const bl_tensor_t *x, size_t bins,
			 bl_error_t *err)
{
	histogram_t *h = calloc(1, sizeof *h);
	if (!h)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory allocating a histogram");
	if (gpu_launch_keep(launch, h, free_histogram) < 0)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory keeping a histogram with its launch");

	h->x = x;
	h->bins = bins;
	size_t edge_count = bins + 1;
	const bl_tensor_t *inputs[] = {x};
	int rc = gpu_real_for(&h->real, launch, inputs, 1, err);
	if (rc == 0)
		rc = bl_tensor_new(&h->counts, BL_DTYPE_I64, 1, &bins, err);
	if (rc == 0)
		rc = bl_tensor_new(&h->edges, BL_DTYPE_F64, 1, &edge_count, err);
	if (rc < 0) {
		bl_tensor_free(&h->counts);
		return rc;
	}
	*out = h;
	return 0;
}

int bl_gpu_histogram(bl_gpu_launch_t *launch, bl_tensor_t **counts, bl_tensor_t **edges, const bl_tensor_t *x,
		     size_t bins, bool range, double lo, double hi, bl_error_t *err)
{
	int rc = check_inputs(&lo, &hi, x, bins, range, err);
	if (rc < 0)
		return rc;
	histogram_t *h = NULL;
	rc = new_histogram(&h, launch, x, bins, err);
	if (rc < 0)
		return rc;

	if (x->count > 0)
		rc = gpu_upload_as(&h->x_buf, launch, x, h->real.dtype, err);
	if (rc == 0)
		rc = range ? enqueue_counts(launch, h, lo, hi, err) : enqueue_range(launch, h, err);
	if (rc < 0) {
		bl_tensor_free(&h->counts);
		bl_tensor_free(&h->edges);
		return rc;
	}
	*counts = h->counts;
	*edges = h->edges;
	return 0;
}
