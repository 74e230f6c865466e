/*
 * The service mode end to end: `beamline-engine serve` children against a
 * real nats-server on 127.0.0.1, fed through BEAMLINE_JOBS and
 * beamline.engine.v1.execute, checked through BEAMLINE_RESULTS and
 * BEAMLINE_DLQ.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <beamline/kv.h>
#include <nats/nats.h>

#include "serve_harness.h"

static const char *str(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "(missing)";
}

/* Ask for the status until its counter `name` reaches `at_least`, for up
 * to `timeout_ms`; returns the last status reply (owned). */
static json_t *wait_counter(serve_harness_t *h, const char *name, json_int_t at_least, int timeout_ms)
{
	json_t *st = NULL;

	for (long long until = now_ms() + timeout_ms; now_ms() < until; sleep_ms(50)) {
		json_decref(st);
		st = serve_request(h, "beamline.engine.v1.status", "", 2000);
		if (json_integer_value(json_object_get(json_object_get(st, "counters"), name)) >= at_least)
			break;
	}
	return st;
}

/* Three no-op jobs and a map job go in; four results with their outputs come out. */
Test(engine_serve, jobs_in_results_out, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme", NOOP_JOB("n1"), NULL);
	serve_publish(&h, "acme", NOOP_JOB("n2"), NULL);
	serve_publish(&h, "acme", NOOP_JOB("n3"), NULL);
	serve_publish(&h, "acme",
		      "{\"id\":\"m1\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"kernel\":\"map\","
		      "\"device\":\"cpu\",\"inputs\":{\"x\":{\"data\":[-1.5,2,-3,4],\"dtype\":\"float32\"}},"
		      "\"args\":{\"op\":\"relu\"}}}",
		      NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 4, 20000);

	cr_assert_eq(n, 4, "expected 4 results, got %llu", (unsigned long long)n);
	const char *ids[] = {"n1", "n2", "n3", "m1"};
	for (int i = 0; i < 4; i++) {
		json_t *r = serve_result(&h, "acme", ids[i]);
		cr_assert_not_null(r, "no result for %s", ids[i]);
		cr_assert_str_eq(str(r, "status"), "ok", "job %s: status %s", ids[i], str(r, "status"));
		json_decref(r);
	}
	json_t *m = serve_result(&h, "acme", "m1");
	char *text = json_dumps(m, JSON_COMPACT);
	cr_assert(strstr(text, "[0.0,2.0,0.0,4.0]") || strstr(text, "[0,2,0,4]"), "relu output missing: %s", text);
	free(text);
	json_decref(m);
	uint64_t left = serve_wait_empty(&h, "BEAMLINE_JOBS", 5000);
	cr_assert_eq(left, 0, "acked jobs leave the work queue; %llu left", (unsigned long long)left);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A postgres address where no server listens: every attempt fails with the
 * retryable connection_failed. */
#define DEAD_PG_SECTION                                                                                     \
	", \"sql\": {\"connect_timeout_ms\": 500, \"databases\": {\"pg\": {\"driver\": \"postgres\", "        \
	"\"dsn\": \"host=127.0.0.1 port=1 dbname=x user=x\", \"shared\": true}}}"

/* A job that fails retryably every time is delivered max_attempts (3)
 * times, then lands in the DLQ with each attempt's error, and no result. */
Test(engine_serve, retryable_failure_dead_lettered, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", DEAD_PG_SECTION);
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme",
		      "{\"id\":\"f1\",\"tenant\":\"acme\",\"block\":\"sql\",\"params\":{\"database\":\"pg\",\"sql\":\"SELECT 1\"},"
		      "\"retry\":{\"max_attempts\":3,\"backoff_ms\":50,\"max_backoff_ms\":200}}",
		      NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 1, 30000);

	cr_assert_eq(n, 1, "expected 1 dead letter, got %llu; log:\n%s", (unsigned long long)n,
		     test_file_read(engine.err_path));
	json_t *entry = serve_dead_letter(&h, "f1");
	cr_assert_not_null(entry);
	cr_assert_str_eq(str(entry, "reason"), "attempts_exhausted");
	cr_assert_str_eq(str(entry, "tenant"), "acme");
	json_t *attempts = json_object_get(entry, "attempts");
	cr_assert_eq(json_array_size(attempts), 3, "expected 3 attempts, got %zu", json_array_size(attempts));
	for (size_t i = 0; i < 3; i++) {
		json_t *a = json_array_get(attempts, i);
		cr_assert_eq(json_integer_value(json_object_get(a, "attempt")), (json_int_t)i + 1);
		cr_assert_str_eq(str(json_object_get(a, "error"), "code"), "connection_failed", "attempt %zu", i + 1);
		cr_assert(json_is_object(json_object_get(a, "timing_us")), "attempt %zu has no timing", i + 1);
	}
	cr_assert_str_eq(str(json_object_get(entry, "job"), "id"), "f1");
	cr_assert_null(serve_result(&h, "acme", "f1"), "a dead-lettered job has no result");
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the delivery was acked");
	json_decref(entry);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* Four bad messages go to the DLQ at once with their reasons: malformed
 * JSON, a job over max_job_bytes, a job published under another tenant,
 * and a key that is not UTF-8, which the dead letter's message quotes. A
 * good job published after them still runs. */
Test(engine_serve, bad_messages_dead_lettered, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	char big[2048];
	serve_harness_init(&h, "", "");
	serve_config_write(&h, h.config_path, ", \"max_job_bytes\": 1024");
	serve_start(&h, &engine, "engine");
	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, NOOP_JOB("big"), strlen(NOOP_JOB("big")));

	serve_publish(&h, "acme", "{\"id\": \"bad\", \"tenant\": ", NULL);
	serve_publish(&h, "acme", big, NULL);
	serve_publish(&h, "acme", "{\"id\":\"w1\",\"tenant\":\"globex\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}",
		      NULL);
	serve_publish(&h, "acme", "{\"id\":\"k\",\"tenant\":\"acme\",\"block\":\"fs\",\"params\":{\"a\xff\":1}}", NULL);
	serve_publish(&h, "acme", NOOP_JOB("good"), NULL);
	uint64_t results = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);
	uint64_t letters = serve_wait_count(&h, "BEAMLINE_DLQ", 4, 10000);

	cr_assert_eq(results, 1, "the good job has its result");
	cr_assert_eq(letters, 4, "expected 4 dead letters, got %llu", (unsigned long long)letters);
	const char *reasons[] = {"invalid_job", "job_too_large", "tenant_mismatch", "invalid_job"};
	for (uint64_t seq = 1; seq <= 4; seq++) {
		json_t *e = serve_stream_msg(&h, "BEAMLINE_DLQ", seq);
		cr_assert_str_eq(str(e, "reason"), reasons[seq - 1], "dead letter %llu", (unsigned long long)seq);
		cr_assert_neq(strlen(str(e, "message")), 0);
		json_decref(e);
	}
	json_t *cut = serve_stream_msg(&h, "BEAMLINE_DLQ", 1);
	cr_assert_str_eq(str(cut, "id"), "bad", "the id before the fault is kept");
	json_decref(cut);
	json_t *w = serve_dead_letter(&h, "w1");
	cr_assert_not_null(strstr(str(w, "message"), "globex"), "the message names the job's tenant: %s", str(w, "message"));
	json_decref(w);
	json_t *r = serve_result(&h, "acme", "good");
	cr_assert_str_eq(str(r, "status"), "ok");
	json_decref(r);
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "every message was acked");

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* The same job published twice with one Nats-Msg-Id is stored once and
 * runs once; published again with another id after its result exists, it
 * is acked without running. The status counters show both. */
Test(engine_serve, duplicates_run_once, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme", NOOP_JOB("d1"), "acme/d1");
	serve_publish(&h, "acme", NOOP_JOB("d1"), "acme/d1");
	cr_assert_eq(serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000), 1);
	serve_publish(&h, "acme", NOOP_JOB("d1"), "acme/d1-again");
	json_t *st = wait_counter(&h, "duplicates", 1, 10000);

	json_t *counters = json_object_get(st, "counters");
	cr_assert_eq(json_integer_value(json_object_get(counters, "received")), 1, "the job ran once");
	cr_assert_eq(json_integer_value(json_object_get(counters, "duplicates")), 1, "the resubmission was a duplicate");
	cr_assert_eq(serve_stream_count(&h, "BEAMLINE_RESULTS"), 1, "one result");
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the resubmission was acked");
	json_decref(st);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* An execute request is answered with the job's result; a request that
 * is not a job is answered with invalid_job; status names the instance. */
Test(engine_serve, execute_request_replies, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");

	json_t *r = serve_request(&h, "beamline.engine.v1.execute", NOOP_JOB("x1"), 10000);
	json_t *bad = serve_request(&h, "beamline.engine.v1.execute", "{\"id\": 5}", 10000);
	json_t *st = serve_request(&h, "beamline.engine.v1.status", "", 5000);

	cr_assert_not_null(r, "no reply to execute");
	cr_assert_str_eq(str(r, "id"), "x1");
	cr_assert_str_eq(str(r, "status"), "ok");
	cr_assert_not_null(bad, "no reply to a bad request");
	cr_assert_str_eq(str(bad, "status"), "error");
	cr_assert_str_eq(str(json_object_get(bad, "error"), "code"), "invalid_job");
	cr_assert_not_null(st, "no reply to status");
	cr_assert_neq(strlen(str(st, "instance")), 0);
	cr_assert(json_is_true(json_object_get(st, "ready")));
	cr_assert_geq(json_array_size(json_object_get(st, "pools")), 3);
	cr_assert_eq(serve_stream_count(&h, "BEAMLINE_RESULTS"), 0, "results of requests are not stored");
	json_decref(r);
	json_decref(bad);
	json_decref(st);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A result line as the engine stores it, with a field no run of the job produces. */
#define STORED_RESULT(id) "{\"id\":\"" id "\",\"tenant\":\"acme\",\"status\":\"ok\",\"result\":{\"from\":\"stored\"}}"

/* Store STORED_RESULT(id) in BEAMLINE_RESULTS as the sink would. */
static void store_result(serve_harness_t *h, const char *id, const char *line)
{
	char subject[128], msg_id[128];
	bl_nats_error_t err = {0};
	snprintf(subject, sizeof subject, "beamline.results.v1.acme.%s", id);
	snprintf(msg_id, sizeof msg_id, "acme/%s", id);
	bl_js_publish_opts_t opts = {.msg_id = msg_id};
	cr_assert_eq(bl_js_publish(h->nats, subject, line, strlen(line), &opts, NULL, &err), 0, "%s", err.error.message);
}

/* Wait up to `timeout_ms` until the engine's results index is current and
 * contains at least `keys` keys. Returns the last status reply (owned). */
static json_t *wait_index(serve_harness_t *h, json_int_t keys, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	json_t *st = NULL;
	while (now_ms() < until) {
		json_decref(st);
		st = serve_request(h, "beamline.engine.v1.status", "", 2000);
		json_t *index = json_object_get(st, "results_index");
		if (json_is_true(json_object_get(index, "current")) &&
		    json_integer_value(json_object_get(index, "keys")) >= keys)
			return st;
		sleep_ms(50);
	}
	char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
	cr_assert_fail("the results index was not current with %lld keys within %d ms; last status: %s",
		       (long long)keys, timeout_ms, text ? text : "(none)");
	free(text);
	return NULL;
}

static json_int_t counter(const json_t *status, const char *name)
{
	return json_integer_value(json_object_get(json_object_get(status, "counters"), name));
}

/*
 * Execute requests and the results index. A result stored while the engine
 * runs reaches its index. A request for that job gets the stored line
 * after one lookup, and its "from" field proves that the job did not run.
 * A request for a new job runs it without any lookup. A second engine
 * started later loads the same key from the stream's existing messages.
 */
Test(engine_serve, execute_uses_results_index, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine, second;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	json_decref(wait_index(&h, 0, 10000));

	store_result(&h, "s1", STORED_RESULT("s1"));
	json_decref(wait_index(&h, 1, 10000));
	json_t *stored = serve_request(&h, "beamline.engine.v1.execute", NOOP_JOB("s1"), 10000);
	json_t *ran = serve_request(&h, "beamline.engine.v1.execute", NOOP_JOB("x2"), 10000);
	json_t *st = serve_request(&h, "beamline.engine.v1.status", "", 5000);

	cr_assert_not_null(stored, "no reply to execute s1");
	cr_assert_str_eq(str(json_object_get(stored, "result"), "from"), "stored", "s1 must be answered from the stream");
	cr_assert_not_null(ran, "no reply to execute x2");
	cr_assert_str_eq(str(ran, "status"), "ok");
	cr_assert_null(json_object_get(json_object_get(ran, "result"), "from"), "x2 has no stored result and ran");
	cr_assert_eq(counter(st, "received"), 1, "only x2 ran: received %lld", (long long)counter(st, "received"));
	cr_assert_eq(counter(st, "duplicates"), 1, "s1 was a duplicate: %lld", (long long)counter(st, "duplicates"));
	cr_assert_eq(counter(st, "result_lookups"), 1, "only s1 needed a lookup: %lld lookups",
		     (long long)counter(st, "result_lookups"));
	json_decref(stored);
	json_decref(ran);
	json_decref(st);
	serve_stop(&engine);

	serve_start(&h, &second, "second");
	json_decref(wait_index(&h, 1, 10000));
	stored = serve_request(&h, "beamline.engine.v1.execute", NOOP_JOB("s1"), 10000);

	cr_assert_not_null(stored, "no reply to execute s1 from the second engine");
	cr_assert_str_eq(str(json_object_get(stored, "result"), "from"), "stored",
			 "the second engine must answer s1 from the stream");
	json_decref(stored);
	serve_stop(&second);
	serve_harness_fini(&h);
}

/*
 * Results stored while the connection was away never reach the old watch,
 * so a reconnection sends the index back to the stream until a new watch
 * has caught up. After a server restart, a result stored at once is in the
 * index within 5 s. The old watch alone would notice its lost consumer only
 * after three missed heartbeats (15 s).
 */
Test(engine_serve, results_index_rebuilt_after_reconnect, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	json_decref(wait_index(&h, 0, 10000));

	cr_assert_eq(bl_test_nats_stop(&h.server), 0, "%s", h.server.error);
	cr_assert_eq(bl_test_nats_restart(&h.server), 0, "%s", h.server.error);
	for (int i = 0; i < 100 && !bl_nats_is_connected(h.nats); i++)
		sleep_ms(50);
	cr_assert(bl_nats_is_connected(h.nats), "the test's connection did not come back within 5 s");
	store_result(&h, "r1", STORED_RESULT("r1"));
	json_decref(wait_index(&h, 1, 5000));
	json_t *stored = serve_request(&h, "beamline.engine.v1.execute", NOOP_JOB("r1"), 10000);

	cr_assert_not_null(stored, "no reply to execute r1");
	cr_assert_str_eq(str(json_object_get(stored, "result"), "from"), "stored", "r1 must be answered from the stream");
	json_decref(stored);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A human job waits for a decision that never comes. */
#define WAITING_JOB(id)                                                                                      \
	"{\"id\":\"" id "\",\"tenant\":\"acme\",\"block\":\"human\",\"timeout_ms\":60000,\"params\":{\"summary\":" \
	"\"wait\",\"requested_by\":\"test\",\"expires_in_ms\":50000}}"

/* Cancelling a running job stores its result with status cancelled. */
Test(engine_serve, cancel_running_job, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	serve_publish(&h, "acme", WAITING_JOB("c1"), NULL);
	serve_wait_running(&h, 1);

	json_t *reply = serve_request(&h, "beamline.engine.v1.cancel", "{\"tenant\":\"acme\",\"id\":\"c1\"}", 5000);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 10000);

	cr_assert_not_null(reply, "no reply to cancel");
	cr_assert_str_eq(str(reply, "status"), "cancelling");
	cr_assert_eq(n, 1, "the cancelled job has a result");
	json_t *r = serve_result(&h, "acme", "c1");
	cr_assert_str_eq(str(r, "status"), "cancelled");
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the cancelled job was acked");
	json_decref(r);
	json_decref(reply);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* SIGTERM with a job that cannot finish: the engine waits out
 * drain_timeout_ms (1 s), NAKs the job so that it is delivered again at
 * once rather than after its 30 s ack_wait, stores the finished job's
 * result, and exits 0. */
Test(engine_serve, sigterm_drains, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, ", \"drain_timeout_ms\": 1000", "");
	serve_start(&h, &engine, "engine");
	serve_publish(&h, "acme", WAITING_JOB("s1"), NULL);
	serve_publish(&h, "acme", NOOP_JOB("s2"), NULL);
	cr_assert_eq(serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 10000), 1);
	serve_wait_running(&h, 1);

	long long start = now_ms();
	serve_stop(&engine);
	long long took = now_ms() - start;

	cr_assert_geq(took, 900, "the drain waited %lld ms for the running job, expected about 1000", took);
	bl_js_puller_t *puller = NULL;
	bl_js_msg_t *msg = NULL;
	cr_assert_eq(bl_js_puller_new(&puller, h.nats, "BEAMLINE_JOBS", "beamline-engine", NULL), 0);
	int got = bl_js_fetch(puller, &msg, 1, 3000, NULL);
	cr_assert_eq(got, 1, "the handed-back job is delivered again well before its 30 s ack_wait");
	cr_assert_eq(bl_js_msg_meta(msg)->delivered, 2, "second delivery");
	cr_assert_not_null(strstr(bl_js_msg_data(msg), "\"s1\""));
	bl_js_msg_free(msg);
	bl_js_puller_free(puller);
	cr_assert_eq(serve_stream_count(&h, "BEAMLINE_JOBS"), 1, "the unfinished job is still in the stream");
	json_t *r = serve_result(&h, "acme", "s2");
	cr_assert_str_eq(str(r, "status"), "ok");
	json_decref(r);
	char *log = test_file_read(engine.err_path);
	cr_assert_not_null(strstr(log, "\"handed_back\":1"), "the log counts one job handed back:\n%s", log);
	free(log);
	serve_harness_fini(&h);
}

/* SIGTERM with jobs that wait for admission: the default quota runs 4
 * of the tenant's 6 waiting jobs, and the other 2 are still queued in the
 * dispatcher when the runtime stops. serve exits 0, and under
 * AddressSanitizer that includes finding no leak: the queued jobs' states
 * were not freed before. */
Test(engine_serve, sigterm_with_jobs_queued_exits_clean, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, ", \"drain_timeout_ms\": 500", "");
	serve_start(&h, &engine, "engine");
	const char *jobs[] = {WAITING_JOB("q1"), WAITING_JOB("q2"), WAITING_JOB("q3"),
			      WAITING_JOB("q4"), WAITING_JOB("q5"), WAITING_JOB("q6")};
	for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++)
		serve_publish(&h, "acme", jobs[i], NULL);
	serve_wait_running(&h, 4);
	json_int_t queued = -1;
	for (long long until = now_ms() + 10000; queued != 2 && now_ms() < until; sleep_ms(50)) {
		json_t *st = serve_request(&h, "beamline.engine.v1.status", "", 2000);
		queued = json_integer_value(json_object_get(json_object_get(st, "jobs"), "queued"));
		json_decref(st);
	}

	cr_assert_eq(queued, 2, "expected 2 jobs waiting for admission, got %lld", (long long)queued);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* A second SIGTERM during the drain: the drain still ends and serve exits
 * 0. OpenBLAS's threads start before serve blocks the signal, and the
 * kernel handed them the second SIGTERM, whose default action ended the
 * process in 3 runs of 3 before serve passed such signals on. */
Test(engine_serve, second_sigterm_keeps_drain, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, ", \"drain_timeout_ms\": 2000", "");
	serve_start(&h, &engine, "engine");
	serve_publish(&h, "acme", WAITING_JOB("t1"), NULL);
	serve_wait_running(&h, 1);

	cr_assert_eq(kill(engine.pid, SIGTERM), 0);
	sleep_ms(300);
	cr_assert_eq(kill(engine.pid, SIGTERM), 0);
	cr_assert(child_wait(&engine, 15000), "serve did not exit");

	char *log = test_file_read(engine.err_path);
	cr_assert_eq(engine.status, 0, "serve exited with %d; its log:\n%s", engine.status, log);
	cr_assert_not_null(strstr(log, "\"serve_drained\""), "no serve_drained in the log:\n%s", log);
	free(log);
	serve_harness_fini(&h);
}

/* SIGTERM while nats-server is down: serve sends no flush and no API
 * request that would get no reply and wait out the 5 s request timeout,
 * and exits 0. It took 2.4 s here (the drain waits for a pull in
 * progress), and 8.4 s when the KV watch still deleted its consumer on
 * the way out. */
Test(engine_serve, sigterm_while_server_down_is_quick, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");
	cr_assert_eq(bl_test_nats_stop(&h.server), 0, "%s", h.server.error);
	sleep_ms(500);

	long long start = now_ms();
	serve_stop(&engine);
	long long took = now_ms() - start;

	cr_assert_lt(took, 6000, "serve took %lld ms to stop while the server was down; its log:\n%s", took,
		     test_file_read(engine.err_path));
	serve_harness_fini(&h);
}

/* Wait up to `timeout_ms` for `text` in the child's log; returns whether it came. */
static bool wait_log(const engine_child_t *c, const char *text, int timeout_ms)
{
	for (long long until = now_ms() + timeout_ms; now_ms() < until; sleep_ms(20)) {
		char *log = test_file_read(c->err_path);
		bool found = log && strstr(log, text);
		free(log);
		if (found)
			return true;
	}
	return false;
}

/* SIGTERM while nats-server is down, with a job that cannot finish: the
 * drain ends about drain_timeout_ms (1 s) after the signal. It ended 3.3 s
 * after it when a last flush waited out its 2 s timeout without a
 * connection. */
Test(engine_serve, drain_while_server_down_keeps_deadline, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, ", \"drain_timeout_ms\": 1000", "");
	serve_start(&h, &engine, "engine");
	serve_publish(&h, "acme", WAITING_JOB("w1"), NULL);
	serve_wait_running(&h, 1);
	cr_assert_eq(bl_test_nats_stop(&h.server), 0, "%s", h.server.error);
	sleep_ms(300);

	long long start = now_ms();
	cr_assert_eq(kill(engine.pid, SIGTERM), 0);
	bool drained = wait_log(&engine, "\"serve_drained\"", 15000);
	long long took = now_ms() - start;

	cr_assert(drained, "no serve_drained in the log:\n%s", test_file_read(engine.err_path));
	cr_log_info("the drain ended %lld ms after SIGTERM", took);
	cr_assert_lt(took, 2000, "the drain ended %lld ms after SIGTERM, its timeout is 1000 ms; log:\n%s", took,
		     test_file_read(engine.err_path));
	cr_assert(child_wait(&engine, 15000), "the engine did not exit within 15 s of the drain");
	cr_assert_eq(engine.status, 0, "the engine exited with %d; its log:\n%s", engine.status,
		     test_file_read(engine.err_path));
	serve_harness_fini(&h);
}

/* A BEAMLINE_JOBS that exists with other settings is reported by name and
 * left unchanged, and serve exits with status 3. */
Test(engine_serve, mismatching_stream_not_overwritten, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	bl_nats_error_t err = {0};
	const char *subjects[] = {"beamline.jobs.v1.>"};
	bl_js_stream_config_t other = {.name = "BEAMLINE_JOBS", .subjects = subjects, .nsubjects = 1};
	serve_harness_init(&h, "", "");
	cr_assert_eq(bl_js_stream_ensure(h.nats, &other, NULL, &err), 1, "cannot make the stream: %s", err.error.message);

	const char *args[] = {"serve", "--config", h.config_path, NULL};
	child_start(&engine, h.dir, "engine", args);

	cr_assert(child_wait(&engine, 20000), "serve did not exit");
	cr_assert_eq(engine.status, 3, "expected exit status 3, got %d", engine.status);
	char *log = test_file_read(engine.err_path);
	cr_assert_not_null(strstr(log, "BEAMLINE_JOBS"), "the error names the stream:\n%s", log);
	cr_assert_not_null(strstr(log, "retention"), "the error names the field:\n%s", log);
	const char *first = strstr(log, "other settings");
	const char *line_end = first ? strchr(first, '\n') : NULL;
	const char *again = first ? strstr(first + 1, "other settings") : NULL;
	cr_assert(first && (!again || (line_end && again > line_end)), "the error says 'other settings' once:\n%s",
		  log);
	free(log);
	cr_assert_eq(bl_js_stream_ensure(h.nats, &other, NULL, &err), 0, "the stream is unchanged");
	serve_harness_fini(&h);
}

/* A job that runs 3 s with a 1 s ack_wait is kept by in-progress acks:
 * it is delivered once, runs once, and nothing is handed back. */
Test(engine_serve, in_progress_acks_keep_long_job, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	bl_js_consumer_state_t cs = {0};
	serve_harness_init(&h, ", \"consumer\": {\"ack_wait_ms\": 1000}", "");
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme",
		      "{\"id\":\"p1\",\"tenant\":\"acme\",\"block\":\"human\",\"timeout_ms\":60000,\"params\":{\"summary\":"
		      "\"wait\",\"requested_by\":\"test\",\"expires_in_ms\":3000,\"default_decision\":\"approve\"}}",
		      NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);
	json_t *st = serve_request(&h, "beamline.engine.v1.status", "", 5000);

	cr_assert_eq(n, 1, "the job has its result");
	json_t *r = serve_result(&h, "acme", "p1");
	cr_assert_str_eq(str(r, "status"), "ok");
	json_decref(r);
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the delivery was acked");
	cr_assert_eq(bl_js_consumer_state(h.nats, "BEAMLINE_JOBS", "beamline-engine", &cs, NULL), 0);
	cr_assert_eq(cs.num_redelivered, 0, "no redelivery, got %llu", (unsigned long long)cs.num_redelivered);
	cr_assert_eq(cs.delivered_consumer_seq, 1, "delivered once, got %llu",
		     (unsigned long long)cs.delivered_consumer_seq);
	json_t *counters = json_object_get(st, "counters");
	cr_assert_eq(json_integer_value(json_object_get(counters, "received")), 1);
	cr_assert_eq(json_integer_value(json_object_get(counters, "naks")), 0);
	json_decref(st);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* Wait up to 10 s for the approval request `key` ("<tenant>.<id>") to be
 * stored in beamline_approvals. */
static void wait_approval_stored(serve_harness_t *h, const char *key)
{
	bl_kv_t *kv = NULL;
	bl_kv_entry_t *e = NULL;
	cr_assert_eq(bl_kv_open(&kv, h->nats, "beamline_approvals", NULL), 0, "the bucket exists");

	for (long long until = now_ms() + 10000; now_ms() < until; sleep_ms(50)) {
		if (bl_kv_get(&e, kv, key, NULL) == 0)
			break;
	}
	cr_assert_not_null(e, "the approval request %s was not stored within 10 s", key);
	bl_kv_entry_free(e);
	bl_kv_free(kv);
}

/* Wait until the engine has received a job, and for a human job until it
 * has stored its approval request `approval`, so that the pause cuts no
 * bucket call of it. Then stop the process for `pause_ms`, past
 * ack_wait_ms so that the server delivers the job again, and let it go
 * on. */
static void pause_holding_job(serve_harness_t *h, engine_child_t *engine, const char *approval, int pause_ms)
{
	json_decref(wait_counter(h, "received", 1, 10000));
	if (approval)
		wait_approval_stored(h, approval);
	cr_assert_eq(kill(engine->pid, SIGSTOP), 0);
	sleep_ms(pause_ms);
	cr_assert_eq(kill(engine->pid, SIGCONT), 0);
}

/*
 * A job held on this instance whose in-progress acks stopped (the engine
 * paused past ack_wait_ms) is delivered again while it still runs. The
 * redelivery is handed back, not dead-lettered as attempts_exhausted,
 * although its delivery count is past the job's one attempt. The held
 * copy then stores the only outcome.
 */
Test(engine_serve, redelivery_of_held_job_handed_back, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, ", \"consumer\": {\"ack_wait_ms\": 600}", "");
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme",
		      "{\"id\":\"held\",\"tenant\":\"acme\",\"block\":\"human\",\"timeout_ms\":60000,"
		      "\"retry\":{\"max_attempts\":1},\"params\":{\"summary\":\"wait\",\"requested_by\":\"test\","
		      "\"expires_in_ms\":5000,\"default_decision\":\"approve\"}}",
		      NULL);
	pause_holding_job(&h, &engine, "acme.held", 2000);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);
	json_t *st = serve_request(&h, "beamline.engine.v1.status", "", 5000);

	char *log = test_file_read(engine.err_path);
	cr_assert_eq(n, 1, "the held job has no result; log:\n%s", log);
	json_t *r = serve_result(&h, "acme", "held");
	cr_assert_str_eq(str(r, "status"), "ok", "log:\n%s", log);
	json_decref(r);
	cr_assert_geq(json_integer_value(json_object_get(json_object_get(st, "counters"), "naks")), 1,
		      "no redelivery came while the job was held; log:\n%s", log);
	cr_assert_eq(serve_stream_count(&h, "BEAMLINE_DLQ"), 0, "the redelivery was dead-lettered: %s",
		     json_dumps(serve_dead_letter(&h, "held"), 0));
	free(log);
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the delivery was acked");
	json_decref(st);

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* Start serve with `nats_extra` and a postgres database "pg" whose server
 * never accepts; returns the listener's socket. */
static int start_with_silent_postgres(serve_harness_t *h, engine_child_t *engine, const char *nats_extra,
				      int connect_timeout_ms)
{
	int fd = serve_harness_init_silent_postgres(h, nats_extra, connect_timeout_ms);
	serve_start(h, engine, "engine");
	return fd;
}

/*
 * A held job whose redeliveries were handed back while it ran, and which
 * then fails retryably, still gets exactly max_attempts (2) attempts,
 * numbered 1 and 2. The held copy is attempt 1, so the delivery after
 * its NAK is attempt 2.
 */
Test(engine_serve, held_job_retry_counts_attempt, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	int fd = start_with_silent_postgres(&h, &engine, ", \"consumer\": {\"ack_wait_ms\": 600}", 3000);

	serve_publish(&h, "acme",
		      "{\"id\":\"slow\",\"tenant\":\"acme\",\"block\":\"sql\",\"params\":{\"database\":\"pg\","
		      "\"sql\":\"SELECT 1\"},\"retry\":{\"max_attempts\":2,\"backoff_ms\":50,\"max_backoff_ms\":100}}",
		      NULL);
	pause_holding_job(&h, &engine, NULL, 1500);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 1, 40000);

	cr_assert_eq(n, 1, "expected 1 dead letter, got %llu; log:\n%s", (unsigned long long)n,
		     test_file_read(engine.err_path));
	json_t *entry = serve_dead_letter(&h, "slow");
	cr_assert_not_null(entry);
	cr_assert_str_eq(str(entry, "reason"), "attempts_exhausted");
	json_t *attempts = json_object_get(entry, "attempts");
	char *text = json_dumps(attempts, JSON_COMPACT);
	cr_assert_eq(json_array_size(attempts), 2, "expected 2 attempts, got %zu: %s", json_array_size(attempts), text);
	for (size_t i = 0; i < 2; i++) {
		json_int_t number = json_integer_value(json_object_get(json_array_get(attempts, i), "attempt"));
		cr_assert_eq(number, (json_int_t)i + 1, "attempt %zu is numbered %lld: %s; log:\n%s", i + 1,
			     (long long)number, text, test_file_read(engine.err_path));
	}
	free(text);
	json_decref(entry);

	serve_stop(&engine);
	serve_harness_fini(&h);
	close(fd);
}

/* Remove the stored result of acme/`id` from BEAMLINE_RESULTS, as its
 * max_age would, so that the same tenant/id may run again. */
static void purge_result(serve_harness_t *h, const char *id)
{
	char body[200];
	natsMsg *reply = NULL;

	snprintf(body, sizeof body, "{\"filter\":\"beamline.results.v1.acme.%s\"}", id);
	cr_assert_eq(natsConnection_RequestString(&reply, bl_nats_raw(h->nats), "$JS.API.STREAM.PURGE.BEAMLINE_RESULTS",
						  body, 5000),
		     NATS_OK, "the purge request got no reply");
	cr_assert_not_null(strstr(natsMsg_GetData(reply), "\"success\":true"), "purge failed: %s",
			   natsMsg_GetData(reply));
	natsMsg_Destroy(reply);
}

/*
 * The count of deliveries handed back belongs to one message. A human job
 * held through a pause leaves a count of 1 for acme/again. Its result is
 * then purged, and a new message with the same tenant/id fails
 * retryably. It still gets attempts 1 and 2. When it read the count as
 * its own, it ran 3 times (attempts 1, 1, 2).
 */
Test(engine_serve, handback_count_stays_with_message, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	int fd = start_with_silent_postgres(&h, &engine, ", \"consumer\": {\"ack_wait_ms\": 600}", 2000);
	serve_publish(&h, "acme",
		      "{\"id\":\"again\",\"tenant\":\"acme\",\"block\":\"human\",\"timeout_ms\":60000,"
		      "\"retry\":{\"max_attempts\":1},\"params\":{\"summary\":\"wait\",\"requested_by\":\"test\","
		      "\"expires_in_ms\":3000,\"default_decision\":\"approve\"}}",
		      NULL);
	pause_holding_job(&h, &engine, "acme.again", 1500);
	cr_assert_eq(serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000), 1, "the held job has no result");
	purge_result(&h, "again");

	serve_publish(&h, "acme",
		      "{\"id\":\"again\",\"tenant\":\"acme\",\"block\":\"sql\",\"params\":{\"database\":\"pg\","
		      "\"sql\":\"SELECT 1\"},\"retry\":{\"max_attempts\":2,\"backoff_ms\":50,\"max_backoff_ms\":100}}",
		      NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 1, 40000);

	cr_assert_eq(n, 1, "expected 1 dead letter, got %llu; log:\n%s", (unsigned long long)n,
		     test_file_read(engine.err_path));
	json_t *entry = serve_dead_letter(&h, "again");
	json_t *attempts = json_object_get(entry, "attempts");
	char *text = json_dumps(attempts, JSON_COMPACT);
	cr_assert_eq(json_array_size(attempts), 2, "expected 2 attempts, got %zu: %s", json_array_size(attempts), text);
	free(text);
	json_decref(entry);

	serve_stop(&engine);
	serve_harness_fini(&h);
	close(fd);
}

/*
 * SIGTERM while nats-server is down and a job's last attempt fails
 * retryably during the drain: its sink stops trying to publish the dead
 * letter at the drain's deadline, and serve exits within seconds of it.
 * The sink tried for the whole publish_retry_ms (30 s) before, and serve
 * exited 36 s after the signal. The delivery stays unacked, so the job
 * comes back after ack_wait.
 */
Test(engine_serve, dead_letter_publish_ends_with_drain, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	int fd = start_with_silent_postgres(&h, &engine, ", \"drain_timeout_ms\": 2000", 1500);
	serve_publish(&h, "acme",
		      "{\"id\":\"last\",\"tenant\":\"acme\",\"block\":\"sql\",\"params\":{\"database\":\"pg\","
		      "\"sql\":\"SELECT 1\"},\"retry\":{\"max_attempts\":1}}",
		      NULL);
	serve_wait_running(&h, 1);
	cr_assert_eq(bl_test_nats_stop(&h.server), 0, "%s", h.server.error);

	long long start = now_ms();
	cr_assert_eq(kill(engine.pid, SIGTERM), 0);
	cr_assert(child_wait(&engine, 60000), "serve did not exit within 60 s");
	long long took = now_ms() - start;

	cr_log_info("serve stopped %lld ms after SIGTERM", took);
	cr_assert_eq(engine.status, 0, "serve exited with %d; its log:\n%s", engine.status,
		     test_file_read(engine.err_path));
	cr_assert_lt(took, 12000, "serve stopped %lld ms after SIGTERM with a 2 s drain; its log:\n%s", took,
		     test_file_read(engine.err_path));
	serve_harness_fini(&h);
	close(fd);
}

/*
 * A job without a traceparent field takes the one of its message's
 * header into its result, and a quota put in the beamline_quotas bucket
 * while the engine runs applies to the next job: a memory quota of one
 * byte rejects a map job.
 */
Test(engine_serve, header_trace_and_live_quota, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	bl_nats_error_t err = {0};
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");

	const char *traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	bl_nats_header_t header = {"traceparent", traceparent};
	bl_js_publish_opts_t opts = {.headers = &header, .nheaders = 1};
	const char *job = NOOP_JOB("traced");
	cr_assert_eq(bl_js_publish(h.nats, "beamline.jobs.v1.acme", job, strlen(job), &opts, NULL, &err), 0, "%s",
		     err.error.message);
	cr_assert_eq(serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000), 1);
	json_t *traced = serve_result(&h, "acme", "traced");
	cr_assert_not_null(traced);
	cr_assert_str_eq(str(traced, "traceparent"), traceparent);

	bl_kv_t *quotas = NULL;
	cr_assert_eq(bl_kv_open(&quotas, h.nats, "beamline_quotas", &err), 0, "%s", err.error.message);
	const char *quota = "{\"mem_bytes\": 1}";
	cr_assert_eq(bl_kv_put(quotas, "acme", quota, strlen(quota), NULL, &err), 0, "%s", err.error.message);
	nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
	serve_publish(&h, "acme",
		      "{\"id\":\"big\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"kernel\":\"map\","
		      "\"device\":\"cpu\",\"inputs\":{\"x\":{\"data\":[1,2,3,4],\"dtype\":\"float32\"}},"
		      "\"args\":{\"op\":\"relu\"}}}",
		      NULL);
	cr_assert_eq(serve_wait_count(&h, "BEAMLINE_RESULTS", 2, 20000), 2);
	json_t *big = serve_result(&h, "acme", "big");
	cr_assert_not_null(big);
	cr_assert_str_eq(str(big, "status"), "rejected", "the live quota did not apply: %s", str(big, "status"));

	json_decref(traced);
	json_decref(big);
	bl_kv_free(quotas);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/*
 * A hand-back count as large as the delivery count cannot belong to the
 * delivery, so it should count as 0. Every delivery read "1000@1" as
 * attempt 1, so a job that fails retryably ran until delivery 1000 and
 * got no dead letter. Stream sequence 1 is the job's own message.
 */
Test(engine_serve, impossible_handback_count_ignored, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	natsMsg *reply = NULL;
	int fd = start_with_silent_postgres(&h, &engine, "", 500);

	serve_publish(&h, "acme",
		      "{\"id\":\"loop\",\"tenant\":\"acme\",\"block\":\"sql\",\"params\":{\"database\":\"pg\","
		      "\"sql\":\"SELECT 1\"},\"retry\":{\"max_attempts\":2,\"backoff_ms\":50,\"max_backoff_ms\":100}}",
		      NULL);
	cr_assert_eq(natsConnection_RequestString(&reply, bl_nats_raw(h.nats),
						  "$KV.beamline_attempts.acme.loop/handed_back", "1000@1", 5000),
		     NATS_OK, "the hand-back count was not stored");
	natsMsg_Destroy(reply);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 1, 30000);

	cr_assert_eq(n, 1, "no dead letter within 30 s of a job allowed 2 attempts; log:\n%s",
		     test_file_read(engine.err_path));
	json_t *entry = serve_dead_letter(&h, "loop");
	json_t *attempts = json_object_get(entry, "attempts");
	cr_assert_eq(json_array_size(attempts), 2, "expected 2 attempts, got %zu", json_array_size(attempts));
	json_decref(entry);

	serve_stop(&engine);
	serve_harness_fini(&h);
	close(fd);
}

/* A get job on `path` in tenant acme's folder. */
#define GET_JOB(id, path) \
	"{\"id\":\"" id "\",\"tenant\":\"acme\",\"block\":\"fs\",\"params\":{\"op\":\"get\",\"path\":\"" path "\"}}"

/*
 * A result larger than the server takes in one message (max_payload, 1 MiB
 * by default) is replaced by a result_too_large error, which is stored
 * once: the job does not run again on every delivery. An execute request
 * for such a job gets the same error as its reply, where it got none.
 */
Test(engine_serve, result_over_max_payload_becomes_error, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	char path[900];
	serve_harness_init(&h, "", "");
	snprintf(path, sizeof path, "%s/data/acme/big.txt", h.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 16000; i++)
		fputs("a line of text that the get returns, eighty bytes with its newline at the end.\n", f);
	fclose(f);
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme", GET_JOB("big", "big.txt"), NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);
	json_t *reply = serve_request(&h, "beamline.engine.v1.execute", GET_JOB("big2", "big.txt"), 20000);

	cr_assert_eq(n, 1, "the job has no result");
	json_t *r = serve_result(&h, "acme", "big");
	cr_assert_str_eq(str(r, "status"), "error");
	cr_assert_str_eq(str(json_object_get(r, "error"), "code"), "result_too_large");
	cr_assert(json_is_false(json_object_get(json_object_get(r, "error"), "retryable")));
	cr_assert_not_null(strstr(str(json_object_get(r, "error"), "message"), "max_payload"));
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the delivery was acked");
	cr_assert_not_null(reply, "no reply to the execute request");
	cr_assert_str_eq(str(reply, "id"), "big2");
	cr_assert_str_eq(str(json_object_get(reply, "error"), "code"), "result_too_large");
	json_decref(r);
	json_decref(reply);

	serve_stop(&engine);
	serve_harness_fini(&h);
}
