/*
 * Elementwise ops on the device: checks as bl_cpu_map, then one launch of
 * map.cl over every element.
 */
#include <math.h>
#include <stdio.h>

#include "cpu/checks.h"
#include "grid.h"

/* Upload the inputs, run map_elements over x's elements into a device
 * buffer and download it into t. x must not be empty.
 *
 * SCALE multiplies by mantissa * 2^exponent. In float32 the scalar is
 * split that way, so a float64 scalar outside float range (1e39, 1e-50)
 * still gives what the CPU gives, which multiplies in double and rounds
 * once. Infinity and NaN stay whole, so 0 * inf is NaN on both. */
static int enqueue_map(bl_gpu_launch_t *launch, bl_tensor_t *t, const gpu_real_t *real, bl_map_op_t op,
		       const bl_tensor_t *x, const bl_tensor_t *y, double scalar, bl_error_t *err)
{
	cl_mem x_buf;
	cl_mem y_buf;
	cl_mem out_buf;
	int rc = gpu_upload_as(&x_buf, launch, x, real->dtype, err);
	if (rc < 0)
		return rc;
	y_buf = x_buf;
	if (bl__map_is_binary(op))
		rc = gpu_upload_as(&y_buf, launch, y, real->dtype, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&out_buf, launch, t->nbytes, err);
	if (rc < 0)
		return rc;

	int exponent = 0;
	double mantissa = scalar;
	if (real->dtype == BL_DTYPE_F32 && isfinite(scalar))
		mantissa = frexp(scalar, &exponent);
	/* One program per op and broadcast form; see map.cl. */
	char options[96];
	bool broadcast = bl__map_is_binary(op) && y->count == 1;
	snprintf(options, sizeof options, "%s -DMAP_OP=%d -DY_BROADCAST=%d", real->options, (int)op, (int)broadcast);
	const gpu_real_t program = {real->dtype, options};

	gpu_real_arg_t box;
	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(x_buf),
		GPU_ARG_MEM(y_buf),
		GPU_ARG_ULONG(x->count),
		gpu_arg_real(&box, real, mantissa),
		GPU_ARG_INT(exponent),
		GPU_ARG_MEM(out_buf),
	};
	size_t groups = (x->count + GPU_LOCAL_1D - 1) / GPU_LOCAL_1D;
	rc = gpu_run_kernel(launch, "map.cl", &program, "map_elements", args, GPU_ARG_COUNT(args), groups, err);
	if (rc < 0)
		return rc;
	return bl_gpu_download(launch, out_buf, t, err);
}

int bl_gpu_map(bl_gpu_launch_t *launch, bl_tensor_t **out, bl_map_op_t op, const bl_tensor_t *x,
	       const bl_tensor_t *y, double scalar, bl_error_t *err)
{
	int rc = bl__map_check(op, x, y, err);
	if (rc < 0)
		return rc;
	const bl_tensor_t *inputs[] = {x, bl__map_is_binary(op) ? y : NULL};
	gpu_real_t real;
	rc = gpu_real_for(&real, launch, inputs, 2, err);
	if (rc < 0)
		return rc;

	bl_tensor_t *t;
	rc = bl_tensor_new(&t, real.dtype, x->ndim, x->shape, err);
	if (rc < 0)
		return rc;
	if (x->count > 0)
		rc = enqueue_map(launch, t, &real, op, x, y, scalar, err);
	if (rc < 0) {
		bl_tensor_free(&t);
		return rc;
	}
	*out = t;
	return 0;
}
