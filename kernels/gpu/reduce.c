/*
 * Reductions on the device: checks and output shape as bl_cpu_reduce, then
 * launches of reduce.cl: one or two, or on a CPU device one per factor of
 * GPU_CPU_PIECE in the line length. MEAN is a SUM whose last pass divides
 * by the line length.
 */
#include <stdio.h>

#include "cpu/checks.h"
#include "grid.h"

/* The op codes of reduce.cl. */
enum { DEVICE_SUM = 0, DEVICE_MAX = 1, DEVICE_MIN = 2 };

/* One pass of reduce.cl: its input and output and how it splits lines. */
typedef struct pass {
	const char *kernel;
	cl_mem in;
	size_t lines;
	size_t n;
	size_t inner;
	size_t chunks;
	double divisor;
	cl_mem out;
	size_t groups;
} pass_t;

static int device_op(bl_reduce_op_t op)
{
	switch (op) {
	case BL_REDUCE_MAX:
		return DEVICE_MAX;
	case BL_REDUCE_MIN:
		return DEVICE_MIN;
	case BL_REDUCE_SUM:
	case BL_REDUCE_MEAN:
		break;
	}
	return DEVICE_SUM;
}

/* Set the arguments of one pass and enqueue it. */
static int run_pass(bl_gpu_launch_t *launch, const gpu_real_t *real, cl_int op, const pass_t *p, bl_error_t *err)
{
	gpu_real_arg_t box;
	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(p->in),
		GPU_ARG_ULONG(p->lines),
		GPU_ARG_ULONG(p->n),
		GPU_ARG_ULONG(p->inner),
		GPU_ARG_ULONG(p->chunks),
		GPU_ARG_INT(op),
		gpu_arg_real(&box, real, p->divisor),
		GPU_ARG_MEM(p->out),
	};
	return gpu_run_kernel(launch, "reduce.cl", real, p->kernel, args, GPU_ARG_COUNT(args), p->groups,
			      err);
}

/* Enqueue one pass of reduce_blocks over `lines` contiguous lines of n
 * elements in `in`, into lines * chunks results in `out`. */
static int run_blocks(bl_gpu_launch_t *launch, const gpu_real_t *program, cl_mem in, size_t lines, size_t n,
		      size_t chunks, double divisor, cl_mem out, bl_error_t *err)
{
	gpu_real_arg_t box;
	const gpu_kernel_arg_t args[] = {
		GPU_ARG_MEM(in),
		GPU_ARG_ULONG(n),
		GPU_ARG_ULONG(chunks),
		gpu_arg_real(&box, program, divisor),
		GPU_ARG_MEM(out),
	};
	return gpu_run_kernel(launch, "reduce.cl", program, "reduce_blocks", args, GPU_ARG_COUNT(args),
			      lines * chunks, err);
}

/* The CPU form for contiguous lines: each pass reduces pieces of
 * GPU_CPU_PIECE elements into one result each, and the results are the
 * next pass's lines until one result per line is left. The op is a build
 * option, so each op is its own program. */
static int enqueue_blocks(bl_gpu_launch_t *launch, const gpu_real_t *real, bl_reduce_op_t op, size_t lines, size_t n,
			  cl_mem x_buf, cl_mem out_buf, bl_error_t *err)
{
	char options[96];
	snprintf(options, sizeof options, "%s -DREDUCE_OP=%d", real->options, device_op(op));
	const gpu_real_t program = {real->dtype, options};
	double divisor = op == BL_REDUCE_MEAN ? (double)n : 1.0;

	cl_mem in = x_buf;
	size_t chunks = (n + GPU_CPU_PIECE - 1) / GPU_CPU_PIECE;
	while (chunks > 1) {
		cl_mem pieces;
		int rc = bl_gpu_alloc(&pieces, launch, lines * chunks * bl_dtype_size(real->dtype), err);
		if (rc == 0)
			rc = run_blocks(launch, &program, in, lines, n, chunks, 1.0, pieces, err);
		if (rc < 0)
			return rc;
		in = pieces;
		n = chunks;
		chunks = (n + GPU_CPU_PIECE - 1) / GPU_CPU_PIECE;
	}
	return run_blocks(launch, &program, in, lines, n, 1, divisor, out_buf, err);
}

/*
 * Enqueue the passes that write every line's result to `out`. On a CPU
 * device, contiguous lines longer than a work-group take the CPU form
 * (enqueue_blocks). Otherwise short lines,
 * or more lines than elements in each, take one work item per line. Long
 * lines take work-groups over pieces, then one work-group per line over
 * the pieces' results when there is more than one piece.
 */
static int enqueue_lines(bl_gpu_launch_t *launch, const gpu_real_t *real, bl_reduce_op_t op, const bl__reduce_plan_t *p,
			 cl_mem x_buf, cl_mem out_buf, bl_error_t *err)
{
	size_t lines = p->outer * p->inner;
	if (gpu_launch_cpu_kernels(launch) && p->inner == 1 && p->n > GPU_LOCAL_1D)
		return enqueue_blocks(launch, real, op, lines, p->n, x_buf, out_buf, err);

	double divisor = op == BL_REDUCE_MEAN ? (double)p->n : 1.0;
	pass_t pass = {"reduce_lines", x_buf, lines, p->n, p->inner, 1, divisor, out_buf, gpu_groups_for(lines)};
	if (p->n <= GPU_LOCAL_1D || lines >= p->n)
		return run_pass(launch, real, device_op(op), &pass, err);

	pass.kernel = "reduce_groups";
	pass.chunks = gpu_pieces_per_line(lines, p->n);
	pass.groups = gpu_groups_cap(lines * pass.chunks);
	if (pass.chunks == 1)
		return run_pass(launch, real, device_op(op), &pass, err);

	cl_mem pieces;
	int rc = bl_gpu_alloc(&pieces, launch, lines * pass.chunks * bl_dtype_size(real->dtype), err);
	if (rc < 0)
		return rc;
	pass.divisor = 1.0;
	pass.out = pieces;
	rc = run_pass(launch, real, device_op(op), &pass, err);
	if (rc < 0)
		return rc;

	pass_t finish = {"reduce_groups", pieces, lines, pass.chunks, 1, 1, divisor, out_buf,
			 gpu_groups_cap(lines)};
	return run_pass(launch, real, device_op(op), &finish, err);
}

/* Upload x, reduce it into a device buffer and download that into t. There
 * must be at least one line and one element in each. */
static int enqueue_reduce(bl_gpu_launch_t *launch, bl_tensor_t *t, const gpu_real_t *real, bl_reduce_op_t op,
			  const bl__reduce_plan_t *p, const bl_tensor_t *x, bl_error_t *err)
{
	cl_mem x_buf;
	cl_mem out_buf;
	int rc = gpu_upload_as(&x_buf, launch, x, real->dtype, err);
	if (rc == 0)
		rc = bl_gpu_alloc(&out_buf, launch, t->nbytes, err);
	if (rc < 0)
		return rc;

	rc = enqueue_lines(launch, real, op, p, x_buf, out_buf, err);
	if (rc < 0)
		return rc;
	return bl_gpu_download(launch, out_buf, t, err);
}

int bl_gpu_reduce(bl_gpu_launch_t *launch, bl_tensor_t **out, bl_reduce_op_t op, const bl_tensor_t *x, int axis,
		  bool all, bl_error_t *err)
{
	bl__reduce_plan_t p;
	int rc = bl__reduce_plan(&p, op, x, axis, all, err);
	if (rc < 0)
		return rc;
	const bl_tensor_t *inputs[] = {x};
	gpu_real_t real;
	rc = gpu_real_for(&real, launch, inputs, 1, err);
	if (rc < 0)
		return rc;

	/* The result starts zeroed, which is already the SUM over nothing. */
	bl_tensor_t *t;
	rc = bl_tensor_new(&t, real.dtype, p.ndim, p.shape, err);
	if (rc < 0)
		return rc;
	if (t->count > 0 && p.n > 0)
		rc = enqueue_reduce(launch, t, &real, op, &p, x, err);
	if (rc < 0) {
		bl_tensor_free(&t);
		return rc;
	}
	*out = t;
	return 0;
}
