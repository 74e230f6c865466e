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

/* Return the work-group size of the CPU form for rows of `cols` in
 * `dtype`. In float32 that is 8 up to 256 and 16 above, so that a vector
 * of work items reads a row in order (see softmax.cl). Rows of 256 took
 * 6.3 ms with 8 against 7.2 with 16. Rows of 512 to 4096 ran as fast
 * with 16, which unrolls half as many blocks. float64 keeps GPU_LOCAL_1D,
 * because its exp is PoCL's library routine: a row of 3001 in blocks of
 * 16 took 20 s to compile.
 * NOTE: float64 was not timed with smaller work-groups. */
static size_t rows_blocks_group(bl_dtype_t dtype, size_t cols)
{
	if (dtype == BL_DTYPE_F64)
		return GPU_LOCAL_1D;
	return cols <= 256 ? 8 : 16;
}

/* Enqueue the CPU form for rows of at most GPU_CPU_PIECE elements: one
 * work-group per row, whose program unrolls the row's blocks of
 * rows_blocks_group() elements and checks bounds only in a partial last
 * block.
 * NOTE: each number of blocks, with and without a partial block, is a
 * program of its own, so rows of up to 4096 elements may need about 540
 * programs in float32 and 130 more in float64. Each is compiled on first use and then kept per device, and
 * on disk when a cache folder is set. With PoCL 3.1 here that took 2.3 s
 * for rows of 1024 and 10 to 11 s for rows of 4096. */
static int enqueue_rows_blocks(bl_gpu_launch_t *launch, const gpu_real_t *real, cl_mem x, size_t rows, size_t cols,
			       cl_mem out, bl_error_t *err)
{
	size_t group = rows_blocks_group(real->dtype, cols);
	size_t blocks = (cols + group - 1) / group;
	bool tail = cols % group != 0;
	char options[128];
	snprintf(options, sizeof options, "%s -DSOFTMAX_GROUP=%zu -DSOFTMAX_BLOCKS=%zu -DSOFTMAX_TAIL=%d",
		 real->options, group, blocks, (int)tail);
	const gpu_real_t program = {real->dtype, options};

	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(x),
		GPU_ARG_UINT(cols),
		GPU_ARG_MEM(out),
	};
	return gpu_run_kernel_sized(launch, "softmax.cl", &program, "softmax_rows_blocks", args, GPU_ARG_COUNT(args),
				    rows, group, err);
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
