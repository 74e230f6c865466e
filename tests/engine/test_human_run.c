/*
 * The human block inside the engine's process (so that the ThreadSanitizer
 * build covers the run actor, the folder watch and the store): a decision
 * written by another thread resumes the job, bad parameters fail through
 * the dispatcher, and a job whose deadline passes first ends "timeout"
 * with its request still pending.
 */
#define _GNU_SOURCE /* usleep */

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <beamline/approvals.h>

#include "run_harness.h"

typedef struct decider {
	char state[400];
	const char *id;
	const char *decision;
	int rc;
} decider_t;

/* Wait for the request, then decide it as another process would. */
static void *decide_later(void *arg)
{
	decider_t *d = arg;
	bl_approval_store_t *store = NULL;
	bl_approval_t a = {0};
	bl_decision_input_t in = {.by = "thread", .comment = "from a test thread"};

	bl_decision_parse(&in.decision, d->decision);
	d->rc = -1;
	for (int i = 0; i < 2000; i++) {
		if (!store && bl_approval_store_open(&store, d->state, "approvals", false, NULL) < 0) {
			usleep(10000);
			continue;
		}
		d->rc = bl_approval_store_decide(store, d->id, &in, bl_approval_now_ms(), &a, NULL);
		bl_approval_clear(&a);
		if (d->rc != -ENOENT)
			break;
		usleep(10000);
	}
	bl_approval_store_free(&store);
	return NULL;
}

static const char *field_of(json_t *r, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(r, a), b));
}

/* A decision from another thread reaches the parked job. */
Test(engine_human_run, decision_resumes_job, .timeout = 120)
{
	harness_t h;
	pthread_t thread;
	harness_init(&h);
	decider_t d = {.id = "t:j1", .decision = "reject"};
	snprintf(d.state, sizeof d.state, "%s/.beamline", h.data);
	pthread_create(&thread, NULL, decide_later, &d);

	int rc = harness_run(&h, "{\"id\":\"j1\",\"tenant\":\"t\",\"block\":\"human\",\"params\":{\"summary\":\"s\","
				 "\"requested_by\":\"ci\",\"expires_in_ms\":30000}}\n");
	pthread_join(thread, NULL);

	cr_assert_eq(rc, 0);
	cr_assert_eq(d.rc, 0, "the thread's decision failed with %d", d.rc);
	json_t *r = harness_result(&h, "j1");
	cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "ok");
	cr_assert_str_eq(field_of(r, "result", "decision"), "reject");
	cr_assert_str_eq(field_of(r, "result", "comment"), "from a test thread");
	harness_fini(&h);
}

/* Bad params fail the job before it runs, naming the field; an expiry
 * past the job's own timeout_ms is one of them. */
Test(engine_human_run, bad_params_fail_naming_field, .timeout = 60)
{
	harness_t h;
	harness_init(&h);

	int rc = harness_run(&h, "{\"id\":\"a\",\"tenant\":\"t\",\"block\":\"human\","
				 "\"params\":{\"requested_by\":\"ci\",\"expires_in_ms\":9}}\n"
				 "{\"id\":\"b\",\"tenant\":\"t\",\"block\":\"human\",\"timeout_ms\":1000,"
				 "\"params\":{\"summary\":\"s\",\"requested_by\":\"ci\",\"expires_in_ms\":2000}}\n");

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(field_of(harness_result(&h, "a"), "error", "field"), "params.summary");
	cr_assert_str_eq(field_of(harness_result(&h, "a"), "error", "code"), "invalid_params");
	cr_assert_str_eq(field_of(harness_result(&h, "b"), "error", "field"), "params.expires_in_ms");
	harness_fini(&h);
}

/* A deadline that passes before the expiry ends the job "timeout"; the
 * run actor stops on the cancel, and the request stays pending for a
 * later run. */
Test(engine_human_run, deadline_leaves_request_pending, .timeout = 60)
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
		 "\"params\":{\"summary\":\"s\",\"requested_by\":\"ci\",\"expires_in_ms\":30000}}\n",
		 deadline);

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(json_string_value(json_object_get(harness_result(&h, "j1"), "status")), "timeout");
	snprintf(path, sizeof path, "%s/.beamline/approvals/t:j1.request.json", h.data);
	cr_assert_eq(access(path, F_OK), 0, "the request is gone");
	snprintf(path, sizeof path, "%s/.beamline/approvals/t:j1.decision.json", h.data);
	cr_assert_neq(access(path, F_OK), 0, "a timed-out job decided its approval");
	harness_fini(&h);
}
