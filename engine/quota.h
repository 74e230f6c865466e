/*
 * Tenant quotas and the table that maps tenant names to them.
 *
 * The quota file (local mode) is one JSON object:
 *
 *   { "default": { "max_concurrent": 4, "max_queued": 10000,
 *                  "cpu_ms_per_s": 0, "mem_bytes": 0, "weight": 1 },
 *     "unknown_tenants": "default" | "reject",
 *     "tenants": { "acme": { "weight": 3 }, "beta": { "max_queued": 10 } } }
 *
 * A tenant's entry overrides only the fields it names; the rest come from
 * "default". 0 means "no limit" for cpu_ms_per_s and mem_bytes. Every key is
 * checked: an unknown one is an error naming it, so a typo cannot silently
 * lift a limit.
 */
#ifndef BL_ENGINE_QUOTA_H
#define BL_ENGINE_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>

typedef struct bl_quota {
	uint32_t max_concurrent; /* running jobs, at least 1 */
	uint32_t max_queued;     /* waiting jobs before new ones are rejected */
	uint32_t cpu_ms_per_s;   /* CPU time per second of wall time; 0: no limit */
	uint64_t mem_bytes;      /* tensor memory of running jobs; 0: no limit */
	uint32_t weight;         /* share under contention, at least 1 */
} bl_quota_t;

/* Fill *q with the defaults: 4 concurrent, 10,000 queued, no CPU or memory
 * limit, weight 1. */
void bl_quota_init(bl_quota_t *q);

/*
 * Apply the fields of the quota object `obj` (borrowed) on top of *q:
 * fields it does not name keep their value in *q. `path` prefixes the
 * field in errors ("tenants.acme" gives "tenants.acme.weight"). Returns 0,
 * or BL_EFORMAT naming the field, with *q possibly changed in part.
 */
int bl_quota_parse(bl_quota_t *q, json_t *obj, const char *path, bl_error_t *err);

/*
 * Parse one tenant's quota stored as JSON text (`len` bytes, borrowed), as
 * a tenant entry of the quota file: fields it leaves out come from
 * *defaults. `tenant` must be a valid tenant name (bl_job_check_name).
 * Returns 0 with *out written, or BL_EFORMAT/BL_ELIMIT with *err naming
 * the field ("acme.max_queued"), *out untouched.
 */
int bl_quota_value_parse(bl_quota_t *out, const char *tenant, const char *text, size_t len,
			 const bl_quota_t *defaults, bl_error_t *err);

/* Longest tenant name a quota change carries, in bytes. */
#define BL_QUOTA_TENANT_MAX 255

typedef enum bl_quota_change_kind {
	BL_QUOTA_PUT = 0, /* the tenant's quota is now `quota` */
	BL_QUOTA_DELETE,  /* the tenant's live quota is gone: back to the table's */
	BL_QUOTA_READY,   /* every quota stored when the watch began has been delivered */
} bl_quota_change_kind_t;

/* One change of a tenant's quota at run time; `tenant` is "" for BL_QUOTA_READY. */
typedef struct bl_quota_change {
	bl_quota_change_kind_t kind;
	char tenant[BL_QUOTA_TENANT_MAX + 1];
	bl_quota_t quota; /* for BL_QUOTA_PUT: complete, the default filled in */
} bl_quota_change_t;

typedef struct bl_quota_entry {
	char *tenant;
	bl_quota_t quota;
} bl_quota_entry_t;

typedef struct bl_quota_table {
	bl_quota_t default_quota;
	bool reject_unknown;
	bl_quota_entry_t *entries;
	size_t count;
} bl_quota_table_t;

/* Build a table from the parsed JSON document `root` (borrowed). Returns 0
 * and an owned table (free with bl_quota_table_free) or BL_EFORMAT naming
 * the field. */
int bl_quota_table_parse(bl_quota_table_t **out, json_t *root, bl_error_t *err);

/* Read and parse a quota file. Errors as bl_quota_table_parse, plus
 * BL_EFORMAT for a file that is not JSON (with line and column) and
 * negative errno values with the path in err->field. */
int bl_quota_table_load(bl_quota_table_t **out, const char *path, bl_error_t *err);

/* Return a table with only the default quota, or NULL on BL_ENOMEM. */
bl_quota_table_t *bl_quota_table_default(void);

/* Return the quota of `tenant`, or NULL when the table names no such
 * tenant (the caller then applies the default or rejects). */
const bl_quota_t *bl_quota_table_find(const bl_quota_table_t *t, const char *tenant);

void bl_quota_table_free(bl_quota_table_t **t);

#endif
