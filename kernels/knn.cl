/*
 * The k nearest training rows of each test row, for the k-nearest-
 * neighbour classifier. One work-item takes one test row: it computes its
 * squared distance to every training row and keeps the k nearest in a
 * heap with the farthest at its root, stored in the row's slices of
 * `dists` and `nearest`. At equal distance the lower training index is
 * nearer, as on the CPU. The k come out in heap order; the host sorts
 * them and votes.
 */
#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

static real squared_distance(__global const real *a, __global const real *b, ulong d)
{
	real sum = 0;
	for (ulong c = 0; c < d; c++) {
		real diff = a[c] - b[c];
		sum += diff * diff;
	}
	return sum;
}

/* Return whether neighbour a is nearer than neighbour b. */
static bool closer(real dist_a, long index_a, real dist_b, long index_b)
{
	if (dist_a != dist_b)
		return dist_a < dist_b;
	return index_a < index_b;
}

/* Restore the heap of `size` neighbours below `at`; the root is the
 * farthest. */
static void sift_down(__global real *dists, __global long *nearest, ulong size, ulong at)
{
	for (;;) {
		ulong far = at;
		ulong left = 2 * at + 1;
		ulong right = left + 1;
		if (left < size && closer(dists[far], nearest[far], dists[left], nearest[left]))
			far = left;
		if (right < size && closer(dists[far], nearest[far], dists[right], nearest[right]))
			far = right;
		if (far == at)
			return;
		real dist = dists[at];
		long index = nearest[at];
		dists[at] = dists[far];
		nearest[at] = nearest[far];
		dists[far] = dist;
		nearest[far] = index;
		at = far;
	}
}

__kernel void knn_nearest(__global const real *train, __global const real *test, ulong n, ulong m, ulong d,
			  ulong k, __global real *dists, __global long *nearest)
{
	ulong t = get_global_id(0);
	if (t >= m)
		return;
	__global const real *query = test + t * d;
	dists += t * k;
	nearest += t * k;

	for (ulong i = 0; i < k; i++) {
		dists[i] = squared_distance(train + i * d, query, d);
		nearest[i] = (long)i;
	}
	for (ulong i = k / 2; i-- > 0;)
		sift_down(dists, nearest, k, i);

	for (ulong i = k; i < n; i++) {
		real dist = squared_distance(train + i * d, query, d);
		if (closer(dist, (long)i, dists[0], nearest[0])) {
			dists[0] = dist;
			nearest[0] = (long)i;
			sift_down(dists, nearest, k, 0);
		}
	}
}
