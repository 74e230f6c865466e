/*
 * Shared helpers of the device kernels: choosing float or double, converting
 * and uploading inputs, fetching a kernel of a bundled program, and
 * keeping host memory alive until a launch is freed.
 */
#ifndef BL_KERNELS_GPU_INTERNAL_H
#define BL_KERNELS_GPU_INTERNAL_H

#include <beamline/gpu.h>

/* Work-group size every 1-D kernel is launched with. Fixed, because PoCL
 * compiles a work-group function per local size at first launch. */
#define GPU_LOCAL_1D 64u

/* The floating type a kernel computes in, and the build options that
 * select it in the OpenCL C source ("-DREAL=float ..."). */
typedef struct gpu_real {
	bl_dtype_t dtype;
	const char *options;
} gpu_real_t;

/* Return the device of a launch; borrowed. */
bl_gpu_t *gpu_launch_device(const bl_gpu_launch_t *launch);

/* Return whether a launch's device runs the CPU form of the kernels that
 * have two (bl_gpu_kernel_form_t). */
bool gpu_launch_cpu_kernels(const bl_gpu_launch_t *launch);

/*
 * Pick float32 when every non-NULL input is float32, else float64.
 * Returns 0, or BL_EINVAL naming `field` when float64 is needed and the
 * device has no cl_khr_fp64.
 */
int gpu_real_for(gpu_real_t *out, const bl_gpu_launch_t *launch, const bl_tensor_t *const *inputs, size_t count,
		 bl_error_t *err);

/* Upload `t` converted to `dtype`; the converted copy lives until the
 * launch is freed. Errors as bl_gpu_upload and bl_tensor_convert. */
int gpu_upload_as(cl_mem *out, bl_gpu_launch_t *launch, const bl_tensor_t *t, bl_dtype_t dtype, bl_error_t *err);

/* Return kernel `name` of the bundled source `file` built for `real`.
 * Build time is added to the launch's compile time. */
int gpu_kernel_for(cl_kernel *out, bl_gpu_launch_t *launch, const char *file, const gpu_real_t *real,
		   const char *name, bl_error_t *err);

/* Return the in-order queue of a launch, for libraries that enqueue on
 * it themselves (CLBlast); call gpu_launch_mark_enqueued afterwards. */
cl_command_queue gpu_launch_queue(const bl_gpu_launch_t *launch);
void gpu_launch_mark_enqueued(bl_gpu_launch_t *launch);

/* Add `ms` of program building to the launch's compile time. */
void gpu_launch_add_compile_ms(bl_gpu_launch_t *launch, double ms);

/* Free `ptr` with `free_fn` when the launch is freed. Returns 0, or
 * BL_ENOMEM after freeing `ptr` at once. */
int gpu_launch_keep(bl_gpu_launch_t *launch, void *ptr, void (*free_fn)(void *));

/* Set argument `index` of `kernel`; failures become errors naming the
 * kernel. */
int gpu_arg(cl_kernel kernel, cl_uint index, size_t size, const void *value, bl_error_t *err);

#endif
