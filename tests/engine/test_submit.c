/*
 * beamline-engine submit against a real nats-server (skipped where none is
 * installed), with a small stand-in for a serving engine on a thread of
 * the test: it pulls jobs from BEAMLINE_JOBS and, by the job's
 * params.mode, stores a result ("ok"), a dead letter ("fail"), or nothing
 * ("hang").
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <beamline/js.h>
#include <beamline/trace.h>

#include "../support/nats_server.h"
#include "cli_harness.h"

static bl_test_nats_server_t server;

/* What the stand-in engine saw. */
typedef struct engine {
	bl_nats_t *nats;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	int runs;                /* jobs taken */
	char seen[16][64];       /* "<Nats-Msg-Id> <traceparent>" per job taken */
} engine_t;

static engine_t engine = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bl_nats_t *connect_test(void)
{
	const char *urls[] = {server.url};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .name = "submit-test"};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_nats_connect(&nats, &config, &err), 0, "connect: %s", err.error.message);
	return nats;
}

static void make_stream(bl_nats_t *nats, const char *name, const char *subject, bl_js_retention_t retention)
{
	const char *subjects[] = {subject};
	bl_js_stream_config_t config = {.name = name, .subjects = subjects, .nsubjects = 1, .retention = retention};
	bl_nats_error_t err = {0};
	cr_assert_geq(bl_js_stream_ensure(nats, &config, NULL, &err), 0, "%s: %s", name, err.error.message);
}

/* Store the answer `job` asks for. */
static void answer(bl_nats_t *nats, json_t *job, const char *traceparent)
{
	const char *id = json_string_value(json_object_get(job, "id"));
	const char *tenant = json_string_value(json_object_get(job, "tenant"));
	const char *mode = json_string_value(json_object_get(json_object_get(job, "params"), "mode"));
	char subject[300];
	json_t *body;

	if (mode && strcmp(mode, "hang") == 0)
		return;
	if (mode && strcmp(mode, "fail") == 0) {
		snprintf(subject, sizeof subject, "beamline.dlq.v1.%s", tenant);
		body = json_pack("{s:s, s:s, s:O, s:[{s:s}]}", "id", id, "tenant", tenant, "job", job, "attempts", "error",
				 "boom");
	} else {
		snprintf(subject, sizeof subject, "beamline.results.v1.%s.%s", tenant, id);
		body = json_pack("{s:s, s:s, s:s, s:{s:s}, s:s}", "id", id, "tenant", tenant, "status", "ok", "result",
				 "echo", id, "traceparent", traceparent ? traceparent : "");
	}
	char *text = json_dumps(body, JSON_COMPACT);
	bl_nats_error_t err = {0};
	int rc = bl_js_publish(nats, subject, text, strlen(text), NULL, NULL, &err);
	if (rc < 0)
		fprintf(stderr, "stand-in engine: cannot publish to %s: %s\n", subject, err.error.message);
	free(text);
	json_decref(body);
}

static void *engine_loop(void *arg)
{
	(void)arg;
	bl_js_puller_t *puller = NULL;
	bl_js_puller_new(&puller, engine.nats, "BEAMLINE_JOBS", "beamline-engine", NULL);

	while (!atomic_load(&engine.stop)) {
		bl_js_msg_t *msgs[8];
		int n = bl_js_fetch(puller, msgs, 8, 100, NULL);
		for (int i = 0; i < n; i++) {
			json_t *job = json_loadb(bl_js_msg_data(msgs[i]), bl_js_msg_len(msgs[i]), 0, NULL);
			const char *traceparent = bl_js_msg_header(msgs[i], "traceparent");
			pthread_mutex_lock(&engine.lock);
			if (engine.runs < 16)
				snprintf(engine.seen[engine.runs], sizeof engine.seen[0], "%s %s",
					 bl_js_msg_header(msgs[i], "Nats-Msg-Id"), traceparent ? traceparent : "-");
			engine.runs++;
			pthread_mutex_unlock(&engine.lock);
			answer(engine.nats, job, traceparent);
			bl_js_ack(msgs[i], NULL);
			bl_js_msg_free(msgs[i]);
			json_decref(job);
		}
	}
	bl_js_puller_free(puller);
	return NULL;
}

/* Start the server, the engine's streams and the stand-in engine. */
static void start(void)
{
	int rc = bl_test_nats_start(&server);
	if (rc == -ENOENT)
		cr_skip_test("skipped: %s", server.error);
	cr_assert_eq(rc, 0, "cannot start nats-server: %s", server.error);

	engine.nats = connect_test();
	make_stream(engine.nats, "BEAMLINE_JOBS", "beamline.jobs.v1.>", BL_JS_RETENTION_WORKQUEUE);
	make_stream(engine.nats, "BEAMLINE_RESULTS", "beamline.results.v1.>", BL_JS_RETENTION_LIMITS);
	make_stream(engine.nats, "BEAMLINE_DLQ", "beamline.dlq.v1.>", BL_JS_RETENTION_LIMITS);
	bl_js_consumer_config_t consumer = {.stream = "BEAMLINE_JOBS", .durable = "beamline-engine"};
	cr_assert_geq(bl_js_consumer_ensure(engine.nats, &consumer, NULL, NULL), 0);
	cr_assert_eq(pthread_create(&engine.thread, NULL, engine_loop, NULL), 0);
}

static void stop(void)
{
	if (engine.nats) {
		atomic_store(&engine.stop, true);
		pthread_join(engine.thread, NULL);
		bl_nats_free(engine.nats);
		engine.nats = NULL;
	}
	bl_test_nats_cleanup(&server);
}

/* Write `text` as a jobs file in the server's folder; returns its path. */
static const char *write_jobs(const char *text)
{
	static char path[4200];
	snprintf(path, sizeof path, "%s/jobs.jsonl", server.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void submit(cli_result_t *r, const char *jobs, const char *timeout_s)
{
	const char *args[] = {"submit", jobs, "--nats", server.url, "--timeout-s", timeout_s, NULL};
	cli_run(r, args, NULL);
}

/* The result line of job `id` in `out`, or NULL. */
static json_t *result_of(const char *out, const char *id)
{
	for (const char *line = out; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		json_t *r = json_loadb(line, len, 0, NULL);
		const char *rid = json_string_value(json_object_get(r, "id"));
		if (rid && strcmp(rid, id) == 0)
			return r;
		json_decref(r);
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

static const char *status_of(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static const char *error_code_of(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

#define JOB(id, tenant, mode)                                                                              \
	"{\"id\":\"" id "\",\"tenant\":\"" tenant "\",\"block\":\"kernel\",\"params\":{\"mode\":\"" mode "\"}}\n"

#define VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/*
 * Three jobs of two tenants each get the stand-in's result, exit status 0.
 * Each was published with Nats-Msg-Id <tenant>/<id> and a valid
 * traceparent header: the job's own where it gave one, a new one
 * otherwise.
 */
Test(engine_submit, writes_each_result, .timeout = 60, .fini = stop)
{
	start();
	const char *jobs = write_jobs(JOB("a", "t1", "ok") JOB("b", "t2", "ok")
		"{\"id\":\"c\",\"tenant\":\"t1\",\"block\":\"kernel\",\"traceparent\":\"" VALID "\"}\n");
	cli_result_t r;

	submit(&r, jobs, "20");

	cr_assert_eq(r.status, 0, "expected exit 0, got %d; stderr: %s", r.status, r.err);
	cr_assert_eq(count_lines(r.out), 3, "expected 3 result lines, got: %s", r.out);
	const char *ids[] = {"a", "b", "c"};
	for (size_t i = 0; i < 3; i++) {
		json_t *res = result_of(r.out, ids[i]);
		cr_assert_not_null(res, "no result for %s in: %s", ids[i], r.out);
		cr_assert_str_eq(status_of(res), "ok", "%s: %s", ids[i], r.out);
		json_decref(res);
	}
	cr_assert_eq(engine.runs, 3, "the engine must take 3 jobs, took %d", engine.runs);
	for (int i = 0; i < 3; i++) {
		char msg_id[64], traceparent[64];
		bl_trace_t parsed;
		cr_assert_eq(sscanf(engine.seen[i], "%63s %63s", msg_id, traceparent), 2);
		cr_assert(strcmp(msg_id, "t1/a") == 0 || strcmp(msg_id, "t2/b") == 0 || strcmp(msg_id, "t1/c") == 0,
			  "unexpected Nats-Msg-Id '%s'", msg_id);
		cr_assert_eq(bl_trace_parse(&parsed, traceparent, NULL), 0, "%s: bad traceparent '%s'", msg_id,
			     traceparent);
		if (strcmp(msg_id, "t1/c") == 0)
			cr_assert_str_eq(traceparent, VALID, "the job's own traceparent must be sent");
	}
	cr_assert(strstr(r.err, "3 jobs: 3 published"), "summary: %s", r.err);
	cli_result_free(&r);
}

/*
 * Submitting the same file again publishes duplicates, which the stream
 * drops: the engine takes each job once, and the second submit still
 * writes both results, found in the results stream.
 */
Test(engine_submit, resubmission_is_deduplicated, .timeout = 60, .fini = stop)
{
	start();
	const char *jobs = write_jobs(JOB("a", "t", "ok") JOB("b", "t", "ok"));
	cli_result_t first, second;

	submit(&first, jobs, "20");
	submit(&second, jobs, "20");

	cr_assert_eq(first.status, 0, "first submit: exit %d; stderr: %s", first.status, first.err);
	cr_assert_eq(second.status, 0, "second submit: exit %d; stderr: %s", second.status, second.err);
	cr_assert_eq(count_lines(second.out), 2, "expected 2 results again, got: %s", second.out);
	pthread_mutex_lock(&engine.lock);
	int runs = engine.runs;
	pthread_mutex_unlock(&engine.lock);
	cr_assert_eq(runs, 2, "each job must run once, the engine took %d", runs);
	cr_assert(strstr(second.err, "2 jobs: 0 published, 2 already in the stream"), "summary: %s", second.err);
	bl_js_stream_state_t results, dlq;
	cr_assert_eq(bl_js_stream_state(engine.nats, "BEAMLINE_RESULTS", &results, NULL), 0);
	cr_assert_eq(bl_js_stream_state(engine.nats, "BEAMLINE_DLQ", &dlq, NULL), 0);
	cr_assert_eq(results.consumers + dlq.consumers, 0, "submit must delete its consumers, %d left",
		     results.consumers + dlq.consumers);
	cli_result_free(&first);
	cli_result_free(&second);
}

/* A job that ends in the dead-letter queue gets an error result with code
 * dead_lettered and the entry under "dlq"; the exit status is 1. */
Test(engine_submit, dead_letter_is_reported, .timeout = 60, .fini = stop)
{
	start();
	const char *jobs = write_jobs(JOB("good", "t", "ok") JOB("doomed", "t", "fail"));
	cli_result_t r;

	submit(&r, jobs, "20");

	cr_assert_eq(r.status, 1, "expected exit 1, got %d; stderr: %s", r.status, r.err);
	json_t *doomed = result_of(r.out, "doomed");
	cr_assert_not_null(doomed, "no result for doomed in: %s", r.out);
	cr_assert_str_eq(status_of(doomed), "error");
	cr_assert_str_eq(error_code_of(doomed), "dead_lettered");
	json_t *attempts = json_object_get(json_object_get(doomed, "dlq"), "attempts");
	cr_assert_eq(json_array_size(attempts), 1, "the dead letter must be attached: %s", r.out);
	json_t *good = result_of(r.out, "good");
	cr_assert_str_eq(status_of(good), "ok");
	json_decref(doomed);
	json_decref(good);
	cli_result_free(&r);
}

/* A line that is not a valid job gets an error result naming the line and
 * the field, is not published, and the other jobs go on. */
Test(engine_submit, bad_line_is_not_published, .timeout = 60, .fini = stop)
{
	start();
	const char *jobs = write_jobs(JOB("good", "t", "ok") "{\"id\":\"bad\",\"tenant\":\"t\"}\n");
	cli_result_t r;

	submit(&r, jobs, "20");

	cr_assert_eq(r.status, 1, "expected exit 1, got %d; stderr: %s", r.status, r.err);
	json_t *bad = result_of(r.out, "bad");
	cr_assert_not_null(bad, "no result for the bad line in: %s", r.out);
	cr_assert_str_eq(error_code_of(bad), "invalid_job");
	json_t *error = json_object_get(bad, "error");
	cr_assert_str_eq(json_string_value(json_object_get(error, "field")), "block");
	cr_assert(strstr(json_string_value(json_object_get(error, "message")), "line 2"), "must name line 2: %s",
		  r.out);
	cr_assert_eq(engine.runs, 1, "only the good job may be published, the engine took %d", engine.runs);
	json_decref(bad);
	cli_result_free(&r);
}

/* A job without a result within --timeout-s 1 gets a timeout result after
 * about a second (under 10 s allows for a slow machine); exit status 1. */
Test(engine_submit, missing_result_times_out, .timeout = 60, .fini = stop)
{
	start();
	const char *jobs = write_jobs(JOB("stuck", "t", "hang"));
	cli_result_t r;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	submit(&r, jobs, "1");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	cr_assert_eq(r.status, 1, "expected exit 1, got %d; stderr: %s", r.status, r.err);
	json_t *stuck = result_of(r.out, "stuck");
	cr_assert_not_null(stuck, "no result for stuck in: %s", r.out);
	cr_assert_str_eq(status_of(stuck), "timeout");
	cr_assert_str_eq(error_code_of(stuck), "result_timeout");
	cr_assert(elapsed >= 1.0 && elapsed < 10.0, "expected to wait about 1 s, waited %.2f s", elapsed);
	json_decref(stuck);
	cli_result_free(&r);
}

/* A server without the engine's streams: exit status 3, naming the stream. */
Test(engine_submit, no_streams_cannot_run, .timeout = 60, .fini = stop)
{
	int rc = bl_test_nats_start(&server);
	if (rc == -ENOENT)
		cr_skip_test("skipped: %s", server.error);
	cr_assert_eq(rc, 0, "cannot start nats-server: %s", server.error);
	const char *jobs = write_jobs(JOB("a", "t", "ok"));
	cli_result_t r;

	submit(&r, jobs, "5");

	cr_assert_eq(r.status, 3, "expected exit 3, got %d; stderr: %s", r.status, r.err);
	cr_assert(strstr(r.err, "no stream BEAMLINE_JOBS"), "stderr must name the stream: %s", r.err);
	cli_result_free(&r);
}
