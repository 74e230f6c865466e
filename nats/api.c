/*
 * JetStream API requests: JSON over "$JS.API.*" request subjects, with the
 * server's error objects turned into the layer's error codes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* JetStream err_code values that the layer maps to errno names, as the server numbers its errors. */
enum {
	API_CONSUMER_NOT_FOUND = 10014,
	API_NO_MESSAGE_FOUND = 10037,
	API_STREAM_NAME_IN_USE = 10058,
	API_STREAM_NOT_FOUND = 10059,
	API_WRONG_LAST_SEQUENCE = 10071,
	API_CONSUMER_NAME_EXISTS = 10013,
	API_CONSUMER_ALREADY_EXISTS = 10105,
	API_WORKQUEUE_NOT_UNIQUE = 10100,
};

static int map_api_code(int status, int api_code)
{
	switch (api_code) {
	case API_CONSUMER_NOT_FOUND:
	case API_NO_MESSAGE_FOUND:
	case API_STREAM_NOT_FOUND:
		return -ENOENT;
	case API_STREAM_NAME_IN_USE:
	case API_CONSUMER_NAME_EXISTS:
	case API_CONSUMER_ALREADY_EXISTS:
	case API_WORKQUEUE_NOT_UNIQUE:
		return -EEXIST;
	case API_WRONG_LAST_SEQUENCE:
		return -ESTALE;
	default:
		return status == 404 ? -ENOENT : -EREMOTEIO;
	}
}

int bl__js_api_error(bl_nats_error_t *err, const json_t *error, const char *field, const char *what)
{
	int status = (int)json_integer_value(json_object_get(error, "code"));
	int api_code = (int)json_integer_value(json_object_get(error, "err_code"));
	const char *description = json_string_value(json_object_get(error, "description"));
	int code = map_api_code(status, api_code);

	bl__nats_fail(err, code, field, "%s: JetStream error %d (status %d): %s", what, api_code, status,
		      description ? description : "no description");
	if (err) {
		err->status = status;
		err->api_code = api_code;
	}
	return code;
}

static int send_request(bl_nats_t *nats, natsMsg **reply, const char *subject, const char *payload,
			bl_nats_error_t *err)
{
	natsStatus s = natsConnection_Request(reply, nats->conn, subject, payload, (int)strlen(payload),
					      nats->request_timeout_ms);
	if (s == NATS_NO_RESPONDERS)
		return bl__nats_fail(err, -ENOTSUP, subject, "%s: no JetStream answered (is JetStream enabled?)",
				     subject);
	if (s == NATS_TIMEOUT)
		return bl__nats_fail(err, -ETIMEDOUT, subject, "%s: no reply within %lld ms", subject,
				     (long long)nats->request_timeout_ms);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, subject, subject);
	return 0;
}

int bl__js_api(bl_nats_t *nats, json_t **out, json_t *body, bl_nats_error_t *err, const char *fmt, ...)
{
	char api[600], subject[640];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(api, sizeof api, fmt, ap);
	va_end(ap);
	if (len < 0 || len >= (int)sizeof api)
		return bl__nats_fail(err, BL_EINVAL, NULL, "API subject too long: %s...", api);
	snprintf(subject, sizeof subject, "$JS.API.%s", api);
	char *payload = body ? json_dumps(body, JSON_COMPACT) : strdup("");
	if (!payload)
		return bl__nats_fail(err, BL_ENOMEM, api, "out of memory for the request to %s", subject);

	natsMsg *reply = NULL;
	int rc = send_request(nats, &reply, subject, payload, err);
	free(payload);
	if (rc < 0)
		return rc;

	json_error_t jerr;
	json_t *doc = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, &jerr);
	natsMsg_Destroy(reply);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return bl__nats_fail(err, -EPROTO, api, "%s: reply is not a JSON object", subject);
	}
	const json_t *error = json_object_get(doc, "error");
	if (error) {
		rc = bl__js_api_error(err, error, api, subject);
		json_decref(doc);
		return rc;
	}

	if (out)
		*out = doc;
	else
		json_decref(doc);
	return 0;
}
