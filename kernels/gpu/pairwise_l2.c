/*
 * Pairwise Euclidean distances on the device: checks as
 * bl_cpu_pairwise_l2, then one run of pairwise_l2.cl over the n x m
 * result in tiles of PAIRWISE_TILE x PAIRWISE_TILE.
 */
#include "cpu/pairwise_l2.h"
#include "enqueue.h"

/* The tile edge of pairwise_l2.cl, which requires this local size. */
#define PAIRWISE_TILE 16u

/* Upload x and y (the same buffer when y is x), run the kernel into a
 * device buffer and download it into t. No input may be empty. */
static int enqueue(bl_gpu_launch_t *launch, bl_tensor_t *t, const gpu_real_t *real, const bl_tensor_t *x,
		   const bl_tensor_t *y, bool squared, bl_error_t *err)
{
	cl_mem x_buf;
	int rc = gpu_upload_as(&x_buf, launch, x, real->dtype, err);
	if (rc < 0)
		return rc;
	cl_mem y_buf = x_buf;
	if (y != x) {
		rc = gpu_upload_as(&y_buf, launch, y, real->dtype, err);
		if (rc < 0)
			return rc;
	}
	cl_mem out_buf;
	rc = bl_gpu_alloc(&out_buf, launch, t->nbytes, err);
	if (rc < 0)
		return rc;
	cl_kernel kernel;
	rc = gpu_kernel_for(&kernel, launch, "pairwise_l2.cl", real, "pairwise_l2", err);
	if (rc < 0)
		return rc;

	cl_ulong n = x->shape[0];
	cl_ulong m = y->shape[0];
	cl_ulong d = x->shape[1];
	cl_int squared_arg = squared;
	gpu_arg_value_t args[] = {GPU_ARG(x_buf), GPU_ARG(y_buf), GPU_ARG(n), GPU_ARG(m),
				  GPU_ARG(d), GPU_ARG(squared_arg), GPU_ARG(out_buf)};
	rc = gpu_args(kernel, args, sizeof args / sizeof *args, err);
	if (rc < 0)
		return rc;

	size_t global[2] = {y->shape[0], x->shape[0]};
	size_t local[2] = {PAIRWISE_TILE, PAIRWISE_TILE};
	rc = bl_gpu_run(launch, kernel, 2, global, local, err);
	if (rc < 0)
		return rc;
	return bl_gpu_download(launch, out_buf, t, err);
}

int bl_gpu_pairwise_l2(bl_gpu_launch_t *launch, bl_tensor_t **out, const bl_tensor_t *x, const bl_tensor_t *y,
		       bool squared, bl_error_t *err)
{
	if (!y)
		y = x;
	int rc = bl__pairwise_l2_check_args(x, y, err);
	if (rc < 0)
		return rc;
	const bl_tensor_t *inputs[2] = {x, y};
	gpu_real_t real;
	rc = gpu_real_for(&real, launch, inputs, 2, err);
	if (rc < 0)
		return rc;

	size_t shape[2] = {x->shape[0], y->shape[0]};
	bl_tensor_t *t;
	rc = bl_tensor_new(&t, real.dtype, 2, shape, err);
	if (rc < 0)
		return rc;

	/* An empty result needs no work, and rows of width 0 are all at
	 * distance 0, which the zeroed tensor already holds. */
	if (t->count > 0 && x->shape[1] > 0) {
		rc = enqueue(launch, t, &real, x, y, squared, err);
		if (rc < 0) {
			bl_tensor_free(&t);
			return rc;
		}
	}
	*out = t;
	return 0;
}
