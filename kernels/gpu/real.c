/*
 * Helpers of the device kernels: the floating type, converted uploads,
 * bundled kernels and their arguments.
 */
#include <stdio.h>

#include "device.h"

int gpu_real_for(gpu_real_t *out, const bl_gpu_launch_t *launch, const bl_tensor_t *const *inputs, size_t count,
		 bl_error_t *err)
{
	bool all_f32 = true;
	for (size_t i = 0; i < count; i++)
		if (inputs[i] && inputs[i]->dtype != BL_DTYPE_F32)
			all_f32 = false;

	if (all_f32) {
		*out = (gpu_real_t){BL_DTYPE_F32, "-DREAL=float"};
		return 0;
	}
	if (!bl_gpu_has_fp64(gpu_launch_device(launch)))
		return bl_error_set(err, BL_EINVAL, "params.device",
				    "this kernel computes in float64 for non-float32 inputs, and the OpenCL device "
				    "has no double precision (cl_khr_fp64); pass float32 inputs or use device \"cpu\"");
	*out = (gpu_real_t){BL_DTYPE_F64, "-DREAL=double -DREAL_FP64"};
	return 0;
}

static void free_tensor(void *p)
{
	bl_tensor_t *t = p;
	bl_tensor_free(&t);
}

int gpu_upload_as(cl_mem *out, bl_gpu_launch_t *launch, const bl_tensor_t *t, bl_dtype_t dtype, bl_error_t *err)
{
	if (t->dtype == dtype)
		return bl_gpu_upload(out, launch, t, err);

	bl_tensor_t *copy = NULL;
	int rc = bl_tensor_convert(&copy, t, dtype, err);
	if (rc < 0)
		return rc;
	rc = gpu_launch_keep(launch, copy, free_tensor);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "out of memory converting an input");
	return bl_gpu_upload(out, launch, copy, err);
}

int gpu_kernel_for(cl_kernel *out, bl_gpu_launch_t *launch, const char *file, const gpu_real_t *real,
		   const char *name, bl_error_t *err)
{
	const char *source = bl_gpu_source(file);
	if (!source)
		return bl_error_set(err, BL_EINVAL, NULL, "no bundled OpenCL source named '%s'", file);

	cl_program program;
	double ms = 0;
	int rc = bl_gpu_program(&program, gpu_launch_device(launch), source, real->options, &ms, err);
	gpu_launch_add_compile_ms(launch, ms);
	if (rc < 0) {
		bl_error_prefix(err, "%s: ", file);
		return rc;
	}
	return bl_gpu_kernel(out, launch, program, name, err);
}

int gpu_arg(cl_kernel kernel, cl_uint index, size_t size, const void *value, bl_error_t *err)
{
	cl_int status = clSetKernelArg(kernel, index, size, value);
	if (status == CL_SUCCESS)
		return 0;

	char name[128] = "a kernel", what[192];
	clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
	name[sizeof name - 1] = '\0';
	snprintf(what, sizeof what, "clSetKernelArg(%s, %u)", name, (unsigned)index);
	return bl_gpu_error(err, status, what);
}
