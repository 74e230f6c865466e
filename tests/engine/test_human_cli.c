/*
 * The human block end to end: `beamline-engine run` as a child process
 * parks human jobs, and `beamline-engine approve` from another process
 * decides them; expiry, restarts and many parked jobs.
 */
#define _GNU_SOURCE /* strptime, timegm */

#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_harness.h"
#include "engine_child.h"

typedef struct fixture {
	char dir[256];
	char data[300];
	char jobs[320];
	char approvals[360];
	char placement[320]; /* kept in the folder, not in the user's cache */
} fixture_t;

static void fixture_init(fixture_t *f, const char *jobs)
{
	test_dir_make(f->dir, sizeof f->dir);
	snprintf(f->data, sizeof f->data, "%s/data", f->dir);
	snprintf(f->jobs, sizeof f->jobs, "%s/jobs.jsonl", f->dir);
	snprintf(f->approvals, sizeof f->approvals, "%s/.beamline/approvals", f->data);
	snprintf(f->placement, sizeof f->placement, "%s/placement.json", f->dir);
	cr_assert_eq(mkdir(f->data, 0700), 0);
	test_file_write(f->jobs, jobs, 0600);
}

/* Start a run of the fixture's jobs; `extra` adds up to four options. */
static void start_run(engine_child_t *c, const fixture_t *f, const char *tag, const char *const *extra)
{
	const char *args[24] = {"run",		 f->jobs,	  "--data-dir", f->data, "--no-gpu", "--workers", "1",
				"--no-progress", "--log-level", "info",	"--placement", f->placement};
	size_t n = 12;
	for (size_t i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	child_start(c, f->dir, tag, args);
}

static void request_path(char *out, size_t size, const fixture_t *f, const char *id)
{
	snprintf(out, size, "%s/%s.request.json", f->approvals, id);
}

/* Wait until the request of `id` is stored. */
static void wait_for_request(const fixture_t *f, const char *id)
{
	char path[512];
	request_path(path, sizeof path, f, id);
	cr_assert(wait_for_path(path, 20000), "the run did not post %s within 20 s", path);
}

static json_t *read_request(const fixture_t *f, const char *id)
{
	char path[512];
	request_path(path, sizeof path, f, id);
	json_t *r = json_load_file(path, 0, NULL);
	cr_assert_not_null(r, "cannot read %s", path);
	return r;
}

/* Run `beamline-engine approve` for the fixture's data folder. */
static void approve(cli_result_t *r, const fixture_t *f, const char *id, const char *decision, const char *by)
{
	const char *args[] = {"approve", id, "--decision", decision, "--by", by, "--data-dir", f->data, NULL};
	cli_run(r, args, NULL);
}

/* The result of job `id` in the child's output; owned. */
static json_t *result_of(const engine_child_t *c, const char *id)
{
	char *text = test_file_read(c->out_path);
	cr_assert_not_null(text);
	json_t *found = NULL;
	for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
		json_t *r = json_loads(line, 0, NULL);
		const char *rid = json_string_value(json_object_get(r, "id"));
		if (rid && strcmp(rid, id) == 0 && !json_object_get(r, "duplicate"))
			found = json_incref(r);
		json_decref(r);
	}
	free(text);
	cr_assert_not_null(found, "no result for job %s", id);
	return found;
}

static const char *text_at(json_t *r, const char *a, const char *b)
{
	json_t *v = json_object_get(r, a);
	return json_string_value(b ? json_object_get(v, b) : v);
}

/* Parse an RFC 3339 UTC time with a fraction ("...T03:10:40.918441Z")
 * into Unix milliseconds. */
static double unix_ms(const char *text)
{
	struct tm tm = {0};
	const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert_not_null(rest, "not an RFC 3339 time: %s", text);
	double fraction = *rest == '.' ? strtod(rest, NULL) : 0;
	return (double)timegm(&tm) * 1000.0 + fraction * 1000.0;
}

#define HUMAN(id, extra)                                                                                            \
	"{\"id\":\"" id "\",\"tenant\":\"acme\",\"block\":\"human\",\"params\":{\"summary\":\"deploy " id            \
	"\",\"requested_by\":\"ci\"" extra "}}\n"

/* A parked job resumes once another process approves it, and its result
 * carries who decided and the comment. The 30 s expiry is far beyond the
 * test, so only the approval can end the job. */
Test(engine_human_cli, approve_resumes_parked_job, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	cli_result_t r;
	fixture_init(&f, HUMAN("j1", ",\"expires_in_ms\":30000"));
	start_run(&run, &f, "run", NULL);
	wait_for_request(&f, "acme:j1");

	const char *args[] = {"approve", "acme:j1", "--decision", "approve", "--by",	    "alice",
			      "--comment", "ship it", "--data-dir", f.data,	NULL};
	cli_run(&r, args, NULL);
	long long decided = now_ms();
	cr_assert_eq(r.status, 0, "approve exited %d: %s", r.status, r.err);
	cr_assert(child_wait(&run, 10000), "the run did not finish within 10 s of the approval");
	long long waited = now_ms() - decided;

	json_t *res = result_of(&run, "j1");
	cr_assert_eq(run.status, 0, "run exited %d", run.status);
	cr_assert_str_eq(text_at(res, "status", NULL), "ok");
	cr_assert_str_eq(text_at(res, "result", "decision"), "approve");
	cr_assert_str_eq(text_at(res, "result", "decided_by"), "alice");
	cr_assert_str_eq(text_at(res, "result", "comment"), "ship it");
	cr_assert_str_eq(text_at(res, "result", "approval_id"), "acme:j1");
	cr_assert(json_is_false(json_object_get(json_object_get(res, "result"), "defaulted")));
	/* The watch resumes the job promptly; the run's own shutdown (ASan
	 * build) is most of this. */
	cr_assert_lt(waited, 5000, "the run took %lld ms to finish after the approval", waited);
	char *text = test_file_read(run.err_path);
	char *line = strstr(text, "\"event\":\"approval_decided\"");
	cr_assert_not_null(line, "no approval_decided log line");
	cr_assert_not_null(strstr(line, "\"corr_id\":\"acme/j1\""), "the log line lacks the correlation id: %s", line);
	/* From the decision file to the job's resumption, by the log line's
	 * time stamp: the folder watch makes this milliseconds. */
	while (line > text && line[-1] != '\n')
		line--;
	double resumed = unix_ms(strstr(line, "\"ts\":\"") + 6);
	double decided_at = unix_ms(text_at(res, "result", "decided_at"));
	cr_assert_lt(resumed - decided_at, 1000, "the job resumed %.0f ms after the decision", resumed - decided_at);
	free(text);
	json_decref(res);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* A rejection is a successful run whose decision is "reject", unless the
 * job asks with fail_on_reject to fail on it. */
Test(engine_human_cli, reject_is_ok_unless_fail_on_reject, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	cli_result_t r1, r2;
	fixture_init(&f, HUMAN("soft", ",\"expires_in_ms\":30000")
				 HUMAN("hard", ",\"expires_in_ms\":30000,\"fail_on_reject\":true"));
	start_run(&run, &f, "run", NULL);
	wait_for_request(&f, "acme:soft");
	wait_for_request(&f, "acme:hard");

	approve(&r1, &f, "acme:soft", "reject", "bob");
	approve(&r2, &f, "acme:hard", "reject", "bob");
	cr_assert(child_wait(&run, 10000), "the run did not finish after both rejections");

	cr_assert_eq(r1.status, 0);
	cr_assert_eq(r2.status, 0);
	json_t *soft = result_of(&run, "soft");
	json_t *hard = result_of(&run, "hard");
	cr_assert_str_eq(text_at(soft, "status", NULL), "ok");
	cr_assert_str_eq(text_at(soft, "result", "decision"), "reject");
	cr_assert_str_eq(text_at(hard, "status", NULL), "error");
	cr_assert_str_eq(text_at(hard, "error", "code"), "approval_rejected");
	cr_assert_eq(run.status, 1, "a failed job makes the run exit 1, got %d", run.status);
	json_decref(soft);
	json_decref(hard);
	cli_result_free(&r1);
	cli_result_free(&r2);
	test_dir_remove(f.dir);
}

/* On expiry the job's default applies, else the config's ("reject"
 * unless approvals.default_decision says otherwise), and the result says
 * it was a default. */
Test(engine_human_cli, expiry_applies_default, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	fixture_init(&f, HUMAN("own", ",\"expires_in_ms\":300,\"default_decision\":\"reject\"")
				 HUMAN("config", ",\"expires_in_ms\":300"));
	char config[512];
	snprintf(config, sizeof config, "%s/config.json", f.dir);
	test_file_write(config, "{\"approvals\": {\"default_decision\": \"approve\"}}", 0600);
	const char *extra[] = {"--config", config, NULL};

	start_run(&run, &f, "run", extra);
	cr_assert(child_wait(&run, 20000), "the run did not finish after the expiries");

	json_t *own = result_of(&run, "own");
	json_t *cfg = result_of(&run, "config");
	cr_assert_str_eq(text_at(own, "result", "decision"), "reject");
	cr_assert_str_eq(text_at(cfg, "result", "decision"), "approve");
	cr_assert(json_is_true(json_object_get(json_object_get(own, "result"), "defaulted")));
	cr_assert(json_is_true(json_object_get(json_object_get(cfg, "result"), "defaulted")));
	char *line = wait_for_err(&run, "\"event\":\"approval_expired\"", 0);
	cr_assert_not_null(line, "no approval_expired log line");
	free(line);
	json_decref(own);
	json_decref(cfg);
	test_dir_remove(f.dir);
}

/* With approvals.watch false (a state folder on a network file system,
 * where inotify misses other hosts' writes) a parked job rereads its
 * decision every rescan_ms and still resumes. */
Test(engine_human_cli, polling_without_watch_resumes_job, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	cli_result_t r;
	fixture_init(&f, HUMAN("j1", ",\"expires_in_ms\":30000"));
	char config[512];
	snprintf(config, sizeof config, "%s/config.json", f.dir);
	test_file_write(config, "{\"approvals\": {\"watch\": false, \"rescan_ms\": 50}}", 0600);
	const char *extra[] = {"--config", config, NULL};
	start_run(&run, &f, "run", extra);
	wait_for_request(&f, "acme:j1");

	approve(&r, &f, "acme:j1", "approve", "polly");
	cr_assert_eq(r.status, 0);
	cr_assert(child_wait(&run, 10000), "the polling run did not finish after the approval");

	json_t *res = result_of(&run, "j1");
	cr_assert_str_eq(text_at(res, "result", "decided_by"), "polly");
	json_decref(res);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* A run killed while its job waits leaves the request in the state
 * folder; the same jobs run again find it under the same id with its
 * original creation time and expiry, and an approval then resumes it. */
Test(engine_human_cli, restart_keeps_request_and_expiry, .timeout = 120)
{
	fixture_t f;
	engine_child_t first, second;
	cli_result_t r;
	fixture_init(&f, HUMAN("j1", ",\"expires_in_ms\":40000"));
	start_run(&first, &f, "first", NULL);
	wait_for_request(&f, "acme:j1");
	json_t *before = read_request(&f, "acme:j1");
	child_kill(&first);

	sleep_ms(50);
	start_run(&second, &f, "second", NULL);
	char *found = wait_for_err(&second, "\"event\":\"approval_found\"", 20000);
	cr_assert_not_null(found, "the second run did not find the stored request");
	free(found);
	json_t *after = read_request(&f, "acme:j1");
	approve(&r, &f, "acme:j1", "approve", "carol");
	cr_assert(child_wait(&second, 10000), "the second run did not finish after the approval");

	cr_assert(json_equal(json_object_get(before, "expires_ms"), json_object_get(after, "expires_ms")),
		  "the expiry changed across the restart");
	cr_assert(json_equal(json_object_get(before, "created_ms"), json_object_get(after, "created_ms")));
	json_t *res = result_of(&second, "j1");
	cr_assert_str_eq(text_at(res, "result", "decided_by"), "carol");
	json_decref(res);
	json_decref(before);
	json_decref(after);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* A decision made while no engine runs is what the next run returns. */
Test(engine_human_cli, restart_finds_decision_made_while_down, .timeout = 120)
{
	fixture_t f;
	engine_child_t first, second;
	cli_result_t r;
	fixture_init(&f, HUMAN("j1", ",\"expires_in_ms\":40000"));
	start_run(&first, &f, "first", NULL);
	wait_for_request(&f, "acme:j1");
	child_kill(&first);

	approve(&r, &f, "acme:j1", "reject", "dave");
	cr_assert_eq(r.status, 0, "approve with no engine running exited %d: %s", r.status, r.err);
	start_run(&second, &f, "second", NULL);
	cr_assert(child_wait(&second, 20000), "the second run did not finish with the stored decision");

	json_t *res = result_of(&second, "j1");
	cr_assert_str_eq(text_at(res, "result", "decision"), "reject");
	cr_assert_str_eq(text_at(res, "result", "decided_by"), "dave");
	json_decref(res);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* approve refuses what it cannot do, each with its own exit status and a
 * message naming the cause. The approvals are made by an engine run that
 * ends through expiry and an approval. */
Test(engine_human_cli, approve_refusals, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	cli_result_t r;
	fixture_init(&f, HUMAN("short", ",\"expires_in_ms\":200") HUMAN("long", ",\"expires_in_ms\":30000"));
	start_run(&run, &f, "run", NULL);
	wait_for_request(&f, "acme:long");
	approve(&r, &f, "acme:long", "approve", "erin");
	cr_assert_eq(r.status, 0);
	cli_result_free(&r);
	cr_assert(child_wait(&run, 20000));

	approve(&r, &f, "acme:nope", "approve", "erin");
	cr_assert_eq(r.status, 4, "unknown id: expected exit 4, got %d", r.status);
	cr_assert_not_null(strstr(r.err, "not found"), "stderr: %s", r.err);
	cli_result_free(&r);

	approve(&r, &f, "acme:long", "reject", "frank");
	cr_assert_eq(r.status, 5, "already decided: expected exit 5, got %d", r.status);
	cr_assert_not_null(strstr(r.err, "already decided: approve by erin"), "stderr: %s", r.err);
	cli_result_free(&r);

	approve(&r, &f, "acme:short", "reject", "frank");
	cr_assert_eq(r.status, 5, "decided by its default: expected exit 5, got %d", r.status);
	cr_assert_not_null(strstr(r.err, "default on expiry"), "stderr: %s", r.err);
	cli_result_free(&r);

	approve(&r, &f, "acme:long", "maybe", "frank");
	cr_assert_eq(r.status, 2, "bad decision word: expected exit 2, got %d", r.status);
	cr_assert_not_null(strstr(r.err, "--decision: expected approve or reject, got 'maybe'"), "stderr: %s", r.err);
	cli_result_free(&r);

	approve(&r, &f, "no-colon", "approve", "frank");
	cr_assert_eq(r.status, 2, "bad id: expected exit 2, got %d", r.status);
	cli_result_free(&r);

	approve(&r, &f, "acme:long", "approve", "");
	cr_assert_eq(r.status, 2, "empty --by: expected exit 2, got %d", r.status);
	cr_assert_not_null(strstr(r.err, "--by: expected the name of who decides"), "stderr: %s", r.err);
	cli_result_free(&r);

	approve(&r, &f, "acme:long", "approve", "  ");
	cr_assert_eq(r.status, 2, "blank --by: expected exit 2, got %d", r.status);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* An expired request that nobody has defaulted yet (its engine was
 * killed before the expiry) is refused with exit 6; the next run then
 * applies the default at once. */
Test(engine_human_cli, approve_expired_refused, .timeout = 120)
{
	fixture_t f;
	engine_child_t first, second;
	cli_result_t r;
	fixture_init(&f, HUMAN("j1", ",\"expires_in_ms\":1000,\"default_decision\":\"approve\""));
	start_run(&first, &f, "first", NULL);
	wait_for_request(&f, "acme:j1");
	child_kill(&first);
	sleep_ms(1200);

	approve(&r, &f, "acme:j1", "reject", "gina");
	cr_assert_eq(r.status, 6, "expired: expected exit 6, got %d (%s)", r.status, r.err);
	cr_assert_not_null(strstr(r.err, "expired"), "stderr: %s", r.err);
	start_run(&second, &f, "second", NULL);
	cr_assert(child_wait(&second, 20000));

	json_t *res = result_of(&second, "j1");
	cr_assert_str_eq(text_at(res, "result", "decision"), "approve");
	cr_assert(json_is_true(json_object_get(json_object_get(res, "result"), "defaulted")));
	json_decref(res);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* --state-dir moves the state folder for run, approvals and approve
 * alike. */
Test(engine_human_cli, state_dir_option_shared, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	cli_result_t listed, decided;
	fixture_init(&f, HUMAN("j1", ",\"expires_in_ms\":30000"));
	char state[400], request[600];
	snprintf(state, sizeof state, "%s/state", f.dir);
	snprintf(request, sizeof request, "%s/approvals/acme:j1.request.json", state);
	const char *extra[] = {"--state-dir", state, NULL};
	start_run(&run, &f, "run", extra);
	cr_assert(wait_for_path(request, 20000), "no request under --state-dir");

	const char *list_args[] = {"approvals", "--state-dir", state, NULL};
	cli_run(&listed, list_args, NULL);
	const char *approve_args[] = {"approve", "acme:j1", "--decision", "approve", "--by",
				      "kim",	 "--state-dir", state, NULL};
	cli_run(&decided, approve_args, NULL);
	cr_assert(child_wait(&run, 10000), "the run did not finish after the approval");

	cr_assert_eq(listed.status, 0);
	cr_assert_not_null(strstr(listed.out, "acme:j1"), "approvals printed: %s", listed.out);
	cr_assert_eq(decided.status, 0, "approve exited %d: %s", decided.status, decided.err);
	cr_assert_neq(access(f.approvals, F_OK), 0, "the data folder got an approvals folder too");
	cli_result_free(&listed);
	cli_result_free(&decided);
	test_dir_remove(f.dir);
}

/* `approvals --json` lists what is pending, with the request's fields. */
Test(engine_human_cli, approvals_lists_pending, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	cli_result_t r;
	fixture_init(&f, HUMAN("j1", ",\"expires_in_ms\":30000,\"details\":{\"ticket\":42}"));
	start_run(&run, &f, "run", NULL);
	wait_for_request(&f, "acme:j1");

	const char *args[] = {"approvals", "--json", "--data-dir", f.data, NULL};
	cli_run(&r, args, NULL);
	json_t *list = json_loads(r.out, 0, NULL);
	child_kill(&run);

	cr_assert_eq(r.status, 0);
	cr_assert_eq(json_array_size(list), 1, "expected one pending approval, got: %s", r.out);
	json_t *a = json_array_get(list, 0);
	cr_assert_str_eq(json_string_value(json_object_get(a, "id")), "acme:j1");
	cr_assert_str_eq(json_string_value(json_object_get(a, "status")), "pending");
	cr_assert_str_eq(json_string_value(json_object_get(a, "summary")), "deploy j1");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(a, "details"), "ticket")), 42);
	json_decref(list);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* The table shows control characters of a summary as \xNN, so a job
 * cannot clear or redraw the decider's terminal or add fake rows. */
Test(engine_human_cli, approvals_table_escapes_control_characters, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	cli_result_t r;
	fixture_init(&f, "{\"id\":\"j1\",\"tenant\":\"acme\",\"block\":\"human\",\"params\":{\"summary\":"
			 "\"a\\u001b[2Jb\\r\\nc\\u009bd\",\"requested_by\":\"ci\\u0007\",\"expires_in_ms\":30000}}\n");
	start_run(&run, &f, "run", NULL);
	wait_for_request(&f, "acme:j1");

	const char *args[] = {"approvals", "--data-dir", f.data, NULL};
	cli_run(&r, args, NULL);
	child_kill(&run);

	cr_assert_eq(r.status, 0);
	cr_assert_null(strchr(r.out, 0x1B), "an escape character was printed: %s", r.out);
	cr_assert_null(strchr(r.out, '\r'), "a carriage return was printed: %s", r.out);
	cr_assert_null(strchr(r.out, 0x07), "a bell was printed: %s", r.out);
	cr_assert_null(strstr(r.out, "\xC2\x9B"), "a C1 control was printed: %s", r.out);
	cr_assert_not_null(strstr(r.out, "a\\x1B[2Jb\\x0D\\x0Ac\\x9Bd"), "summary not escaped: %s", r.out);
	cli_result_free(&r);
	test_dir_remove(f.dir);
}

/* 200 parked jobs hold no thread: the engine keeps the threads of its
 * pools (well under 40 here) and a kernel job queued after them finishes
 * first, while every approval is still pending. The quota lets all 201
 * jobs run at once. */
Test(engine_human_cli, many_parked_jobs_hold_no_threads, .timeout = 300)
{
	fixture_t f;
	engine_child_t run;
	char *jobs = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&jobs, &size);
	for (int i = 0; i < 200; i++)
		fprintf(out,
			"{\"id\":\"h%03d\",\"tenant\":\"acme\",\"block\":\"human\",\"params\":{\"summary\":\"s\","
			"\"requested_by\":\"ci\",\"expires_in_ms\":8000,\"default_decision\":\"approve\"}}\n",
			i);
	fputs("{\"id\":\"noop\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n", out);
	fclose(out);
	fixture_init(&f, jobs);
	free(jobs);
	char quotas[512];
	snprintf(quotas, sizeof quotas, "%s/quotas.json", f.dir);
	test_file_write(quotas, "{\"default\": {\"max_concurrent\": 300}}", 0600);
	const char *extra[] = {"--quotas", quotas, NULL};

	start_run(&run, &f, "run", extra);
	wait_for_request(&f, "acme:h199");
	int threads = child_threads(&run);
	cr_assert(child_wait(&run, 60000), "the run did not finish after the expiries");

	cr_assert_lt(threads, 40, "the engine ran %d threads with 200 jobs parked", threads);
	json_t *noop = result_of(&run, "noop");
	cr_assert_str_eq(text_at(noop, "status", NULL), "ok");
	json_int_t queued_us = json_integer_value(json_object_get(json_object_get(noop, "timing_us"), "queued"));
	cr_assert_lt(queued_us, 3000000, "the kernel job waited %lld us behind the parked jobs", (long long)queued_us);
	char *text = test_file_read(run.out_path);
	cr_assert_eq(strncmp(text, "{\"id\":\"noop\"", 12), 0, "the kernel job's result is not first: %.80s", text);
	free(text);
	json_t *last = result_of(&run, "h199");
	cr_assert(json_is_true(json_object_get(json_object_get(last, "result"), "defaulted")));
	json_decref(last);
	json_decref(noop);
	test_dir_remove(f.dir);
}

/* Results written to standard output reach the reader while a job is still
 * parked, rather than when the run ends. */
Test(engine_human_cli, results_show_while_a_job_waits, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	fixture_init(&f, HUMAN("wait", ",\"expires_in_ms\":30000")
			 "{\"id\":\"noop\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n");
	start_run(&run, &f, "run", NULL);
	wait_for_request(&f, "acme:wait");

	char *text = NULL;
	for (int waited = 0; waited < 5000; waited += 50) {
		free(text);
		text = test_file_read(run.out_path);
		if (text && strstr(text, "\"id\":\"noop\""))
			break;
		sleep_ms(50);
	}

	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "\"id\":\"noop\""), "the noop result was not written within 5 s: '%s'", text);
	cr_assert_null(strstr(text, "\"id\":\"wait\""), "the parked job has a result already: %s", text);
	free(text);
	child_kill(&run);
	test_dir_remove(f.dir);
}

/* SIGTERM stops the run without losing a result: the job waiting for a
 * person ends "cancelled" with its request still pending for the next run,
 * the finished one keeps its result, and --output gets the whole file. */
Test(engine_human_cli, sigterm_writes_every_result, .timeout = 120)
{
	fixture_t f;
	engine_child_t run;
	char out[400];
	fixture_init(&f, "{\"id\":\"noop\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"
			 HUMAN("wait", ",\"expires_in_ms\":50000"));
	snprintf(out, sizeof out, "%s/results.jsonl", f.dir);
	const char *extra[] = {"--output", out, NULL};
	start_run(&run, &f, "run", extra);
	wait_for_request(&f, "acme:wait");

	kill(run.pid, SIGTERM);

	cr_assert(child_wait(&run, 20000), "the run did not stop within 20 s of SIGTERM");
	cr_assert_eq(run.status, 1, "exit status %d (1: some job did not succeed)", run.status);
	char *text = test_file_read(out);
	cr_assert_not_null(text, "no output file after SIGTERM");
	cr_assert_not_null(strstr(text, "\"id\":\"noop\",\"tenant\":\"acme\",\"status\":\"ok\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"id\":\"wait\",\"tenant\":\"acme\",\"status\":\"cancelled\""), "%s", text);
	char request[512];
	request_path(request, sizeof request, &f, "acme:wait");
	cr_assert(wait_for_path(request, 0), "the pending request is gone");
	free(text);
	test_dir_remove(f.dir);
}

/* Whether `dir` contains a file whose name starts with `prefix`. */
static bool dir_has_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	cr_assert_not_null(d, "cannot open %s", dir);
	while (!found && (e = readdir(d)))
		found = strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return found;
}

/*
 * A second SIGTERM ends the run at once (exit 143). The temporary output
 * beside --output must still be removed, as output.c's handler removes it
 * when a signal ends a process that writes one. The sql job keeps the run
 * busy: its postgres listens on 127.0.0.1 and never accepts.
 */
Test(engine_human_cli, second_sigterm_removes_temp_output, .timeout = 60)
{
	fixture_t f;
	engine_child_t run;
	char out[400], config[400], text[512];
	int port;
	int fd = silent_listener(&port);
	fixture_init(&f, "{\"id\":\"slow\",\"tenant\":\"acme\",\"block\":\"sql\",\"params\":{\"database\":\"pg\","
			 "\"sql\":\"SELECT 1\"}}\n");
	snprintf(config, sizeof config, "%s/config.json", f.dir);
	snprintf(text, sizeof text,
		 "{\"sql\": {\"connect_timeout_ms\": 20000, \"databases\": {\"pg\": {\"driver\": \"postgres\", "
		 "\"dsn\": \"host=127.0.0.1 port=%d dbname=x user=x\", \"shared\": true}}}}",
		 port);
	test_file_write(config, text, 0600);
	snprintf(out, sizeof out, "%s/results.jsonl", f.dir);
	const char *extra[] = {"--output", out, "--config", config, NULL};
	start_run(&run, &f, "run", extra);
	for (int i = 0; i < 100 && !dir_has_prefix(f.dir, "results.jsonl.tmp-"); i++)
		sleep_ms(50);
	cr_assert(dir_has_prefix(f.dir, "results.jsonl.tmp-"), "no temporary output within 5 s of the start");
	sleep_ms(500); /* the sql job is connecting */

	kill(run.pid, SIGTERM);
	free(wait_for_err(&run, "run_stopping", 5000));
	kill(run.pid, SIGTERM);

	cr_assert(child_wait(&run, 10000), "the run did not end within 10 s of the second SIGTERM");
	cr_assert_eq(run.status, 143, "exit status %d (143: ended by the second SIGTERM)", run.status);
	cr_assert_not(dir_has_prefix(f.dir, "results.jsonl.tmp-"), "the temporary output was left in %s", f.dir);
	close(fd);
	test_dir_remove(f.dir);
}
