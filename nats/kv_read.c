/*
 * Reading a key's last entry. With allow_direct the stream replies to
 * "$JS.API.DIRECT.GET.<stream>.<subject>" with the stored message itself,
 * its metadata in headers; without it, "$JS.API.STREAM.MSG.GET.<stream>"
 * returns JSON with the headers and payload in base64.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <beamline/base64.h>

#include "kv_read.h"

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int bl__kv_parse_time(int64_t *out, const char *text)
{
	int y, mo, d, h, mi, s, used = 0;
	if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6)
		return BL_EFORMAT;
	const char *p = text + used;
	int64_t fraction = 0;
	int digits = 0;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (digits < 9) {
				fraction = fraction * 10 + (*p - '0');
				digits++;
			}
		}
	}
	for (; digits < 9; digits++)
		fraction *= 10;
	if (strcmp(p, "Z") != 0)
		return BL_EFORMAT;

	int64_t seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	*out = seconds * 1000000000 + fraction;
	return 0;
}

static int read_direct(bl_kv_entry_t **out, bl_kv_t *kv, const char *key, const char *subject, bl_nats_error_t *err)
{
	/* A stream subject appended to the request subject requests its last message
	 * (checked on nats-server 2.9.10). */
	char api[700];
	snprintf(api, sizeof api, "$JS.API.DIRECT.GET.%s.%s", kv->stream, subject);
	natsMsg *reply = NULL;
	natsStatus s = natsConnection_RequestString(&reply, kv->nats->conn, api, "", kv->nats->request_timeout_ms);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, key, "direct get failed");

	const char *description = NULL;
	int status = bl__nats_msg_status(reply, &description);
	if (status) {
		natsMsg_Destroy(reply);
		if (status == 404)
			return bl__nats_fail(err, -ENOENT, key, "key %s not found in bucket %s", key, kv->bucket);
		return bl__nats_fail(err, -EREMOTEIO, key, "direct get of %s: status %d %s", key, status,
				     description);
	}

	const char *seq = bl__nats_msg_header(reply, "Nats-Sequence");
	int64_t created = 0;
	bl__kv_parse_time(&created, bl__nats_msg_header(reply, "Nats-Time-Stamp"));
	bl_kv_op_t op = bl__kv_op_of(bl__nats_msg_header(reply, "KV-Operation"));
	uint64_t revision = seq ? strtoull(seq, NULL, 10) : 0;
	*out = bl__kv_entry_new(key, natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), revision, created,
				op);
	natsMsg_Destroy(reply);
	return *out ? 0 : bl__nats_fail(err, BL_ENOMEM, key, "out of memory for key %s", key);
}

/* The operation named in a raw header block ("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n"). */
static bl_kv_op_t op_in_header_block(const char *block)
{
	static const char name[] = "KV-Operation:";
	for (const char *line = block; line && *line; line = strstr(line, "\r\n")) {
		if (line[0] == '\r')
			line += 2;
		if (strncasecmp(line, name, sizeof name - 1) != 0)
			continue;
		const char *value = line + sizeof name - 1;
		while (*value == ' ')
			value++;
		if (strncmp(value, "DEL", 3) == 0)
			return BL_KV_DELETE;
		if (strncmp(value, "PURGE", 5) == 0)
			return BL_KV_PURGE;
	}
	return BL_KV_PUT;
}

static int entry_from_message(bl_kv_entry_t **out, const json_t *message, const char *key, bl_nats_error_t *err)
{
	const char *data = json_string_value(json_object_get(message, "data"));
	const char *headers = json_string_value(json_object_get(message, "hdrs"));
	size_t len = 0, hlen = 0;
	char *value = (char *)bl_base64_decode_new(data ? data : "", data ? strlen(data) : 0, &len);
	char *block = headers ? (char *)bl_base64_decode_new(headers, strlen(headers), &hlen) : NULL;
	if (!value || (headers && !block)) {
		free(value);
		free(block);
		return bl__nats_fail(err, -EPROTO, key, "stream message of key %s is not valid base64", key);
	}

	int64_t created = 0;
	bl__kv_parse_time(&created, json_string_value(json_object_get(message, "time")));
	uint64_t revision = (uint64_t)json_integer_value(json_object_get(message, "seq"));
	*out = bl__kv_entry_new(key, value, len, revision, created, block ? op_in_header_block(block) : BL_KV_PUT);
	free(value);
	free(block);
	return *out ? 0 : bl__nats_fail(err, BL_ENOMEM, key, "out of memory for key %s", key);
}

static int read_stream_msg(bl_kv_entry_t **out, bl_kv_t *kv, const char *key, const char *subject,
			   bl_nats_error_t *err)
{
	json_t *body = json_pack("{s:s}", "last_by_subj", subject);
	json_t *reply = NULL;
	int rc = bl__js_api(kv->nats, &reply, body, err, "STREAM.MSG.GET.%s", kv->stream);
	json_decref(body);
	if (rc == -ENOENT)
		return bl__nats_fail(err, -ENOENT, key, "key %s not found in bucket %s", key, kv->bucket);
	if (rc < 0)
		return rc;

	rc = entry_from_message(out, json_object_get(reply, "message"), key, err);
	json_decref(reply);
	return rc;
}

int bl__kv_read_last(bl_kv_entry_t **out, bl_kv_t *kv, const char *key, bl_nats_error_t *err)
{
	char subject[600];
	int rc = bl__kv_subject(subject, sizeof subject, kv, key, err);
	if (rc < 0)
		return rc;

	return kv->direct ? read_direct(out, kv, key, subject, err) : read_stream_msg(out, kv, key, subject, err);
}
