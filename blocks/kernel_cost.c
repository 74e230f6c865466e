/*
 * The cost of a kernel run, for placing it. Its work is what the
 * placement model buckets by powers of two, and its largest tensor on the
 * device must fit the device's largest buffer.
 */
#include "kernel_cost.h"
#include "kernel_run.h"

static double rows_of(const bl_tensor_t *t)
{
	return t && t->ndim >= 1 ? (double)t->shape[0] : 1.0;
}

static double width_of(const bl_tensor_t *t)
{
	return t && t->ndim >= 2 ? (double)t->shape[1] : 1.0;
}

/* Elements read: the default. */
double kernel_work_elements(const kernel_run_t *run)
{
	double elements = 0;
	for (unsigned i = 0; i < KERNEL_IO_MAX && run->spec->inputs[i]; i++)
		elements += run->in[i] ? (double)run->in[i]->count : 0;
	return elements;
}

double kernel_work_sgemm(const kernel_run_t *run)
{
	const bl_tensor_t *a = run->in[0], *b = run->in[1];
	bool trans_a = kernel_arg_bool(run->params, "trans_a", false);
	bool trans_b = kernel_arg_bool(run->params, "trans_b", false);
	double m = trans_a ? width_of(a) : rows_of(a);
	double k = trans_a ? rows_of(a) : width_of(a);
	double n = trans_b ? rows_of(b) : width_of(b);
	return m * n * k;
}

double kernel_work_pairwise(const kernel_run_t *run)
{
	const bl_tensor_t *x = run->in[0];
	return rows_of(x) * rows_of(run->in[1] ? run->in[1] : x) * width_of(x);
}

double kernel_work_knn(const kernel_run_t *run)
{
	return rows_of(run->in[0]) * rows_of(run->in[2]) * width_of(run->in[0]);
}

/* Bytes per element on the device: float32 stays, the rest is float64. */
static double device_size(const bl_tensor_t *t)
{
	return t && t->dtype == BL_DTYPE_F32 ? 4.0 : 8.0;
}

/* The largest input, in the dtype the device computes in: the default. */
double kernel_bytes_inputs(const kernel_run_t *run)
{
	double largest = 0;
	for (unsigned i = 0; i < KERNEL_IO_MAX && run->spec->inputs[i]; i++) {
		const bl_tensor_t *t = run->in[i];
		double bytes = t ? (double)t->count * device_size(t) : 0;
		largest = bytes > largest ? bytes : largest;
	}
	return largest;
}

/* The distance matrix, or the largest input when that is larger. */
double kernel_bytes_pairwise(const kernel_run_t *run)
{
	const bl_tensor_t *x = run->in[0];
	double distances = rows_of(x) * rows_of(run->in[1] ? run->in[1] : x) * device_size(x);
	double inputs = kernel_bytes_inputs(run);
	return distances > inputs ? distances : inputs;
}

double kernel_bytes_sgemm(const kernel_run_t *run)
{
	const bl_tensor_t *a = run->in[0], *b = run->in[1];
	bool trans_a = kernel_arg_bool(run->params, "trans_a", false);
	bool trans_b = kernel_arg_bool(run->params, "trans_b", false);
	double c = (trans_a ? width_of(a) : rows_of(a)) * (trans_b ? rows_of(b) : width_of(b)) * 4.0;
	double inputs = kernel_bytes_inputs(run);
	return c > inputs ? c : inputs;
}

double kernel_work_kmeans(const kernel_run_t *run)
{
	bl_kmeans_args_t args = kernel_kmeans_args(run);
	return rows_of(run->in[0]) * width_of(run->in[0]) * (double)args.k * (double)args.starts;
}

