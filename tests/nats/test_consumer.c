#include <criterion/criterion.h>
#include <string.h>

#include "fixture.h"

static bl_js_consumer_config_t worker_config(void)
{
	return (bl_js_consumer_config_t){
		.stream = "JOBS",
		.durable = "worker",
		.filter_subject = "jobs.>",
		.ack_wait_ns = 30LL * 1000000000,
		.max_deliver = 5,
		.max_ack_pending = 100,
	};
}

/* A work-queue stream hands each message to one consumer only, so the server rejects a second
 * durable whose filter overlaps the first's with JetStream error 10100. The code reaches the caller. */
Test(nats_consumer, second_workqueue_durable_refused, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 1000);
	bl_js_consumer_config_t config = worker_config();
	config.durable = "engine";
	bl_nats_error_t err = {0};

	int rc = bl_js_consumer_ensure(nats, &config, NULL, &err);

	cr_assert_eq(rc, -EEXIST, "expected -EEXIST, got %d: %s", rc, err.error.message);
	cr_assert_eq(err.api_code, 10100, "api_code %d: %s", err.api_code, err.error.message);
	cr_assert(strstr(err.error.message, "10100"), "message: %s", err.error.message);
	bl_nats_free(nats);
}

/* A second run matches the first; each differing field is named and the consumer stays as it was. */
Test(nats_consumer, mismatch_reported_by_name, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	const char *subjects[] = {"jobs.>"};
	bl_js_stream_config_t stream = {.name = "JOBS", .subjects = subjects, .nsubjects = 1};
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_stream_ensure(nats, &stream, NULL, &err), 1, "%s", err.error.message);
	bl_js_consumer_config_t config = worker_config();
	cr_assert_eq(bl_js_consumer_ensure(nats, &config, NULL, &err), 1, "%s", err.error.message);
	cr_assert_eq(bl_js_consumer_ensure(nats, &config, NULL, &err), 0, "%s", err.error.message);

	bl_js_consumer_config_t other = config;
	other.ack_wait_ns = 10LL * 1000000000;
	other.max_deliver = 3;
	other.max_ack_pending = 7;
	other.filter_subject = "jobs.a";
	uint32_t mismatches = 0;
	int rc = bl_js_consumer_ensure(nats, &other, &mismatches, &err);

	cr_assert_eq(rc, -EEXIST);
	uint32_t expected = BL_JS_FIELD_ACK_WAIT | BL_JS_FIELD_MAX_DELIVER | BL_JS_FIELD_MAX_ACK_PENDING |
			    BL_JS_FIELD_FILTER_SUBJECT;
	cr_assert_eq(mismatches, expected, "mask 0x%x, expected 0x%x", mismatches, expected);
	cr_assert(strstr(err.error.message, "max_deliver is 5, expected 3"), "message: %s", err.error.message);
	cr_assert(strstr(err.error.message, "filter_subject is \"jobs.>\", expected \"jobs.a\""), "message: %s",
		  err.error.message);
	cr_assert_eq(bl_js_consumer_ensure(nats, &config, NULL, &err), 0, "unchanged: %s", err.error.message);
	bl_nats_free(nats);
}

/* A consumer on a stream that does not exist is an error, not a creation. */
Test(nats_consumer, missing_stream_is_error, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_js_consumer_config_t config = worker_config();
	bl_nats_error_t err = {0};

	int rc = bl_js_consumer_ensure(nats, &config, NULL, &err);

	cr_assert_eq(rc, -ENOENT, "got %d: %s", rc, err.error.message);
	cr_assert_eq(err.api_code, 10059, "api_code %d", err.api_code);
	bl_nats_free(nats);
}
