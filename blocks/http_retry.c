/*
 * How an attempt ended and whether to try again. The block retries only
 * transient failures: connect errors and the statuses 429, 502, 503 and
 * 504. A request that may have reached the server is retried only when its
 * method is idempotent or the job allows it. A failed connect never sent
 * anything, so it is retried whatever the method.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_internal.h"

static void fail(http_attempt_t *a, int code, const char *error_code, bool retryable, http_breaker_verdict_t verdict)
{
	a->code = code;
	a->error_code = error_code;
	a->retryable = retryable;
	a->verdict = verdict;
}

static bool is_transient_status(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/* The transfer completed with a status: judge the status. */
static void judge_status(http_attempt_t *a, http_request_t *req, int64_t now_s)
{
	long status = a->status;
	const http_params_t *p = &req->params;

	a->request_sent = true;
	a->verdict = HTTP_BREAKER_SUCCESS;
	if (status >= 500)
		a->verdict = HTTP_BREAKER_FAILURE;
	else if (status == 429)
		a->verdict = HTTP_BREAKER_NEUTRAL; /* the host is up, only busy */
	a->transient = is_transient_status(status);
	if (a->transient && req->retry_after[0])
		(void)http_retry_after_parse(req->retry_after, now_s, &a->retry_after_ms);
	if (status < 400 || !p->fail_on_status)
		return;

	a->code = BL_EINVAL;
	a->error_code = "http_status";
	a->retryable = a->transient;
	char url[HTTP_URL_SHOWN_MAX];
	snprintf(a->message, sizeof a->message, "%s %s returned HTTP status %ld", p->method,
		 http_url_for_message(url, p->url), status);
}

/* The transfer timed out. Each attempt's transfer timeout is the request's
 * time left, so a timeout before the deadline is the connect timeout. */
static void judge_timeout(http_attempt_t *a, http_request_t *req, uint64_t now_ns)
{
	const http_params_t *p = &req->params;

	if (http_request_time_left_ms(req, now_ns) > 0) {
		fail(a, BL_ETIMEDOUT, "connect_timeout", true, HTTP_BREAKER_FAILURE);
		a->transient = true;
		a->request_sent = false;
		snprintf(a->message, sizeof a->message, "%s %.200s: no connection within %llu ms (params.connect_timeout_ms)",
			 p->method, p->url, (unsigned long long)p->connect_timeout_ms);
		return;
	}
	fail(a, BL_ETIMEDOUT, "timeout", true, HTTP_BREAKER_FAILURE);
	a->field = "params.timeout_ms";
	snprintf(a->message, sizeof a->message, "%s %.200s timed out after %llu ms (params.timeout_ms)", p->method,
		 p->url, (unsigned long long)p->timeout_ms);
}

/* The transfer failed before a complete response: judge curl's code.
 * Codes (an enum of 100 values) are tested with ifs, not a switch, since
 * only a handful matter and the rest share one outcome. */
static void judge_transfer(http_attempt_t *a, http_request_t *req, CURLcode result, uint64_t now_ns)
{
	const char *why = req->errbuf[0] ? req->errbuf : curl_easy_strerror(result);
	const http_params_t *p = &req->params;

	a->request_sent = true;
	if (result == CURLE_OPERATION_TIMEDOUT) {
		judge_timeout(a, req, now_ns);
		return;
	}
	if (result == CURLE_FILESIZE_EXCEEDED || (result == CURLE_WRITE_ERROR && req->too_large)) {
		fail(a, BL_ELIMIT, "response_too_large", false, HTTP_BREAKER_NEUTRAL);
		a->field = "params.max_response_bytes";
		snprintf(a->message, sizeof a->message,
			 "%s %.200s: the response body is larger than %llu bytes (params.max_response_bytes)", p->method,
			 p->url, (unsigned long long)p->max_response_bytes);
		return;
	}
	if (result == CURLE_TOO_MANY_REDIRECTS) {
		fail(a, BL_ELIMIT, "too_many_redirects", false, HTTP_BREAKER_SUCCESS);
		a->field = "params.max_redirects";
		snprintf(a->message, sizeof a->message, "%s %.200s: more than %ld redirects (params.max_redirects)",
			 p->method, p->url, p->max_redirects);
		return;
	}

	if (result == CURLE_COULDNT_RESOLVE_HOST || result == CURLE_COULDNT_CONNECT) {
		fail(a, -ECONNREFUSED, result == CURLE_COULDNT_CONNECT ? "connect_failed" : "resolve_failed", true,
		     HTTP_BREAKER_FAILURE);
		a->transient = true;
		a->request_sent = false;
	} else if (result == CURLE_WRITE_ERROR) {
		/* The write callback ran out of memory. */
		fail(a, BL_ENOMEM, "out_of_memory", true, HTTP_BREAKER_NEUTRAL);
	} else if (result == CURLE_UNSUPPORTED_PROTOCOL && a->status >= 300 && a->status < 400) {
		/* The URL's own scheme was checked, so this is a redirect's. */
		fail(a, BL_EINVAL, "redirect_not_allowed", false, HTTP_BREAKER_SUCCESS);
	} else if (result == CURLE_UNSUPPORTED_PROTOCOL) {
		/* No status line (HTTP/0.9) or a status below 100: not HTTP. */
		fail(a, -EPROTO, "invalid_response", false, HTTP_BREAKER_FAILURE);
	} else {
		fail(a, -EIO, "transfer_failed", true, HTTP_BREAKER_FAILURE);
	}
	char url[HTTP_URL_SHOWN_MAX];
	snprintf(a->message, sizeof a->message, "%s %s failed: %.150s", p->method, http_url_for_message(url, p->url),
		 why);
}

void http_attempt_judge(http_attempt_t *a, http_request_t *req, CURLcode result, uint64_t now_ns)
{
	memset(a, 0, sizeof *a);
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &a->status);

	/* NOTE: when a name resolves to several addresses, the guard refused
	 * one and the others failed to connect, the refusal is what is
	 * reported: it is the failure the operator can act on. */
	if (req->refused[0] && result == CURLE_COULDNT_CONNECT) {
		fail(a, -EACCES, "address_not_allowed", false, HTTP_BREAKER_NEUTRAL);
		a->field = "params.url";
		char url[HTTP_URL_SHOWN_MAX];
		snprintf(a->message, sizeof a->message, "%s %s: %.260s", req->params.method,
			 http_url_for_message(url, req->params.url), req->refused);
		return;
	}
	if (result == CURLE_OK)
		judge_status(a, req, (int64_t)time(NULL));
	else
		judge_transfer(a, req, result, now_ns);
}

int64_t http_retry_wait_ms(const http_request_t *req, const http_attempt_t *a, uint64_t now_ns, uint64_t random)
{
	const http_params_t *p = &req->params;

	if (!a->transient || req->attempts >= p->max_attempts)
		return -1;
	if (a->request_sent && !http_method_is_idempotent(p->method) && !p->retry_non_idempotent)
		return -1;

	/* Full jitter: uniform in [0, min(max_backoff, backoff * 2^(n - 1))]
	 * after the n-th attempt. */
	uint64_t cap = p->backoff_ms;
	for (unsigned i = 1; i < req->attempts && cap < p->max_backoff_ms; i++)
		cap *= 2;
	if (cap > p->max_backoff_ms)
		cap = p->max_backoff_ms;
	uint64_t wait = cap ? random % (cap + 1) : 0;

	uint64_t after = a->retry_after_ms;
	if (after > req->svc->cfg.retry_max_retry_after_ms)
		after = req->svc->cfg.retry_max_retry_after_ms;
	if (after > wait)
		wait = after;

	/* A retry that could not finish before the deadline is not worth
	 * starting. */
	if (wait >= http_request_time_left_ms(req, now_ns))
		return -1;
	return (int64_t)wait;
}

int http_retry_after_parse(const char *value, int64_t now, uint64_t *out)
{
	char *end;

	if (*value >= '0' && *value <= '9') {
		errno = 0;
		unsigned long long s = strtoull(value, &end, 10);
		if (*end || errno || s > UINT64_MAX / 1000u)
			return -1;
		*out = (uint64_t)s * 1000u;
		return 0;
	}
	time_t when = curl_getdate(value, NULL);
	if (when == (time_t)-1)
		return -1;
	*out = (int64_t)when > now ? (uint64_t)((int64_t)when - now) * 1000u : 0;
	return 0;
}
