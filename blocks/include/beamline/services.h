/*
 * The engine's shared services for the I/O blocks: what outlives one job.
 * The HTTP block's circuit breakers and address guard, the SQL block's
 * connection pools, the pending approvals of the human block and the fs
 * block's limits live here, made once per engine from the config file.
 *
 * The config file is one JSON object with a section per service:
 *
 *   { "fs": {...}, "http": {...}, "sql": {...}, "approvals": {...},
 *     "admin": {...} }
 *
 * Every section is optional; a missing one means that service's defaults.
 * An unknown section is an error, so a misspelt name is not silently
 * ignored. Each service documents its section in docs/blocks/NAME.md.
 */
#ifndef BEAMLINE_SERVICES_H
#define BEAMLINE_SERVICES_H

#include <stdint.h>

#include <jansson.h>

#include <beamline/blocks.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bl_http_service bl_http_service_t; /* http_service.h */
typedef struct bl_sql_service bl_sql_service_t;   /* sql_service.h */
typedef struct bl_approvals bl_approvals_t;       /* approvals.h */
typedef struct bl_fs_usage bl_fs_usage_t;         /* the fs block's tenant totals (blocks/fs_usage.c) */

/* The fs block's limits ("fs" section; defaults in docs/blocks/fs.md). */
typedef struct bl_fs_limits {
	uint64_t max_op_bytes;     /* largest get or put */
	uint64_t max_tenant_bytes; /* all files of one tenant's folder; 0: no limit */
	size_t max_list_entries;   /* entries one list returns */
	size_t max_path_bytes;     /* longest path a job may give, at most PATH_MAX - 1 */
} bl_fs_limits_t;

struct bl_block_services {
	bl_fs_limits_t fs;
	bl_fs_usage_t *fs_usage;   /* bytes per tenant for max_tenant_bytes */
	bl_http_service_t *http;   /* NULL: the http block reports it is not set up */
	bl_sql_service_t *sql;     /* NULL: likewise for sql */
	bl_approvals_t *approvals; /* NULL: likewise for human */
};

/* Levels of bl_service_log_fn, in the order of the engine's log levels. */
enum {
	BL_SERVICE_LOG_DEBUG = 0,
	BL_SERVICE_LOG_INFO,
	BL_SERVICE_LOG_WARN,
	BL_SERVICE_LOG_ERROR,
};

/*
 * Write one structured log record for a service: `corr_id` and `msg` may
 * be NULL; `fields` (borrowed; may be NULL) is an object whose string,
 * integer, real and boolean members become the record's fields. Any
 * thread.
 */
typedef void (*bl_service_log_fn)(int level, const char *module, const char *event, const char *corr_id,
				  const char *msg, const json_t *fields);

/* What the services are made from; everything borrowed for their life. */
typedef struct bl_services_setup {
	json_t *config;           /* the config document (borrowed); NULL: every default */
	const char *config_path;  /* for messages; may be NULL */
	bl_runtime_t *rt;
	bl_pool_t *control_pool;  /* for the services' own actors */
	bl_pool_t *io_pool;       /* NULL when the kernel offers no io_uring */
	bl_pool_t *blocking_pool; /* may block (SQLite) */
	const char *data_dir;     /* tenant folders live beneath it */
	const char *state_dir;    /* state that survives a restart (approvals) */
	bl_service_log_fn log;    /* NULL: the services do not log */
} bl_services_setup_t;

/*
 * Make every service from setup->config. Returns 0 and owned services, or
 * BL_EFORMAT / BL_EINVAL / a negative errno with *err naming the config
 * key at fault, e.g. "http.allow[2]".
 */
int bl_block_services_new(bl_block_services_t **out, const bl_services_setup_t *setup, bl_error_t *err);

/* Stop the services' threads and drop their actor references. Call it with
 * the runtime still running, once every job has its result. A block that is
 * still winding down (a timed-out job) may use the services' memory until
 * the runtime is freed, so this frees nothing. NULL is fine. */
void bl_block_services_stop(bl_block_services_t *services);

/* Free every service, after bl_block_services_stop() and after the
 * runtime is freed. Takes *services; NULL is fine. */
void bl_block_services_free(bl_block_services_t **services);

#ifdef __cplusplus
}
#endif

#endif
