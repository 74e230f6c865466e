/*
 * Launches: uploads, kernel runs and downloads on one in-order queue,
 * submitted without waiting, completed through an event callback.
 */
#define _GNU_SOURCE /* strdup in C17 mode */
#include <stdlib.h>
#include <string.h>

#include "device.h"

typedef struct held_buffer {
	cl_mem mem;
	size_t size;
} held_buffer_t;

typedef struct kept {
	void *ptr;
	void (*free_fn)(void *);
} kept_t;

struct bl_gpu_launch {
	bl_gpu_t *gpu;
	cl_command_queue queue;
	char *tenant;
	uint64_t limit;
	uint64_t reserved; /* bytes taken against the tenant */

	held_buffer_t *buffers;
	size_t buffer_count, buffer_cap;
	cl_kernel *kernels;
	size_t kernel_count, kernel_cap;
	cl_event *runs; /* one event per kernel run, for its device time */
	size_t run_count, run_cap;
	double kernel_ms;
	kept_t *kept;
	size_t kept_count, kept_cap;

	bl_gpu_step_fn step;
	void *step_arg;
	bool enqueued; /* commands were enqueued since the last submit */
	double compile_ms;

	bl_gpu_done_fn done;
	void *done_ctx;
};

/* Grow an array of `size`-byte items to hold one more; false when memory
 * runs out. */
static bool reserve_one(void **items, size_t *cap, size_t count, size_t size)
{
	if (count < *cap)
		return true;

	size_t grown = *cap ? *cap * 2 : 8;
	void *p = realloc(*items, grown * size);
	if (!p)
		return false;
	*items = p;
	*cap = grown;
	return true;
}

int bl_gpu_launch_new(bl_gpu_launch_t **out, bl_gpu_t *gpu, const char *tenant, uint64_t tenant_limit,
		      bl_error_t *err)
{
	bl_gpu_launch_t *launch = calloc(1, sizeof *launch);
	if (!launch || !(launch->tenant = strdup(tenant ? tenant : ""))) {
		free(launch);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory starting a device launch");
	}

	unsigned q = atomic_fetch_add_explicit(&gpu->next_queue, 1, memory_order_relaxed) % gpu->queue_count;
	launch->gpu = gpu;
	launch->queue = gpu->queues[q];
	launch->limit = tenant_limit;
	*out = launch;
	return 0;
}

bl_gpu_t *gpu_launch_device(const bl_gpu_launch_t *launch)
{
	return launch->gpu;
}

bool gpu_launch_cpu_kernels(const bl_gpu_launch_t *launch)
{
	return launch->gpu->cpu_kernels;
}

double bl_gpu_launch_compile_ms(const bl_gpu_launch_t *launch)
{
	return launch->compile_ms;
}

cl_command_queue gpu_launch_queue(const bl_gpu_launch_t *launch)
{
	return launch->queue;
}

void gpu_launch_mark_enqueued(bl_gpu_launch_t *launch)
{
	launch->enqueued = true;
}

void gpu_launch_add_compile_ms(bl_gpu_launch_t *launch, double ms)
{
	launch->compile_ms += ms;
}

/* ------------------------------------------------------------------------ */
/* Buffers and transfers                                                     */
/* ------------------------------------------------------------------------ */

static int poison(bl_gpu_launch_t *launch, cl_mem mem, size_t size, bl_error_t *err)
{
	static const unsigned char pattern = 0xFF;
	cl_int status = clEnqueueFillBuffer(launch->queue, mem, &pattern, 1, 0, size, 0, NULL, NULL);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueFillBuffer");
	launch->enqueued = true;
	return 0;
}

int bl_gpu_alloc(cl_mem *out, bl_gpu_launch_t *launch, size_t bytes, bl_error_t *err)
{
	if (bytes > launch->gpu->max_alloc)
		return bl_error_set(err, BL_ELIMIT, NULL,
				    "a tensor of %zu bytes is larger than the largest buffer the OpenCL device can "
				    "allocate (%llu bytes); use device \"cpu\" or smaller inputs",
				    bytes, (unsigned long long)launch->gpu->max_alloc);
	size_t size = gpu_buffer_class(bytes);
	if (size > launch->gpu->max_alloc)
		size = bytes; /* the size class would not fit, the exact size does */
	if (!reserve_one((void **)&launch->buffers, &launch->buffer_cap, launch->buffer_count, sizeof *launch->buffers))
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory starting a device buffer");

	int rc = gpu_tenant_reserve(launch->gpu, launch->tenant, size, launch->limit, err);
	if (rc < 0)
		return rc;

	cl_mem mem;
	rc = gpu_buffer_take(&mem, launch->gpu, size, err);
	if (rc < 0) {
		gpu_tenant_release(launch->gpu, launch->tenant, size);
		return rc;
	}
	launch->reserved += size;
	launch->buffers[launch->buffer_count++] = (held_buffer_t){mem, size};

	if (launch->gpu->poison && (rc = poison(launch, mem, size, err)) < 0)
		return rc;
	*out = mem;
	return 0;
}

int bl_gpu_upload(cl_mem *out, bl_gpu_launch_t *launch, const bl_tensor_t *t, bl_error_t *err)
{
	cl_mem mem;
	int rc = bl_gpu_alloc(&mem, launch, t->nbytes, err);
	if (rc < 0)
		return rc;

	if (t->nbytes) {
		cl_int status =
			clEnqueueWriteBuffer(launch->queue, mem, CL_FALSE, 0, t->nbytes, t->data, 0, NULL, NULL);
		if (status != CL_SUCCESS)
			return bl_gpu_error(err, status, "clEnqueueWriteBuffer");
		launch->enqueued = true;
	}
	*out = mem;
	return 0;
}

int bl_gpu_download(bl_gpu_launch_t *launch, cl_mem buffer, bl_tensor_t *t, bl_error_t *err)
{
	if (t->nbytes == 0)
		return 0;

	cl_int status = clEnqueueReadBuffer(launch->queue, buffer, CL_FALSE, 0, t->nbytes, t->data, 0, NULL, NULL);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueReadBuffer");
	launch->enqueued = true;
	return 0;
}

int gpu_launch_keep(bl_gpu_launch_t *launch, void *ptr, void (*free_fn)(void *))
{
	if (!reserve_one((void **)&launch->kept, &launch->kept_cap, launch->kept_count, sizeof *launch->kept)) {
		free_fn(ptr);
		return BL_ENOMEM;
	}
	launch->kept[launch->kept_count++] = (kept_t){ptr, free_fn};
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Kernels                                                                   */
/* ------------------------------------------------------------------------ */

int bl_gpu_kernel(cl_kernel *out, bl_gpu_launch_t *launch, cl_program program, const char *name, bl_error_t *err)
{
	if (!reserve_one((void **)&launch->kernels, &launch->kernel_cap, launch->kernel_count, sizeof *launch->kernels))
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory creating kernel %s", name);

	cl_int status;
	cl_kernel kernel = clCreateKernel(program, name, &status);
	if (status != CL_SUCCESS) {
		int rc = bl_gpu_error(err, status, "clCreateKernel");
		bl_error_prefix(err, "kernel '%s': ", name);
		return rc;
	}
	launch->kernels[launch->kernel_count++] = kernel;
	*out = kernel;
	return 0;
}

static const char *kernel_name(cl_kernel kernel, char *out, size_t size)
{
	if (clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, size, out, NULL) != CL_SUCCESS)
		snprintf(out, size, "a kernel");
	out[size - 1] = '\0';
	return out;
}

int bl_gpu_run(bl_gpu_launch_t *launch, cl_kernel kernel, unsigned dims, const size_t *global,
	       const size_t *local, bl_error_t *err)
{
	if (dims == 0 || dims > 3)
		return bl_error_set(err, BL_EINVAL, NULL, "a kernel runs in 1 to 3 dimensions, not %u", dims);

	size_t rounded[3];
	for (unsigned d = 0; d < dims; d++) {
		if (global[d] == 0)
			return 0; /* nothing to run */
		size_t l = local ? local[d] : 1;
		rounded[d] = (global[d] + l - 1) / l * l;
	}

	if (!reserve_one((void **)&launch->runs, &launch->run_cap, launch->run_count, sizeof *launch->runs))
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory enqueueing a kernel");
	cl_event *event = &launch->runs[launch->run_count];
	cl_int status = clEnqueueNDRangeKernel(launch->queue, kernel, dims, NULL, rounded, local, 0, NULL, event);
	if (status == CL_SUCCESS)
		launch->run_count++;
	if (status != CL_SUCCESS) {
		char name[128], what[160];
		snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", kernel_name(kernel, name, sizeof name));
		return bl_gpu_error(err, status, what);
	}
	launch->enqueued = true;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Submitting and completing                                                 */
/* ------------------------------------------------------------------------ */

int bl_gpu_launch_then(bl_gpu_launch_t *launch, bl_gpu_step_fn fn, void *arg, bl_error_t *err)
{
	if (launch->step)
		return bl_error_set(err, BL_EINVAL, NULL, "a host step is already pending on this launch");
	launch->step = fn;
	launch->step_arg = arg;
	return 0;
}

/* Add the device time of the kernel runs that completed, and release
 * their events. */
static void collect_kernel_time(bl_gpu_launch_t *launch)
{
	for (size_t i = 0; i < launch->run_count; i++) {
		cl_ulong start = 0, end = 0;
		if (clGetEventProfilingInfo(launch->runs[i], CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) ==
			    CL_SUCCESS &&
		    clGetEventProfilingInfo(launch->runs[i], CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) ==
			    CL_SUCCESS &&
		    end > start)
			launch->kernel_ms += (double)(end - start) / 1e6;
		clReleaseEvent(launch->runs[i]);
	}
	launch->run_count = 0;
}

double bl_gpu_launch_kernel_ms(const bl_gpu_launch_t *launch)
{
	return launch->kernel_ms;
}

int bl_gpu_launch_continue(bl_gpu_launch_t *launch, bl_error_t *err)
{
	collect_kernel_time(launch);
	bl_gpu_step_fn step = launch->step;
	launch->step = NULL;
	launch->enqueued = false;
	if (!step)
		return 0;

	int rc = step(launch, launch->step_arg, err);
	if (rc < 0)
		return rc;
	return launch->enqueued || launch->step ? 1 : 0;
}

static void CL_CALLBACK on_complete(cl_event event, cl_int status, void *user)
{
	bl_gpu_launch_t *launch = user;
	bl_error_t err = {0};
	int rc = status < 0 ? bl_gpu_error(&err, status, "a device command") : 0;

	clReleaseEvent(event);
	launch->done(launch->done_ctx, rc, rc < 0 ? &err : NULL);
}

int bl_gpu_launch_submit(bl_gpu_launch_t *launch, bl_gpu_done_fn done, void *ctx, bl_error_t *err)
{
	cl_event marker;
	cl_int status = clEnqueueMarkerWithWaitList(launch->queue, 0, NULL, &marker);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueMarkerWithWaitList");

	launch->done = done;
	launch->done_ctx = ctx;
	status = clSetEventCallback(marker, CL_COMPLETE, on_complete, launch);
	if (status != CL_SUCCESS) {
		clWaitForEvents(1, &marker); /* the commands must not outlive the launch */
		clReleaseEvent(marker);
		return bl_gpu_error(err, status, "clSetEventCallback");
	}

	/* A failed flush only delays the start: the callback still runs once
	 * the marker completes. */
	clFlush(launch->queue);
	return 0;
}

static int wait_once(bl_gpu_launch_t *launch, bl_error_t *err)
{
	cl_event marker;
	cl_int status = clEnqueueMarkerWithWaitList(launch->queue, 0, NULL, &marker);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueMarkerWithWaitList");

	status = clWaitForEvents(1, &marker);
	cl_int execution = CL_COMPLETE;
	clGetEventInfo(marker, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof execution, &execution, NULL);
	clReleaseEvent(marker);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clWaitForEvents");
	if (execution < 0)
		return bl_gpu_error(err, execution, "a device command");
	return 0;
}

int bl_gpu_launch_wait(bl_gpu_launch_t *launch, bl_error_t *err)
{
	for (;;) {
		int rc = wait_once(launch, err);
		if (rc < 0)
			return rc;
		rc = bl_gpu_launch_continue(launch, err);
		if (rc <= 0)
			return rc;
	}
}

void bl_gpu_launch_free(bl_gpu_launch_t **launchp)
{
	bl_gpu_launch_t *launch = *launchp;
	if (!launch)
		return;
	*launchp = NULL;

	/* A launch freed after a failure may still have commands queued
	 * that use its buffers and host memory. */
	if (launch->enqueued)
		clFinish(launch->queue);
	for (size_t i = 0; i < launch->run_count; i++)
		clReleaseEvent(launch->runs[i]);
	for (size_t i = 0; i < launch->kernel_count; i++)
		clReleaseKernel(launch->kernels[i]);
	for (size_t i = 0; i < launch->buffer_count; i++)
		gpu_buffer_give(launch->gpu, launch->buffers[i].mem, launch->buffers[i].size);
	gpu_tenant_release(launch->gpu, launch->tenant, launch->reserved);
	for (size_t i = 0; i < launch->kept_count; i++)
		launch->kept[i].free_fn(launch->kept[i].ptr);

	free(launch->kernels);
	free(launch->runs);
	free(launch->buffers);
	free(launch->kept);
	free(launch->tenant);
	free(launch);
}
