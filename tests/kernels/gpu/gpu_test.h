/*
 * Shared by the device kernel tests: open the test device, make random
 * tensors, run a launch to its end, and compare a device result with its
 * CPU counterpart.
 */
#ifndef BL_TESTS_GPU_TEST_H
#define BL_TESTS_GPU_TEST_H

#include <beamline/gpu.h>

/* Open the first OpenCL device with poisoned buffers. Skips the test when
 * the machine has no OpenCL device; fails on any other error. */
bl_gpu_t *gpu_test_open(void);

/* As gpu_test_open, but running `form` of the kernels that have two, so
 * that one device tests both forms. */
bl_gpu_t *gpu_test_open_form(bl_gpu_kernel_form_t form);

/* A launch for tenant "test" without a memory limit; fails the test on
 * error. */
bl_gpu_launch_t *gpu_test_launch(bl_gpu_t *gpu);

/* Run `launch` to its end and assert it succeeded; `what` names the case
 * in the failure message. */
void gpu_test_finish(bl_gpu_launch_t *launch, const char *what);

/* A tensor of uniform random values in [lo, hi) (integers for integer
 * dtypes), from a generator seeded once per process from the clock; the
 * seed is printed so a failure can be replayed with GPU_TEST_SEED. */
bl_tensor_t *gpu_test_random(bl_dtype_t dtype, unsigned ndim, const size_t *shape, double lo, double hi);

/*
 * Assert that `got` has `want`'s dtype and shape and that every element
 * is within `rel` of it, relative to max(1, |want|). A NaN in `got` fails
 * unless `want` has NaN at the same place and `nan_matches` is set.
 */
void gpu_test_expect_close(const bl_tensor_t *got, const bl_tensor_t *want, double rel, bool nan_matches,
			   const char *what);

/* Assert that two integer tensors are equal, element by element. */
void gpu_test_expect_equal(const bl_tensor_t *got, const bl_tensor_t *want, const char *what);

#endif
