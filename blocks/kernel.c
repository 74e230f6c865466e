/*
 * The kernel block: runs one compute kernel on tensors from the tenant's
 * folder or from the job itself, on the CPU pool. Parameters are described
 * in kernel_params.h, the kernels in kernel_table.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beamline/placement.h>

#include "kernel_run.h"

uint64_t kernel_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t kernel_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int index_of(const char *const *names, const char *name)
{
	for (int i = 0; names[i]; i++) {
		if (strcmp(names[i], name) == 0)
			return i;
	}
	return -1;
}

bl_tensor_t *kernel_in(kernel_run_t *run, const char *name)
{
	int i = index_of(run->spec->inputs, name);
	return i < 0 ? NULL : run->in[i];
}

void kernel_set_out(kernel_run_t *run, const char *name, bl_tensor_t *t)
{
	int i = index_of(run->spec->outputs, name);
	if (i < 0) {
		bl_tensor_free(&t);
		return;
	}
	bl_tensor_free(&run->out[i]);
	run->out[i] = t;
}

static void free_run(kernel_run_t *run)
{
	for (unsigned i = 0; i < KERNEL_IO_MAX; i++) {
		bl_tensor_free(&run->in[i]);
		bl_tensor_free(&run->out[i]);
	}
	bl_kmeans_result_free(&run->kmeans);
	json_decref(run->metrics);
	free(run);
}

void kernel_run_drop(kernel_run_t *run)
{
	free_run(run);
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                 */
/* ------------------------------------------------------------------------ */

/* Where in a run a failure happened; the same errno means different
 * things while reading inputs and while writing outputs. */
typedef enum run_stage { STAGE_LOAD, STAGE_COMPUTE, STAGE_STORE } run_stage_t;

/* Return the result code for a failure, which clients match on. */
static const char *error_code_of(int rc, run_stage_t stage)
{
	switch (rc) {
	case -EXDEV:
	case -ELOOP:
		return "path_outside_tenant_folder";
	case BL_ELIMIT:
		return "limit_exceeded";
	case BL_EQUOTA:
		return "quota_exceeded";
	case BL_ENOMEM:
	case -ENOMEM:
		return "out_of_memory";
	case BL_ECANCELED:
		return "cancelled";
	case BL_EINVAL:
		return "invalid_params";
	default:
		break;
	}

	if (stage == STAGE_STORE)
		return "output_failed";
	if (stage == STAGE_COMPUTE)
		return "kernel_failed";
	if (rc == -ENOENT || rc == -ENOTDIR)
		return "input_not_found";
	if (rc == BL_EFORMAT || rc == -EISDIR)
		return "invalid_input";
	return "io_error";
}

/* Return whether the same job may succeed if it runs again later: the
 * causes are a shortage of memory or descriptors, not the job itself. */
static bool is_retryable(int rc)
{
	return rc == BL_ENOMEM || rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE || rc == -EAGAIN;
}

/* Turn a bare input or argument name in err->field ("train_y", "k"), as
 * the kernels library reports it, into its place in the job. */
static void qualify_field(const kernel_spec_t *spec, bl_error_t *err)
{
	for (unsigned i = 0; spec->inputs[i]; i++) {
		if (strcmp(spec->inputs[i], err->field) == 0) {
			snprintf(err->field, sizeof err->field, "params.inputs.%s", spec->inputs[i]);
			return;
		}
	}
	for (size_t i = 0; i < spec->nargs; i++) {
		if (strcmp(spec->args[i].name, err->field) == 0) {
			snprintf(err->field, sizeof err->field, "params.args.%s", spec->args[i].name);
			return;
		}
	}
}

static json_t *describe(const bl_tensor_t *t, const char *path)
{
	json_t *shape = json_array();
	for (unsigned d = 0; d < t->ndim; d++)
		json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
	json_t *obj = json_pack("{s:s, s:o}", "dtype", bl_dtype_name(t->dtype), "shape", shape);
	if (path)
		json_object_set_new(obj, "path", json_string(path));
	return obj;
}

/* Write the outputs that have a file name and put the small ones without
 * one in the result. */
static int store_outputs(kernel_run_t *run, json_t *outputs, bl_error_t *err)
{
	for (unsigned i = 0; run->spec->outputs[i]; i++) {
		const char *name = run->spec->outputs[i];
		bl_tensor_t *t = run->out[i];
		if (!t)
			continue;

		const char *path = kernel_output_path(run->params, name);
		if (path) {
			int rc = bl_npy_write(t, run->env->data_dir, path, err);
			if (rc < 0) {
				/* The writer names the file in `field`; move it to the
				 * message and point `field` at the job's parameter. */
				bl_error_prefix(err, "output '%s': ", path);
				snprintf(err->field, sizeof err->field, "params.outputs.%s", name);
				return rc;
			}
			json_object_set_new(outputs, name, describe(t, path));
		} else if (t->count <= run->env->inline_max_elements) {
			json_object_set_new(outputs, name, bl_tensor_to_json(t));
		} else {
			json_t *d = describe(t, NULL);
			json_object_set_new(d, "omitted",
					    json_sprintf("%zu elements is more than the inline limit of %zu; name a file in "
							 "params.outputs.%s to keep it",
							 t->count, run->env->inline_max_elements, name));
			json_object_set_new(outputs, name, d);
		}
	}
	return 0;
}

static void report(kernel_run_t *run, bl_block_outcome_t *o)
{
	o->cpu_ms = (double)atomic_load(&run->cpu_ns) / 1e6;
	o->pool = run->on_gpu ? "gpu" : "cpu";
	o->device = run->on_gpu ? bl_gpu_label(run->gpu) : "cpu";
	bl_block_done_fn done = run->done;
	void *ctx = run->ctx;
	free_run(run);
	done(ctx, o);
}

/* Complete a failed run. */
static void report_failure(kernel_run_t *run, bl_block_outcome_t *o, int rc, run_stage_t stage)
{
	qualify_field(run->spec, &o->error);
	o->code = rc;
	o->error_code = error_code_of(rc, stage);
	o->retryable = is_retryable(rc);
	o->rejected = rc == BL_EQUOTA;
	report(run, o);
}

/* Give the placement model the time of a CPU run of a kernel that could
 * also run on the device. A negative `ms` only ends a calibration. */
static void record_cpu(kernel_run_t *run, double ms)
{
	if (run->on_gpu || !run->choice || !run->env->placement || !run->spec->gpu_enqueue)
		return;
	if (kernel_first_run(run->spec, false))
		ms = -1.0;
	bl_placement_record(run->env->placement, run->spec->name, run->work, BL_PLACE_CPU, ms);
}

void kernel_run_finish(kernel_run_t *run, int rc, const bl_error_t *err)
{
	bl_block_outcome_t *o = bl_block_outcome_new();
	if (!o) {
		/* Nothing can be reported without memory; the caller's done
		 * callback must still run exactly once. */
		bl_block_done_fn done = run->done;
		void *ctx = run->ctx;
		free_run(run);
		done(ctx, NULL);
		return;
	}

	if (rc < 0) {
		if (err)
			o->error = *err;
		record_cpu(run, -1.0);
		report_failure(run, o, rc, run->loaded ? STAGE_COMPUTE : STAGE_LOAD);
		return;
	}

	uint64_t computed_ns = kernel_now_ns();
	record_cpu(run, (double)(computed_ns - run->loaded_ns) / 1e6);

	/* A job whose timeout fired has its result out already; writing its
	 * files now would leave outputs of a job reported as not done.
	 * NOTE: a timeout that fires while the files are being written still
	 * leaves the ones already renamed into place. */
	if (bl_cancel_requested(run->env->cancel)) {
		bl_error_set(&o->error, BL_ECANCELED, NULL, "the job was cancelled before its outputs were written");
		report_failure(run, o, BL_ECANCELED, STAGE_STORE);
		return;
	}
	json_t *outputs = json_object();
	rc = outputs ? store_outputs(run, outputs, &o->error) : bl_error_set(&o->error, BL_ENOMEM, NULL, "out of memory");
	if (rc < 0) {
		json_decref(outputs);
		report_failure(run, o, rc, STAGE_STORE);
		return;
	}

	uint64_t now = kernel_now_ns();
	json_t *timing = json_pack("{s:I, s:I, s:I}", "load", (json_int_t)((run->loaded_ns - run->started_ns) / 1000),
				   "compute", (json_int_t)((computed_ns - run->loaded_ns) / 1000), "store",
				   (json_int_t)((now - computed_ns) / 1000));
	if (timing && run->on_gpu) {
		/* Within compute: building programs, and the kernels' own device time. */
		json_object_set_new(timing, "compile", json_integer((json_int_t)(run->compile_ms * 1000)));
		json_object_set_new(timing, "device_kernel", json_integer((json_int_t)(run->device_kernel_ms * 1000)));
	}
	o->result = json_pack("{s:s, s:o, s:O, s:o, s:s*}", "kernel", run->spec->name, "outputs", outputs, "metrics",
			      run->metrics, "timing_us", timing, "placement", run->choice);
	report(run, o);
}

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct run_task {
	kernel_run_t *run;
	void (*fn)(kernel_run_t *run, void *arg);
	void *arg;
} run_task_t;

static void run_task(void *p)
{
	run_task_t task = *(run_task_t *)p;
	free(p);
	task.fn(task.run, task.arg);
}

/* A task that will not run (the runtime stopped first) frees its
 * argument, and the run goes with the last of its tasks: the job actor
 * that would receive the run's outcome is being freed as well. Drops run
 * one at a time, after the workers stopped. */
static void drop_task(void *p)
{
	run_task_t *task = p;
	kernel_run_t *run = task->run;

	free(task->arg);
	free(task);
	if (atomic_load(&run->pending) <= 1 || atomic_fetch_sub(&run->pending, 1) == 1)
		free_run(run);
}

void kernel_run_charge_first_task(kernel_run_t *run)
{
	atomic_fetch_add(&run->cpu_ns, kernel_thread_cpu_ns() - run->first_task_cpu_ns);
}

int kernel_run_submit(kernel_run_t *run, void (*fn)(kernel_run_t *run, void *arg), void *arg)
{
	run_task_t *task = malloc(sizeof *task);
	if (!task)
		return BL_ENOMEM;
	*task = (run_task_t){run, fn, arg};

	int rc = bl_pool_submit_with_drop(run->env->cpu_pool, run_task, drop_task, task);
	if (rc < 0)
		free(task);
	return rc;
}

/* Decide where the loaded run computes: the device the job names, or for
 * "auto" (the default) the one the placement model chooses. */
static int place(kernel_run_t *run, bl_error_t *err)
{
	const char *device = json_string_value(json_object_get(run->params, "device"));
	const bl_block_env_t *env = run->env;
	bool wants_gpu = !device || strcmp(device, "cpu") != 0;
	run->gpu = wants_gpu && run->spec->gpu_enqueue && env->gpu_pool ? bl_device_slot_get(env->device) : NULL;
	bool can_gpu = run->gpu != NULL;

	run->work = run->spec->work ? run->spec->work(run) : 0;
	run->choice = "requested";
	if (device && strcmp(device, "cpu") == 0)
		return 0;
	double bytes = can_gpu && run->spec->device_bytes ? run->spec->device_bytes(run) : 0;
	bool fits = !can_gpu || bytes <= (double)bl_gpu_max_alloc(run->gpu);
	if (device && strcmp(device, "gpu") == 0) {
		if (!can_gpu)
			return bl_error_set(err, BL_EINVAL, "params.device",
					    "kernel %s cannot run on a device here: %s", run->spec->name,
					    run->spec->gpu_enqueue ? "this machine has no OpenCL device"
								   : "it has no device implementation");
		if (!fits)
			return bl_error_set(err, BL_ELIMIT, "params.device",
					    "this job needs a device buffer of %.0f bytes, more than the largest the "
					    "OpenCL device allocates (%llu bytes); use device \"cpu\" or \"auto\"",
					    bytes, (unsigned long long)bl_gpu_max_alloc(run->gpu));
		run->on_gpu = true;
		return 0;
	}

	if (can_gpu && !fits) {
		run->choice = "too_large_for_device";
		return 0;
	}
	if (!can_gpu || !env->placement) {
		run->choice = NULL; /* auto without a choice to make */
		return 0;
	}
	bool calibrating = false;
	run->on_gpu = bl_placement_choose(env->placement, run->spec->name, run->work, &calibrating) == BL_PLACE_GPU;
	run->choice = calibrating ? "calibration" : "model";
	return 0;
}

/* The first task of a run: load every input, then compute. */
static void load_and_compute(kernel_run_t *run, void *arg)
{
	bl_error_t err = {0};
	uint64_t cpu = kernel_thread_cpu_ns();
	int rc = 0;
	(void)arg;

	for (unsigned i = 0; rc == 0 && run->spec->inputs[i]; i++)
		rc = kernel_input_load(&run->in[i], run->params, run->spec->inputs[i], run->env, &err);
	run->loaded_ns = kernel_now_ns();
	run->loaded = rc == 0;
	if (rc == 0 && bl_cancel_requested(run->env->cancel))
		rc = bl_error_set(&err, BL_ECANCELED, NULL, "the job was cancelled before its kernel ran");
	if (rc == 0)
		rc = place(run, &err);
	if (rc == 0 && run->on_gpu) {
		atomic_fetch_add(&run->cpu_ns, kernel_thread_cpu_ns() - cpu);
		rc = kernel_run_on_gpu(run); /* from here the runner owns the run */
		if (rc == 0)
			return; /* the device runner completes the run */
		bl_error_set(&err, rc, NULL, "cannot start the device runner: %s", bl_strerror(rc));
		kernel_run_finish(run, rc, &err);
		return;
	}
	/* A kernel that fans out charges this task's CPU time itself, before
	 * its tasks start (kernel_run_charge_first_task), because the last of
	 * them may free the run before compute returns. */
	run->first_task_cpu_ns = cpu;
	if (rc == 0) {
		rc = run->spec->compute(run);
		if (rc == 1)
			return; /* the fan-out tasks complete the run */
		if (rc < 0)
			err = run->error;
	}

	atomic_fetch_add(&run->cpu_ns, kernel_thread_cpu_ns() - cpu);
	if (rc < 0 && err.code == 0)
		bl_error_set(&err, rc, NULL, "%s", bl_strerror(rc));
	kernel_run_finish(run, rc, &err);
}

/* ------------------------------------------------------------------------ */
/* The block                                                                 */
/* ------------------------------------------------------------------------ */

static int kernel_prepare(json_t *params, const bl_block_env_t *env, uint64_t *mem_estimate, bl_error_t *err)
{
	const kernel_spec_t *spec;
	int rc = kernel_params_check(&spec, params, err);
	if (rc < 0)
		return rc;

	const char *device = json_string_value(json_object_get(params, "device"));
	if (device && strcmp(device, "gpu") == 0 && spec->gpu_enqueue && (!env->gpu_pool || !bl_device_slot_get(env->device)))
		return bl_error_set(err, BL_EINVAL, "params.device",
				    "no OpenCL device for this run (%s); use \"cpu\", or \"auto\" to run where it can",
				    env->gpu_pool ? bl_device_slot_why(env->device) : "OpenCL devices are turned off (--no-gpu)");
	if (device && strcmp(device, "gpu") == 0 && !spec->gpu_enqueue)
		return bl_error_set(err, BL_EINVAL, "params.device",
				    "kernel %s has no device implementation; use \"cpu\" or \"auto\"", spec->name);
	return kernel_params_estimate(mem_estimate, params, env, err);
}

static int kernel_start(json_t *params, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	kernel_run_t *run = calloc(1, sizeof *run);
	if (!run)
		return BL_ENOMEM;

	bl_error_t err;
	int rc = kernel_params_check(&run->spec, params, &err);
	run->metrics = json_object();
	if (rc < 0 || !run->metrics) {
		json_decref(run->metrics);
		free(run);
		return rc < 0 ? rc : BL_ENOMEM;
	}
	run->params = params;
	run->env = env;
	run->done = done;
	run->ctx = ctx;
	run->started_ns = kernel_now_ns();

	rc = kernel_run_submit(run, load_and_compute, NULL);
	if (rc < 0)
		free_run(run);
	return rc;
}

const bl_block_t bl__kernel_block = {
	.name = "kernel",
	.prepare = kernel_prepare,
	.start = kernel_start,
};
