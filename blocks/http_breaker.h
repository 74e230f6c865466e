/*
 * Per-origin circuit breakers for the HTTP block, shared by every job of an
 * engine and safe to call from any thread.
 *
 * A host's breaker is closed until `failures` failures fall within
 * `window_ms`; it then opens and refuses requests for `cooldown_ms`. The
 * first request after the cool-down is let through as a trial (half-open)
 * while every other request is still refused: a success closes the
 * breaker, a failure opens it again for another cool-down. A trial that
 * ends without a verdict (cancelled, refused by the address guard) gives
 * the trial slot back.
 */
#ifndef BL_HTTP_BREAKER_H
#define BL_HTTP_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include <beamline/error.h>

typedef struct http_breakers http_breakers_t;

typedef struct http_breaker_config {
	unsigned failures;    /* failures that open the breaker, at least 1 */
	uint64_t window_ms;   /* within this span */
	uint64_t cooldown_ms; /* how long it stays open before a trial */
} http_breaker_config_t;

/* What a request may do. */
typedef enum http_breaker_pass {
	HTTP_BREAKER_ALLOW, /* closed: go ahead */
	HTTP_BREAKER_TRIAL, /* half-open: go ahead as the one trial request */
	HTTP_BREAKER_REFUSE /* open, or a trial is already running */
} http_breaker_pass_t;

/* How a request ended, as far as the breaker cares. */
typedef enum http_breaker_verdict {
	HTTP_BREAKER_SUCCESS, /* the host responded */
	HTTP_BREAKER_FAILURE, /* connect error, timeout, 5xx */
	HTTP_BREAKER_NEUTRAL  /* no evidence about the host either way */
} http_breaker_verdict_t;

/*
 * Make an empty set of breakers tracking at most `max_hosts` hosts. Returns
 * 0 and an owned set (free with http_breakers_free), BL_EINVAL for a
 * failures count of 0 or above 1000, or BL_ENOMEM.
 */
int http_breakers_new(http_breakers_t **out, const http_breaker_config_t *cfg, unsigned max_hosts);

/* Free the set. Takes *set; NULL is fine. */
void http_breakers_free(http_breakers_t **set);

/*
 * Ask whether a request to `host` (borrowed; an origin key from
 * http_origin_key, "scheme://name:port") may start at
 * `now_ms` (any monotonic clock, the same for every call). On
 * HTTP_BREAKER_REFUSE, *retry_in_ms (may be NULL) gets the time until the
 * breaker lets a trial through, or 0 when a trial is already running.
 */
http_breaker_pass_t http_breakers_acquire(http_breakers_t *set, const char *host, uint64_t now_ms,
					  uint64_t *retry_in_ms);

/* Record how a request that `acquire` let through ended; `pass` is what
 * acquire returned for it. */
void http_breakers_record(http_breakers_t *set, const char *host, http_breaker_pass_t pass,
			  http_breaker_verdict_t verdict, uint64_t now_ms);

#endif
