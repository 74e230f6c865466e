/*
 * Streams: create-or-verify, state and deletion through the JetStream API.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/js.h>

#include "internal.h"
#include "setup.h"

static const char *retention_name(bl_js_retention_t retention)
{
	switch (retention) {
	case BL_JS_RETENTION_LIMITS:
		return "limits";
	case BL_JS_RETENTION_INTEREST:
		return "interest";
	case BL_JS_RETENTION_WORKQUEUE:
		return "workqueue";
	}
	return "limits";
}

static const char *storage_name(bl_js_storage_t storage)
{
	return storage == BL_JS_STORAGE_MEMORY ? "memory" : "file";
}

static int check_config(const bl_js_stream_config_t *config, bl_nats_error_t *err)
{
	int rc = bl__js_check_name(config->name, "name", err);
	if (rc < 0)
		return rc;
	if (config->nsubjects == 0 || !config->subjects)
		return bl__nats_fail(err, BL_EINVAL, "subjects", "stream %s needs at least one subject", config->name);
	for (size_t i = 0; i < config->nsubjects; i++) {
		if (!config->subjects[i] || !config->subjects[i][0])
			return bl__nats_fail(err, BL_EINVAL, "subjects", "stream %s: subject %zu is empty",
					     config->name, i);
	}
	if ((unsigned)config->retention > BL_JS_RETENTION_WORKQUEUE)
		return bl__nats_fail(err, BL_EINVAL, "retention", "stream %s: retention %d is not a bl_js_retention_t",
				     config->name, (int)config->retention);
	if ((unsigned)config->storage > BL_JS_STORAGE_MEMORY)
		return bl__nats_fail(err, BL_EINVAL, "storage", "stream %s: storage %d is not a bl_js_storage_t",
				     config->name, (int)config->storage);
	if (config->duplicate_window_ns < 0 || config->max_age_ns < 0 || config->replicas < 0 ||
	    config->max_msgs_per_subject < 0)
		return bl__nats_fail(err, BL_EINVAL, "stream", "stream %s: durations and limits must not be negative",
				     config->name);
	return 0;
}

static json_t *build_config(const bl_js_stream_config_t *config)
{
	json_t *subjects = json_array();
	for (size_t i = 0; i < config->nsubjects; i++)
		json_array_append_new(subjects, json_string(config->subjects[i]));

	json_t *body = json_pack("{s:s, s:o, s:s, s:s, s:I, s:i, s:s, s:I}", "name", config->name, "subjects", subjects,
				 "retention", retention_name(config->retention), "storage",
				 storage_name(config->storage), "max_age", (json_int_t)config->max_age_ns,
				 "num_replicas", config->replicas ? config->replicas : 1, "discard",
				 config->discard_new ? "new" : "old", "max_msgs_per_subject",
				 (json_int_t)(config->max_msgs_per_subject ? config->max_msgs_per_subject : -1));
	if (!body)
		return NULL;
	if (config->duplicate_window_ns)
		json_object_set_new(body, "duplicate_window", json_integer(config->duplicate_window_ns));
	if (config->deny_delete)
		json_object_set_new(body, "deny_delete", json_true());
	if (config->allow_rollup)
		json_object_set_new(body, "allow_rollup_hdrs", json_true());
	if (config->allow_direct)
		json_object_set_new(body, "allow_direct", json_true());
	return body;
}

/* Subjects compare as sets: the server keeps them in the order given, but order does not matter. */
static void diff_subjects(bl__js_diff_t *diff, const json_t *have, const bl_js_stream_config_t *config)
{
	bool same = json_array_size(have) == config->nsubjects;
	for (size_t i = 0; same && i < config->nsubjects; i++) {
		bool found = false;
		for (size_t j = 0; j < json_array_size(have) && !found; j++)
			{
			const char *subject = json_string_value(json_array_get(have, j));
			found = subject && strcmp(subject, config->subjects[i]) == 0;
		}
		same = found;
	}
	if (same)
		return;

	char *text = json_dumps(have, JSON_COMPACT);
	bl__js_diff_str(diff, BL_JS_FIELD_SUBJECTS, text ? text : "?", config->subjects[0]);
	free(text);
}

static void diff_config(bl__js_diff_t *diff, const json_t *have, const bl_js_stream_config_t *want)
{
	diff_subjects(diff, json_object_get(have, "subjects"), want);
	bl__js_diff_str(diff, BL_JS_FIELD_RETENTION, json_string_value(json_object_get(have, "retention")),
			retention_name(want->retention));
	bl__js_diff_str(diff, BL_JS_FIELD_STORAGE, json_string_value(json_object_get(have, "storage")),
			storage_name(want->storage));
	if (want->duplicate_window_ns)
		bl__js_diff_int(diff, BL_JS_FIELD_DUPLICATE_WINDOW, bl__js_get_int(have, "duplicate_window", 0),
				want->duplicate_window_ns);
	bl__js_diff_int(diff, BL_JS_FIELD_MAX_AGE, bl__js_get_int(have, "max_age", 0), want->max_age_ns);
	bl__js_diff_int(diff, BL_JS_FIELD_REPLICAS, bl__js_get_int(have, "num_replicas", 1),
			want->replicas ? want->replicas : 1);

	/* The server reports "unlimited" as -1 (and older versions as 0). */
	int64_t per_subject = bl__js_get_int(have, "max_msgs_per_subject", -1);
	bl__js_diff_int(diff, BL_JS_FIELD_MAX_MSGS_PER_SUBJECT, per_subject > 0 ? per_subject : -1,
			want->max_msgs_per_subject ? want->max_msgs_per_subject : -1);
	bl__js_diff_str(diff, BL_JS_FIELD_DISCARD, json_string_value(json_object_get(have, "discard")),
			want->discard_new ? "new" : "old");
	bl__js_diff_bool(diff, BL_JS_FIELD_DENY_DELETE, json_is_true(json_object_get(have, "deny_delete")),
			 want->deny_delete);
	bl__js_diff_bool(diff, BL_JS_FIELD_ALLOW_ROLLUP, json_is_true(json_object_get(have, "allow_rollup_hdrs")),
			 want->allow_rollup);
	bl__js_diff_bool(diff, BL_JS_FIELD_ALLOW_DIRECT, json_is_true(json_object_get(have, "allow_direct")),
			 want->allow_direct);
}

static int create(bl_nats_t *nats, const bl_js_stream_config_t *config, bl_nats_error_t *err)
{
	json_t *body = build_config(config);
	if (!body)
		return bl__nats_fail(err, BL_ENOMEM, config->name, "out of memory for stream %s", config->name);

	int rc = bl__js_api(nats, NULL, body, err, "STREAM.CREATE.%s", config->name);
	json_decref(body);
	return rc < 0 ? rc : 1;
}

int bl_js_stream_ensure(bl_nats_t *nats, const bl_js_stream_config_t *config, uint32_t *mismatches,
			bl_nats_error_t *err)
{
	int rc = check_config(config, err);
	if (rc < 0)
		return rc;

	json_t *info = NULL;
	rc = bl__js_api(nats, &info, NULL, err, "STREAM.INFO.%s", config->name);
	if (rc == -ENOENT)
		return create(nats, config, err);
	if (rc < 0)
		return rc;

	bl__js_diff_t diff = {0};
	diff_config(&diff, json_object_get(info, "config"), config);
	json_decref(info);
	if (!diff.mask)
		return 0;

	if (mismatches)
		*mismatches = diff.mask;
	return bl__nats_fail(err, -EEXIST, config->name, "stream %s exists with other settings (left unchanged): %s",
			     config->name, diff.text);
}

int bl_js_stream_state(bl_nats_t *nats, const char *stream, bl_js_stream_state_t *out, bl_nats_error_t *err)
{
	int rc = bl__js_check_name(stream, "stream", err);
	if (rc < 0)
		return rc;

	json_t *info = NULL;
	rc = bl__js_api(nats, &info, NULL, err, "STREAM.INFO.%s", stream);
	if (rc < 0)
		return rc;

	const json_t *state = json_object_get(info, "state");
	*out = (bl_js_stream_state_t){
		.messages = (uint64_t)bl__js_get_int(state, "messages", 0),
		.bytes = (uint64_t)bl__js_get_int(state, "bytes", 0),
		.first_seq = (uint64_t)bl__js_get_int(state, "first_seq", 0),
		.last_seq = (uint64_t)bl__js_get_int(state, "last_seq", 0),
		.consumers = (int)bl__js_get_int(state, "consumer_count", 0),
	};
	json_decref(info);
	return 0;
}

int bl_js_stream_delete(bl_nats_t *nats, const char *stream, bl_nats_error_t *err)
{
	int rc = bl__js_check_name(stream, "stream", err);
	if (rc < 0)
		return rc;

	return bl__js_api(nats, NULL, NULL, err, "STREAM.DELETE.%s", stream);
}
