/*
 * Durable pull consumers: create-or-verify, state and deletion through the
 * JetStream API.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <beamline/js.h>

#include "internal.h"
#include "setup.h"

static int check_names(const char *stream, const char *consumer, bl_nats_error_t *err)
{
	int rc = bl__js_check_name(stream, "stream", err);
	return rc < 0 ? rc : bl__js_check_name(consumer, "consumer", err);
}

static int check_config(const bl_js_consumer_config_t *config, bl_nats_error_t *err)
{
	int rc = bl__js_check_name(config->stream, "stream", err);
	if (rc == 0)
		rc = bl__js_check_name(config->durable, "durable", err);
	if (rc < 0)
		return rc;
	if (config->filter_subject && !config->filter_subject[0])
		return bl__nats_fail(err, BL_EINVAL, "filter_subject",
				     "consumer %s: filter_subject is empty; use NULL for the whole stream",
				     config->durable);
	if (config->ack_wait_ns < 0 || config->max_deliver < 0 || config->max_ack_pending < 0)
		return bl__nats_fail(err, BL_EINVAL, "consumer",
				     "consumer %s: ack_wait, max_deliver and max_ack_pending must not be negative",
				     config->durable);
	return 0;
}

static json_t *build_request(const bl_js_consumer_config_t *config)
{
	json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "durable_name", config->durable, "ack_policy", "explicit",
				 "deliver_policy", "all", "replay_policy", "instant");
	if (!body)
		return NULL;
	if (config->filter_subject)
		json_object_set_new(body, "filter_subject", json_string(config->filter_subject));
	if (config->ack_wait_ns)
		json_object_set_new(body, "ack_wait", json_integer(config->ack_wait_ns));
	if (config->max_deliver)
		json_object_set_new(body, "max_deliver", json_integer(config->max_deliver));
	if (config->max_ack_pending)
		json_object_set_new(body, "max_ack_pending", json_integer(config->max_ack_pending));
	return json_pack("{s:s, s:o}", "stream_name", config->stream, "config", body);
}

static void diff_config(bl__js_diff_t *diff, const json_t *have, const bl_js_consumer_config_t *want)
{
	bl__js_diff_str(diff, BL_JS_FIELD_ACK_POLICY, json_string_value(json_object_get(have, "ack_policy")),
			"explicit");
	bl__js_diff_str(diff, BL_JS_FIELD_FILTER_SUBJECT, json_string_value(json_object_get(have, "filter_subject")),
			want->filter_subject);
	/* A push consumer of the same name cannot serve pulls. */
	bl__js_diff_str(diff, BL_JS_FIELD_DELIVER_SUBJECT,
			json_string_value(json_object_get(have, "deliver_subject")), NULL);
	if (want->ack_wait_ns)
		bl__js_diff_int(diff, BL_JS_FIELD_ACK_WAIT, bl__js_get_int(have, "ack_wait", 0), want->ack_wait_ns);
	if (want->max_deliver)
		bl__js_diff_int(diff, BL_JS_FIELD_MAX_DELIVER, bl__js_get_int(have, "max_deliver", -1),
				want->max_deliver);
	if (want->max_ack_pending)
		bl__js_diff_int(diff, BL_JS_FIELD_MAX_ACK_PENDING, bl__js_get_int(have, "max_ack_pending", 0),
				want->max_ack_pending);
}

static int create(bl_nats_t *nats, const bl_js_consumer_config_t *config, bl_nats_error_t *err)
{
	json_t *body = build_request(config);
	if (!body)
		return bl__nats_fail(err, BL_ENOMEM, config->durable, "out of memory for consumer %s", config->durable);

	int rc = bl__js_api(nats, NULL, body, err, "CONSUMER.DURABLE.CREATE.%s.%s", config->stream, config->durable);
	json_decref(body);
	return rc < 0 ? rc : 1;
}

int bl_js_consumer_ensure(bl_nats_t *nats, const bl_js_consumer_config_t *config, uint32_t *mismatches,
			  bl_nats_error_t *err)
{
	int rc = check_config(config, err);
	if (rc < 0)
		return rc;

	json_t *info = NULL;
	bl_nats_error_t lookup = {0};
	rc = bl__js_api(nats, &info, NULL, &lookup, "CONSUMER.INFO.%s.%s", config->stream, config->durable);
	/* 10014 is "consumer not found"; a missing stream (10059) is an error. */
	if (rc == -ENOENT && lookup.api_code == 10014)
		return create(nats, config, err);
	if (rc < 0) {
		if (err)
			*err = lookup;
		return rc;
	}

	bl__js_diff_t diff = {0};
	diff_config(&diff, json_object_get(info, "config"), config);
	json_decref(info);
	if (!diff.mask)
		return 0;

	if (mismatches)
		*mismatches = diff.mask;
	return bl__nats_fail(err, -EEXIST, config->durable,
			     "consumer %s on stream %s exists with other settings (left unchanged): %s",
			     config->durable, config->stream, diff.text);
}

int bl_js_consumer_state(bl_nats_t *nats, const char *stream, const char *consumer, bl_js_consumer_state_t *out,
			 bl_nats_error_t *err)
{
	int rc = check_names(stream, consumer, err);
	if (rc < 0)
		return rc;

	json_t *info = NULL;
	rc = bl__js_api(nats, &info, NULL, err, "CONSUMER.INFO.%s.%s", stream, consumer);
	if (rc < 0)
		return rc;

	const json_t *delivered = json_object_get(info, "delivered");
	*out = (bl_js_consumer_state_t){
		.delivered_consumer_seq = (uint64_t)bl__js_get_int(delivered, "consumer_seq", 0),
		.delivered_stream_seq = (uint64_t)bl__js_get_int(delivered, "stream_seq", 0),
		.ack_floor_stream_seq = (uint64_t)bl__js_get_int(json_object_get(info, "ack_floor"), "stream_seq", 0),
		.num_ack_pending = (uint64_t)bl__js_get_int(info, "num_ack_pending", 0),
		.num_redelivered = (uint64_t)bl__js_get_int(info, "num_redelivered", 0),
		.num_waiting = (uint64_t)bl__js_get_int(info, "num_waiting", 0),
		.num_pending = (uint64_t)bl__js_get_int(info, "num_pending", 0),
	};
	json_decref(info);
	return 0;
}

int bl_js_consumer_delete(bl_nats_t *nats, const char *stream, const char *consumer, bl_nats_error_t *err)
{
	int rc = check_names(stream, consumer, err);
	if (rc < 0)
		return rc;

	return bl__js_api(nats, NULL, NULL, err, "CONSUMER.DELETE.%s.%s", stream, consumer);
}
