/*
 * KV buckets: the stream behind a bucket, and bucket handles.
 *
 * A bucket's stream follows the JetStream key-value conventions: stream
 * "KV_<bucket>" on "$KV.<bucket>.>", the history as max_msgs_per_subject,
 * the TTL as max_age, discard "new", deny_delete, allow_rollup_hdrs and
 * allow_direct set, and a duplicate window of 2 minutes or the TTL when
 * that is shorter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/kv.h>

#include "kv.h"
#include "setup.h"

enum { KV_MAX_HISTORY = 64 };

#define KV_DUPLICATE_WINDOW_NS (120LL * 1000000000)

int bl_kv_bucket_ensure(bl_nats_t *nats, const bl_kv_config_t *config, uint32_t *mismatches, bl_nats_error_t *err)
{
	int rc = bl__js_check_name(config->bucket, "bucket", err);
	if (rc < 0)
		return rc;
	if (config->history < 0 || config->history > KV_MAX_HISTORY)
		return bl__nats_fail(err, BL_EINVAL, "history", "bucket %s: history %d is outside 1..%d (0 means 1)",
				     config->bucket, config->history, KV_MAX_HISTORY);
	if (config->ttl_ns < 0)
		return bl__nats_fail(err, BL_EINVAL, "ttl_ns", "bucket %s: negative TTL", config->bucket);

	char name[300], subject[300];
	snprintf(name, sizeof name, "KV_%s", config->bucket);
	snprintf(subject, sizeof subject, "$KV.%s.>", config->bucket);
	const char *subjects[] = {subject};
	int64_t window = KV_DUPLICATE_WINDOW_NS;
	if (config->ttl_ns > 0 && config->ttl_ns < window)
		window = config->ttl_ns;
	bl_js_stream_config_t stream = {
		.name = name,
		.subjects = subjects,
		.nsubjects = 1,
		.retention = BL_JS_RETENTION_LIMITS,
		.storage = config->storage,
		.duplicate_window_ns = window,
		.max_age_ns = config->ttl_ns,
		.replicas = config->replicas,
		.max_msgs_per_subject = config->history ? config->history : 1,
		.discard_new = true,
		.deny_delete = true,
		.allow_rollup = true,
		.allow_direct = true,
	};
	return bl_js_stream_ensure(nats, &stream, mismatches, err);
}

static char *join(const char *head, const char *bucket, const char *tail)
{
	size_t size = strlen(head) + strlen(bucket) + strlen(tail) + 1;
	char *text = malloc(size);
	if (text)
		snprintf(text, size, "%s%s%s", head, bucket, tail);
	return text;
}

int bl_kv_open(bl_kv_t **out, bl_nats_t *nats, const char *bucket, bl_nats_error_t *err)
{
	int rc = bl__js_check_name(bucket, "bucket", err);
	if (rc < 0)
		return rc;
	bl_kv_t *kv = calloc(1, sizeof *kv);
	if (!kv)
		return bl__nats_fail(err, BL_ENOMEM, bucket, "out of memory for bucket %s", bucket);
	kv->nats = nats;
	kv->bucket = strdup(bucket);
	kv->stream = join("KV_", bucket, "");
	kv->prefix = join("$KV.", bucket, ".");
	if (!kv->bucket || !kv->stream || !kv->prefix) {
		bl_kv_free(kv);
		return bl__nats_fail(err, BL_ENOMEM, bucket, "out of memory for bucket %s", bucket);
	}

	json_t *info = NULL;
	rc = bl__js_api(nats, &info, NULL, err, "STREAM.INFO.%s", kv->stream);
	if (rc < 0) {
		if (rc == -ENOENT)
			bl__nats_fail(err, rc, bucket, "bucket %s does not exist (no stream %s)", bucket, kv->stream);
		bl_kv_free(kv);
		return rc;
	}
	kv->direct = json_is_true(json_object_get(json_object_get(info, "config"), "allow_direct"));
	json_decref(info);

	*out = kv;
	return 0;
}

void bl_kv_free(bl_kv_t *kv)
{
	if (!kv)
		return;
	free(kv->bucket);
	free(kv->stream);
	free(kv->prefix);
	free(kv);
}
