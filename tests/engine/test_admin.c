/*
 * The admin endpoint of a running engine: the approvals routes with and
 * without the token, the errors of each route, and the config checks
 * that keep it on loopback.
 */
#define _GNU_SOURCE /* mkdir with mode */

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_child.h"

#define TOKEN "s3cret-token-for-tests"

typedef struct fixture {
	char dir[256];
	char data[300];
	char jobs[320];
	char config[320];
	char token[320];
	char placement[320];
	engine_child_t run;
	int port;
} fixture_t;

#define HUMAN(id, expires)                                                                                          \
	"{\"id\":\"" id "\",\"tenant\":\"acme\",\"block\":\"human\",\"params\":{\"summary\":\"deploy " id            \
	"\",\"requested_by\":\"ci\",\"expires_in_ms\":" expires "}}\n"

/* Make the fixture's folder, its token file (mode 0600) and a config
 * whose endpoint listens on `listen`. */
static void fixture_init(fixture_t *f, const char *listen)
{
	char config[1024];
	test_dir_make(f->dir, sizeof f->dir);
	snprintf(f->data, sizeof f->data, "%s/data", f->dir);
	snprintf(f->jobs, sizeof f->jobs, "%s/jobs.jsonl", f->dir);
	snprintf(f->config, sizeof f->config, "%s/config.json", f->dir);
	snprintf(f->token, sizeof f->token, "%s/token", f->dir);
	snprintf(f->placement, sizeof f->placement, "%s/placement.json", f->dir);
	cr_assert_eq(mkdir(f->data, 0700), 0);
	test_file_write(f->token, TOKEN "\n", 0600);
	snprintf(config, sizeof config, "{\"admin\": {\"listen\": \"%s\", \"token_file\": \"%s\"}}", listen, f->token);
	test_file_write(f->config, config, 0600);
	f->port = 0;
}

static void start_run(fixture_t *f, const char *jobs)
{
	test_file_write(f->jobs, jobs, 0600);
	const char *args[] = {"run",	     f->jobs,	"--data-dir", f->data,	    "--config",	  f->config,
			      "--no-gpu",    "--workers", "1",	      "--no-progress", "--log-level", "info",
			      "--placement", f->placement, NULL};
	child_start(&f->run, f->dir, "run", args);
}

/* Start a run with a loopback endpoint and wait for its port. */
static void start_with_endpoint(fixture_t *f, const char *jobs)
{
	start_run(f, jobs);
	char *line = wait_for_err(&f->run, "\"event\":\"admin_listening\"", 20000);
	cr_assert_not_null(line, "the engine did not log admin_listening");
	char *port = strstr(line, "\"port\":");
	cr_assert_not_null(port);
	f->port = atoi(port + 7);
	free(line);
	cr_assert_gt(f->port, 0, "the logged port is not a port");
}

typedef struct reply {
	long status;
	char *body;
	size_t len;
} reply_t;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	reply_t *r = arg;
	char *grown = realloc(r->body, r->len + size * n + 1);
	cr_assert_not_null(grown);
	memcpy(grown + r->len, data, size * n);
	r->body = grown;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

/* Send one request; `token` NULL sends no Authorization header, `body`
 * NULL makes it a GET. */
static json_t *call(const fixture_t *f, const char *path, const char *token, const char *body, long *status)
{
	char url[512], auth[256];
	reply_t r = {0};
	struct curl_slist *headers = NULL;

	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
	CURL *c = curl_easy_init();
	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}
	if (body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	CURLcode rc = curl_easy_perform(c);
	cr_assert_eq(rc, CURLE_OK, "request to %s failed: %s", url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);

	json_t *doc = r.body ? json_loads(r.body, 0, NULL) : NULL;
	cr_assert_not_null(doc, "the reply to %s is not JSON: %s", path, r.body ? r.body : "(empty)");
	free(r.body);
	return doc;
}

static const char *error_part(json_t *doc, const char *part)
{
	return json_string_value(json_object_get(json_object_get(doc, "error"), part));
}

static void fixture_fini(fixture_t *f)
{
	child_kill(&f->run);
	test_dir_remove(f->dir);
}

/* GET lists the pending approvals; a POST decides one, the parked job
 * resumes with that decision, and a second POST gets 409 with the first
 * decision. Job j2 keeps the run (and its endpoint) alive until the end. */
Test(engine_admin, approvals_get_and_post, .timeout = 120)
{
	fixture_t f;
	long status;
	fixture_init(&f, "127.0.0.1:0");
	start_with_endpoint(&f, HUMAN("j1", "30000") HUMAN("j2", "30000"));
	char path[600];
	snprintf(path, sizeof path, "%s/.beamline/approvals/acme:j2.request.json", f.data);
	cr_assert(wait_for_path(path, 20000), "the requests were not posted");
	snprintf(path, sizeof path, "%s/.beamline/approvals/acme:j1.request.json", f.data);
	cr_assert(wait_for_path(path, 20000), "the requests were not posted");

	json_t *list = call(&f, "/approvals", TOKEN, NULL, &status);
	cr_assert_eq(status, 200);
	json_t *pending = json_object_get(list, "approvals");
	cr_assert_eq(json_array_size(pending), 2, "expected 2 pending approvals, got %zu", json_array_size(pending));
	json_t *first = json_array_get(pending, 0);
	cr_assert_str_eq(json_string_value(json_object_get(first, "status")), "pending");

	const char *decision = "{\"decision\":\"approve\",\"by\":\"hana\",\"comment\":\"ok\"}";
	json_t *done = call(&f, "/approvals/acme:j1", TOKEN, decision, &status);
	cr_assert_eq(status, 200);
	cr_assert_str_eq(json_string_value(json_object_get(done, "status")), "approved");
	json_t *again = call(&f, "/approvals/acme:j1", TOKEN, "{\"decision\":\"reject\",\"by\":\"ivan\"}", &status);
	cr_assert_eq(status, 409, "a second decision: expected 409, got %ld", status);
	cr_assert_str_eq(error_part(again, "code"), "already_decided");
	const char *kept = json_string_value(
		json_object_get(json_object_get(json_object_get(again, "approval"), "decision"), "decided_by"));
	cr_assert_str_eq(kept, "hana");
	json_t *after = call(&f, "/approvals", TOKEN, NULL, &status);
	cr_assert_eq(json_array_size(json_object_get(after, "approvals")), 1, "the decided approval is still listed");
	json_t *last = call(&f, "/approvals/acme:j2", TOKEN, "{\"decision\":\"reject\",\"by\":\"ivan\"}", &status);
	cr_assert_eq(status, 200);

	cr_assert(child_wait(&f.run, 10000), "the run did not finish after the decisions");
	char *out = test_file_read(f.run.out_path);
	cr_assert_not_null(strstr(out, "\"decided_by\":\"hana\""), "result: %s", out);
	cr_assert_not_null(strstr(out, "\"decided_by\":\"ivan\""), "result: %s", out);
	free(out);
	json_decref(list);
	json_decref(done);
	json_decref(again);
	json_decref(after);
	json_decref(last);
	fixture_fini(&f);
}

/* Without the token the answer is 401, with a wrong one 403, on both
 * routes; nothing is decided. */
Test(engine_admin, token_required, .timeout = 120)
{
	fixture_t f;
	long status;
	fixture_init(&f, "127.0.0.1:0");
	start_with_endpoint(&f, HUMAN("j1", "30000"));
	char path[600];
	snprintf(path, sizeof path, "%s/.beamline/approvals/acme:j1.request.json", f.data);
	cr_assert(wait_for_path(path, 20000));
	const char *decision = "{\"decision\":\"approve\",\"by\":\"x\"}";

	json_t *a = call(&f, "/approvals", NULL, NULL, &status);
	cr_assert_eq(status, 401, "GET without a token: expected 401, got %ld", status);
	json_t *b = call(&f, "/approvals", "wrong", NULL, &status);
	cr_assert_eq(status, 403, "GET with a wrong token: expected 403, got %ld", status);
	json_t *c = call(&f, "/approvals/acme:j1", NULL, decision, &status);
	cr_assert_eq(status, 401, "POST without a token: expected 401, got %ld", status);
	json_t *d = call(&f, "/approvals/acme:j1", TOKEN "x", decision, &status);
	cr_assert_eq(status, 403, "POST with a longer token: expected 403, got %ld", status);
	json_t *e = call(&f, "/approvals/acme:j1", "s3cret", decision, &status);
	cr_assert_eq(status, 403, "POST with a prefix of the token: expected 403, got %ld", status);

	char decided[600];
	snprintf(decided, sizeof decided, "%s/.beamline/approvals/acme:j1.decision.json", f.data);
	cr_assert_neq(access(decided, F_OK), 0, "a refused request decided the approval");
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
	json_decref(e);
	fixture_fini(&f);
}

/* Bad bodies get 400 naming the field, an unknown id 404, a body over
 * the limit 413, and a path that is not routed 404. */
Test(engine_admin, request_errors, .timeout = 120)
{
	fixture_t f;
	long status;
	fixture_init(&f, "127.0.0.1:0");
	start_with_endpoint(&f, HUMAN("j1", "30000"));
	char path[600];
	snprintf(path, sizeof path, "%s/.beamline/approvals/acme:j1.request.json", f.data);
	cr_assert(wait_for_path(path, 20000));
	static const struct {
		const char *body;
		const char *field;
	} bad[] = {
		{"{\"decision\":\"approve\"", ""},
		{"[1,2]", ""},
		{"{\"by\":\"x\"}", "decision"},
		{"{\"decision\":\"maybe\",\"by\":\"x\"}", "decision"},
		{"{\"decision\":\"approve\"}", "by"},
		{"{\"decision\":\"approve\",\"by\":\"\"}", "by"},
		{"{\"decision\":\"approve\",\"by\":\"x\",\"comment\":7}", "comment"},
		{"{\"decision\":\"approve\",\"by\":\"x\",\"urgent\":true}", "urgent"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *r = call(&f, "/approvals/acme:j1", TOKEN, bad[i].body, &status);
		cr_assert_eq(status, 400, "body %s: expected 400, got %ld", bad[i].body, status);
		cr_assert_str_eq(error_part(r, "field"), bad[i].field, "body %s", bad[i].body);
		json_decref(r);
	}
	json_t *unknown = call(&f, "/approvals/acme:nope", TOKEN, "{\"decision\":\"approve\",\"by\":\"x\"}", &status);
	cr_assert_eq(status, 404, "unknown id: expected 404, got %ld", status);
	char *big = malloc(100001);
	memset(big, 'a', 100000);
	big[100000] = '\0';
	json_t *large = call(&f, "/approvals/acme:j1", TOKEN, big, &status);
	cr_assert_eq(status, 413, "a 100 kB body: expected 413, got %ld", status);
	json_t *other = call(&f, "/nothing", TOKEN, NULL, &status);
	cr_assert_eq(status, 404);

	free(big);
	json_decref(unknown);
	json_decref(large);
	json_decref(other);
	fixture_fini(&f);
}

/* Run the fixture, expect it to stop before running jobs, and return its
 * standard error. */
static char *refused_run(fixture_t *f)
{
	start_run(f, HUMAN("j1", "30000"));
	cr_assert(child_wait(&f->run, 20000), "the run did not stop");
	cr_assert_eq(f->run.status, 3, "a bad admin section: expected exit 3, got %d", f->run.status);
	return test_file_read(f->run.err_path);
}

/* The endpoint stays on loopback unless the config allows otherwise. */
Test(engine_admin, non_loopback_listen_refused, .timeout = 120)
{
	fixture_t f;
	fixture_init(&f, "0.0.0.0:0");

	char *err = refused_run(&f);

	cr_assert_not_null(strstr(err, "admin.listen"), "stderr: %s", err);
	cr_assert_not_null(strstr(err, "allow_non_loopback"), "stderr: %s", err);
	free(err);
	fixture_fini(&f);
}

/* A token file that others can read stops the run before it listens. */
Test(engine_admin, readable_token_file_refused, .timeout = 120)
{
	fixture_t f;
	fixture_init(&f, "127.0.0.1:0");
	test_file_write(f.token, TOKEN, 0644);

	char *err = refused_run(&f);

	cr_assert_not_null(strstr(err, "admin.token_file"), "stderr: %s", err);
	cr_assert_not_null(strstr(err, "chmod 600"), "stderr: %s", err);
	free(err);
	fixture_fini(&f);
}

/* A FIFO in place of the token file is refused at once: opening it must
 * not wait for a writer. */
Test(engine_admin, fifo_token_file_refused, .timeout = 120)
{
	fixture_t f;
	fixture_init(&f, "127.0.0.1:0");
	unlink(f.token);
	cr_assert_eq(mkfifo(f.token, 0600), 0, "mkfifo %s", f.token);

	char *err = refused_run(&f);

	cr_assert_not_null(strstr(err, "admin.token_file"), "stderr: %s", err);
	cr_assert_not_null(strstr(err, "regular file"), "stderr: %s", err);
	free(err);
	fixture_fini(&f);
}

/* So does a token file with nothing but white space. */
Test(engine_admin, empty_token_refused, .timeout = 120)
{
	fixture_t f;
	fixture_init(&f, "127.0.0.1:0");
	test_file_write(f.token, "  \n", 0600);

	char *err = refused_run(&f);

	cr_assert_not_null(strstr(err, "holds no token"), "stderr: %s", err);
	free(err);
	fixture_fini(&f);
}
