/*
 * Blocks: what a job runs. One block per file behind this interface; the
 * engine finds a block by the job's "block" name.
 *
 * A block checks a job's parameters before the job is queued (`prepare`),
 * then runs it asynchronously on the runtime's pools (`start`) and reports
 * once through a callback. A block never blocks a worker of the engine's
 * control pool, and a failure fails the job, never the process.
 */
#ifndef BEAMLINE_BLOCKS_H
#define BEAMLINE_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>
#include <beamline/kernels.h>
#include <beamline/sched.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a block may use while it runs. Set up by the engine per job;
 * everything is borrowed for the job's duration. */
typedef struct bl_block_env {
	bl_pool_t *cpu_pool;                          /* compute */
	int data_dir;                                 /* the tenant's folder: inputs and outputs live beneath
	                                               * it; -1 when the tenant has none */
	const bl_npy_limits_t *npy_limits;
	const bl_json_tensor_limits_t *json_limits;
	size_t inline_max_elements;                   /* largest output returned inside the result */
	bl_cancel_t *cancel;                          /* set when the job is cancelled or times out */
	const char *corr_id;                          /* for logs */
	const char *tenant;                           /* for messages */
} bl_block_env_t;

/* How a run ended. */
typedef struct bl_block_outcome {
	int code;               /* 0, or the negative code of the failure */
	bl_error_t error;       /* details when code < 0 */
	const char *error_code; /* stable snake_case name for the result, e.g. "invalid_params" */
	bool retryable;
	json_t *result;         /* owned by the outcome; NULL when none */
	double cpu_ms;          /* CPU time the run used, over all its threads */
	const char *pool;       /* "cpu", ... */
	const char *device;     /* e.g. "cpu (OpenBLAS SkylakeX)" */
} bl_block_outcome_t;

/* Called exactly once per started run, from any thread. The callee takes
 * the outcome (and its result) and must free it with bl_block_outcome_free. */
typedef void (*bl_block_done_fn)(void *ctx, bl_block_outcome_t *outcome);

typedef struct bl_block {
	const char *name;
	/*
	 * Validate `params` without doing the work, and estimate the bytes the
	 * run will hold (for the tenant's memory quota). Returns 0, or
	 * BL_EFORMAT / BL_EINVAL / a negative errno with *err naming the
	 * field, e.g. "params.inputs.a".
	 */
	int (*prepare)(json_t *params, const bl_block_env_t *env, uint64_t *mem_estimate, bl_error_t *err);
	/*
	 * Start the run. Returns 0 when `done` will be called, or a negative
	 * code (and `done` is not called). `params` is borrowed until `done`.
	 */
	int (*start)(json_t *params, const bl_block_env_t *env, bl_block_done_fn done, void *ctx);
} bl_block_t;

/* Return the block named `name`, or NULL. */
const bl_block_t *bl_block_find(const char *name);

/* Allocate an outcome; NULL when memory runs out. */
bl_block_outcome_t *bl_block_outcome_new(void);

/* Free an outcome and its result. Takes *outcome; NULL is fine. */
void bl_block_outcome_free(bl_block_outcome_t **outcome);

#ifdef __cplusplus
}
#endif

#endif
