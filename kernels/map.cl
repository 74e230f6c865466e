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
 * out[i] = op(x[i], y[i]) for i < n. SCALE multiplies by mantissa *
 * 2^exponent, so that a float64 scalar beyond float range still scales
 * float32 data as the CPU does. RELU is written so that NaN passes
 * through. GELU uses erfc, which keeps its precision for large negative
 * x where 1 + erf cancels. The unary ops never read y.
 */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
map_elements(__global const real *x, __global const real *y, ulong n, real mantissa, int exponent,
	     __global real *out)
{
	size_t i = get_global_id(0);
	if (i >= n)
		return;
	real v = x[i];
#if MAP_OP == MAP_ADD
	out[i] = v + Y_AT(i);
#elif MAP_OP == MAP_MUL
	out[i] = v * Y_AT(i);
#elif MAP_OP == MAP_SCALE
	out[i] = ldexp(v * mantissa, exponent);
#elif MAP_OP == MAP_RELU
	out[i] = v < 0 ? (real)0 : v;
#elif MAP_OP == MAP_GELU
	out[i] = v * (real)0.5 * erfc(-v * (real)INV_SQRT2);
#elif MAP_OP == MAP_EXP
	out[i] = exp(v);
#else
#error "MAP_OP must name an op of bl_map_op_t"
#endif
}
