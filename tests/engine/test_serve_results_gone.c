/*
 * The service mode when the stream BEAMLINE_RESULTS is deleted under a
 * running engine: a job published then cannot be checked for an earlier
 * result, and must not be dead-lettered as if it had run and died. When
 * BEAMLINE_DLQ is deleted, a dead letter waits for the stream to be
 * recreated rather than being lost.
 * Runs `beamline-engine serve` against a real nats-server on 127.0.0.1
 * (skipped where none is installed).
 */
#define _GNU_SOURCE /* usleep */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "serve_harness.h"

/* Long enough for three lookups that time out and their NAKs. */
#define WAIT_MS 25000

static const char *str(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "(missing)";
}

static void delete_stream(serve_harness_t *h, const char *name)
{
	jsCtx *js = NULL;
	jsErrCode code = 0;

	cr_assert_eq(natsConnection_JetStream(&js, bl_nats_raw(h->nats), NULL), NATS_OK);
	cr_assert_eq(js_DeleteStream(js, name, NULL, &code), NATS_OK, "cannot delete %s (JetStream error %d)", name,
		     (int)code);
	jsCtx_Destroy(js);
}

/* Start an engine, then delete BEAMLINE_RESULTS under it. */
static void start_without_results(serve_harness_t *h, engine_child_t *engine)
{
	serve_harness_init(h, "", "");
	serve_start(h, engine, "engine");
	delete_stream(h, "BEAMLINE_RESULTS");
}

/*
 * Each failed lookup NAKs the delivery, and each NAK counts as an attempt,
 * so after max_attempts (3) lookups that timed out the job is dead-lettered
 * as attempts_exhausted, "the engine running them stopped", although it
 * never ran. A lookup that fails is not an attempt of the job.
 */
Test(engine_serve_results_gone, failed_lookups_are_not_attempts, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	start_without_results(&h, &engine);
	serve_publish(&h, "acme", NOOP_JOB("g1"), NULL);
	serve_wait_count(&h, "BEAMLINE_DLQ", 1, WAIT_MS);
	json_t *letter = serve_dead_letter(&h, "g1");

	cr_expect(letter == NULL || strcmp(str(letter, "reason"), "attempts_exhausted") != 0,
		  "a job that never ran was dead-lettered as attempts_exhausted");
	json_decref(letter);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* Readiness includes "streams verified", so an engine whose results stream
 * is gone must stop reporting ready. */
Test(engine_serve_results_gone, not_ready_without_results_stream, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	start_without_results(&h, &engine);
	bool ready = true;
	for (int i = 0; i < 40 && ready; i++) {
		json_t *st = serve_request(&h, "beamline.engine.v1.status", "", 2000);
		ready = json_is_true(json_object_get(st, "ready"));
		json_decref(st);
		if (ready)
			usleep(500 * 1000);
	}

	cr_expect(!ready, "the engine still reports ready 20 s after BEAMLINE_RESULTS was deleted");
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A job allowed one attempt, published just after BEAMLINE_RESULTS was
 * deleted: its deliveries handed back while the stream was missing use
 * none of that attempt, and it runs once the engine has recreated the
 * stream. Counting each delivery as an attempt dead-letters it instead. */
Test(engine_serve_results_gone, job_runs_once_stream_back, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	start_without_results(&h, &engine);
	serve_publish(&h, "acme", "{\"id\":\"g2\",\"tenant\":\"acme\",\"block\":\"kernel\","
				  "\"retry\":{\"max_attempts\":1},\"params\":{\"kernel\":\"noop\"}}",
		      NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, WAIT_MS);
	json_t *result = n ? serve_result(&h, "acme", "g2") : NULL;
	json_t *letter = serve_dead_letter(&h, "g2");

	cr_expect_eq(n, 1, "no result stored within %d ms of the job", WAIT_MS);
	cr_expect_str_eq(str(result, "status"), "ok", "the job did not run to completion");
	cr_expect_null(letter, "the job was dead-lettered as %s", str(letter, "reason"));
	json_decref(result);
	json_decref(letter);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A message that is not a job, published while BEAMLINE_DLQ is missing,
 * is handed back until the engine has recreated the stream, then stored
 * there as invalid_job and acked. */
Test(engine_serve_results_gone, dead_letter_waits_for_dlq, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	delete_stream(&h, "BEAMLINE_DLQ");

	serve_publish(&h, "acme", "not a job", NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 1, WAIT_MS);

	cr_assert_eq(n, 1, "no dead letter within %d ms; log:\n%s", WAIT_MS, test_file_read(engine.err_path));
	json_t *letter = serve_stream_msg(&h, "BEAMLINE_DLQ", 1);
	cr_assert_str_eq(str(letter, "reason"), "invalid_job");
	json_decref(letter);
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the message was acked once stored");
	serve_stop(&engine);
	serve_harness_fini(&h);
}
