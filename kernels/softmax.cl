#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

/*
 * Row-wise softmax in two steps. First each row's statistics (m, s): m is
 * the row's maximum, NaN when the row contains NaN, and s is the sum of
 * exp(v - m) over the row, or the number of +inf elements when m is +inf.
 * Statistics of two parts merge exactly (online softmax), so short rows
 * are scanned by one work item each (softmax_row_stats) and long rows are
 * cut into pieces merged in local memory (softmax_piece_stats), then
 * across pieces (softmax_merge). Second, softmax_write maps every element
 * with its row's statistics. The host launches work-groups of GROUP_SIZE,
 * which must equal GPU_LOCAL_1D.
 */
#define GROUP_SIZE 64

/* Merge the statistics (m2, s2) into (*m, *s). An element v on its own is
 * (v, 1); nothing at all is (-inf, 0). */
void merge(real *m, real *s, real m2, real s2)
{
	real m1 = *m;
	real s1 = *s;
	if (isnan(m1) || isnan(m2)) {
		*m = (real)NAN;
		*s = 0;
		return;
	}

	real top = m1 >= m2 ? m1 : m2;
	*m = top;
	if (top == (real)INFINITY)
		*s = (m1 == top ? s1 : 0) + (m2 == top ? s2 : 0);
	else if (top == (real)-INFINITY)
		*s = 0;
	else if (m1 >= m2)
		*s = s1 + s2 * exp(m2 - m1);
	else
		*s = s1 * exp(m1 - m2) + s2;
}

/* Statistics of rows [0, rows), one work item per row. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
softmax_row_stats(__global const real *x, ulong rows, ulong cols, __global real *row_m, __global real *row_s)
{
	for (ulong row = get_global_id(0); row < rows; row += get_global_size(0)) {
		__global const real *p = x + row * cols;
		real m = (real)-INFINITY;
		real s = 0;
		for (ulong j = 0; j < cols; j++)
			merge(&m, &s, p[j], 1);
		row_m[row] = m;
		row_s[row] = s;
	}
}

/* Statistics of `chunks` pieces of each row, one work-group per piece:
 * piece c of row r takes the blocks of GROUP_SIZE elements c, c + chunks,
 * ..., and writes its statistics at r * chunks + c. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
softmax_piece_stats(__global const real *x, ulong rows, ulong cols, ulong chunks, __global real *piece_m,
		    __global real *piece_s)
{
	__local real scratch_m[GROUP_SIZE];
	__local real scratch_s[GROUP_SIZE];
	size_t lid = get_local_id(0);
	ulong pieces = rows * chunks;

	for (ulong piece = get_group_id(0); piece < pieces; piece += get_num_groups(0)) {
		__global const real *p = x + (piece / chunks) * cols;
		real m = (real)-INFINITY;
		real s = 0;
		for (ulong j = (piece % chunks) * GROUP_SIZE + lid; j < cols; j += chunks * GROUP_SIZE)
			merge(&m, &s, p[j], 1);

		scratch_m[lid] = m;
		scratch_s[lid] = s;
		barrier(CLK_LOCAL_MEM_FENCE);
		for (size_t span = GROUP_SIZE / 2; span > 0; span /= 2) {
			if (lid < span) {
				m = scratch_m[lid];
				s = scratch_s[lid];
				merge(&m, &s, scratch_m[lid + span], scratch_s[lid + span]);
				scratch_m[lid] = m;
				scratch_s[lid] = s;
			}
			barrier(CLK_LOCAL_MEM_FENCE);
		}
		if (lid == 0) {
			piece_m[piece] = scratch_m[0];
			piece_s[piece] = scratch_s[0];
		}
		barrier(CLK_LOCAL_MEM_FENCE);
	}
}

/* Merge the `chunks` pieces of each row into the row's statistics, one
 * work item per row. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
softmax_merge(__global const real *piece_m, __global const real *piece_s, ulong rows, ulong chunks,
	      __global real *row_m, __global real *row_s)
{
	for (ulong row = get_global_id(0); row < rows; row += get_global_size(0)) {
		real m = (real)-INFINITY;
		real s = 0;
		for (ulong c = 0; c < chunks; c++)
			merge(&m, &s, piece_m[row * chunks + c], piece_s[row * chunks + c]);
		row_m[row] = m;
		row_s[row] = s;
	}
}

/* out = softmax(x), element by element, from the rows' statistics. A row
 * with NaN, or all -inf, is NaN throughout; in a row with +inf the +inf
 * elements share 1 and the others get 0. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
softmax_write(__global const real *x, ulong count, ulong cols, __global const real *row_m,
	      __global const real *row_s, __global real *out)
{
	for (ulong i = get_global_id(0); i < count; i += get_global_size(0)) {
		real m = row_m[i / cols];
		real s = row_s[i / cols];
		real v = x[i];
		if (isnan(m) || m == (real)-INFINITY)
			out[i] = (real)NAN;
		else if (m == (real)INFINITY)
			out[i] = v == m ? 1 / s : 0;
		else
			out[i] = exp(v - m) / s;
	}
}

#ifdef SOFTMAX_BLOCKS
/*
 * Merge the GROUP_SIZE statistics in m[k] and s[k] as merge does, into
 * m[GROUP_SIZE] and s[GROUP_SIZE]; s[k] is overwritten. The maximum comes
 * first, so that the loop that rescales each sum to it has no dependence
 * between iterations and the compiler vectorises its exp.
 */
void merge_group(__local real *m, __local real *s)
{
	real top = m[0];
	for (uint k = 1; k < GROUP_SIZE; k++)
		top = isnan(m[k]) || m[k] > top ? m[k] : top;

	for (uint k = 0; k < GROUP_SIZE; k++) {
		real rescaled = s[k] * exp(m[k] - top);
		s[k] = top == (real)INFINITY ? (m[k] == top ? s[k] : 0) : rescaled;
	}
	real sum = 0;
	for (uint k = 0; k < GROUP_SIZE; k++)
		sum += s[k];
	m[GROUP_SIZE] = top;
	s[GROUP_SIZE] = sum;
}

/*
 * The CPU form (-DSOFTMAX_BLOCKS=b): one work-group per row of at most b *
 * GROUP_SIZE elements. Each work item finds the statistics (m, s) of its
 * elements and writes e = exp(v - m) for each; work item 0 merges the
 * statistics into the row's (top, sum); then each work item scales its
 * e by exp(m - top) / sum, which takes one exp per element in all. The
 * second pass over the row reads the first one's output from the cache.
 * Special rows come out as softmax_write makes them. The loops over the
 * blocks have a constant trip count and are unrolled, so the steps
 * before and after the barriers are straight-line code that PoCL
 * vectorises across work items.
 *
 * The two passes take the work item's index from different built-ins on
 * purpose. With one, the compiler shares the index and the bounds checks
 * between the passes, PoCL then keeps them per work item across the
 * barrier, and the second pass gathers and scatters instead of loading
 * and storing neighbouring elements.
 */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
softmax_rows_blocks(__global const real *x, uint cols, __global real *out)
{
	__local real scratch_m[GROUP_SIZE + 1];
	__local real scratch_s[GROUP_SIZE + 1];
	__global const real *p = x + get_group_id(0) * cols;
	__global real *q = out + get_group_id(0) * cols;
	uint lane = (uint)(get_global_id(0) - get_group_id(0) * GROUP_SIZE);

	/* The maximum, NaN once any element is NaN. */
	real m = (real)-INFINITY;
#pragma unroll
	for (uint k = 0; k < SOFTMAX_BLOCKS; k++) {
		uint j = k * GROUP_SIZE + lane;
		real v = j < cols ? p[j] : (real)-INFINITY;
		m = isnan(v) || v > m ? v : m;
	}

	/* e and the sum as merge defines them: with m = +inf, 1 for each
	 * +inf and 0 for the rest; -inf counts 0. */
	real s = 0;
#pragma unroll
	for (uint k = 0; k < SOFTMAX_BLOCKS; k++) {
		uint j = k * GROUP_SIZE + lane;
		real v = j < cols ? p[j] : (real)-INFINITY;
		real e = m == (real)INFINITY ? (v == m ? (real)1 : (real)0) : exp(v - m);
		e = v == (real)-INFINITY ? (real)0 : e;
		if (j < cols)
			q[j] = e;
		s += e;
	}
	scratch_m[lane] = m;
	scratch_s[lane] = s;
	barrier(CLK_LOCAL_MEM_FENCE);
	if (get_local_id(0) == 0)
		merge_group(scratch_m, scratch_s);
	barrier(CLK_LOCAL_MEM_FENCE);

	/* NaN and all -inf rows are NaN throughout; with top = +inf only the
	 * work items whose own maximum is +inf keep their e. */
	uint lid = get_local_id(0);
	real top = scratch_m[GROUP_SIZE];
	real sum = scratch_s[GROUP_SIZE];
	real own = scratch_m[lid];
	real scale;
	if (isnan(top) || top == (real)-INFINITY)
		scale = (real)NAN;
	else if (top == (real)INFINITY)
		scale = own == top ? 1 / sum : 0;
	else
		scale = exp(own - top) / sum;
#pragma unroll
	for (uint k = 0; k < SOFTMAX_BLOCKS; k++) {
		uint j = k * GROUP_SIZE + lid;
		real e = j < cols ? q[j] : (real)0;
		if (j < cols)
			q[j] = e * scale;
	}
}
#endif
