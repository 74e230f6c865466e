/*
 * The assignment step of a Lloyd iteration: each row of x (n x d) goes
 * to its nearest centroid (k x d), the lower index on a tie, as on the
 * CPU. One work-item takes one row and writes its label and its squared
 * distance to that centroid; the host updates the centroids.
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

__kernel void kmeans_assign(__global const real *x, __global const real *centroids, ulong n, ulong d, ulong k,
			    __global long *labels, __global real *nearest)
{
	ulong i = get_global_id(0);
	if (i >= n)
		return;
	__global const real *row = x + i * d;

	ulong best = 0;
	real best_dist = squared_distance(row, centroids, d);
	for (ulong c = 1; c < k; c++) {
		real dist = squared_distance(row, centroids + c * d, d);
		if (dist < best_dist) {
			best = c;
			best_dist = dist;
		}
	}
	labels[i] = (long)best;
	nearest[i] = best_dist;
}
