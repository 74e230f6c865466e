/*
 * An http job's parameters and the config file's "http" section: every
 * bad value is refused with an error that names the field or key, and
 * good values land where they belong. Nothing is sent.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include <beamline/services.h>

static json_t *parse_json(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_ALLOW_NUL, &jerr);
	cr_assert_not_null(v, "bad test JSON %s: %s", text, jerr.text);
	return v;
}

static void default_config(http_config_t *cfg)
{
	bl_error_t err;
	cr_assert_eq(http_config_parse(cfg, NULL, &err), 0);
}

typedef struct bad_case {
	const char *params;
	const char *field;
} bad_case_t;

/* Each bad parameter, alone in an otherwise valid job, is refused with its
 * field named in err.field and in the message. */
Test(blocks_http_params, bad_params_name_their_field)
{
	static const bad_case_t cases[] = {
		{"[]", "params"},
		{"{}", "params.url"},
		{"{\"url\": 7}", "params.url"},
		{"{\"url\": \"ftp://127.0.0.1/x\"}", "params.url"},
		{"{\"url\": \"file:///etc/passwd\"}", "params.url"},
		{"{\"url\": \"not a url\"}", "params.url"},
		{"{\"url\": \"http://127.0.0.1/\", \"method\": \"get\"}", "params.method"},
		{"{\"url\": \"http://127.0.0.1/\", \"method\": \"TRACE\"}", "params.method"},
		{"{\"url\": \"http://127.0.0.1/\", \"headers\": []}", "params.headers"},
		{"{\"url\": \"http://127.0.0.1/\", \"headers\": {\"Bad Name\": \"x\"}}", "params.headers.Bad Name"},
		{"{\"url\": \"http://127.0.0.1/\", \"headers\": {\"X\": 1}}", "params.headers.X"},
		{"{\"url\": \"http://127.0.0.1/\", \"headers\": {\"X\": \"a\\r\\nInjected: 1\"}}", "params.headers.X"},
		{"{\"url\": \"http://127.0.0.1/\", \"headers\": {\"X\": \"a\\u0000b\"}}", "params.headers.X"},
		{"{\"url\": \"http://127.0.0.1/\", \"headers\": {\"Content-Length\": \"0\"}}", "params.headers.Content-Length"},
		{"{\"url\": \"http://127.0.0.1/\", \"headers\": {\"transfer-encoding\": \"chunked\"}}",
		 "params.headers.transfer-encoding"},
		{"{\"url\": \"http://127.0.0.1/\", \"method\": \"HEAD\", \"body\": \"x\"}", "params.body"},
		{"{\"url\": \"http://127.0.0.1/\", \"response\": \"xml\"}", "params.response"},
		{"{\"url\": \"http://127.0.0.1/\", \"response_headers\": \"all\"}", "params.response_headers"},
		{"{\"url\": \"http://127.0.0.1/\", \"response_headers\": [\"ok\", 3]}", "params.response_headers[1]"},
		{"{\"url\": \"http://127.0.0.1/\", \"timeout_ms\": 0}", "params.timeout_ms"},
		{"{\"url\": \"http://127.0.0.1/\", \"timeout_ms\": 300001}", "params.timeout_ms"},
		{"{\"url\": \"http://127.0.0.1/\", \"timeout_ms\": \"5\"}", "params.timeout_ms"},
		{"{\"url\": \"http://127.0.0.1/\", \"connect_timeout_ms\": -1}", "params.connect_timeout_ms"},
		{"{\"url\": \"http://127.0.0.1/\", \"max_response_bytes\": 20000000}", "params.max_response_bytes"},
		{"{\"url\": \"http://127.0.0.1/\", \"max_redirects\": 6}", "params.max_redirects"},
		{"{\"url\": \"http://127.0.0.1/\", \"retry\": 3}", "params.retry"},
		{"{\"url\": \"http://127.0.0.1/\", \"retry\": {\"max_attempts\": 0}}", "params.retry.max_attempts"},
		{"{\"url\": \"http://127.0.0.1/\", \"retry\": {\"max_attempts\": 6}}", "params.retry.max_attempts"},
		{"{\"url\": \"http://127.0.0.1/\", \"retry\": {\"backoff_ms\": 20000}}", "params.retry.backoff_ms"},
		{"{\"url\": \"http://127.0.0.1/\", \"retry\": {\"max_backoff_ms\": 10001}}", "params.retry.max_backoff_ms"},
		{"{\"url\": \"http://127.0.0.1/\", \"retry\": {\"non_idempotent\": 1}}", "params.retry.non_idempotent"},
		{"{\"url\": \"http://127.0.0.1/\", \"retry\": {\"tries\": 2}}", "params.retry.tries"},
		{"{\"url\": \"http://127.0.0.1/\", \"fail_on_status\": \"no\"}", "params.fail_on_status"},
		{"{\"url\": \"http://127.0.0.1/\", \"timeout\": 5}", "params.timeout"},
	};
	http_config_t cfg;
	default_config(&cfg);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		http_params_t p;
		bl_error_t err = {0};
		json_t *params = parse_json(cases[i].params);

		int rc = http_params_parse(&p, params, &cfg, &err);

		cr_assert_lt(rc, 0, "%s was accepted", cases[i].params);
		cr_assert_str_eq(err.field, cases[i].field, "%s: expected field %s, got %s (%s)", cases[i].params,
				 cases[i].field, err.field, err.message);
		cr_assert_not_null(strstr(err.message, cases[i].field), "%s: the message does not name %s: %s",
				   cases[i].params, cases[i].field, err.message);
		json_decref(params);
	}
	http_config_clear(&cfg);
}

/* A full, valid job: each value lands in its place, defaults fill the
 * rest, and the host key carries the default port. */
Test(blocks_http_params, good_params_are_read)
{
	http_config_t cfg;
	http_params_t p;
	bl_error_t err = {0};
	default_config(&cfg);
	json_t *params = parse_json("{\"method\": \"POST\", \"url\": \"https://Example.COM/x?y=1\","
				    " \"headers\": {\"X-A\": \"1\", \"X-Empty\": \"\"}, \"body\": {\"k\": [1]},"
				    " \"response\": \"raw\", \"timeout_ms\": 1000, \"max_redirects\": 2,"
				    " \"retry\": {\"max_attempts\": 4, \"backoff_ms\": 5, \"non_idempotent\": true}}");

	cr_assert_eq(http_params_parse(&p, params, &cfg, &err), 0, "%s", err.message);

	cr_assert_str_eq(p.method, "POST");
	cr_assert_str_eq(p.host_key, "https://example.com:443");
	cr_assert_str_eq(p.body, "{\"k\":[1]}");
	cr_assert_eq(p.response, HTTP_RESPONSE_RAW);
	cr_assert_eq(p.timeout_ms, 1000);
	cr_assert_eq(p.connect_timeout_ms, cfg.connect_timeout_ms);
	cr_assert_eq(p.max_response_bytes, cfg.max_response_bytes);
	cr_assert_eq(p.max_redirects, 2);
	cr_assert_eq(p.max_attempts, 4);
	cr_assert_eq(p.backoff_ms, 5);
	cr_assert(p.retry_non_idempotent);
	cr_assert(p.fail_on_status);
	const char *expected[] = {"X-A: 1", "X-Empty;", "Content-Type: application/json", "Expect:"};
	size_t n = 0;
	for (struct curl_slist *h = p.headers; h; h = h->next, n++) {
		cr_assert_lt(n, 4, "more headers than expected: %s", h->data);
		cr_assert_str_eq(h->data, expected[n]);
	}
	cr_assert_eq(n, 4);
	http_params_clear(&p);
	json_decref(params);
	http_config_clear(&cfg);
}

/* GET, HEAD, PUT, DELETE and OPTIONS are idempotent; POST and PATCH not. */
Test(blocks_http_params, idempotent_methods)
{
	cr_assert(http_method_is_idempotent("GET"));
	cr_assert(http_method_is_idempotent("HEAD"));
	cr_assert(http_method_is_idempotent("PUT"));
	cr_assert(http_method_is_idempotent("DELETE"));
	cr_assert(http_method_is_idempotent("OPTIONS"));
	cr_assert_not(http_method_is_idempotent("POST"));
	cr_assert_not(http_method_is_idempotent("PATCH"));
}

/* Each bad key of the "http" section is refused with its name. */
Test(blocks_http_params, bad_config_names_its_key)
{
	static const bad_case_t cases[] = {
		{"[]", "http"},
		{"{\"allowed\": []}", "http.allowed"},
		{"{\"allow\": \"127.0.0.1\"}", "http.allow"},
		{"{\"allow\": [\"127.0.0.1/32\", \"10.0.0.1/8\"]}", "http.allow[1]"},
		{"{\"allow\": [\"127.0.0.1/32\", \"10.0.0.0/8\", \"localhost\"]}", "http.allow[2]"},
		{"{\"allow\": [5]}", "http.allow[0]"},
		{"{\"timeout_ms\": 0}", "http.timeout_ms"},
		{"{\"timeout_ms\": 600000}", "http.timeout_ms"},
		{"{\"max_timeout_ms\": \"1\"}", "http.max_timeout_ms"},
		{"{\"connect_timeout_ms\": -5}", "http.connect_timeout_ms"},
		{"{\"max_response_bytes\": 0}", "http.max_response_bytes"},
		{"{\"max_redirects\": 51}", "http.max_redirects"},
		{"{\"breaker\": 1}", "http.breaker"},
		{"{\"breaker\": {\"failures\": 0}}", "http.breaker.failures"},
		{"{\"breaker\": {\"window_ms\": 0}}", "http.breaker.window_ms"},
		{"{\"breaker\": {\"cooldown_ms\": 1.5}}", "http.breaker.cooldown_ms"},
		{"{\"breaker\": {\"max_hosts\": 0}}", "http.breaker.max_hosts"},
		{"{\"breaker\": {\"threshold\": 3}}", "http.breaker.threshold"},
		{"{\"retry\": {\"attempts\": 9}}", "http.retry.attempts"},
		{"{\"retry\": {\"max_attempts\": 0}}", "http.retry.max_attempts"},
		{"{\"retry\": {\"backoff_ms\": 20000}}", "http.retry.backoff_ms"},
		{"{\"retry\": {\"max_retry_after_ms\": -1}}", "http.retry.max_retry_after_ms"},
		{"{\"retry\": {\"jitter\": true}}", "http.retry.jitter"},
		{"{\"user_agent\": 5}", "http.user_agent"},
		{"{\"user_agent\": \"a\\nb\"}", "http.user_agent"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		http_config_t cfg;
		bl_error_t err = {0};
		json_t *section = parse_json(cases[i].params);

		int rc = http_config_parse(&cfg, section, &err);

		cr_assert_lt(rc, 0, "%s was accepted", cases[i].params);
		cr_assert_str_eq(err.field, cases[i].field, "%s: expected key %s, got %s (%s)", cases[i].params,
				 cases[i].field, err.field, err.message);
		cr_assert_not_null(strstr(err.message, cases[i].field), "%s: the message does not name %s: %s",
				   cases[i].params, cases[i].field, err.message);
		json_decref(section);
	}
}

/* A full section is read into the settings. */
Test(blocks_http_params, good_config_is_read)
{
	http_config_t cfg;
	bl_error_t err = {0};
	json_t *section = parse_json("{\"allow\": [\"127.0.0.1/32\", \"fd00::/8\"], \"timeout_ms\": 5000,"
				     " \"max_timeout_ms\": 9000, \"connect_timeout_ms\": 100, \"max_response_bytes\": 4096,"
				     " \"max_redirects\": 1, \"breaker\": {\"failures\": 2, \"window_ms\": 10,"
				     " \"cooldown_ms\": 20, \"max_hosts\": 3}, \"retry\": {\"attempts\": 2,"
				     " \"max_attempts\": 7, \"backoff_ms\": 1, \"max_backoff_ms\": 2,"
				     " \"max_retry_after_ms\": 3}, \"user_agent\": \"t/1\"}");

	cr_assert_eq(http_config_parse(&cfg, section, &err), 0, "%s", err.message);

	cr_assert_eq(cfg.n_allow, 2);
	cr_assert_eq(cfg.timeout_ms, 5000);
	cr_assert_eq(cfg.max_timeout_ms, 9000);
	cr_assert_eq(cfg.connect_timeout_ms, 100);
	cr_assert_eq(cfg.max_response_bytes, 4096);
	cr_assert_eq(cfg.max_redirects, 1);
	cr_assert_eq(cfg.breaker.failures, 2);
	cr_assert_eq(cfg.breaker.window_ms, 10);
	cr_assert_eq(cfg.breaker.cooldown_ms, 20);
	cr_assert_eq(cfg.max_hosts, 3);
	cr_assert_eq(cfg.retry_attempts, 2);
	cr_assert_eq(cfg.retry_max_attempts, 7);
	cr_assert_eq(cfg.retry_backoff_ms, 1);
	cr_assert_eq(cfg.retry_max_backoff_ms, 2);
	cr_assert_eq(cfg.retry_max_retry_after_ms, 3);
	cr_assert_str_eq(cfg.user_agent, "t/1");
	http_config_clear(&cfg);
	json_decref(section);
}

/* Retry-After: seconds, an HTTP-date in the future or past, and junk. */
Test(blocks_http_params, retry_after_values)
{
	uint64_t ms = 99;
	const int64_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	cr_assert_eq(http_retry_after_parse("120", now, &ms), 0);
	cr_assert_eq(ms, 120000);
	cr_assert_eq(http_retry_after_parse("Wed, 21 Oct 2015 07:28:30 GMT", now, &ms), 0);
	cr_assert_eq(ms, 30000, "got %llu", (unsigned long long)ms);
	cr_assert_eq(http_retry_after_parse("Wed, 21 Oct 2015 07:27:00 GMT", now, &ms), 0);
	cr_assert_eq(ms, 0, "a date in the past means no wait");
	cr_assert_eq(http_retry_after_parse("12abc", now, &ms), -1);
	cr_assert_eq(http_retry_after_parse("soon", now, &ms), -1);
}

static void keep_outcome(void *ctx, bl_block_outcome_t *o)
{
	*(bl_block_outcome_t **)ctx = o;
}

/* A service made without an I/O pool (the kernel refuses io_uring): the
 * parameters still pass prepare, and start reports "io_unavailable" at
 * once instead of queueing a request nobody would run. */
Test(blocks_http_params, start_without_io_pool_reports_io_unavailable)
{
	bl_block_services_t services = {0};
	bl_block_env_t env = {.services = &services, .data_dir = -1};
	bl_block_outcome_t *o = NULL;
	bl_error_t err = {0};
	uint64_t mem = 0;
	json_t *params = parse_json("{\"url\": \"http://127.0.0.1:1/\"}");
	const bl_block_t *block = bl_block_find("http");
	cr_assert_not_null(block);
	cr_assert_eq(bl_http_service_new(&services.http, NULL, NULL, &err), 0, "%s", err.message);

	int prepared = block->prepare(params, &env, &mem, &err);
	int started = block->start(params, &env, keep_outcome, &o);

	cr_assert_eq(prepared, 0, "prepare: %s", err.message);
	cr_assert_gt(mem, 0);
	cr_assert_eq(started, 0);
	cr_assert_not_null(o, "start reported nothing");
	cr_assert_str_eq(o->error_code, "io_unavailable");
	bl_block_outcome_free(&o);
	json_decref(params);
	bl_http_service_stop(services.http);
	bl_http_service_free(&services.http);
}

/* Spellings of one origin share one breaker key: case, a trailing dot,
 * numeric IPv4 forms, IPv4-mapped IPv6 literals and an explicit default
 * port do not matter, while another scheme or port is another origin. */
Test(blocks_http_params, host_key_is_canonical_origin)
{
	static const struct {
		const char *url, *key;
	} cases[] = {
		{"http://LOCALHOST/", "http://localhost:80"},
		{"http://localhost./x", "http://localhost:80"},
		{"HTTP://LocalHost.:80/", "http://localhost:80"},
		{"http://127.1/", "http://127.0.0.1:80"},
		{"http://127.0.0.1:80/", "http://127.0.0.1:80"},
		{"http://0x7f.0.0.1/", "http://127.0.0.1:80"},
		{"http://2130706433/", "http://127.0.0.1:80"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"https://127.0.0.1/", "https://127.0.0.1:443"},
		{"http://[0:0::1]/", "http://[::1]:80"},
		{"http://[::ffff:127.0.0.1]:8080/", "http://127.0.0.1:8080"},
		{"http://[::FFFF:7f00:1]/", "http://127.0.0.1:80"},
		{"http://[0:0:0:0:0:ffff:127.0.0.2]/", "http://127.0.0.2:80"},
		{"http://[::127.0.0.1]/", "http://[::127.0.0.1]:80"},
		{"http://[64:ff9b::127.0.0.1]/", "http://[64:ff9b::7f00:1]:80"},
		{"https://Example.COM./", "https://example.com:443"},
	};
	http_config_t cfg;
	default_config(&cfg);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		http_params_t p;
		bl_error_t err = {0};
		json_t *params = json_pack("{ss}", "url", cases[i].url);

		cr_assert_eq(http_params_parse(&p, params, &cfg, &err), 0, "%s: %s", cases[i].url, err.message);
		cr_assert_str_eq(p.host_key, cases[i].key, "%s: expected key %s, got %s", cases[i].url, cases[i].key,
				 p.host_key);
		http_params_clear(&p);
		json_decref(params);
	}
	http_config_clear(&cfg);
}

/* Results and messages never show a URL's user name and password, even
 * when the password contains a raw '@'. An '@' after the host is kept. */
Test(blocks_http_params, url_userinfo_is_stripped)
{
	static const struct {
		const char *url, *stripped, *masked;
	} cases[] = {
		{"http://u:p@127.0.0.1:8080/x", "http://127.0.0.1:8080/x", "http://***@127.0.0.1:8080/x"},
		{"https://user@example.com", "https://example.com", "https://***@example.com"},
		{"http://u:p@ss@h/x?y=@#z", "http://h/x?y=@#z", "http://***@h/x?y=@#z"},
		{"http://[::1]:80/a@b", "http://[::1]:80/a@b", "http://[::1]:80/a@b"},
		{"http://h/r?to=http://u:p@i/", "http://h/r?to=http://u:p@i/", "http://h/r?to=http://u:p@i/"},
		{"//u:p@h/x", "//h/x", "//***@h/x"},
		{"/sink?a=b@c", "/sink?a=b@c", "/sink?a=b@c"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char masked[HTTP_URL_SHOWN_MAX];
		char *stripped = http_url_without_userinfo(cases[i].url);

		cr_assert_not_null(stripped);
		cr_expect_str_eq(stripped, cases[i].stripped, "%s: expected %s, got %s", cases[i].url,
				 cases[i].stripped, stripped);
		cr_expect_str_eq(http_url_for_message(masked, cases[i].url), cases[i].masked, "%s: expected %s, got %s",
				 cases[i].url, cases[i].masked, masked);
		free(stripped);
	}
}
