/*
 * What a launch costs by itself, an empty kernel on one work item:
 *
 *   bare    clEnqueueNDRangeKernel + clFinish on a queue of our own (with
 *           profiling on, as the engine's queues have it);
 *   engine  an actor on a BL_POOL_GPU pool of one worker that, per
 *           launch, runs bl_gpu_launch_new, bl_gpu_noop and
 *           bl_gpu_launch_submit, whose callback sends the actor a message
 *           (preallocated before the submit, as blocks/kernel_gpu.c does),
 *           and on that message bl_gpu_launch_continue and
 *           bl_gpu_launch_free, then the next launch;
 *   jobs    noop jobs with "device": "gpu" through bl_run_jobs, for
 *           information: jobs per second, runtime start and stop included.
 *
 * Each run times every launch from the wall clock and keeps the median per
 * launch; the report gives the median, minimum and maximum of those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/sched.h>

#include "device_bench.h"

/* Engine time per launch over bare time per launch, at most. */
#define LAUNCH_TARGET 1.5

static const char empty_source[] = "__kernel void empty(void)\n{\n}\n";

static unsigned launches_per_run(const bench_t *b)
{
	return b->quick ? 200 : 2000;
}

/* Return the median of `n` launch times, in microseconds. */
static double median_us(double *ms, unsigned n)
{
	return bench_summarize(ms, n).median * 1e3;
}

/* ------------------------------------------------------------------------ */
/* Bare                                                                      */
/* ------------------------------------------------------------------------ */

static int bare_launches(double *ms, unsigned n, cl_command_queue queue, cl_kernel kernel, bl_error_t *err)
{
	size_t one = 1;
	for (unsigned i = 0; i < n; i++) {
		double start = bench_now_ms();
		cl_int status = clEnqueueNDRangeKernel(queue, kernel, 1, NULL, &one, &one, 0, NULL, NULL);
		if (status == CL_SUCCESS)
			status = clFinish(queue);
		if (status != CL_SUCCESS)
			return bl_gpu_error(err, status, "the bare launch of an empty kernel");
		ms[i] = bench_now_ms() - start;
	}
	return 0;
}

static int bench_bare(double *per_launch_us, bench_t *b, double *ms, bl_error_t *err)
{
	cl_int status;
	cl_program program;
	cl_command_queue queue = clCreateCommandQueue(bl_gpu_context(b->gpu), bl_gpu_device_id(b->gpu),
						      CL_QUEUE_PROFILING_ENABLE, &status);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clCreateCommandQueue(bare launches)");

	int rc = bl_gpu_program(&program, b->gpu, empty_source, "", NULL, err);
	cl_kernel kernel = rc == 0 ? clCreateKernel(program, "empty", &status) : NULL;
	if (rc == 0 && status != CL_SUCCESS)
		rc = bl_gpu_error(err, status, "clCreateKernel(empty)");

	unsigned n = launches_per_run(b);
	if (rc == 0)
		rc = bare_launches(ms, 10, queue, kernel, err); /* warm-up */
	for (unsigned r = 0; rc == 0 && r < b->reps; r++) {
		rc = bare_launches(ms, n, queue, kernel, err);
		per_launch_us[r] = rc == 0 ? median_us(ms, n) : 0;
	}
	if (kernel)
		clReleaseKernel(kernel);
	clReleaseCommandQueue(queue);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Through an actor on the GPU pool                                          */
/* ------------------------------------------------------------------------ */

enum { MSG_START = 1, MSG_DONE };

typedef struct done_payload {
	int rc;
	bl_error_t err;
} done_payload_t;

/* The actor's state; the actor's handler alone touches it while the loop
 * runs, and the main thread reads it after the latch opens. */
typedef struct loop {
	bl_gpu_t *gpu;
	bl_actor_t *self;  /* the main thread's reference, used by the callback */
	bl_gpu_launch_t *launch;
	bl_msg_t *done_msg; /* allocated before each submit */
	double *ms;
	unsigned count, finished;
	double started_ms;
	int rc;
	bl_error_t err;
	bl_latch_t latch;
} loop_t;

/* Runs on a thread of the OpenCL implementation: only sends. */
static void on_launch_done(void *ctx, int rc, const bl_error_t *err)
{
	loop_t *loop = ctx;
	bl_msg_t *msg = loop->done_msg;
	done_payload_t *done = bl_msg_payload(msg);

	loop->done_msg = NULL;
	done->rc = rc;
	if (rc < 0 && err)
		done->err = *err;
	bl_send(loop->self, &msg);
}

static int start_launch(loop_t *loop)
{
	loop->started_ms = bench_now_ms();
	int rc = bl_gpu_launch_new(&loop->launch, loop->gpu, "bench", 0, &loop->err);
	if (rc == 0)
		rc = bl_gpu_noop(loop->launch, &loop->err);
	if (rc < 0)
		return rc;

	loop->done_msg = bl_msg_new(MSG_DONE, sizeof(done_payload_t));
	if (!loop->done_msg)
		return bl_error_set(&loop->err, BL_ENOMEM, NULL, "out of memory for a completion message");
	memset(bl_msg_payload(loop->done_msg), 0, sizeof(done_payload_t));
	rc = bl_gpu_launch_submit(loop->launch, on_launch_done, loop, &loop->err);
	if (rc < 0)
		bl_msg_free(&loop->done_msg);
	return rc;
}

static int finish_launch(loop_t *loop, const done_payload_t *done)
{
	int rc = done->rc;
	if (rc < 0)
		loop->err = done->err;
	if (rc == 0 && (rc = bl_gpu_launch_continue(loop->launch, &loop->err)) > 0)
		rc = bl_error_set(&loop->err, BL_EINVAL, NULL, "the empty kernel asked for another round");
	bl_gpu_launch_free(&loop->launch);
	loop->ms[loop->finished++] = bench_now_ms() - loop->started_ms;
	return rc;
}

static void end_loop(bl_actor_t *self, loop_t *loop, int rc)
{
	loop->rc = rc;
	bl_gpu_launch_free(&loop->launch);
	bl_actor_stop(self);
	bl_latch_count_down(&loop->latch);
}

static int loop_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	loop_t *loop = *(loop_t **)state;
	int rc = 0;

	if (msg->type == MSG_DONE)
		rc = finish_launch(loop, bl_msg_payload(msg));
	if (rc == 0 && loop->finished < loop->count)
		rc = start_launch(loop);
	if (rc < 0 || loop->finished == loop->count)
		end_loop(self, loop, rc);
	return 0;
}

static const bl_behaviour_t loop_behaviour = {
	.name = "launch_loop",
	.receive = loop_receive,
};

/* Run `loop->count` launches through a new actor on `pool`. */
static int run_loop(loop_t *loop, bl_pool_t *pool, bl_error_t *err)
{
	bl_latch_init(&loop->latch, 1);
	loop->finished = 0;
	loop->rc = 0;
	int rc = bl_actor_spawn(&loop->self, pool, &loop_behaviour, &loop, sizeof loop);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot spawn the launch actor: %s", bl_strerror(rc));

	rc = bl_send_u64(loop->self, MSG_START, 0);
	if (rc == 0)
		bl_latch_wait(&loop->latch);
	bl_actor_release(&loop->self);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot start the launch actor: %s", bl_strerror(rc));
	if (loop->rc < 0)
		*err = loop->err;
	return loop->rc;
}

static int gpu_pool(bl_pool_t **out, bl_runtime_t *rt, bl_error_t *err)
{
	bl_pool_config_t cfg;
	bl_pool_config_init(&cfg);
	cfg.name = "gpu";
	cfg.kind = BL_POOL_GPU;
	cfg.workers = 1;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(rt, &cfg, out);
	return rc < 0 ? bl_error_set(err, rc, NULL, "cannot start a GPU pool: %s", bl_strerror(rc)) : 0;
}

static int bench_engine(double *per_launch_us, bench_t *b, double *ms, bl_error_t *err)
{
	bl_runtime_t *rt;
	bl_pool_t *pool;
	if (bl_runtime_new(&rt) < 0)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory starting a runtime");

	loop_t loop = {.gpu = b->gpu, .ms = ms, .count = 10};
	int rc = gpu_pool(&pool, rt, err);
	if (rc == 0)
		rc = run_loop(&loop, pool, err); /* warm-up: builds noop.cl */
	loop.count = launches_per_run(b);
	for (unsigned r = 0; rc == 0 && r < b->reps; r++) {
		rc = run_loop(&loop, pool, err);
		per_launch_us[r] = rc == 0 ? median_us(ms, loop.count) : 0;
	}
	bl_runtime_free(&rt);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Jobs                                                                      */
/* ------------------------------------------------------------------------ */

static int bench_jobs(double *jobs_per_s, bench_t *b, unsigned jobs, bl_error_t *err)
{
	static const char job[] =
		"{\"id\":\"n%u\",\"tenant\":\"b\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\",\"device\":\"gpu\"}}\n";
	size_t line_max = sizeof job + 16;
	char *text = malloc(line_max * jobs);
	if (!text)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory writing noop jobs");
	size_t len = 0;
	for (unsigned i = 0; i < jobs; i++)
		len += (size_t)snprintf(text + len, line_max, job, i);

	int rc = scratch_run_jobs(NULL, &jobs_per_s[0], &b->scratch, text, NULL, b->device_index, err); /* warm-up */
	for (unsigned r = 0; rc == 0 && r < b->reps; r++)
		rc = scratch_run_jobs(NULL, &jobs_per_s[r], &b->scratch, text, NULL, b->device_index, err);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------------ */

static json_t *launch_report(const bench_t *b, double *bare, double *engine, double *jobs, unsigned job_count)
{
	summary_t bare_us = bench_summarize(bare, b->reps), engine_us = bench_summarize(engine, b->reps);
	summary_t jobs_per_s = bench_summarize(jobs, b->reps);
	double ratio = engine_us.median / bare_us.median;

	fprintf(stderr, "\nlaunch of an empty kernel, %u per run\n", launches_per_run(b));
	fprintf(stderr, "%-30s %10.1f us [%.1f - %.1f]\n", "bare enqueue + finish", bare_us.median, bare_us.min,
		bare_us.max);
	fprintf(stderr, "%-30s %10.1f us [%.1f - %.1f]  %.2fx bare (target <= %.1fx, %s)\n", "engine launch path",
		engine_us.median, engine_us.min, engine_us.max, ratio, LAUNCH_TARGET,
		ratio <= LAUNCH_TARGET ? "met" : "missed");
	fprintf(stderr, "%-30s %10.0f jobs/s [%.0f - %.0f]\n", "noop jobs on the device", jobs_per_s.median,
		jobs_per_s.min, jobs_per_s.max);
	return json_pack("{s:I, s:o, s:o, s:f, s:f, s:b, s:{s:I, s:o}}", "launches_per_run",
			 (json_int_t)launches_per_run(b), "bare_per_launch_us", bench_summary_json(bare_us),
			 "engine_per_launch_us", bench_summary_json(engine_us), "ratio", ratio, "target",
			 LAUNCH_TARGET, "target_met", ratio <= LAUNCH_TARGET, "noop_jobs", "jobs_per_run",
			 (json_int_t)job_count, "jobs_per_s", bench_summary_json(jobs_per_s));
}

int bench_launch(json_t **out, bench_t *b, bl_error_t *err)
{
	unsigned n = launches_per_run(b);
	double bare[BENCH_REPS_MAX], engine[BENCH_REPS_MAX], jobs[BENCH_REPS_MAX];
	double *ms = malloc(n * sizeof *ms);
	if (!ms)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for launch times");

	int rc = bench_bare(bare, b, ms, err);
	if (rc == 0)
		rc = bench_engine(engine, b, ms, err);
	if (rc == 0)
		rc = bench_jobs(jobs, b, n, err);
	free(ms);
	if (rc == 0)
		*out = launch_report(b, bare, engine, jobs, n);
	return rc;
}
