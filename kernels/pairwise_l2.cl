/*
 * Euclidean distances between the rows of x (n x d) and y (m x d), out
 * n x m. Each work-group computes a PAIRWISE_TILE x PAIRWISE_TILE block
 * of the result: it walks the width in steps of PAIRWISE_TILE, loading
 * one tile of x's rows and one of y's into local memory, so that each
 * element is read from global memory once per block instead of once per
 * distance. Launched with a local size of PAIRWISE_TILE x PAIRWISE_TILE:
 * dimension 0 runs over y's rows, dimension 1 over x's.
 *
 * Each distance sums the squared differences in order of the column, as
 * the CPU does, so d(i, j) and d(j, i) come out equal and a matrix of x
 * against itself is exactly symmetric.
 */
#ifdef REAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef REAL real;

#define PAIRWISE_TILE 16

__kernel __attribute__((reqd_work_group_size(PAIRWISE_TILE, PAIRWISE_TILE, 1))) void
pairwise_l2(__global const real *x, __global const real *y, ulong n, ulong m, ulong d, int squared,
	    __global real *out)
{
	/* One spare column keeps the threads of a row of the tile on
	 * different local memory banks on GPUs. */
	__local real x_tile[PAIRWISE_TILE][PAIRWISE_TILE + 1];
	__local real y_tile[PAIRWISE_TILE][PAIRWISE_TILE + 1];
	size_t lx = get_local_id(0);
	size_t ly = get_local_id(1);
	ulong i = get_global_id(1);
	ulong j = get_global_id(0);
	ulong x_row = get_group_id(1) * PAIRWISE_TILE + ly;
	ulong y_row = get_group_id(0) * PAIRWISE_TILE + ly;

	/* Work-items past the edge still load and wait at the barriers with
	 * the others; they only skip the store. */
	real sum = 0;
	for (ulong start = 0; start < d; start += PAIRWISE_TILE) {
		ulong column = start + lx;
		x_tile[ly][lx] = x_row < n && column < d ? x[x_row * d + column] : 0;
		y_tile[ly][lx] = y_row < m && column < d ? y[y_row * d + column] : 0;
		barrier(CLK_LOCAL_MEM_FENCE);

		ulong width = min((ulong)PAIRWISE_TILE, d - start);
		for (ulong c = 0; c < width; c++) {
			real diff = x_tile[ly][c] - y_tile[lx][c];
			sum += diff * diff;
		}
		barrier(CLK_LOCAL_MEM_FENCE);
	}

	if (i < n && j < m)
		out[i * m + j] = squared ? sum : sqrt(sum);
}
