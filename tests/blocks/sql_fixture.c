#define _GNU_SOURCE /* mkdtemp */

#include "sql_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void sql_fixture_init(sql_fixture_t *f)
{
	char path[320];
	const char *tmp = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";

	memset(f, 0, sizeof *f);
	f->pg.guard_fd = -1;
	snprintf(f->data_dir, sizeof f->data_dir, "%s/bl-sql-XXXXXX", tmp);
	cr_assert_not_null(mkdtemp(f->data_dir), "cannot make a folder under %s", tmp);
	snprintf(path, sizeof path, "%s/a", f->data_dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/b", f->data_dir);
	cr_assert_eq(mkdir(path, 0700), 0);
}

void sql_fixture_start_pg(sql_fixture_t *f)
{
	char bindir[256], why[512];
	if (!pg_server_find(bindir, sizeof bindir))
		cr_skip_test("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin); "
			     "install postgresql-15 to run this test");
	int rc = pg_server_start(&f->pg, why, sizeof why);
	cr_assert_eq(rc, 0, "cannot start PostgreSQL: %s", why);
	f->have_pg = true;
}

int sql_fixture_try_start(sql_fixture_t *f, const char *config_json, bl_error_t *err)
{
	bl_pool_config_t cfg;
	json_error_t jerr;

	cr_assert_eq(bl_runtime_new(&f->rt), 0);
	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = 1;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(f->rt, &cfg, &f->io);
	cr_assert(rc == 0 || rc == -ENOSYS || rc == -EPERM, "cannot start the I/O pool: %s", bl_strerror(rc));
	if (rc < 0)
		f->io = NULL;

	bl_pool_config_init(&cfg);
	cfg.name = "blocking";
	cfg.workers = 2;
	cfg.pin_workers = false;
	cr_assert_eq(bl_runtime_add_pool(f->rt, &cfg, &f->blocking), 0);

	if (config_json) {
		f->config = json_loads(config_json, JSON_REJECT_DUPLICATES, &jerr);
		cr_assert_not_null(f->config, "the test's config is not JSON: %s\n%s", jerr.text, config_json);
	}
	bl_services_setup_t setup = {
		.config = f->config,
		.rt = f->rt,
		.control_pool = f->blocking,
		.io_pool = f->io,
		.blocking_pool = f->blocking,
		.data_dir = f->data_dir,
		.state_dir = f->data_dir,
	};
	return bl_block_services_new(&f->services, &setup, err);
}

void sql_fixture_start(sql_fixture_t *f, const char *config_json)
{
	bl_error_t err = {0};
	int rc = sql_fixture_try_start(f, config_json, &err);
	cr_assert_eq(rc, 0, "the services refused the config: %s: %s", err.field, err.message);
}

void sql_fixture_fini(sql_fixture_t *f)
{
	bl_block_services_stop(f->services);
	bl_runtime_free(&f->rt);
	bl_block_services_free(&f->services);
	json_decref(f->config);
	f->config = NULL;
	if (f->have_pg)
		pg_server_stop(&f->pg);

	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/rm", "rm", "-rf", f->data_dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void fill_env(sql_fixture_t *f, sql_job_t *job, const char *tenant)
{
	char path[400];
	snprintf(job->tenant, sizeof job->tenant, "%s", tenant);
	snprintf(path, sizeof path, "%s/%s", f->data_dir, tenant);

	job->env.io_pool = f->io;
	job->env.blocking_pool = f->blocking;
	job->env.services = f->services;
	job->env.cancel = &job->cancel;
	job->env.tenant = job->tenant;
	job->env.job_id = "test";
	job->env.corr_id = "test";
	job->env.data_dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	job->hook = bl_cancel_hook_new(&job->cancel);
	job->env.cancel_hook = job->hook;
	cr_assert_not_null(job->hook);
}

int sql_prepare(sql_fixture_t *f, const char *tenant, const char *params_json, bl_error_t *err)
{
	sql_job_t job = {0};
	uint64_t mem = 0;
	json_t *params = json_loads(params_json, 0, NULL);
	cr_assert_not_null(params, "the test's params are not JSON: %s", params_json);

	fill_env(f, &job, tenant);
	int rc = bl_block_find("sql")->prepare(params, &job.env, &mem, err);
	json_decref(params);
	sql_job_fini(&job);
	return rc;
}

static void job_done(void *ctx, bl_block_outcome_t *outcome)
{
	sql_job_t *job = ctx;
	job->outcome = outcome;
	bl_latch_count_down(&job->finished);
}

void sql_job_start(sql_fixture_t *f, sql_job_t *job, const char *tenant, const char *params_json)
{
	sql_job_start_block(f, job, "sql", tenant, params_json);
}

void sql_job_start_block(sql_fixture_t *f, sql_job_t *job, const char *name, const char *tenant,
			 const char *params_json)
{
	const bl_block_t *block = bl_block_find(name);
	bl_error_t err = {0};
	uint64_t mem = 0;

	memset(job, 0, sizeof *job);
	job->env.data_dir = -1;
	job->params = json_loads(params_json, 0, NULL);
	cr_assert_not_null(job->params, "the test's params are not JSON: %s", params_json);
	fill_env(f, job, tenant);
	bl_latch_init(&job->finished, 1);

	int rc = block->prepare(job->params, &job->env, &mem, &err);
	cr_assert_eq(rc, 0, "prepare refused %s: %s: %s", params_json, err.field, err.message);
	rc = block->start(job->params, &job->env, job_done, job);
	cr_assert_eq(rc, 0, "start failed: %s", bl_strerror(rc));
}

bl_block_outcome_t *sql_job_wait(sql_job_t *job)
{
	cr_assert_eq(bl_latch_wait_for(&job->finished, 60000), 0, "the job did not finish within 60 s");
	cr_assert_not_null(job->outcome, "the job reported no outcome (out of memory)");
	return job->outcome;
}

void sql_job_fini(sql_job_t *job)
{
	bl_cancel_hook_free(&job->hook);
	if (job->env.data_dir >= 0)
		close(job->env.data_dir);
	job->env.data_dir = -1;
	json_decref(job->params);
	job->params = NULL;
	bl_block_outcome_free(&job->outcome);
}

bl_block_outcome_t *sql_run(sql_fixture_t *f, const char *tenant, const char *params_json)
{
	sql_job_t job;
	sql_job_start(f, &job, tenant, params_json);
	bl_block_outcome_t *o = sql_job_wait(&job);
	job.outcome = NULL;
	sql_job_fini(&job);
	return o;
}

json_t *sql_cell(const bl_block_outcome_t *o, size_t row, size_t col)
{
	json_t *rows = json_object_get(o->result, "rows");
	return json_array_get(json_array_get(rows, row), col);
}

void sql_fixture_dsn(const sql_fixture_t *f, char *out, size_t size, const char *dbname, const char *user)
{
	pg_server_dsn(&f->pg, out, size, dbname, user);
}

void sql_fixture_exec(const sql_fixture_t *f, const char *dbname, const char *sql)
{
	char why[512];
	int rc = pg_server_exec(&f->pg, dbname, sql, why, sizeof why);
	cr_assert_eq(rc, 0, "setup SQL failed: %s\n%s", why, sql);
}
