/*
 * An http job's parameters: every field checked, with an error naming it,
 * before the job is queued, and again when it starts.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <beamline/trace.h>

#include "http_internal.h"

#define URL_MAX 8192u
#define BODY_MAX (8u * 1024u * 1024u)
#define REQUEST_HEADERS_MAX 100u
#define REQUEST_HEADER_BYTES_MAX (64u * 1024u)

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL};

bool http_method_is_idempotent(const char *method)
{
	return strcmp(method, "POST") != 0 && strcmp(method, "PATCH") != 0;
}

static int parse_method(http_params_t *p, const json_t *v, bl_error_t *err)
{
	const char *m = v ? json_string_value(v) : "GET";

	for (size_t i = 0; m && methods[i]; i++) {
		if (strcmp(methods[i], m) == 0) {
			strcpy(p->method, m);
			return 0;
		}
	}
	return bl_error_set(err, BL_EINVAL, "params.method",
			    "params.method: expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS (upper case)");
}

/* Check the URL with curl's parser and derive the breaker's key, its
 * origin. */
static int parse_url(http_params_t *p, const json_t *v, bl_error_t *err)
{
	const char *url = json_string_value(v);
	char *scheme = NULL;
	int rc = 0;

	if (!url || strlen(url) > URL_MAX)
		return bl_error_set(err, BL_EINVAL, "params.url", "params.url: expected an http or https URL string of "
				    "at most %u characters", URL_MAX);
	CURLU *u = curl_url();
	if (!u)
		return bl_error_set(err, BL_ENOMEM, "params.url", "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    http_origin_key(p->host_key, sizeof p->host_key, url) < 0) {
		rc = bl_error_set(err, BL_EINVAL, "params.url", "params.url: '%.200s' is not a valid absolute URL", url);
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		rc = bl_error_set(err, BL_EINVAL, "params.url", "params.url: scheme '%s' is not allowed; use http or https",
				  scheme);
		goto out;
	}
	p->url = strdup(url);
	if (!p->url)
		rc = bl_error_set(err, BL_ENOMEM, "params.url", "out of memory");
out:
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	}
	return true;
}

/* Append a header line to `*list`. Returns 0 or BL_ENOMEM. */
static int append_line(struct curl_slist **list, const char *line)
{
	struct curl_slist *grown = curl_slist_append(*list, line);
	if (!grown)
		return BL_ENOMEM;
	*list = grown;
	return 0;
}

/* Append "Name: value" (or "Name;" for an empty value, curl's way of
 * sending an empty header) to the request's headers, and also to the
 * headers sent to another origin when `cross_origin` is true. */
static int add_header(http_params_t *p, const char *name, const char *value, bool cross_origin, bl_error_t *err)
{
	size_t size = strlen(name) + strlen(value) + 3;
	char *line = malloc(size);
	if (!line)
		return bl_error_set(err, BL_ENOMEM, "params.headers", "out of memory");
	if (*value)
		snprintf(line, size, "%s: %s", name, value);
	else
		snprintf(line, size, "%s;", name);

	int rc = append_line(&p->headers, line);
	if (rc == 0 && cross_origin)
		rc = append_line(&p->cross_origin_headers, line);
	free(line);
	if (rc < 0)
		return bl_error_set(err, BL_ENOMEM, "params.headers", "out of memory");
	return 0;
}

/* Content-Length and Transfer-Encoding frame the request: curl sets them
 * from params.body, and a job's own value would let the body's bytes be
 * read by the server as a second request. */
static bool is_framing_header(const char *name)
{
	return strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0;
}

static int parse_headers(http_params_t *p, const json_t *h, bool *has_content_type, bl_error_t *err)
{
	const char *name;
	json_t *value;
	size_t bytes = 0;
	int rc;

	*has_content_type = false;
	if (!h)
		return 0;
	if (!json_is_object(h) || json_object_size(h) > REQUEST_HEADERS_MAX)
		return bl_error_set(err, BL_EINVAL, "params.headers",
				    "params.headers: expected an object of at most %u header names to string values",
				    REQUEST_HEADERS_MAX);
	json_object_foreach(http_json_unconst(h), name, value) {
		char path[160];
		snprintf(path, sizeof path, "params.headers.%.120s", name);
		const char *text = json_string_value(value);
		if (!is_token(name))
			return bl_error_set(err, BL_EINVAL, path, "%s: not a valid header name", path);
		if (is_framing_header(name))
			return bl_error_set(err, BL_EINVAL, path,
					    "%s: the block sets this header from params.body; leave it out", path);
		if (!text || strlen(text) != json_string_length(value) || strpbrk(text, "\r\n"))
			return bl_error_set(err, BL_EINVAL, path,
					    "%s: expected a string without line breaks or NUL characters", path);
		bytes += strlen(name) + strlen(text);
		if (bytes > REQUEST_HEADER_BYTES_MAX)
			return bl_error_set(err, BL_ELIMIT, "params.headers", "params.headers: more than %u bytes in all",
					    REQUEST_HEADER_BYTES_MAX);
		/* A redirect to another origin gets none of the job's headers, which
		 * may carry its credentials, except Content-Type, which describes
		 * the body that a 307 or 308 sends again. */
		bool is_content_type = strcasecmp(name, "content-type") == 0;
		if (is_content_type)
			*has_content_type = true;
		if ((rc = add_header(p, name, text, is_content_type, err)) < 0)
			return rc;
	}
	return 0;
}

/* A string body goes out as it is; any other JSON value is serialised and
 * labelled application/json unless the job set a Content-Type. */
static int parse_body(http_params_t *p, const json_t *b, bool has_content_type, bl_error_t *err)
{
	if (!b)
		return 0;
	if (strcmp(p->method, "HEAD") == 0)
		return bl_error_set(err, BL_EINVAL, "params.body", "params.body: a HEAD request cannot have a body");
	if (json_is_string(b)) {
		p->body_len = json_string_length(b);
		p->body = malloc(p->body_len + 1);
		if (p->body)
			memcpy(p->body, json_string_value(b), p->body_len + 1);
	} else {
		p->body = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
		p->body_len = p->body ? strlen(p->body) : 0;
		if (p->body && !has_content_type && add_header(p, "Content-Type", "application/json", true, err) < 0)
			return BL_ENOMEM;
	}
	if (!p->body)
		return bl_error_set(err, BL_ENOMEM, "params.body", "out of memory");
	if (p->body_len > BODY_MAX)
		return bl_error_set(err, BL_ELIMIT, "params.body", "params.body: %zu bytes is more than the limit of %u",
				    p->body_len, BODY_MAX);
	return 0;
}

static int parse_response(http_params_t *p, const json_t *v, bl_error_t *err)
{
	const char *mode = v ? json_string_value(v) : "auto";

	if (mode && strcmp(mode, "auto") == 0)
		p->response = HTTP_RESPONSE_AUTO;
	else if (mode && strcmp(mode, "json") == 0)
		p->response = HTTP_RESPONSE_JSON;
	else if (mode && strcmp(mode, "raw") == 0)
		p->response = HTTP_RESPONSE_RAW;
	else
		return bl_error_set(err, BL_EINVAL, "params.response", "params.response: expected \"json\", \"raw\" or "
				    "\"auto\" (JSON when the Content-Type names JSON)");
	return 0;
}

static int parse_keep_headers(http_params_t *p, const json_t *v, bl_error_t *err)
{
	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > HTTP_HEADERS_MAX)
		return bl_error_set(err, BL_EINVAL, "params.response_headers",
				    "params.response_headers: expected an array of at most %u header names",
				    HTTP_HEADERS_MAX);
	p->keep_headers = calloc(json_array_size(v) + 1, sizeof *p->keep_headers);
	if (!p->keep_headers)
		return bl_error_set(err, BL_ENOMEM, "params.response_headers", "out of memory");
	for (size_t i = 0; i < json_array_size(v); i++) {
		const char *name = json_string_value(json_array_get(v, i));
		char path[48];
		snprintf(path, sizeof path, "params.response_headers[%zu]", i);
		if (!name || !is_token(name))
			return bl_error_set(err, BL_EINVAL, path, "%s: expected a header name", path);
		p->keep_headers[i] = strdup(name);
		if (!p->keep_headers[i])
			return bl_error_set(err, BL_ENOMEM, path, "out of memory");
		p->n_keep_headers++;
		for (char *c = p->keep_headers[i]; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	return 0;
}

static int parse_retry(http_params_t *p, const json_t *r, const http_config_t *cfg, bl_error_t *err)
{
	static const char *const known[] = {"max_attempts", "backoff_ms", "max_backoff_ms", "non_idempotent", NULL};
	uint64_t attempts = cfg->retry_attempts;
	int rc;

	p->max_attempts = cfg->retry_attempts;
	p->backoff_ms = cfg->retry_backoff_ms;
	p->max_backoff_ms = cfg->retry_max_backoff_ms;
	if (!r)
		return 0;
	if (!json_is_object(r))
		return bl_error_set(err, BL_EINVAL, "params.retry", "params.retry: expected an object");
	json_t *unsafe = json_object_get(r, "non_idempotent");
	if (unsafe && !json_is_boolean(unsafe))
		return bl_error_set(err, BL_EINVAL, "params.retry.non_idempotent",
				    "params.retry.non_idempotent: expected true or false");
	if ((rc = http_json_check_keys(r, known, "params.retry.", "unknown parameter", err)) < 0 ||
	    (rc = http_json_uint(r, "max_attempts", "params.retry.max_attempts", 1, cfg->retry_max_attempts, &attempts,
			    err)) < 0 ||
	    (rc = http_json_uint(r, "max_backoff_ms", "params.retry.max_backoff_ms", 0, cfg->retry_max_backoff_ms,
			    &p->max_backoff_ms, err)) < 0 ||
	    (rc = http_json_uint(r, "backoff_ms", "params.retry.backoff_ms", 0, p->max_backoff_ms, &p->backoff_ms, err)) < 0)
		return rc;
	p->max_attempts = (unsigned)attempts;
	p->retry_non_idempotent = json_is_true(unsafe);
	return 0;
}

/* The size and time limits, each bounded by the operator's maximum. */
static int parse_limits(http_params_t *p, const json_t *params, const http_config_t *cfg, bl_error_t *err)
{
	uint64_t redirects = (uint64_t)cfg->max_redirects;
	int rc;

	p->timeout_ms = cfg->timeout_ms;
	p->connect_timeout_ms = cfg->connect_timeout_ms;
	p->max_response_bytes = cfg->max_response_bytes;
	if ((rc = http_json_uint(params, "timeout_ms", "params.timeout_ms", 1, cfg->max_timeout_ms, &p->timeout_ms, err)) <
		    0 ||
	    (rc = http_json_uint(params, "connect_timeout_ms", "params.connect_timeout_ms", 1, cfg->max_timeout_ms,
			    &p->connect_timeout_ms, err)) < 0 ||
	    (rc = http_json_uint(params, "max_response_bytes", "params.max_response_bytes", 1, cfg->max_response_bytes,
			    &p->max_response_bytes, err)) < 0 ||
	    (rc = http_json_uint(params, "max_redirects", "params.max_redirects", 0, (uint64_t)cfg->max_redirects,
			    &redirects, err)) < 0)
		return rc;
	p->max_redirects = (long)redirects;

	json_t *fail = json_object_get(params, "fail_on_status");
	if (fail && !json_is_boolean(fail))
		return bl_error_set(err, BL_EINVAL, "params.fail_on_status", "params.fail_on_status: expected true or false");
	p->fail_on_status = !fail || json_is_true(fail);
	return 0;
}

int http_params_add_trace(http_params_t *p, const char *traceparent)
{
	bl_trace_t parent, child;
	char line[16 + BL_TRACEPARENT_LEN];

	if (!traceparent || bl_trace_parse(&parent, traceparent, NULL) < 0 || bl_trace_child(&child, &parent) < 0)
		return 0;
	for (const struct curl_slist *h = p->headers; h; h = h->next) {
		if (strncasecmp(h->data, "traceparent:", 12) == 0)
			return 0; /* the job's own header wins */
	}
	snprintf(line, sizeof line, "traceparent: %s", child.traceparent);
	int rc = append_line(&p->headers, line);
	if (rc == 0)
		rc = append_line(&p->cross_origin_headers, line);
	return rc;
}

int http_params_parse(http_params_t *p, const json_t *params, const http_config_t *cfg, bl_error_t *err)
{
	static const char *const known[] = {"method", "url", "headers", "body", "response", "response_headers",
					    "connect_timeout_ms", "timeout_ms", "max_response_bytes",
					    "max_redirects", "retry", "fail_on_status", NULL};
	bool has_content_type;
	int rc;

	memset(p, 0, sizeof *p);
	if (!json_is_object(params))
		return bl_error_set(err, BL_EFORMAT, "params", "params: expected an object");
	if (!json_object_get(params, "url"))
		return bl_error_set(err, BL_EINVAL, "params.url", "params.url: missing; give an http or https URL");
	if ((rc = http_json_check_keys(params, known, "params.", "unknown parameter", err)) < 0 ||
	    (rc = parse_method(p, json_object_get(params, "method"), err)) < 0 ||
	    (rc = parse_url(p, json_object_get(params, "url"), err)) < 0 ||
	    (rc = parse_headers(p, json_object_get(params, "headers"), &has_content_type, err)) < 0 ||
	    (rc = parse_body(p, json_object_get(params, "body"), has_content_type, err)) < 0 ||
	    (rc = parse_response(p, json_object_get(params, "response"), err)) < 0 ||
	    (rc = parse_keep_headers(p, json_object_get(params, "response_headers"), err)) < 0 ||
	    (rc = parse_limits(p, params, cfg, err)) < 0 ||
	    (rc = parse_retry(p, json_object_get(params, "retry"), cfg, err)) < 0)
		goto err_clear;

	/* "Expect:" with no value removes curl's "Expect: 100-continue", which
	 * costs a round trip before a body. */
	if (append_line(&p->headers, "Expect:") < 0 || append_line(&p->cross_origin_headers, "Expect:") < 0) {
		rc = bl_error_set(err, BL_ENOMEM, "params.headers", "out of memory");
		goto err_clear;
	}
	return 0;

err_clear:
	http_params_clear(p);
	return rc;
}

void http_params_clear(http_params_t *p)
{
	free(p->url);
	curl_slist_free_all(p->headers);
	curl_slist_free_all(p->cross_origin_headers);
	free(p->body);
	for (size_t i = 0; i < p->n_keep_headers; i++)
		free(p->keep_headers[i]);
	free(p->keep_headers);
	memset(p, 0, sizeof *p);
}
