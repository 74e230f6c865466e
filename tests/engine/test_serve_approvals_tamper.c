/*
 * Approvals in the service mode when another client writes the bucket
 * beamline_approvals: a record replaced by text that is not a record, a
 * record deleted while its job waits, and a record made before the job
 * for another approval id. Runs `beamline-engine serve` against a real
 * nats-server on 127.0.0.1 (skipped where none is installed).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beamline/kv.h>
#include <nats/nats.h>

#include "serve_harness.h"

/* A human job of tenant "acme" whose approval expires after a minute. */
#define HUMAN_JOB(id) \
	"{\"id\":\"" id "\",\"tenant\":\"acme\",\"block\":\"human\",\"timeout_ms\":120000," \
	"\"params\":{\"summary\":\"deploy " id "\",\"requested_by\":\"ci\",\"expires_in_ms\":60000," \
	"\"default_decision\":\"reject\"}}"

/* The time a job gets to end after its record changed, in milliseconds.
 * The watch wakes it within one push delivery, so 15 s is ample. */
#define REACT_MS 15000

static const char *str(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "(missing)";
}

/* The result's text for a failure message; owned, free with free(). */
static char *text_of(const json_t *r)
{
	return r ? json_dumps(r, JSON_COMPACT) : strdup("none");
}

static bl_kv_t *open_bucket(serve_harness_t *h)
{
	bl_kv_t *kv = NULL;
	cr_assert_eq(bl_kv_open(&kv, h->nats, "beamline_approvals", NULL), 0, "the bucket exists");
	return kv;
}

/* Wait until the job's record is in the bucket; fails the test after 20 s. */
static void wait_record(bl_kv_t *kv, const char *key)
{
	for (int i = 0; i < 200; i++) {
		bl_kv_entry_t *e = NULL;
		int rc = bl_kv_get(&e, kv, key, NULL);
		bl_kv_entry_free(e);
		if (rc == 0)
			return;
		struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	cr_assert_fail("no record %s appeared in the bucket", key);
}

/* Replacing a waiting job's record with text that is not a record ends
 * the job with an error that names the record, well before its expiry.
 * Without the end, the job would hold a place until the approval expires. */
Test(engine_serve_approvals_tamper, corrupt_record_ends_job, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	bl_kv_t *kv = open_bucket(&h);

	serve_publish(&h, "acme", HUMAN_JOB("t1"), NULL);
	wait_record(kv, "acme.t1");
	cr_assert_eq(bl_kv_put(kv, "acme.t1", "not json", 8, NULL, NULL), 0, "cannot overwrite the record");
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, REACT_MS);

	cr_expect_eq(n, 1, "the job did not end within %d ms of its record being corrupted", REACT_MS);
	json_t *r = n ? serve_result(&h, "acme", "t1") : NULL;
	json_t *error = json_object_get(r, "error");
	char *text = text_of(r);
	cr_expect_str_eq(str(r, "status"), "error", "result: %s", text);
	cr_expect_str_eq(str(error, "code"), "approval_record_invalid", "result: %s", text);
	cr_expect_not_null(strstr(str(error, "message"), "acme.t1"), "the error does not name the key: %s", text);
	cr_expect(!json_is_true(json_object_get(error, "retryable")), "the error is retryable: %s", text);
	free(text);
	json_decref(r);
	bl_kv_free(kv);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* Deleting a waiting job's record ends the job ("Delete a key to forget
 * an approval"), rather than leaving it to wait for its expiry. */
Test(engine_serve_approvals_tamper, deleted_record_ends_job, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	bl_kv_t *kv = open_bucket(&h);

	serve_publish(&h, "acme", HUMAN_JOB("t2"), NULL);
	wait_record(kv, "acme.t2");
	cr_assert_eq(bl_kv_delete(kv, "acme.t2", NULL), 0, "cannot delete the record");
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, REACT_MS);

	cr_expect_eq(n, 1, "the job did not end within %d ms of its record being deleted", REACT_MS);
	json_t *r = n ? serve_result(&h, "acme", "t2") : NULL;
	char *text = text_of(r);
	cr_expect_str_eq(str(r, "status"), "error", "result: %s", text);
	free(text);
	json_decref(r);
	bl_kv_free(kv);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A record stored under acme.t3 before the job, whose request is the
 * approval evil:x and whose decision is "approve". The job acme:t3 must
 * not take a decision made for another approval id. */
Test(engine_serve_approvals_tamper, record_for_other_id_not_taken, .timeout = 90)
{
	static const char planted[] =
		"{\"request\":{\"id\":\"evil:x\",\"tenant\":\"evil\",\"job_id\":\"x\",\"summary\":\"something else\","
		"\"default_decision\":\"reject\",\"expires_ms\":9000000000000},"
		"\"decision\":{\"id\":\"evil:x\",\"decision\":\"approve\",\"decided_by\":\"mallory\","
		"\"decided_at\":\"2026-12-05T06:00:00.000Z\",\"decided_ms\":1796536800000,\"defaulted\":false}}";
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	bl_kv_t *kv = open_bucket(&h);
	cr_assert_eq(bl_kv_put(kv, "acme.t3", planted, strlen(planted), NULL, NULL), 0, "cannot plant the record");

	serve_publish(&h, "acme", HUMAN_JOB("t3"), NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, REACT_MS);

	json_t *r = n ? serve_result(&h, "acme", "t3") : NULL;
	json_t *result = json_object_get(r, "result");
	json_t *error = json_object_get(r, "error");
	char *text = text_of(r);
	cr_expect(strcmp(str(result, "decided_by"), "mallory") != 0, "the job took the decision for evil:x: %s", text);
	cr_expect_str_eq(str(error, "code"), "approval_record_invalid", "result: %s", text);
	cr_expect_not_null(strstr(str(error, "message"), "acme.t3"), "the error does not name the key: %s", text);
	free(text);
	json_decref(r);
	bl_kv_free(kv);
	serve_stop(&engine);
	serve_harness_fini(&h);
}
