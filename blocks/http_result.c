/*
 * The result of an http job: status, headers, body and timing. The body is
 * parsed JSON when the job requests it or the Content-Type names JSON, text
 * when it is valid UTF-8 without NUL bytes, and base64 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <beamline/base64.h>
#include <beamline/json_load.h>

#include "http_internal.h"

/* Return whether a Content-Type names JSON: application/json or any
 * "+json" structured syntax suffix (RFC 6839), parameters ignored. */
static bool is_json_type(const char *type)
{
	if (!type)
		return false;
	size_t len = strcspn(type, "; \t");
	return (len == 16 && strncasecmp(type, "application/json", 16) == 0) ||
	       (len > 5 && strncasecmp(type + len - 5, "+json", 5) == 0);
}

/* Put the body into `result` as "body" and "body_encoding". Returns 0, or
 * -1 with *a set when the body must be JSON and is not. */
static int add_body(json_t *result, http_request_t *req, http_attempt_t *a)
{
	const char *type = NULL;
	const char *body = req->body ? req->body : "";
	json_t *value = NULL;
	const char *encoding;

	curl_easy_getinfo(req->easy, CURLINFO_CONTENT_TYPE, &type);
	bool want_json = req->params.response == HTTP_RESPONSE_JSON ||
			 (req->params.response == HTTP_RESPONSE_AUTO && is_json_type(type));
	if (want_json && req->body_len == 0) {
		value = json_null();
		encoding = "json";
	} else if (want_json) {
		json_error_t jerr;
		value = bl_json_loadb(body, req->body_len, JSON_DECODE_ANY, &jerr);
		if (!value) {
			a->code = BL_EFORMAT;
			a->error_code = "invalid_response";
			char url[HTTP_URL_SHOWN_MAX];
			snprintf(a->message, sizeof a->message, "%s %s: the response body is not valid JSON: %.100s",
				 req->params.method, http_url_for_message(url, req->params.url), jerr.text);
			return -1;
		}
		encoding = "json";
	} else if (!memchr(body, '\0', req->body_len) && (value = json_stringn(body, req->body_len))) {
		encoding = "text";
	} else {
		char *text = bl_base64_encode_new(body, req->body_len, NULL);
		value = text ? json_string(text) : NULL;
		free(text);
		encoding = "base64";
	}
	json_object_set_new(result, "body", value ? value : json_null());
	json_object_set_new(result, "body_encoding", json_string(encoding));
	json_object_set_new(result, "body_bytes", json_integer((json_int_t)req->body_len));
	return 0;
}

static json_t *timing(http_request_t *req)
{
	curl_off_t connect = 0, first_byte = 0, total = 0;

	curl_easy_getinfo(req->easy, CURLINFO_CONNECT_TIME_T, &connect);
	curl_easy_getinfo(req->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte);
	curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME_T, &total);
	return json_pack("{sIsIsIsI}", "connect", (json_int_t)connect, "first_byte", (json_int_t)first_byte, "total",
			 (json_int_t)total, "elapsed", (json_int_t)((http_now_ns() - req->start_ns) / 1000u));
}

/* Copy the response headers without the user name and password of the
 * URLs in Location and Content-Location, which a server may echo from a
 * request or send to point a redirect at a URL with credentials. The
 * copy also matters because the result goes to another thread, and
 * jansson's reference counts give no ordering across threads. Returns
 * NULL when out of memory. */
static json_t *shown_headers(const json_t *headers)
{
	static const char *const url_headers[] = {"location", "content-location"};
	json_t *copy = json_deep_copy(headers);

	for (size_t i = 0; copy && i < sizeof url_headers / sizeof *url_headers; i++) {
		const char *value = json_string_value(json_object_get(copy, url_headers[i]));
		if (!value)
			continue;
		char *stripped = http_url_without_userinfo(value);
		if (!stripped || json_object_set_new(copy, url_headers[i], json_string(stripped)) < 0) {
			json_decref(copy);
			copy = NULL;
		}
		free(stripped);
	}
	return copy;
}

json_t *http_result_build(http_request_t *req, http_attempt_t *a)
{
	const char *effective = NULL;

	curl_easy_getinfo(req->easy, CURLINFO_EFFECTIVE_URL, &effective);
	char *url = http_url_without_userinfo(effective ? effective : req->params.url);
	json_t *result = url ? json_pack("{sisosssisiso}", "status", (int)a->status, "headers",
					 shown_headers(req->headers), "url", url, "redirects", (int)req->redirects,
					 "attempts", (int)req->attempts, "timing_us", timing(req))
			     : NULL;
	free(url);
	if (!result) {
		a->code = BL_ENOMEM;
		a->error_code = "out_of_memory";
		snprintf(a->message, sizeof a->message, "out of memory building the result");
		return NULL;
	}
	if (req->headers_truncated)
		json_object_set_new(result, "headers_truncated", json_true());
	if (add_body(result, req, a) < 0) {
		json_decref(result);
		return NULL;
	}
	return result;
}
