/* Trace context through a local run: every result carries a traceparent. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <beamline/trace.h>

#include "run_harness.h"

#define VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const char *traceparent_of(const harness_t *h, const char *id)
{
	json_t *r = harness_result(h, id);
	cr_assert_not_null(r, "no result for %s", id);
	return json_string_value(json_object_get(r, "traceparent"));
}

/*
 * A job that gives a traceparent gets it back unchanged; two jobs without
 * one each get a new, valid and different one; a line that is not a job
 * gets a valid one too.
 */
Test(engine_run_trace, results_carry_traceparent, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	const char *jobs =
		"{\"id\":\"given\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"},"
		"\"traceparent\":\"" VALID "\"}\n"
		"{\"id\":\"new1\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"
		"{\"id\":\"new2\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"
		"{\"id\":\"broken\",\"tenant\":\"t\",\"block\":\n";

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0, "the run must complete, got %d", rc);
	cr_assert_eq(h.count, 4, "expected 4 results, got %zu", h.count);
	cr_assert_str_eq(traceparent_of(&h, "given"), VALID);
	const char *ids[] = {"new1", "new2", "broken"};
	for (size_t i = 0; i < 3; i++) {
		const char *tp = traceparent_of(&h, ids[i]);
		bl_trace_t parsed;
		cr_assert_not_null(tp, "%s has no traceparent", ids[i]);
		cr_assert_eq(bl_trace_parse(&parsed, tp, NULL), 0, "%s: not a valid traceparent: %s", ids[i], tp);
		cr_assert_str_neq(tp, VALID, "%s must not reuse another job's trace", ids[i]);
	}
	cr_assert_str_neq(traceparent_of(&h, "new1"), traceparent_of(&h, "new2"), "two jobs share one trace");
	harness_fini(&h);
}

/* A human job's approval request carries the job's traceparent: the job's
 * deadline passes within two seconds, and its request stays in the
 * approvals folder to be read. */
Test(engine_run_trace, approval_request_carries_traceparent, .timeout = 60)
{
	harness_t h;
	char jobs[512], deadline[40], path[600];
	harness_init(&h);
	time_t soon = time(NULL) + 2;
	struct tm tm;
	gmtime_r(&soon, &tm);
	strftime(deadline, sizeof deadline, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(jobs, sizeof jobs,
		 "{\"id\":\"j1\",\"tenant\":\"t\",\"block\":\"human\",\"deadline\":\"%s\","
		 "\"traceparent\":\"" VALID "\","
		 "\"params\":{\"summary\":\"s\",\"requested_by\":\"ci\",\"expires_in_ms\":30000}}\n",
		 deadline);

	int rc = harness_run(&h, jobs);
	snprintf(path, sizeof path, "%s/.beamline/approvals/t:j1.request.json", h.data);
	json_t *request = json_load_file(path, 0, NULL);

	cr_assert_eq(rc, 0, "the run must complete, got %d", rc);
	cr_assert_str_eq(traceparent_of(&h, "j1"), VALID);
	cr_assert_not_null(request, "cannot read the request %s", path);
	cr_assert_str_eq(json_string_value(json_object_get(request, "traceparent")), VALID);
	json_decref(request);
	harness_fini(&h);
}
