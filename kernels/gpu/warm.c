/*
 * Warming a device: every bundled kernel runs once on small inputs, so its
 * program is built and cached on disk, and the driver compiles what it
 * compiles at first launch (PoCL: a work-group function per local size).
 * A later process then starts its first job without those seconds.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

/* The inputs every warm-up run shares, in one dtype. */
typedef struct warm_inputs {
	bl_tensor_t *matrix; /* 37 x 5 */
	bl_tensor_t *labels; /* 37, int64 */
	bl_tensor_t *square; /* 64 x 64, float32 only */
} warm_inputs_t;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int fill(bl_tensor_t **out, bl_dtype_t dtype, unsigned ndim, const size_t *shape)
{
	int rc = bl_tensor_new(out, dtype, ndim, shape, NULL);
	for (size_t i = 0; rc == 0 && i < (*out)->count; i++) {
		double v = sin((double)i * 0.7) * 3.0;
		if (dtype == BL_DTYPE_F32)
			((float *)(*out)->data)[i] = (float)v;
		else if (dtype == BL_DTYPE_F64)
			((double *)(*out)->data)[i] = v;
		else
			((int64_t *)(*out)->data)[i] = (int64_t)(i % 3);
	}
	return rc;
}

static void free_inputs(warm_inputs_t *in)
{
	bl_tensor_free(&in->matrix);
	bl_tensor_free(&in->labels);
	bl_tensor_free(&in->square);
}

static int make_inputs(warm_inputs_t *in, bl_dtype_t dtype)
{
	int rc = fill(&in->matrix, dtype, 2, (size_t[]){37, 5});
	if (rc == 0)
		rc = fill(&in->labels, BL_DTYPE_I64, 1, (size_t[]){37});
	if (rc == 0)
		rc = fill(&in->square, BL_DTYPE_F32, 2, (size_t[]){64, 64});
	return rc;
}

enum { WARM_KERNELS = 10 };

/* Enqueue kernel number `which` (0 .. WARM_KERNELS - 1) on `launch`; its
 * outputs go to `outputs` from *count on, which the caller frees after the
 * launch. Kernels with host steps each need a launch of their own. */
static int enqueue_one(bl_gpu_launch_t *launch, int which, const warm_inputs_t *in, bl_tensor_t **outputs,
		       size_t *count, bl_kmeans_result_t *km, bl_error_t *err)
{
	const bl_tensor_t *x = in->matrix;
	bl_tensor_t **out = outputs + *count;
	int rc = 0;

	switch (which) {
	case 0:
		for (int op = BL_MAP_ADD; rc == 0 && op <= BL_MAP_EXP; op++)
			rc = bl_gpu_map(launch, &out[op], (bl_map_op_t)op, x, x, 2.0, err);
		*count += BL_MAP_EXP + 1;
		return rc;
	case 1:
		for (int op = BL_REDUCE_SUM; rc == 0 && op <= BL_REDUCE_MEAN; op++)
			rc = bl_gpu_reduce(launch, &out[op], (bl_reduce_op_t)op, x, 0, false, err);
		*count += BL_REDUCE_MEAN + 1;
		return rc;
	case 2:
		*count += 1;
		return bl_gpu_reduce(launch, &out[0], BL_REDUCE_SUM, x, 0, true, err);
	case 3:
		*count += 1;
		return bl_gpu_softmax(launch, &out[0], x, err);
	case 4:
		*count += 2;
		return bl_gpu_histogram(launch, &out[0], &out[1], x, 16, false, 0, 0, err);
	case 5:
		*count += 1;
		return bl_gpu_pairwise_l2(launch, &out[0], x, NULL, false, err);
	case 6:
		*count += 2;
		return bl_gpu_topk(launch, &out[0], &out[1], x, 2, true, err);
	case 7:
		*count += 1;
		return bl_gpu_knn(launch, &out[0], x, in->labels, x, 3, err);
	case 8:
		return bl_gpu_kmeans(launch, km, x, &(bl_kmeans_args_t){3, 5, 1e-4, 1, 1}, NULL, err);
	default:
		return bl_gpu_noop(launch, err);
	}
}

/* Run one warm-up launch to its end. */
static int run_one(bl_gpu_t *gpu, int which, const warm_inputs_t *in, bl_tensor_t **outputs, size_t *count,
		   bl_error_t *err)
{
	bl_gpu_launch_t *launch = NULL;
	bl_kmeans_result_t km = {0};

	int rc = bl_gpu_launch_new(&launch, gpu, "", 0, err);
	if (rc == 0)
		rc = enqueue_one(launch, which, in, outputs, count, &km, err);
	if (rc == 0)
		rc = bl_gpu_launch_wait(launch, err);
	bl_gpu_launch_free(&launch);
	bl_kmeans_result_free(&km);
	return rc;
}

/* sgemm through CLBlast, float32 only. */
static int run_sgemm(bl_gpu_t *gpu, const warm_inputs_t *in, bl_error_t *err)
{
	bl_gpu_launch_t *launch = NULL;
	bl_tensor_t *c = NULL;

	int rc = fill(&c, BL_DTYPE_F32, 2, (size_t[]){64, 64}) < 0 ? bl_error_set(err, BL_ENOMEM, NULL, "out of memory")
								   : bl_gpu_launch_new(&launch, gpu, "", 0, err);
	if (rc == 0)
		rc = bl_gpu_sgemm(launch, c, in->square, in->square, &(bl_sgemm_args_t){1, 0, false, false}, err);
	if (rc == 0)
		rc = bl_gpu_launch_wait(launch, err);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&c);
	return rc;
}

/* Warm the kernels in one dtype; sets the milliseconds it took. */
static int warm_dtype(double *ms, bl_gpu_t *gpu, bl_dtype_t dtype, bl_error_t *err)
{
	warm_inputs_t in = {0};
	bl_tensor_t *outputs[32] = {0};
	size_t count = 0;
	double started = now_ms();

	int rc = make_inputs(&in, dtype) < 0 ? bl_error_set(err, BL_ENOMEM, NULL, "out of memory") : 0;
	for (int which = 0; rc == 0 && which < WARM_KERNELS; which++)
		rc = run_one(gpu, which, &in, outputs, &count, err);
	if (rc == 0 && dtype == BL_DTYPE_F32)
		rc = run_sgemm(gpu, &in, err);

	for (size_t i = 0; i < count; i++)
		bl_tensor_free(&outputs[i]);
	free_inputs(&in);
	*ms = now_ms() - started;
	return rc;
}

int bl_gpu_warm(bl_gpu_t *gpu, double *f32_ms, double *f64_ms, bl_error_t *err)
{
	*f64_ms = 0;
	int rc = warm_dtype(f32_ms, gpu, BL_DTYPE_F32, err);
	if (rc == 0 && bl_gpu_has_fp64(gpu))
		rc = warm_dtype(f64_ms, gpu, BL_DTYPE_F64, err);
	return rc;
}
