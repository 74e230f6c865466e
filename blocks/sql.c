/*
 * The sql block: one parameterised statement per job, on PostgreSQL
 * (sql_pg_run.c) or SQLite (sql_lite.c). The job carries the SQL text and
 * its parameters separately, and the engine never splices values into SQL.
 * docs/blocks/sql.md describes the parameters, the result and the errors.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sql_run.h"

int sql_fail(sql_failure_t *f, int code, const char *error_code, bool retryable, const char *field, const char *fmt,
	     ...)
{
	char message[BL_ERROR_MESSAGE_MAX];
	va_list ap;

	if (f->code < 0)
		return f->code;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);

	f->code = code;
	f->error_code = error_code;
	f->retryable = retryable;
	bl_error_set(&f->error, code, field, "%s", message);
	return code;
}

bl_block_outcome_t *sql_outcome_make(const sql_failure_t *f, sql_result_t *result, const char *pool)
{
	bl_block_outcome_t *o = bl_block_outcome_new();
	if (!o)
		return NULL;

	o->pool = pool;
	if (f->code < 0) {
		o->code = f->code;
		o->error = f->error;
		o->error_code = f->error_code;
		o->retryable = f->retryable;
		o->rejected = f->code == BL_EQUOTA;
		return o;
	}
	o->result = sql_result_take(result);
	if (!o->result) {
		o->code = BL_ENOMEM;
		o->error_code = "out_of_memory";
		o->retryable = true;
		bl_error_set(&o->error, BL_ENOMEM, NULL, "out of memory building the result");
	}
	return o;
}

int sql_report_now(int code, const char *error_code, const bl_error_t *err, bl_block_done_fn done, void *ctx)
{
	bl_block_outcome_t *o = bl_block_outcome_new();
	if (o) {
		o->code = code;
		o->error = *err;
		o->error_code = error_code;
	}
	done(ctx, o);
	return 0;
}

static int check_service(const bl_block_env_t *env, bl_error_t *err)
{
	if (!env->services || !env->services->sql)
		return bl_error_set(err, BL_EINVAL, NULL, "the sql service is not set up in this engine");
	return 0;
}

static int sql_prepare(json_t *params, const bl_block_env_t *env, uint64_t *mem_estimate, bl_error_t *err)
{
	sql_request_t req;
	int rc = check_service(env, err);
	if (rc == 0)
		rc = sql_request_parse(&req, params, env->services->sql, env->tenant, err);
	if (rc < 0)
		return rc;

	/* The rows kept, at a guess of 64 bytes each, up to the byte cap. */
	uint64_t rows = req.max_rows * 64u;
	uint64_t cap = env->services->sql->max_result_bytes;
	*mem_estimate = (rows < cap ? rows : cap) + req.sql_len;
	return 0;
}

static int sql_start(json_t *params, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	sql_request_t req;
	bl_error_t err = {0};

	int rc = check_service(env, &err);
	if (rc == 0)
		rc = sql_request_parse(&req, params, env->services->sql, env->tenant, &err);
	if (rc < 0)
		return sql_report_now(rc, "invalid_params", &err, done, ctx);

	if (!req.database || req.database->driver == SQL_DRIVER_SQLITE)
		return sql_lite_start(&req, env, done, ctx);
	if (!env->io_pool) {
		bl_error_set(&err, BL_EINVAL, NULL, "PostgreSQL needs the I/O pool, and the kernel refuses io_uring to "
			     "this process");
		return sql_report_now(BL_EINVAL, "io_unavailable", &err, done, ctx);
	}
	return sql_pg_start(&req, env, done, ctx);
}

const bl_block_t bl__sql_block = {
	.name = "sql",
	.prepare = sql_prepare,
	.start = sql_start,
	.load = BL_LOAD_IO,
};
