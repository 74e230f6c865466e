/*
 * Top-k selection on the device: checks as bl_cpu_topk, then one run of
 * topk.cl with one work item per row. Floating rows are compared in
 * their own dtype; integer rows go to the device as int64 and are
 * compared as integers, as on the CPU.
 *
 * TODO(kernels/gpu): one work item per row leaves a 1-D input, or a few
 * long rows, to a handful of work items: a row of n elements costs
 * O(n log k) on one of them. Many rows use the device well. Splitting a
 * row over a work-group and merging partial heaps would fix it.
 */
#include <stdlib.h>

#include "cpu/topk.h"
#include "enqueue.h"

/* topk.cl built for int64 rows. */
static const gpu_real_t int64_real = {BL_DTYPE_I64, "-DREAL=long -DREAL_INTEGER"};

/* What the host step of an int32 top-k needs: the input, and the result
 * to fill. */
typedef struct gather_job {
	const bl_tensor_t *x;
	const bl_tensor_t *indices;
	bl_tensor_t *values;
	size_t n;
} gather_job_t;

/* Copy the selected int32 elements into the values, by the downloaded
 * indices. The device computed int64 values, which are not downloaded. */
static int gather_int32(bl_gpu_launch_t *launch, void *arg, bl_error_t *err)
{
	(void)launch;
	(void)err;
	const gather_job_t *job = arg;
	const int64_t *indices = job->indices->data;
	const int32_t *x = job->x->data;
	int32_t *values = job->values->data;
	size_t k = job->values->shape[job->values->ndim - 1];

	for (size_t i = 0; i < job->values->count; i++)
		values[i] = x[(i / k) * job->n + (size_t)indices[i]];
	return 0;
}

/* Register gather_int32 to fill `v` once the indices are downloaded. */
static int then_gather_int32(bl_gpu_launch_t *launch, const bl_tensor_t *x, const bl_tensor_t *ix, bl_tensor_t *v,
			     bl_error_t *err)
{
	gather_job_t *job = malloc(sizeof *job);
	if (!job)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for the top-k host step");
	*job = (gather_job_t){x, ix, v, x->shape[x->ndim - 1]};
	if (gpu_launch_keep(launch, job, free) < 0)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for the top-k host step");
	return bl_gpu_launch_then(launch, gather_int32, job, err);
}

/* Upload x, run the selection into device buffers and download them into
 * v and ix (for int32 rows, the values come from the host step). */
static int enqueue(bl_gpu_launch_t *launch, bl_tensor_t *v, bl_tensor_t *ix, const gpu_real_t *real,
		   const bl_tensor_t *x, size_t rows, size_t k, bool largest, bl_error_t *err)
{
	cl_mem x_buf;
	int rc = gpu_upload_as(&x_buf, launch, x, real->dtype, err);
	if (rc < 0)
		return rc;
	cl_mem values_buf;
	cl_mem indices_buf;
	size_t elem = bl_dtype_size(real->dtype);
	if ((rc = bl_gpu_alloc(&values_buf, launch, ix->count * elem, err)) < 0 ||
	    (rc = bl_gpu_alloc(&indices_buf, launch, ix->nbytes, err)) < 0)
		return rc;
	cl_kernel kernel;
	rc = gpu_kernel_for(&kernel, launch, "topk.cl", real, "topk", err);
	if (rc < 0)
		return rc;

	cl_ulong rows_arg = rows;
	cl_ulong n = x->shape[x->ndim - 1];
	cl_ulong k_arg = k;
	cl_int largest_arg = largest;
	gpu_arg_value_t args[] = {GPU_ARG(x_buf),	GPU_ARG(rows_arg),   GPU_ARG(n),	  GPU_ARG(k_arg),
				  GPU_ARG(largest_arg), GPU_ARG(values_buf), GPU_ARG(indices_buf)};
	rc = gpu_args(kernel, args, sizeof args / sizeof *args, err);
	if (rc < 0)
		return rc;
	rc = gpu_run_items(launch, kernel, rows, err);
	if (rc < 0)
		return rc;

	rc = bl_gpu_download(launch, indices_buf, ix, err);
	if (rc < 0)
		return rc;
	if (x->dtype == BL_DTYPE_I32)
		return then_gather_int32(launch, x, ix, v, err);
	return bl_gpu_download(launch, values_buf, v, err);
}

int bl_gpu_topk(bl_gpu_launch_t *launch, bl_tensor_t **values, bl_tensor_t **indices, const bl_tensor_t *x,
		size_t k, bool largest, bl_error_t *err)
{
	int rc = bl__topk_check_args(x, k, err);
	if (rc < 0)
		return rc;
	gpu_real_t real = int64_real;
	bool floating = x->dtype == BL_DTYPE_F32 || x->dtype == BL_DTYPE_F64;
	if (floating && (rc = gpu_real_for(&real, launch, &x, 1, err)) < 0)
		return rc;
	size_t rows = x->ndim == 2 ? x->shape[0] : 1;

	size_t shape[2] = {rows, k};
	const size_t *out_shape = x->ndim == 2 ? shape : &shape[1];
	bl_tensor_t *v;
	bl_tensor_t *ix;
	rc = bl_tensor_new(&v, x->dtype, x->ndim, out_shape, err);
	if (rc < 0)
		return rc;
	rc = bl_tensor_new(&ix, BL_DTYPE_I64, x->ndim, out_shape, err);
	if (rc < 0)
		goto err_free_values;
	if (rows > 0) {
		rc = enqueue(launch, v, ix, &real, x, rows, k, largest, err);
		if (rc < 0)
			goto err_free_indices;
	}
	*values = v;
	*indices = ix;
	return 0;

err_free_indices:
	bl_tensor_free(&ix);
err_free_values:
	bl_tensor_free(&v);
	return rc;
}
