#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

/* Elementwise ops of bl_map_op_t, one work item per element with a stride
 * of the whole grid. The host launches work-groups of GROUP_SIZE, which
 * must equal GPU_LOCAL_1D. */
#define GROUP_SIZE 64

/* The codes of bl_map_op_t. */
#define MAP_ADD 0
#define MAP_MUL 1
#define MAP_SCALE 2
#define MAP_RELU 3
#define MAP_GELU 4
#define MAP_EXP 5

#define INV_SQRT2 0.70710678118654752440

/* Apply `op` to one element. SCALE multiplies by mantissa * 2^exponent,
 * so that a float64 scalar beyond float range still scales float32 data
 * as the CPU does. RELU is written so that NaN passes through. GELU uses
 * erfc, which keeps its precision for large negative x where 1 + erf
 * cancels. */
real apply(int op, real x, real y, real mantissa, int exponent)
{
	switch (op) {
	case MAP_ADD:
		return x + y;
	case MAP_MUL:
		return x * y;
	case MAP_SCALE:
		return ldexp(x * mantissa, exponent);
	case MAP_RELU:
		return x < 0 ? (real)0 : x;
	case MAP_GELU:
		return x * (real)0.5 * erfc(-x * (real)INV_SQRT2);
	case MAP_EXP:
		return exp(x);
	}
	return (real)NAN;
}

/* out[i] = op(x[i], y[i]) for i < n; y has n elements, or 1 that every
 * element shares. The unary ops never read y. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
map_elements(__global const real *x, __global const real *y, ulong n, ulong y_count, int op, real mantissa,
	     int exponent, __global real *out)
{
	bool binary = op == MAP_ADD || op == MAP_MUL;
	for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
		real yv = binary ? y[y_count == 1 ? 0 : i] : (real)0;
		out[i] = apply(op, x[i], yv, mantissa, exponent);
	}
}
