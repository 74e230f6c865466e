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
#ifdef REAL_FP64
#define exp_nonpositive exp
#else
/*
 * Return exp(x) for x <= 0 within about 1e-6 relative error: x = n ln 2 +
 * r with |r| <= ln 2 / 2, then a degree-6 Taylor polynomial of exp(r)
 * scaled by 2^n, whose bits are built from n. Below -87.33, where 2^n
 * would leave the normal floats, it returns 0. NaN gives NaN. Every step
 * is plain arithmetic, so PoCL vectorises it. With PoCL 3.1's library exp
 * this kernel took 1.2 to 1.8 times as long (4096 rows of 1024).
 */
float exp_nonpositive(float x)
{
	/* Adding 1.5 * 2^23 rounds x / ln 2 to an integer n, which is then
	 * in the low bits of `shifted`. */
	const float magic = 12582912.0f;
	float shifted = x * 1.44269504f + magic;
	float n = shifted - magic;

	/* ln 2 split into a high part exact in n * ln2_high and the rest. */
	float r = x - n * 0.693145752f;
	r = r - n * 1.42860677e-6f;
	float p = 1.0f / 720;
	p = p * r + 1.0f / 120;
	p = p * r + 1.0f / 24;
	p = p * r + 1.0f / 6;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;

	uint biased = as_uint(shifted) - as_uint(magic) + 127u;
	float two_to_n = as_float(biased << 23);
	return x < -87.33f ? 0.0f : p * two_to_n;
}
#endif

/* Work items in a work-group of the CPU form, the host's choice. */
#define ROW_GROUP SOFTMAX_GROUP

/*
 * Merge the ROW_GROUP statistics in m[k] and s[k] into m[ROW_GROUP] and
 * s[ROW_GROUP]; s[k] is overwritten. Here m[k] is never NaN: a work
 * item with NaN among its elements has s[k] NaN, which makes the row's
 * maximum NaN. The maximum comes first, so that the loop that rescales
 * each sum to it has no dependence between iterations and the compiler
 * vectorises its exp.
 */
void merge_group(__local real *m, __local real *s)
{
	real top = m[0];
	bool nan_seen = false;
	for (uint k = 0; k < ROW_GROUP; k++) {
		top = m[k] > top ? m[k] : top;
		nan_seen = nan_seen || isnan(s[k]);
	}
	top = nan_seen ? (real)NAN : top;

	for (uint k = 0; k < ROW_GROUP; k++) {
		real rescaled = s[k] * exp_nonpositive(m[k] - top);
		s[k] = top == (real)INFINITY ? (m[k] == top ? s[k] : 0) : rescaled;
	}
	real sum = 0;
	for (uint k = 0; k < ROW_GROUP; k++)
		sum += s[k];
	m[ROW_GROUP] = top;
	s[ROW_GROUP] = sum;
}

/* Whether block k needs bounds checks: only the last one, and only with
 * -DSOFTMAX_TAIL=1. */
#define CHECKED(k) (SOFTMAX_TAIL && (k) == SOFTMAX_BLOCKS - 1)

/*
 * The CPU form (-DSOFTMAX_GROUP=g -DSOFTMAX_BLOCKS=b -DSOFTMAX_TAIL=t):
 * one work-group of g work items per row of cols elements, b =
 * ceil(cols / g) blocks of g, and t = 1 when the last block is partial.
 * Each work item finds the maximum m of its elements, ignoring NaN, then
 * writes e = exp(v - m) for each and sums them into s. e is 1 where
 * v == m, which also covers v = m = +inf, and exp(-inf) is 0. A NaN
 * element makes e and s NaN. A work item whose elements are all -inf
 * gets e = 1 and s = their count, which the merge multiplies by
 * exp(-inf - top) = 0, or which goes with a row that is all -inf and so
 * NaN throughout. Work item 0 merges the statistics into the row's (top,
 * sum), and each work item scales its e by exp(m - top) / sum, which
 * takes one exp per element in all. The second pass over the row reads
 * the first one's output from the cache. Special rows come out as
 * softmax_write makes them.
 *
 * PoCL runs the work items of a work-group in vectors (8 float32 with
 * AVX2), block after block, so with g = 8 or 16 each vector reads the row
 * from start to end, as the hardware prefetcher expects. With g = 64 each
 * vector read 32 bytes of every fourth cache line, and the kernel took
 * 1.2 to 1.9 times as long (PoCL 3.1, AMD EPYC, rows of 256 to 4096),
 * even with the next row prefetched. A larger g leaves fewer blocks for
 * the compiler to unroll.
 *
 * The loops over the blocks have a constant trip count and are unrolled,
 * so the steps before and after the barriers are straight-line code that
 * PoCL vectorises across work items. Only a partial last block has bounds
 * checks, because each check becomes a masked load or store. A NaN test
 * per element (isnan) in the maximum pass kept PoCL 3.1 from vectorising
 * the kernel at all: LLVM packed the unrolled tests into one vector
 * before PoCL's work-item loop, whose vectoriser then gave up. NaN is
 * found through s instead.
 *
 * The two passes take the work item's index from different built-ins on
 * purpose. With one, the compiler shares the index and the bounds checks
 * between the passes, PoCL then keeps them per work item across the
 * barrier, and the second pass gathers and scatters instead of loading
 * and storing neighbouring elements.
 */
__kernel __attribute__((reqd_work_group_size(ROW_GROUP, 1, 1))) void
softmax_rows_blocks(__global const real *x, uint cols, __global real *out)
{
	__local real scratch_m[ROW_GROUP + 1];
	__local real scratch_s[ROW_GROUP + 1];
	__global const real *p = x + get_group_id(0) * cols;
	__global real *q = out + get_group_id(0) * cols;
	uint lane = (uint)(get_global_id(0) - get_group_id(0) * ROW_GROUP);

	/* The maximum, ignoring NaN. */
	real m = (real)-INFINITY;
#pragma unroll
	for (uint k = 0; k < SOFTMAX_BLOCKS; k++) {
		uint j = k * ROW_GROUP + lane;
		real v = !CHECKED(k) || j < cols ? p[j] : (real)-INFINITY;
		m = v > m ? v : m;
	}

	/* e and its sum, NaN when an element is NaN. */
	real s = 0;
#pragma unroll
	for (uint k = 0; k < SOFTMAX_BLOCKS; k++) {
		uint j = k * ROW_GROUP + lane;
		real v = !CHECKED(k) || j < cols ? p[j] : (real)-INFINITY;
		real e = v == m ? (real)1 : exp_nonpositive(v - m);
		if (!CHECKED(k) || j < cols) {
			q[j] = e;
			s += e;
		}
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
	real top = scratch_m[ROW_GROUP];
	real sum = scratch_s[ROW_GROUP];
	real own = scratch_m[lid];
	real scale;
	if (isnan(top) || top == (real)-INFINITY)
		scale = (real)NAN;
	else if (top == (real)INFINITY)
		scale = own == top ? 1 / sum : 0;
	else
		scale = exp_nonpositive(own - top) / sum;
#pragma unroll
	for (uint k = 0; k < SOFTMAX_BLOCKS; k++) {
		uint j = k * ROW_GROUP + lid;
		if (!CHECKED(k) || j < cols)
			q[j] = q[j] * scale;
	}
}
#endif
