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

#include "serve_harness.h"

static const char *str(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "(missing)";
}

/* Send SIGTERM and expect exit status 0 within 15 s. */
static void stop_engine(engine_child_t *c)
{
	kill(c->pid, SIGTERM);
	cr_assert(child_wait(c, 15000), "the engine did not exit within 15 s of SIGTERM");
	cr_assert_eq(c->status, 0, "the engine exited with %d after SIGTERM; its log:\n%s", c->status,
		     test_file_read(c->err_path));
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
	cr_assert_eq(serve_wait_count(&h, "BEAMLINE_JOBS", 0, 0), 0);
	uint64_t left = serve_stream_count(&h, "BEAMLINE_JOBS");
	cr_assert_eq(left, 0, "acked jobs leave the work queue; %llu left", (unsigned long long)left);

	stop_engine(&engine);
	serve_harness_fini(&h);
}
