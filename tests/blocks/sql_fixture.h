/*
 * Runs SQL jobs through the block API on real pools (an I/O pool and a
 * blocking pool), with services made from a test's config, a data folder
 * of the test's own, and, for PostgreSQL tests, a throwaway server.
 */
#ifndef BL_TEST_SQL_FIXTURE_H
#define BL_TEST_SQL_FIXTURE_H

#include <jansson.h>

#include <beamline/blocks.h>
#include <beamline/services.h>

#include "pg_server.h"

typedef struct sql_fixture {
	bl_runtime_t *rt;
	bl_pool_t *io;       /* NULL when the kernel refuses io_uring */
	bl_pool_t *blocking;
	bl_block_services_t *services;
	json_t *config;
	char data_dir[256];  /* temporary; tenant folders go beneath it */
	pg_server_t pg;
	bool have_pg;
} sql_fixture_t;

/* One job in flight. */
typedef struct sql_job {
	json_t *params;
	bl_block_env_t env;
	bl_cancel_t cancel;
	bl_cancel_hook_t *hook;
	char tenant[64];
	bl_latch_t finished;
	bl_block_outcome_t *outcome;
} sql_job_t;

/* Make the data folder with folders for tenants "a" and "b". */
void sql_fixture_init(sql_fixture_t *f);

/* Start the PostgreSQL server; skips the test when PostgreSQL is not
 * installed, fails it when the server does not start. */
void sql_fixture_start_pg(sql_fixture_t *f);

/* Start the pools and the services from `config_json` (NULL: defaults);
 * fails the test when the config is refused. */
void sql_fixture_start(sql_fixture_t *f, const char *config_json);

/* Like sql_fixture_start, but return the services' error instead. */
int sql_fixture_try_start(sql_fixture_t *f, const char *config_json, bl_error_t *err);

/* Stop everything and remove the folders. */
void sql_fixture_fini(sql_fixture_t *f);

/* Check `params_json` for `tenant`; returns the prepare code. */
int sql_prepare(sql_fixture_t *f, const char *tenant, const char *params_json, bl_error_t *err);

/* Start a job (prepare must pass). */
void sql_job_start(sql_fixture_t *f, sql_job_t *job, const char *tenant, const char *params_json);

/* Start a job of the block `name` ("fs", ...) on the same services, for
 * tests of what the sql block shares with it. */
void sql_job_start_block(sql_fixture_t *f, sql_job_t *job, const char *name, const char *tenant,
			 const char *params_json);

/* Wait for the job's outcome (fails the test after 60 s); the job keeps
 * it. */
bl_block_outcome_t *sql_job_wait(sql_job_t *job);

/* Free what the job holds, its outcome included. */
void sql_job_fini(sql_job_t *job);

/* Run one job to its end and return its outcome (owned: free with
 * bl_block_outcome_free). */
bl_block_outcome_t *sql_run(sql_fixture_t *f, const char *tenant, const char *params_json);

/* The result's rows[row][col]; borrowed. */
json_t *sql_cell(const bl_block_outcome_t *o, size_t row, size_t col);

/* The connection string of the fixture's server for `dbname` and `user`. */
void sql_fixture_dsn(const sql_fixture_t *f, char *out, size_t size, const char *dbname, const char *user);

/* Run setup SQL on the server as "postgres"; fails the test on error. */
void sql_fixture_exec(const sql_fixture_t *f, const char *dbname, const char *sql);

#endif
