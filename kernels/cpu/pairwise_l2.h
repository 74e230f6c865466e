/*
 * The argument check of the CPU pairwise distances, which the device
 * version shares so that both reject alike. Internal to the kernels
 * library.
 */
#ifndef BEAMLINE_KERNELS_CPU_PAIRWISE_L2_H
#define BEAMLINE_KERNELS_CPU_PAIRWISE_L2_H

#include <beamline/kernels.h>

/* Check x and y as bl_cpu_pairwise_l2 documents them. y must not be
 * NULL: pass x when there is no y. Returns 0 or BL_EINVAL naming the
 * field. */
int bl__pairwise_l2_check_args(const bl_tensor_t *x, const bl_tensor_t *y, bl_error_t *err);

#endif
