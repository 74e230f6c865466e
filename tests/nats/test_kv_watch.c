#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nats/nats.h>

#include "fixture.h"

static bl_kv_t *open_bucket(bl_nats_t *nats)
{
	bl_kv_config_t config = {.bucket = "quotas"};
	bl_nats_error_t err = {0};
	cr_assert_geq(bl_kv_bucket_ensure(nats, &config, NULL, &err), 0, "%s", err.error.message);
	bl_kv_t *kv = NULL;
	cr_assert_eq(bl_kv_open(&kv, nats, "quotas", &err), 0, "%s", err.error.message);
	return kv;
}

static bl_kv_watch_t *watch(bl_kv_t *kv, int64_t heartbeat_ms)
{
	bl_kv_watch_opts_t opts = {.idle_heartbeat_ms = heartbeat_ms};
	bl_kv_watch_t *w = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_kv_watch_new(&w, kv, &opts, &err), 0, "%s", err.error.message);
	return w;
}

/* Next entry within `timeout_ms`; fails the test on anything but an entry. */
static bl_kv_entry_t *next_entry(bl_kv_watch_t *w, int64_t timeout_ms)
{
	bl_kv_entry_t *entry = NULL;
	bl_nats_error_t err = {0};
	int rc = bl_kv_watch_next(w, &entry, timeout_ms, &err);
	cr_assert_eq(rc, 1, "expected an entry, got %d (%s)", rc, err.error.message);
	return entry;
}

static void expect_marker(bl_kv_watch_t *w)
{
	bl_kv_entry_t *entry = NULL;
	bl_nats_error_t err = {0};
	int rc = bl_kv_watch_next(w, &entry, 2000, &err);
	cr_assert_eq(rc, 0, "expected the initial-values marker, got %d (%s)", rc, err.error.message);
	cr_assert_null(entry);
}

/* Existing keys come first, the latest entry of each (deletes included), then the marker once. */
Test(nats_kv_watch, initial_values_then_marker, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats);
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_kv_put(kv, "acme", "1", 1, NULL, &err), 0);
	cr_assert_eq(bl_kv_put(kv, "acme", "2", 1, NULL, &err), 0);
	cr_assert_eq(bl_kv_put(kv, "globex", "3", 1, NULL, &err), 0);
	cr_assert_eq(bl_kv_delete(kv, "globex", &err), 0);
	cr_assert_eq(bl_kv_put(kv, "initech", "4", 1, NULL, &err), 0);

	bl_kv_watch_t *w = watch(kv, 0);
	bl_kv_entry_t *first = next_entry(w, 2000);
	bl_kv_entry_t *second = next_entry(w, 2000);
	bl_kv_entry_t *third = next_entry(w, 2000);
	expect_marker(w);
	bl_kv_entry_t *none = NULL;
	int quiet = bl_kv_watch_next(w, &none, 300, &err);

	cr_assert_str_eq(first->key, "acme");
	cr_assert_str_eq(first->value, "2", "only the latest value of a key");
	cr_assert_str_eq(second->key, "globex");
	cr_assert_eq(second->op, BL_KV_DELETE);
	cr_assert_str_eq(third->key, "initech");
	cr_assert_eq(quiet, -ETIMEDOUT, "the marker comes once; then nothing: got %d", quiet);
	bl_kv_entry_free(first);
	bl_kv_entry_free(second);
	bl_kv_entry_free(third);
	bl_kv_watch_free(w);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* On an empty bucket the marker comes at once. A put made after the watch started arrives within
 * a second, and a delete arrives as a delete. */
Test(nats_kv_watch, changes_arrive_within_second, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats);
	bl_kv_watch_t *w = watch(kv, 0);
	expect_marker(w);
	bl_nats_error_t err = {0};
	uint64_t revision = 0;

	long long t0 = fixture_now_ms();
	cr_assert_eq(bl_kv_put(kv, "acme", "{\"max_concurrent\":4}", 20, &revision, &err), 0);
	bl_kv_entry_t *put = next_entry(w, 1000);
	long long put_ms = fixture_now_ms() - t0;
	cr_assert_eq(bl_kv_delete(kv, "acme", &err), 0);
	bl_kv_entry_t *deleted = next_entry(w, 1000);

	cr_assert_lt(put_ms, 1000, "the put arrived after %lld ms", put_ms);
	cr_assert_str_eq(put->key, "acme");
	cr_assert_str_eq(put->value, "{\"max_concurrent\":4}");
	cr_assert_eq(put->revision, revision);
	cr_assert_eq(put->op, BL_KV_PUT);
	cr_assert_str_eq(deleted->key, "acme");
	cr_assert_eq(deleted->op, BL_KV_DELETE);
	cr_assert_eq(deleted->len, 0);
	bl_kv_entry_free(put);
	bl_kv_entry_free(deleted);
	bl_kv_watch_free(w);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

static void put_late(void *kv)
{
	bl_kv_put(kv, "late", "v", 1, NULL, NULL);
}

/*
 * A long wait is not cut short by the heartbeats that arrive during it. With a heartbeat
 * every 200 ms, about 10 of them arrive during a 4 s wait before the put at 2 s. The put
 * must still be delivered, and not before it was made.
 */
Test(nats_kv_watch, long_wait_outlasts_heartbeats, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats);
	bl_kv_watch_t *w = watch(kv, 200);
	expect_marker(w);
	fixture_later_t later;

	long long t0 = fixture_now_ms();
	fixture_later_start(&later, 2000, put_late, kv);
	bl_kv_entry_t *entry = next_entry(w, 4000);
	long long elapsed = fixture_now_ms() - t0;
	fixture_later_join(&later);

	cr_assert_str_eq(entry->key, "late");
	cr_assert_geq(elapsed, 1950, "delivered after %lld ms, before the put", elapsed);
	bl_kv_entry_free(entry);
	bl_kv_watch_free(w);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* A wait with nothing to deliver lasts its whole timeout, heartbeats or not. */
Test(nats_kv_watch, timeout_not_early, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats);
	bl_kv_watch_t *w = watch(kv, 100);
	expect_marker(w);
	bl_kv_entry_t *entry = NULL;
	bl_nats_error_t err = {0};

	long long t0 = fixture_now_ms();
	int rc = bl_kv_watch_next(w, &entry, 1500, &err);
	long long elapsed = fixture_now_ms() - t0;

	cr_assert_eq(rc, -ETIMEDOUT, "got %d", rc);
	cr_assert_geq(elapsed, 1500, "timed out after %lld ms of 1500", elapsed);
	cr_assert_lt(elapsed, 2500, "timed out after %lld ms of 1500", elapsed);
	bl_kv_watch_free(w);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* Listing 3000 keys, some deleted, completes and returns exactly the live ones. */
Test(nats_kv_watch, keys_listing_many, .fini = fixture_stop, .timeout = 60)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats);
	bl_nats_error_t err = {0};
	enum { N = 3000 };
	for (int i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof key, "tenant-%d", i);
		cr_assert_eq(bl_kv_put(kv, key, "{}", 2, NULL, &err), 0, "%s", err.error.message);
	}
	for (int i = 0; i < N; i += 10) {
		char key[32];
		snprintf(key, sizeof key, "tenant-%d", i);
		cr_assert_eq(bl_kv_delete(kv, key, &err), 0);
	}

	char **keys = NULL;
	int count = bl_kv_keys(&keys, kv, &err);

	cr_assert_eq(count, N - N / 10, "got %d keys (%s)", count, err.error.message);
	for (int i = 0; i < count; i++)
		cr_assert(strncmp(keys[i], "tenant-", 7) == 0 && atoi(keys[i] + 7) % 10 != 0, "key %s", keys[i]);
	bl_kv_keys_free(keys, (size_t)count);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* The watch's consumer deleted from under it: the heartbeats stop, the watch notices within three
 * intervals, recreates the consumer, and a later put still arrives. */
Test(nats_kv_watch, recovers_from_lost_consumer, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats);
	bl_kv_watch_t *w = watch(kv, 200);
	expect_marker(w);
	natsMsg *reply = NULL;
	cr_assert_eq(natsConnection_RequestString(&reply, bl_nats_raw(nats), "$JS.API.CONSUMER.NAMES.KV_quotas", "",
						  2000),
		     NATS_OK);
	char name[128] = "";
	const char *names = strstr(natsMsg_GetData(reply), "\"consumers\":[\"");
	cr_assert_not_null(names, "reply: %s", natsMsg_GetData(reply));
	sscanf(names + strlen("\"consumers\":[\""), "%127[^\"]", name);
	natsMsg_Destroy(reply);
	char subject[256];
	snprintf(subject, sizeof subject, "$JS.API.CONSUMER.DELETE.KV_quotas.%s", name);
	cr_assert_eq(natsConnection_RequestString(&reply, bl_nats_raw(nats), subject, "", 2000), NATS_OK);
	natsMsg_Destroy(reply);
	bl_nats_error_t err = {0};

	cr_assert_eq(bl_kv_put(kv, "after", "1", 1, NULL, &err), 0);
	bl_kv_entry_t *entry = next_entry(w, 3000);

	cr_assert_str_eq(entry->key, "after");
	bl_kv_entry_free(entry);
	bl_kv_watch_free(w);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* After a server restart the watch finds its consumer gone (no heartbeats for three intervals),
 * recreates it once the connection is back, and delivers a put made after the restart. */
Test(nats_kv_watch, survives_server_restart, .fini = fixture_stop, .timeout = 60)
{
	FIXTURE_START();
	const char *urls[] = {fixture_server.url};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .max_reconnects = -1, .reconnect_wait_ms = 50};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_nats_connect(&nats, &config, &err), 0, "%s", err.error.message);
	bl_kv_t *kv = open_bucket(nats);
	cr_assert_eq(bl_kv_put(kv, "before", "1", 1, NULL, &err), 0);
	bl_kv_watch_t *w = watch(kv, 300);
	bl_kv_entry_free(next_entry(w, 2000));
	expect_marker(w);

	cr_assert_eq(bl_test_nats_stop(&fixture_server), 0, "%s", fixture_server.error);
	cr_assert_eq(bl_test_nats_restart(&fixture_server), 0, "%s", fixture_server.error);
	for (int i = 0; i < 100 && !bl_nats_is_connected(nats); i++)
		fixture_sleep_ms(50);
	cr_assert(bl_nats_is_connected(nats), "no reconnection within 5 s");
	cr_assert_eq(bl_kv_put(kv, "after", "2", 1, NULL, &err), 0, "%s", err.error.message);
	bl_kv_entry_t *entry = next_entry(w, 5000);

	cr_assert_str_eq(entry->key, "after");
	cr_assert_str_eq(entry->value, "2");
	bl_kv_entry_free(entry);
	bl_kv_watch_free(w);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* Make a plain stream "RESULTS" on "results.>", as BEAMLINE_RESULTS is: no bucket settings. */
static void results_stream(bl_nats_t *nats)
{
	const char *subjects[] = {"results.>"};
	bl_js_stream_config_t config = {.name = "RESULTS", .subjects = subjects, .nsubjects = 1};
	bl_nats_error_t err = {0};
	cr_assert_geq(bl_js_stream_ensure(nats, &config, NULL, &err), 0, "%s", err.error.message);
}

static void publish_result(bl_nats_t *nats, const char *subject)
{
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_publish(nats, subject, "{}", 2, NULL, NULL, &err), 0, "%s", err.error.message);
}

/* A watch on a plain stream delivers the key after the prefix of each
 * message stored before it started, one per subject (two messages on
 * results.acme.r1, one key), then the marker, then a message stored later.
 * Headers only: the values come empty. */
Test(nats_kv_watch, stream_watch_reports_subject_keys, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	results_stream(nats);
	publish_result(nats, "results.acme.r1");
	publish_result(nats, "results.acme.r1");
	publish_result(nats, "results.globex.r2");
	bl_kv_watch_opts_t opts = {.headers_only = true};
	bl_kv_watch_t *w = NULL;
	bl_nats_error_t err = {0};

	cr_assert_eq(bl_kv_watch_stream_new(&w, nats, "RESULTS", "results.", &opts, &err), 0, "%s", err.error.message);
	bl_kv_entry_t *first = next_entry(w, 2000);
	bl_kv_entry_t *second = next_entry(w, 2000);
	expect_marker(w);
	publish_result(nats, "results.acme.r3");
	bl_kv_entry_t *later = next_entry(w, 2000);

	cr_assert_str_eq(first->key, "acme.r1", "first key: expected acme.r1, got %s", first->key);
	cr_assert_str_eq(second->key, "globex.r2", "second key: expected globex.r2, got %s", second->key);
	cr_assert_eq(first->op, BL_KV_PUT, "a stream message is a put");
	cr_assert_eq(first->len, 0, "headers only: expected no value, got %zu bytes", first->len);
	cr_assert_str_eq(later->key, "acme.r3", "later key: expected acme.r3, got %s", later->key);
	bl_kv_entry_free(first);
	bl_kv_entry_free(second);
	bl_kv_entry_free(later);
	bl_kv_watch_free(w);
	bl_nats_free(nats);
}

/* A watch on a stream that does not exist fails with the server's not-found, naming the stream. */
Test(nats_kv_watch, stream_watch_missing_stream_fails, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_watch_t *w = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_kv_watch_stream_new(&w, nats, "NO_SUCH", "results.", NULL, &err);

	cr_assert_eq(rc, -ENOENT, "expected -ENOENT, got %d (%s)", rc, err.error.message);
	cr_assert_null(w, "no watch is returned on failure");
	cr_assert_not_null(strstr(err.error.message, "NO_SUCH"), "the error names the stream: %s", err.error.message);
	bl_nats_free(nats);
}
