/*
 * Helpers shared by the layer's files: errors, monotonic deadlines, server
 * status messages and inboxes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

__attribute__((format(printf, 4, 0))) static void set_message(bl_nats_error_t *err, int code, const char *field,
							    const char *fmt, va_list ap)
{
	err->error.code = code;
	snprintf(err->error.field, sizeof err->error.field, "%s", field ? field : "");
	vsnprintf(err->error.message, sizeof err->error.message, fmt, ap);
	err->status = 0;
	err->api_code = 0;
}

int bl__nats_fail(bl_nats_error_t *err, int code, const char *field, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	set_message(err, code, field, fmt, ap);
	va_end(ap);
	return code;
}

int bl__nats_status_code(natsStatus status)
{
	/* On int: cnats has about forty statuses and most share the default. */
	switch ((int)status) {
	case NATS_OK:
		return 0;
	case NATS_TIMEOUT:
		return -ETIMEDOUT;
	case NATS_NO_MEMORY:
		return BL_ENOMEM;
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_STALE_CONNECTION:
		return -ENOTCONN;
	case NATS_NO_SERVER:
		return -ECONNREFUSED;
	case NATS_CONNECTION_AUTH_FAILED:
	case NATS_NOT_PERMITTED:
		return -EACCES;
	case NATS_INVALID_ARG:
	case NATS_INVALID_SUBJECT:
	case NATS_INVALID_TIMEOUT:
	case NATS_ADDRESS_MISSING:
		return BL_EINVAL;
	case NATS_NOT_FOUND:
		return -ENOENT;
	case NATS_SSL_ERROR:
	case NATS_PROTOCOL_ERROR:
		return -EPROTO;
	case NATS_NO_RESPONDERS:
		return -EHOSTUNREACH;
	case NATS_MAX_PAYLOAD:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

int bl__nats_status_fail(bl_nats_error_t *err, natsStatus status, const char *field, const char *what)
{
	int code = bl__nats_status_code(status);
	return bl__nats_fail(err, code, field, "%s: %s", what, natsStatus_GetText(status));
}

int64_t bl__nats_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bl__nats_deadline(int64_t timeout_ms)
{
	return bl__nats_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

int64_t bl__nats_remaining(int64_t deadline)
{
	int64_t left = deadline - bl__nats_now_ms();
	return left > 0 ? left : 0;
}

/*
 * cnats 3.4.1 parses a status line ("NATS/1.0 404 No Messages") into two
 * pseudo-headers, "Status" and "Description". A status message carries no
 * payload.
 */
int bl__nats_msg_status(natsMsg *msg, const char **description)
{
	const char *status = bl__nats_msg_header(msg, "Status");
	const char *text = bl__nats_msg_header(msg, "Description");

	if (description)
		*description = text ? text : "";
	if (!status || natsMsg_GetDataLength(msg) != 0)
		return 0;
	return atoi(status);
}

const char *bl__nats_msg_header(natsMsg *msg, const char *key)
{
	const char *value = NULL;
	if (natsMsgHeader_Get(msg, key, &value) != NATS_OK)
		return NULL;
	return value;
}

char *bl__nats_new_inbox(void)
{
	natsInbox *inbox = NULL;
	if (natsInbox_Create(&inbox) != NATS_OK)
		return NULL;
	char *copy = strdup(inbox);
	natsInbox_Destroy(inbox);
	return copy;
}

void bl__nats_appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(buf, size);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}
