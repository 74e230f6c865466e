#include <criterion/criterion.h>
#include <string.h>

#include "fixture.h"

static bl_kv_t *open_bucket(bl_nats_t *nats, const char *bucket)
{
	bl_kv_config_t config = {.bucket = bucket, .history = 5};
	bl_nats_error_t err = {0};
	cr_assert_geq(bl_kv_bucket_ensure(nats, &config, NULL, &err), 0, "%s", err.error.message);
	bl_kv_t *kv = NULL;
	cr_assert_eq(bl_kv_open(&kv, nats, bucket, &err), 0, "%s", err.error.message);
	return kv;
}

/* The bucket's stream has the key-value settings; a second run matches; a different history is named. */
Test(nats_kv, bucket_ensure_idempotent, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_config_t config = {.bucket = "beamline_quotas", .history = 3};
	bl_nats_error_t err = {0};

	int first = bl_kv_bucket_ensure(nats, &config, NULL, &err);
	int second = bl_kv_bucket_ensure(nats, &config, NULL, &err);
	config.history = 1;
	uint32_t mismatches = 0;
	int third = bl_kv_bucket_ensure(nats, &config, &mismatches, &err);

	cr_assert_eq(first, 1, "%s", err.error.message);
	cr_assert_eq(second, 0);
	cr_assert_eq(third, -EEXIST);
	cr_assert_eq(mismatches, BL_JS_FIELD_MAX_MSGS_PER_SUBJECT, "mask 0x%x: %s", mismatches, err.error.message);
	const char *subjects[] = {"$KV.beamline_quotas.>"};
	bl_js_stream_config_t expected = {
		.name = "KV_beamline_quotas",
		.subjects = subjects,
		.nsubjects = 1,
		.duplicate_window_ns = 120LL * 1000000000,
		.max_msgs_per_subject = 3,
		.discard_new = true,
		.deny_delete = true,
		.allow_rollup = true,
		.allow_direct = true,
	};
	cr_assert_eq(bl_js_stream_ensure(nats, &expected, &mismatches, &err), 0, "stream settings: %s",
		     err.error.message);
	bl_nats_free(nats);
}

/* Put then get returns the value and its revision; a missing key is -ENOENT. */
Test(nats_kv, put_then_get, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats, "q");
	bl_nats_error_t err = {0};
	uint64_t revision = 0;

	cr_assert_eq(bl_kv_put(kv, "acme", "{\"weight\":2}", 12, &revision, &err), 0, "%s", err.error.message);
	bl_kv_entry_t *entry = NULL;
	int rc = bl_kv_get(&entry, kv, "acme", &err);
	bl_kv_entry_t *missing = NULL;
	int missing_rc = bl_kv_get(&missing, kv, "nobody", &err);

	cr_assert_eq(rc, 0, "%s", err.error.message);
	cr_assert_str_eq(entry->key, "acme");
	cr_assert_str_eq(entry->value, "{\"weight\":2}");
	cr_assert_eq(entry->len, 12);
	cr_assert_eq(entry->revision, revision);
	cr_assert_eq(entry->op, BL_KV_PUT);
	cr_assert_gt(entry->created_ns, 1600000000LL * 1000000000, "created_ns %lld", (long long)entry->created_ns);
	cr_assert_eq(missing_rc, -ENOENT, "got %d", missing_rc);
	cr_assert_null(missing);
	bl_kv_entry_free(entry);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* Create succeeds only for an absent key, and again once the key is deleted. */
Test(nats_kv, create_only_when_absent, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats, "q");
	bl_nats_error_t err = {0};

	int first = bl_kv_create(kv, "k", "1", 1, NULL, &err);
	int second = bl_kv_create(kv, "k", "2", 1, NULL, &err);
	cr_assert_eq(bl_kv_delete(kv, "k", &err), 0, "%s", err.error.message);
	int after_delete = bl_kv_create(kv, "k", "3", 1, NULL, &err);

	cr_assert_eq(first, 0, "%s", err.error.message);
	cr_assert_eq(second, -EEXIST, "got %d", second);
	cr_assert_eq(after_delete, 0, "create over a delete marker: %d (%s)", after_delete, err.error.message);
	bl_kv_entry_t *entry = NULL;
	cr_assert_eq(bl_kv_get(&entry, kv, "k", &err), 0);
	cr_assert_str_eq(entry->value, "3");
	bl_kv_entry_free(entry);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* Update is a compare-and-set: the latest revision wins, a stale one is -ESTALE and changes nothing. */
Test(nats_kv, update_with_stale_revision, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats, "q");
	bl_nats_error_t err = {0};
	uint64_t r1 = 0, r2 = 0, r3 = 0;
	cr_assert_eq(bl_kv_put(kv, "k", "a", 1, &r1, &err), 0);

	int fresh = bl_kv_update(kv, "k", "b", 1, r1, &r2, &err);
	int stale = bl_kv_update(kv, "k", "c", 1, r1, &r3, &err);

	cr_assert_eq(fresh, 0, "%s", err.error.message);
	cr_assert_gt(r2, r1);
	cr_assert_eq(stale, -ESTALE, "got %d", stale);
	cr_assert_eq(err.api_code, 10071, "the server's code is kept, got %d", err.api_code);
	cr_assert_eq(r3, 0, "a failed update must not report a revision");
	bl_kv_entry_t *entry = NULL;
	cr_assert_eq(bl_kv_get(&entry, kv, "k", &err), 0);
	cr_assert_str_eq(entry->value, "b");
	cr_assert_eq(entry->revision, r2);
	bl_kv_entry_free(entry);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* A deleted key reads as not found. */
Test(nats_kv, delete_hides_key, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats, "q");
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_kv_put(kv, "k", "a", 1, NULL, &err), 0);

	cr_assert_eq(bl_kv_delete(kv, "k", &err), 0, "%s", err.error.message);
	bl_kv_entry_t *entry = NULL;
	int rc = bl_kv_get(&entry, kv, "k", &err);

	cr_assert_eq(rc, -ENOENT, "got %d", rc);
	cr_assert(strstr(err.error.message, "deleted"), "message: %s", err.error.message);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* A bucket stream without allow_direct is read through the stream message API, with the same results. */
Test(nats_kv, reads_without_direct_get, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	const char *subjects[] = {"$KV.old.>"};
	bl_js_stream_config_t stream = {
		.name = "KV_old",
		.subjects = subjects,
		.nsubjects = 1,
		.max_msgs_per_subject = 5,
		.discard_new = true,
		.deny_delete = true,
		.allow_rollup = true,
	};
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_stream_ensure(nats, &stream, NULL, &err), 1, "%s", err.error.message);
	bl_kv_t *kv = NULL;
	cr_assert_eq(bl_kv_open(&kv, nats, "old", &err), 0, "%s", err.error.message);
	uint64_t revision = 0;
	cr_assert_eq(bl_kv_put(kv, "a", "value\n\0x", 8, &revision, &err), 0);
	cr_assert_eq(bl_kv_put(kv, "b", "x", 1, NULL, &err), 0);
	cr_assert_eq(bl_kv_delete(kv, "b", &err), 0);

	bl_kv_entry_t *entry = NULL;
	int rc = bl_kv_get(&entry, kv, "a", &err);
	bl_kv_entry_t *deleted = NULL;
	int deleted_rc = bl_kv_get(&deleted, kv, "b", &err);

	cr_assert_eq(rc, 0, "%s", err.error.message);
	cr_assert_eq(entry->len, 8);
	cr_assert(memcmp(entry->value, "value\n\0x", 8) == 0, "binary values survive base64");
	cr_assert_eq(entry->revision, revision);
	cr_assert_gt(entry->created_ns, 0);
	cr_assert_eq(deleted_rc, -ENOENT, "a delete marker read through the message API: %d", deleted_rc);
	bl_kv_entry_free(entry);
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* Keys with characters NATS subjects cannot carry are rejected before anything is sent. */
Test(nats_kv, invalid_keys_rejected, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = open_bucket(nats, "q");
	const char *bad[] = {"", ".a", "a.", "a..b", "a b", "a*", ">", "a\tb", "\xc3\xa9"};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bl_nats_error_t err = {0};
		int rc = bl_kv_put(kv, bad[i], "x", 1, NULL, &err);
		cr_assert_eq(rc, BL_EINVAL, "key \"%s\": expected BL_EINVAL, got %d", bad[i], rc);
		cr_assert_str_eq(err.error.field, "key");
	}
	bl_kv_free(kv);
	bl_nats_free(nats);
}

/* Opening a bucket that does not exist is -ENOENT. */
Test(nats_kv, missing_bucket_not_found, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	bl_kv_t *kv = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_kv_open(&kv, nats, "nope", &err);

	cr_assert_eq(rc, -ENOENT, "got %d: %s", rc, err.error.message);
	cr_assert_null(kv);
	bl_nats_free(nats);
}
