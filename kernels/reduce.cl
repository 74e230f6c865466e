#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

/*
 * Reductions of lines: `lines` lines of n elements each, element j of line
 * L at x[(L / inner) * n * inner + L % inner + j * inner], which covers a
 * reduction along any axis of a C-order tensor. Short lines take one work
 * item each (reduce_lines); long ones are cut into `chunks` pieces, each
 * reduced by a work-group in local memory (reduce_groups), and a second
 * reduce_groups over the pieces finishes them. The host launches
 * work-groups of GROUP_SIZE, which must equal GPU_LOCAL_1D.
 */
#define GROUP_SIZE 64

#define OP_SUM 0
#define OP_MAX 1
#define OP_MIN 2

real identity(int op)
{
	if (op == OP_MAX)
		return (real)-INFINITY;
	if (op == OP_MIN)
		return (real)INFINITY;
	return 0;
}

/* Combine two partial results; NaN in either makes MAX and MIN NaN, as it
 * makes a sum NaN. */
real combine(int op, real a, real b)
{
	if (op == OP_SUM)
		return a + b;
	if (isnan(a))
		return a;
	if (isnan(b))
		return b;
	if (op == OP_MAX)
		return b > a ? b : a;
	return b < a ? b : a;
}

/* Reduce the values of a work-group to one, returned to every work item.
 * Every work item of the group must call it. */
real reduce_group(int op, real value, __local real *scratch)
{
	size_t lid = get_local_id(0);
	scratch[lid] = value;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (size_t span = GROUP_SIZE / 2; span > 0; span /= 2) {
		if (lid < span)
			scratch[lid] = combine(op, scratch[lid], scratch[lid + span]);
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	real result = scratch[0];
	barrier(CLK_LOCAL_MEM_FENCE);
	return result;
}

/* One work item per line: out[L] = reduce(line L) / divisor. `chunks` is
 * not used; it is there so that both kernels take the same arguments. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
reduce_lines(__global const real *x, ulong lines, ulong n, ulong inner, ulong chunks, int op, real divisor,
	     __global real *out)
{
	for (ulong line = get_global_id(0); line < lines; line += get_global_size(0)) {
		__global const real *p = x + (line / inner) * n * inner + line % inner;
		real acc = identity(op);
		for (ulong j = 0; j < n; j++)
			acc = combine(op, acc, p[j * inner]);
		out[line] = acc / divisor;
	}
}

/* One work-group per piece: piece c of line L takes the blocks of
 * GROUP_SIZE elements c, c + chunks, c + 2 * chunks, ..., so neighbouring
 * work items read neighbouring elements, and writes
 * out[L * chunks + c] = reduce(piece) / divisor. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
reduce_groups(__global const real *x, ulong lines, ulong n, ulong inner, ulong chunks, int op, real divisor,
	      __global real *out)
{
	__local real scratch[GROUP_SIZE];
	size_t lid = get_local_id(0);
	ulong pieces = lines * chunks;

	for (ulong piece = get_group_id(0); piece < pieces; piece += get_num_groups(0)) {
		ulong line = piece / chunks;
		__global const real *p = x + (line / inner) * n * inner + line % inner;
		real acc = identity(op);
		for (ulong j = (piece % chunks) * GROUP_SIZE + lid; j < n; j += chunks * GROUP_SIZE)
			acc = combine(op, acc, p[j * inner]);

		acc = reduce_group(op, acc, scratch);
		if (lid == 0)
			out[piece] = acc / divisor;
	}
}

#ifdef REDUCE_OP
#if REDUCE_OP == OP_SUM
#define REDUCE_IDENTITY ((real)0)
#elif REDUCE_OP == OP_MAX
#define REDUCE_IDENTITY ((real)-INFINITY)
#elif REDUCE_OP == OP_MIN
#define REDUCE_IDENTITY ((real)INFINITY)
#else
#error "REDUCE_OP must be OP_SUM, OP_MAX or OP_MIN"
#endif

/* Blocks of GROUP_SIZE elements that one work-group of the CPU form
 * reduces; the host's GPU_CPU_BLOCKS. */
#define BLOCKS 64

/*
 * The CPU form (-DREDUCE_OP=op): contiguous lines of n elements, each cut
 * into `chunks` pieces of BLOCKS * GROUP_SIZE elements, one work-group per
 * piece, and out[L * chunks + c] = reduce(piece c of line L) / divisor.
 * The loop over the blocks has a constant trip count and is unrolled, so
 * the kernel is straight-line code that PoCL vectorises across work
 * items, with neighbouring work items reading neighbouring elements. Only
 * a piece cut short by the end of its line checks each index: with the
 * check on every load, a sum over 16 MiB took 1.5 ms on PoCL 3.1, and
 * 0.4 to 0.7 ms without.
 */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
reduce_blocks(__global const real *x, ulong n, ulong chunks, real divisor, __global real *out)
{
	__local real scratch[GROUP_SIZE];
	size_t lid = get_local_id(0);
	ulong piece = get_group_id(0);
	ulong start = (piece % chunks) * (BLOCKS * GROUP_SIZE);
	__global const real *p = x + (piece / chunks) * n + start;
	ulong left = n - start;

	real acc = REDUCE_IDENTITY;
	if (left >= BLOCKS * GROUP_SIZE) {
#pragma unroll
		for (size_t k = 0; k < BLOCKS; k++)
			acc = combine(REDUCE_OP, acc, p[k * GROUP_SIZE + lid]);
	} else {
#pragma unroll
		for (size_t k = 0; k < BLOCKS; k++) {
			size_t j = k * GROUP_SIZE + lid;
			acc = combine(REDUCE_OP, acc, j < left ? p[j] : REDUCE_IDENTITY);
		}
	}

	scratch[lid] = acc;
	barrier(CLK_LOCAL_MEM_FENCE);
	if (lid == 0) {
		for (size_t k = 1; k < GROUP_SIZE; k++)
			acc = combine(REDUCE_OP, acc, scratch[k]);
		out[piece] = acc / divisor;
	}
}
#endif
