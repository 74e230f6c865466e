#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/placement.h>

#include "run_harness.h"

static const char *status_of(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static const char *pool_of(json_t *r)
{
	return json_string_value(json_object_get(r, "pool"));
}

/* A harness whose runs may use the machine's OpenCL device; skips the
 * test where there is none. */
static void gpu_harness_init(harness_t *h)
{
	harness_init(h);
	h->cfg.no_gpu = false;
	h->cfg.gpu_queues = 2;
}

static void skip_without_device(harness_t *h, json_t *result)
{
	const char *code = json_string_value(json_object_get(json_object_get(result, "error"), "code"));
	const char *message = json_string_value(json_object_get(json_object_get(result, "error"), "message"));
	if (code && message && strstr(message, "no OpenCL device")) {
		harness_fini(h);
		cr_skip_test("no OpenCL device on this machine");
	}
}

Test(engine_run_gpu, requested_gpu_runs_on_device, .timeout = 300)
{
	harness_t h;
	gpu_harness_init(&h);

	int rc = harness_run(&h, "{\"id\":\"relu\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"map\","
				 "\"device\":\"gpu\",\"inputs\":{\"x\":{\"data\":[-1.5,2,-3,4],\"dtype\":\"float32\"}},"
				 "\"args\":{\"op\":\"relu\"}}}\n");
	json_t *r = harness_result(&h, "relu");
	cr_assert_not_null(r);
	skip_without_device(&h, r);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(r), "ok", "result: %s", json_dumps(r, 0));
	cr_assert_str_eq(pool_of(r), "gpu");
	json_t *out = json_object_get(json_object_get(json_object_get(r, "result"), "outputs"), "out");
	cr_assert_eq(json_array_size(out), 4);
	cr_assert_float_eq(json_number_value(json_array_get(out, 0)), 0.0, 1e-9);
	cr_assert_float_eq(json_number_value(json_array_get(out, 3)), 4.0, 1e-9);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"), "placement")), "requested");
	harness_fini(&h);
}

/*
 * The file input x is 10,241 float64 values (81,928 bytes of data), so
 * admission estimates 164,112 bytes (twice the file) and lets the job in
 * under a quota of 180,000. On the device, x and the output each take a
 * 98,304 byte buffer (the size class above 81,928): 196,608 bytes, over
 * the quota, so the job is rejected.
 */
Test(engine_run_gpu, device_memory_quota_rejects, .timeout = 300)
{
	harness_t h;
	gpu_harness_init(&h);
	harness_random_npy(&h, "x.npy", 10241, 1, 7);
	harness_quotas(&h, "{\"tenants\": {\"t\": {\"mem_bytes\": 180000}}}");

	int rc = harness_run(&h, "{\"id\":\"big\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"map\","
				 "\"device\":\"gpu\",\"inputs\":{\"x\":\"x.npy\"},\"args\":{\"op\":\"relu\"}}}\n");
	json_t *r = harness_result(&h, "big");
	cr_assert_not_null(r);
	skip_without_device(&h, r);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(r), "rejected", "result: %s", json_dumps(r, 0));
	json_t *error = json_object_get(r, "error");
	cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "quota_exceeded");
	cr_assert(strstr(json_string_value(json_object_get(error, "message")), "device memory"), "result: %s",
		  json_dumps(r, 0));
	harness_fini(&h);
}

/* Write an n x n float32 matrix of uniform numbers in [-1, 1) as
 * data/t/<name>. */
static void write_f32_matrix(harness_t *h, const char *name, size_t n, uint64_t seed)
{
	bl_tensor_t *t;
	cr_assert_eq(bl_tensor_new(&t, BL_DTYPE_F32, 2, (size_t[]){n, n}, NULL), 0);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < t->count; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		((float *)t->data)[i] = (float)((double)(x >> 11) / 4503599627370496.0 - 1.0);
	}
	harness_write_npy(h, name, t);
	bl_tensor_free(&t);
}

static char *sgemm_jobs(int first, int count)
{
	static char text[4096];
	size_t len = 0;
	for (int i = first; i < first + count; i++)
		len += (size_t)snprintf(text + len, sizeof text - len,
					"{\"id\":\"s%d\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{"
					"\"kernel\":\"sgemm\",\"inputs\":{\"a\":\"a.npy\",\"b\":\"b.npy\"}}}\n",
					i);
	return text;
}

static const char *placement_of(const harness_t *h, const char *id)
{
	json_t *result = json_object_get(harness_result(h, id), "result");
	return json_string_value(json_object_get(result, "placement"));
}

/*
 * sgemm 512 x 512 with device auto, one job at a time (max_concurrent 1).
 * The first jobs measure the CPU, then the device, twice each because a
 * first run in a process does not count (it includes the driver's
 * compilation, or the first touch of OpenBLAS's buffers). From then on
 * every job goes to the device that measured faster. The next run reads
 * the model back from its file and goes there at once.
 */
Test(engine_run_gpu, auto_follows_measured_times, .timeout = 600)
{
	harness_t h;
	gpu_harness_init(&h);
	write_f32_matrix(&h, "a.npy", 512, 1);
	write_f32_matrix(&h, "b.npy", 512, 2);
	harness_quotas(&h, "{\"tenants\": {\"t\": {\"max_concurrent\": 1}}}");

	cr_assert_eq(harness_run(&h, sgemm_jobs(1, 6)), 0);
	for (int i = 1; i <= 6; i++) {
		char id[16];
		snprintf(id, sizeof id, "s%d", i);
		cr_assert_str_eq(status_of(harness_result(&h, id)), "ok", "job %s: %s", id,
				 json_dumps(harness_result(&h, id), 0));
	}
	const char *expected[][2] = {
		{"cpu", "calibration"}, {"cpu", "calibration"}, {"gpu", "calibration"}, {"gpu", "calibration"}};
	if (strcmp(pool_of(harness_result(&h, "s3")), "cpu") == 0 && !placement_of(&h, "s3")) {
		harness_fini(&h);
		cr_skip_test("no OpenCL device on this machine: auto stays on the CPU");
	}
	for (int i = 1; i <= 4; i++) {
		char id[16];
		snprintf(id, sizeof id, "s%d", i);
		cr_assert_str_eq(pool_of(harness_result(&h, id)), expected[i - 1][0], "job %s", id);
		cr_assert_str_eq(placement_of(&h, id), expected[i - 1][1], "job %s", id);
	}

	bl_placement_t *model = NULL;
	cr_assert_eq(bl_placement_open(&model, h.placement, NULL), 0, "the run saved its model");
	double work = 512.0 * 512.0 * 512.0;
	double cpu_ms = bl_placement_mean_ms(model, "sgemm", work, BL_PLACE_CPU);
	double gpu_ms = bl_placement_mean_ms(model, "sgemm", work, BL_PLACE_GPU);
	bl_placement_free(&model);
	cr_assert_gt(cpu_ms, 0.0);
	cr_assert_gt(gpu_ms, 0.0, "a warm device run was measured");
	const char *faster = gpu_ms < cpu_ms ? "gpu" : "cpu";
	fprintf(stderr, "sgemm 512: cpu %.3f ms, device %.3f ms; auto picks %s\n", cpu_ms, gpu_ms, faster);

	cr_assert_str_eq(pool_of(harness_result(&h, "s6")), faster, "once calibrated, auto picks the faster device");
	cr_assert_str_eq(placement_of(&h, "s6"), "model");
	/* The next run starts from the saved model. Only its first job is
	 * bound to follow it: each run updates the model, and on a busy
	 * machine two close devices can trade places. */
	cr_assert_eq(harness_run(&h, sgemm_jobs(7, 3)), 0);
	cr_assert_str_eq(pool_of(harness_result(&h, "s7")), faster, "the next run's first job follows the saved model");
	for (int i = 7; i <= 9; i++) {
		char id[16];
		snprintf(id, sizeof id, "s%d", i);
		cr_assert_str_eq(placement_of(&h, id), "model", "job %s in the next run", id);
	}
	harness_fini(&h);
}

/*
 * A device job that times out while its kernel runs: its timeout result
 * is written at once and the run ends while the device is still busy.
 * Shutting down then drops the run without reporting it to the job actor,
 * which is gone; AddressSanitizer catches a report to freed memory.
 */
Test(engine_run_gpu, timeout_on_device_ends_run, .timeout = 300)
{
	harness_t h;
	gpu_harness_init(&h);
	harness_random_npy(&h, "x.npy", 4000, 128, 3);

	int rc = harness_run(&h, "{\"id\":\"slow\",\"tenant\":\"t\",\"block\":\"kernel\",\"timeout_ms\":300,\"params\":{"
				 "\"kernel\":\"pairwise_l2\",\"device\":\"gpu\",\"inputs\":{\"x\":\"x.npy\"}}}\n");
	json_t *r = harness_result(&h, "slow");
	cr_assert_not_null(r);
	skip_without_device(&h, r);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(r), "timeout", "result: %s", json_dumps(r, 0));
	harness_fini(&h);
}

/* A distance matrix larger than the device's largest buffer is refused
 * when the job starts, before anything that size is allocated. */
Test(engine_run_gpu, too_large_for_device_refused, .timeout = 120)
{
	harness_t h;
	gpu_harness_init(&h);
	harness_random_npy(&h, "x.npy", 200000, 1, 5); /* 320 GB of distances */

	int rc = harness_run(&h, "{\"id\":\"huge\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{"
				 "\"kernel\":\"pairwise_l2\",\"device\":\"gpu\",\"inputs\":{\"x\":\"x.npy\"}}}\n");
	json_t *r = harness_result(&h, "huge");
	cr_assert_not_null(r);
	skip_without_device(&h, r);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(r), "error", "result: %s", json_dumps(r, 0));
	json_t *error = json_object_get(r, "error");
	cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "limit_exceeded");
	cr_assert(strstr(json_string_value(json_object_get(error, "message")), "largest"), "result: %s",
		  json_dumps(r, 0));
	harness_fini(&h);
}

/* --placement must name a file of its own: not the jobs file, and not a
 * file with other contents, which the run would overwrite. */
Test(engine_run_gpu, placement_file_must_be_its_own, .timeout = 60)
{
	harness_t h;
	gpu_harness_init(&h);
	bl_error_t err = {0};
	h.cfg.jobs_path = harness_write_jobs(&h, "{\"id\":\"a\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{"
						 "\"kernel\":\"noop\"}}\n");
	h.cfg.placement_path = h.cfg.jobs_path;

	cr_assert_eq(bl_run_jobs(&h.cfg, &h.summary, &err), BL_EINVAL);
	cr_assert(strstr(err.message, "the jobs file"), "message: %s", err.message);

	char other[400];
	snprintf(other, sizeof other, "%s/notes.json", h.dir);
	FILE *f = fopen(other, "w");
	cr_assert_not_null(f);
	fputs("{\"mine\": true}\n", f);
	fclose(f);
	h.cfg.placement_path = other;
	cr_assert_eq(bl_run_jobs(&h.cfg, &h.summary, &err), BL_EFORMAT);
	cr_assert(strstr(err.message, "--placement"), "message: %s", err.message);
	json_t *kept = json_load_file(other, 0, NULL);
	cr_assert(json_is_true(json_object_get(kept, "mine")), "the file is left as it was");
	json_decref(kept);
	harness_fini(&h);
}
