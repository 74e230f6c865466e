/*
 * The http block end to end: beamline-engine run --config with a jobs
 * file, against the test server on 127.0.0.1. The engine's own job
 * timeout cancels a request through the cancel hook.
 */
#define _GNU_SOURCE /* mkdtemp */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_harness.h"
#include "http_fixture.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* Find the result line of job `id` in the run's output. */
static json_t *result_for(const char *out, const char *id)
{
	char *copy = strdup(out);
	json_t *found = NULL;

	for (char *line = strtok(copy, "\n"); line && !found; line = strtok(NULL, "\n")) {
		json_t *r = json_loads(line, 0, NULL);
		const char *line_id = r ? json_string_value(json_object_get(r, "id")) : NULL;
		if (line_id && strcmp(line_id, id) == 0)
			found = r;
		else
			json_decref(r);
	}
	free(copy);
	cr_assert_not_null(found, "no result for job %s in:\n%s", id, out);
	return found;
}

static const char *status_of(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static const char *error_code_of(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

/*
 * Four jobs: a GET that succeeds, a POST echoed back, a 404 that fails
 * with http_status, and a request to a server that responds after 10 s
 * under a job timeout of 400 ms, which ends "timeout" while the run as a
 * whole finishes in well under 10 s.
 */
Test(blocks_http_run, jobs_file_through_the_engine, .timeout = 90)
{
	http_server_t server = {0};
	char dir[] = "/tmp/bl-http-run-XXXXXX";
	char jobs_path[64], config_path[64], jobs[1024];
	cli_result_t r;

	http_server_start(&server);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(jobs_path, sizeof jobs_path, "%s/jobs.jsonl", dir);
	snprintf(config_path, sizeof config_path, "%s/config.json", dir);
	write_file(config_path, "{\"http\": {\"allow\": [\"127.0.0.1/32\"]}}");
	snprintf(jobs, sizeof jobs,
		 "{\"id\": \"get\", \"tenant\": \"t\", \"block\": \"http\", \"params\": {\"url\": \"http://127.0.0.1:%d/json\"}}\n"
		 "{\"id\": \"post\", \"tenant\": \"t\", \"block\": \"http\", \"params\": {\"method\": \"POST\","
		 " \"url\": \"http://127.0.0.1:%d/echo\", \"body\": {\"n\": 1}}}\n"
		 "{\"id\": \"missing\", \"tenant\": \"t\", \"block\": \"http\", \"params\": {\"url\": \"http://127.0.0.1:%d/nope\"}}\n"
		 "{\"id\": \"slow\", \"tenant\": \"t\", \"block\": \"http\", \"timeout_ms\": 400,"
		 " \"params\": {\"url\": \"http://127.0.0.1:%d/slow?ms=10000\"}}\n",
		 server.port, server.port, server.port, server.port);
	write_file(jobs_path, jobs);
	const char *args[] = {"run", jobs_path, "--config", config_path, "--data-dir", dir, "--no-gpu", "--no-progress",
			      NULL};

	double t0 = http_fixture_now_ms();
	cli_run(&r, args, NULL);
	double elapsed = http_fixture_now_ms() - t0;

	cr_assert_eq(r.status, 1, "exit status %d (1: some job failed), stderr:\n%s", r.status, r.err);
	json_t *get = result_for(r.out, "get");
	json_t *post = result_for(r.out, "post");
	json_t *missing = result_for(r.out, "missing");
	json_t *slow = result_for(r.out, "slow");
	cr_assert_str_eq(status_of(get), "ok");
	json_t *body = json_object_get(json_object_get(get, "result"), "body");
	cr_assert_str_eq(json_string_value(json_object_get(body, "name")), "beamline");
	cr_assert_str_eq(status_of(post), "ok");
	body = json_object_get(json_object_get(post, "result"), "body");
	cr_assert_str_eq(json_string_value(json_object_get(body, "body")), "{\"n\":1}");
	cr_assert_str_eq(status_of(missing), "error");
	cr_assert_str_eq(error_code_of(missing), "http_status");
	cr_assert_str_eq(status_of(slow), "timeout");
	cr_assert_lt(elapsed, 8000.0, "the run took %.0f ms: the timed-out request was not cancelled", elapsed);

	json_decref(get);
	json_decref(post);
	json_decref(missing);
	json_decref(slow);
	cli_result_free(&r);
	http_server_stop(&server);
	char cleanup[128];
	snprintf(cleanup, sizeof cleanup, "rm -rf %s", dir);
	cr_assert_eq(system(cleanup), 0);
}

/* A config with a bad http key stops the run before any job, naming the
 * key. */
Test(blocks_http_run, bad_config_key_is_named, .timeout = 60)
{
	char dir[] = "/tmp/bl-http-cfg-XXXXXX";
	char jobs_path[64], config_path[64];
	cli_result_t r;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(jobs_path, sizeof jobs_path, "%s/jobs.jsonl", dir);
	snprintf(config_path, sizeof config_path, "%s/config.json", dir);
	write_file(config_path, "{\"http\": {\"allow\": [\"127.0.0.1/32\", \"300.1.1.1/8\"]}}");
	write_file(jobs_path, "");
	const char *args[] = {"run", jobs_path, "--config", config_path, "--data-dir", dir, "--no-gpu", NULL};

	cli_run(&r, args, NULL);

	cr_assert_eq(r.status, 3, "exit status %d, stderr:\n%s", r.status, r.err);
	cr_assert_not_null(strstr(r.err, "http.allow[1]"), "stderr does not name the key:\n%s", r.err);
	cli_result_free(&r);
	char cleanup[128];
	snprintf(cleanup, sizeof cleanup, "rm -rf %s", dir);
	cr_assert_eq(system(cleanup), 0);
}

/*
 * I/O jobs do not take the places of compute jobs: with one CPU worker
 * (two compute places), four requests that each wait 3 s do not keep a
 * kernel job of another tenant waiting.
 */
Test(blocks_http_run, slow_requests_leave_kernels_room, .timeout = 90)
{
	http_server_t server = {0};
	char dir[] = "/tmp/bl-http-run-XXXXXX";
	char jobs_path[64], config_path[64], jobs[1024], line[256];
	cli_result_t r;

	http_server_start(&server);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(jobs_path, sizeof jobs_path, "%s/jobs.jsonl", dir);
	snprintf(config_path, sizeof config_path, "%s/config.json", dir);
	write_file(config_path, "{\"http\": {\"allow\": [\"127.0.0.1/32\"]}}");
	jobs[0] = '\0';
	for (int i = 0; i < 4; i++) {
		snprintf(line, sizeof line,
			 "{\"id\": \"slow%d\", \"tenant\": \"t\", \"block\": \"http\","
			 " \"params\": {\"url\": \"http://127.0.0.1:%d/slow?ms=3000\"}}\n",
			 i, server.port);
		strcat(jobs, line);
	}
	strcat(jobs, "{\"id\": \"noop\", \"tenant\": \"k\", \"block\": \"kernel\", \"params\": {\"kernel\": \"noop\"}}\n");
	write_file(jobs_path, jobs);
	const char *args[] = {"run",	 jobs_path,  "--config", config_path,	"--data-dir", dir,
			      "--no-gpu", "--workers", "1",	     "--no-progress", NULL};

	cli_run(&r, args, NULL);

	cr_assert_eq(r.status, 0, "exit status %d, stderr:\n%s", r.status, r.err);
	cr_assert_eq(strncmp(r.out, "{\"id\":\"noop\"", 12), 0, "the kernel job's result is not first:\n%s", r.out);
	json_t *noop = result_for(r.out, "noop");
	json_int_t queued_us = json_integer_value(json_object_get(json_object_get(noop, "timing_us"), "queued"));
	cr_assert_lt(queued_us, 1000000, "the kernel job queued %lld us behind the requests", (long long)queued_us);

	json_decref(noop);
	cli_result_free(&r);
	http_server_stop(&server);
	char cleanup[128];
	snprintf(cleanup, sizeof cleanup, "rm -rf %s", dir);
	cr_assert_eq(system(cleanup), 0);
}
