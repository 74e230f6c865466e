/*
 * One run of the kernel block, from loading its inputs to reporting its
 * outcome. A run lives on the CPU pool: its first task loads the inputs
 * and computes; a kernel may fan out over more tasks (sgemm splits its rows)
 * and then the last task to finish completes the run.
 */
#ifndef BL_BLOCKS_KERNEL_RUN_H
#define BL_BLOCKS_KERNEL_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <beamline/blocks.h>

#include "kernel_params.h"

typedef struct kernel_run {
	json_t *params;            /* borrowed until the run reports */
	const bl_block_env_t *env; /* borrowed until the run reports */
	bl_block_done_fn done;
	void *ctx;
	const kernel_spec_t *spec;
	bl_tensor_t *in[KERNEL_IO_MAX];  /* indexed like spec->inputs; NULL when absent */
	bl_tensor_t *out[KERNEL_IO_MAX]; /* indexed like spec->outputs */
	json_t *metrics;                 /* what the kernel reports besides its outputs */
	uint64_t started_ns;
	uint64_t loaded_ns;
	bool loaded;                     /* every input loaded; failures after this are the kernel's */
	uint64_t _Atomic cpu_ns;         /* CPU time of every task of the run */
	uint64_t first_task_cpu_ns;      /* the first task's CPU clock when it started */

	/* The failure a compute function reports; with fan-out, the first
	 * task to set `failed` writes it. */
	bl_error_t error;
	int _Atomic failed;
	size_t _Atomic pending;          /* fan-out tasks still running */
	bl_sgemm_args_t sgemm;
	bl_kmeans_result_t kmeans;       /* the device k-means fills it */

	/* Placement: where the run computes, and how that was decided. */
	bool on_gpu;
	double compile_ms;               /* device runs: program builds */
	double device_kernel_ms;         /* device runs: the kernels' device time */
	bl_gpu_t *gpu;                   /* the device, when the job may use one */
	const char *choice;              /* "requested", "model" or "calibration" */
	double work;
} kernel_run_t;

/* Return input `name` (NULL when absent) or set output `name`, taking the
 * tensor. */
bl_tensor_t *kernel_in(kernel_run_t *run, const char *name);
void kernel_set_out(kernel_run_t *run, const char *name, bl_tensor_t *t);

/* Submit `fn(arg)` to the CPU pool as part of `run`. The task must add its
 * CPU time to run->cpu_ns before it can complete the run. `arg` is NULL or
 * memory from malloc that fn frees. A task dropped at shutdown frees it
 * instead, and the last such task of a run frees the run. Returns 0 or a
 * negative code. */
int kernel_run_submit(kernel_run_t *run, void (*fn)(kernel_run_t *run, void *arg), void *arg);

/* Add the first task's CPU time so far to the run. A kernel that fans
 * out calls it once, before submitting its tasks. */
void kernel_run_charge_first_task(kernel_run_t *run);

/* Complete the run: with rc 0, write the outputs and report success;
 * otherwise report the failure in *err. Frees the run. */
void kernel_run_finish(kernel_run_t *run, int rc, const bl_error_t *err);

/* Return true the first time `spec` runs on the device (on_gpu) or on the
 * CPU in this process. Such a run is not a fair sample for placement. */
bool kernel_first_run(const kernel_spec_t *spec, bool on_gpu);

/* Compute `run` on the device: an actor on the GPU pool enqueues its
 * launch and completes the run. Returns 0, or a negative code when the
 * actor could not start (the caller then completes the run). */
int kernel_run_on_gpu(kernel_run_t *run);

/* Free a run without reporting it, when the runtime shuts down under it. */
void kernel_run_drop(kernel_run_t *run);

/* Monotonic clock and this thread's CPU clock, in nanoseconds. */
uint64_t kernel_now_ns(void);
uint64_t kernel_thread_cpu_ns(void);

#endif
