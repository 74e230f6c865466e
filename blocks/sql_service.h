/*
 * The SQL block's shared state, made once per engine from the config's
 * "sql" section (docs/blocks/sql.md): the named databases, each tenant's
 * PostgreSQL connection pool or SQLite file, and the limits every job is
 * held to. Read-only after it is made, except for the pools and the SQLite
 * handle cache, which lock themselves.
 */
#ifndef BL_BLOCKS_SQL_SERVICE_H
#define BL_BLOCKS_SQL_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/services.h>

#include "sql_pg_pool.h"

typedef enum sql_driver {
	SQL_DRIVER_POSTGRES = 0,
	SQL_DRIVER_SQLITE,
} sql_driver_t;

/* Where one tenant's statements go in a database: a PostgreSQL pool, or a
 * SQLite file. */
typedef struct sql_target {
	char *tenant;          /* NULL: every tenant (a "shared" database) */
	sql_pg_pool_t *pool;   /* postgres; owned */
	char *path;            /* sqlite: an absolute file name; owned */
} sql_target_t;

typedef struct sql_database {
	char *name;
	sql_driver_t driver;
	uint64_t statement_timeout_ms; /* the most any statement on it may run */
	sql_target_t *targets;
	size_t target_count;
} sql_database_t;

/* The idle SQLite handles, shared by the blocking workers (sql_lite.c). */
typedef struct sql_lite_cache sql_lite_cache_t;

struct bl_sql_service {
	uint64_t max_rows;             /* the most rows a job may ask for, and the default */
	uint64_t max_result_bytes;     /* values kept in one result before it is truncated */
	uint64_t statement_timeout_ms; /* default for databases that give none, and the embedded one */
	uint64_t busy_timeout_ms;      /* SQLite: wait for another writer's lock */
	uint64_t connect_timeout_ms;   /* PostgreSQL: one connection attempt */
	bool embedded;                 /* jobs without "database" use the tenant's own SQLite file */
	sql_database_t *databases;
	size_t database_count;
	sql_lite_cache_t *lite;
	bl_pool_t *io_pool;            /* NULL when the kernel offers no io_uring */
	bl_pool_t *blocking_pool;
};

/* Open, stop and close the "sql" section (sql_config.c), for services.c. */
int bl__sql_service_open(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup,
			 bl_error_t *err);
void bl__sql_service_stop(bl_block_services_t *s);
void bl__sql_service_close(bl_block_services_t *s);

/*
 * Find database `name` and the target `tenant` may use in it. Returns 0 and
 * borrowed pointers, or BL_EINVAL with *err naming params.database: no such
 * database, or the tenant is not one of its tenants.
 */
int sql_service_find(const bl_sql_service_t *svc, const char *name, const char *tenant, const sql_database_t **db,
		     const sql_target_t **target, bl_error_t *err);

/* The SQLite handle cache (sql_lite.c). */
sql_lite_cache_t *sql_lite_cache_new(void);
void sql_lite_cache_free(sql_lite_cache_t **cache);

#endif
