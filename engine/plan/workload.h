/*
 * The planner's workload description: one JSON object (docs/plan.md).
 *
 *   { "data_dir": "../tenants",          tenant folders, as run --data-dir;
 *                                        relative to the workload file
 *     "target_p99_ms": 250,
 *     "arrival": { "process": "poisson", "rate_per_s": 30 }
 *             or { "process": "trace", "trace": "openb-pods" | "lora-requests",
 *                  "path": "...", "time_scale": 0.001 },
 *     "tenants": { "demo": { "weight": 1, "max_concurrent": 4, "max_queued": 10000,
 *                            "priorities": { "high": 0.2, "normal": 0.8 } } },
 *     "mix": [ { "name": "knn", "tenant": "demo", "fraction": 0.2,
 *                "job": { "block": "kernel", "params": { ... } } } ],
 *     "simulated_jobs": 20000, "calibration_samples": 30,
 *     "calibration_spacing_ms": 0, "validation_jobs": 300, "ageing_ms": 1000 }
 *
 * Every key is checked, and an error names the field by its JSON path
 * ("mix[2].fraction").
 */
#ifndef BL_ENGINE_PLAN_WORKLOAD_H
#define BL_ENGINE_PLAN_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>
#include <beamline/job.h>

#include "quota.h"
#include "sim.h"

typedef enum bl_plan_process {
	BL_PLAN_POISSON = 0,
	BL_PLAN_TRACE,
} bl_plan_process_t;

typedef struct bl_plan_tenant_spec {
	char *name;
	bl_quota_t quota;
	double priority_share[BL_PRIORITY_COUNT]; /* sums to 1 */
} bl_plan_tenant_spec_t;

typedef struct bl_plan_entry {
	char *name;
	uint32_t tenant;        /* index into the workload's tenants */
	double share;           /* of all arrivals, 0 to 1 */
	json_t *job;            /* the job template without id and tenant; owned */
	bool has_priority;      /* the template sets "priority" */
	bl_priority_t priority;
	bl_plan_kind_t kind;    /* from the block's load */
} bl_plan_entry_t;

typedef struct bl_plan_workload {
	char *data_dir;          /* resolved against the workload file's folder */
	double target_p99_ms;    /* 0 when the file gives none */
	bl_plan_process_t process;
	double rate_per_s;       /* Poisson: the total arrival rate */
	char *trace;             /* "openb-pods" or "lora-requests" */
	char *trace_path;        /* NULL: the default place; else resolved like data_dir */
	double time_scale;       /* trace seconds to replay seconds */
	size_t simulated_jobs;
	size_t calibration_samples;
	uint64_t calibration_spacing_ms; /* between the feeds of calibration jobs; 0: all at once */
	size_t validation_jobs;
	uint64_t ageing_ms;
	bl_plan_tenant_spec_t *tenants;
	size_t tenant_count;
	bl_plan_entry_t *entries;
	size_t entry_count;
	bool has_io;             /* some entry is an I/O block */
} bl_plan_workload_t;

/*
 * Read and validate the workload file at `path`. Returns 0 and an owned
 * workload (free with bl_plan_workload_free), or BL_EFORMAT with *err
 * naming the field, a negative errno for a file that cannot be read, or
 * BL_ENOMEM.
 */
int bl_plan_workload_load(bl_plan_workload_t **out, const char *path, bl_error_t *err);

/*
 * Validate the document `root` (borrowed); relative paths in it are taken
 * from `dir`. Returns as bl_plan_workload_load.
 */
int bl_plan_workload_parse(bl_plan_workload_t **out, json_t *root, const char *dir, bl_error_t *err);

/* Free a workload. Takes *w and sets it to NULL; NULL is fine. */
void bl_plan_workload_free(bl_plan_workload_t **w);

/*
 * Encode one job of `entry` as a line of the engine's job format, with id
 * `id` and the tenant's name. It gets `priority` unless the template sets
 * its own. Returns an owned string (free with free()) or NULL when memory
 * runs out.
 */
char *bl_plan_job_line(const bl_plan_workload_t *w, const bl_plan_entry_t *entry, const char *id,
		       bl_priority_t priority);

#endif
