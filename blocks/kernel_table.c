/*
 * Every kernel the kernel block runs: its inputs, arguments and outputs,
 * and the function that computes it from loaded tensors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_cost.h"
#include "kernel_run.h"

/* sgemm products of at least this many multiply-adds are split over the
 * CPU pool's workers by rows; smaller ones run on one worker. */
#define SGEMM_SPLIT_MIN_MACS (64.0 * 64.0 * 64.0)

static int fail(kernel_run_t *run, int rc, const bl_error_t *err)
{
	if (err && err->code)
		run->error = *err;
	else
		bl_error_set(&run->error, rc, NULL, "%s", bl_strerror(rc));
	return rc;
}

/* ------------------------------------------------------------------------ */
/* noop: nothing, for measuring the engine itself                            */
/* ------------------------------------------------------------------------ */

static int compute_noop(kernel_run_t *run)
{
	(void)run;
	return 0;
}

/* On the device, an empty kernel: what a launch costs by itself. */
static int gpu_noop(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	int rc = bl_gpu_noop(launch, &run->error);
	return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------ */
/* sgemm                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct row_block {
	size_t start;
	size_t stop;
} row_block_t;

/* One fan-out task: rows [start, stop) of C. The last task to finish
 * completes the run. */
static void sgemm_block(kernel_run_t *run, void *arg)
{
	row_block_t *rows = arg;
	uint64_t cpu = kernel_thread_cpu_ns();
	bl_error_t err = {0};

	int rc = 0;
	if (!atomic_load(&run->failed) && bl_cancel_requested(run->env->cancel))
		rc = bl_error_set(&err, BL_ECANCELED, NULL, "the job was cancelled during its sgemm");
	if (rc == 0 && !atomic_load(&run->failed))
		rc = bl_cpu_sgemm_rows(run->out[0], kernel_in(run, "a"), kernel_in(run, "b"), &run->sgemm, rows->start,
				       rows->stop, &err);
	if (rc < 0) {
		int none = 0;
		if (atomic_compare_exchange_strong(&run->failed, &none, rc))
			run->error = err;
	}
	free(rows);

	atomic_fetch_add(&run->cpu_ns, kernel_thread_cpu_ns() - cpu);
	/* acq_rel: the last task sees every other task's rows and error. */
	if (atomic_fetch_sub_explicit(&run->pending, 1, memory_order_acq_rel) != 1)
		return;

	int failed = atomic_load(&run->failed);
	if (failed == 0) {
		double seconds = (double)(kernel_now_ns() - run->loaded_ns) / 1e9;
		const bl_tensor_t *a = kernel_in(run, "a");
		double k = (double)(run->sgemm.trans_a ? a->shape[0] : a->shape[1]);
		double macs = (double)run->out[0]->shape[0] * (double)run->out[0]->shape[1] * k;
		json_object_set_new(run->metrics, "gflops", json_real(seconds > 0 ? 2 * macs / seconds / 1e9 : 0));
	}
	kernel_run_finish(run, failed, &run->error);
}

/* Read sgemm's arguments, check the shapes, and set C as the output,
 * holding the given c (for beta) or zeros. */
static int sgemm_prepare(kernel_run_t *run, size_t *m_out)
{
	bl_error_t err = {0};
	size_t m, n, k;
	run->sgemm = (bl_sgemm_args_t){
		.alpha = (float)kernel_arg_number(run->params, "alpha", 1.0),
		.beta = (float)kernel_arg_number(run->params, "beta", 0.0),
		.trans_a = kernel_arg_bool(run->params, "trans_a", false),
		.trans_b = kernel_arg_bool(run->params, "trans_b", false),
	};
	int rc = bl_sgemm_dims(&m, &n, &k, kernel_in(run, "a"), kernel_in(run, "b"), &run->sgemm, &err);
	if (rc < 0)
		return fail(run, rc, &err);

	/* C starts as the given c (for beta), else zeros. */
	bl_tensor_t *c = NULL;
	const bl_tensor_t *c_in = kernel_in(run, "c");
	if (c_in && (c_in->ndim != 2 || c_in->shape[0] != m || c_in->shape[1] != n || c_in->dtype != BL_DTYPE_F32))
		return fail(run, bl_error_set(&err, BL_EINVAL, "params.inputs.c",
					      "c must be float32 with shape [%zu, %zu], the shape of a times b", m, n),
			    &err);
	rc = c_in ? bl_tensor_convert(&c, c_in, BL_DTYPE_F32, &err)
		  : bl_tensor_new(&c, BL_DTYPE_F32, 2, (size_t[]){m, n}, &err);
	if (rc < 0)
		return fail(run, rc, &err);
	kernel_set_out(run, "c", c);
	*m_out = m;
	return 0;
}

static int gpu_sgemm(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	size_t m;
	int rc = sgemm_prepare(run, &m);
	if (rc < 0)
		return rc;
	rc = bl_gpu_sgemm(launch, run->out[0], kernel_in(run, "a"), kernel_in(run, "b"), &run->sgemm, &run->error);
	return rc < 0 ? rc : 0;
}

static int compute_sgemm(kernel_run_t *run)
{
	size_t m;
	int rc = sgemm_prepare(run, &m);
	if (rc < 0)
		return rc;
	const bl_tensor_t *a = kernel_in(run, "a");
	size_t n = run->out[0]->shape[1];
	size_t k = run->sgemm.trans_a ? a->shape[0] : a->shape[1];

	/* One block per worker: each cblas_sgemm call packs B again, so more
	 * blocks than workers cost packing without adding parallelism. */
	unsigned workers = bl_pool_worker_count(run->env->cpu_pool);
	size_t parts = (double)m * (double)n * (double)k >= SGEMM_SPLIT_MIN_MACS ? workers : 1u;
	if (parts > m)
		parts = m ? m : 1;
	atomic_store(&run->pending, parts);
	kernel_run_charge_first_task(run);
	for (size_t p = 0; p < parts; p++) {
		row_block_t *rows = malloc(sizeof *rows);
		if (rows) {
			rows->start = m * p / parts;
			rows->stop = m * (p + 1) / parts;
		}
		/* A block that cannot start still counts down, as a failure. */
		if (!rows || kernel_run_submit(run, sgemm_block, rows) < 0) {
			free(rows);
			int none = 0;
			if (atomic_compare_exchange_strong(&run->failed, &none, BL_ENOMEM))
				bl_error_set(&run->error, BL_ENOMEM, NULL, "out of memory splitting the sgemm");
			if (atomic_fetch_sub(&run->pending, 1) == 1)
				kernel_run_finish(run, BL_ENOMEM, &run->error);
		}
	}
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Elementwise, reductions, softmax, histogram, distances, top-k             */
/* ------------------------------------------------------------------------ */

static int map_op(kernel_run_t *run, bl_map_op_t *op)
{
	bl_error_t err = {0};
	if (bl_map_op_parse(op, kernel_arg_name(run->params, "op", "")) == 0)
		return 0;
	return fail(run, bl_error_set(&err, BL_EINVAL, "params.args.op",
				      "expected \"add\", \"mul\", \"scale\", \"relu\", \"gelu\" or \"exp\""),
		    &err);
}

static int compute_map(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_map_op_t op;
	bl_tensor_t *out;

	int rc = map_op(run, &op);
	if (rc == 0)
		rc = bl_cpu_map(&out, op, kernel_in(run, "x"), kernel_in(run, "y"),
				kernel_arg_number(run->params, "scalar", 1.0), &err);
	if (rc < 0)
		return err.code ? fail(run, rc, &err) : rc;
	kernel_set_out(run, "out", out);
	return 0;
}

static int gpu_map(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_map_op_t op;
	bl_tensor_t *out;

	int rc = map_op(run, &op);
	if (rc == 0)
		rc = bl_gpu_map(launch, &out, op, kernel_in(run, "x"), kernel_in(run, "y"),
				kernel_arg_number(run->params, "scalar", 1.0), &run->error);
	if (rc < 0)
		return rc;
	kernel_set_out(run, "out", out);
	return 0;
}

static int reduce_op(kernel_run_t *run, bl_reduce_op_t *op)
{
	bl_error_t err = {0};
	if (bl_reduce_op_parse(op, kernel_arg_name(run->params, "op", "")) == 0)
		return 0;
	return fail(run, bl_error_set(&err, BL_EINVAL, "params.args.op", "expected \"sum\", \"max\", \"min\" or \"mean\""),
		    &err);
}

static int compute_reduce(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_reduce_op_t op;
	bl_tensor_t *out;
	int axis = 0;

	int rc = reduce_op(run, &op);
	bool along = kernel_arg_axis(run->params, "axis", &axis);
	if (rc == 0)
		rc = bl_cpu_reduce(&out, op, kernel_in(run, "x"), axis, !along, &err);
	if (rc < 0)
		return err.code ? fail(run, rc, &err) : rc;
	kernel_set_out(run, "out", out);
	return 0;
}

static int gpu_reduce(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_reduce_op_t op;
	bl_tensor_t *out;
	int axis = 0;

	int rc = reduce_op(run, &op);
	bool along = kernel_arg_axis(run->params, "axis", &axis);
	if (rc == 0)
		rc = bl_gpu_reduce(launch, &out, op, kernel_in(run, "x"), axis, !along, &run->error);
	if (rc < 0)
		return rc;
	kernel_set_out(run, "out", out);
	return 0;
}

static int compute_softmax(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_tensor_t *out;

	int rc = bl_cpu_softmax(&out, kernel_in(run, "x"), &err);
	if (rc < 0)
		return fail(run, rc, &err);
	kernel_set_out(run, "out", out);
	return 0;
}

static int gpu_softmax(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_tensor_t *out;
	int rc = bl_gpu_softmax(launch, &out, kernel_in(run, "x"), &run->error);
	if (rc < 0)
		return rc;
	kernel_set_out(run, "out", out);
	return 0;
}

/* The histogram's metrics, from its counts. */
static int histogram_after(kernel_run_t *run)
{
	const bl_tensor_t *counts = run->out[0];
	int64_t counted = 0;
	for (size_t i = 0; i < counts->count; i++)
		counted += ((const int64_t *)counts->data)[i];
	json_object_set_new(run->metrics, "counted", json_integer(counted));
	json_object_set_new(run->metrics, "elements", json_integer((json_int_t)kernel_in(run, "x")->count));
	return 0;
}

static int gpu_histogram(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_tensor_t *counts, *edges;
	double lo = 0, hi = 0;

	bool range = kernel_arg_range(run->params, "range", &lo, &hi);
	size_t bins = (size_t)kernel_arg_number(run->params, "bins", 10);
	int rc = bl_gpu_histogram(launch, &counts, &edges, kernel_in(run, "x"), bins, range, lo, hi, &run->error);
	if (rc < 0)
		return rc;
	kernel_set_out(run, "counts", counts);
	kernel_set_out(run, "edges", edges);
	return 0;
}

static int compute_histogram(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_tensor_t *counts, *edges;
	double lo = 0, hi = 0;

	bool range = kernel_arg_range(run->params, "range", &lo, &hi);
	size_t bins = (size_t)kernel_arg_number(run->params, "bins", 10);
	int rc = bl_cpu_histogram(&counts, &edges, kernel_in(run, "x"), bins, range, lo, hi, &err);
	if (rc < 0)
		return fail(run, rc, &err);

	kernel_set_out(run, "counts", counts);
	kernel_set_out(run, "edges", edges);
	return histogram_after(run);
}

static int compute_pairwise_l2(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_tensor_t *out;

	int rc = bl_cpu_pairwise_l2(&out, kernel_in(run, "x"), kernel_in(run, "y"),
				    kernel_arg_bool(run->params, "squared", false), run->env->cancel, &err);
	if (rc < 0)
		return fail(run, rc, &err);
	kernel_set_out(run, "distances", out);
	return 0;
}

static int gpu_pairwise_l2(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_tensor_t *out;
	int rc = bl_gpu_pairwise_l2(launch, &out, kernel_in(run, "x"), kernel_in(run, "y"),
				    kernel_arg_bool(run->params, "squared", false), &run->error);
	if (rc < 0)
		return rc;
	kernel_set_out(run, "distances", out);
	return 0;
}

static int compute_topk(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_tensor_t *values, *indices;

	int rc = bl_cpu_topk(&values, &indices, kernel_in(run, "x"), (size_t)kernel_arg_number(run->params, "k", 1),
			     kernel_arg_bool(run->params, "largest", true), &err);
	if (rc < 0)
		return fail(run, rc, &err);
	kernel_set_out(run, "values", values);
	kernel_set_out(run, "indices", indices);
	return 0;
}

static int gpu_topk(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_tensor_t *values, *indices;
	int rc = bl_gpu_topk(launch, &values, &indices, kernel_in(run, "x"), (size_t)kernel_arg_number(run->params, "k", 1),
			     kernel_arg_bool(run->params, "largest", true), &run->error);
	if (rc < 0)
		return rc;
	kernel_set_out(run, "values", values);
	kernel_set_out(run, "indices", indices);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* k-means and k-NN, scored against labels when the job gives them           */
/* ------------------------------------------------------------------------ */

bl_kmeans_args_t kernel_kmeans_args(const kernel_run_t *run)
{
	return (bl_kmeans_args_t){
		.k = (size_t)kernel_arg_number(run->params, "k", 1),
		.max_iterations = (unsigned)kernel_arg_number(run->params, "max_iterations", 300),
		.tolerance = kernel_arg_number(run->params, "tolerance", 1e-4),
		.seed = (uint64_t)kernel_arg_number(run->params, "seed", 0),
		.starts = (unsigned)kernel_arg_number(run->params, "starts", 10),
	};
}

/* Report a finished k-means in run->kmeans: metrics, the adjusted Rand
 * index against y when given, and the outputs, which take its tensors. */
static int kmeans_after(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_kmeans_result_t *r = &run->kmeans;

	json_object_set_new(run->metrics, "inertia", json_real(r->inertia));
	json_object_set_new(run->metrics, "iterations", json_integer(r->iterations));
	const bl_tensor_t *y = kernel_in(run, "y");
	if (y) {
		double ari;
		int rc = bl_adjusted_rand_index(&ari, r->labels, y, &err);
		if (rc < 0) {
			snprintf(err.field, sizeof err.field, "params.inputs.y");
			return fail(run, rc, &err);
		}
		json_object_set_new(run->metrics, "adjusted_rand_index", json_real(ari));
	}

	kernel_set_out(run, "centroids", r->centroids);
	kernel_set_out(run, "labels", r->labels);
	r->centroids = r->labels = NULL;
	return 0;
}

static int compute_kmeans(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_kmeans_args_t args = kernel_kmeans_args(run);

	int rc = bl_cpu_kmeans(&run->kmeans, kernel_in(run, "x"), &args, run->env->cancel, &err);
	if (rc < 0)
		return fail(run, rc, &err);
	return kmeans_after(run);
}

static int gpu_kmeans(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_kmeans_args_t args = kernel_kmeans_args(run);
	int rc = bl_gpu_kmeans(launch, &run->kmeans, kernel_in(run, "x"), &args, run->env->cancel, &run->error);
	return rc < 0 ? rc : 0;
}

/* Score the predictions against test_y when the job gives it. */
static int knn_after(kernel_run_t *run)
{
	bl_error_t err = {0};
	const bl_tensor_t *predictions = run->out[0];
	const bl_tensor_t *truth = kernel_in(run, "test_y");
	if (!truth)
		return 0;
	if (truth->count != predictions->count)
		return fail(run, bl_error_set(&err, BL_EINVAL, "params.inputs.test_y",
					      "test_y has %zu labels for %zu test rows", truth->count, predictions->count),
			    &err);

	size_t correct = 0;
	for (size_t i = 0; i < truth->count; i++)
		correct += bl_tensor_get(truth, i) == bl_tensor_get(predictions, i);
	json_object_set_new(run->metrics, "correct", json_integer((json_int_t)correct));
	json_object_set_new(run->metrics, "total", json_integer((json_int_t)truth->count));
	json_object_set_new(run->metrics, "accuracy", json_real(truth->count ? (double)correct / (double)truth->count : 0));
	return 0;
}

static int compute_knn(kernel_run_t *run)
{
	bl_error_t err = {0};
	bl_tensor_t *predictions;

	int rc = bl_cpu_knn(&predictions, kernel_in(run, "train_x"), kernel_in(run, "train_y"), kernel_in(run, "test_x"),
			    (size_t)kernel_arg_number(run->params, "k", 5), run->env->cancel, &err);
	if (rc < 0)
		return fail(run, rc, &err);
	kernel_set_out(run, "predictions", predictions);
	return knn_after(run);
}

static int gpu_knn(kernel_run_t *run, bl_gpu_launch_t *launch)
{
	bl_tensor_t *predictions;
	int rc = bl_gpu_knn(launch, &predictions, kernel_in(run, "train_x"), kernel_in(run, "train_y"),
			    kernel_in(run, "test_x"), (size_t)kernel_arg_number(run->params, "k", 5), &run->error);
	if (rc < 0)
		return rc;
	kernel_set_out(run, "predictions", predictions);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */
/* ------------------------------------------------------------------------ */

#define ARGS(list) list, sizeof list / sizeof *list
#define BIG 1e30

static const arg_spec_t sgemm_args[] = {
	{"alpha", ARG_DOUBLE, -BIG, BIG, false},
	{"beta", ARG_DOUBLE, -BIG, BIG, false},
	{"trans_a", ARG_BOOL, 0, 0, false},
	{"trans_b", ARG_BOOL, 0, 0, false},
};
static const arg_spec_t map_args[] = {{"op", ARG_NAME, 0, 0, true}, {"scalar", ARG_DOUBLE, -BIG, BIG, false}};
static const arg_spec_t reduce_args[] = {{"op", ARG_NAME, 0, 0, true}, {"axis", ARG_AXIS, 0, 0, false}};
static const arg_spec_t histogram_args[] = {{"bins", ARG_UINT, 1, 1e7, false}, {"range", ARG_RANGE, 0, 0, false}};
static const arg_spec_t pairwise_args[] = {{"squared", ARG_BOOL, 0, 0, false}};
static const arg_spec_t topk_args[] = {{"k", ARG_UINT, 1, 1e9, true}, {"largest", ARG_BOOL, 0, 0, false}};
static const arg_spec_t kmeans_args[] = {
	{"k", ARG_UINT, 1, 1e6, true},
	{"max_iterations", ARG_UINT, 1, 1e6, false},
	{"tolerance", ARG_DOUBLE, 0, BIG, false},
	{"seed", ARG_UINT, 0, 9007199254740991.0, false},
	{"starts", ARG_UINT, 1, 1000, false},
};
static const arg_spec_t knn_args[] = {{"k", ARG_UINT, 1, 1e6, true}};
static const arg_spec_t no_args[] = {{"", ARG_BOOL, 0, 0, false}};

#define GPU(enqueue, after, work, bytes) enqueue, after, work, bytes

static const kernel_spec_t specs[] = {
	{"noop", {NULL}, 0, {NULL}, no_args, 0, compute_noop,
	 GPU(gpu_noop, NULL, kernel_work_elements, kernel_bytes_inputs)},
	{"sgemm", {"a", "b", "c", NULL}, 2, {"c", NULL}, ARGS(sgemm_args), compute_sgemm,
	 GPU(gpu_sgemm, NULL, kernel_work_sgemm, kernel_bytes_sgemm)},
	{"map", {"x", "y", NULL}, 1, {"out", NULL}, ARGS(map_args), compute_map,
	 GPU(gpu_map, NULL, kernel_work_elements, kernel_bytes_inputs)},
	{"reduce", {"x", NULL}, 1, {"out", NULL}, ARGS(reduce_args), compute_reduce,
	 GPU(gpu_reduce, NULL, kernel_work_elements, kernel_bytes_inputs)},
	{"softmax", {"x", NULL}, 1, {"out", NULL}, no_args, 0, compute_softmax,
	 GPU(gpu_softmax, NULL, kernel_work_elements, kernel_bytes_inputs)},
	{"histogram", {"x", NULL}, 1, {"counts", "edges", NULL}, ARGS(histogram_args), compute_histogram,
	 GPU(gpu_histogram, histogram_after, kernel_work_elements, kernel_bytes_inputs)},
	{"pairwise_l2", {"x", "y", NULL}, 1, {"distances", NULL}, ARGS(pairwise_args), compute_pairwise_l2,
	 GPU(gpu_pairwise_l2, NULL, kernel_work_pairwise, kernel_bytes_pairwise)},
	{"topk", {"x", NULL}, 1, {"values", "indices", NULL}, ARGS(topk_args), compute_topk,
	 GPU(gpu_topk, NULL, kernel_work_elements, kernel_bytes_inputs)},
	{"kmeans", {"x", "y", NULL}, 1, {"centroids", "labels", NULL}, ARGS(kmeans_args), compute_kmeans,
	 GPU(gpu_kmeans, kmeans_after, kernel_work_kmeans, kernel_bytes_inputs)},
	{"knn", {"train_x", "train_y", "test_x", "test_y"}, 3, {"predictions", NULL}, ARGS(knn_args), compute_knn,
	 GPU(gpu_knn, knn_after, kernel_work_knn, kernel_bytes_inputs)},
};

const kernel_spec_t *kernel_spec_find(const char *name)
{
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		if (strcmp(specs[i].name, name) == 0)
			return &specs[i];
	}
	return NULL;
}
