#include <criterion/criterion.h>
#include <string.h>

#include "fixture.h"

static bl_js_puller_t *setup(bl_nats_t **nats, int64_t ack_wait_ms)
{
	FIXTURE_START();
	*nats = fixture_connect();
	fixture_jobs_stream(*nats, ack_wait_ms);
	fixture_publish_jobs(*nats, 0, 1);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, *nats, "JOBS", "worker", &err), 0, "%s", err.error.message);
	return puller;
}

static bl_js_msg_t *fetch_one(bl_js_puller_t *puller, int64_t wait_ms)
{
	bl_js_msg_t *msg = NULL;
	bl_nats_error_t err = {0};
	int count = bl_js_fetch(puller, &msg, 1, wait_ms, &err);
	cr_assert_geq(count, 0, "fetch: %s", err.error.message);
	return count == 1 ? msg : NULL;
}

static bl_js_consumer_state_t consumer_state(bl_nats_t *nats)
{
	bl_js_consumer_state_t state;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_consumer_state(nats, "JOBS", "worker", &state, &err), 0, "%s", err.error.message);
	return state;
}

/* A confirmed ack settles the message: nothing pending, the ack floor at its sequence, the
 * work-queue stream empty, and a second ack of the same message refused. */
Test(nats_msg, ack_settles_message, .fini = fixture_stop, .timeout = 30)
{
	bl_nats_t *nats = NULL;
	bl_js_puller_t *puller = setup(&nats, 30000);
	bl_js_msg_t *msg = fetch_one(puller, 1000);
	cr_assert_not_null(msg);
	bl_nats_error_t err = {0};

	int rc = bl_js_ack_sync(msg, &err);
	int again = bl_js_ack(msg, &err);

	cr_assert_eq(rc, 0, "%s", err.error.message);
	cr_assert_eq(again, BL_EINVAL, "a second ack: expected BL_EINVAL, got %d", again);
	bl_js_consumer_state_t state = consumer_state(nats);
	cr_assert_eq(state.num_ack_pending, 0);
	cr_assert_eq(state.ack_floor_stream_seq, 1);
	bl_js_stream_state_t stream;
	cr_assert_eq(bl_js_stream_state(nats, "JOBS", &stream, &err), 0);
	cr_assert_eq(stream.messages, 0, "a work-queue stream drops acknowledged messages, %llu left",
		     (unsigned long long)stream.messages);
	bl_js_msg_free(msg);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* A message neither acked nor nakked comes back after ack_wait (500 ms), marked as a second delivery. */
Test(nats_msg, unacked_message_redelivered, .fini = fixture_stop, .timeout = 30)
{
	bl_nats_t *nats = NULL;
	bl_js_puller_t *puller = setup(&nats, 500);
	bl_js_msg_free(fetch_one(puller, 1000));

	bl_js_msg_t *again = fetch_one(puller, 3000);

	cr_assert_not_null(again, "not redelivered within 3 s");
	cr_assert_eq(bl_js_msg_meta(again)->delivered, 2);
	cr_assert_eq(consumer_state(nats).num_redelivered, 1);
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_ack_sync(again, &err), 0, "%s", err.error.message);
	bl_js_msg_free(again);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* A nak with an 800 ms delay keeps the message back for that long, then the server redelivers it. */
Test(nats_msg, nak_with_delay_redelivers_later, .fini = fixture_stop, .timeout = 30)
{
	bl_nats_t *nats = NULL;
	bl_js_puller_t *puller = setup(&nats, 30000);
	bl_js_msg_t *msg = fetch_one(puller, 1000);
	cr_assert_not_null(msg);
	bl_nats_error_t err = {0};

	long long t0 = fixture_now_ms();
	cr_assert_eq(bl_js_nak(msg, 800LL * 1000000, &err), 0, "%s", err.error.message);
	bl_js_msg_t *early = fetch_one(puller, 300);
	bl_js_msg_t *later = fetch_one(puller, 3000);
	long long elapsed = fixture_now_ms() - t0;

	cr_assert_null(early, "redelivered before the nak's delay");
	cr_assert_not_null(later, "not redelivered within 3 s of the nak");
	cr_assert_geq(elapsed, 750, "redelivered after %lld ms, the delay was 800", elapsed);
	cr_assert_eq(bl_js_msg_meta(later)->delivered, 2);
	cr_assert_eq(bl_js_ack_sync(later, &err), 0, "%s", err.error.message);
	bl_js_msg_free(msg);
	bl_js_msg_free(later);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* In-progress acks every 300 ms keep a message with a 1 s ack_wait from being redelivered for 2 s;
 * once they stop, it is redelivered. */
Test(nats_msg, in_progress_holds_message, .fini = fixture_stop, .timeout = 30)
{
	bl_nats_t *nats = NULL;
	bl_js_puller_t *puller = setup(&nats, 1000);
	bl_js_msg_t *msg = fetch_one(puller, 1000);
	cr_assert_not_null(msg);
	bl_nats_error_t err = {0};

	for (int i = 0; i < 7; i++) {
		fixture_sleep_ms(300);
		cr_assert_eq(bl_js_in_progress(msg, &err), 0, "%s", err.error.message);
	}
	bl_js_msg_t *during = fetch_one(puller, 0);
	bl_js_msg_t *released = fetch_one(puller, 3000);

	cr_assert_null(during, "redelivered while in progress");
	cr_assert_not_null(released, "not redelivered after the in-progress acks stopped");
	cr_assert_eq(bl_js_msg_meta(released)->delivered, 2);
	cr_assert_eq(bl_js_ack_sync(released, &err), 0, "%s", err.error.message);
	bl_js_msg_free(msg);
	bl_js_msg_free(released);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* A terminated message is never redelivered, even after its ack_wait (500 ms) has passed. */
Test(nats_msg, term_stops_redelivery, .fini = fixture_stop, .timeout = 30)
{
	bl_nats_t *nats = NULL;
	bl_js_puller_t *puller = setup(&nats, 500);
	bl_js_msg_t *msg = fetch_one(puller, 1000);
	cr_assert_not_null(msg);
	bl_nats_error_t err = {0};

	cr_assert_eq(bl_js_term(msg, &err), 0, "%s", err.error.message);
	bl_js_msg_t *again = fetch_one(puller, 1500);

	cr_assert_null(again, "a terminated message was redelivered");
	cr_assert_eq(consumer_state(nats).num_ack_pending, 0);
	bl_js_msg_free(msg);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* A confirmed ack for a message whose consumer is gone fails with -ENOENT rather than timing out. */
Test(nats_msg, ack_sync_without_consumer_fails, .fini = fixture_stop, .timeout = 30)
{
	bl_nats_t *nats = NULL;
	bl_js_puller_t *puller = setup(&nats, 30000);
	bl_js_msg_t *msg = fetch_one(puller, 1000);
	cr_assert_not_null(msg);
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_consumer_delete(nats, "JOBS", "worker", &err), 0, "%s", err.error.message);

	long long t0 = fixture_now_ms();
	int rc = bl_js_ack_sync(msg, &err);
	long long elapsed = fixture_now_ms() - t0;

	cr_assert_eq(rc, -ENOENT, "got %d: %s", rc, err.error.message);
	cr_assert_lt(elapsed, 2000, "took %lld ms", elapsed);
	bl_js_msg_free(msg);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}
