/*
 * Triad, a[i] = b[i] + s * c[i] on float32 buffers that stay on the device:
 * the bandwidth the device gives a plain streaming kernel, which the
 * memory-bound kernels are measured against. Timed from the profiling
 * timestamps of the kernel's event, on a queue of our own.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "device_bench.h"

/* Work-groups of TRIAD_GROUP work items; only the last one checks its
 * bounds. On PoCL a check in every work item turns each access into a
 * masked load or store, and a triad written that way measured less than
 * the device's bandwidth: the engine's map ran faster than it. */
#define TRIAD_GROUP 64

static const char triad_source[] =
	"#define GROUP 64\n"
	"__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1))) void\n"
	"triad(__global float *a, __global const float *b, __global const float *c, float s, uint n)\n"
	"{\n"
	"	size_t i = get_global_id(0);\n"
	"	if ((get_group_id(0) + 1) * GROUP <= n)\n"
	"		a[i] = b[i] + s * c[i];\n"
	"	else if (i < n)\n"
	"		a[i] = b[i] + s * c[i];\n"
	"}\n";

#define TRIAD_B 1.0f
#define TRIAD_C 2.0f
#define TRIAD_S 3.0f

struct bench_triad {
	cl_command_queue queue;
	cl_kernel kernel;
	cl_mem a, b, c;
	size_t elements;
	double compile_ms;
};

typedef bench_triad_t triad_t;

size_t bench_stream_elements(const bench_t *b)
{
	cl_ulong max_alloc = 0;
	clGetDeviceInfo(bl_gpu_device_id(b->gpu), CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);

	size_t bytes = (b->quick ? 16u : 64u) << 20;
	if (max_alloc / 2 < bytes)
		bytes = (size_t)(max_alloc / 2);
	return bytes / sizeof(float) / 4096 * 4096;
}

static void triad_release(triad_t *t)
{
	if (t->a)
		clReleaseMemObject(t->a);
	if (t->b)
		clReleaseMemObject(t->b);
	if (t->c)
		clReleaseMemObject(t->c);
	if (t->kernel)
		clReleaseKernel(t->kernel);
	if (t->queue)
		clReleaseCommandQueue(t->queue);
}

/* Create a buffer of t->elements floats, every one `value`. */
static int filled_buffer(cl_mem *out, triad_t *t, cl_context context, float value, bl_error_t *err)
{
	cl_int status;
	*out = clCreateBuffer(context, CL_MEM_READ_WRITE, t->elements * sizeof(float), NULL, &status);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clCreateBuffer(triad)");

	status = clEnqueueFillBuffer(t->queue, *out, &value, sizeof value, 0, t->elements * sizeof(float), 0, NULL,
				     NULL);
	return status == CL_SUCCESS ? 0 : bl_gpu_error(err, status, "clEnqueueFillBuffer(triad)");
}

static int set_arguments(triad_t *t, bl_error_t *err)
{
	cl_float s = TRIAD_S;
	cl_uint n = (cl_uint)t->elements;
	cl_int status = clSetKernelArg(t->kernel, 0, sizeof t->a, &t->a);
	status |= clSetKernelArg(t->kernel, 1, sizeof t->b, &t->b);
	status |= clSetKernelArg(t->kernel, 2, sizeof t->c, &t->c);
	status |= clSetKernelArg(t->kernel, 3, sizeof s, &s);
	status |= clSetKernelArg(t->kernel, 4, sizeof n, &n);
	return status == CL_SUCCESS ? 0 : bl_error_set(err, BL_EINVAL, NULL, "clSetKernelArg(triad) failed");
}

static int triad_setup(triad_t *t, bench_t *b, bl_error_t *err)
{
	cl_context context = bl_gpu_context(b->gpu);
	cl_int status;
	t->elements = bench_stream_elements(b);
	t->queue = clCreateCommandQueue(context, bl_gpu_device_id(b->gpu), CL_QUEUE_PROFILING_ENABLE, &status);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clCreateCommandQueue(triad)");

	cl_program program;
	int rc = bl_gpu_program(&program, b->gpu, triad_source, "", &t->compile_ms, err);
	if (rc < 0)
		return rc;
	t->kernel = clCreateKernel(program, "triad", &status);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clCreateKernel(triad)");

	if ((rc = filled_buffer(&t->a, t, context, 0.0f, err)) < 0 ||
	    (rc = filled_buffer(&t->b, t, context, TRIAD_B, err)) < 0 ||
	    (rc = filled_buffer(&t->c, t, context, TRIAD_C, err)) < 0)
		return rc;
	return set_arguments(t, err);
}

/* Run the kernel once and return its device time in *ms. */
static int triad_run(double *ms, triad_t *t, bl_error_t *err)
{
	size_t local = TRIAD_GROUP;
	size_t global = (t->elements + TRIAD_GROUP - 1) / TRIAD_GROUP * TRIAD_GROUP;
	cl_event event;
	cl_int status = clEnqueueNDRangeKernel(t->queue, t->kernel, 1, NULL, &global, &local, 0, NULL, &event);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueNDRangeKernel(triad)");

	cl_ulong start = 0, end = 0;
	status = clWaitForEvents(1, &event);
	if (status == CL_SUCCESS)
		status = clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
	if (status == CL_SUCCESS)
		status = clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
	clReleaseEvent(event);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "triad's profiling timestamps");
	if (end <= start)
		return bl_error_set(err, BL_EINVAL, NULL, "the device's profiling timestamps gave triad no time");
	*ms = (double)(end - start) / 1e6;
	return 0;
}

/* Read a back and check every element: a kernel that skipped work would
 * otherwise report an impossible bandwidth. */
static int triad_check(triad_t *t, bl_error_t *err)
{
	float *a = malloc(t->elements * sizeof *a);
	if (!a)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory checking triad");

	cl_int status = clEnqueueReadBuffer(t->queue, t->a, CL_TRUE, 0, t->elements * sizeof *a, a, 0, NULL, NULL);
	size_t bad = t->elements;
	for (size_t i = 0; status == CL_SUCCESS && i < t->elements && bad == t->elements; i++)
		if (!(fabsf(a[i] - (TRIAD_B + TRIAD_S * TRIAD_C)) <= 1e-6f))
			bad = i;
	float value = bad < t->elements ? a[bad] : 0.0f;
	free(a);

	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueReadBuffer(triad)");
	if (bad < t->elements)
		return bl_error_set(err, BL_EINVAL, NULL, "triad computed a[%zu] = %g, expected %g", bad, value,
				    TRIAD_B + TRIAD_S * TRIAD_C);
	return 0;
}

static json_t *triad_report(const triad_t *t, double *kernel_ms, double *gbps, unsigned reps)
{
	double bytes = 3.0 * (double)(t->elements * sizeof(float));
	summary_t ms = bench_summarize(kernel_ms, reps);
	summary_t bw = bench_summarize(gbps, reps);

	fprintf(stderr, "\ntriad, 3 x %.0f MiB          %10.2f GB/s  [%.2f - %.2f]  kernel %.3f ms\n",
		(double)(t->elements * sizeof(float)) / 1048576.0, bw.median, bw.min, bw.max, ms.median);
	return json_pack("{s:I, s:f, s:f, s:o, s:o}", "elements", (json_int_t)t->elements, "bytes", bytes,
			 "compile_ms", t->compile_ms, "kernel_ms", bench_summary_json(ms), "bandwidth_gbps",
			 bench_summary_json(bw));
}

/* Return triad's GB/s for a run of `ms` milliseconds. */
static double triad_rate(const triad_t *t, double ms)
{
	return 3.0 * (double)(t->elements * sizeof(float)) / (ms * 1e6);
}

int bench_triad_open(bench_triad_t **out, bench_t *b, bl_error_t *err)
{
	triad_t *t = calloc(1, sizeof *t);
	if (!t)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for triad");

	double warm;
	int rc = triad_setup(t, b, err);
	if (rc == 0)
		rc = triad_run(&warm, t, err);
	if (rc == 0)
		rc = triad_check(t, err);
	if (rc < 0) {
		bench_triad_close(&t);
		return rc;
	}
	*out = t;
	return 0;
}

int bench_triad_gbps(double *gbps, bench_triad_t *t, bl_error_t *err)
{
	double ms;
	int rc = triad_run(&ms, t, err);
	if (rc == 0)
		*gbps = triad_rate(t, ms);
	return rc;
}

void bench_triad_close(bench_triad_t **t)
{
	if (!*t)
		return;
	triad_release(*t);
	free(*t);
	*t = NULL;
}

int bench_triad(json_t **out, bench_triad_t *t, const bench_t *b, bl_error_t *err)
{
	double kernel_ms[BENCH_REPS_MAX], rates[BENCH_REPS_MAX];
	int rc = 0;

	for (unsigned r = 0; rc == 0 && r < b->reps; r++) {
		rc = triad_run(&kernel_ms[r], t, err);
		if (rc == 0)
			rates[r] = triad_rate(t, kernel_ms[r]);
	}
	if (rc == 0)
		*out = triad_report(t, kernel_ms, rates, b->reps);
	return rc;
}
