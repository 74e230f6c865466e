/*
 * The empty kernel, which measures what a launch costs by itself.
 */
#include "internal.h"

int bl_gpu_noop(bl_gpu_launch_t *launch, bl_error_t *err)
{
	static const gpu_real_t plain = {BL_DTYPE_F32, ""};
	cl_kernel kernel;

	int rc = gpu_kernel_for(&kernel, launch, "noop.cl", &plain, "noop", err);
	if (rc < 0)
		return rc;
	return bl_gpu_run(launch, kernel, 1, (size_t[]){1}, (size_t[]){1}, err);
}
