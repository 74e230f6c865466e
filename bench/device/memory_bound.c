/*
 * The engine's memory-bound device kernels against triad: map relu, a sum
 * over every element, softmax over rows and a 64-bin histogram, each on
 * the triad's element count. Effective bandwidth is the bytes a kernel
 * must move, its input read once and its output written once, over the
 * device time of its kernel runs in the launch (transfers excluded). Each
 * kernel run follows a triad run, and the ratio is the median of the
 * runs' ratios.
 */
#include <stdio.h>

#include "device_bench.h"

/* Effective bandwidth over triad's that the kernels should reach. */
#define MEMORY_BOUND_TARGET 0.6

#define SOFTMAX_ROWS 4096u
#define HISTOGRAM_BINS 64u

typedef struct outputs {
	bl_tensor_t *t[2];
} outputs_t;

typedef int (*enqueue_fn)(bl_gpu_launch_t *launch, outputs_t *o, const bl_tensor_t *x, bl_error_t *err);

static int enqueue_relu(bl_gpu_launch_t *launch, outputs_t *o, const bl_tensor_t *x, bl_error_t *err)
{
	return bl_gpu_map(launch, &o->t[0], BL_MAP_RELU, x, NULL, 0.0, err);
}

static int enqueue_sum(bl_gpu_launch_t *launch, outputs_t *o, const bl_tensor_t *x, bl_error_t *err)
{
	return bl_gpu_reduce(launch, &o->t[0], BL_REDUCE_SUM, x, 0, true, err);
}

static int enqueue_softmax(bl_gpu_launch_t *launch, outputs_t *o, const bl_tensor_t *x, bl_error_t *err)
{
	bl_tensor_t rows = *x; /* the same data seen as SOFTMAX_ROWS rows */
	rows.ndim = 2;
	rows.shape[0] = SOFTMAX_ROWS;
	rows.shape[1] = x->count / SOFTMAX_ROWS;
	return bl_gpu_softmax(launch, &o->t[0], &rows, err);
}

/* The edges come from the range on the host; only the counts are the
 * kernel's output. */
static int enqueue_histogram(bl_gpu_launch_t *launch, outputs_t *o, const bl_tensor_t *x, bl_error_t *err)
{
	return bl_gpu_histogram(launch, &o->t[0], &o->t[1], x, HISTOGRAM_BINS, true, -1.0, 1.0, err);
}

typedef struct memory_case {
	const char *name;
	enqueue_fn enqueue;
} memory_case_t;

static const memory_case_t cases[] = {
	{"map relu", enqueue_relu},
	{"reduce sum, all elements", enqueue_sum},
	{"softmax, 4096 rows", enqueue_softmax},
	{"histogram, 64 bins in [-1, 1]", enqueue_histogram},
};

typedef struct launch_times {
	double wall_ms;
	double kernel_ms;
	double compile_ms;
	double bytes; /* input read once, output written once */
} launch_times_t;

static int run_once(launch_times_t *times, bench_t *b, const memory_case_t *c, const bl_tensor_t *x, bl_error_t *err)
{
	bl_gpu_launch_t *launch;
	outputs_t o = {0};
	double start = bench_now_ms();
	int rc = bl_gpu_launch_new(&launch, b->gpu, "bench", 0, err);
	if (rc < 0)
		return rc;

	rc = c->enqueue(launch, &o, x, err);
	if (rc == 0)
		rc = bl_gpu_launch_wait(launch, err);
	if (rc == 0)
		*times = (launch_times_t){bench_now_ms() - start, bl_gpu_launch_kernel_ms(launch),
					  bl_gpu_launch_compile_ms(launch), (double)(x->nbytes + o.t[0]->nbytes)};
	if (rc == 0 && times->kernel_ms <= 0)
		rc = bl_error_set(err, BL_EINVAL, NULL, "%s: the device's profiling timestamps gave no time", c->name);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&o.t[0]);
	bl_tensor_free(&o.t[1]);
	return rc;
}

/* Timings of one case's runs: each kernel run's device time and GB/s, the
 * GB/s of the triad run just before it, and their ratio. */
typedef struct case_runs {
	double kernel_ms[BENCH_REPS_MAX];
	double gbps[BENCH_REPS_MAX];
	double triad_gbps[BENCH_REPS_MAX];
	double ratio[BENCH_REPS_MAX];
} case_runs_t;

static json_t *case_report(const memory_case_t *c, const launch_times_t *warm, case_runs_t *runs, unsigned reps)
{
	summary_t ms = bench_summarize(runs->kernel_ms, reps);
	summary_t bw = bench_summarize(runs->gbps, reps);
	summary_t triad = bench_summarize(runs->triad_gbps, reps);
	summary_t ratio = bench_summarize(runs->ratio, reps);

	fprintf(stderr, "%-30s %8.2f GB/s  [%.2f - %.2f]  triad %6.2f  %5.2f of triad [%.2f - %.2f]  kernel %.3f ms  "
			"compile %.0f ms\n",
		c->name, bw.median, bw.min, bw.max, triad.median, ratio.median, ratio.min, ratio.max, ms.median,
		warm->compile_ms);
	return json_pack("{s:s, s:f, s:o, s:o, s:o, s:f, s:o, s:f, s:b, s:f, s:f}", "kernel", c->name, "bytes",
			 warm->bytes, "kernel_ms", bench_summary_json(ms), "bandwidth_gbps", bench_summary_json(bw),
			 "triad_gbps", bench_summary_json(triad), "ratio_to_triad", ratio.median, "ratio_runs",
			 bench_summary_json(ratio), "target", MEMORY_BOUND_TARGET, "target_met",
			 ratio.median >= MEMORY_BOUND_TARGET, "compile_ms", warm->compile_ms, "warmup_wall_ms",
			 warm->wall_ms);
}

/* Run the case once to warm up, then `reps` pairs of a triad run and a
 * kernel run. The device's bandwidth drifts on a shared machine (triad's
 * median moved 1.8 times between two runs here), so a ratio to a triad
 * measured once before every kernel followed that drift. */
static int bench_case(json_t **out, bench_t *b, const memory_case_t *c, const bl_tensor_t *x, bench_triad_t *triad,
		      bl_error_t *err)
{
	launch_times_t warm, t;
	case_runs_t runs;

	int rc = run_once(&warm, b, c, x, err);
	for (unsigned r = 0; rc == 0 && r < b->reps; r++) {
		rc = bench_triad_gbps(&runs.triad_gbps[r], triad, err);
		if (rc == 0)
			rc = run_once(&t, b, c, x, err);
		if (rc < 0)
			break;
		runs.kernel_ms[r] = t.kernel_ms;
		runs.gbps[r] = t.bytes / (t.kernel_ms * 1e6);
		runs.ratio[r] = runs.gbps[r] / runs.triad_gbps[r];
	}
	if (rc < 0) {
		bl_error_prefix(err, "%s: ", c->name);
		return rc;
	}
	*out = case_report(c, &warm, &runs, b->reps);
	return 0;
}

int bench_memory_bound(json_t **out, bench_t *b, bench_triad_t *triad, bl_error_t *err)
{
	size_t n = bench_stream_elements(b);
	bl_tensor_t *x;
	int rc = bench_random(&x, BL_DTYPE_F32, 1, (size_t[]){n}, -1.0, 1.0, 11, err);
	if (rc < 0)
		return rc;

	fprintf(stderr, "\nmemory-bound kernels, %zu float32 elements (%.0f MiB)\n", n, (double)x->nbytes / 1048576.0);
	json_t *rows = json_array();
	for (size_t i = 0; rc == 0 && i < sizeof cases / sizeof *cases; i++) {
		json_t *row;
		rc = bench_case(&row, b, &cases[i], x, triad, err);
		if (rc == 0)
			json_array_append_new(rows, row);
	}
	bl_tensor_free(&x);
	if (rc < 0) {
		json_decref(rows);
		return rc;
	}
	*out = rows;
	return 0;
}
