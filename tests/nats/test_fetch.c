#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <nats/nats.h>

#include "fixture.h"

static void free_all(bl_js_msg_t **msgs, int count)
{
	for (int i = 0; i < count; i++)
		bl_js_msg_free(msgs[i]);
}

static void ack_all(bl_js_msg_t **msgs, int count)
{
	for (int i = 0; i < count; i++) {
		bl_nats_error_t err = {0};
		cr_assert_eq(bl_js_ack_sync(msgs[i], &err), 0, "ack: %s", err.error.message);
	}
	free_all(msgs, count);
}

/* Send a pull request of our own with the reply subject of pull 0, which the puller never uses:
 * it stands for an earlier fetch whose replies are still on their way. */
static void pull_as_earlier_fetch(bl_nats_t *nats, bl_js_puller_t *puller, const char *body)
{
	char reply[256];
	snprintf(reply, sizeof reply, "%s.0", bl_js_puller_inbox(puller));
	natsStatus s = natsConnection_PublishRequestString(bl_nats_raw(nats), "$JS.API.CONSUMER.MSG.NEXT.JOBS.worker",
							   reply, body);
	cr_assert_eq(s, NATS_OK);
	cr_assert_eq(natsConnection_Flush(bl_nats_raw(nats)), NATS_OK);
}

static void wait_ack_pending(bl_nats_t *nats, uint64_t expected)
{
	bl_js_consumer_state_t state = {0};
	for (int i = 0; i < 100; i++) {
		bl_nats_error_t err = {0};
		cr_assert_eq(bl_js_consumer_state(nats, "JOBS", "worker", &state, &err), 0, "%s", err.error.message);
		if (state.num_ack_pending == expected)
			return;
		fixture_sleep_ms(20);
	}
	cr_assert_fail("num_ack_pending stayed %llu, expected %llu", (unsigned long long)state.num_ack_pending,
		       (unsigned long long)expected);
}

/* Ten messages fetched four at a time come back as 4, 4 and 2, in order, each once. */
Test(nats_fetch, batches_split_in_order, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	fixture_publish_jobs(nats, 0, 10);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);

	int counts[3];
	int next = 0;
	for (int round = 0; round < 3; round++) {
		bl_js_msg_t *msgs[4];
		counts[round] = bl_js_fetch(puller, msgs, 4, 300, &err);
		cr_assert_geq(counts[round], 0, "fetch %d: %s", round, err.error.message);
		for (int i = 0; i < counts[round]; i++, next++) {
			char expected[32];
			snprintf(expected, sizeof expected, "job-%d", next);
			cr_assert_eq(bl_js_msg_len(msgs[i]), strlen(expected));
			cr_assert(memcmp(bl_js_msg_data(msgs[i]), expected, strlen(expected)) == 0, "message %d", next);
			cr_assert_eq(bl_js_msg_meta(msgs[i])->stream_seq, (uint64_t)next + 1);
			cr_assert_eq(bl_js_msg_meta(msgs[i])->delivered, 1);
			cr_assert_str_eq(bl_js_msg_subject(msgs[i]), "jobs.t");
		}
		ack_all(msgs, counts[round]);
	}

	cr_assert_eq(counts[0], 4);
	cr_assert_eq(counts[1], 4);
	cr_assert_eq(counts[2], 2);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* An empty stream is "no work": 0 at once without waiting, 0 after the whole wait with one,
 * and the wait is not cut short. */
Test(nats_fetch, empty_stream_is_no_work, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);
	bl_js_msg_t *msgs[4];

	long long t0 = fixture_now_ms();
	int no_wait = bl_js_fetch(puller, msgs, 4, 0, &err);
	long long t1 = fixture_now_ms();
	int waited = bl_js_fetch(puller, msgs, 4, 400, &err);
	long long t2 = fixture_now_ms();

	cr_assert_eq(no_wait, 0, "no-wait fetch: expected 0, got %d (%s)", no_wait, err.error.message);
	cr_assert_lt(t1 - t0, 1000, "a no-wait fetch took %lld ms", t1 - t0);
	cr_assert_eq(waited, 0, "expected 0, got %d (%s)", waited, err.error.message);
	cr_assert_geq(t2 - t1, 400, "a 400 ms fetch ended after %lld ms", t2 - t1);
	cr_assert_lt(t2 - t1, 2000, "a 400 ms fetch took %lld ms", t2 - t1);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/*
 * Messages of an earlier pull that are still queued when the next fetch starts fill the
 * array first and never push past it. Ten queued messages fetched three at a time come
 * back as 3, 3, 3 and 1, each once, and the slot after the array is never written.
 */
Test(nats_fetch, earlier_pull_messages_do_not_overrun, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	fixture_publish_jobs(nats, 0, 10);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);
	pull_as_earlier_fetch(nats, puller, "{\"batch\":10,\"no_wait\":true}");
	wait_ack_pending(nats, 10);

	bool seen[11] = {false};
	int counts[4];
	bl_js_msg_t *sentinel = (bl_js_msg_t *)(uintptr_t)0x5e7;
	for (int round = 0; round < 4; round++) {
		bl_js_msg_t *msgs[4] = {NULL, NULL, NULL, sentinel};
		counts[round] = bl_js_fetch(puller, msgs, 3, 300, &err);
		cr_assert_eq(msgs[3], sentinel, "fetch %d wrote past the array", round);
		cr_assert_geq(counts[round], 0, "%s", err.error.message);
		for (int i = 0; i < counts[round]; i++) {
			uint64_t seq = bl_js_msg_meta(msgs[i])->stream_seq;
			cr_assert(seq >= 1 && seq <= 10 && !seen[seq], "sequence %llu twice or out of range",
				  (unsigned long long)seq);
			seen[seq] = true;
		}
		ack_all(msgs, counts[round]);
	}

	cr_assert_eq(counts[0], 3);
	cr_assert_eq(counts[1], 3);
	cr_assert_eq(counts[2], 3);
	cr_assert_eq(counts[3], 1);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

static void publish_late(void *nats)
{
	bl_js_publish(nats, "jobs.t", "late", 4, NULL, NULL, NULL);
}

/*
 * A 408 "request timeout" meant for an earlier pull must not end the current one. The
 * earlier pull (reply subject of pull 0, expiring after 100 ms) gets its 408 from the
 * server while the fetch waits. The message published at 700 ms must still arrive, so
 * the fetch must not return before it.
 */
Test(nats_fetch, stale_timeout_status_does_not_end_fetch, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);
	pull_as_earlier_fetch(nats, puller, "{\"batch\":1,\"expires\":100000000}");
	fixture_later_t later;
	bl_js_msg_t *msgs[1];

	long long t0 = fixture_now_ms();
	fixture_later_start(&later, 700, publish_late, nats);
	int count = bl_js_fetch(puller, msgs, 1, 3000, &err);
	long long elapsed = fixture_now_ms() - t0;
	fixture_later_join(&later);

	cr_assert_eq(count, 1, "expected the late message, got %d after %lld ms (%s)", count, elapsed,
		     err.error.message);
	cr_assert_geq(elapsed, 650, "the fetch returned after %lld ms, before the message was sent", elapsed);
	cr_assert(memcmp(bl_js_msg_data(msgs[0]), "late", 4) == 0);
	ack_all(msgs, count);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* The same with the stale 408 already queued before the fetch starts. */
Test(nats_fetch, queued_stale_status_is_dropped, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);
	pull_as_earlier_fetch(nats, puller, "{\"batch\":1,\"expires\":50000000}");
	fixture_sleep_ms(300);
	fixture_later_t later;
	bl_js_msg_t *msgs[1];

	long long t0 = fixture_now_ms();
	fixture_later_start(&later, 500, publish_late, nats);
	int count = bl_js_fetch(puller, msgs, 1, 3000, &err);
	long long elapsed = fixture_now_ms() - t0;
	fixture_later_join(&later);

	cr_assert_eq(count, 1, "expected the late message, got %d after %lld ms (%s)", count, elapsed,
		     err.error.message);
	cr_assert_geq(elapsed, 450, "returned after %lld ms", elapsed);
	ack_all(msgs, count);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* A consumer that does not exist is an error, not "no work". */
Test(nats_fetch, missing_consumer_is_error, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "nobody", &err), 0, "%s", err.error.message);
	bl_js_msg_t *msgs[2];

	int count = bl_js_fetch(puller, msgs, 2, 300, &err);

	cr_assert_eq(count, -ENOENT, "expected -ENOENT, got %d (%s)", count, err.error.message);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

static void delete_consumer(void *nats)
{
	bl_js_consumer_delete(nats, "JOBS", "worker", NULL);
}

/* A consumer deleted while a fetch waits on it ends the fetch at once with -ENOENT (the server's
 * 409 "Consumer Deleted"), instead of letting it wait out its 5 s. */
Test(nats_fetch, consumer_deleted_during_fetch, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);
	fixture_later_t later;
	bl_js_msg_t *msgs[2];

	long long t0 = fixture_now_ms();
	fixture_later_start(&later, 300, delete_consumer, nats);
	int count = bl_js_fetch(puller, msgs, 2, 5000, &err);
	long long elapsed = fixture_now_ms() - t0;
	fixture_later_join(&later);

	cr_assert_eq(count, -ENOENT, "expected -ENOENT, got %d (%s)", count, err.error.message);
	cr_assert_lt(elapsed, 2000, "the fetch waited %lld ms after its consumer was deleted", elapsed);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}

/* A lone message published 300 ms into a fetch of up to 8 with a 5 s wait is returned as soon
 * as it arrives, not when the wait runs out for want of a full batch. */
Test(nats_fetch, lone_message_returned_at_once, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	fixture_jobs_stream(nats, 30000);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);
	fixture_later_t later;
	bl_js_msg_t *msgs[8];

	long long t0 = fixture_now_ms();
	fixture_later_start(&later, 300, publish_late, nats);
	int count = bl_js_fetch(puller, msgs, 8, 5000, &err);
	long long elapsed = fixture_now_ms() - t0;
	fixture_later_join(&later);

	cr_assert_eq(count, 1, "got %d (%s)", count, err.error.message);
	cr_assert_lt(elapsed, 1500, "the fetch held a lone message for %lld ms", elapsed);
	ack_all(msgs, count);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
}
