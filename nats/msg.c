/*
 * Delivered JetStream messages and their acknowledgements. An ack is a
 * publish of "+ACK", "-NAK", "+WPI" or "+TERM" to the message's reply
 * subject. The double ack sends the same publish as a request, and the
 * server replies once it has recorded the ack.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int bl__js_msg_new(bl_js_msg_t **out, bl_nats_t *nats, natsMsg **msg)
{
	const char *reply = natsMsg_GetReply(*msg);
	size_t size = reply ? strlen(reply) + 1 : 1;
	bl_js_msg_t *m = calloc(1, sizeof *m + size);
	if (!m)
		return BL_ENOMEM;

	int rc = bl_js_meta_parse(&m->meta, m->meta_buf, size, reply);
	if (rc < 0) {
		free(m);
		return rc;
	}

	m->nats = nats;
	m->msg = *msg;
	*msg = NULL;
	*out = m;
	return 0;
}

const void *bl_js_msg_data(const bl_js_msg_t *msg)
{
	return natsMsg_GetData(msg->msg);
}

size_t bl_js_msg_len(const bl_js_msg_t *msg)
{
	return (size_t)natsMsg_GetDataLength(msg->msg);
}

const char *bl_js_msg_subject(const bl_js_msg_t *msg)
{
	return natsMsg_GetSubject(msg->msg);
}

const char *bl_js_msg_header(const bl_js_msg_t *msg, const char *key)
{
	return bl__nats_msg_header(msg->msg, key);
}

const bl_js_meta_t *bl_js_msg_meta(const bl_js_msg_t *msg)
{
	return &msg->meta;
}

void bl_js_msg_free(bl_js_msg_t *msg)
{
	if (!msg)
		return;
	natsMsg_Destroy(msg->msg);
	free(msg);
}

static int check_unacked(const bl_js_msg_t *msg, const char *verb, bl_nats_error_t *err)
{
	if (!msg->acked)
		return 0;
	return bl__nats_fail(err, BL_EINVAL, msg->meta.stream,
			     "cannot %s stream %s sequence %" PRIu64 ": it was already acknowledged", verb,
			     msg->meta.stream, msg->meta.stream_seq);
}

static int send_ack(bl_js_msg_t *msg, const char *body, bool final, bl_nats_error_t *err)
{
	const char *reply = natsMsg_GetReply(msg->msg);
	natsStatus s = natsConnection_PublishString(msg->nats->conn, reply, body);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, reply, "cannot send the acknowledgement");
	if (final)
		msg->acked = true;
	return 0;
}

int bl_js_ack(bl_js_msg_t *msg, bl_nats_error_t *err)
{
	int rc = check_unacked(msg, "ack", err);
	return rc < 0 ? rc : send_ack(msg, "+ACK", true, err);
}

int bl_js_ack_sync(bl_js_msg_t *msg, bl_nats_error_t *err)
{
	int rc = check_unacked(msg, "ack", err);
	if (rc < 0)
		return rc;

	const char *reply = natsMsg_GetReply(msg->msg);
	natsMsg *confirmation = NULL;
	natsStatus s = natsConnection_RequestString(&confirmation, msg->nats->conn, reply, "+ACK",
						    msg->nats->request_timeout_ms);
	natsMsg_Destroy(confirmation);
	if (s == NATS_NO_RESPONDERS)
		return bl__nats_fail(err, -ENOENT, reply, "ack of stream %s sequence %" PRIu64
				     ": the consumer no longer exists", msg->meta.stream, msg->meta.stream_seq);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, reply, "the server did not confirm the acknowledgement");
	msg->acked = true;
	return 0;
}

int bl_js_nak(bl_js_msg_t *msg, int64_t delay_ns, bl_nats_error_t *err)
{
	int rc = check_unacked(msg, "nak", err);
	if (rc < 0)
		return rc;
	if (delay_ns < 0)
		return bl__nats_fail(err, BL_EINVAL, "delay_ns", "nak delay %" PRId64 " ns is negative", delay_ns);
	if (delay_ns == 0)
		return send_ack(msg, "-NAK", true, err);

	char body[64];
	snprintf(body, sizeof body, "-NAK {\"delay\":%" PRId64 "}", delay_ns);
	return send_ack(msg, body, true, err);
}

int bl_js_in_progress(bl_js_msg_t *msg, bl_nats_error_t *err)
{
	int rc = check_unacked(msg, "mark in progress", err);
	return rc < 0 ? rc : send_ack(msg, "+WPI", false, err);
}

int bl_js_term(bl_js_msg_t *msg, bl_nats_error_t *err)
{
	int rc = check_unacked(msg, "terminate", err);
	return rc < 0 ? rc : send_ack(msg, "+TERM", true, err);
}
