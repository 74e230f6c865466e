/*
 * Publishing to a stream and waiting for its acknowledgement.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <beamline/js.h>

#include "internal.h"

static int add_headers(natsMsg *msg, const bl_js_publish_opts_t *opts, bl_nats_error_t *err)
{
	natsStatus s = NATS_OK;
	for (size_t i = 0; i < opts->nheaders && s == NATS_OK; i++)
		s = natsMsgHeader_Add(msg, opts->headers[i].key, opts->headers[i].value);
	if (s == NATS_OK && opts->msg_id)
		s = natsMsgHeader_Set(msg, "Nats-Msg-Id", opts->msg_id);
	if (s == NATS_OK && opts->expect_last_subject_seq) {
		char seq[32];
		snprintf(seq, sizeof seq, "%" PRIu64, opts->last_subject_seq);
		s = natsMsgHeader_Set(msg, "Nats-Expected-Last-Subject-Sequence", seq);
	}
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, "headers", "invalid message header");
	return 0;
}

static int read_ack(natsMsg *reply, const char *subject, bl_js_pub_ack_t *ack, bl_nats_error_t *err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, &jerr);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return bl__nats_fail(err, -EPROTO, subject, "publish to %s: the acknowledgement is not JSON", subject);
	}
	const json_t *error = json_object_get(doc, "error");
	if (error) {
		char what[300];
		snprintf(what, sizeof what, "publish to %s", subject);
		int rc = bl__js_api_error(err, error, subject, what);
		json_decref(doc);
		return rc;
	}

	const char *stream = json_string_value(json_object_get(doc, "stream"));
	const json_t *seq = json_object_get(doc, "seq");
	if (!stream || !json_is_integer(seq)) {
		json_decref(doc);
		return bl__nats_fail(err, -EPROTO, subject, "publish to %s: acknowledgement without stream or seq",
				     subject);
	}
	if (ack) {
		snprintf(ack->stream, sizeof ack->stream, "%s", stream);
		ack->seq = (uint64_t)json_integer_value(seq);
		ack->duplicate = json_is_true(json_object_get(doc, "duplicate"));
	}
	json_decref(doc);
	return 0;
}

int bl_js_publish(bl_nats_t *nats, const char *subject, const void *data, size_t len,
		  const bl_js_publish_opts_t *opts, bl_js_pub_ack_t *ack, bl_nats_error_t *err)
{
	static const bl_js_publish_opts_t no_opts;
	if (!opts)
		opts = &no_opts;
	if (!subject || !subject[0])
		return bl__nats_fail(err, BL_EINVAL, "subject", "publish needs a subject");
	if (len > INT32_MAX)
		return bl__nats_fail(err, BL_EINVAL, "data", "payload of %zu bytes is too large", len);

	natsMsg *msg = NULL;
	natsStatus s = natsMsg_Create(&msg, subject, NULL, data, (int)len);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, "subject", "cannot create the message");
	int rc = add_headers(msg, opts, err);
	if (rc < 0)
		goto out;

	natsMsg *reply = NULL;
	int64_t timeout = opts->timeout_ms > 0 ? opts->timeout_ms : nats->request_timeout_ms;
	s = natsConnection_RequestMsg(&reply, nats->conn, msg, timeout);
	if (s == NATS_NO_RESPONDERS)
		rc = bl__nats_fail(err, -ENOENT, subject, "publish to %s: no stream stores this subject", subject);
	else if (s == NATS_TIMEOUT)
		rc = bl__nats_fail(err, -ETIMEDOUT, subject,
				   "publish to %s: no acknowledgement within %" PRId64 " ms (it may still be stored)",
				   subject, timeout);
	else if (s != NATS_OK)
		rc = bl__nats_status_fail(err, s, subject, "publish failed");
	else
		rc = read_ack(reply, subject, ack, err);
	natsMsg_Destroy(reply);

out:
	natsMsg_Destroy(msg);
	return rc;
}
