/*
 * Helpers for enqueuing one kernel run: setting a kernel's arguments in
 * one call, and running a 1-D kernel over a number of items.
 */
#ifndef BL_KERNELS_GPU_ENQUEUE_H
#define BL_KERNELS_GPU_ENQUEUE_H

#include "internal.h"

/* One kernel argument: its size and a pointer to its value. */
typedef struct gpu_arg_value {
	size_t size;
	const void *value;
} gpu_arg_value_t;

/* The argument stored in the variable `v` (a cl_mem, cl_ulong, cl_int...). */
#define GPU_ARG(v) ((gpu_arg_value_t){sizeof(v), &(v)})

/* Set arguments 0 to count - 1 of `kernel`. Returns 0, or the error of
 * the first argument that failed. */
static inline int gpu_args(cl_kernel kernel, const gpu_arg_value_t *args, cl_uint count, bl_error_t *err)
{
	for (cl_uint i = 0; i < count; i++) {
		int rc = gpu_arg(kernel, i, args[i].size, args[i].value, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Enqueue a 1-D run of `kernel` with one work item per item, in
 * work-groups of GPU_LOCAL_1D; 0 items enqueue nothing. */
static inline int gpu_run_items(bl_gpu_launch_t *launch, cl_kernel kernel, size_t items, bl_error_t *err)
{
	size_t local = GPU_LOCAL_1D;
	return bl_gpu_run(launch, kernel, 1, &items, &local, err);
}

#endif
