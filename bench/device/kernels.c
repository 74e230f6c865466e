/*
 * Each compute kernel at one realistic size, on random float32 inputs
 * from fixed seeds, on the CPU and on the device. The CPU side is its
 * bl_cpu_* function on the calling thread, except that sgemm's OpenBLAS
 * uses its own threads. The device side is a launch run to its end with
 * bl_gpu_launch_wait, uploads and downloads included; the device's kernel
 * time is reported beside it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device_bench.h"

typedef struct inputs {
	bl_tensor_t *t[3];
	char size[96]; /* the size, in words, for the report */
} inputs_t;

typedef struct outputs {
	bl_tensor_t *t[2];
	bl_kmeans_result_t kmeans;
} outputs_t;

typedef struct kernel_case {
	const char *name;
	int (*make)(inputs_t *in, bool quick, bl_error_t *err);
	int (*cpu)(outputs_t *o, const inputs_t *in, bl_error_t *err);
	int (*gpu)(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err);
} kernel_case_t;

static void outputs_free(outputs_t *o)
{
	bl_tensor_free(&o->t[0]);
	bl_tensor_free(&o->t[1]);
	bl_kmeans_result_free(&o->kmeans);
}

/* The output compared between the CPU and the device. */
static const bl_tensor_t *primary(const outputs_t *o)
{
	return o->kmeans.centroids ? o->kmeans.centroids : o->t[0];
}

static int random_f32(bl_tensor_t **out, size_t rows, size_t cols, uint64_t seed, bl_error_t *err)
{
	if (cols == 0)
		return bench_random(out, BL_DTYPE_F32, 1, (size_t[]){rows}, -1.0, 1.0, seed, err);
	return bench_random(out, BL_DTYPE_F32, 2, (size_t[]){rows, cols}, -1.0, 1.0, seed, err);
}

/* ------------------------------------------------------------------------ */
/* Elementwise, reductions, histogram                                        */
/* ------------------------------------------------------------------------ */

static int make_vector(inputs_t *in, bool quick, bl_error_t *err)
{
	size_t n = quick ? (size_t)1 << 20 : (size_t)1 << 22;
	snprintf(in->size, sizeof in->size, "%zu elements", n);
	return random_f32(&in->t[0], n, 0, 21, err);
}

static int make_rows(inputs_t *in, bool quick, bl_error_t *err)
{
	size_t rows = quick ? 1024 : 4096, cols = 1024;
	snprintf(in->size, sizeof in->size, "%zu x %zu", rows, cols);
	return random_f32(&in->t[0], rows, cols, 22, err);
}

static int cpu_map(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_map(&o->t[0], BL_MAP_RELU, in->t[0], NULL, 0.0, err);
}

static int gpu_map(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_map(launch, &o->t[0], BL_MAP_RELU, in->t[0], NULL, 0.0, err);
}

static int cpu_reduce(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_reduce(&o->t[0], BL_REDUCE_SUM, in->t[0], 0, true, err);
}

static int gpu_reduce(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_reduce(launch, &o->t[0], BL_REDUCE_SUM, in->t[0], 0, true, err);
}

static int cpu_softmax(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_softmax(&o->t[0], in->t[0], err);
}

static int gpu_softmax(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_softmax(launch, &o->t[0], in->t[0], err);
}

static int cpu_histogram(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_histogram(&o->t[0], &o->t[1], in->t[0], 64, true, -1.0, 1.0, err);
}

static int gpu_histogram(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_histogram(launch, &o->t[0], &o->t[1], in->t[0], 64, true, -1.0, 1.0, err);
}

/* ------------------------------------------------------------------------ */
/* Distances, top-k, neighbours, clusters                                    */
/* ------------------------------------------------------------------------ */

static int make_pairwise(inputs_t *in, bool quick, bl_error_t *err)
{
	size_t n = quick ? 512 : 2048, d = 64;
	snprintf(in->size, sizeof in->size, "%zu x %zu against %zu x %zu", n, d, n, d);
	int rc = random_f32(&in->t[0], n, d, 23, err);
	return rc < 0 ? rc : random_f32(&in->t[1], n, d, 24, err);
}

static int cpu_pairwise(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_pairwise_l2(&o->t[0], in->t[0], in->t[1], false, NULL, err);
}

static int gpu_pairwise(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_pairwise_l2(launch, &o->t[0], in->t[0], in->t[1], false, err);
}

static int make_topk(inputs_t *in, bool quick, bl_error_t *err)
{
	int rc = make_rows(in, quick, err);
	strncat(in->size, ", k 16", sizeof in->size - strlen(in->size) - 1);
	return rc;
}

static int cpu_topk(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_topk(&o->t[0], &o->t[1], in->t[0], 16, true, err);
}

static int gpu_topk(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_topk(launch, &o->t[0], &o->t[1], in->t[0], 16, true, err);
}

static int make_knn(inputs_t *in, bool quick, bl_error_t *err)
{
	size_t train = quick ? 4096 : 16384, test = quick ? 256 : 1024, d = 32;
	snprintf(in->size, sizeof in->size, "%zu training rows, %zu test rows, %zu features, k 5", train, test, d);
	int rc = random_f32(&in->t[0], train, d, 25, err);
	if (rc == 0)
		rc = bench_random(&in->t[1], BL_DTYPE_I64, 1, (size_t[]){train}, 0.0, 10.0, 26, err);
	return rc < 0 ? rc : random_f32(&in->t[2], test, d, 27, err);
}

static int cpu_knn(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_knn(&o->t[0], in->t[0], in->t[1], in->t[2], 5, NULL, err);
}

static int gpu_knn(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_knn(launch, &o->t[0], in->t[0], in->t[1], in->t[2], 5, err);
}

/* Tolerance 0: every run does all its iterations, unless the centroids
 * stop moving, which they do at the same iteration on both sides. */
static const bl_kmeans_args_t kmeans_args = {.k = 16, .max_iterations = 10, .tolerance = 0, .seed = 42, .starts = 1};

static int make_kmeans(inputs_t *in, bool quick, bl_error_t *err)
{
	size_t n = quick ? 16384 : 65536, d = 16;
	snprintf(in->size, sizeof in->size, "%zu x %zu, k 16, 10 iterations, seed 42", n, d);
	return random_f32(&in->t[0], n, d, 28, err);
}

static int cpu_kmeans(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_cpu_kmeans(&o->kmeans, in->t[0], &kmeans_args, NULL, err);
}

static int gpu_kmeans(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	return bl_gpu_kmeans(launch, &o->kmeans, in->t[0], &kmeans_args, NULL, err);
}

/* ------------------------------------------------------------------------ */
/* sgemm                                                                     */
/* ------------------------------------------------------------------------ */

static const bl_sgemm_args_t sgemm_args = {.alpha = 1.0f, .beta = 0.0f};

static int make_sgemm(inputs_t *in, bool quick, bl_error_t *err)
{
	size_t n = quick ? 512 : 1024;
	snprintf(in->size, sizeof in->size, "%zu x %zu times %zu x %zu", n, n, n, n);
	int rc = random_f32(&in->t[0], n, n, 29, err);
	return rc < 0 ? rc : random_f32(&in->t[1], n, n, 30, err);
}

/* C is allocated inside the timing on both sides, as the engine does. */
static int cpu_sgemm(outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	size_t n = in->t[0]->shape[0];
	int rc = bl_tensor_new(&o->t[0], BL_DTYPE_F32, 2, (size_t[]){n, n}, err);
	return rc < 0 ? rc : bl_cpu_sgemm_rows(o->t[0], in->t[0], in->t[1], &sgemm_args, 0, n, err);
}

static int gpu_sgemm(bl_gpu_launch_t *launch, outputs_t *o, const inputs_t *in, bl_error_t *err)
{
	size_t n = in->t[0]->shape[0];
	int rc = bl_tensor_new(&o->t[0], BL_DTYPE_F32, 2, (size_t[]){n, n}, err);
	return rc < 0 ? rc : bl_gpu_sgemm(launch, o->t[0], in->t[0], in->t[1], &sgemm_args, err);
}

static const kernel_case_t cases[] = {
	{"map relu", make_vector, cpu_map, gpu_map},
	{"reduce sum", make_vector, cpu_reduce, gpu_reduce},
	{"softmax", make_rows, cpu_softmax, gpu_softmax},
	{"histogram 64 bins", make_vector, cpu_histogram, gpu_histogram},
	{"pairwise_l2", make_pairwise, cpu_pairwise, gpu_pairwise},
	{"topk", make_topk, cpu_topk, gpu_topk},
	{"knn", make_knn, cpu_knn, gpu_knn},
	{"kmeans", make_kmeans, cpu_kmeans, gpu_kmeans},
	{"sgemm", make_sgemm, cpu_sgemm, gpu_sgemm},
};

/* ------------------------------------------------------------------------ */
/* Timing                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct sample {
	double cpu_ms;
	double wall_ms;   /* the device launch, end to end */
	double kernel_ms; /* the device's kernel runs alone */
	double compile_ms;
} sample_t;

/* Run the CPU side once; keep its outputs in *keep when not NULL. */
static int run_cpu(sample_t *s, const kernel_case_t *c, const inputs_t *in, outputs_t *keep, bl_error_t *err)
{
	outputs_t o = {0};
	double start = bench_now_ms();
	int rc = c->cpu(&o, in, err);
	s->cpu_ms = bench_now_ms() - start;

	if (rc == 0 && keep)
		*keep = o;
	else
		outputs_free(&o);
	return rc;
}

static int run_gpu(sample_t *s, bench_t *b, const kernel_case_t *c, const inputs_t *in, outputs_t *keep,
		   bl_error_t *err)
{
	bl_gpu_launch_t *launch;
	outputs_t o = {0};
	double start = bench_now_ms();
	int rc = bl_gpu_launch_new(&launch, b->gpu, "bench", 0, err);
	if (rc < 0)
		return rc;

	rc = c->gpu(launch, &o, in, err);
	if (rc == 0)
		rc = bl_gpu_launch_wait(launch, err);
	s->wall_ms = bench_now_ms() - start;
	s->kernel_ms = bl_gpu_launch_kernel_ms(launch);
	s->compile_ms = bl_gpu_launch_compile_ms(launch);
	bl_gpu_launch_free(&launch);

	if (rc == 0 && keep)
		*keep = o;
	else
		outputs_free(&o);
	return rc;
}

/* Warm both sides up once and compare their outputs. */
static int warm_up(sample_t *warm, double *diff, bench_t *b, const kernel_case_t *c, const inputs_t *in,
		   bl_error_t *err)
{
	outputs_t on_cpu = {0}, on_gpu = {0};
	int rc = run_cpu(warm, c, in, &on_cpu, err);
	if (rc == 0)
		rc = run_gpu(warm, b, c, in, &on_gpu, err);
	if (rc == 0)
		*diff = bench_max_rel_diff(primary(&on_cpu), primary(&on_gpu));
	outputs_free(&on_cpu);
	outputs_free(&on_gpu);
	return rc;
}

static json_t *case_report(const kernel_case_t *c, const inputs_t *in, const sample_t *warm, double diff,
			   double *cpu, double *wall, double *kernel, unsigned reps)
{
	summary_t cpu_ms = bench_summarize(cpu, reps), wall_ms = bench_summarize(wall, reps);
	summary_t kernel_ms = bench_summarize(kernel, reps);
	double speedup = cpu_ms.median / wall_ms.median;
	/* CLBlast's kernels are not in the launch's profiled runs. */
	json_t *kernel_json = kernel_ms.median > 0 ? bench_summary_json(kernel_ms) : json_null();

	fprintf(stderr, "%-18s %-48s %10.2f %10.2f %10.2f %8.2fx %9.0f\n", c->name, in->size, cpu_ms.median,
		wall_ms.median, kernel_ms.median, speedup, warm->compile_ms);
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:f, s:f, s:f, s:o}", "kernel", c->name, "size", in->size,
			 "cpu_ms", bench_summary_json(cpu_ms), "device_wall_ms", bench_summary_json(wall_ms),
			 "device_kernel_ms", kernel_json, "device_speedup", speedup, "compile_ms", warm->compile_ms,
			 "warmup_device_wall_ms", warm->wall_ms, "max_rel_diff_vs_cpu", bench_real(diff));
}

static int bench_case(json_t **out, bench_t *b, const kernel_case_t *c, const inputs_t *in, bl_error_t *err)
{
	sample_t warm = {0}, s = {0};
	double diff = 0, cpu[BENCH_REPS_MAX], wall[BENCH_REPS_MAX], kernel[BENCH_REPS_MAX];

	int rc = warm_up(&warm, &diff, b, c, in, err);
	for (unsigned r = 0; rc == 0 && r < b->reps; r++) {
		/* Alternate, so drift on a shared machine hits both sides. */
		rc = run_cpu(&s, c, in, NULL, err);
		if (rc == 0)
			rc = run_gpu(&s, b, c, in, NULL, err);
		cpu[r] = s.cpu_ms, wall[r] = s.wall_ms, kernel[r] = s.kernel_ms;
	}
	if (rc == 0)
		*out = case_report(c, in, &warm, diff, cpu, wall, kernel, b->reps);
	return rc;
}

int bench_kernels(json_t **out, bench_t *b, bl_error_t *err)
{
	json_t *rows = json_array();
	int rc = 0;

	fprintf(stderr, "\n%-18s %-48s %10s %10s %10s %9s %9s\n", "kernel", "size", "CPU ms", "device ms",
		"kernel ms", "speedup", "compile");
	for (size_t i = 0; rc == 0 && i < sizeof cases / sizeof *cases; i++) {
		inputs_t in = {0};
		json_t *row;
		rc = cases[i].make(&in, b->quick, err);
		if (rc == 0)
			rc = bench_case(&row, b, &cases[i], &in, err);
		if (rc == 0)
			json_array_append_new(rows, row);
		else
			bl_error_prefix(err, "%s: ", cases[i].name);
		for (unsigned t = 0; t < 3; t++)
			bl_tensor_free(&in.t[t]);
	}
	if (rc < 0) {
		json_decref(rows);
		return rc;
	}
	*out = rows;
	return 0;
}
