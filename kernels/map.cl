#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

/* Elementwise ops of bl_map_op_t, one work item per element. The op is a
 * build option (-DMAP_OP=n, and -DY_BROADCAST=1 when y has one element),
 * so each program is a straight line that the compiler can vectorise
 * across work items; a switch or a loop inside the kernel keeps PoCL from
 * doing so. The host launches work-groups of GROUP_SIZE, which must equal
 * GPU_LOCAL_1D. */
#define GROUP_SIZE 64

/* The codes of bl_map_op_t. */
#define MAP_ADD 0
#define MAP_MUL 1
#define MAP_SCALE 2
#define MAP_RELU 3
#define MAP_GELU 4
#define MAP_EXP 5

#define INV_SQRT2 0.70710678118654752440

#if Y_BROADCAST
#define Y_AT(i) y[0]
#else
#define Y_AT(i) y[i]
#endif

/*
 * MAP_ONE(i) is op(x[i], y[i]), and out[i] = MAP_ONE(i) for i < n. SCALE
 * multiplies by mantissa * 2^exponent, so that a float64 scalar beyond
 * float range still scales float32 data as the CPU does. RELU is written so that NaN passes
 * through. GELU uses erfc, which keeps its precision for large negative
 * x where 1 + erf cancels. The unary ops never read y.
 */
#if MAP_OP == MAP_ADD
#define MAP_ONE(i) (x[i] + Y_AT(i))
#elif MAP_OP == MAP_MUL
#define MAP_ONE(i) (x[i] * Y_AT(i))
#elif MAP_OP == MAP_SCALE
#define MAP_ONE(i) ldexp(x[i] * mantissa, exponent)
#elif MAP_OP == MAP_RELU
#define MAP_ONE(i) (x[i] < 0 ? (real)0 : x[i])
#elif MAP_OP == MAP_GELU
#define MAP_ONE(i) (x[i] * (real)0.5 * erfc(-x[i] * (real)INV_SQRT2))
#elif MAP_OP == MAP_EXP
#define MAP_ONE(i) exp(x[i])
#else
#error "MAP_OP must name an op of bl_map_op_t"
#endif

/* Only the last work-group checks each work item's index against n. With
 * a check in every work item, map relu on 16 MiB took 2.5 to 5.0 ms on
 * PoCL 3.1, and 1.1 to 1.3 ms without; in the other kernels such checks
 * became masked loads and stores. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
map_elements(__global const real *x, __global const real *y, ulong n, real mantissa, int exponent,
	     __global real *out)
{
	size_t i = get_global_id(0);
	if ((get_group_id(0) + 1) * GROUP_SIZE <= n)
		out[i] = MAP_ONE(i);
	else if (i < n)
		out[i] = MAP_ONE(i);
}
