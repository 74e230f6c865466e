/*
 * The argument check of the CPU top-k, which the device version shares so
 * that both reject alike. Internal to the kernels library.
 */
#ifndef BEAMLINE_KERNELS_CPU_TOPK_H
#define BEAMLINE_KERNELS_CPU_TOPK_H

#include <stddef.h>

#include <beamline/kernels.h>

/* Check x and k as bl_cpu_topk documents them. Returns 0 or BL_EINVAL
 * naming the field. */
int bl__topk_check_args(const bl_tensor_t *x, size_t k, bl_error_t *err);

#endif
