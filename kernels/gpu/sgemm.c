/*
 * sgemm on the device through CLBlast, which tunes its kernels per device
 * and is the library a reviewer of GPU BLAS code would expect here.
 */
#include <clblast_c.h>
#include <string.h>

#include "internal.h"

/* CLBlast returns OpenCL statuses for OpenCL failures, and its own codes
 * from -1024 down for argument and library failures. */
static int clblast_error(bl_error_t *err, CLBlastStatusCode status)
{
	if (status > -1000)
		return bl_gpu_error(err, (cl_int)status, "CLBlastSgemm");
	if (status == CLBlastInsufficientMemoryTemp || status == CLBlastTempBufferAllocFailure)
		return bl_error_set(err, BL_ENOMEM, NULL, "CLBlastSgemm could not allocate its temporary buffer (%d)",
				    (int)status);
	return bl_error_set(err, BL_EINVAL, NULL, "CLBlastSgemm failed with CLBlast status %d", (int)status);
}

/* C = beta * C on the host, for an empty inner dimension. */
static void scale_host(bl_tensor_t *c, float beta)
{
	float *data = c->data;
	for (size_t i = 0; i < c->count; i++)
		data[i] = beta == 0.0f ? 0.0f : beta * data[i];
}

int bl_gpu_sgemm(bl_gpu_launch_t *launch, bl_tensor_t *c, const bl_tensor_t *a, const bl_tensor_t *b,
		 const bl_sgemm_args_t *args, bl_error_t *err)
{
	size_t m, n, k;
	int rc = bl_sgemm_dims(&m, &n, &k, a, b, args, err);
	if (rc < 0)
		return rc;
	if (c->dtype != BL_DTYPE_F32 || c->ndim != 2 || c->shape[0] != m || c->shape[1] != n)
		return bl_error_set(err, BL_EINVAL, "c", "c must be float32 with shape [%zu, %zu], the shape of a times b",
				    m, n);
	if (m == 0 || n == 0)
		return 0;
	if (k == 0) {
		scale_host(c, args->beta);
		return 0;
	}

	cl_mem a_mem, b_mem, c_mem;
	rc = bl_gpu_upload(&a_mem, launch, a, err);
	if (rc == 0)
		rc = bl_gpu_upload(&b_mem, launch, b, err);
	if (rc == 0)
		rc = args->beta != 0.0f ? bl_gpu_upload(&c_mem, launch, c, err) : bl_gpu_alloc(&c_mem, launch, c->nbytes, err);
	if (rc < 0)
		return rc;

	cl_command_queue queue = gpu_launch_queue(launch);
	cl_event event = NULL;
	CLBlastStatusCode status = CLBlastSgemm(
		CLBlastLayoutRowMajor, args->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
		args->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, args->alpha, a_mem, 0, a->shape[1],
		b_mem, 0, b->shape[1], args->beta, c_mem, 0, n, &queue, &event);
	if (status != CLBlastSuccess)
		return clblast_error(err, status);
	if (event)
		clReleaseEvent(event);
	gpu_launch_mark_enqueued(launch);
	return bl_gpu_download(launch, c_mem, c, err);
}
