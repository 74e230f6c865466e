/*
 * The sql block through `beamline-engine run --config FILE JOBS`: a config
 * naming a PostgreSQL database, a jobs file mixing PostgreSQL and the
 * embedded SQLite database, and the results the executable writes.
 */
#define _GNU_SOURCE /* mkdtemp */

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_harness.h"
#include "pg_server.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* Find the result line of job `id` in the engine's output. */
static json_t *result_of(const char *out, const char *id)
{
	const char *line = out;
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		json_t *r = json_loadb(line, len, 0, NULL);
		if (r && strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
			return r;
		json_decref(r);
		line = end ? end + 1 : NULL;
	}
	cr_assert_fail("no result for job %s in:\n%s", id, out);
	return NULL;
}

static const char *status_of(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static const char *error_part(json_t *r, const char *part)
{
	const char *v = json_string_value(json_object_get(json_object_get(r, "error"), part));
	return v ? v : "(none)";
}

#define JOB(id, params) "{\"id\": \"" id "\", \"tenant\": \"t\", \"block\": \"sql\", \"params\": " params "}\n"

/* Every kind of job ends as it should: PostgreSQL rows with parameters,
 * an injection attempt stored as data, a statement timeout, the embedded
 * SQLite database made in the tenant's folder, and bad parameters refused
 * with the field named. */
Test(blocks_sql_run, jobs_file_with_config, .timeout = 180)
{
	pg_server_t pg;
	char bindir[256], why[512], dir[256], path[400], dsn[256], config[1024], data[300];
	cli_result_t r;

	if (!pg_server_find(bindir, sizeof bindir))
		cr_skip_test("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin)");
	cr_assert_eq(pg_server_start(&pg, why, sizeof why), 0, "cannot start PostgreSQL: %s", why);
	cr_assert_eq(pg_server_exec(&pg, "postgres", "CREATE TABLE items (id int PRIMARY KEY, name text);"
				    "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g",
				    why, sizeof why), 0, "%s", why);

	snprintf(dir, sizeof dir, "%s/bl-sql-run-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(data, sizeof data, "%s/data", dir);
	cr_assert_eq(mkdir(data, 0700), 0);
	snprintf(path, sizeof path, "%s/t", data);
	cr_assert_eq(mkdir(path, 0700), 0);
	pg_server_dsn(&pg, dsn, sizeof dsn, "postgres", "postgres");
	snprintf(config, sizeof config, "{\"sql\": {\"max_rows\": 100, \"databases\": {\"main\": {\"driver\": "
		 "\"postgres\", \"dsn\": \"%s\", \"pool_size\": 2, \"shared\": true}}}}", dsn);
	char config_path[300], jobs_path[300];
	snprintf(config_path, sizeof config_path, "%s/config.json", dir);
	snprintf(jobs_path, sizeof jobs_path, "%s/jobs.jsonl", dir);
	write_file(config_path, config);
	write_file(jobs_path,
		   JOB("select", "{\"database\": \"main\", \"sql\": \"SELECT id, name FROM items WHERE id > $1 "
				 "ORDER BY id\", \"params\": [15]}")
		   JOB("inject", "{\"database\": \"main\", \"sql\": \"SELECT count(*) FROM items WHERE name = $1\", "
				 "\"params\": [\"x' OR '1'='1\"]}")
		   JOB("capped", "{\"database\": \"main\", \"sql\": \"SELECT id FROM items\", \"max_rows\": 3}")
		   JOB("slow", "{\"database\": \"main\", \"sql\": \"SELECT pg_sleep(10)\", \"timeout_ms\": 100}")
		   JOB("embedded", "{\"sql\": \"SELECT $1 + 1 AS n\", \"params\": [41]}")
		   JOB("no_sql", "{\"database\": \"main\"}")
		   JOB("unknown_db", "{\"database\": \"nope\", \"sql\": \"SELECT 1\"}")
		   JOB("notice", "{\"database\": \"main\", \"sql\": \"DO $$BEGIN RAISE NOTICE 'notice from a job'; "
				 "END$$\"}")
		   "{\"id\": \"job_timeout\", \"tenant\": \"t\", \"block\": \"sql\", \"timeout_ms\": 300, "
		   "\"params\": {\"database\": \"main\", \"sql\": \"SELECT pg_sleep(20)\"}}\n");

	const char *args[] = {"run", "--config", config_path, "--data-dir", data, "--no-gpu", jobs_path, NULL};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cli_run(&r, args, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	/* Status 1: the run completed and some jobs failed, as four must. */
	cr_assert_eq(r.status, 1, "beamline-engine exited %d:\n%s", r.status, r.err);
	json_t *select = result_of(r.out, "select");
	cr_assert_str_eq(status_of(select), "ok", "select: %s", error_part(select, "message"));
	json_t *rows = json_object_get(json_object_get(select, "result"), "rows");
	cr_assert_eq(json_array_size(rows), 5);
	cr_assert_str_eq(json_string_value(json_array_get(json_array_get(rows, 0), 1)), "item 16");

	json_t *inject = result_of(r.out, "inject");
	cr_assert_str_eq(status_of(inject), "ok");
	json_t *inject_rows = json_object_get(json_object_get(inject, "result"), "rows");
	json_t *count = json_array_get(json_array_get(inject_rows, 0), 0);
	cr_assert_eq(json_integer_value(count), 0, "the injected OR matched rows");

	json_t *capped = result_of(r.out, "capped");
	cr_assert(json_is_true(json_object_get(json_object_get(capped, "result"), "truncated")));

	json_t *slow = result_of(r.out, "slow");
	cr_assert_str_eq(status_of(slow), "error");
	cr_assert_str_eq(error_part(slow, "code"), "timeout");

	json_t *embedded = result_of(r.out, "embedded");
	cr_assert_str_eq(status_of(embedded), "ok", "embedded: %s", error_part(embedded, "message"));
	snprintf(path, sizeof path, "%s/t/sql/default.db", data);
	cr_assert_eq(access(path, F_OK), 0, "no embedded database at %s", path);

	json_t *no_sql = result_of(r.out, "no_sql");
	cr_assert_str_eq(error_part(no_sql, "code"), "invalid_params");
	cr_assert_str_eq(error_part(no_sql, "field"), "params.sql");
	json_t *unknown = result_of(r.out, "unknown_db");
	cr_assert_str_eq(error_part(unknown, "field"), "params.database");

	/* The job's own timeout ends it as "timeout", and the run does not wait
	 * for pg_sleep(20) to end. */
	json_t *job_timeout = result_of(r.out, "job_timeout");
	cr_assert_str_eq(status_of(job_timeout), "timeout");
	cr_assert_lt(elapsed, 15.0, "the run took %.1f s; the timed-out statement kept running", elapsed);

	/* A server notice is dropped, not printed by libpq on stderr. */
	json_t *notice = result_of(r.out, "notice");
	cr_assert_str_eq(status_of(notice), "ok", "notice: %s", error_part(notice, "message"));
	cr_assert_null(strstr(r.err, "notice from a job"), "the notice reached stderr:\n%s", r.err);

	json_t *all[] = {select, inject, capped, slow, embedded, no_sql, unknown, job_timeout, notice};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		json_decref(all[i]);
	cli_result_free(&r);
	pg_server_stop(&pg);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/rm", "rm", "-rf", dir, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}
