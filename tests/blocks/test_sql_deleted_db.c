/*
 * The sql block's embedded SQLite database after an fs job deleted its
 * files: the statements that follow must stay within the tenant's fs
 * quota and must not write into files that no longer have a name.
 */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sql_fixture.h"

/* The tenant's quota, and the rows inserted after the delete: 8 rows of
 * 100000 bytes take the database well past it. */
#define QUOTA_BYTES 300000
#define ROWS 8

static const char *error_code(const bl_block_outcome_t *o)
{
	return o->error_code ? o->error_code : "(none)";
}

/* Run one job of block `name` for tenant "a"; returns the owned outcome. */
static bl_block_outcome_t *run_block(sql_fixture_t *f, const char *name, const char *params)
{
	sql_job_t job;
	sql_job_start_block(f, &job, name, "a", params);
	bl_block_outcome_t *o = sql_job_wait(&job);
	job.outcome = NULL;
	sql_job_fini(&job);
	return o;
}

/* Run `params` on `name` for tenant "a" and expect failure with `code`
 * and a message that contains `text`. */
static void run_fails(sql_fixture_t *f, const char *name, const char *params, const char *code, const char *text)
{
	bl_block_outcome_t *o = run_block(f, name, params);
	cr_expect_neq(o->code, 0, "%s %s succeeded", name, params);
	cr_expect_str_eq(error_code(o), code, "%s %s: %s", name, params, o->error.message);
	cr_expect_str_eq(o->error.field, "params.path", "%s %s", name, params);
	cr_expect(strstr(o->error.message, text) != NULL, "%s %s: message '%s' lacks '%s'", name, params,
		  o->error.message, text);
	bl_block_outcome_free(&o);
}

/* Run `params` on `name` for tenant "a" and expect success. */
static void run_ok(sql_fixture_t *f, const char *name, const char *params)
{
	bl_block_outcome_t *o = run_block(f, name, params);
	cr_assert_eq(o->code, 0, "%s %s: %s: %s", name, params, error_code(o), o->error.message);
	bl_block_outcome_free(&o);
}

/* Start `f` with a quota of QUOTA_BYTES for every tenant, and give tenant
 * "a" an embedded database with table t and one row. */
static void start_with_table(sql_fixture_t *f)
{
	char config[128];

	sql_fixture_init(f);
	snprintf(config, sizeof config, "{\"fs\": {\"max_tenant_bytes\": %d}}", QUOTA_BYTES);
	sql_fixture_start(f, config);
	run_ok(f, "sql", "{\"sql\": \"CREATE TABLE t (b BLOB)\"}");
	run_ok(f, "sql", "{\"sql\": \"INSERT INTO t VALUES (randomblob(1000))\"}");
}

/*
 * An fs delete removes default.db and its -wal and -shm files. The
 * inserts after it still succeed, because the engine's open connection
 * writes into the unlinked files, which no measurement counts: 800000 bytes
 * would go in under a quota of 300000, and the rows would be lost at the
 * next start. Either the delete must be refused while the database is in
 * use, or the next statement must notice the missing file.
 */
Test(blocks_sql_deleted_db, inserts_after_delete_keep_quota, .timeout = 120)
{
	static const char *const files[] = {"sql/default.db", "sql/default.db-wal", "sql/default.db-shm"};
	sql_fixture_t f;
	char params[128];
	int inserted = 0;

	start_with_table(&f);

	int deleted = 0;
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(params, sizeof params, "{\"op\": \"delete\", \"path\": \"%s\"}", files[i]);
		bl_block_outcome_t *o = run_block(&f, "fs", params);
		deleted += o->code == 0;
		bl_block_outcome_free(&o);
	}
	for (int i = 0; i < ROWS; i++) {
		bl_block_outcome_t *o = run_block(&f, "sql", "{\"sql\": \"INSERT INTO t VALUES (randomblob(100000))\"}");
		inserted += o->code == 0;
		bl_block_outcome_free(&o);
	}

	cr_expect(deleted == 0 || inserted * 100000 <= QUOTA_BYTES,
		  "%d of 3 files deleted, then %d inserts of 100000 bytes passed a quota of %d bytes", deleted,
		  inserted, QUOTA_BYTES);
	sql_fixture_fini(&f);
}

/* The fs block refuses to delete or replace the embedded database's files,
 * however the path is spelt, and leaves other names in the folder alone. */
Test(blocks_sql_deleted_db, fs_refuses_database_files, .timeout = 120)
{
	static const char *const deletes[] = {"sql/default.db", "./sql/default.db", "sql//default.db-wal",
					      "sql/./default.db-shm", "sql/default.db-journal"};
	sql_fixture_t f;
	char params[160];

	sql_fixture_init(&f);
	sql_fixture_start(&f, NULL);
	run_ok(&f, "sql", "{\"sql\": \"CREATE TABLE t (b BLOB)\"}");

	for (size_t i = 0; i < sizeof deletes / sizeof *deletes; i++) {
		snprintf(params, sizeof params, "{\"op\": \"delete\", \"path\": \"%s\"}", deletes[i]);
		run_fails(&f, "fs", params, "invalid_params", "sql block's embedded SQLite database");
	}
	if (f.io) {
		run_fails(&f, "fs", "{\"op\": \"put\", \"path\": \"sql/default.db\", \"content\": \"x\"}",
			  "invalid_params", "may not put");
		run_fails(&f, "fs", "{\"op\": \"put\", \"path\": \"sql/default.db-journal\", \"content\": \"x\"}",
			  "invalid_params", "may not put");
		run_ok(&f, "fs", "{\"op\": \"put\", \"path\": \"sql/default.db.bak\", \"content\": \"x\"}");
		run_ok(&f, "fs", "{\"op\": \"put\", \"path\": \"default.db\", \"content\": \"x\"}");
		run_ok(&f, "fs", "{\"op\": \"delete\", \"path\": \"sql/default.db.bak\"}");
		run_ok(&f, "fs", "{\"op\": \"delete\", \"path\": \"default.db\"}");
	}
	run_ok(&f, "sql", "{\"sql\": \"INSERT INTO t VALUES (x'00')\"}");
	sql_fixture_fini(&f);
}

/*
 * The files deleted by something other than the fs block (an operator, a
 * restore): the next job opens a new database at the same name, so the
 * old table is gone and the inserts that follow count towards the quota.
 */
Test(blocks_sql_deleted_db, deleted_file_is_reopened, .timeout = 120)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	sql_fixture_t f;
	char path[512];
	int inserted = 0;

	start_with_table(&f);

	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		snprintf(path, sizeof path, "%s/a/sql/default.db%s", f.data_dir, suffixes[i]);
		cr_assert_eq(unlink(path), 0, "unlink %s", path);
	}
	bl_block_outcome_t *o = run_block(&f, "sql", "{\"sql\": \"SELECT count(*) FROM t\"}");
	cr_expect_neq(o->code, 0, "the table of the deleted database is still readable");
	cr_expect(o->error.message && strstr(o->error.message, "no such table"), "message: %s", o->error.message);
	bl_block_outcome_free(&o);

	snprintf(path, sizeof path, "%s/a/sql/default.db", f.data_dir);
	cr_expect_eq(access(path, F_OK), 0, "no new database at %s", path);
	run_ok(&f, "sql", "{\"sql\": \"CREATE TABLE t (b BLOB)\"}");
	for (int i = 0; i < ROWS; i++) {
		o = run_block(&f, "sql", "{\"sql\": \"INSERT INTO t VALUES (randomblob(100000))\"}");
		inserted += o->code == 0;
		bl_block_outcome_free(&o);
	}
	cr_expect_gt(inserted, 0, "no insert passed into the new database");
	cr_expect_leq(inserted * 100000, QUOTA_BYTES, "%d inserts of 100000 bytes passed a quota of %d bytes", inserted,
		      QUOTA_BYTES);
	sql_fixture_fini(&f);
}
