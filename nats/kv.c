/*
 * KV reads and writes. A write is a publish to "$KV.<bucket>.<key>" with
 * its acknowledgement; create and update add an expected last subject
 * sequence, so the stream itself settles races between writers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv.h"
#include "kv_read.h"

bl_kv_entry_t *bl__kv_entry_new(const char *key, const void *value, size_t len, uint64_t revision,
				int64_t created_ns, bl_kv_op_t op)
{
	size_t key_len = strlen(key);
	bl_kv_entry_t *entry = malloc(sizeof *entry + key_len + 1 + len + 1);
	if (!entry)
		return NULL;

	char *key_copy = (char *)(entry + 1);
	char *value_copy = key_copy + key_len + 1;
	memcpy(key_copy, key, key_len + 1);
	if (len)
		memcpy(value_copy, value, len);
	value_copy[len] = '\0';

	*entry = (bl_kv_entry_t){
		.key = key_copy,
		.value = value_copy,
		.len = len,
		.revision = revision,
		.created_ns = created_ns,
		.op = op,
	};
	return entry;
}

void bl_kv_entry_free(bl_kv_entry_t *entry)
{
	free(entry);
}

bl_kv_op_t bl__kv_op_of(const char *header)
{
	if (header && strcmp(header, "DEL") == 0)
		return BL_KV_DELETE;
	if (header && strcmp(header, "PURGE") == 0)
		return BL_KV_PURGE;
	return BL_KV_PUT;
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '/' ||
	       c == '_' || c == '=' || c == '.';
}

int bl__kv_check_key(const char *key, bool wildcards, bl_nats_error_t *err)
{
	if (!key || !key[0])
		return bl__nats_fail(err, BL_EINVAL, "key", "key is missing");
	size_t len = strlen(key);
	if (key[0] == '.' || key[len - 1] == '.' || strstr(key, ".."))
		return bl__nats_fail(err, BL_EINVAL, "key", "key \"%s\" has an empty token (leading, trailing or "
				     "double '.')", key);

	for (size_t i = 0; i < len; i++) {
		bool token_start = i == 0 || key[i - 1] == '.';
		bool token_end = i + 1 == len || key[i + 1] == '.';
		bool wildcard = wildcards && token_start && token_end &&
				(key[i] == '*' || (key[i] == '>' && i + 1 == len));
		if (!wildcard && !key_char(key[i]))
			return bl__nats_fail(err, BL_EINVAL, "key",
					     "key \"%s\" contains '%c' at byte %zu; keys are made of letters, digits "
					     "and \"-/_=.\"%s",
					     key, key[i], i,
					     wildcards ? ", with \"*\" or a final \">\" as whole tokens" : "");
	}
	return 0;
}

int bl_kv_get(bl_kv_entry_t **out, bl_kv_t *kv, const char *key, bl_nats_error_t *err)
{
	bl_kv_entry_t *entry = NULL;
	int rc = bl__kv_read_last(&entry, kv, key, err);
	if (rc < 0)
		return rc;

	if (entry->op != BL_KV_PUT) {
		uint64_t revision = entry->revision;
		bl_kv_entry_free(entry);
		return bl__nats_fail(err, -ENOENT, key, "key %s in bucket %s was deleted at revision %" PRIu64, key,
				     kv->bucket, revision);
	}
	*out = entry;
	return 0;
}

int bl__kv_subject(char *subject, size_t size, const bl_kv_t *kv, const char *key, bl_nats_error_t *err)
{
	int rc = bl__kv_check_key(key, false, err);
	if (rc < 0)
		return rc;
	if (snprintf(subject, size, "%s%s", kv->prefix, key) >= (int)size)
		return bl__nats_fail(err, BL_EINVAL, "key", "key \"%.40s...\" is longer than %zu bytes", key,
				     size - strlen(kv->prefix) - 1);
	return 0;
}

static int write_key(bl_kv_t *kv, const char *key, const void *value, size_t len, const bl_js_publish_opts_t *opts,
		     uint64_t *revision, bl_nats_error_t *err)
{
	char subject[600];
	int rc = bl__kv_subject(subject, sizeof subject, kv, key, err);
	if (rc < 0)
		return rc;

	bl_js_pub_ack_t ack;
	rc = bl_js_publish(kv->nats, subject, value, len, opts, &ack, err);
	if (rc < 0)
		return rc;

	if (revision)
		*revision = ack.seq;
	return 0;
}

int bl_kv_put(bl_kv_t *kv, const char *key, const void *value, size_t len, uint64_t *revision,
	      bl_nats_error_t *err)
{
	return write_key(kv, key, value, len, NULL, revision, err);
}

int bl_kv_update(bl_kv_t *kv, const char *key, const void *value, size_t len, uint64_t last, uint64_t *revision,
		 bl_nats_error_t *err)
{
	bl_js_publish_opts_t opts = {.expect_last_subject_seq = true, .last_subject_seq = last};
	int rc = write_key(kv, key, value, len, &opts, revision, err);
	if (rc != -ESTALE || !err)
		return rc;

	/* Say which key and revision lost, and keep the server's codes (10071). */
	bl_nats_error_t server = *err;
	bl__nats_fail(err, rc, key, "key %s in bucket %s: revision %" PRIu64 " is not the latest", key, kv->bucket,
		      last);
	err->status = server.status;
	err->api_code = server.api_code;
	return rc;
}

int bl_kv_create(bl_kv_t *kv, const char *key, const void *value, size_t len, uint64_t *revision,
		 bl_nats_error_t *err)
{
	bl_js_publish_opts_t opts = {.expect_last_subject_seq = true, .last_subject_seq = 0};
	int rc = write_key(kv, key, value, len, &opts, revision, err);
	if (rc != -ESTALE)
		return rc;

	/* The key has history. A deleted key may be created again, over its delete marker. */
	bl_kv_entry_t *last = NULL;
	rc = bl__kv_read_last(&last, kv, key, err);
	if (rc < 0)
		return rc;
	bl_kv_op_t op = last->op;
	uint64_t last_revision = last->revision;
	bl_kv_entry_free(last);
	if (op == BL_KV_PUT)
		return bl__nats_fail(err, -EEXIST, key,
				     "key %s in bucket %s already has a value (revision %" PRIu64 ")", key, kv->bucket,
				     last_revision);
	rc = bl_kv_update(kv, key, value, len, last_revision, revision, err);
	return rc == -ESTALE ? bl__nats_fail(err, -EEXIST, key, "key %s in bucket %s was set concurrently", key,
					    kv->bucket)
			     : rc;
}

int bl_kv_delete(bl_kv_t *kv, const char *key, bl_nats_error_t *err)
{
	const bl_nats_header_t headers[] = {{"KV-Operation", "DEL"}};
	bl_js_publish_opts_t opts = {.headers = headers, .nheaders = 1};
	return write_key(kv, key, NULL, 0, &opts, NULL, err);
}
