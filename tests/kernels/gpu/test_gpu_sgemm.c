#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

typedef struct sgemm_case {
	size_t m, n, k;
	bool trans_a, trans_b;
	float alpha, beta;
} sgemm_case_t;

/* Run one product on the device and on the CPU from the same random
 * inputs and compare C. */
static void expect_sgemm_matches(bl_gpu_t *gpu, const sgemm_case_t *tc)
{
	char what[128];
	snprintf(what, sizeof what, "sgemm %zux%zux%zu trans %d/%d beta %g", tc->m, tc->n, tc->k, tc->trans_a,
		 tc->trans_b, (double)tc->beta);
	size_t a_shape[2] = {tc->trans_a ? tc->k : tc->m, tc->trans_a ? tc->m : tc->k};
	size_t b_shape[2] = {tc->trans_b ? tc->n : tc->k, tc->trans_b ? tc->k : tc->n};
	bl_tensor_t *a = gpu_test_random(BL_DTYPE_F32, 2, a_shape, -1, 1);
	bl_tensor_t *b = gpu_test_random(BL_DTYPE_F32, 2, b_shape, -1, 1);
	bl_tensor_t *c_gpu = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){tc->m, tc->n}, -1, 1);
	bl_tensor_t *c_cpu = NULL;
	cr_assert_eq(bl_tensor_convert(&c_cpu, c_gpu, BL_DTYPE_F32, NULL), 0);
	bl_sgemm_args_t args = {tc->alpha, tc->beta, tc->trans_a, tc->trans_b};
	bl_error_t err = {0};

	bl_gpu_launch_t *launch = gpu_test_launch(gpu);
	int rc = bl_gpu_sgemm(launch, c_gpu, a, b, &args, &err);
	cr_assert_eq(rc, 0, "%s: %s", what, err.message);
	gpu_test_finish(launch, what);
	cr_assert_eq(bl_cpu_sgemm_rows(c_cpu, a, b, &args, 0, tc->m, &err), 0, "%s: %s", what, err.message);

	gpu_test_expect_close(c_gpu, c_cpu, 1e-4, false, what);
	bl_gpu_launch_free(&launch);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c_gpu);
	bl_tensor_free(&c_cpu);
}

Test(gpu_sgemm, matches_cpu_on_odd_sizes)
{
	bl_gpu_t *gpu = gpu_test_open();
	static const sgemm_case_t cases[] = {
		{1, 1, 1, false, false, 1, 0},      {65, 63, 7, false, false, 1, 0}, {33, 17, 129, true, false, 2, 0},
		{31, 64, 65, false, true, 1, 0.5f}, {100, 3, 50, true, true, -1, 1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_sgemm_matches(gpu, &cases[i]);
	bl_gpu_close(&gpu);
}

Test(gpu_sgemm, matches_cpu_at_512)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_sgemm_matches(gpu, &(sgemm_case_t){512, 512, 512, false, false, 1, 0});
	bl_gpu_close(&gpu);
}

Test(gpu_sgemm, empty_inner_dimension_scales_c)
{
	bl_gpu_t *gpu = gpu_test_open();
	expect_sgemm_matches(gpu, &(sgemm_case_t){4, 5, 0, false, false, 1, 0});
	expect_sgemm_matches(gpu, &(sgemm_case_t){4, 5, 0, false, false, 1, 2});
	expect_sgemm_matches(gpu, &(sgemm_case_t){0, 5, 3, false, false, 1, 0});
	bl_gpu_close(&gpu);
}

Test(gpu_sgemm, mismatched_shapes_rejected)
{
	bl_gpu_t *gpu = gpu_test_open();
	bl_tensor_t *a = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 4}, -1, 1);
	bl_tensor_t *b = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){5, 2}, -1, 1);
	bl_tensor_t *c = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){3, 2}, -1, 1);
	bl_tensor_t *wrong_c = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){2, 2}, -1, 1);
	bl_tensor_t *b_ok = gpu_test_random(BL_DTYPE_F32, 2, (size_t[]){4, 2}, -1, 1);
	bl_sgemm_args_t args = {1, 0, false, false};
	bl_error_t err = {0};
	bl_gpu_launch_t *launch = gpu_test_launch(gpu);

	cr_assert_eq(bl_gpu_sgemm(launch, c, a, b, &args, &err), BL_EINVAL, "a is 3x4 and b 5x2");
	cr_assert_eq(bl_gpu_sgemm(launch, wrong_c, a, b_ok, &args, &err), BL_EINVAL, "c must be 3x2");
	cr_assert(strstr(err.message, "[3, 2]"), "message: %s", err.message);

	bl_gpu_launch_free(&launch);
	bl_tensor_free(&a);
	bl_tensor_free(&b);
	bl_tensor_free(&c);
	bl_tensor_free(&wrong_c);
	bl_tensor_free(&b_ok);
	bl_gpu_close(&gpu);
}
