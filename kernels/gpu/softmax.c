/*
 * Row-wise softmax on the device: checks as bl_cpu_softmax, then the
 * launches of softmax.cl, which first find each row's maximum and sum of
 * exponentials and then write every element. On a CPU device a row of up
 * to GPU_CPU_PIECE elements takes one work-group that does both.
 */
#include <stdio.h>

#include "grid.h"

/* Statistics of one softmax on the device: a maximum and a sum per row. */
typedef struct stats {
	cl_mem m;
	cl_mem s;
} stats_t;

/* Enqueue the statistics of rows cut into `chunks` pieces of a work-group
 * each: per piece, then merged per row into *row. */
static int enqueue_pieces(bl_gpu_launch_t *launch, const gpu_real_t *real, cl_mem x, size_t rows, size_t cols,
			  size_t chunks, const stats_t *row, bl_error_t *err)
{
	stats_t piece;
	size_t piece_bytes = rows * chunks * bl_dtype_size(real->dtype);
	int rc = bl_gpu_alloc(&piece.m, launch, piece_bytes, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&piece.s, launch, piece_bytes, err);
	if (rc < 0)
		return rc;

	const gpu_kernel_arg_t piece_args[] = {
		GPU_ARG_MEM(x),
		GPU_ARG_ULONG(rows),
		GPU_ARG_ULONG(cols),
		GPU_ARG_ULONG(chunks),
		GPU_ARG_MEM(piece.m),
		GPU_ARG_MEM(piece.s),
	};
	rc = gpu_run_kernel(launch, "softmax.cl", real, "softmax_piece_stats", piece_args, GPU_ARG_COUNT(piece_args),
			    gpu_groups_cap(rows * chunks), err);
	if (rc < 0)
		return rc;

	const gpu_kernel_arg_t merge_args[] = {
		GPU_ARG_MEM(piece.m),
		GPU_ARG_MEM(piece.s),
		GPU_ARG_ULONG(rows),
		GPU_ARG_ULONG(chunks),
		GPU_ARG_MEM(row->m),
		GPU_ARG_MEM(row->s),
	};
	return gpu_run_kernel(launch, "softmax.cl", real, "softmax_merge", merge_args, GPU_ARG_COUNT(merge_args),
			      gpu_groups_for(rows), err);
}

/*
 * Enqueue the statistics of every row into *row. Short rows, or more rows
 * than columns, take one work item per row. Long rows are cut into pieces
 * of a work-group each, merged per row when there is more than one.
 */
static int enqueue_stats(bl_gpu_launch_t *launch, const gpu_real_t *real, cl_mem x, size_t rows, size_t cols,
			 const stats_t *row, bl_error_t *err)
{
	if (cols <= GPU_LOCAL_1D || rows >= cols) {
		const gpu_kernel_arg_t args[] = {
			GPU_ARG_MEM(x),
			GPU_ARG_ULONG(rows),
			GPU_ARG_ULONG(cols),
			GPU_ARG_MEM(row->m),
			GPU_ARG_MEM(row->s),
		};
		return gpu_run_kernel(launch, "softmax.cl", real, "softmax_row_stats", args, GPU_ARG_COUNT(args),
				      gpu_groups_for(rows), err);
	}

	size_t chunks = gpu_pieces_per_line(rows, cols);
	if (chunks > 1)
		return enqueue_pieces(launch, real, x, rows, cols, chunks, row, err);
	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(x),
		GPU_ARG_ULONG(rows),
		GPU_ARG_ULONG(cols),
		GPU_ARG_ULONG(chunks),
		GPU_ARG_MEM(row->m),
		GPU_ARG_MEM(row->s),
	};
	return gpu_run_kernel(launch, "softmax.cl", real, "softmax_piece_stats", args, GPU_ARG_COUNT(args),
			      gpu_groups_cap(rows), err);
}

/* The CPU form for rows of at most GPU_CPU_PIECE elements: one
 * work-group per row, whose program unrolls the ceil(cols / GPU_LOCAL_1D)
 * blocks of a row and checks bounds only in a partial last block.
 * NOTE: each number of blocks, with and without a partial block, is a
 * program of its own, so rows of up to 4096 elements may need up to 128
 * programs. Each is compiled on first use (about 2 s with PoCL 3.1 here)
 * and then kept per device, and on disk when a cache folder is set. */
static int enqueue_rows_blocks(bl_gpu_launch_t *launch, const gpu_real_t *real, cl_mem x, size_t rows, size_t cols,
			       cl_mem out, bl_error_t *err)
{
	size_t blocks = (cols + GPU_LOCAL_1D - 1) / GPU_LOCAL_1D;
	bool tail = cols % GPU_LOCAL_1D != 0;
	char options[96];
	snprintf(options, sizeof options, "%s -DSOFTMAX_BLOCKS=%zu -DSOFTMAX_TAIL=%d", real->options, blocks,
		 (int)tail);
	const gpu_real_t program = {real->dtype, options};

	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(x),
		GPU_ARG_UINT(cols),
		GPU_ARG_MEM(out),
	};
	return gpu_run_kernel(launch, "softmax.cl", &program, "softmax_rows_blocks", args, GPU_ARG_COUNT(args), rows,
			      err);
}

/* The GPU form: enqueue the statistics of every row, then the softmax
 * of every element from them. */
static int enqueue_two_steps(bl_gpu_launch_t *launch, const gpu_real_t *real, cl_mem x, size_t rows, size_t cols,
			     cl_mem out, bl_error_t *err)
{
	size_t row_bytes = rows * bl_dtype_size(real->dtype);
	stats_t row;
	int rc = bl_gpu_alloc(&row.m, launch, row_bytes, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&row.s, launch, row_bytes, err);
	if (rc == 0)
		rc = enqueue_stats(launch, real, x, rows, cols, &row, err);
	if (rc < 0)
		return rc;

	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(x),
		GPU_ARG_ULONG(rows * cols),
		GPU_ARG_ULONG(cols),
		GPU_ARG_MEM(row.m),
		GPU_ARG_MEM(row.s),
		GPU_ARG_MEM(out),
	};
	return gpu_run_kernel(launch, "softmax.cl", real, "softmax_write", args, GPU_ARG_COUNT(args),
			      gpu_groups_for(rows * cols), err);
}

/* Upload x, enqueue the softmax of every element into a device buffer,
 * and download that into t. On a CPU device, rows of up to GPU_CPU_PIECE
 * elements take the CPU form. x must not be empty. */
static int enqueue_softmax(bl_gpu_launch_t *launch, bl_tensor_t *t, const gpu_real_t *real, const bl_tensor_t *x,
			   bl_error_t *err)
{
	size_t rows = x->ndim == 2 ? x->shape[0] : 1;
	size_t cols = x->shape[x->ndim - 1];
	cl_mem x_buf;
	cl_mem out_buf;
	int rc = gpu_upload_as(&x_buf, launch, x, real->dtype, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&out_buf, launch, t->nbytes, err);
	if (rc < 0)
		return rc;

	if (gpu_launch_cpu_kernels(launch) && cols <= GPU_CPU_PIECE)
		rc = enqueue_rows_blocks(launch, real, x_buf, rows, cols, out_buf, err);
	else
		rc = enqueue_two_steps(launch, real, x_buf, rows, cols, out_buf, err);
	if (rc < 0)
		return rc;
	return bl_gpu_download(launch, out_buf, t, err);
}

int bl_gpu_softmax(bl_gpu_launch_t *launch, bl_tensor_t **out, const bl_tensor_t *x, bl_error_t *err)
{
	if (x->ndim != 1 && x->ndim != 2)
		return bl_error_set(err, BL_EINVAL, "x", "x is %u-D, expected 1-D or 2-D", x->ndim);
	const bl_tensor_t *inputs[] = {x};
	gpu_real_t real;
	int rc = gpu_real_for(&real, launch, inputs, 1, err);
	if (rc < 0)
		return rc;

	bl_tensor_t *t;
	rc = bl_tensor_new(&t, real.dtype, x->ndim, x->shape, err);
	if (rc < 0)
		return rc;
	if (x->count > 0)
		rc = enqueue_softmax(launch, t, &real, x, err);
	if (rc < 0) {
		bl_tensor_free(&t);
		return rc;
	}
	*out = t;
	return 0;
}
