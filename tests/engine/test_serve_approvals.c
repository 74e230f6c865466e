/*
 * Approvals in the service mode: `beamline-engine serve` children against
 * a real nats-server on 127.0.0.1 (skipped where none is installed). A
 * human job publishes its request on beamline.approvals.v1.<tenant>.<id>
 * and stores it in the bucket beamline_approvals; decisions come as
 * requests on beamline.engine.v1.approve.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kv.h>
#include <nats/nats.h>

#include "http_client.h"
#include "serve_harness.h"

#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define TRACEPARENT "00-" TRACE_ID "-00f067aa0ba902b7-01"

/* A human job of tenant "acme" with a 2-minute timeout. */
#define HUMAN_JOB(id, expires, fallback) \
	"{\"id\":\"" id "\",\"tenant\":\"acme\",\"block\":\"human\",\"timeout_ms\":120000," \
	"\"traceparent\":\"" TRACEPARENT "\",\"params\":{\"summary\":\"deploy " id "\"," \
	"\"requested_by\":\"ci\",\"expires_in_ms\":" expires ",\"default_decision\":\"" fallback "\"}}"

/* An approve request's body. */
#define DECISION(tenant, id, decision, by) \
	"{\"tenant\":\"" tenant "\",\"id\":\"" id "\",\"decision\":\"" decision "\",\"by\":\"" by "\"}"

static const char *str(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "(missing)";
}

/* Subscribe to every approval request, and make sure the server has the subscription. */
static natsSubscription *watch_requests(serve_harness_t *h)
{
	natsSubscription *sub = NULL;
	cr_assert_eq(natsConnection_SubscribeSync(&sub, bl_nats_raw(h->nats), "beamline.approvals.v1.>"), NATS_OK);
	cr_assert_eq(bl_nats_flush(h->nats, 2000, NULL), 0);
	return sub;
}

/* Wait up to `timeout_ms` for the next approval request; owned, or NULL. */
static natsMsg *next_request(natsSubscription *sub, int timeout_ms)
{
	natsMsg *msg = NULL;
	return natsSubscription_NextMsg(&msg, sub, timeout_ms) == NATS_OK ? msg : NULL;
}

/* Send a decision and return the reply (owned); fails the test when none comes. */
static json_t *approve(serve_harness_t *h, const char *body)
{
	json_t *reply = serve_request(h, "beamline.engine.v1.approve", body, 5000);
	cr_assert_not_null(reply, "no reply to the approve request %s", body);
	return reply;
}

/* The bucket's record of `key`, parsed (owned), or NULL when there is none. */
static json_t *record(serve_harness_t *h, const char *key)
{
	bl_kv_t *kv = NULL;
	bl_kv_entry_t *e = NULL;
	cr_assert_eq(bl_kv_open(&kv, h->nats, "beamline_approvals", NULL), 0, "the bucket exists");
	json_t *doc = bl_kv_get(&e, kv, key, NULL) == 0 ? json_loadb(e->value, e->len, 0, NULL) : NULL;
	bl_kv_entry_free(e);
	bl_kv_free(kv);
	return doc;
}

/*
 * The request goes out on its subject with the job's trace id in its
 * traceparent header, and the bucket stores it as pending. A decision
 * through beamline.engine.v1.approve resumes the job, whose result in
 * BEAMLINE_RESULTS carries the decision.
 */
Test(engine_serve_approvals, request_published_then_decided, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	const char *traceparent = NULL;
	serve_harness_init(&h, "", "");
	natsSubscription *sub = watch_requests(&h);
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme", HUMAN_JOB("h1", "60000", "reject"), NULL);
	natsMsg *msg = next_request(sub, 20000);
	cr_assert_not_null(msg, "no approval request was published");
	json_t *body = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
	json_t *stored = record(&h, "acme.h1");
	json_t *reply = approve(&h, "{\"tenant\":\"acme\",\"id\":\"h1\",\"decision\":\"approve\",\"by\":\"alice\","
				    "\"comment\":\"ship it\"}");
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);

	cr_assert_str_eq(natsMsg_GetSubject(msg), "beamline.approvals.v1.acme.h1");
	cr_assert_eq(natsMsgHeader_Get(msg, "traceparent", &traceparent), NATS_OK, "the request has a traceparent");
	cr_assert_not_null(strstr(traceparent, TRACE_ID), "the job's trace id %s is in %s", TRACE_ID, traceparent);
	cr_assert_str_eq(str(body, "id"), "acme:h1");
	cr_assert_str_eq(str(body, "job_id"), "h1");
	cr_assert_str_eq(str(body, "summary"), "deploy h1");
	cr_assert_str_eq(str(body, "requested_by"), "ci");
	cr_assert_str_eq(str(body, "default_decision"), "reject");
	cr_assert(json_is_integer(json_object_get(body, "expires_ms")), "the request has its expiry");
	cr_assert_not_null(stored, "the bucket has the record acme.h1");
	cr_assert_str_eq(str(json_object_get(stored, "request"), "id"), "acme:h1");
	cr_assert(json_is_null(json_object_get(stored, "decision")), "the stored record is pending");
	cr_assert_str_eq(str(reply, "status"), "decided", "the decision was applied");
	cr_assert_str_eq(str(json_object_get(reply, "approval"), "status"), "approved");
	cr_assert_eq(n, 1, "the job has its result");
	json_t *r = serve_result(&h, "acme", "h1");
	json_t *result = json_object_get(r, "result");
	cr_assert_str_eq(str(r, "status"), "ok");
	cr_assert_str_eq(str(result, "decision"), "approve");
	cr_assert_str_eq(str(result, "decided_by"), "alice");
	cr_assert_str_eq(str(result, "comment"), "ship it");
	json_decref(r);
	json_decref(reply);
	json_decref(stored);
	json_decref(body);
	natsMsg_Destroy(msg);
	bl_nats_subscription_close(h.nats, sub);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/*
 * Two decisions sent at once, before either reply: one is decided, and
 * the reply to the other reports the earlier decision. The job's result
 * carries the winner's.
 */
Test(engine_serve_approvals, first_decision_wins, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	natsConnection *nc;
	natsSubscription *replies[2];
	natsMsg *answers[2] = {NULL, NULL};
	char inbox[2][64];
	const char *bodies[2] = {
		"{\"tenant\":\"acme\",\"id\":\"h2\",\"decision\":\"approve\",\"by\":\"alice\"}",
		"{\"tenant\":\"acme\",\"id\":\"h2\",\"decision\":\"reject\",\"by\":\"bob\"}",
	};
	serve_harness_init(&h, "", "");
	natsSubscription *sub = watch_requests(&h);
	serve_start(&h, &engine, "engine");
	nc = bl_nats_raw(h.nats);
	serve_publish(&h, "acme", HUMAN_JOB("h2", "60000", "reject"), NULL);
	natsMsg *posted = next_request(sub, 20000);
	cr_assert_not_null(posted, "no approval request was published");
	for (int i = 0; i < 2; i++) {
		snprintf(inbox[i], sizeof inbox[i], "_INBOX.approvals-test.%d", i);
		cr_assert_eq(natsConnection_SubscribeSync(&replies[i], nc, inbox[i]), NATS_OK);
	}

	for (int i = 0; i < 2; i++)
		cr_assert_eq(natsConnection_PublishRequestString(nc, "beamline.engine.v1.approve", inbox[i], bodies[i]),
			     NATS_OK);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(natsSubscription_NextMsg(&answers[i], replies[i], 5000), NATS_OK,
			     "no reply to decision %d", i);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);

	json_t *doc[2];
	for (int i = 0; i < 2; i++)
		doc[i] = json_loadb(natsMsg_GetData(answers[i]), (size_t)natsMsg_GetDataLength(answers[i]), 0, NULL);
	int winner = strcmp(str(doc[0], "status"), "decided") == 0 ? 0 : 1;
	int loser = 1 - winner;
	const char *winner_by = winner == 0 ? "alice" : "bob";
	cr_assert_str_eq(str(doc[winner], "status"), "decided", "one decision wins");
	cr_assert_str_eq(str(doc[loser], "status"), "already_decided", "the other is told the approval was decided");
	json_t *earlier = json_object_get(json_object_get(doc[loser], "approval"), "decision");
	cr_assert_str_eq(str(earlier, "decided_by"), winner_by, "the loser sees the earlier decision");
	cr_assert_eq(n, 1, "the job has its result");
	json_t *r = serve_result(&h, "acme", "h2");
	cr_assert_str_eq(str(json_object_get(r, "result"), "decided_by"), winner_by);
	json_decref(r);
	for (int i = 0; i < 2; i++) {
		json_decref(doc[i]);
		natsMsg_Destroy(answers[i]);
		bl_nats_subscription_close(h.nats, replies[i]);
	}
	natsMsg_Destroy(posted);
	bl_nats_subscription_close(h.nats, sub);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/*
 * An engine killed with SIGKILL while its human job waits: after ack_wait
 * (1.5 s here) a second engine gets the job again, finds the stored
 * approval and waits on it without publishing a second request. A
 * decision made then resumes the job there, and the job has one result.
 */
Test(engine_serve_approvals, restart_resumes_waiting_job, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t first, second;
	serve_harness_init(&h, ", \"consumer\": {\"ack_wait_ms\": 1500}", "");
	natsSubscription *sub = watch_requests(&h);
	serve_start(&h, &first, "first");
	serve_publish(&h, "acme", HUMAN_JOB("h3", "60000", "reject"), "acme/h3");
	natsMsg *posted = next_request(sub, 20000);
	cr_assert_not_null(posted, "no approval request was published");

	child_kill(&first);
	serve_start(&h, &second, "second");
	char *found = wait_for_err(&second, "approval_found", 20000);
	cr_assert_not_null(found, "the second engine did not find the stored approval; its log:\n%s",
			   test_file_read(second.err_path));
	serve_wait_running(&h, 1);
	json_t *reply = approve(&h, "{\"tenant\":\"acme\",\"id\":\"h3\",\"decision\":\"approve\",\"by\":\"carol\"}");
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);
	natsMsg *again = next_request(sub, 300);

	cr_assert_str_eq(str(reply, "status"), "decided", "the decision was applied");
	cr_assert_eq(n, 1, "the job has its result");
	cr_assert_null(again, "the second engine published no second request");
	json_t *r = serve_result(&h, "acme", "h3");
	cr_assert_str_eq(str(r, "status"), "ok");
	cr_assert_str_eq(str(json_object_get(r, "result"), "decided_by"), "carol");
	json_decref(r);
	json_t *subjects = serve_result_subjects(&h);
	json_int_t results = json_integer_value(json_object_get(subjects, "beamline.results.v1.acme.h3"));
	cr_assert_eq(results, 1, "one result for h3, got %lld", (long long)results);
	cr_assert_eq(serve_wait_empty(&h, "BEAMLINE_JOBS", 5000), 0, "the delivery was acked");
	json_decref(subjects);
	json_decref(reply);
	free(found);
	natsMsg_Destroy(posted);
	bl_nats_subscription_close(h.nats, sub);
	serve_stop(&second);
	serve_harness_fini(&h);
}

/*
 * With no decision the expiry applies the job's default, which the
 * bucket records as defaulted. The reply to a decision after that is
 * already_decided. Bad requests name the field at fault, and an approval
 * no job posted is unknown.
 */
Test(engine_serve_approvals, expiry_and_bad_requests, .timeout = 60)
{
	static const struct {
		const char *body;
		const char *status;
		const char *field; /* NULL: none expected */
	} cases[] = {
		{"not json", "invalid_request", NULL},
		{"[1]", "invalid_request", NULL},
		{"{\"tenant\":\"acme\",\"decision\":\"approve\",\"by\":\"x\"}", "invalid_request", "id"},
		{DECISION("acme", "h4", "maybe", "x"), "invalid_request", "decision"},
		{"{\"tenant\":\"acme\",\"id\":\"h4\",\"decision\":\"approve\"}", "invalid_request", "by"},
		{"{\"tenant\":\"acme\",\"id\":\"h4\",\"decision\":\"approve\",\"by\":\"x\",\"why\":1}",
		 "invalid_request", "why"},
		{DECISION("a.b", "h4", "approve", "x"), "invalid_request", "tenant"},
		{DECISION("acme", "nope", "approve", "x"), "unknown_approval", "id"},
		{DECISION("acme", "h4", "reject", "late"), "already_decided", NULL},
	};
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	serve_start(&h, &engine, "engine");

	serve_publish(&h, "acme", HUMAN_JOB("h4", "300", "approve"), NULL);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);

	cr_assert_eq(n, 1, "the job has its result");
	json_t *r = serve_result(&h, "acme", "h4");
	json_t *result = json_object_get(r, "result");
	cr_assert_str_eq(str(result, "decision"), "approve", "the default applies");
	cr_assert(json_is_true(json_object_get(result, "defaulted")), "the result says it was defaulted");
	json_decref(r);
	json_t *stored = record(&h, "acme.h4");
	cr_assert(json_is_true(json_object_get(json_object_get(stored, "decision"), "defaulted")),
		  "the bucket records the default");
	json_decref(stored);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *reply = approve(&h, cases[i].body);
		json_t *error = json_object_get(reply, "error");
		cr_assert_str_eq(str(reply, "status"), cases[i].status, "%s: expected %s, got %s", cases[i].body,
				 cases[i].status, str(reply, "status"));
		cr_assert(json_is_string(json_object_get(error, "message")), "%s: the reply has a message",
			  cases[i].body);
		if (cases[i].field)
			cr_assert_str_eq(str(error, "field"), cases[i].field, "%s: the field at fault", cases[i].body);
		json_decref(reply);
	}

	serve_stop(&engine);
	serve_harness_fini(&h);
}

/* Start the engine with an admin endpoint whose token is "secret"; returns its port. */
static int start_with_admin(serve_harness_t *h, engine_child_t *engine)
{
	char token_path[600];
	snprintf(token_path, sizeof token_path, "%s/token", h->dir);
	test_file_write(token_path, "secret\n", 0600);
	snprintf(h->extra_sections, sizeof h->extra_sections,
		 ", \"admin\": {\"listen\": \"127.0.0.1:0\", \"token_file\": \"%s\"}", token_path);
	serve_config_write(h, h->config_path, "");
	serve_start(h, engine, "engine");

	char *line = wait_for_err(engine, "\"event\":\"admin_listening\"", 10000);
	cr_assert_not_null(line, "the engine did not log admin_listening");
	char *port = strstr(line, "\"port\":");
	cr_assert_not_null(port, "admin_listening has a port: %s", line);
	int value = atoi(port + 7);
	free(line);
	return value;
}

/*
 * The admin endpoint of a serving engine reads and decides the bucket's
 * records: GET /approvals lists the pending request, POST decides it and
 * resumes the job, and a second POST gets 409 with the first decision.
 */
Test(engine_serve_approvals, admin_endpoint_uses_bucket, .timeout = 60)
{
	serve_harness_t h;
	engine_child_t engine;
	serve_harness_init(&h, "", "");
	natsSubscription *sub = watch_requests(&h);
	int port = start_with_admin(&h, &engine);
	serve_publish(&h, "acme", HUMAN_JOB("h5", "60000", "reject"), NULL);
	natsMsg *posted = next_request(sub, 20000);
	cr_assert_not_null(posted, "no approval request was published");

	http_reply_t list = http_request(port, "GET", "/approvals", "secret");
	http_reply_t done = http_request_body(port, "POST", "/approvals/acme:h5", "secret",
					      "{\"decision\":\"approve\",\"by\":\"dana\"}");
	http_reply_t again = http_request_body(port, "POST", "/approvals/acme:h5", "secret",
					       "{\"decision\":\"reject\",\"by\":\"erin\"}");
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);

	json_t *listed = json_loads(list.body, 0, NULL);
	json_t *pending = json_object_get(listed, "approvals");
	cr_assert_eq(list.status, 200, "GET /approvals: %ld %s", list.status, list.body);
	cr_assert_eq(json_array_size(pending), 1, "one pending approval: %s", list.body);
	cr_assert_str_eq(str(json_array_get(pending, 0), "id"), "acme:h5");
	cr_assert_eq(done.status, 200, "the decision: %ld %s", done.status, done.body);
	cr_assert_eq(again.status, 409, "a second decision: %ld %s", again.status, again.body);
	cr_assert_not_null(strstr(again.body, "\"decided_by\":\"dana\""), "the first decision stands: %s", again.body);
	cr_assert_eq(n, 1, "the job has its result");
	json_t *r = serve_result(&h, "acme", "h5");
	cr_assert_str_eq(str(json_object_get(r, "result"), "decided_by"), "dana");
	json_t *stored = record(&h, "acme.h5");
	cr_assert_str_eq(str(json_object_get(stored, "decision"), "decided_by"), "dana", "the bucket has the decision");
	json_decref(stored);
	json_decref(r);
	json_decref(listed);
	http_reply_free(&list);
	http_reply_free(&done);
	http_reply_free(&again);
	natsMsg_Destroy(posted);
	bl_nats_subscription_close(h.nats, sub);
	serve_stop(&engine);
	serve_harness_fini(&h);
}

/*
 * The nats-server restarts while a job waits: the engine's bucket watch
 * fails and recovers (or waiting jobs poll meanwhile), and a decision
 * made after the restart still resumes the job.
 */
Test(engine_serve_approvals, server_restart_keeps_waiting_job, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	json_t *reply = NULL;
	serve_harness_init(&h, "", "");
	natsSubscription *sub = watch_requests(&h);
	serve_start(&h, &engine, "engine");
	serve_publish(&h, "acme", HUMAN_JOB("h6", "60000", "reject"), NULL);
	natsMsg *posted = next_request(sub, 20000);
	cr_assert_not_null(posted, "no approval request was published");

	cr_assert_eq(bl_test_nats_stop(&h.server), 0, "cannot stop nats-server: %s", h.server.error);
	cr_assert_eq(bl_test_nats_restart(&h.server), 0, "cannot restart nats-server: %s", h.server.error);
	char *reconnected = wait_for_err(&engine, "nats_reconnected", 20000);
	cr_assert_not_null(reconnected, "the engine did not reconnect; its log:\n%s", test_file_read(engine.err_path));
	long long until = now_ms() + 20000;
	const char *decision = DECISION("acme", "h6", "approve", "frank");
	while (!reply && now_ms() < until)
		reply = serve_request(&h, "beamline.engine.v1.approve", decision, 1000);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_RESULTS", 1, 20000);

	cr_assert_not_null(reply, "no reply to the decision after the restart");
	cr_assert_str_eq(str(reply, "status"), "decided", "the decision was applied");
	cr_assert_eq(n, 1, "the job has its result");
	json_t *r = serve_result(&h, "acme", "h6");
	cr_assert_str_eq(str(json_object_get(r, "result"), "decided_by"), "frank");
	json_decref(r);
	json_decref(reply);
	free(reconnected);
	natsMsg_Destroy(posted);
	bl_nats_subscription_close(h.nats, sub);
	serve_stop(&engine);
	serve_harness_fini(&h);
}
