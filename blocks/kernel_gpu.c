/*
 * The device side of the kernel block. A run placed on the device gets an
 * actor on the GPU pool, which enqueues the kernel's launch. The OpenCL
 * completion callback sends the actor a message, from which a kernel that
 * works in rounds (k-means) enqueues its next round. When the launch has
 * run to its end, storing the outputs (file writes) goes back to the CPU
 * pool, so a GPU worker never waits on a disk.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/gpu.h>

#include <beamline/placement.h>

#include "kernel_run.h"

enum {
	MSG_GPU_START = 1,
	MSG_GPU_DONE, /* payload: gpu_done_t */
};

typedef struct gpu_done {
	int rc;
	bl_error_t error;
} gpu_done_t;

typedef struct gpu_runner {
	kernel_run_t *run;
	bl_gpu_launch_t *launch;
	bl_actor_t *self;    /* a reference for the callback's sends */
	bl_msg_t *done_msg;  /* allocated before each submit, so the callback never allocates */
	uint64_t launched_ns;
} gpu_runner_t;

/* Kernels run once on each device in this process. A first run is not a
 * fair sample for placement: on the device it includes the driver's own
 * compilation, on the CPU the first touch of OpenBLAS's buffers. */
static pthread_mutex_t warm_lock = PTHREAD_MUTEX_INITIALIZER;
static const kernel_spec_t *warm_kernels[2][32];
static size_t warm_count[2];

bool kernel_first_run(const kernel_spec_t *spec, bool on_gpu)
{
	bool first = true;

	pthread_mutex_lock(&warm_lock);
	for (size_t i = 0; i < warm_count[on_gpu]; i++)
		first = first && warm_kernels[on_gpu][i] != spec;
	if (first && warm_count[on_gpu] < sizeof warm_kernels[0] / sizeof warm_kernels[0][0])
		warm_kernels[on_gpu][warm_count[on_gpu]++] = spec;
	pthread_mutex_unlock(&warm_lock);
	return first;
}

/* Runs on a thread of the OpenCL implementation: only hands the result on. */
static void on_device_done(void *ctx, int rc, const bl_error_t *err)
{
	gpu_runner_t *g = ctx;
	bl_msg_t *msg = g->done_msg;
	gpu_done_t *done = bl_msg_payload(msg);

	g->done_msg = NULL;
	done->rc = rc;
	if (rc < 0 && err)
		done->error = *err;
	bl_send(g->self, &msg);
}

static int submit(gpu_runner_t *g, bl_error_t *err)
{
	g->done_msg = bl_msg_new(MSG_GPU_DONE, sizeof(gpu_done_t));
	if (!g->done_msg)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory submitting a device launch");
	memset(bl_msg_payload(g->done_msg), 0, sizeof(gpu_done_t));

	int rc = bl_gpu_launch_submit(g->launch, on_device_done, g, err);
	if (rc < 0)
		bl_msg_free(&g->done_msg);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Ending a run                                                              */
/* ------------------------------------------------------------------------ */

static void store_task(kernel_run_t *run, void *arg)
{
	(void)arg;
	kernel_run_finish(run, 0, NULL);
}

static void record(gpu_runner_t *g, bool usable)
{
	kernel_run_t *run = g->run;
	if (!run->env->placement)
		return;

	double compile_ms = g->launch ? bl_gpu_launch_compile_ms(g->launch) : 0;
	double ms = (double)(kernel_now_ns() - g->launched_ns) / 1e6 - compile_ms;
	bool cold = kernel_first_run(run->spec, true) || compile_ms > 0;
	bl_placement_record(run->env->placement, run->spec->name, run->work, BL_PLACE_GPU,
			    usable && !cold ? ms : -1.0);
}

static void finish_failed(gpu_runner_t *g, bl_actor_t *self, int rc, const bl_error_t *err)
{
	record(g, false);
	bl_gpu_launch_free(&g->launch);
	kernel_run_finish(g->run, rc, err);
	g->run = NULL;
	bl_actor_stop(self);
}

static void finish_done(gpu_runner_t *g, bl_actor_t *self)
{
	kernel_run_t *run = g->run;
	bl_error_t err = {0};

	record(g, true);
	run->compile_ms = bl_gpu_launch_compile_ms(g->launch);
	run->device_kernel_ms = bl_gpu_launch_kernel_ms(g->launch);
	bl_gpu_launch_free(&g->launch);
	int rc = run->spec->gpu_after ? run->spec->gpu_after(run) : 0;
	g->run = NULL;
	bl_actor_stop(self);

	if (rc < 0)
		kernel_run_finish(run, rc, &run->error);
	else if (kernel_run_submit(run, store_task, NULL) < 0)
		kernel_run_finish(run, bl_error_set(&err, BL_ESHUTDOWN, NULL, "the engine is shutting down"), &err);
}

/* ------------------------------------------------------------------------ */
/* The actor                                                                 */
/* ------------------------------------------------------------------------ */

static void on_start(gpu_runner_t *g, bl_actor_t *self)
{
	kernel_run_t *run = g->run;
	bl_error_t err = {0};

	/* A job that timed out while waiting for the device never reaches it.
	 * NOTE: one already on the device runs its launch to the end, since
	 * OpenCL cannot stop a kernel; k-means stops between rounds. */
	if (bl_cancel_requested(run->env->cancel)) {
		finish_failed(g, self, bl_error_set(&err, BL_ECANCELED, NULL, "the job was cancelled before its launch"),
			      &err);
		return;
	}
	g->launched_ns = kernel_now_ns();
	int rc = bl_gpu_launch_new(&g->launch, run->gpu, run->env->tenant, run->env->device_mem_limit, &err);
	if (rc == 0) {
		rc = run->spec->gpu_enqueue(run, g->launch);
		err = run->error;
	}
	if (rc == 0)
		rc = submit(g, &err);
	if (rc < 0)
		finish_failed(g, self, rc, &err);
}

static void on_done(gpu_runner_t *g, bl_actor_t *self, const gpu_done_t *done)
{
	bl_error_t err = {0};
	int rc = done->rc;

	if (rc < 0)
		err = done->error;
	if (rc == 0 && bl_cancel_requested(g->run->env->cancel))
		rc = bl_error_set(&err, BL_ECANCELED, NULL, "the job was cancelled while on the device");
	if (rc == 0)
		rc = bl_gpu_launch_continue(g->launch, &err);
	if (rc == 1)
		rc = submit(g, &err);
	else if (rc == 0) {
		finish_done(g, self);
		return;
	}
	if (rc < 0)
		finish_failed(g, self, rc, &err);
}

static int runner_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	gpu_runner_t *g = *(gpu_runner_t **)state;

	if (!g->run)
		return 0;
	if (msg->type == MSG_GPU_START)
		on_start(g, self);
	else if (msg->type == MSG_GPU_DONE)
		on_done(g, self, bl_msg_payload(msg));
	return 0;
}

/* The runner stops with its run still in flight only when the runtime
 * shuts down. The device work is waited for, so no command outlives its
 * buffers, and the run is dropped without a report: the job actor that
 * would receive it is being torn down as well. */
static void runner_stop(bl_actor_t *self, void *state, int reason)
{
	gpu_runner_t *g = *(gpu_runner_t **)state;
	(void)self;
	(void)reason;

	if (g->run) {
		bl_gpu_launch_free(&g->launch);
		kernel_run_drop(g->run);
	}
	bl_msg_free(&g->done_msg);
	bl_actor_release(&g->self);
	free(g);
}

static const bl_behaviour_t runner_behaviour = {
	.name = "gpu_runner",
	.receive = runner_receive,
	.stop = runner_stop,
};

int kernel_run_on_gpu(kernel_run_t *run)
{
	gpu_runner_t *g = calloc(1, sizeof *g);
	if (!g)
		return BL_ENOMEM;
	g->run = run;

	int rc = bl_actor_spawn(&g->self, run->env->gpu_pool, &runner_behaviour, &g, sizeof g);
	if (rc < 0) {
		free(g);
		return rc;
	}
	rc = bl_send_u64(g->self, MSG_GPU_START, 0);
	if (rc < 0) {
		g->run = NULL; /* the caller reports the failure */
		bl_actor_stop(g->self);
	}
	return rc;
}
