#include "grid.h"

size_t gpu_groups_for(size_t items)
{
	return gpu_groups_cap((items + GPU_LOCAL_1D - 1) / GPU_LOCAL_1D);
}

size_t gpu_groups_cap(size_t groups)
{
	return groups < GPU_GROUPS_MAX ? groups : GPU_GROUPS_MAX;
}

size_t gpu_pieces_per_line(size_t lines, size_t n)
{
	size_t per_group = GPU_LOCAL_1D * GPU_ITEMS_PER_WORK_ITEM;
	size_t needed = (n + per_group - 1) / per_group;
	size_t room = lines < GPU_GROUPS_MAX ? GPU_GROUPS_MAX / lines : 1;
	if (needed == 0)
		return 1;
	return needed < room ? needed : room;
}

gpu_kernel_arg_t gpu_arg_real(gpu_real_arg_t *box, const gpu_real_t *real, double value)
{
	if (real->dtype == BL_DTYPE_F32) {
		box->f = (cl_float)value;
		return (gpu_kernel_arg_t){sizeof box->f, &box->f};
	}
	box->d = value;
	return (gpu_kernel_arg_t){sizeof box->d, &box->d};
}

int gpu_run_kernel_sized(bl_gpu_launch_t *launch, const char *file, const gpu_real_t *real, const char *name,
			 const gpu_kernel_arg_t *args, size_t count, size_t groups, size_t local, bl_error_t *err)
{
	cl_kernel k;
	int rc = gpu_kernel_for(&k, launch, file, real, name, err);
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = gpu_arg(k, (cl_uint)i, args[i].size, args[i].value, err);
	if (rc < 0)
		return rc;

	size_t global = groups * local;
	return bl_gpu_run(launch, k, 1, &global, &local, err);
}

int gpu_run_kernel(bl_gpu_launch_t *launch, const char *file, const gpu_real_t *real, const char *name,
		   const gpu_kernel_arg_t *args, size_t count, size_t groups, bl_error_t *err)
{
	return gpu_run_kernel_sized(launch, file, real, name, args, count, groups, GPU_LOCAL_1D, err);
}
