/*
 * Launch geometry and kernel arguments shared by the 1-D device kernels:
 * how many work-groups a launch gets, how long lines are cut into pieces,
 * and enqueueing a kernel with a list of arguments.
 */
#ifndef BL_KERNELS_GPU_GRID_H
#define BL_KERNELS_GPU_GRID_H

#include "internal.h"

/* Work-groups a 1-D launch gets at most. The kernels loop over their work
 * with a stride of the whole grid, so a launch stays this size however
 * large the input is, and the partial results of a reduction fit a
 * second pass. */
#define GPU_GROUPS_MAX 1024u

/* Elements each work item should take at least before a line is cut into
 * more pieces. */
#define GPU_ITEMS_PER_WORK_ITEM 8u

/* Return the work-groups needed for `items` work items, one item each,
 * capped at GPU_GROUPS_MAX. `items` must not be 0. */
size_t gpu_groups_for(size_t items);

/* Return `groups`, capped at GPU_GROUPS_MAX. */
size_t gpu_groups_cap(size_t groups);

/* Return how many pieces to cut each of `lines` lines of n elements into
 * when each piece gets a work-group. Every work item then takes about
 * GPU_ITEMS_PER_WORK_ITEM elements, unless that would need more than
 * GPU_GROUPS_MAX work-groups in all. The result is at least 1. */
size_t gpu_pieces_per_line(size_t lines, size_t n);

/* The CPU form of reduce gives each work-group GPU_CPU_BLOCKS blocks of
 * GPU_LOCAL_1D elements, unrolled in the kernel (BLOCKS there). Softmax's
 * takes rows of up to GPU_CPU_PIECE elements, and the histogram's counts
 * pieces of its own size (PRIVATE_PIECE in histogram.c). */
#define GPU_CPU_BLOCKS 64u
#define GPU_CPU_PIECE (GPU_CPU_BLOCKS * GPU_LOCAL_1D)

/* One kernel argument: `size` bytes at `value`, borrowed until the kernel
 * is enqueued. */
typedef struct gpu_kernel_arg {
	size_t size;
	const void *value;
} gpu_kernel_arg_t;

/* A float or a double, whichever a launch computes in, as an argument. */
typedef struct gpu_real_arg {
	cl_float f;
	cl_double d;
} gpu_real_arg_t;

#define GPU_ARG_MEM(buffer) ((gpu_kernel_arg_t){sizeof(cl_mem), &(buffer)})
#define GPU_ARG_ULONG(value) ((gpu_kernel_arg_t){sizeof(cl_ulong), &(cl_ulong){(value)}})
#define GPU_ARG_UINT(value) ((gpu_kernel_arg_t){sizeof(cl_uint), &(cl_uint){(cl_uint)(value)}})
#define GPU_ARG_INT(value) ((gpu_kernel_arg_t){sizeof(cl_int), &(cl_int){(value)}})

/* The number of arguments in an array of them. */
#define GPU_ARG_COUNT(args) (sizeof(args) / sizeof *(args))

/* Return `value` as an argument of `real`'s type, stored in *box, which
 * must outlive the argument. In float32, `value` must lie within float
 * range. */
gpu_kernel_arg_t gpu_arg_real(gpu_real_arg_t *box, const gpu_real_t *real, double value);

/*
 * Fetch kernel `name` of the bundled source `file` built for `real`, set
 * its `count` arguments in order, and enqueue it over `groups` work-groups
 * of GPU_LOCAL_1D. Returns 0 or the error of the step that failed.
 */
int gpu_run_kernel(bl_gpu_launch_t *launch, const char *file, const gpu_real_t *real, const char *name,
		   const gpu_kernel_arg_t *args, size_t count, size_t groups, bl_error_t *err);

/* Enqueue as gpu_run_kernel does, with work-groups of `local` work
 * items, which must match the kernel's required work-group size. */
int gpu_run_kernel_sized(bl_gpu_launch_t *launch, const char *file, const gpu_real_t *real, const char *name,
			 const gpu_kernel_arg_t *args, size_t count, size_t groups, size_t local, bl_error_t *err);

#endif
