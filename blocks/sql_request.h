/*
 * A SQL job's parameters, checked and resolved against the service:
 *
 *   {"database": "NAME", "sql": "SELECT ... WHERE x = $1", "params": [...],
 *    "max_rows": N, "timeout_ms": N}
 *
 * Only "sql" is required. Without "database" the job uses its tenant's
 * embedded SQLite file. docs/blocks/sql.md describes each field.
 */
#ifndef BL_BLOCKS_SQL_REQUEST_H
#define BL_BLOCKS_SQL_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/blocks.h>

#include "sql_service.h"

/* PostgreSQL's limit on the parameters of one statement. */
#define SQL_PARAMS_MAX 65535u

typedef struct sql_request {
	const char *sql;                /* borrowed from the job's params */
	size_t sql_len;
	json_t *params;                 /* borrowed; an array, maybe empty */
	uint64_t max_rows;              /* capped by the service's max_rows */
	uint64_t timeout_ms;            /* capped by the database's statement timeout */
	const sql_database_t *database; /* NULL: the tenant's embedded SQLite file */
	const sql_target_t *target;     /* NULL with the embedded database */
} sql_request_t;

/*
 * Check `params` and resolve its database for `tenant`. Returns 0, or
 * BL_EFORMAT / BL_EINVAL with *err naming the field ("params.sql",
 * "params.params[2]", "params.database"). Everything in *req is borrowed
 * from `params` and `svc`.
 */
int sql_request_parse(sql_request_t *req, json_t *params, const bl_sql_service_t *svc, const char *tenant,
		      bl_error_t *err);

#endif
