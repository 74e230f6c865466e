#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

/*
 * Histograms. histogram_range finds each work-group's smallest and largest
 * non-NaN elements, for the host to settle the range. Counting takes
 * `edges`, the bins + 1 bin edges rounded up to `real`, and `top`, the
 * upper bound rounded down: for a value v of type real, v >= edge holds
 * exactly when it holds against the float64 edge, so values fall in the
 * same bins as on the CPU. Few bins are counted per work-group in local
 * memory (histogram_count_local) and then summed (histogram_merge_rows,
 * then histogram_merge_sums); many bins with global atomics
 * (histogram_count_global). Only integer atomics are used. The host
 * launches work-groups of GROUP_SIZE, which must equal GPU_LOCAL_1D.
 */
#define GROUP_SIZE 64

/* Bins that histogram_count_local keeps in local memory; the host uses it
 * up to this many. Counts and edges take about 12 KB in float64, within
 * the 32 KB of local memory that OpenCL 1.2 requires of a device. */
#define LOCAL_BINS 1024

/* Each work-group writes the minimum and maximum of the non-NaN elements it
 * visits to lo[group] and hi[group]; none found leaves +inf and -inf. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
histogram_range(__global const real *x, ulong n, __global real *lo, __global real *hi)
{
	__local real scratch_lo[GROUP_SIZE];
	__local real scratch_hi[GROUP_SIZE];
	size_t lid = get_local_id(0);
	real low = (real)INFINITY;
	real high = (real)-INFINITY;
	for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
		real v = x[i];
		if (isnan(v))
			continue;
		low = v < low ? v : low;
		high = v > high ? v : high;
	}

	scratch_lo[lid] = low;
	scratch_hi[lid] = high;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (size_t span = GROUP_SIZE / 2; span > 0; span /= 2) {
		if (lid < span) {
			scratch_lo[lid] = fmin(scratch_lo[lid], scratch_lo[lid + span]);
			scratch_hi[lid] = fmax(scratch_hi[lid], scratch_hi[lid + span]);
		}
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (lid == 0) {
		lo[get_group_id(0)] = scratch_lo[0];
		hi[get_group_id(0)] = scratch_hi[0];
	}
}

/* Define `name`, which returns the bin of v for edges in address space
 * `space`. v must lie in [edges[0], top]; its bin is the last one whose
 * lower edge is at most v. The CPU's guess-and-correct search ends on the
 * same bin. */
#define DEFINE_FIND_BIN(name, space)                                                                                 \
	ulong name(real v, space const real *edges, ulong bins)                                                      \
	{                                                                                                            \
		ulong low = 0;                                                                                       \
		ulong high = bins - 1;                                                                               \
		while (low < high) {                                                                                 \
			ulong mid = low + (high - low + 1) / 2;                                                      \
			if (edges[mid] <= v)                                                                         \
				low = mid;                                                                           \
			else                                                                                         \
				high = mid - 1;                                                                      \
		}                                                                                                    \
		return low;                                                                                          \
	}

DEFINE_FIND_BIN(find_bin_global, __global)
DEFINE_FIND_BIN(find_bin_local, __local)

/* Count the elements each work-group visits into partial[group * bins + b];
 * bins must be at most LOCAL_BINS. The edges are copied to local memory
 * first. NaN fails both comparisons and is not counted, like values
 * outside the range. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
histogram_count_local(__global const real *x, ulong n, __global const real *edges, ulong bins, real top,
		      __global uint *partial)
{
	__local uint counts[LOCAL_BINS];
	__local real local_edges[LOCAL_BINS + 1];
	size_t lid = get_local_id(0);
	for (ulong b = lid; b < bins; b += GROUP_SIZE)
		counts[b] = 0;
	for (ulong b = lid; b <= bins; b += GROUP_SIZE)
		local_edges[b] = edges[b];
	barrier(CLK_LOCAL_MEM_FENCE);

	for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
		real v = x[i];
		if (v >= local_edges[0] && v <= top)
			atomic_inc(&counts[find_bin_local(v, local_edges, bins)]);
	}
	barrier(CLK_LOCAL_MEM_FENCE);

	__global uint *mine = partial + get_group_id(0) * bins;
	for (ulong b = lid; b < bins; b += GROUP_SIZE)
		mine[b] = counts[b];
}

/* Count every element into counts[bin] with global atomics; counts must
 * start at 0 (histogram_clear). */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
histogram_count_global(__global const real *x, ulong n, __global const real *edges, ulong bins, real top,
		       __global uint *counts)
{
	for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
		real v = x[i];
		if (v >= edges[0] && v <= top)
			atomic_inc(&counts[find_bin_global(v, edges, bins)]);
	}
}

/* Set the n counters of `counts` to 0. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void histogram_clear(__global uint *counts,
										      ulong n)
{
	for (ulong i = get_global_id(0); i < n; i += get_global_size(0))
		counts[i] = 0;
}

/*
 * Sum `groups` rows of `bins` counters in `partial` in slices of `rows`
 * rows: sums[s * bins + b] gets the sum of counter b over rows
 * [s * rows, (s + 1) * rows), or up to the last row. A work-group takes
 * GROUP_SIZE neighbouring counters of one slice at a time, so each slice
 * is read as one stretch of memory, and a single slice of many bins still
 * spreads over every work-group. histogram_merge_sums then adds the
 * slices up. A single pass of one work item per bin over every row read
 * the rows with a stride of a whole row, one work-group alone: 2.7 ms
 * for 16384 rows of 64 bins on PoCL, most of the histogram's time.
 */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
histogram_merge_rows(__global const uint *partial, ulong groups, ulong bins, ulong rows, __global long *sums)
{
	ulong slices = (groups + rows - 1) / rows;
	ulong blocks = (bins + GROUP_SIZE - 1) / GROUP_SIZE;
	for (ulong task = get_group_id(0); task < slices * blocks; task += get_num_groups(0)) {
		ulong s = task / blocks;
		ulong b = task % blocks * GROUP_SIZE + get_local_id(0);
		ulong end = min((s + 1) * rows, groups);
		long sum = 0;
		for (ulong g = s * rows; b < bins && g < end; g++)
			sum += partial[g * bins + b];
		if (b < bins)
			sums[s * bins + b] = sum;
	}
}

/* counts[b] = the sum over `slices` rows of sums[row * bins + b]. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
histogram_merge_sums(__global const long *sums, ulong slices, ulong bins, __global long *counts)
{
	for (ulong b = get_global_id(0); b < bins; b += get_global_size(0)) {
		long sum = 0;
		for (ulong s = 0; s < slices; s++)
			sum += sums[s * bins + b];
		counts[b] = sum;
	}
}

#ifdef HISTOGRAM_SLOTS
/* Work items in a work-group of the CPU form and the blocks of that many
 * elements that it counts, the host's PRIVATE_GROUP and PRIVATE_BLOCKS.
 * PoCL runs the work items 8 at a time in float32 vector code (AVX2),
 * block after block, so with 16 each vector reads half of every cache
 * line of the piece in order. With 64, each vector read 32 bytes of
 * every fourth line, and the count took 6 to 11 % longer (PoCL 3.1, AMD
 * EPYC). 8 was 2 to 4 % faster than 16 but took 4 s to compile, against
 * 2.3 s. The piece stays 1024 elements: pieces of 16 blocks of 64 had run
 * 20 to 40 % faster than pieces of 64 blocks of 64. */
#define PRIVATE_GROUP 16
#define BLOCKS 64
#define PIECE (BLOCKS * PRIVATE_GROUP)

/*
 * Return the bin of v in [edges[0], top] as DEFINE_FIND_BIN does, for
 * bins at most HISTOGRAM_SLOTS. With -DHISTOGRAM_GUESS=1 or 2 the edge
 * nearest to v is guessed from (v - lo) * scale, and one comparison with
 * it settles the bin. That is exact when the guess is off by well under
 * half a bin, which the host checks. With 2 the host has also checked
 * that fma(i, width, edges[0]) gives edges[i] exactly for every i, and
 * the edge is computed in place of a load per element. Otherwise (0) a
 * binary search of a fixed number of steps.
 *
 * The guess is clamped to [0, bins] and rounded half up by a conversion
 * to int, because PoCL 3.1 compiled rint to scalar code with branches,
 * which kept the whole loop from being vectorised. A v below edges[0]
 * may get bin -1 as a uint, and the caller does not count such a v.
 */
uint private_bin(real v, __global const real *edges, uint bins, real lo, real scale, real width)
{
#if HISTOGRAM_GUESS
	real guess = (v - lo) * scale;
	guess = guess > 0 ? guess : 0;
	guess = guess < (real)bins ? guess : (real)bins;
	int nearest = (int)(guess + (real)0.5);
#if HISTOGRAM_GUESS == 2
	real edge = fma((real)nearest, width, edges[0]);
#else
	real edge = edges[nearest];
#endif
	int bin = v < edge ? nearest - 1 : nearest;
	return (uint)min(bin, (int)bins - 1);
#else
	uint bin = 0;
#pragma unroll
	for (uint step = HISTOGRAM_SLOTS / 2; step > 0; step /= 2) {
		uint next = bin + step;
		bin = next < bins && edges[next] <= v ? next : bin;
	}
	return bin;
#endif
}

/*
 * Ask the cache for the PIECE elements at p, which the next work-group
 * reads: PoCL runs work-groups of consecutive ids one after another on a
 * thread. Each piece fills one 4 KiB page, which the hardware prefetcher
 * does not cross, so the count of one piece would otherwise start with a
 * wait on memory. Without the prefetch the count took about 8 % longer
 * with work-groups of 64 and 5 % with 16 (PoCL 3.1, AMD EPYC). PoCL's own
 * prefetch() does nothing.
 */
void prefetch_next_piece(__global const real *p)
{
#if defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
	for (uint t = 0; t < PIECE; t += 64 / sizeof(real))
		__builtin_prefetch(p + t);
#endif
#endif
}

/*
 * Count the `left` elements at p, at most PIECE, into counts[b] for the
 * bins b < bins; all work items of the work-group call it. First every
 * work item finds the bins of its elements in straight-line code, which
 * PoCL vectorises across work items, and stores them in local memory as
 * slots. An element that is not counted (NaN, outside the range, past
 * the end) gets slot HISTOGRAM_SLOTS. Then work item 0 counts the slots
 * in a scalar loop into four arrays of counters in turn, so that
 * neighbouring elements of the same bin do not wait on each other's
 * store, and adds the arrays up. Before that it prefetches the piece
 * after p when there is a next work-group of whole pieces. Deciding that
 * in work item 0 matters: a pointer to the next piece computed by every
 * work item and passed in made the count slower than no prefetch.
 *
 * With `checked` false, left must be PIECE, and the loads go without a
 * bounds check. The masked loads that the check needs made the count of
 * whole pieces more than twice as slow on PoCL 3.1 (AVX2, AMD EPYC).
 */
void count_piece(__global const real *p, uint left, bool checked, __global const real *edges, uint bins, real top,
		 real lo, real scale, real width, __local uchar *slots, __global uint *counts)
{
	uint lid = get_local_id(0);
	real low_edge = edges[0];

#pragma unroll
	for (uint k = 0; k < BLOCKS; k++) {
		uint j = k * PRIVATE_GROUP + lid;
		real v = !checked || j < left ? p[j] : (real)NAN;
		uint bin = private_bin(v, edges, bins, lo, scale, width);
		slots[j] = v >= low_edge && v <= top ? (uchar)bin : (uchar)HISTOGRAM_SLOTS;
	}
	barrier(CLK_LOCAL_MEM_FENCE);

	if (get_local_id(0) == 0) {
		if (!checked && get_group_id(0) + 1 < get_num_groups(0))
			prefetch_next_piece(p + PIECE);
		uint ways[4][HISTOGRAM_SLOTS + 1];
		for (uint b = 0; b <= HISTOGRAM_SLOTS; b++) {
			ways[0][b] = 0;
			ways[1][b] = 0;
			ways[2][b] = 0;
			ways[3][b] = 0;
		}
		for (uint t = 0; t < PIECE; t += 4) {
			ways[0][slots[t]]++;
			ways[1][slots[t + 1]]++;
			ways[2][slots[t + 2]]++;
			ways[3][slots[t + 3]]++;
		}
		for (uint b = 0; b < bins; b++)
			counts[b] = ways[0][b] + ways[1][b] + ways[2][b] + ways[3][b];
	}
}

/*
 * The CPU form (-DHISTOGRAM_SLOTS=s, a power of two, at least bins and at
 * most 128 so that a slot index fits in a uchar). Work-group g counts the
 * whole piece of PIECE elements at x + g * PIECE (count_piece) into
 * partial[g * bins + b]; the host launches one work-group per whole piece
 * and histogram_count_private_tail for the rest. n is not read here: both
 * kernels take the same arguments. Counting in the vector
 * code instead of work item 0's scalar loop needs a gather and a scatter
 * per element, which measured slower on PoCL. The bins and edges follow
 * histogram_count_local.
 */
__kernel __attribute__((reqd_work_group_size(PRIVATE_GROUP, 1, 1))) void
histogram_count_private(__global const real *x, ulong n, __global const real *edges, uint bins, real top, real lo,
			real scale, real width, __global uint *partial)
{
	__local uchar slots[PIECE];
	size_t group = get_group_id(0);
	count_piece(x + group * PIECE, PIECE, false, edges, bins, top, lo, scale, width, slots,
		    partial + group * bins);
}

/* The CPU form's last piece, of the n % PIECE elements after the whole
 * pieces, into partial row n / PIECE; the host launches one work-group
 * when n % PIECE is not 0. */
__kernel __attribute__((reqd_work_group_size(PRIVATE_GROUP, 1, 1))) void
histogram_count_private_tail(__global const real *x, ulong n, __global const real *edges, uint bins, real top,
			     real lo, real scale, real width, __global uint *partial)
{
	__local uchar slots[PIECE];
	ulong whole = n / PIECE;
	count_piece(x + whole * PIECE, (uint)(n % PIECE), true, edges, bins, top, lo, scale, width, slots,
		    partial + whole * bins);
}
#endif
