#include <criterion/criterion.h>
#include <string.h>

#include "fixture.h"

/* A repeat of a Nats-Msg-Id within the duplicate window is acknowledged as a duplicate of the
 * first, with the first's sequence, and not stored again. */
Test(nats_publish, msg_id_deduplicates, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	bl_js_publish_opts_t opts = {.msg_id = "acme/job-1"};
	bl_js_pub_ack_t first, second;
	bl_nats_error_t err = {0};

	cr_assert_eq(bl_js_publish(nats, "jobs.acme", "a", 1, &opts, &first, &err), 0, "%s", err.error.message);
	cr_assert_eq(bl_js_publish(nats, "jobs.acme", "a", 1, &opts, &second, &err), 0, "%s", err.error.message);

	cr_assert_str_eq(first.stream, "JOBS");
	cr_assert_eq(first.seq, 1);
	cr_assert_not(first.duplicate);
	cr_assert(second.duplicate, "the repeat must be reported as a duplicate");
	cr_assert_eq(second.seq, 1, "a duplicate carries the original's sequence, got %llu",
		     (unsigned long long)second.seq);
	bl_js_stream_state_t state;
	cr_assert_eq(bl_js_stream_state(nats, "JOBS", &state, &err), 0);
	cr_assert_eq(state.messages, 1);
	bl_nats_free(nats);
}

/* A subject no stream stores gets -ENOENT at once rather than a timeout. */
Test(nats_publish, subject_without_stream_not_found, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_nats_error_t err = {0};

	int rc = bl_js_publish(nats, "nowhere", "a", 1, NULL, NULL, &err);

	cr_assert_eq(rc, -ENOENT, "got %d: %s", rc, err.error.message);
	bl_nats_free(nats);
}

/* An expected last subject sequence that is not the latest is refused with -ESTALE. */
Test(nats_publish, wrong_expected_sequence_refused, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	fixture_publish_jobs(nats, 0, 2);
	bl_js_publish_opts_t opts = {.expect_last_subject_seq = true, .last_subject_seq = 1};
	bl_nats_error_t err = {0};

	int rc = bl_js_publish(nats, "jobs.t", "x", 1, &opts, NULL, &err);

	cr_assert_eq(rc, -ESTALE, "got %d: %s", rc, err.error.message);
	cr_assert_eq(err.api_code, 10071, "api_code %d", err.api_code);
	bl_nats_free(nats);
}

/* Headers given to the publish arrive with the message. */
Test(nats_publish, headers_delivered, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	const bl_nats_header_t headers[] = {{"traceparent", "00-abc-def-01"}, {"Beamline-Corr-Id", "acme/7"}};
	bl_js_publish_opts_t opts = {.msg_id = "acme/7", .headers = headers, .nheaders = 2};
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_publish(nats, "jobs.acme", "{}", 2, &opts, NULL, &err), 0, "%s", err.error.message);
	bl_js_puller_t *puller = NULL;
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0);
	bl_js_msg_t *msg = NULL;

	int count = bl_js_fetch(puller, &msg, 1, 1000, &err);

	cr_assert_eq(count, 1, "%s", err.error.message);
	cr_assert_str_eq(bl_js_msg_header(msg, "traceparent"), "00-abc-def-01");
	cr_assert_str_eq(bl_js_msg_header(msg, "Beamline-Corr-Id"), "acme/7");
	cr_assert_str_eq(bl_js_msg_header(msg, "Nats-Msg-Id"), "acme/7");
	cr_assert_null(bl_js_msg_header(msg, "absent"));
	bl_js_msg_free(msg);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}
