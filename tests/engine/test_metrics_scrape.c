/*
 * /metrics, /health and /ready of a running `beamline-engine run` with an
 * "admin" section, and the scraped text checked by promtool. The
 * fetch_promtool setup test fetches promtool; when it could not, the
 * promtool test is skipped and says why.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "engine_child.h"
#include "http_client.h"
#include "metrics_text.h"

#define TOKEN "scrape-test-token"

/* A job that holds the run open until the test kills it, and two that
 * fail at admission (unknown block). */
#define JOBS                                                                                                        \
	"{\"id\":\"wait\",\"tenant\":\"acme\",\"block\":\"human\",\"params\":{\"summary\":\"hold the run\","          \
	"\"requested_by\":\"ci\",\"expires_in_ms\":50000}}\n"                                                         \
	"{\"id\":\"bad-1\",\"tenant\":\"acme\",\"block\":\"nope\",\"params\":{}}\n"                                    \
	"{\"id\":\"bad-2\",\"tenant\":\"acme\",\"block\":\"nope\",\"params\":{}}\n"

#define FINISHED_BAD "beamline_engine_jobs_finished_total{tenant=\"acme\",block=\"nope\",status=\"error\"}"

typedef struct fixture {
	char dir[256];
	char path[6][320];
	engine_child_t run;
	int port;
} fixture_t;

enum { DATA, JOBS_FILE, CONFIG, TOKEN_FILE, PLACEMENT, SCRAPE };

/* Start a run whose endpoint listens on any free loopback port, and wait
 * for the port it logs. */
static void start(fixture_t *f)
{
	static const char *const names[] = {"data", "jobs.jsonl", "config.json", "token", "placement.json", "scrape.txt"};
	char config[1024];

	char dir[256];
	test_dir_make(dir, sizeof dir);
	memcpy(f->dir, dir, sizeof dir);
	for (int i = 0; i < 6; i++)
		snprintf(f->path[i], sizeof f->path[i], "%s/%s", dir, names[i]);
	cr_assert_eq(mkdir(f->path[DATA], 0700), 0);
	test_file_write(f->path[TOKEN_FILE], TOKEN "\n", 0600);
	test_file_write(f->path[JOBS_FILE], JOBS, 0600);
	snprintf(config, sizeof config, "{\"admin\": {\"listen\": \"127.0.0.1:0\", \"token_file\": \"%s\"}}",
		 f->path[TOKEN_FILE]);
	test_file_write(f->path[CONFIG], config, 0600);

	const char *args[] = {"run",	   f->path[JOBS_FILE], "--data-dir",  f->path[DATA],	"--config",
			      f->path[CONFIG], "--no-gpu",	   "--workers",	  "1",		"--no-progress",
			      "--log-level",   "info",		   "--placement", f->path[PLACEMENT], NULL};
	child_start(&f->run, f->dir, "run", args);
	char *line = wait_for_err(&f->run, "\"event\":\"admin_listening\"", 20000);
	cr_assert_not_null(line, "the engine did not log admin_listening");
	char *port = strstr(line, "\"port\":");
	cr_assert_not_null(port);
	f->port = atoi(port + 7);
	free(line);
}

static void stop(fixture_t *f)
{
	child_kill(&f->run);
	test_dir_remove(f->dir);
}

/* Scrape until the two failed jobs are counted, for up to 10 s. Returns
 * the last body (owned). */
static char *scrape_after_jobs(const fixture_t *f)
{
	long long until = now_ms() + 10000;
	for (;;) {
		http_reply_t r = http_request(f->port, "GET", "/metrics", NULL);
		cr_assert_eq(r.status, 200, "GET /metrics: %ld %s", r.status, r.body);
		cr_assert_str_eq(r.content_type ? r.content_type : "(none)", "text/plain; version=0.0.4; charset=utf-8");
		free(r.content_type);
		if (sample(r.body, FINISHED_BAD) == 2.0 || now_ms() > until)
			return r.body;
		free(r.body);
		sleep_ms(50);
	}
}

/* Run `promtool check metrics` on `path`; returns its exit status and
 * its output in `out` (`size` bytes). */
static int promtool_check(const char *promtool, const char *path, char *out, size_t size)
{
	char command[1024];
	snprintf(command, sizeof command, "'%s' check metrics < '%s' 2>&1", promtool, path);
	FILE *p = popen(command, "r");
	cr_assert_not_null(p, "cannot run %s", command);
	size_t n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A real scrape counts the two failed jobs by tenant, block and status,
 * shows one job running and the run's pools, and passes promtool's parser
 * and linter (exit 0: no HELP missing, counters end in _total, no unit
 * abbreviations). */
Test(engine_metrics_scrape, scrape_passes_promtool, .timeout = 120)
{
	struct stat st;
	if (stat(BL_PROMTOOL, &st) != 0)
		cr_skip_test("promtool is missing at %s: the fetch_promtool setup test could not download Debian's "
			     "prometheus package (no apt-get or no mirror); see scripts/fetch-promtool",
			     BL_PROMTOOL);
	fixture_t f;
	start(&f);

	char *text = scrape_after_jobs(&f);
	test_file_write(f.path[SCRAPE], text, 0600);
	char output[4096];
	int rc = promtool_check(BL_PROMTOOL, f.path[SCRAPE], output, sizeof output);

	cr_expect_eq(sample(text, FINISHED_BAD), 2.0, "%s", text);
	cr_expect_eq(sample(text, "beamline_engine_jobs_running"), 1.0, "%s", text);
	cr_expect_eq(sample(text, "beamline_engine_pool_workers{pool=\"cpu\"}"), 1.0, "%s", text);
	cr_expect_geq(sample(text, "beamline_engine_pool_busy_ratio{pool=\"cpu\"}"), 0.0, "%s", text);
	cr_expect_leq(sample(text, "beamline_engine_pool_busy_ratio{pool=\"cpu\"}"), 1.0, "%s", text);
	cr_expect_gt(sample(text, "process_open_fds"), 0.0, "%s", text);
	cr_expect_eq(rc, 0, "promtool check metrics exited %d:\n%s\non:\n%s", rc, output, text);
	free(text);
	stop(&f);
}

/* The running engine is alive and, with its pools running, ready. Neither
 * route needs the token. */
Test(engine_metrics_scrape, health_and_ready_of_a_run, .timeout = 60)
{
	fixture_t f;
	start(&f);

	http_reply_t health = http_request(f.port, "GET", "/health", NULL);
	http_reply_t ready = http_request(f.port, "GET", "/ready", NULL);

	cr_expect_eq(health.status, 200, "/health: %ld %s", health.status, health.body);
	cr_expect_str_eq(health.body, "{\"status\":\"alive\"}");
	cr_expect_eq(ready.status, 200, "/ready: %ld %s", ready.status, ready.body);
	cr_expect_str_eq(ready.body, "{\"status\":\"ready\"}");
	http_reply_free(&health);
	http_reply_free(&ready);
	stop(&f);
}
