/*
 * The sql block on SQLite: the tenant's embedded database, configured
 * files, parameters that stay data, parameter numbering, one statement per
 * job, the row cap, timeouts, cancellation and isolation between tenants.
 */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sql_fixture.h"

/* A query that never ends by itself. */
#define ENDLESS "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"

static const char *error_code(const bl_block_outcome_t *o)
{
	return o->error_code ? o->error_code : "(none)";
}

static void assert_ok(const bl_block_outcome_t *o)
{
	cr_assert_eq(o->code, 0, "expected success, got %s: %s: %s", error_code(o), o->error.field, o->error.message);
}

/* Run `params` for `tenant`, expect success, and free the outcome. */
static void run_ok(sql_fixture_t *f, const char *tenant, const char *params)
{
	bl_block_outcome_t *o = sql_run(f, tenant, params);
	assert_ok(o);
	bl_block_outcome_free(&o);
}

static void start(sql_fixture_t *f)
{
	sql_fixture_init(f);
	sql_fixture_start(f, NULL);
}

static long long row_count(const bl_block_outcome_t *o)
{
	return json_integer_value(json_object_get(o->result, "row_count"));
}

/* A job without "database" uses TENANT/sql/default.db, made on first use,
 * and its data persists from job to job. */
Test(blocks_sql_sqlite, embedded_database_lives_in_tenant_folder, .timeout = 60)
{
	sql_fixture_t f;
	char path[400];
	struct stat st;
	start(&f);

	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)\"}");
	bl_block_outcome_t *ins = sql_run(&f, "a", "{\"sql\": \"INSERT INTO t (s) VALUES ($1), ($2)\", "
						   "\"params\": [\"x\", \"y\"]}");
	bl_block_outcome_t *sel = sql_run(&f, "a", "{\"sql\": \"SELECT id, s FROM t ORDER BY id\"}");

	assert_ok(ins);
	cr_assert_eq(json_integer_value(json_object_get(ins->result, "affected")), 2);
	assert_ok(sel);
	cr_assert_eq(row_count(sel), 2);
	cr_assert_str_eq(json_string_value(sql_cell(sel, 1, 1)), "y");
	snprintf(path, sizeof path, "%s/a/sql/default.db", f.data_dir);
	cr_assert_eq(stat(path, &st), 0, "no database file at %s", path);
	bl_block_outcome_free(&ins);
	bl_block_outcome_free(&sel);
	sql_fixture_fini(&f);
}

/* A parameter holding SQL is stored verbatim and the table survives;
 * "1 OR 1=1" matches no row. */
Test(blocks_sql_sqlite, injection_stays_data, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);
	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE t (id INTEGER, s TEXT)\"}");
	run_ok(&f, "a", "{\"sql\": \"INSERT INTO t VALUES (1, $1)\", \"params\": [\"'; DROP TABLE t; --\"]}");

	bl_block_outcome_t *sel = sql_run(&f, "a", "{\"sql\": \"SELECT s FROM t\"}");
	bl_block_outcome_t *text = sql_run(&f, "a", "{\"sql\": \"SELECT id FROM t WHERE s = $1\", "
						    "\"params\": [\"1 OR 1=1\"]}");
	bl_block_outcome_t *num = sql_run(&f, "a", "{\"sql\": \"SELECT id FROM t WHERE id = $1\", "
						   "\"params\": [\"1 OR 1=1\"]}");

	assert_ok(sel);
	cr_assert_str_eq(json_string_value(sql_cell(sel, 0, 0)), "'; DROP TABLE t; --");
	assert_ok(text);
	cr_assert_eq(row_count(text), 0);
	assert_ok(num);
	cr_assert_eq(row_count(num), 0);
	bl_block_outcome_free(&sel);
	bl_block_outcome_free(&text);
	bl_block_outcome_free(&num);
	sql_fixture_fini(&f);
}

/* Storage classes and declared types map to JSON: integers, reals (an
 * infinity as a string), text, blobs as base64, NULL, BOOLEAN columns as
 * true/false and JSON columns parsed. */
Test(blocks_sql_sqlite, column_types_map_to_json, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);
	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, n INTEGER, f BOOLEAN, "
			"j JSON)\"}");
	run_ok(&f, "a", "{\"sql\": \"INSERT INTO v VALUES (9007199254740993, 0.1, 'hé', X'01FF', NULL, 1, "
			"'{\\\"k\\\": [1, 2]}')\"}");

	bl_block_outcome_t *o = sql_run(&f, "a", "{\"sql\": \"SELECT i, r, t, b, n, f, j, 1e999 AS inf FROM v\"}");

	assert_ok(o);
	json_t *cols = json_object_get(o->result, "columns");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cols, 0), "name")), "i");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cols, 5), "type")), "boolean");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cols, 7), "type")), "real");
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 0)), 9007199254740993LL);
	cr_assert_float_eq(json_real_value(sql_cell(o, 0, 1)), 0.1, 0);
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 2)), "hé");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 3)), "Af8=");
	cr_assert(json_is_null(sql_cell(o, 0, 4)));
	cr_assert(json_is_true(sql_cell(o, 0, 5)));
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(sql_cell(o, 0, 6), "k"), 1)), 2);
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 7)), "Infinity");
	bl_block_outcome_free(&o);
	sql_fixture_fini(&f);
}

/* $N takes the Nth parameter wherever it appears, "?" takes its position,
 * and each JSON kind binds as documented. */
Test(blocks_sql_sqlite, parameters_bind_by_number, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);

	bl_block_outcome_t *o = sql_run(&f, "a",
					"{\"sql\": \"SELECT $2, $1, $2 || 'x', $3 IS NULL, $4, $5 + 1, "
					"json_extract($6, '$.k')\", \"params\": [\"one\", \"two\", null, true, "
					"41, {\"k\": 7}]}");
	bl_block_outcome_t *q = sql_run(&f, "a", "{\"sql\": \"SELECT ?, ?\", \"params\": [1.5, \"b\"]}");

	assert_ok(o);
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 0)), "two");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 1)), "one");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 2)), "twox");
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 3)), 1);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 4)), 1);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 5)), 42);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 6)), 7);
	assert_ok(q);
	cr_assert_float_eq(json_real_value(sql_cell(q, 0, 0)), 1.5, 0);
	cr_assert_str_eq(json_string_value(sql_cell(q, 0, 1)), "b");
	bl_block_outcome_free(&o);
	bl_block_outcome_free(&q);
	sql_fixture_fini(&f);
}

/* Wrong parameter counts and named parameters are errors on the field at
 * fault. */
Test(blocks_sql_sqlite, parameter_mismatch_names_field, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);

	bl_block_outcome_t *few = sql_run(&f, "a", "{\"sql\": \"SELECT $1, $2\", \"params\": [1]}");
	bl_block_outcome_t *many = sql_run(&f, "a", "{\"sql\": \"SELECT $1\", \"params\": [1, 2]}");
	bl_block_outcome_t *named = sql_run(&f, "a", "{\"sql\": \"SELECT :x\", \"params\": [1]}");

	cr_assert_str_eq(error_code(few), "invalid_params");
	cr_assert_str_eq(few->error.field, "params.params");
	cr_assert_str_eq(error_code(many), "invalid_params");
	cr_assert_str_eq(many->error.field, "params.params");
	cr_assert_str_eq(error_code(named), "invalid_params");
	cr_assert_str_eq(named->error.field, "params.sql");
	bl_block_outcome_free(&few);
	bl_block_outcome_free(&many);
	bl_block_outcome_free(&named);
	sql_fixture_fini(&f);
}

/* A second statement after the first is refused before anything runs;
 * a trailing semicolon or comment is not a statement. */
Test(blocks_sql_sqlite, second_statement_is_refused, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);
	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE t (id INTEGER)\"}");

	bl_block_outcome_t *two = sql_run(&f, "a", "{\"sql\": \"SELECT 1; DROP TABLE t\"}");
	bl_block_outcome_t *trailing = sql_run(&f, "a", "{\"sql\": \"SELECT count(*) FROM t; -- done\\n/* end */\"}");

	cr_assert_str_eq(error_code(two), "invalid_params");
	cr_assert_str_eq(two->error.field, "params.sql");
	cr_assert(strstr(two->error.message, "more than one statement"), "message: %s", two->error.message);
	assert_ok(trailing);
	cr_assert_eq(json_integer_value(sql_cell(trailing, 0, 0)), 0, "the table is gone or not empty");
	bl_block_outcome_free(&two);
	bl_block_outcome_free(&trailing);
	sql_fixture_fini(&f);
}

/* max_rows keeps that many rows and marks the result truncated; one row
 * fewer than the cap is not truncated. */
Test(blocks_sql_sqlite, row_cap_truncates, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);
	const char *series = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50) "
			     "SELECT i FROM r";
	char params[512];

	snprintf(params, sizeof params, "{\"sql\": \"%s\", \"max_rows\": 10}", series);
	bl_block_outcome_t *capped = sql_run(&f, "a", params);
	snprintf(params, sizeof params, "{\"sql\": \"%s\", \"max_rows\": 51}", series);
	bl_block_outcome_t *whole = sql_run(&f, "a", params);

	assert_ok(capped);
	cr_assert_eq(row_count(capped), 10);
	cr_assert(json_is_true(json_object_get(capped->result, "truncated")));
	assert_ok(whole);
	cr_assert_eq(row_count(whole), 50);
	cr_assert(json_is_false(json_object_get(whole->result, "truncated")));
	bl_block_outcome_free(&capped);
	bl_block_outcome_free(&whole);
	sql_fixture_fini(&f);
}

/* No value may grow past sql.max_result_bytes, so a job cannot make
 * SQLite build a value it could never return; smaller ones still work. */
Test(blocks_sql_sqlite, values_past_result_cap_refused, .timeout = 60)
{
	sql_fixture_t f;
	sql_fixture_init(&f);
	sql_fixture_start(&f, "{\"sql\": {\"max_result_bytes\": 65536}}");

	bl_block_outcome_t *big = sql_run(&f, "a", "{\"sql\": \"SELECT length(randomblob(900000000)) AS n\"}");
	bl_block_outcome_t *small = sql_run(&f, "a", "{\"sql\": \"SELECT length(randomblob(60000)) AS n\"}");

	cr_assert_str_eq(error_code(big), "limit_exceeded", "got %s: %s", error_code(big), big->error.message);
	cr_assert(strstr(big->error.message, "max_result_bytes"), "%s", big->error.message);
	assert_ok(small);
	bl_block_outcome_free(&big);
	bl_block_outcome_free(&small);
	sql_fixture_fini(&f);
}

/* An endless statement ends "timeout" near its timeout_ms, and the
 * database serves the next job. */
Test(blocks_sql_sqlite, endless_statement_times_out, .timeout = 60)
{
	sql_fixture_t f;
	struct timespec t0, t1;
	start(&f);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	bl_block_outcome_t *o = sql_run(&f, "a", "{\"sql\": \"" ENDLESS "\", \"timeout_ms\": 200}");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	cr_assert_str_eq(error_code(o), "timeout", "got %s: %s", error_code(o), o->error.message);
	cr_assert_lt(took, 5.0, "a 200 ms timeout took %.2f s", took);
	run_ok(&f, "a", "{\"sql\": \"SELECT 1\"}");
	bl_block_outcome_free(&o);
	sql_fixture_fini(&f);
}

/* Cancelling the job interrupts the statement. */
Test(blocks_sql_sqlite, cancel_interrupts_statement, .timeout = 60)
{
	sql_fixture_t f;
	sql_job_t job;
	start(&f);

	sql_job_start(&f, &job, "a", "{\"sql\": \"" ENDLESS "\"}");
	usleep(200 * 1000);
	bl_cancel_hook_fire(job.hook);
	bl_block_outcome_t *o = sql_job_wait(&job);

	cr_assert_str_eq(error_code(o), "cancelled", "got %s: %s", error_code(o), o->error.message);
	sql_job_fini(&job);
	sql_fixture_fini(&f);
}

/* Tenants have separate files: b does not see a's table, and cannot reach
 * a's file by ATTACH or write a copy elsewhere by VACUUM INTO. */
Test(blocks_sql_sqlite, tenant_cannot_reach_other_file, .timeout = 60)
{
	sql_fixture_t f;
	char params[1024];
	start(&f);
	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE secret (v TEXT)\"}");
	run_ok(&f, "a", "{\"sql\": \"INSERT INTO secret VALUES ('of a')\"}");

	bl_block_outcome_t *plain = sql_run(&f, "b", "{\"sql\": \"SELECT v FROM secret\"}");
	snprintf(params, sizeof params, "{\"sql\": \"ATTACH DATABASE '%s/a/sql/default.db' AS other\"}", f.data_dir);
	bl_block_outcome_t *attach = sql_run(&f, "b", params);
	snprintf(params, sizeof params, "{\"sql\": \"VACUUM INTO '%s/a/sql/copy.db'\"}", f.data_dir);
	bl_block_outcome_t *vacuum = sql_run(&f, "b", params);

	cr_assert_str_eq(error_code(plain), "sql_error");
	cr_assert_str_eq(error_code(attach), "sql_error", "ATTACH was allowed");
	cr_assert_str_eq(error_code(vacuum), "sql_error", "VACUUM INTO was allowed");
	snprintf(params, sizeof params, "%s/a/sql/copy.db", f.data_dir);
	cr_assert_neq(access(params, F_OK), 0, "VACUUM INTO wrote %s", params);
	bl_block_outcome_free(&plain);
	bl_block_outcome_free(&attach);
	bl_block_outcome_free(&vacuum);
	sql_fixture_fini(&f);
}

/* A tenant cannot lower the process's SQLite heap limit for every other
 * tenant, change its file's journal mode, or read fts3_tokenizer's
 * pointers; reading a pragma still works. */
Test(blocks_sql_sqlite, tenant_cannot_change_shared_settings, .timeout = 60)
{
	static const char *const refused[] = {
		"{\"sql\": \"PRAGMA hard_heap_limit = 100000\"}",
		"{\"sql\": \"PRAGMA soft_heap_limit = 1\"}",
		"{\"sql\": \"PRAGMA temp_store_directory = '/tmp'\"}",
		"{\"sql\": \"PRAGMA main.journal_mode = DELETE\"}",
		"{\"sql\": \"PRAGMA locking_mode = EXCLUSIVE\"}",
		"{\"sql\": \"SELECT fts3_tokenizer('simple')\"}",
	};
	sql_fixture_t f;
	start(&f);

	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		bl_block_outcome_t *o = sql_run(&f, "a", refused[i]);
		cr_assert_str_eq(error_code(o), "sql_error", "%s was allowed", refused[i]);
		bl_block_outcome_free(&o);
	}
	bl_block_outcome_t *mode = sql_run(&f, "a", "{\"sql\": \"PRAGMA journal_mode\"}");
	bl_block_outcome_t *big = sql_run(&f, "b", "{\"sql\": \"SELECT length(randomblob(1000000))\"}");

	assert_ok(mode);
	cr_assert_str_eq(json_string_value(json_array_get(json_array_get(json_object_get(mode->result, "rows"), 0), 0)),
			 "wal");
	assert_ok(big);
	bl_block_outcome_free(&mode);
	bl_block_outcome_free(&big);
	sql_fixture_fini(&f);
}

/* A tenant without a folder cannot use the embedded database; the error
 * says so on params.database. */
Test(blocks_sql_sqlite, tenant_without_folder_is_refused, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);

	bl_block_outcome_t *o = sql_run(&f, "nobody", "{\"sql\": \"SELECT 1\"}");

	cr_assert_str_eq(error_code(o), "invalid_params");
	cr_assert_str_eq(o->error.field, "params.database");
	bl_block_outcome_free(&o);
	sql_fixture_fini(&f);
}

/* A configured SQLite database with a file per tenant: each tenant reaches
 * only its own file, and an unlisted tenant is refused. */
Test(blocks_sql_sqlite, configured_database_per_tenant, .timeout = 60)
{
	sql_fixture_t f;
	char config[1024];
	bl_error_t err = {0};
	sql_fixture_init(&f);
	snprintf(config, sizeof config,
		 "{\"sql\": {\"databases\": {\"lite\": {\"driver\": \"sqlite\", \"tenants\": {"
		 "\"a\": {\"path\": \"%s/a.db\"}, \"b\": {\"path\": \"%s/b.db\"}}}}}}",
		 f.data_dir, f.data_dir);
	/* Configured files must exist: the engine does not create them. */
	char path[400];
	snprintf(path, sizeof path, "%s/a.db", f.data_dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof path, "%s/b.db", f.data_dir);
	fclose(fopen(path, "w"));
	sql_fixture_start(&f, config);

	run_ok(&f, "a", "{\"database\": \"lite\", \"sql\": \"CREATE TABLE t (v TEXT)\"}");
	bl_block_outcome_t *b = sql_run(&f, "b", "{\"database\": \"lite\", \"sql\": \"SELECT v FROM t\"}");
	int stranger = sql_prepare(&f, "c", "{\"database\": \"lite\", \"sql\": \"SELECT 1\"}", &err);

	cr_assert_str_eq(error_code(b), "sql_error", "tenant b saw a's table");
	cr_assert_lt(stranger, 0);
	cr_assert_str_eq(err.field, "params.database");
	bl_block_outcome_free(&b);
	sql_fixture_fini(&f);
}

/* A job's BEGIN without COMMIT is rolled back when the job ends, so the
 * next job does not inherit the transaction or its writes. */
Test(blocks_sql_sqlite, open_transaction_is_rolled_back, .timeout = 60)
{
	sql_fixture_t f;
	start(&f);
	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE t (v INTEGER)\"}");
	run_ok(&f, "a", "{\"sql\": \"BEGIN\"}");

	bl_block_outcome_t *begin_again = sql_run(&f, "a", "{\"sql\": \"BEGIN\"}");
	run_ok(&f, "a", "{\"sql\": \"INSERT INTO t VALUES (1)\"}");

	assert_ok(begin_again);
	bl_block_outcome_t *count = sql_run(&f, "a", "{\"sql\": \"SELECT count(*) FROM t\"}");
	assert_ok(count);
	cr_assert_eq(json_integer_value(sql_cell(count, 0, 0)), 1);
	bl_block_outcome_free(&begin_again);
	bl_block_outcome_free(&count);
	sql_fixture_fini(&f);
}

/* Sixteen writers at once on one tenant's file, over two blocking
 * workers: each waits for the lock within the busy timeout, none fails,
 * and every row is there. */
Test(blocks_sql_sqlite, concurrent_writers_all_succeed, .timeout = 60)
{
	enum { JOBS = 16 };
	sql_fixture_t f;
	sql_job_t jobs[JOBS];
	char params[128];
	start(&f);
	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE t (v INTEGER)\"}");

	for (int i = 0; i < JOBS; i++) {
		snprintf(params, sizeof params, "{\"sql\": \"INSERT INTO t VALUES ($1)\", \"params\": [%d]}", i);
		sql_job_start(&f, &jobs[i], "a", params);
	}
	for (int i = 0; i < JOBS; i++) {
		assert_ok(sql_job_wait(&jobs[i]));
		sql_job_fini(&jobs[i]);
	}
	bl_block_outcome_t *o = sql_run(&f, "a", "{\"sql\": \"SELECT count(*), sum(v) FROM t\"}");

	assert_ok(o);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 0)), JOBS);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 1)), JOBS * (JOBS - 1) / 2);
	bl_block_outcome_free(&o);
	sql_fixture_fini(&f);
}

/* The bytes of tenant `tenant`'s embedded database files, as on disk. */
static long long sqlite_file_bytes(const sql_fixture_t *f, const char *tenant)
{
	static const char *const suffixes[] = {"", "-wal", "-journal", "-shm"};
	long long total = 0;
	char path[400];
	struct stat st;

	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		snprintf(path, sizeof path, "%s/%s/sql/default.db%s", f->data_dir, tenant, suffixes[i]);
		if (stat(path, &st) == 0)
			total += st.st_size;
	}
	return total;
}

/* Run one job of block `name` for `tenant`; returns the owned outcome. */
static bl_block_outcome_t *run_block(sql_fixture_t *f, const char *name, const char *tenant, const char *params)
{
	sql_job_t job;
	sql_job_start_block(f, &job, name, tenant, params);
	bl_block_outcome_t *o = sql_job_wait(&job);
	job.outcome = NULL;
	sql_job_fini(&job);
	return o;
}

/*
 * The embedded database is bound by the tenant's fs quota (300000 bytes).
 * Inserts of 40000 random bytes, which land in the WAL, succeed until one
 * would pass the quota: that one is rejected with quota_exceeded on
 * params.sql, naming the quota. The files on disk stay within it, and
 * every row that was reported inserted is there.
 */
Test(blocks_sql_sqlite, embedded_database_bounded_by_quota, .timeout = 60)
{
	sql_fixture_t f;
	bl_block_outcome_t *full = NULL;
	int inserted = 0;
	sql_fixture_init(&f);
	sql_fixture_start(&f, "{\"fs\": {\"max_tenant_bytes\": 300000}}");

	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE t (b BLOB)\"}");
	for (int i = 0; i < 20 && !full; i++) {
		bl_block_outcome_t *o = sql_run(&f, "a", "{\"sql\": \"INSERT INTO t VALUES (randomblob(40000))\"}");
		if (o->code == 0) {
			inserted++;
			bl_block_outcome_free(&o);
		} else {
			full = o;
		}
	}

	cr_assert_not_null(full, "20 inserts of 40000 bytes fitted in a quota of 300000 bytes");
	cr_assert_str_eq(error_code(full), "quota_exceeded", "%s", full->error.message);
	cr_assert_str_eq(full->error.field, "params.sql");
	cr_assert(full->rejected, "a job over its quota should end rejected");
	cr_assert_not_null(strstr(full->error.message, "fs quota of 300000 bytes"), "message: %s", full->error.message);
	cr_assert_geq(inserted, 3, "only %d inserts fitted", inserted);
	long long on_disk = sqlite_file_bytes(&f, "a");
	cr_assert_leq(on_disk, 300000, "the database's files take %lld bytes", on_disk);
	bl_block_outcome_t *count = sql_run(&f, "a", "{\"sql\": \"SELECT count(*) FROM t\"}");
	assert_ok(count);
	cr_assert_eq(json_integer_value(sql_cell(count, 0, 0)), inserted);
	bl_block_outcome_free(&count);
	bl_block_outcome_free(&full);
	sql_fixture_fini(&f);
}

/*
 * The database's size counts in the tenant's usage: after a small put has
 * counted the tenant's folder, an insert of 120000 bytes leaves too little
 * of a 200000-byte quota for a put of 100000 bytes.
 */
Test(blocks_sql_sqlite, embedded_database_counts_for_fs_put, .timeout = 60)
{
	sql_fixture_t f;
	sql_fixture_init(&f);
	sql_fixture_start(&f, "{\"fs\": {\"max_tenant_bytes\": 200000}}");
	size_t content_len = 100000;
	char *params = malloc(content_len + 64);
	cr_assert_not_null(params);
	int n = snprintf(params, 64, "{\"op\": \"put\", \"path\": \"big\", \"content\": \"");
	memset(params + n, 'x', content_len);
	strcpy(params + n + content_len, "\"}");

	bl_block_outcome_t *small = run_block(&f, "fs", "a", "{\"op\": \"put\", \"path\": \"small\", \"content\": \"x\"}");
	run_ok(&f, "a", "{\"sql\": \"CREATE TABLE t (b BLOB)\"}");
	run_ok(&f, "a", "{\"sql\": \"INSERT INTO t VALUES (randomblob(120000))\"}");
	bl_block_outcome_t *big = run_block(&f, "fs", "a", params);

	assert_ok(small);
	cr_assert_lt(big->code, 0, "a put of 100000 bytes fitted next to a database of %lld bytes",
		     sqlite_file_bytes(&f, "a"));
	cr_assert_str_eq(error_code(big), "quota_exceeded", "%s", big->error.message);
	bl_block_outcome_free(&small);
	bl_block_outcome_free(&big);
	free(params);
	sql_fixture_fini(&f);
}
