/*
 * The sql block on a real PostgreSQL server started for each test:
 * parameters stay data, statement timeouts, the pool's queue, type
 * mapping, the row cap, tenants, cancellation and a server crash.
 */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "slow_proxy.h"
#include "sql_fixture.h"

/* Start a server and a shared database "main" on it, `pool_size`
 * connections. */
static void start_shared(sql_fixture_t *f, unsigned pool_size)
{
	char dsn[256], config[1024];

	sql_fixture_init(f);
	sql_fixture_start_pg(f);
	sql_fixture_dsn(f, dsn, sizeof dsn, "postgres", "postgres");
	snprintf(config, sizeof config,
		 "{\"sql\": {\"databases\": {\"main\": {\"driver\": \"postgres\", \"dsn\": \"%s\", "
		 "\"pool_size\": %u, \"shared\": true}}}}",
		 dsn, pool_size);
	sql_fixture_start(f, config);
	if (!f->io)
		cr_skip_test("the kernel refuses io_uring to this process; the PostgreSQL driver needs it");
}

static const char *error_code(const bl_block_outcome_t *o)
{
	return o->error_code ? o->error_code : "(none)";
}

static void assert_ok(const bl_block_outcome_t *o)
{
	cr_assert_eq(o->code, 0, "expected success, got %s: %s: %s", error_code(o), o->error.field, o->error.message);
}

static long long backend_pid(sql_fixture_t *f)
{
	bl_block_outcome_t *o = sql_run(f, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_backend_pid()\"}");
	assert_ok(o);
	long long pid = json_integer_value(sql_cell(o, 0, 0));
	bl_block_outcome_free(&o);
	return pid;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A parameter holding SQL is stored as text: the row reads back byte for
 * byte and the table it names is still there. */
Test(blocks_sql_pg, injected_quote_is_stored_verbatim, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 2);
	sql_fixture_exec(&f, "postgres", "CREATE TABLE t (id serial PRIMARY KEY, s text)");
	const char *evil = "'; DROP TABLE t; --";

	bl_block_outcome_t *ins = sql_run(&f, "a",
					  "{\"database\": \"main\", \"sql\": \"INSERT INTO t (s) VALUES ($1)\", "
					  "\"params\": [\"'; DROP TABLE t; --\"]}");
	bl_block_outcome_t *sel = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT s FROM t\"}");

	assert_ok(ins);
	cr_assert_eq(json_integer_value(json_object_get(ins->result, "affected")), 1);
	assert_ok(sel);
	cr_assert_eq(json_integer_value(json_object_get(sel->result, "row_count")), 1);
	cr_assert_str_eq(json_string_value(sql_cell(sel, 0, 0)), evil);
	bl_block_outcome_free(&ins);
	bl_block_outcome_free(&sel);
	sql_fixture_fini(&f);
}

/* "1 OR 1=1" as a parameter is one value: it matches no row of a text
 * column, and is an invalid integer for an integer column. */
Test(blocks_sql_pg, or_clause_in_parameter_matches_nothing, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 2);
	sql_fixture_exec(&f, "postgres", "CREATE TABLE t (id int, s text); INSERT INTO t VALUES (1, 'x'), (2, 'y')");

	bl_block_outcome_t *text = sql_run(&f, "a",
					   "{\"database\": \"main\", \"sql\": \"SELECT id FROM t WHERE s = $1\", "
					   "\"params\": [\"1 OR 1=1\"]}");
	bl_block_outcome_t *num = sql_run(&f, "a",
					  "{\"database\": \"main\", \"sql\": \"SELECT s FROM t WHERE id = $1\", "
					  "\"params\": [\"1 OR 1=1\"]}");

	assert_ok(text);
	cr_assert_eq(json_integer_value(json_object_get(text->result, "row_count")), 0);
	cr_assert_lt(num->code, 0, "an integer column took '1 OR 1=1'");
	cr_assert_str_eq(error_code(num), "sql_error");
	cr_assert_str_eq(num->error.field, "params.params");
	bl_block_outcome_free(&text);
	bl_block_outcome_free(&num);
	sql_fixture_fini(&f);
}

/* A statement over its timeout ends "timeout", and the pool's only
 * connection serves the next job: same backend, healthy session. */
Test(blocks_sql_pg, statement_timeout_keeps_connection, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);
	long long before = backend_pid(&f);

	double start = now_s();
	bl_block_outcome_t *slow = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_sleep(10)\", "
						   "\"timeout_ms\": 200}");
	double took = now_s() - start;
	long long after = backend_pid(&f);

	cr_assert_str_eq(error_code(slow), "timeout", "got %s: %s", error_code(slow), slow->error.message);
	cr_assert_lt(took, 5.0, "the timeout took %.2f s to end a 200 ms statement", took);
	cr_assert_eq(before, after, "the connection was replaced: backend %lld, then %lld", before, after);
	bl_block_outcome_free(&slow);
	sql_fixture_fini(&f);
}

/*
 * A job can turn the server's timeout off for its session with set_config,
 * which looks like any SELECT. The next statement on that connection still
 * ends "timeout" (at the block's own deadline), and it is cancelled on the
 * server rather than left running there.
 */
Test(blocks_sql_pg, timeout_holds_after_set_config, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);

	bl_block_outcome_t *off = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT "
						   "set_config('statement_timeout', '0', false)\", \"timeout_ms\": 200}");
	bl_block_outcome_t *slow = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_sleep(30)\", "
						    "\"timeout_ms\": 200}");
	nanosleep(&(struct timespec){.tv_nsec = 500000000}, NULL);
	bl_block_outcome_t *left = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT count(*) FROM "
						    "pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' "
						    "AND pid <> pg_backend_pid()\"}");

	assert_ok(off);
	cr_assert_str_eq(error_code(slow), "timeout", "got %s: %s", error_code(slow), slow->error.message);
	assert_ok(left);
	cr_assert_eq(json_integer_value(sql_cell(left, 0, 0)), 0, "the timed-out statement still runs on the server");
	bl_block_outcome_free(&off);
	bl_block_outcome_free(&slow);
	bl_block_outcome_free(&left);
	sql_fixture_fini(&f);
}

/* Eight jobs on a pool of one connection all succeed: the ones that find
 * it lent wait in the queue, and every one runs on the same backend. */
Test(blocks_sql_pg, pool_of_one_queues_jobs, .timeout = 120)
{
	enum { JOBS = 8 };
	sql_fixture_t f;
	sql_job_t jobs[JOBS];
	char params[256];
	start_shared(&f, 1);

	for (int i = 0; i < JOBS; i++) {
		snprintf(params, sizeof params, "{\"database\": \"main\", \"sql\": \"SELECT pg_backend_pid(), $1::int, "
			 "pg_sleep(0.05)\", \"params\": [%d]}", i);
		sql_job_start(&f, &jobs[i], "a", params);
	}
	long long first_pid = -1;
	for (int i = 0; i < JOBS; i++) {
		bl_block_outcome_t *o = sql_job_wait(&jobs[i]);
		assert_ok(o);
		long long pid = json_integer_value(sql_cell(o, 0, 0));
		first_pid = first_pid < 0 ? pid : first_pid;
		cr_assert_eq(json_integer_value(sql_cell(o, 0, 1)), i);
		cr_assert_eq(pid, first_pid, "job %d ran on backend %lld, job 0 on %lld", i, pid, first_pid);
		sql_job_fini(&jobs[i]);
	}
	sql_fixture_fini(&f);
}

/* Each column type maps to its JSON form, and the column list names the
 * PostgreSQL type. */
Test(blocks_sql_pg, column_types_map_to_json, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);
	const char *sql = "{\"database\": \"main\", \"sql\": \"SELECT 7::int2 AS a, 123456::int4 AS b, "
			  "9007199254740993::int8 AS c, 1.5::float4 AS d, 0.1::float8 AS e, 'NaN'::float8 AS f, "
			  "true AS g, 'hi'::text AS h, 'v'::varchar AS i, '\\\\x01ff'::bytea AS j, "
			  "12345678901234567890.000000001::numeric AS k, '{\\\"a\\\": [1, 2]}'::json AS l, "
			  "'{\\\"b\\\": null}'::jsonb AS m, '2024-01-02 03:04:05.5'::timestamp AS n, "
			  "'2024-01-02 03:04:05+02'::timestamptz AS o, '2024-01-02'::date AS p, NULL::int AS q, "
			  "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS r\"}";

	bl_block_outcome_t *o = sql_run(&f, "a", sql);

	assert_ok(o);
	json_t *cols = json_object_get(o->result, "columns");
	const char *types[] = {"int2", "int4", "int8", "float4", "float8", "float8", "bool", "text", "varchar",
			       "bytea", "numeric", "json", "jsonb", "timestamp", "timestamptz", "date", "int4", "uuid"};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cols, i), "type")), types[i],
				 "column %zu", i);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 0)), 7);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 1)), 123456);
	cr_assert(json_is_integer(sql_cell(o, 0, 2)));
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 2)), 9007199254740993LL);
	cr_assert_float_eq(json_real_value(sql_cell(o, 0, 3)), 1.5, 0);
	cr_assert_float_eq(json_real_value(sql_cell(o, 0, 4)), 0.1, 0, "float8 0.1 must read back exactly");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 5)), "NaN");
	cr_assert(json_is_true(sql_cell(o, 0, 6)));
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 7)), "hi");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 8)), "v");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 9)), "Af8=");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 10)), "12345678901234567890.000000001");
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(sql_cell(o, 0, 11), "a"), 1)), 2);
	cr_assert(json_is_null(json_object_get(sql_cell(o, 0, 12), "b")));
	cr_assert(json_is_object(sql_cell(o, 0, 12)));
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 13)), "2024-01-02T03:04:05.5");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 14)), "2024-01-02T01:04:05Z");
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 15)), "2024-01-02");
	cr_assert(json_is_null(sql_cell(o, 0, 16)));
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 17)), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
	bl_block_outcome_free(&o);
	sql_fixture_fini(&f);
}

/* Each JSON parameter kind binds as documented: numbers, strings, true,
 * null, and an object as JSON text. */
Test(blocks_sql_pg, parameters_bind_by_kind, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);

	bl_block_outcome_t *o = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT $1::int8 + 1, $2::text, "
						 "$3::bool, $4::int IS NULL, $5::float8 * 2, ($6::jsonb)->'k', "
						 "$7::numeric::text\", "
						 "\"params\": [41, \"s\", true, null, 0.25, {\"k\": [1]}, 0.1]}");

	assert_ok(o);
	cr_assert_eq(json_integer_value(sql_cell(o, 0, 0)), 42);
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 1)), "s");
	cr_assert(json_is_true(sql_cell(o, 0, 2)));
	cr_assert(json_is_true(sql_cell(o, 0, 3)));
	cr_assert_float_eq(json_real_value(sql_cell(o, 0, 4)), 0.5, 0);
	cr_assert_eq(json_integer_value(json_array_get(sql_cell(o, 0, 5), 0)), 1);
	cr_assert_str_eq(json_string_value(sql_cell(o, 0, 6)), "0.1", "a real reached numeric as %s",
			 json_string_value(sql_cell(o, 0, 6)));
	bl_block_outcome_free(&o);
	sql_fixture_fini(&f);
}

/* max_rows keeps that many rows and says more existed; a cap at the exact
 * row count is not a truncation. */
Test(blocks_sql_pg, row_cap_truncates, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);

	bl_block_outcome_t *capped = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT g FROM "
						     "generate_series(1, 50) g\", \"max_rows\": 10}");
	bl_block_outcome_t *exact = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT g FROM "
						    "generate_series(1, 50) g\", \"max_rows\": 50}");

	assert_ok(capped);
	cr_assert_eq(json_integer_value(json_object_get(capped->result, "row_count")), 10);
	cr_assert(json_is_true(json_object_get(capped->result, "truncated")));
	cr_assert_eq(json_integer_value(sql_cell(capped, 9, 0)), 10);
	assert_ok(exact);
	cr_assert_eq(json_integer_value(json_object_get(exact->result, "row_count")), 50);
	cr_assert(json_is_false(json_object_get(exact->result, "truncated")));
	bl_block_outcome_free(&capped);
	bl_block_outcome_free(&exact);
	sql_fixture_fini(&f);
}

/* A huge result past the cap is cut short by a cancel request, and that
 * cancel does not hit the next statement on the same connection. */
Test(blocks_sql_pg, row_cap_stops_large_result_early, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);
	long long before = backend_pid(&f);

	double start = now_s();
	/* In the select list, generate_series streams its rows; in FROM it
	 * would build the whole set before sending the first. */
	bl_block_outcome_t *o = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT "
						 "generate_series(1, 1000000000) AS g\", \"max_rows\": 5}");
	double took = now_s() - start;
	bl_block_outcome_t *next = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_backend_pid(), "
						    "pg_sleep(0.3)\"}");

	assert_ok(o);
	cr_assert_eq(json_integer_value(json_object_get(o->result, "row_count")), 5);
	cr_assert(json_is_true(json_object_get(o->result, "truncated")));
	cr_assert_lt(took, 5.0, "reading past the cap took %.2f s", took);
	assert_ok(next);
	cr_assert_eq(json_integer_value(sql_cell(next, 0, 0)), before);
	bl_block_outcome_free(&o);
	bl_block_outcome_free(&next);
	sql_fixture_fini(&f);
}

/* The peak resident memory of this process, in MiB. */
static double peak_rss_mib(void)
{
	struct rusage usage;
	cr_assert_eq(getrusage(RUSAGE_SELF, &usage), 0);
	return (double)usage.ru_maxrss / 1024.0;
}

/*
 * A single row of 64 MB, past a result cap of 1 MiB, ends limit_exceeded
 * on params.sql without being read whole. The server's bytes come through
 * a proxy at about 64 MB/s, as over a network. libpq reads for as long as
 * the socket has data, so from a server on the same machine it could take
 * the whole row in one call, before the block can check. The
 * process's peak memory grows by far less than the row (libpq alone
 * would hold it twice, buffer and result). The connection is closed, and
 * the pool's next job runs on a new one.
 */
Test(blocks_sql_pg, huge_row_is_not_read_whole, .timeout = 120)
{
	char config[1024];
	slow_proxy_t *proxy;
	sql_fixture_t f;
	sql_fixture_init(&f);
	sql_fixture_start_pg(&f);
	int port = slow_proxy_start(&proxy, f.pg.port, 64 * 1024, 1000);
	cr_assert_gt(port, 0, "cannot start the proxy: %s", strerror(errno));
	snprintf(config, sizeof config,
		 "{\"sql\": {\"max_result_bytes\": 1048576, \"databases\": {\"main\": {\"driver\": \"postgres\","
		 " \"dsn\": \"host=127.0.0.1 port=%d dbname=postgres user=postgres\", \"pool_size\": 1,"
		 " \"shared\": true}}}}",
		 port);
	sql_fixture_start(&f, config);
	if (!f.io)
		cr_skip_test("the kernel refuses io_uring to this process; the PostgreSQL driver needs it");
	long long before_pid = backend_pid(&f);
	double before_mib = peak_rss_mib();

	bl_block_outcome_t *o =
		sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT repeat('x', 64000000)\"}");
	double grew_mib = peak_rss_mib() - before_mib;
	long long after_pid = backend_pid(&f);

	cr_assert_str_eq(error_code(o), "limit_exceeded", "%s", o->error.message);
	cr_assert_str_eq(o->error.field, "params.sql");
	cr_assert_not_null(strstr(o->error.message, "1048576"), "message: %s", o->error.message);
	cr_assert_lt(grew_mib, 24.0, "reading the row raised the peak memory by %.1f MiB", grew_mib);
	cr_assert_neq(after_pid, before_pid, "the connection that read part of the row went back to the pool");
	bl_block_outcome_free(&o);
	sql_fixture_fini(&f);
	slow_proxy_stop(&proxy);
}

/* Two statements in one job are refused by the extended protocol, with
 * the error on params.sql. */
Test(blocks_sql_pg, two_statements_are_refused, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);
	sql_fixture_exec(&f, "postgres", "CREATE TABLE t (id int)");

	bl_block_outcome_t *o = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT 1; DROP TABLE t\"}");
	bl_block_outcome_t *check = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT count(*) FROM t\"}");

	cr_assert_str_eq(error_code(o), "sql_error");
	cr_assert_str_eq(o->error.field, "params.sql");
	assert_ok(check);
	bl_block_outcome_free(&o);
	bl_block_outcome_free(&check);
	sql_fixture_fini(&f);
}

/* Tenants with their own login role and schema: each sees its own table
 * under the same name, cannot read the other's by qualified name, and a
 * tenant the database does not list is refused before the job runs. */
Test(blocks_sql_pg, tenant_cannot_reach_other_schema, .timeout = 120)
{
	sql_fixture_t f;
	char dsn_a[256], dsn_b[256], config[1024];
	sql_fixture_init(&f);
	sql_fixture_start_pg(&f);
	sql_fixture_exec(&f, "postgres",
			 "REVOKE ALL ON SCHEMA public FROM PUBLIC;"
			 "CREATE ROLE ta LOGIN; CREATE ROLE tb LOGIN;"
			 "CREATE SCHEMA ta AUTHORIZATION ta; CREATE SCHEMA tb AUTHORIZATION tb;"
			 "CREATE TABLE ta.items (v text); CREATE TABLE tb.items (v text);"
			 "ALTER TABLE ta.items OWNER TO ta; ALTER TABLE tb.items OWNER TO tb;"
			 "INSERT INTO ta.items VALUES ('secret of a'); INSERT INTO tb.items VALUES ('secret of b')");
	sql_fixture_dsn(&f, dsn_a, sizeof dsn_a, "postgres", "ta");
	sql_fixture_dsn(&f, dsn_b, sizeof dsn_b, "postgres", "tb");
	snprintf(config, sizeof config,
		 "{\"sql\": {\"databases\": {\"shop\": {\"driver\": \"postgres\", \"dsn\": \"%s\", \"tenants\": {"
		 "\"a\": {\"dsn\": \"%s\", \"schema\": \"ta\"}, \"b\": {\"dsn\": \"%s\", \"schema\": \"tb\"}}}}}}",
		 dsn_a, dsn_a, dsn_b);
	sql_fixture_start(&f, config);
	if (!f.io)
		cr_skip_test("the kernel refuses io_uring to this process; the PostgreSQL driver needs it");

	bl_block_outcome_t *own_a = sql_run(&f, "a", "{\"database\": \"shop\", \"sql\": \"SELECT v FROM items\"}");
	bl_block_outcome_t *own_b = sql_run(&f, "b", "{\"database\": \"shop\", \"sql\": \"SELECT v FROM items\"}");
	bl_block_outcome_t *cross = sql_run(&f, "b", "{\"database\": \"shop\", \"sql\": \"SELECT v FROM ta.items\"}");
	bl_block_outcome_t *path = sql_run(&f, "b", "{\"database\": \"shop\", \"sql\": \"SET search_path = ta\"}");
	bl_block_outcome_t *after = sql_run(&f, "b", "{\"database\": \"shop\", \"sql\": \"SELECT v FROM items\"}");
	bl_error_t err = {0};
	int stranger = sql_prepare(&f, "c", "{\"database\": \"shop\", \"sql\": \"SELECT 1\"}", &err);

	assert_ok(own_a);
	cr_assert_str_eq(json_string_value(sql_cell(own_a, 0, 0)), "secret of a");
	assert_ok(own_b);
	cr_assert_str_eq(json_string_value(sql_cell(own_b, 0, 0)), "secret of b");
	cr_assert_str_eq(error_code(cross), "sql_error", "tenant b read a's table: %s", error_code(cross));
	cr_assert(strstr(cross->error.message, "42501"), "expected permission denied (42501), got %s",
		  cross->error.message);
	assert_ok(path);
	assert_ok(after);
	cr_assert_str_eq(json_string_value(sql_cell(after, 0, 0)), "secret of b",
			 "a session's SET outlived its job");
	cr_assert_lt(stranger, 0);
	cr_assert_str_eq(err.field, "params.database");
	bl_block_outcome_t *all[] = {own_a, own_b, cross, path, after};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		bl_block_outcome_free(&all[i]);
	sql_fixture_fini(&f);
}

/* Cancelling a running job sends a cancel request: the job ends
 * "cancelled" at once, and the connection, drained, serves the next job. */
Test(blocks_sql_pg, cancel_stops_statement_and_keeps_connection, .timeout = 120)
{
	sql_fixture_t f;
	sql_job_t job;
	start_shared(&f, 1);
	long long before = backend_pid(&f);

	double start = now_s();
	sql_job_start(&f, &job, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_sleep(30)\"}");
	usleep(300 * 1000);
	bl_cancel_hook_fire(job.hook);
	bl_block_outcome_t *o = sql_job_wait(&job);
	double took = now_s() - start;

	cr_assert_str_eq(error_code(o), "cancelled", "got %s: %s", error_code(o), o->error.message);
	cr_assert_lt(took, 10.0, "the cancel took %.2f s", took);
	cr_assert_eq(backend_pid(&f), before, "the cancelled job's connection was not reused");
	sql_job_fini(&job);
	sql_fixture_fini(&f);
}

/* A server that crashes mid-statement fails the job as retryable; while it
 * is down new jobs fail the same way, and once it is back the pool opens
 * fresh connections. */
Test(blocks_sql_pg, server_crash_fails_retryable_then_recovers, .timeout = 180)
{
	sql_fixture_t f;
	sql_job_t job;
	start_shared(&f, 2);
	backend_pid(&f);

	sql_job_start(&f, &job, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_sleep(30)\"}");
	usleep(300 * 1000);
	cr_assert_eq(pg_server_crash(&f.pg), 0, "pg_ctl stop -m immediate failed");
	bl_block_outcome_t *mid = sql_job_wait(&job);
	bl_block_outcome_t *down = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT 1\"}");
	cr_assert_eq(pg_server_restart(&f.pg), 0, "the server did not start again");
	bl_block_outcome_t *back = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT 1\"}");

	cr_assert_str_eq(error_code(mid), "connection_failed", "got %s: %s", error_code(mid), mid->error.message);
	cr_assert(mid->retryable);
	cr_assert_str_eq(error_code(down), "connection_failed", "got %s: %s", error_code(down), down->error.message);
	cr_assert(down->retryable);
	assert_ok(back);
	cr_assert_eq(json_integer_value(sql_cell(back, 0, 0)), 1);
	bl_block_outcome_free(&down);
	bl_block_outcome_free(&back);
	sql_job_fini(&job);
	sql_fixture_fini(&f);
}

/* A job that leaves a transaction open does not pass it on: the
 * connection is closed and the next job runs on a new backend, outside
 * any transaction. */
Test(blocks_sql_pg, open_transaction_is_not_passed_on, .timeout = 120)
{
	sql_fixture_t f;
	start_shared(&f, 1);
	long long before = backend_pid(&f);

	bl_block_outcome_t *begin = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"BEGIN\"}");
	bl_block_outcome_t *next = sql_run(&f, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_backend_pid(), "
						    "now() = statement_timestamp()\"}");

	assert_ok(begin);
	assert_ok(next);
	cr_assert_neq(json_integer_value(sql_cell(next, 0, 0)), before);
	bl_block_outcome_free(&begin);
	bl_block_outcome_free(&next);
	sql_fixture_fini(&f);
}

/* A job cancelled while it waits for the pool's only connection leaves
 * the queue at once, reports "cancelled", and the job holding the
 * connection finishes normally. */
Test(blocks_sql_pg, cancel_while_queued_leaves_queue, .timeout = 120)
{
	sql_fixture_t f;
	sql_job_t busy, queued, last;
	start_shared(&f, 1);
	backend_pid(&f);

	sql_job_start(&f, &busy, "a", "{\"database\": \"main\", \"sql\": \"SELECT pg_sleep(1), 1\"}");
	usleep(100 * 1000);
	sql_job_start(&f, &queued, "a", "{\"database\": \"main\", \"sql\": \"SELECT 2\"}");
	sql_job_start(&f, &last, "a", "{\"database\": \"main\", \"sql\": \"SELECT 3\"}");
	usleep(100 * 1000);
	double start = now_s();
	bl_cancel_hook_fire(queued.hook);
	bl_block_outcome_t *cancelled = sql_job_wait(&queued);
	double took = now_s() - start;

	cr_assert_str_eq(error_code(cancelled), "cancelled", "got %s: %s", error_code(cancelled),
			 cancelled->error.message);
	cr_assert_lt(took, 0.5, "the queued job took %.2f s to leave the queue", took);
	bl_block_outcome_t *first = sql_job_wait(&busy);
	assert_ok(first);
	cr_assert_eq(json_integer_value(sql_cell(first, 0, 1)), 1);
	bl_block_outcome_t *third = sql_job_wait(&last);
	assert_ok(third);
	cr_assert_eq(json_integer_value(sql_cell(third, 0, 0)), 3);
	sql_job_fini(&busy);
	sql_job_fini(&queued);
	sql_job_fini(&last);
	sql_fixture_fini(&f);
}
