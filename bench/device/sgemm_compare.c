/*
 * sgemm through the engine against a direct CLBlast call on the same
 * device, N x N float32, row-major.
 *
 * Engine: a local run (bl_run_jobs) of sgemm jobs with "device": "gpu"
 * that read a.npy and b.npy from the scratch data folder. Each run has a
 * warm-up job and then the measured job, one at a time (max_concurrent 1),
 * because every run opens the device afresh and its first job pays for
 * CLBlast's program builds. The figure is the measured job's
 * result.timing_us.compute: the hop to the GPU pool, the uploads, the
 * sgemm, the download and the hop back, without reading or writing files.
 *
 * Direct: in this process, on an in-order queue of our own on the same
 * context: write A and B, CLBlastSgemm, read C, clFinish. Buffers are
 * created once per size, as the engine keeps its buffers in a cache.
 */
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_bench.h"

/* Engine GFLOP/s over direct GFLOP/s that the engine should reach from
 * TARGET_FROM_N up; below, fixed costs dominate and there is no target. */
#define SGEMM_TARGET 0.9
#define TARGET_FROM_N 1024

typedef struct direct {
	cl_command_queue queue;
	cl_mem a, b, c;
	size_t n;
} direct_t;

static void direct_release(direct_t *d)
{
	if (d->a)
		clReleaseMemObject(d->a);
	if (d->b)
		clReleaseMemObject(d->b);
	if (d->c)
		clReleaseMemObject(d->c);
	if (d->queue)
		clReleaseCommandQueue(d->queue);
}

static int direct_setup(direct_t *d, bench_t *b, size_t n, bl_error_t *err)
{
	cl_context context = bl_gpu_context(b->gpu);
	size_t bytes = n * n * sizeof(float);
	cl_int status;

	d->n = n;
	d->queue = clCreateCommandQueue(context, bl_gpu_device_id(b->gpu), 0, &status);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clCreateCommandQueue(direct sgemm)");
	cl_mem *buffers[] = {&d->a, &d->b, &d->c};
	for (size_t i = 0; i < 3; i++) {
		*buffers[i] = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, NULL, &status);
		if (status != CL_SUCCESS)
			return bl_gpu_error(err, status, "clCreateBuffer(direct sgemm)");
	}
	return 0;
}

/* The same work as the engine's job: upload, multiply, download, wait. */
static int direct_run(double *ms, direct_t *d, const bl_tensor_t *a, const bl_tensor_t *b, bl_tensor_t *c,
		      bl_error_t *err)
{
	size_t n = d->n, bytes = n * n * sizeof(float);
	cl_event event = NULL;
	double start = bench_now_ms();

	cl_int status = clEnqueueWriteBuffer(d->queue, d->a, CL_FALSE, 0, bytes, a->data, 0, NULL, NULL);
	if (status == CL_SUCCESS)
		status = clEnqueueWriteBuffer(d->queue, d->b, CL_FALSE, 0, bytes, b->data, 0, NULL, NULL);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clEnqueueWriteBuffer(direct sgemm)");

	CLBlastStatusCode blast = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n,
					       1.0f, d->a, 0, n, d->b, 0, n, 0.0f, d->c, 0, n, &d->queue, &event);
	if (blast != CLBlastSuccess)
		return bl_error_set(err, BL_EINVAL, NULL, "CLBlastSgemm failed with status %d", (int)blast);
	if (event)
		clReleaseEvent(event);

	status = clEnqueueReadBuffer(d->queue, d->c, CL_FALSE, 0, bytes, c->data, 0, NULL, NULL);
	if (status == CL_SUCCESS)
		status = clFinish(d->queue);
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "reading C (direct sgemm)");
	*ms = bench_now_ms() - start;
	return 0;
}

/* Run one warm-up job and one measured job; *ms gets the measured job's
 * compute time. */
static int engine_run(double *ms, bench_t *b, unsigned rep, bl_error_t *err)
{
	static const char quotas[] = "{\"tenants\": {\"b\": {\"max_concurrent\": 1}}}";
	static const char job[] = "{\"id\":\"%s%u\",\"tenant\":\"b\",\"block\":\"kernel\",\"params\":{\"kernel\":"
				  "\"sgemm\",\"device\":\"gpu\",\"inputs\":{\"a\":\"a.npy\",\"b\":\"b.npy\"},"
				  "\"outputs\":{\"c\":\"c_%s.npy\"}}}\n";
	char jobs[1024], id[32];
	int len = snprintf(jobs, sizeof jobs, job, "warm", rep, "warm");
	snprintf(jobs + len, sizeof jobs - (size_t)len, job, "measured", rep, "measured");
	snprintf(id, sizeof id, "measured%u", rep);

	json_t *results;
	int rc = scratch_run_jobs(&results, NULL, &b->scratch, jobs, quotas, b->device_index, err);
	if (rc < 0)
		return rc;

	json_t *r = json_object_get(results, id);
	const char *pool = json_string_value(json_object_get(r, "pool"));
	json_t *compute = json_object_get(json_object_get(json_object_get(r, "result"), "timing_us"), "compute");
	if (!pool || strcmp(pool, "gpu") != 0 || !json_is_integer(compute))
		rc = bl_error_set(err, BL_EINVAL, NULL, "the engine's sgemm job %s did not report a device compute time",
				  id);
	else
		*ms = (double)json_integer_value(compute) / 1e3;
	json_decref(results);
	return rc;
}

static json_t *size_report(size_t n, double *direct_ms, double *engine_ms, unsigned reps)
{
	double flop = 2.0 * (double)n * (double)n * (double)n;
	double direct_gflops[BENCH_REPS_MAX], engine_gflops[BENCH_REPS_MAX];
	for (unsigned r = 0; r < reps; r++) {
		direct_gflops[r] = flop / (direct_ms[r] * 1e6);
		engine_gflops[r] = flop / (engine_ms[r] * 1e6);
	}
	summary_t d = bench_summarize(direct_gflops, reps), e = bench_summarize(engine_gflops, reps);
	summary_t dms = bench_summarize(direct_ms, reps), ems = bench_summarize(engine_ms, reps);
	double ratio = e.median / d.median;
	bool has_target = n >= TARGET_FROM_N;

	const char *verdict = "";
	if (has_target)
		verdict = ratio >= SGEMM_TARGET ? "met" : "missed";
	fprintf(stderr, "%-6zu %10.2f [%6.2f - %6.2f] %10.2f [%6.2f - %6.2f] %7.2f %s\n", n, d.median, d.min, d.max,
		e.median, e.min, e.max, ratio, verdict);
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:f, s:o, s:o}", "n", (json_int_t)n, "direct_gflops",
			 bench_summary_json(d), "engine_gflops", bench_summary_json(e), "direct_ms",
			 bench_summary_json(dms), "engine_compute_ms", bench_summary_json(ems), "ratio", ratio, "target",
			 has_target ? json_real(SGEMM_TARGET) : json_null(), "target_met",
			 has_target ? json_boolean(ratio >= SGEMM_TARGET) : json_null());
}

/* Write the inputs, warm the direct path up, then alternate. */
static int bench_size(json_t **out, bench_t *b, size_t n, bl_tensor_t **m, bl_error_t *err)
{
	direct_t d = {0};
	double direct_ms[BENCH_REPS_MAX], engine_ms[BENCH_REPS_MAX], warm;

	int rc = scratch_write_npy(&b->scratch, m[0], "a.npy", err);
	if (rc == 0)
		rc = scratch_write_npy(&b->scratch, m[1], "b.npy", err);
	if (rc == 0)
		rc = direct_setup(&d, b, n, err);
	if (rc == 0)
		rc = direct_run(&warm, &d, m[0], m[1], m[2], err);
	for (unsigned r = 0; rc == 0 && r < b->reps; r++) {
		rc = engine_run(&engine_ms[r], b, r, err);
		if (rc == 0)
			rc = direct_run(&direct_ms[r], &d, m[0], m[1], m[2], err);
	}
	direct_release(&d);
	if (rc == 0)
		*out = size_report(n, direct_ms, engine_ms, b->reps);
	return rc;
}

static int matrices(bl_tensor_t **m, size_t n, bl_error_t *err)
{
	int rc = bench_random(&m[0], BL_DTYPE_F32, 2, (size_t[]){n, n}, -1.0, 1.0, 3, err);
	if (rc == 0)
		rc = bench_random(&m[1], BL_DTYPE_F32, 2, (size_t[]){n, n}, -1.0, 1.0, 4, err);
	if (rc == 0)
		rc = bl_tensor_new(&m[2], BL_DTYPE_F32, 2, (size_t[]){n, n}, err);
	return rc;
}

int bench_sgemm(json_t **out, bench_t *b, bl_error_t *err)
{
	static const size_t sizes[] = {256, 512, 1024, 2048};
	size_t count = b->quick ? 3 : 4;
	json_t *rows = json_array();
	int rc = 0;

	fprintf(stderr, "\n%-6s %30s %30s %7s\n", "sgemm", "direct GFLOP/s [min - max]", "engine GFLOP/s [min - max]",
		"ratio");
	for (size_t i = 0; rc == 0 && i < count; i++) {
		bl_tensor_t *m[3] = {NULL};
		json_t *row;
		rc = matrices(m, sizes[i], err);
		if (rc == 0)
			rc = bench_size(&row, b, sizes[i], m, err);
		if (rc == 0)
			json_array_append_new(rows, row);
		else
			bl_error_prefix(err, "sgemm %zu: ", sizes[i]);
		for (size_t t = 0; t < 3; t++)
			bl_tensor_free(&m[t]);
	}
	if (rc < 0) {
		json_decref(rows);
		return rc;
	}
	*out = rows;
	return 0;
}
