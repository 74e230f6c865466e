/*
 * The http block against a real HTTP/1.1 server on 127.0.0.1 (tests/
 * support/http_server.py): bodies, timeouts, retries, the circuit breaker,
 * the size and redirect limits, the address guard and cancellation.
 * The service allows 127.0.0.1/32 only, except where a test sets its own config.
 */
#define _DEFAULT_SOURCE /* usleep */

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_fixture.h"

/* A config with quick back-offs, so retry tests take milliseconds, and a
 * breaker that the retry tests' failures do not open. */
#define QUICK_CONFIG                                                                                           \
	"{\"allow\": [\"127.0.0.1/32\"], \"retry\": {\"backoff_ms\": 10, \"max_backoff_ms\": 50},"         \
	" \"breaker\": {\"failures\": 50}}"

static json_t *result_of(bl_block_outcome_t *o)
{
	return o->result;
}

static const char *str_at(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static long long int_at(json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

static void assert_ok(bl_block_outcome_t *o)
{
	cr_assert_eq(o->code, 0, "expected success, got %s: %s", o->error_code, o->error.message);
	cr_assert_not_null(o->result);
}

static void assert_error(bl_block_outcome_t *o, const char *error_code)
{
	cr_assert_lt(o->code, 0, "expected error %s, got success", error_code);
	cr_assert_str_eq(o->error_code, error_code, "expected error %s, got %s: %s", error_code, o->error_code,
			 o->error.message);
}

/* A port on 127.0.0.1 that nothing listens on: bound, read, closed. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* ------------------------------------------------------------------------ */
/* Bodies                                                                    */
/* ------------------------------------------------------------------------ */

/* A JSON response is parsed, and the result carries status, headers,
 * timing and one attempt. */
Test(blocks_http, get_returns_parsed_json, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/json\"}", 0);

	assert_ok(o);
	json_t *r = result_of(o);
	cr_assert_eq(int_at(r, "status"), 200);
	cr_assert_str_eq(str_at(r, "body_encoding"), "json");
	cr_assert_str_eq(str_at(json_object_get(r, "body"), "name"), "beamline");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(r, "body"), "values")), 3);
	cr_assert_str_eq(str_at(json_object_get(r, "headers"), "content-type"), "application/json");
	cr_assert_eq(int_at(r, "attempts"), 1);
	json_t *timing = json_object_get(r, "timing_us");
	cr_assert_gt(int_at(timing, "total"), 0, "total time should be positive");
	cr_assert_geq(int_at(timing, "total"), int_at(timing, "first_byte"));
	cr_assert_geq(int_at(timing, "first_byte"), int_at(timing, "connect"));
	cr_assert_str_eq(o->pool, "io");
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A JSON body is sent compact with Content-Type application/json, and the
 * job's headers go out as given. */
Test(blocks_http, post_sends_json_body_and_headers, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(&f,
						 "{\"method\": \"POST\", \"url\": \"http://127.0.0.1:PORT/echo\","
						 " \"headers\": {\"X-Test\": \"yes\"}, \"body\": {\"a\": [1, 2]}}",
						 0);

	assert_ok(o);
	json_t *echo = json_object_get(result_of(o), "body");
	cr_assert_str_eq(str_at(echo, "method"), "POST");
	cr_assert_str_eq(str_at(echo, "body"), "{\"a\":[1,2]}");
	json_t *sent = json_object_get(echo, "headers");
	cr_assert_str_eq(str_at(sent, "content-type"), "application/json");
	cr_assert_str_eq(str_at(sent, "x-test"), "yes");
	cr_assert_str_eq(str_at(sent, "user-agent"), "beamline-engine/0.1");
	cr_assert_null(json_object_get(sent, "expect"), "no Expect: 100-continue should be sent");
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A string body goes out byte for byte, with curl's form content type
 * unless the job sets one. */
Test(blocks_http, put_sends_string_body, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(&f,
						 "{\"method\": \"PUT\", \"url\": \"http://127.0.0.1:PORT/echo\","
						 " \"headers\": {\"Content-Type\": \"text/plain\"}, \"body\": \"hello\"}",
						 0);

	assert_ok(o);
	json_t *echo = json_object_get(result_of(o), "body");
	cr_assert_str_eq(str_at(echo, "method"), "PUT");
	cr_assert_str_eq(str_at(echo, "body"), "hello");
	cr_assert_str_eq(str_at(json_object_get(echo, "headers"), "content-type"), "text/plain");
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* Bytes that are not UTF-8 come back base64-encoded; UTF-8 text as text;
 * "raw" keeps a JSON body as text. */
Test(blocks_http, bodies_are_base64_text_or_raw, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *bin = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/binary\"}", 0);
	bl_block_outcome_t *text = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/text\"}", 0);
	bl_block_outcome_t *raw = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/json\", \"response\": \"raw\"}",
						   0);

	assert_ok(bin);
	cr_assert_str_eq(str_at(result_of(bin), "body_encoding"), "base64");
	cr_assert_eq(int_at(result_of(bin), "body_bytes"), 256);
	/* 0x00 0x01 0x02 0x03 0x04 0x05 in base64. */
	cr_assert_eq(strncmp(str_at(result_of(bin), "body"), "AAECAwQF", 8), 0, "got %.16s",
		     str_at(result_of(bin), "body"));
	assert_ok(text);
	cr_assert_str_eq(str_at(result_of(text), "body_encoding"), "text");
	cr_assert_str_eq(str_at(result_of(text), "body"), "plain text, caf\xc3\xa9");
	assert_ok(raw);
	cr_assert_str_eq(str_at(result_of(raw), "body_encoding"), "text");
	cr_assert(json_is_string(json_object_get(result_of(raw), "body")));
	bl_block_outcome_free(&bin);
	bl_block_outcome_free(&text);
	bl_block_outcome_free(&raw);
	http_fixture_fini(&f);
}

/* A body labelled JSON that does not parse fails the job. */
Test(blocks_http, invalid_json_body_fails, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/bad-json\"}", 0);

	assert_error(o, "invalid_response");
	cr_assert_not(o->retryable);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A response without a status line is an invalid response, not a refused
 * redirect; a redirect to another scheme is still redirect_not_allowed. */
Test(blocks_http, response_without_status_line_is_invalid, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *bare = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/http09\"}", 0);
	bl_block_outcome_t *file = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=file:///etc/passwd\"}", 0);

	assert_error(bare, "invalid_response");
	cr_assert_not(bare->retryable);
	assert_error(file, "redirect_not_allowed");
	bl_block_outcome_free(&bare);
	bl_block_outcome_free(&file);
	http_fixture_fini(&f);
}

/* Only the response headers a job names are returned. */
Test(blocks_http, response_headers_are_selected, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/json\", \"response_headers\": [\"Content-Length\"]}", 0);

	assert_ok(o);
	json_t *headers = json_object_get(result_of(o), "headers");
	cr_assert_eq(json_object_size(headers), 1, "expected 1 header, got %zu", json_object_size(headers));
	cr_assert_not_null(json_object_get(headers, "content-length"));
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* ------------------------------------------------------------------------ */
/* Timeouts                                                                  */
/* ------------------------------------------------------------------------ */

/* A server that responds after 3 s, with a 300 ms timeout: "timeout" well
 * before the answer would have come. */
Test(blocks_http, total_timeout_ends_slow_request, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	double t0 = http_fixture_now_ms();
	bl_block_outcome_t *o =
		http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/slow?ms=3000\", \"timeout_ms\": 300}", 0);
	double elapsed = http_fixture_now_ms() - t0;

	assert_error(o, "timeout");
	cr_assert(o->retryable);
	cr_assert_str_eq(o->error.field, "params.timeout_ms");
	cr_assert_geq(elapsed, 290.0, "ended after %.0f ms, before the timeout", elapsed);
	cr_assert_lt(elapsed, 2000.0, "ended after %.0f ms", elapsed);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A listener whose accept queue is full never completes a connect: with a
 * 200 ms connect timeout and one attempt, "connect_timeout". */
Test(blocks_http, connect_timeout_on_unresponsive_listener, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	double t0 = http_fixture_now_ms();
	bl_block_outcome_t *o = http_fixture_run(&f,
						 "{\"url\": \"http://127.0.0.1:HOLE/\", \"connect_timeout_ms\": 200,"
						 " \"timeout_ms\": 5000, \"retry\": {\"max_attempts\": 1}}",
						 0);
	double elapsed = http_fixture_now_ms() - t0;

	assert_error(o, "connect_timeout");
	cr_assert(o->retryable);
	cr_assert_lt(elapsed, 2000.0, "ended after %.0f ms", elapsed);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* ------------------------------------------------------------------------ */
/* Retries                                                                   */
/* ------------------------------------------------------------------------ */

/* Two 503s, then 200: three attempts, and the server saw three requests. */
Test(blocks_http, retries_503_until_success, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, QUICK_CONFIG);

	bl_block_outcome_t *o = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/flaky?key=r503&fail=2\", \"retry\": {\"max_attempts\": 3}}", 0);

	assert_ok(o);
	cr_assert_eq(int_at(result_of(o), "attempts"), 3);
	cr_assert_eq(int_at(result_of(o), "status"), 200);
	cr_assert_eq(http_fixture_count(&f, "r503", NULL, 0), 3);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* 502 and 504 are transient too; after max_attempts the last status is
 * the error, and it is retryable. */
Test(blocks_http, gives_up_after_max_attempts, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, QUICK_CONFIG);

	bl_block_outcome_t *a = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/flaky?key=g502&fail=9&status=502\", \"retry\": {\"max_attempts\": 2}}",
		0);
	bl_block_outcome_t *b = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/flaky?key=g504&fail=9&status=504\", \"retry\": {\"max_attempts\": 4}}",
		0);

	assert_error(a, "http_status");
	cr_assert(a->retryable);
	cr_assert_eq(int_at(result_of(a), "status"), 502);
	cr_assert_eq(http_fixture_count(&f, "g502", NULL, 0), 2);
	assert_error(b, "http_status");
	cr_assert_eq(int_at(result_of(b), "attempts"), 4);
	cr_assert_eq(http_fixture_count(&f, "g504", NULL, 0), 4);
	bl_block_outcome_free(&a);
	bl_block_outcome_free(&b);
	http_fixture_fini(&f);
}

/* 400, 404 and 500 are not transient: one request each, not retryable. */
Test(blocks_http, no_retry_on_400_404_500, .timeout = 60)
{
	static const int statuses[] = {400, 404, 500};
	http_fixture_t f;
	http_fixture_init(&f, QUICK_CONFIG);

	for (size_t i = 0; i < 3; i++) {
		char params[160], key[16];
		snprintf(key, sizeof key, "n%d", statuses[i]);
		snprintf(params, sizeof params,
			 "{\"url\": \"http://127.0.0.1:PORT/status/%d?key=%s\", \"retry\": {\"max_attempts\": 5}}",
			 statuses[i], key);

		bl_block_outcome_t *o = http_fixture_run(&f, params, 0);

		assert_error(o, "http_status");
		cr_assert_not(o->retryable, "status %d should not be retryable", statuses[i]);
		cr_assert_eq(int_at(result_of(o), "status"), statuses[i]);
		int seen = http_fixture_count(&f, key, NULL, 0);
		cr_assert_eq(seen, 1, "status %d: expected 1 request, the server saw %d", statuses[i], seen);
		bl_block_outcome_free(&o);
	}
	http_fixture_fini(&f);
}

/* With fail_on_status false a 404 is a result, not an error. */
Test(blocks_http, status_is_result_when_not_failing, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o =
		http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/status/404\", \"fail_on_status\": false}", 0);

	assert_ok(o);
	cr_assert_eq(int_at(result_of(o), "status"), 404);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A POST may have had its effect, so a 503 is not retried unless the job
 * allows it. */
Test(blocks_http, post_is_retried_only_when_allowed, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, QUICK_CONFIG);

	bl_block_outcome_t *once =
		http_fixture_run(&f, "{\"method\": \"POST\", \"url\": \"http://127.0.0.1:PORT/flaky?key=p1&fail=1\"}", 0);
	bl_block_outcome_t *again = http_fixture_run(&f,
						     "{\"method\": \"POST\", \"url\": \"http://127.0.0.1:PORT/flaky?key=p2&fail=1\","
						     " \"retry\": {\"non_idempotent\": true}}",
						     0);

	assert_error(once, "http_status");
	cr_assert_eq(http_fixture_count(&f, "p1", NULL, 0), 1);
	assert_ok(again);
	cr_assert_eq(int_at(result_of(again), "attempts"), 2);
	bl_block_outcome_free(&once);
	bl_block_outcome_free(&again);
	http_fixture_fini(&f);
}

/* Nothing listens: the connect fails at once, and is retried (even for a
 * POST, which never left) until max_attempts. */
Test(blocks_http, connect_refused_is_retried, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, QUICK_CONFIG);
	char params[200];
	snprintf(params, sizeof params,
		 "{\"method\": \"POST\", \"url\": \"http://127.0.0.1:%d/\", \"retry\": {\"max_attempts\": 3}}",
		 closed_port());

	bl_block_outcome_t *o = http_fixture_run(&f, params, 0);

	assert_error(o, "connect_failed");
	cr_assert(o->retryable);
	cr_assert_eq(int_at(result_of(o), "attempts"), 3);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* 429 with "Retry-After: 1": the second request comes at least 1 s after
 * the first (server clock), though the back-off alone is at most 50 ms. */
Test(blocks_http, retry_after_seconds_is_honoured, .timeout = 60)
{
	http_fixture_t f;
	double times[2];
	http_fixture_init(&f, QUICK_CONFIG);

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/limited?key=ra&after=1\"}", 0);

	assert_ok(o);
	cr_assert_eq(int_at(result_of(o), "attempts"), 2);
	cr_assert_eq(http_fixture_count(&f, "ra", times, 2), 2);
	double gap = times[1] - times[0];
	cr_assert_geq(gap, 0.95, "waited %.3f s, expected at least 1 s", gap);
	cr_assert_lt(gap, 3.0, "waited %.3f s", gap);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* Retry-After as an HTTP-date 2 s ahead, rounded down to whole seconds by
 * the date format: the wait is between 1 and 3 s. */
Test(blocks_http, retry_after_date_is_honoured, .timeout = 60)
{
	http_fixture_t f;
	double times[2];
	http_fixture_init(&f, QUICK_CONFIG);

	bl_block_outcome_t *o =
		http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/limited?key=rd&after=2&date=1\"}", 0);

	assert_ok(o);
	cr_assert_eq(http_fixture_count(&f, "rd", times, 2), 2);
	double gap = times[1] - times[0];
	cr_assert_geq(gap, 0.95, "waited %.3f s, expected at least 1 s", gap);
	cr_assert_lt(gap, 3.5, "waited %.3f s", gap);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A Retry-After of 30 s is capped by http.retry.max_retry_after_ms
 * (200 ms here). */
Test(blocks_http, retry_after_is_capped_by_config, .timeout = 60)
{
	http_fixture_t f;
	double times[2];
	http_fixture_init(&f, "{\"allow\": [\"127.0.0.1/32\"], \"retry\": {\"backoff_ms\": 10, \"max_backoff_ms\": 50,"
			      " \"max_retry_after_ms\": 200}}");

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/limited?key=rc&after=30\"}", 0);

	assert_ok(o);
	cr_assert_eq(http_fixture_count(&f, "rc", times, 2), 2);
	double gap = times[1] - times[0];
	cr_assert_geq(gap, 0.19, "waited %.3f s, expected about 0.2 s", gap);
	cr_assert_lt(gap, 2.0, "waited %.3f s, the cap was not applied", gap);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A Retry-After longer than the job's remaining time ends the job at once
 * with the 429, retryable, instead of waiting past the deadline. */
Test(blocks_http, retry_after_beyond_deadline_is_not_waited, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, QUICK_CONFIG);

	double t0 = http_fixture_now_ms();
	bl_block_outcome_t *o = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/limited?key=rl&after=5\", \"timeout_ms\": 1500}", 0);
	double elapsed = http_fixture_now_ms() - t0;

	assert_error(o, "http_status");
	cr_assert(o->retryable);
	cr_assert_eq(int_at(result_of(o), "status"), 429);
	cr_assert_lt(elapsed, 1000.0, "ended after %.0f ms", elapsed);
	cr_assert_eq(http_fixture_count(&f, "rl", NULL, 0), 1);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* ------------------------------------------------------------------------ */
/* Circuit breaker                                                           */
/* ------------------------------------------------------------------------ */

static bl_block_outcome_t *get_status(http_fixture_t *f, int status)
{
	char params[128];
	snprintf(params, sizeof params, "{\"url\": \"http://127.0.0.1:PORT/status/%d?key=cb\"}", status);
	return http_fixture_run(f, params, 0);
}

/*
 * A breaker of 2 failures in 10 s with a 400 ms cool-down. Two 500s open
 * it, and the third request fails fast without reaching the server. After
 * the cool-down one trial goes through, fails and reopens it. After
 * another cool-down a successful trial closes it, so a 500 is seen again.
 */
Test(blocks_http, breaker_opens_half_opens_and_closes, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, "{\"allow\": [\"127.0.0.1/32\"], \"retry\": {\"attempts\": 1},"
			      " \"breaker\": {\"failures\": 2, \"window_ms\": 10000, \"cooldown_ms\": 400}}");
	bl_block_outcome_t *o[8];

	o[0] = get_status(&f, 500);
	o[1] = get_status(&f, 500);
	o[2] = get_status(&f, 200);
	int seen_open = http_fixture_count(&f, "cb", NULL, 0);
	usleep(500 * 1000);
	o[3] = get_status(&f, 500); /* the trial fails */
	o[4] = get_status(&f, 200); /* open again */
	usleep(500 * 1000);
	o[5] = get_status(&f, 200); /* the trial succeeds */
	o[6] = get_status(&f, 500); /* closed: reaches the server */

	assert_error(o[0], "http_status");
	assert_error(o[1], "http_status");
	assert_error(o[2], "circuit_open");
	cr_assert(o[2]->retryable, "circuit_open should be retryable");
	cr_assert_eq(seen_open, 2, "the open breaker let a request through: the server saw %d", seen_open);
	assert_error(o[3], "http_status");
	assert_error(o[4], "circuit_open");
	assert_ok(o[5]);
	assert_error(o[6], "http_status");
	cr_assert_eq(http_fixture_count(&f, "cb", NULL, 0), 5);
	for (int i = 0; i < 7; i++)
		bl_block_outcome_free(&o[i]);
	http_fixture_fini(&f);
}

/* Open the breaker of `host` with two 500s. */
static void open_breaker(http_fixture_t *f, const char *host)
{
	char params[160];
	snprintf(params, sizeof params, "{\"url\": \"http://%s:PORT/status/500?key=cb\"}", host);

	for (int i = 0; i < 2; i++) {
		bl_block_outcome_t *o = http_fixture_run(f, params, 0);
		assert_error(o, "http_status");
		bl_block_outcome_free(&o);
	}
}

/*
 * One breaker per origin, however the URL spells it. Once two 500s open
 * the breakers of localhost and 127.0.0.1, other spellings of each (case,
 * a trailing dot, short and numeric IPv4 forms) are refused without
 * reaching the server. localhost may also resolve to ::1, where nothing
 * listens, so ::1 is allowed and curl falls back to 127.0.0.1.
 */
Test(blocks_http, breaker_is_shared_by_spellings_of_host, .timeout = 60)
{
	static const char *const spellings[] = {"LOCALHOST", "localhost.", "LocalHost.", "127.1",
						"2130706433", "0x7f.0.0.1", "127.000.000.001"};
	http_fixture_t f;
	http_fixture_init(&f, "{\"allow\": [\"127.0.0.1/32\", \"::1/128\"], \"retry\": {\"attempts\": 1},"
			      " \"breaker\": {\"failures\": 2, \"window_ms\": 10000, \"cooldown_ms\": 30000}}");

	open_breaker(&f, "localhost");
	open_breaker(&f, "127.0.0.1");

	for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
		char params[160];
		snprintf(params, sizeof params, "{\"url\": \"http://%s:PORT/status/200?key=cb\"}", spellings[i]);
		bl_block_outcome_t *o = http_fixture_run(&f, params, 0);
		cr_assert_str_eq(o->error_code ? o->error_code : "(success)", "circuit_open",
				 "%s got a breaker of its own: %s", spellings[i], o->error.message);
		bl_block_outcome_free(&o);
	}
	cr_assert_eq(http_fixture_count(&f, "cb", NULL, 0), 4);
	http_fixture_fini(&f);
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */
/* ------------------------------------------------------------------------ */

/* A body over max_response_bytes fails, whether the server announces its
 * length or streams it chunked; one under the cap passes. */
Test(blocks_http, response_size_cap, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *sized = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/huge?bytes=2000000\", \"max_response_bytes\": 1000000}", 0);
	bl_block_outcome_t *chunked = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/huge?bytes=2000000&chunked=1\", \"max_response_bytes\": 1000000}",
		0);
	bl_block_outcome_t *fits = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/huge?bytes=1000000&chunked=1\", \"max_response_bytes\": 1000000}",
		0);

	assert_error(sized, "response_too_large");
	cr_assert_str_eq(sized->error.field, "params.max_response_bytes");
	cr_assert_not(sized->retryable);
	assert_error(chunked, "response_too_large");
	assert_ok(fits);
	cr_assert_eq(int_at(result_of(fits), "body_bytes"), 1000000);
	bl_block_outcome_free(&sized);
	bl_block_outcome_free(&chunked);
	bl_block_outcome_free(&fits);
	http_fixture_fini(&f);
}

/* A redirect loop stops after max_redirects; max_redirects 0 returns the
 * 302 itself. */
Test(blocks_http, redirect_limit, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *loop =
		http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/redirect-loop\", \"max_redirects\": 3}", 0);
	bl_block_outcome_t *none =
		http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/redirect-loop\", \"max_redirects\": 0}", 0);

	assert_error(loop, "too_many_redirects");
	cr_assert_str_eq(loop->error.field, "params.max_redirects");
	assert_ok(none);
	cr_assert_eq(int_at(result_of(none), "status"), 302);
	cr_assert_eq(int_at(result_of(none), "redirects"), 0);
	bl_block_outcome_free(&loop);
	bl_block_outcome_free(&none);
	http_fixture_fini(&f);
}

/* A redirect to the second server's port is followed. */
Test(blocks_http, redirect_to_other_port_is_followed, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=http://127.0.0.1:OTHER/echo\"}", 0);

	assert_ok(o);
	cr_assert_eq(int_at(result_of(o), "redirects"), 1);
	char expected[64];
	snprintf(expected, sizeof expected, "http://127.0.0.1:%d/echo", f.server.other_port);
	cr_assert_str_eq(str_at(result_of(o), "url"), expected);
	cr_assert_str_eq(str_at(json_object_get(result_of(o), "body"), "path"), "/echo");
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A POST answered by a 302 is followed with a GET, as curl and browsers
 * do, rather than sending the body again to the new location. */
Test(blocks_http, post_redirect_is_followed_with_get, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(
		&f, "{\"method\": \"POST\", \"url\": \"http://127.0.0.1:PORT/redirect?to=/echo\", \"body\": \"x\"}", 0);

	assert_ok(o);
	cr_assert_str_eq(str_at(json_object_get(result_of(o), "body"), "method"), "GET");
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* The guard is checked again on each hop: a redirect from the allowed
 * 127.0.0.1 to 127.0.0.2 (loopback, not listed) is refused, and so is a
 * redirect to a scheme other than http and https. */
Test(blocks_http, redirect_hops_are_guarded, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *hop = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=http://127.0.0.2:OTHER/echo\"}", 0);
	bl_block_outcome_t *ftp =
		http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=ftp://127.0.0.1:OTHER/x\"}", 0);

	assert_error(hop, "address_not_allowed");
	cr_assert_not_null(strstr(hop->error.message, "127.0.0.2 resolved to 127.0.0.2, a loopback address"),
			   "message: %s", hop->error.message);
	cr_assert_not(hop->retryable);
	assert_error(ftp, "redirect_not_allowed");
	bl_block_outcome_free(&hop);
	bl_block_outcome_free(&ftp);
	http_fixture_fini(&f);
}

/* The headers a redirect target saw, from the /echo body of `o`. */
static json_t *echoed_headers(bl_block_outcome_t *o)
{
	assert_ok(o);
	return json_object_get(json_object_get(result_of(o), "body"), "headers");
}

/*
 * The job's headers (a custom one and Authorization) reach a redirect
 * target on the same origin, but not one on another port of the same
 * host: another port is another origin. The block's own headers still go.
 */
Test(blocks_http, redirect_to_other_origin_drops_job_headers, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *same = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=http://127.0.0.1:PORT/echo\","
		    " \"headers\": {\"X-Api-Key\": \"k1\", \"Authorization\": \"Bearer t1\"}}", 0);
	bl_block_outcome_t *other = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=http://127.0.0.1:OTHER/echo\","
		    " \"headers\": {\"X-Api-Key\": \"k1\", \"Authorization\": \"Bearer t1\"}}", 0);

	json_t *same_origin = echoed_headers(same);
	cr_assert_str_eq(str_at(same_origin, "x-api-key"), "k1");
	cr_assert_str_eq(str_at(same_origin, "authorization"), "Bearer t1");
	json_t *other_origin = echoed_headers(other);
	cr_assert_null(json_object_get(other_origin, "x-api-key"), "x-api-key reached another origin: %s",
		       str_at(other_origin, "x-api-key"));
	cr_assert_null(json_object_get(other_origin, "authorization"), "authorization reached another origin");
	cr_assert_str_eq(str_at(other_origin, "user-agent"), "beamline-engine/0.1");
	cr_assert_eq(int_at(result_of(other), "redirects"), 1);
	bl_block_outcome_free(&same);
	bl_block_outcome_free(&other);
	http_fixture_fini(&f);
}

/*
 * The user name and password of a URL never reach the result, which the
 * service mode stores: not from the job's URL, not from a redirect
 * target, and not from the Location header of a redirect left unfollowed.
 * The error of a body that is not JSON hides them too.
 */
Test(blocks_http, result_hides_url_credentials, .timeout = 60)
{
	http_fixture_t f;
	char expected[96];
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *direct = http_fixture_run(&f, "{\"url\": \"http://u:secret@127.0.0.1:PORT/echo\"}", 0);
	bl_block_outcome_t *followed = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=http://u:secret@127.0.0.1:OTHER/echo\"}", 0);
	bl_block_outcome_t *unfollowed = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/redirect?to=http://u:secret@127.0.0.1:OTHER/echo\","
		    " \"max_redirects\": 0}", 0);
	bl_block_outcome_t *not_json = http_fixture_run(
		&f, "{\"url\": \"http://u:secret@127.0.0.1:PORT/text\", \"response\": \"json\"}", 0);

	assert_ok(direct);
	snprintf(expected, sizeof expected, "http://127.0.0.1:%d/echo", f.server.port);
	cr_expect_str_eq(str_at(result_of(direct), "url"), expected);
	assert_ok(followed);
	snprintf(expected, sizeof expected, "http://127.0.0.1:%d/echo", f.server.other_port);
	cr_expect_str_eq(str_at(result_of(followed), "url"), expected);
	cr_expect_eq(int_at(result_of(followed), "redirects"), 1);
	assert_ok(unfollowed);
	cr_expect_eq(int_at(result_of(unfollowed), "status"), 302);
	cr_expect_str_eq(str_at(json_object_get(result_of(unfollowed), "headers"), "location"), expected);
	assert_error(not_json, "invalid_response");
	cr_expect_null(strstr(not_json->error.message, "secret"), "message: %s", not_json->error.message);
	cr_expect_neq(strstr(not_json->error.message, "***@127.0.0.1"), NULL, "message: %s", not_json->error.message);
	bl_block_outcome_free(&direct);
	bl_block_outcome_free(&followed);
	bl_block_outcome_free(&unfollowed);
	bl_block_outcome_free(&not_json);
	http_fixture_fini(&f);
}

/* A 307 to another origin sends the POST body again with its
 * Content-Type, which describes the body, but without the job's other
 * headers. */
Test(blocks_http, redirect_307_to_other_origin_keeps_body, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(
		&f, "{\"method\": \"POST\", \"url\": \"http://127.0.0.1:PORT/redirect?status=307&"
		    "to=http://127.0.0.1:OTHER/echo\", \"headers\": {\"X-Api-Key\": \"k1\"}, \"body\": {\"a\": 1}}", 0);

	json_t *sent = echoed_headers(o);
	json_t *echo = json_object_get(result_of(o), "body");
	cr_assert_str_eq(str_at(echo, "method"), "POST");
	cr_assert_str_eq(str_at(echo, "body"), "{\"a\":1}");
	cr_assert_str_eq(str_at(sent, "content-type"), "application/json");
	cr_assert_null(json_object_get(sent, "x-api-key"), "x-api-key reached another origin");
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* ------------------------------------------------------------------------ */
/* Address guard                                                             */
/* ------------------------------------------------------------------------ */

/* With the default config (no allow-list) loopback is refused, with an
 * error naming the host, the address and its range; nothing is retried. */
Test(blocks_http, loopback_refused_by_default, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, "{}");

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/json\"}", 0);

	assert_error(o, "address_not_allowed");
	cr_assert_not_null(strstr(o->error.message, "127.0.0.1 resolved to 127.0.0.1, a loopback address"),
			   "message: %s", o->error.message);
	cr_assert_str_eq(o->error.field, "params.url");
	cr_assert_eq(int_at(result_of(o), "attempts"), 1);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* Listing 127.0.0.0/8 allows every loopback address; 127.0.0.1/32 in the
 * other tests allows that one alone. */
Test(blocks_http, loopback_allowed_when_listed, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, "{\"allow\": [\"10.0.0.0/8\", \"127.0.0.0/8\"]}");

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/json\"}", 0);

	assert_ok(o);
	cr_assert_eq(int_at(result_of(o), "status"), 200);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A host name goes through curl's resolver. "localhost" resolves to
 * 127.0.0.1 (and, on some systems, ::1, which the guard refuses before
 * curl falls back to 127.0.0.1). */
Test(blocks_http, host_name_is_resolved_then_guarded, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://localhost:PORT/json\"}", 0);

	assert_ok(o);
	cr_assert_eq(int_at(result_of(o), "status"), 200);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* An IPv6 loopback literal is refused with 127.0.0.1/32 listed. */
Test(blocks_http, ipv6_loopback_is_refused, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://[::1]:PORT/json\"}", 0);

	assert_error(o, "address_not_allowed");
	cr_assert_not_null(strstr(o->error.message, "::1, a loopback address"), "message: %s", o->error.message);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* HEAD returns the status and headers with an empty body; DELETE goes out
 * with its method. */
Test(blocks_http, head_and_delete, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *head =
		http_fixture_run(&f, "{\"method\": \"HEAD\", \"url\": \"http://127.0.0.1:PORT/json\"}", 0);
	bl_block_outcome_t *del =
		http_fixture_run(&f, "{\"method\": \"DELETE\", \"url\": \"http://127.0.0.1:PORT/echo\"}", 0);

	assert_ok(head);
	cr_assert_eq(int_at(result_of(head), "status"), 200);
	cr_assert_eq(int_at(result_of(head), "body_bytes"), 0);
	cr_assert_not_null(json_object_get(json_object_get(result_of(head), "headers"), "content-length"));
	assert_ok(del);
	cr_assert_str_eq(str_at(json_object_get(result_of(del), "body"), "method"), "DELETE");
	bl_block_outcome_free(&head);
	bl_block_outcome_free(&del);
	http_fixture_fini(&f);
}

/* https to a server that speaks plain HTTP fails the TLS handshake: a
 * transfer failure, reported rather than hung. */
Test(blocks_http, https_to_plain_server_fails_handshake, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	bl_block_outcome_t *o = http_fixture_run(
		&f, "{\"url\": \"https://127.0.0.1:PORT/json\", \"timeout_ms\": 5000, \"retry\": {\"max_attempts\": 1}}", 0);

	assert_error(o, "transfer_failed");
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* ------------------------------------------------------------------------ */
/* Cancellation                                                              */
/* ------------------------------------------------------------------------ */

/* A request to a server that responds after 10 s, cancelled through the
 * job's cancel hook after 300 ms, ends "cancelled" at once. */
Test(blocks_http, cancel_hook_ends_request, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	double t0 = http_fixture_now_ms();
	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/slow?ms=10000\"}", 300);
	double elapsed = http_fixture_now_ms() - t0;

	assert_error(o, "cancelled");
	cr_assert_geq(elapsed, 290.0, "ended after %.0f ms, before the cancel", elapsed);
	cr_assert_lt(elapsed, 2000.0, "ended after %.0f ms", elapsed);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A cancel during a back-off wait ends the request without another
 * attempt. */
Test(blocks_http, cancel_during_backoff, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);

	double t0 = http_fixture_now_ms();
	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/limited?key=cbo&after=10\"}", 300);
	double elapsed = http_fixture_now_ms() - t0;

	assert_error(o, "cancelled");
	cr_assert_lt(elapsed, 2000.0, "ended after %.0f ms", elapsed);
	bl_block_outcome_free(&o);
	bl_cancel_hook_free(&f.hook);
	f.hook = bl_cancel_hook_new(&f.cancel);
	atomic_store(&f.cancel.requested, false);
	f.env.cancel_hook = f.hook;
	cr_assert_eq(http_fixture_count(&f, "cbo", NULL, 0), 1);
	http_fixture_fini(&f);
}

/* ------------------------------------------------------------------------ */
/* Many at once, and shutdown                                                */
/* ------------------------------------------------------------------------ */

/* 64 jobs in flight at once, spread over both client actors, half of them
 * held 50 ms by the server: every one succeeds with its own body. */
Test(blocks_http, many_concurrent_requests, .timeout = 60)
{
	enum { JOBS = 64 };
	http_fixture_t f;
	http_waiter_t *w[JOBS];
	http_fixture_init(&f, NULL);

	for (int i = 0; i < JOBS; i++) {
		char params[128];
		snprintf(params, sizeof params, "{\"url\": \"http://127.0.0.1:PORT/%s\"}",
			 i % 2 ? "slow?ms=50" : "json");
		w[i] = http_fixture_start(&f, params);
	}
	for (int i = 0; i < JOBS; i++) {
		bl_block_outcome_t *o = http_fixture_wait(w[i], 0, NULL);
		assert_ok(o);
		json_t *body = json_object_get(result_of(o), "body");
		if (i % 2)
			cr_assert_eq(int_at(body, "slept_ms"), 50, "job %d got the wrong body", i);
		else
			cr_assert_str_eq(str_at(body, "name"), "beamline", "job %d got the wrong body", i);
		bl_block_outcome_free(&o);
	}
	http_fixture_fini(&f);
}

/* Stopping the service with a request in flight reports it "shutdown",
 * retryable, rather than dropping it. */
Test(blocks_http, service_stop_reports_in_flight_request, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);
	http_waiter_t *w = http_fixture_start(&f, "{\"url\": \"http://127.0.0.1:PORT/slow?ms=10000\"}");
	usleep(200 * 1000);

	bl_http_service_stop(f.services.http);
	bl_block_outcome_t *o = http_fixture_wait(w, 0, NULL);

	assert_error(o, "shutdown");
	cr_assert(o->retryable);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* A user name and password in the URL never appear in an error message. */
Test(blocks_http, credentials_in_url_are_hidden, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, QUICK_CONFIG);

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://bob:s3cret@127.0.0.1:PORT/nope\"}", 0);

	assert_error(o, "http_status");
	cr_assert_null(strstr(o->error.message, "s3cret"), "the password shows: %s", o->error.message);
	cr_assert_null(strstr(o->error.message, "bob"), "the user name shows: %s", o->error.message);
	cr_assert_not_null(strstr(o->error.message, "http://***@127.0.0.1:"), "%s", o->error.message);
	bl_block_outcome_free(&o);
	http_fixture_fini(&f);
}

/* The request continues the job's trace: same trace id and flags, a new
 * parent id; a traceparent header the job sets itself wins. */
Test(blocks_http, request_carries_job_trace, .timeout = 60)
{
	http_fixture_t f;
	http_fixture_init(&f, NULL);
	f.env.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

	bl_block_outcome_t *o = http_fixture_run(&f, "{\"url\": \"http://127.0.0.1:PORT/echo\"}", 0);
	bl_block_outcome_t *own = http_fixture_run(
		&f, "{\"url\": \"http://127.0.0.1:PORT/echo\", \"headers\": {\"traceparent\": \"mine\"}}", 0);

	assert_ok(o);
	const char *sent = str_at(json_object_get(json_object_get(result_of(o), "body"), "headers"), "traceparent");
	cr_assert_eq(strlen(sent), 55, "traceparent sent: %s", sent);
	cr_assert_eq(strncmp(sent, "00-0af7651916cd43dd8448eb211c80319c-", 36), 0, "another trace: %s", sent);
	cr_assert_neq(strncmp(sent + 36, "b7ad6b7169203331", 16), 0, "the parent id was not renewed: %s", sent);
	cr_assert_str_eq(sent + 52, "-01");
	assert_ok(own);
	cr_assert_str_eq(str_at(json_object_get(json_object_get(result_of(own), "body"), "headers"), "traceparent"),
			 "mine");
	bl_block_outcome_free(&o);
	bl_block_outcome_free(&own);
	http_fixture_fini(&f);
}
