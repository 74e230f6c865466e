/*
 * What the SQL block's two drivers share: how a failure is recorded and
 * reported, and their entry points. Each driver reports exactly once
 * through `done`, as blocks.h requires.
 */
#ifndef BL_BLOCKS_SQL_RUN_H
#define BL_BLOCKS_SQL_RUN_H

#include <stdbool.h>

#include <beamline/blocks.h>

#include "sql_request.h"
#include "sql_result.h"

/* A run's first failure; code 0 while there is none. */
typedef struct sql_failure {
	int code;
	const char *error_code; /* static, e.g. "sql_error" */
	bool retryable;
	bl_error_t error;
} sql_failure_t;

/* Record a failure unless one is recorded already (later ones are
 * consequences of the first). Returns the first failure's code. */
int sql_fail(sql_failure_t *f, int code, const char *error_code, bool retryable, const char *field, const char *fmt,
	     ...) __attribute__((format(printf, 6, 7)));

/* Make a run's outcome: the failure when there is one, else the result
 * (taken from the builder). `pool` is static. Returns an owned outcome, or
 * NULL when memory runs out. */
bl_block_outcome_t *sql_outcome_make(const sql_failure_t *f, sql_result_t *result, const char *pool);

/* Report a failure at once through `done` (from the calling thread).
 * Returns 0, since `done` was called. */
int sql_report_now(int code, const char *error_code, const bl_error_t *err, bl_block_done_fn done, void *ctx);

/* Run `req` on its PostgreSQL pool (sql_pg_run.c). `req` is copied; what it
 * points to must stay valid until `done`. Returns as bl_block_t.start. */
int sql_pg_start(const sql_request_t *req, const bl_block_env_t *env, bl_block_done_fn done, void *ctx);

/* Run `req` on SQLite, on the blocking pool (sql_lite.c). Returns as
 * bl_block_t.start. */
int sql_lite_start(const sql_request_t *req, const bl_block_env_t *env, bl_block_done_fn done, void *ctx);

#endif
