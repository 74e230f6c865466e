/*
 * The config file's "http" section: defaults, limits, and a check of every
 * key with an error that names it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

#define DAY_MS 86400000u

static int parse_allow(http_config_t *cfg, const json_t *allow, bl_error_t *err)
{
	if (!allow)
		return 0;
	if (!json_is_array(allow))
		return bl_error_set(err, BL_EINVAL, "http.allow",
				    "http.allow: expected an array of CIDR strings such as \"127.0.0.1/32\"");

	size_t n = json_array_size(allow);
	cfg->allow = calloc(n ? n : 1, sizeof *cfg->allow);
	if (!cfg->allow)
		return bl_error_set(err, BL_ENOMEM, "http.allow", "out of memory reading http.allow");
	for (size_t i = 0; i < n; i++) {
		const char *text = json_string_value(json_array_get(allow, i));
		const char *why = "expected a string";
		char path[48];

		snprintf(path, sizeof path, "http.allow[%zu]", i);
		if (!text || http_cidr_parse(&cfg->allow[i], text, &why) < 0)
			return bl_error_set(err, BL_EINVAL, path, "%s: %s, got %s", path, why,
					    text ? text : "a value that is not a string");
	}
	cfg->n_allow = n;
	return 0;
}

static int parse_breaker(http_config_t *cfg, const json_t *b, bl_error_t *err)
{
	static const char *const known[] = {"failures", "window_ms", "cooldown_ms", "max_hosts", NULL};
	uint64_t failures = cfg->breaker.failures, hosts = cfg->max_hosts;
	int rc;

	if (!b)
		return 0;
	if (!json_is_object(b))
		return bl_error_set(err, BL_EINVAL, "http.breaker", "http.breaker: expected an object");
	if ((rc = http_json_check_keys(b, known, "http.breaker.", "unknown key in the http config section", err)) < 0 ||
	    (rc = http_json_uint(b, "failures", "http.breaker.failures", 1, 1000, &failures, err)) < 0 ||
	    (rc = http_json_uint(b, "window_ms", "http.breaker.window_ms", 1, DAY_MS, &cfg->breaker.window_ms, err)) < 0 ||
	    (rc = http_json_uint(b, "cooldown_ms", "http.breaker.cooldown_ms", 1, DAY_MS, &cfg->breaker.cooldown_ms,
			    err)) < 0 ||
	    (rc = http_json_uint(b, "max_hosts", "http.breaker.max_hosts", 1, 1000000, &hosts, err)) < 0)
		return rc;
	cfg->breaker.failures = (unsigned)failures;
	cfg->max_hosts = (unsigned)hosts;
	return 0;
}

static int parse_retry(http_config_t *cfg, const json_t *r, bl_error_t *err)
{
	static const char *const known[] = {"attempts", "max_attempts", "backoff_ms", "max_backoff_ms",
					    "max_retry_after_ms", NULL};
	uint64_t attempts = cfg->retry_attempts, max_attempts = cfg->retry_max_attempts;
	int rc;

	if (!r)
		return 0;
	if (!json_is_object(r))
		return bl_error_set(err, BL_EINVAL, "http.retry", "http.retry: expected an object");
	if ((rc = http_json_check_keys(r, known, "http.retry.", "unknown key in the http config section", err)) < 0 ||
	    (rc = http_json_uint(r, "max_attempts", "http.retry.max_attempts", 1, 100, &max_attempts, err)) < 0 ||
	    (rc = http_json_uint(r, "attempts", "http.retry.attempts", 1, 100, &attempts, err)) < 0 ||
	    (rc = http_json_uint(r, "max_backoff_ms", "http.retry.max_backoff_ms", 0, DAY_MS, &cfg->retry_max_backoff_ms,
			    err)) < 0 ||
	    (rc = http_json_uint(r, "backoff_ms", "http.retry.backoff_ms", 0, DAY_MS, &cfg->retry_backoff_ms, err)) < 0 ||
	    (rc = http_json_uint(r, "max_retry_after_ms", "http.retry.max_retry_after_ms", 0, DAY_MS,
			    &cfg->retry_max_retry_after_ms, err)) < 0)
		return rc;
	if (attempts > max_attempts)
		return bl_error_set(err, BL_EINVAL, "http.retry.attempts",
				    "http.retry.attempts: %llu is more than http.retry.max_attempts (%llu)",
				    (unsigned long long)attempts, (unsigned long long)max_attempts);
	if (cfg->retry_backoff_ms > cfg->retry_max_backoff_ms)
		return bl_error_set(err, BL_EINVAL, "http.retry.backoff_ms",
				    "http.retry.backoff_ms: %llu is more than http.retry.max_backoff_ms (%llu)",
				    (unsigned long long)cfg->retry_backoff_ms,
				    (unsigned long long)cfg->retry_max_backoff_ms);
	cfg->retry_attempts = (unsigned)attempts;
	cfg->retry_max_attempts = (unsigned)max_attempts;
	return 0;
}

static int parse_user_agent(http_config_t *cfg, const json_t *ua, bl_error_t *err)
{
	const char *text = ua ? json_string_value(ua) : "beamline-engine/0.1";

	if (!text || strlen(text) > 256 || strpbrk(text, "\r\n"))
		return bl_error_set(err, BL_EINVAL, "http.user_agent",
				    "http.user_agent: expected a string of at most 256 characters without line breaks");
	cfg->user_agent = strdup(text);
	if (!cfg->user_agent)
		return bl_error_set(err, BL_ENOMEM, "http.user_agent", "out of memory");
	return 0;
}

static void set_defaults(http_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->timeout_ms = 30000;
	cfg->max_timeout_ms = 300000;
	cfg->connect_timeout_ms = 10000;
	cfg->max_response_bytes = 10u * 1024 * 1024;
	cfg->max_redirects = 5;
	cfg->breaker = (http_breaker_config_t){.failures = 5, .window_ms = 30000, .cooldown_ms = 10000};
	cfg->max_hosts = 1024;
	cfg->retry_attempts = 3;
	cfg->retry_max_attempts = 5;
	cfg->retry_backoff_ms = 100;
	cfg->retry_max_backoff_ms = 10000;
	cfg->retry_max_retry_after_ms = 30000;
}

/* The scalar keys of the section, and how they relate to one another. */
static int parse_limits(http_config_t *cfg, const json_t *s, bl_error_t *err)
{
	uint64_t redirects = (uint64_t)cfg->max_redirects;
	int rc;

	if ((rc = http_json_uint(s, "max_timeout_ms", "http.max_timeout_ms", 1, DAY_MS, &cfg->max_timeout_ms, err)) < 0 ||
	    (rc = http_json_uint(s, "timeout_ms", "http.timeout_ms", 1, DAY_MS, &cfg->timeout_ms, err)) < 0 ||
	    (rc = http_json_uint(s, "connect_timeout_ms", "http.connect_timeout_ms", 1, DAY_MS, &cfg->connect_timeout_ms,
			    err)) < 0 ||
	    (rc = http_json_uint(s, "max_response_bytes", "http.max_response_bytes", 1, 1ull << 30,
			    &cfg->max_response_bytes, err)) < 0 ||
	    (rc = http_json_uint(s, "max_redirects", "http.max_redirects", 0, 50, &redirects, err)) < 0)
		return rc;
	if (cfg->timeout_ms > cfg->max_timeout_ms)
		return bl_error_set(err, BL_EINVAL, "http.timeout_ms",
				    "http.timeout_ms: %llu is more than http.max_timeout_ms (%llu)",
				    (unsigned long long)cfg->timeout_ms, (unsigned long long)cfg->max_timeout_ms);
	cfg->max_redirects = (long)redirects;
	return 0;
}

int http_config_parse(http_config_t *cfg, const json_t *s, bl_error_t *err)
{
	static const char *const known[] = {"allow", "timeout_ms", "max_timeout_ms", "connect_timeout_ms",
					    "max_response_bytes", "max_redirects", "breaker", "retry",
					    "user_agent", NULL};
	int rc;

	set_defaults(cfg);
	if (s && !json_is_object(s))
		return bl_error_set(err, BL_EFORMAT, "http", "http: the section must be a JSON object");
	if (s && ((rc = http_json_check_keys(s, known, "http.", "unknown key in the http config section", err)) < 0 || (rc = parse_limits(cfg, s, err)) < 0 ||
		  (rc = parse_breaker(cfg, json_object_get(s, "breaker"), err)) < 0 ||
		  (rc = parse_retry(cfg, json_object_get(s, "retry"), err)) < 0 ||
		  (rc = parse_allow(cfg, json_object_get(s, "allow"), err)) < 0))
		goto err_clear;
	rc = parse_user_agent(cfg, s ? json_object_get(s, "user_agent") : NULL, err);
	if (rc < 0)
		goto err_clear;
	return 0;

err_clear:
	http_config_clear(cfg);
	return rc;
}

void http_config_clear(http_config_t *cfg)
{
	free(cfg->allow);
	cfg->allow = NULL;
	cfg->n_allow = 0;
	free(cfg->user_agent);
	cfg->user_agent = NULL;
}
