/*
 * The HTTP block's parts and what they share: the settings (http_config.c),
 * a job's parameters (http_params.c), the client actor that drives libcurl
 * (http_client.c), one request's transfer (http_request.c), the retry
 * policy (http_retry.c) and the block itself (http.c).
 */
#ifndef BL_HTTP_INTERNAL_H
#define BL_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include <beamline/blocks.h>
#include <beamline/http_service.h>

#include "http_addr.h"
#include "http_breaker.h"

/* ------------------------------------------------------------------------ */
/* Reading JSON settings and parameters (http_json.c)                        */
/* ------------------------------------------------------------------------ */

/* Return `obj` without const, for jansson's iteration macros, which take a
 * json_t * although they do not modify the object. */
json_t *http_json_unconst(const json_t *obj);

/* Read the optional integer `key` of `obj` into *out, which keeps its value
 * when the key is absent. It must lie in [min, max]; `path` names it in
 * the error. Returns 0 or BL_EINVAL. */
int http_json_uint(const json_t *obj, const char *key, const char *path, uint64_t min, uint64_t max, uint64_t *out,
		   bl_error_t *err);

/* Reject a key of `obj` that is not in `known` (NULL-terminated): the error
 * names it as `prefix` + key, followed by `what` ("unknown parameter").
 * Returns 0 or BL_EINVAL. */
int http_json_check_keys(const json_t *obj, const char *const *known, const char *prefix, const char *what,
			 bl_error_t *err);

/* ------------------------------------------------------------------------ */
/* Settings: the config file's "http" section                               */
/* ------------------------------------------------------------------------ */

typedef struct http_config {
	http_cidr_t *allow;               /* addresses let through the guard */
	size_t n_allow;
	uint64_t timeout_ms;              /* default total time of a request, retries included */
	uint64_t max_timeout_ms;          /* largest timeout_ms a job may ask for */
	uint64_t connect_timeout_ms;      /* default time to connect, per attempt */
	uint64_t max_response_bytes;      /* default and largest body size */
	long max_redirects;               /* default and largest redirect count */
	http_breaker_config_t breaker;
	unsigned max_hosts;               /* hosts the breakers track */
	unsigned retry_attempts;          /* default attempts per request */
	unsigned retry_max_attempts;      /* largest attempts a job may ask for */
	uint64_t retry_backoff_ms;        /* default first back-off cap */
	uint64_t retry_max_backoff_ms;    /* largest back-off cap */
	uint64_t retry_max_retry_after_ms; /* longest Retry-After wait honoured */
	char *user_agent;
} http_config_t;

/* Fill *cfg from `section` (NULL: defaults). Returns 0, or BL_EINVAL /
 * BL_EFORMAT / BL_ENOMEM with *err naming the key ("http.breaker.failures"). */
int http_config_parse(http_config_t *cfg, const json_t *section, bl_error_t *err);

/* Free what http_config_parse() allocated. */
void http_config_clear(http_config_t *cfg);

/* ------------------------------------------------------------------------ */
/* Origins (http_origin.c)                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Write the origin of `url` to `out` as "scheme://host:port": lower case,
 * without a trailing dot on the name, IPv4 in dotted decimal and the
 * scheme's default port spelled out. Two URLs on the same origin get the
 * same text. Returns 0, BL_EINVAL when `url` is not a valid absolute URL
 * or its origin does not fit in `size`, or BL_ENOMEM.
 */
int http_origin_key(char *out, size_t size, const char *url);

/* ------------------------------------------------------------------------ */
/* URLs in results and messages (http_url.c)                                 */
/* ------------------------------------------------------------------------ */

/* Bytes of a URL quoted in an error message, the terminating NUL included. */
#define HTTP_URL_SHOWN_MAX 160

/* Return a copy of `url` without its user name and password
 * ("http://u:p@host/x" becomes "http://host/x"), owned by the caller
 * (free it), or NULL when out of memory. A relative URL is copied as it
 * is. */
char *http_url_without_userinfo(const char *url);

/* Write `url` into `out`, cut to fit, with its user name and password
 * replaced by "***". Returns `out`. */
const char *http_url_for_message(char out[static HTTP_URL_SHOWN_MAX], const char *url);

/* ------------------------------------------------------------------------ */
/* A job's parameters                                                        */
/* ------------------------------------------------------------------------ */

typedef enum http_response_mode {
	HTTP_RESPONSE_AUTO, /* JSON when the Content-Type names JSON */
	HTTP_RESPONSE_JSON,
	HTTP_RESPONSE_RAW
} http_response_mode_t;

/* "https://" + a 253-byte name or a bracketed IPv6 literal + ":65535" */
#define HTTP_HOST_KEY_MAX 300

typedef struct http_params {
	char method[16];
	char *url;
	char host_key[HTTP_HOST_KEY_MAX]; /* the URL's origin (http_origin_key): the breaker's key */
	struct curl_slist *headers;       /* request headers, owned */
	struct curl_slist *cross_origin_headers; /* the subset sent after a redirect to another origin, owned */
	char *body;                       /* owned; NULL: no body */
	size_t body_len;
	http_response_mode_t response;
	char **keep_headers;              /* response headers to return, lower case; NULL: all */
	size_t n_keep_headers;
	uint64_t connect_timeout_ms;
	uint64_t timeout_ms;
	uint64_t max_response_bytes;
	long max_redirects;
	unsigned max_attempts;
	uint64_t backoff_ms;
	uint64_t max_backoff_ms;
	bool retry_non_idempotent;
	bool fail_on_status;              /* a status of 400 or more fails the job */
} http_params_t;

/*
 * Check `params` against `cfg` and fill *out. Returns 0, or BL_EINVAL /
 * BL_EFORMAT / BL_ENOMEM with *err naming the field ("params.url"). On
 * failure *out has nothing to free.
 */
int http_params_parse(http_params_t *out, const json_t *params, const http_config_t *cfg, bl_error_t *err);

/* Add a "traceparent" header that continues the job's trace with a new
 * parent id, unless the job sets that header itself or has no valid trace.
 * Returns 0 or BL_ENOMEM. */
int http_params_add_trace(http_params_t *p, const char *traceparent);

/* Free what http_params_parse() allocated. */
void http_params_clear(http_params_t *p);

/* Return whether retrying `method` cannot repeat a side effect (RFC 9110
 * section 9.2.2). */
bool http_method_is_idempotent(const char *method);

/* ------------------------------------------------------------------------ */
/* The service                                                               */
/* ------------------------------------------------------------------------ */

struct bl_http_service {
	http_config_t cfg;
	http_breakers_t *breakers;
	bl_actor_t **clients; /* one reference each; NULL entries after stop */
	unsigned n_clients;
	atomic_uint next_client;
	atomic_uint_fast64_t next_id;
};

/* ------------------------------------------------------------------------ */
/* One request                                                               */
/* ------------------------------------------------------------------------ */

/* Response headers kept per response: at most this many, and this many
 * bytes in all. */
#define HTTP_HEADERS_MAX 100u
#define HTTP_HEADER_BYTES_MAX (64u * 1024u)

typedef struct http_request http_request_t;

struct http_request {
	/* Set at start, read-only afterwards. */
	uint64_t id;
	http_params_t params;
	bl_http_service_t *svc;
	bl_cancel_hook_t *hook;
	bl_cancel_t *cancel;
	bl_block_done_fn done;
	void *done_ctx;
	uint64_t start_ns;
	uint64_t deadline_ns;

	/* Owned by the client actor. */
	http_request_t *prev, *next;   /* the client's list */
	CURL *easy;
	bool in_multi;                 /* added to the client's multi handle */
	bool waiting;                  /* backing off before the next attempt */
	bl_timer_id_t backoff_timer;
	unsigned attempts;
	unsigned redirects;            /* redirects followed in this attempt */
	bool hop_as_get;               /* a redirect turned the POST into a GET */
	http_breaker_pass_t pass;      /* the breaker's decision for this attempt */

	/* The current attempt's response. */
	char *body;
	size_t body_len, body_cap;
	bool too_large;
	json_t *headers;               /* name (lower case) -> value */
	size_t header_bytes;
	bool headers_truncated;
	char retry_after[64];
	char refused[384];             /* the address guard's reason, "" when none */
	char errbuf[CURL_ERROR_SIZE];
};

/*
 * Make a request from parsed `params` (taken: *params is cleared). Returns
 * an owned request (free with http_request_free) or NULL when memory runs
 * out.
 */
http_request_t *http_request_new(bl_http_service_t *svc, http_params_t *params, const bl_block_env_t *env,
				 bl_block_done_fn done, void *ctx);

/* Free a request and its easy handle; it must not be in a multi handle. */
void http_request_free(http_request_t **req);

/*
 * Set up the easy handle for the next attempt: the job's URL, method and
 * headers, fresh response buffers and the time left as the transfer's
 * timeout. Returns 0, BL_ETIMEDOUT when no time is left, or BL_EINVAL when
 * curl rejects an option.
 */
int http_request_prepare_attempt(http_request_t *req, uint64_t now_ns);

/*
 * Prepare the easy handle to follow the redirect that the finished transfer
 * received, if it is one to follow (301, 302, 303, 307 or 308 with a
 * Location, and params.max_redirects above 0). Sets *followed when the
 * handle is ready to be added to the multi handle again. Otherwise returns
 * the code to judge the transfer by: CURLE_OK (the response is the
 * result), CURLE_TOO_MANY_REDIRECTS, CURLE_UNSUPPORTED_PROTOCOL (a
 * redirect to a scheme other than http or https), CURLE_OPERATION_TIMEDOUT
 * (no time left), CURLE_OUT_OF_MEMORY or CURLE_BAD_FUNCTION_ARGUMENT.
 */
CURLcode http_request_next_hop(http_request_t *req, uint64_t now_ns, bool *followed);

/* Return the milliseconds left before the request's deadline; 0 when it
 * has passed. */
uint64_t http_request_time_left_ms(const http_request_t *req, uint64_t now_ns);

/* ------------------------------------------------------------------------ */
/* How an attempt ended, and what to do about it (http_retry.c)              */
/* ------------------------------------------------------------------------ */

typedef struct http_attempt {
	int code;                        /* 0: the job succeeded; else a BL_E* or -errno */
	const char *error_code;          /* "http_status", "connect_failed", ... */
	const char *field;               /* the parameter at fault, or NULL */
	char message[BL_ERROR_MESSAGE_MAX];
	bool retryable;                  /* the job may be retried later */
	bool transient;                  /* the block may retry now */
	bool request_sent;               /* the server may have seen the request */
	http_breaker_verdict_t verdict;
	uint64_t retry_after_ms;         /* the server's Retry-After, 0: none */
	long status;
} http_attempt_t;

/* Judge the end of one transfer: curl's `result` plus the response held
 * in `req`. */
void http_attempt_judge(http_attempt_t *out, http_request_t *req, CURLcode result, uint64_t now_ns);

/*
 * Decide the wait before another attempt. Returns the milliseconds (0 is a
 * valid wait), or -1 when the request must not be retried: no attempts
 * left, a failure that is not transient, a method that is not idempotent
 * after the request went out, or no time left for the wait. `random` is a uniform 64-bit
 * value for the jitter.
 */
int64_t http_retry_wait_ms(const http_request_t *req, const http_attempt_t *a, uint64_t now_ns, uint64_t random);

/* Parse a Retry-After value (delay-seconds or an HTTP-date) into
 * milliseconds from `now` (seconds since the epoch). Returns 0 and *out,
 * or -1 when the value is neither. A date in the past gives 0. */
int http_retry_after_parse(const char *value, int64_t now, uint64_t *out);

/* Build the result of a finished request: status, headers, body, timing,
 * attempts. Returns a new reference, or NULL with *a set to the failure
 * (a body that is not the JSON it claims to be, out of memory). */
json_t *http_result_build(http_request_t *req, http_attempt_t *a);

/* ------------------------------------------------------------------------ */
/* The client actor                                                          */
/* ------------------------------------------------------------------------ */

/* Spawn a client actor on `pool` for `svc` (borrowed; it must outlive the
 * actor). Returns as bl_actor_spawn(). */
int http_client_spawn(bl_actor_t **out, bl_pool_t *pool, bl_http_service_t *svc);

/*
 * Hand `*req` to `client`, which takes it: the client reports through the
 * request's done callback exactly once, also when it has already stopped.
 * Sets *req to NULL.
 */
void http_client_submit(bl_actor_t *client, http_request_t **req);

/* The message type that cancels request `id` on its client. */
uint32_t http_client_cancel_type(uint64_t id);

/* Return the monotonic clock in nanoseconds. */
uint64_t http_now_ns(void);

#endif
