/*
 * One HTTP request: its easy handle and the callbacks through which curl
 * hands over the response and opens sockets. The socket callback is
 * the address guard: it sees the address curl is about to connect to on
 * every hop, after DNS, so neither a redirect nor a name that resolves
 * differently the second time gets past it.
 */
#define _GNU_SOURCE /* SOCK_CLOEXEC */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "http_internal.h"

uint64_t http_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t http_request_time_left_ms(const http_request_t *req, uint64_t now_ns)
{
	return now_ns >= req->deadline_ns ? 0 : (req->deadline_ns - now_ns) / 1000000u;
}

/* ------------------------------------------------------------------------ */
/* Response callbacks                                                        */
/* ------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	http_request_t *req = userp;
	size_t len = size * n;
	size_t need = req->body_len + len;

	/* Returning less than `len` makes curl abort with CURLE_WRITE_ERROR. */
	if (need > req->params.max_response_bytes) {
		req->too_large = true;
		return 0;
	}
	if (need > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 16384;
		while (cap < need)
			cap *= 2;
		char *body = realloc(req->body, cap);
		if (!body)
			return 0;
		req->body = body;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len = need;
	return len;
}

static bool keeps_header(const http_request_t *req, const char *name)
{
	if (!req->params.keep_headers)
		return true;
	for (size_t i = 0; i < req->params.n_keep_headers; i++) {
		if (strcmp(req->params.keep_headers[i], name) == 0)
			return true;
	}
	return false;
}

/* Store one "Name: value" line of the current response, joining repeated
 * names with ", " as RFC 9110 allows. */
static void store_header(http_request_t *req, char *name, const char *value)
{
	for (char *c = name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strcmp(name, "retry-after") == 0)
		snprintf(req->retry_after, sizeof req->retry_after, "%s", value);
	if (!keeps_header(req, name))
		return;

	size_t bytes = strlen(name) + strlen(value);
	json_t *old = json_object_get(req->headers, name);
	if ((!old && json_object_size(req->headers) >= HTTP_HEADERS_MAX) ||
	    req->header_bytes + bytes > HTTP_HEADER_BYTES_MAX) {
		req->headers_truncated = true;
		return;
	}
	req->header_bytes += bytes;
	if (!old) {
		json_object_set_new(req->headers, name, json_string(value));
		return;
	}
	size_t size = strlen(json_string_value(old)) + strlen(value) + 3;
	char *joined = malloc(size);
	if (joined) {
		snprintf(joined, size, "%s, %s", json_string_value(old), value);
		json_object_set_new(req->headers, name, json_string(joined));
		free(joined);
	}
}

/* Each call is one header line, status line included. A status line starts
 * a new response (after a redirect or a 100 Continue): only the last one's
 * headers are kept. */
static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	http_request_t *req = userp;
	size_t len = size * n;
	char line[8192];

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		json_object_clear(req->headers);
		req->header_bytes = 0;
		req->headers_truncated = false;
		req->retry_after[0] = '\0';
		return len;
	}
	size_t keep = len < sizeof line ? len : sizeof line - 1;
	memcpy(line, data, keep);
	line[keep] = '\0';
	line[strcspn(line, "\r\n")] = '\0';

	char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return len;
	*colon = '\0';
	char *value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	for (char *end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t');)
		*--end = '\0';
	store_header(req, line, value);
	return len;
}

/* The host of the URL curl is working on now: the original one, or the
 * target of the redirect being followed. */
static void current_host(http_request_t *req, char *out, size_t size)
{
	char *url = NULL, *host = NULL;

	snprintf(out, size, "the host");
	if (curl_easy_getinfo(req->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || !url)
		return;
	CURLU *u = curl_url();
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		snprintf(out, size, "%s", host);
	curl_free(host);
	curl_url_cleanup(u);
}

static curl_socket_t on_open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	http_request_t *req = userp;
	const http_config_t *cfg = &req->svc->cfg;
	http_ip_t ip;
	http_ip_class_t why;
	char host[200], text[64];

	if (purpose != CURLSOCKTYPE_IPCXN || http_ip_from_sockaddr(&ip, &addr->addr, addr->addrlen) < 0) {
		snprintf(req->refused, sizeof req->refused, "refused a connection that is not over IPv4 or IPv6");
		return CURL_SOCKET_BAD;
	}
	if (http_ip_is_refused(&ip, cfg->allow, cfg->n_allow, &why)) {
		current_host(req, host, sizeof host);
		http_ip_format(&ip, text, sizeof text);
		snprintf(req->refused, sizeof req->refused,
			 "%.120s resolved to %s, a %s%s%s address; list it in http.allow to allow it", host, text,
			 why.form ? why.form : "", why.form ? " " : "", why.range);
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* ------------------------------------------------------------------------ */
/* The easy handle                                                           */
/* ------------------------------------------------------------------------ */

/* Options that stay the same for every attempt and hop. Redirects are
 * followed by http_request_next_hop(), not by curl, because curl sends the
 * job's headers to whatever host a redirect names. */
static int configure(http_request_t *req)
{
	const http_params_t *p = &req->params;
	CURL *e = req->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, value)                                                                                         \
	do {                                                                                                    \
		if (rc == CURLE_OK)                                                                             \
			rc = curl_easy_setopt(e, opt, value);                                                   \
	} while (0)
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	/* An empty proxy turns off the proxies that environment variables
	 * would otherwise select: the guard must see the real peer. */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_USERAGENT, req->svc->cfg.user_agent);
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)p->max_response_bytes);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, req);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, req);
	SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	SET(CURLOPT_OPENSOCKETDATA, req);
	SET(CURLOPT_ERRORBUFFER, req->errbuf);
	SET(CURLOPT_PRIVATE, req);
#undef SET
	return rc == CURLE_OK ? 0 : BL_EINVAL;
}

/* Set the method and body of the next transfer: the job's, or a plain GET
 * once a redirect has turned a POST into one. */
static int set_method(CURL *e, const http_params_t *p, bool as_get)
{
	bool is_post = strcmp(p->method, "POST") == 0;
	CURLcode rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);

	/* HTTPGET also clears what NOBODY and POSTFIELDS set before. */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	if (rc != CURLE_OK || as_get)
		return rc == CURLE_OK ? 0 : BL_EINVAL;

	if (strcmp(p->method, "HEAD") == 0)
		rc = curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (!is_post && (strcmp(p->method, "GET") != 0 || p->body))
		rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, p->method);
	if (rc == CURLE_OK && (p->body || is_post)) {
		rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body ? p->body : "");
	}
	return rc == CURLE_OK ? 0 : BL_EINVAL;
}

/* Point the easy handle at `url` (copied by curl), with the job's headers
 * when `url` has the origin of the job's URL and only the block's own
 * headers otherwise. The origin is compared on every hop, so a redirect
 * back to the job's origin sends the job's headers again, as curl does
 * with credentials. */
static int set_target(http_request_t *req, const char *url)
{
	const http_params_t *p = &req->params;
	char origin[HTTP_HOST_KEY_MAX];

	bool same_origin = http_origin_key(origin, sizeof origin, url) == 0 && strcmp(origin, p->host_key) == 0;
	struct curl_slist *headers = same_origin ? p->headers : p->cross_origin_headers;
	if (curl_easy_setopt(req->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
		return BL_EINVAL;
	return set_method(req->easy, p, req->hop_as_get);
}

http_request_t *http_request_new(bl_http_service_t *svc, http_params_t *params, const bl_block_env_t *env,
				 bl_block_done_fn done, void *ctx)
{
	http_request_t *req = calloc(1, sizeof *req);
	if (!req)
		return NULL;
	req->svc = svc;
	req->params = *params;
	memset(params, 0, sizeof *params);
	req->hook = env->cancel_hook;
	req->cancel = env->cancel;
	req->done = done;
	req->done_ctx = ctx;
	req->id = atomic_fetch_add(&svc->next_id, 1) + 1;
	req->start_ns = http_now_ns();
	req->deadline_ns = req->start_ns + req->params.timeout_ms * 1000000u;

	req->headers = json_object();
	req->easy = curl_easy_init();
	if (!req->headers || !req->easy || configure(req) < 0)
		http_request_free(&req);
	return req;
}

void http_request_free(http_request_t **req)
{
	http_request_t *r = *req;
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	http_params_clear(&r->params);
	json_decref(r->headers);
	free(r->body);
	free(r);
	*req = NULL;
}

/* Clear the previous transfer's response and give the next one the time
 * left. Returns 0, BL_ETIMEDOUT when no time is left, or BL_EINVAL. */
static int prepare_transfer(http_request_t *req, uint64_t now_ns)
{
	uint64_t left = http_request_time_left_ms(req, now_ns);
	if (left == 0)
		return BL_ETIMEDOUT;

	req->body_len = 0;
	req->too_large = false;
	json_object_clear(req->headers);
	req->header_bytes = 0;
	req->headers_truncated = false;
	req->retry_after[0] = '\0';
	req->refused[0] = '\0';
	req->errbuf[0] = '\0';

	uint64_t connect = req->params.connect_timeout_ms < left ? req->params.connect_timeout_ms : left;
	if (curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)connect) != CURLE_OK)
		return BL_EINVAL;
	return 0;
}

int http_request_prepare_attempt(http_request_t *req, uint64_t now_ns)
{
	int rc = prepare_transfer(req, now_ns);
	if (rc < 0)
		return rc;

	req->redirects = 0;
	req->hop_as_get = false;
	return set_target(req, req->params.url);
}

static bool is_followed_status(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static bool is_http_url(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

CURLcode http_request_next_hop(http_request_t *req, uint64_t now_ns, bool *followed)
{
	const http_params_t *p = &req->params;
	long status = 0;
	char *location = NULL;

	*followed = false;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, &location);
	if (!is_followed_status(status) || !location || p->max_redirects == 0)
		return CURLE_OK;
	if (req->redirects >= (unsigned long)p->max_redirects)
		return CURLE_TOO_MANY_REDIRECTS;
	if (!is_http_url(location))
		return CURLE_UNSUPPORTED_PROTOCOL;

	/* curl owns `location` and may reuse its memory once the URL changes. */
	char *url = strdup(location);
	if (!url)
		return CURLE_OUT_OF_MEMORY;
	/* A POST that receives 301, 302 or 303 goes on as a GET without its body,
	 * as curl and browsers do; other methods keep their method and body. */
	if (strcmp(p->method, "POST") == 0 && status != 307 && status != 308)
		req->hop_as_get = true;
	int rc = prepare_transfer(req, now_ns);
	if (rc == 0)
		rc = set_target(req, url);
	free(url);
	if (rc == BL_ETIMEDOUT)
		return CURLE_OPERATION_TIMEDOUT;
	if (rc < 0)
		return CURLE_BAD_FUNCTION_ARGUMENT;

	req->redirects++;
	*followed = true;
	return CURLE_OK;
}
