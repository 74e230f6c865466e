/*
 * The k best elements of each row of x (rows x n), best first, with
 * their indices: the largest or the smallest, ties to the lower index,
 * NaN after every number. One work-item selects one row, as the CPU
 * does: a heap of the k best so far with the worst at its root, kept in
 * the row's slice of `indices`, then heap sort. The element order is
 * total, so the result is the CPU's exactly.
 *
 * Built for floating rows with -DREAL=float or -DREAL=double, and for
 * integer rows with -DREAL=long -DREAL_INTEGER, which compares int64 as
 * integers and has no NaN.
 */
#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

#ifdef REAL_INTEGER
#define IS_NAN(v) false
#else
#define IS_NAN(v) isnan(v)
#endif

/* Return whether element i of the row ranks strictly before element j. */
static bool ranks_before(__global const real *row, long i, long j, int largest)
{
	real a = row[i];
	real b = row[j];
	bool nan_a = IS_NAN(a);
	bool nan_b = IS_NAN(b);
	if (nan_a != nan_b)
		return nan_b;
	if (!nan_a && a != b)
		return largest ? a > b : a < b;
	return i < j;
}

/* Restore the heap of `size` indices below `at`; the root ranks last. */
static void sift_down(__global const real *row, __global long *heap, ulong size, ulong at, int largest)
{
	for (;;) {
		ulong worst = at;
		ulong left = 2 * at + 1;
		ulong right = left + 1;
		if (left < size && ranks_before(row, heap[worst], heap[left], largest))
			worst = left;
		if (right < size && ranks_before(row, heap[worst], heap[right], largest))
			worst = right;
		if (worst == at)
			return;
		long tmp = heap[at];
		heap[at] = heap[worst];
		heap[worst] = tmp;
		at = worst;
	}
}

__kernel void topk(__global const real *x, ulong rows, ulong n, ulong k, int largest, __global real *values,
		   __global long *indices)
{
	ulong r = get_global_id(0);
	if (r >= rows)
		return;
	__global const real *row = x + r * n;
	__global long *heap = indices + r * k;

	for (ulong i = 0; i < k; i++)
		heap[i] = (long)i;
	for (ulong i = k / 2; i-- > 0;)
		sift_down(row, heap, k, i, largest);

	for (ulong i = k; i < n; i++) {
		if (ranks_before(row, (long)i, heap[0], largest)) {
			heap[0] = (long)i;
			sift_down(row, heap, k, 0, largest);
		}
	}

	for (ulong size = k; size > 1; size--) {
		long tmp = heap[0];
		heap[0] = heap[size - 1];
		heap[size - 1] = tmp;
		sift_down(row, heap, size - 1, 0, largest);
	}

	for (ulong i = 0; i < k; i++)
		values[r * k + i] = row[heap[i]];
}
