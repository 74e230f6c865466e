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
 * memory (histogram_count_local) and then summed (histogram_merge); many
 * bins with global atomics (histogram_count_global). Only integer
 * atomics are used. The host launches work-groups of GROUP_SIZE, which
 * must equal GPU_LOCAL_1D.
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

/* counts[b] = the sum over `groups` rows of partial[row * bins + b]. */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
histogram_merge(__global const uint *partial, ulong groups, ulong bins, __global long *counts)
{
	for (ulong b = get_global_id(0); b < bins; b += get_global_size(0)) {
		long sum = 0;
		for (ulong g = 0; g < groups; g++)
			sum += partial[g * bins + b];
		counts[b] = sum;
	}
}

#ifdef HISTOGRAM_SLOTS
/* Blocks of GROUP_SIZE elements that one work-group of the CPU form
 * counts; the host's GPU_CPU_BLOCKS. */
#define BLOCKS 64

/*
 * Return the bin of v in [edges[0], top] as DEFINE_FIND_BIN does, for
 * bins at most HISTOGRAM_SLOTS. With -DHISTOGRAM_GUESS=1 the edge nearest
 * to v is guessed from (v - lo) * scale, and one comparison with it
 * settles the bin. That is exact when the guess is off by well under half
 * a bin, which the host checks; otherwise a binary search of a fixed
 * number of steps.
 */
uint private_bin(real v, __global const real *edges, uint bins, real lo, real scale)
{
#if HISTOGRAM_GUESS
	real guess = (v - lo) * scale;
	uint nearest = guess > 0 ? (uint)rint(min(guess, (real)bins)) : 0;
	uint bin = v < edges[nearest] && nearest > 0 ? nearest - 1 : nearest;
	return bin < bins ? bin : bins - 1;
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
 * The CPU form (-DHISTOGRAM_SLOTS=s, a power of two, at least bins and at
 * most 128 so that a slot index fits in a uchar). One work-group per
 * piece of BLOCKS * GROUP_SIZE elements writes the piece's counts to
 * partial[group * bins + b]. First every work item finds the bins of its
 * elements in straight-line code, which PoCL vectorises across work
 * items, and stores them in local memory. An element that is not counted
 * (NaN, outside the range, past the end) gets slot HISTOGRAM_SLOTS. Then
 * work item 0 counts the slots in a scalar loop, one load and one store
 * per element. Counting in the vector code instead needs a gather and a
 * scatter per element, which measured slower on PoCL. The bins and edges
 * follow histogram_count_local.
 */
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1))) void
histogram_count_private(__global const real *x, ulong n, __global const real *edges, uint bins, real top, real lo,
			real scale, __global uint *partial)
{
	__local uchar slots[BLOCKS * GROUP_SIZE];
	uint lid = get_local_id(0);
	ulong start = get_group_id(0) * (BLOCKS * GROUP_SIZE);
	__global const real *p = x + start;
	ulong left = n - start;
	real low_edge = edges[0];

#pragma unroll
	for (uint k = 0; k < BLOCKS; k++) {
		uint j = k * GROUP_SIZE + lid;
		real v = j < left ? p[j] : (real)NAN;
		uint bin = private_bin(v, edges, bins, lo, scale);
		slots[j] = v >= low_edge && v <= top ? (uchar)bin : (uchar)HISTOGRAM_SLOTS;
	}
	barrier(CLK_LOCAL_MEM_FENCE);

	if (get_local_id(0) == 0) {
		uint counts[HISTOGRAM_SLOTS + 1];
		for (uint b = 0; b <= HISTOGRAM_SLOTS; b++)
			counts[b] = 0;
		for (uint t = 0; t < BLOCKS * GROUP_SIZE; t++)
			counts[slots[t]]++;
		for (uint b = 0; b < bins; b++)
			partial[get_group_id(0) * bins + b] = counts[b];
	}
}
#endif
