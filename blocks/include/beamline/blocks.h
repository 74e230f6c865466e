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
#include <beamline/json_dump.h>
#include <beamline/kernels.h>
#include <beamline/sched.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The measured cost model that places "auto" kernels (placement.h). */
typedef struct bl_placement bl_placement_t;

/* An opened OpenCL device (<beamline/gpu.h>). */
typedef struct bl_gpu bl_gpu_t;
typedef struct bl_gpu_config bl_gpu_config_t;

/* The engine's OpenCL device, opened on first use (device_slot.c). */
typedef struct bl_device_slot bl_device_slot_t;

/* Called once, after the first attempt to open the device: `gpu` is the
 * device, or NULL with *err saying why there is none. */
typedef void (*bl_device_opened_fn)(void *ctx, bl_gpu_t *gpu, const bl_error_t *err);

/*
 * Make a slot that opens the device of `cfg` (copied; its cache_dir must
 * outlive the slot) when a job first needs it, or never when `enabled`
 * is false. Once opened, `placement` (borrowed; may be NULL) is bound to
 * the device. Returns 0 and an owned slot, or BL_ENOMEM.
 */
int bl_device_slot_new(bl_device_slot_t **out, const bl_gpu_config_t *cfg, bool enabled, bl_placement_t *placement,
		       bl_device_opened_fn on_open, void *ctx);

/* Return the device, opening it on the first call; NULL when the machine
 * has none (or it is turned off). Thread-safe; borrowed for the slot's
 * lifetime. */
bl_gpu_t *bl_device_slot_get(bl_device_slot_t *slot);

/* Return why the slot has no device ("OpenCL devices are turned off
 * (--no-gpu)", "no OpenCL device 5: ..."), or "" when it has one; NULL
 * is a slot without a device. Borrowed. */
const char *bl_device_slot_why(bl_device_slot_t *slot);

/* Close the device. Every run on it must have ended. Takes *slot. */
void bl_device_slot_free(bl_device_slot_t **slot);

/* The engine's shared services for the I/O blocks (services.h). */
typedef struct bl_block_services bl_block_services_t;

/*
 * How a job's cancellation (timeout, cancel request) reaches a block that
 * waits on I/O instead of polling a flag: the block names an actor and a
 * message type, and the engine sends that message once when the job is
 * cancelled, or at once when it already was. Made and fired by the engine
 * (cancel_hook.c); a block only watches and unwatches.
 */
typedef struct bl_cancel_hook bl_cancel_hook_t;

/* Make a hook for `cancel` (borrowed: it must outlive the hook). Returns
 * NULL when memory runs out. */
bl_cancel_hook_t *bl_cancel_hook_new(bl_cancel_t *cancel);

/* Mark the job cancelled and tell the watching actor, if any. Idempotent;
 * any thread. */
void bl_cancel_hook_fire(bl_cancel_hook_t *hook);

/*
 * Send `type` (no payload) to `actor` when the job is cancelled; at once
 * when it already is. Replaces an earlier watch. The hook keeps a
 * reference to the actor until unwatched or freed. Returns 0, BL_EINVAL
 * (NULL hook or actor) or BL_ENOMEM.
 */
int bl_cancel_hook_watch(bl_cancel_hook_t *hook, bl_actor_t *actor, uint32_t type);

/* Stop watching; the message may still arrive if the cancel raced this
 * call, so the actor must ignore a late one. */
void bl_cancel_hook_unwatch(bl_cancel_hook_t *hook);

/* Free the hook and drop its actor reference. Takes *hook; NULL is fine. */
void bl_cancel_hook_free(bl_cancel_hook_t **hook);

/* What a block may use while it runs. Set up by the engine per job;
 * everything is borrowed for the job's duration. */
typedef struct bl_block_env {
	bl_pool_t *cpu_pool;                          /* compute */
	bl_pool_t *gpu_pool;                          /* device queues; NULL without an OpenCL device */
	bl_pool_t *io_pool;                           /* io_uring rings; NULL when the kernel offers none */
	bl_pool_t *blocking_pool;                     /* unpinned workers that may block (SQLite) */
	const bl_block_services_t *services;          /* http, sql, approvals, fs limits */
	bl_cancel_hook_t *cancel_hook;                /* tells an I/O block's actor about a cancel */
	bl_device_slot_t *device;                     /* the device, opened on first use; NULL: none */
	bl_placement_t *placement;                    /* for "device": "auto"; NULL runs auto on the CPU */
	uint64_t device_mem_limit;                    /* the tenant's device memory (mem_bytes); 0: none */
	int data_dir;                                 /* the tenant's folder: inputs and outputs live beneath
	                                               * it; -1 when the tenant has none */
	const bl_npy_limits_t *npy_limits;
	const bl_json_tensor_limits_t *json_limits;
	size_t inline_max_elements;                   /* largest output returned inside the result */
	bl_cancel_t *cancel;                          /* set when the job is cancelled or times out */
	const char *corr_id;                          /* for logs */
	const char *tenant;                           /* for messages */
	const char *job_id;                           /* for messages and approval ids */
	const char *traceparent;                      /* the job's W3C trace context (beamline/trace.h), for
	                                               * approval requests and outbound requests; NULL or
	                                               * "" for none */
	uint64_t timeout_ms;                          /* the job's time limit: its "timeout_ms", else the
	                                               * run's default; 0: none */
	bool attach_text;                             /* the caller encodes results with the outcome's
	                                               * attached text (bl_block_outcome_t) */
} bl_block_env_t;

/* How a run ended. */
typedef struct bl_block_outcome {
	int code;               /* 0, or the negative code of the failure */
	bl_error_t error;       /* details when code < 0 */
	const char *error_code; /* stable snake_case name for the result, e.g. "invalid_params" */
	bool retryable;
	bool rejected;          /* a quota refused the run: the job ends "rejected", not "error" */
	json_t *result;         /* owned by the outcome; NULL when none */
	/* Text kept out of the result's tree, when the env allows it
	 * (attach_text). The tree has a placeholder value (attached.slot),
	 * and attached.text is written in its place when the result is
	 * encoded (bl_json_dumps_with), so megabytes read by an fs get are
	 * not copied into the tree. The text lies in attached_block, owned
	 * by the outcome. */
	bl_json_text_t attached;
	void *attached_block;
	double cpu_ms;          /* CPU time the run used, over all its threads */
	const char *pool;       /* "cpu", ... */
	const char *device;     /* e.g. "cpu (OpenBLAS SkylakeX)" */
} bl_block_outcome_t;

/* Called exactly once per started run, from any thread, unless the runtime
 * shuts down while the run is still in flight: such a run is dropped
 * without a call. The callee takes the outcome (and its result) and must
 * free it with bl_block_outcome_free. */
typedef void (*bl_block_done_fn)(void *ctx, bl_block_outcome_t *outcome);

/* What a block's runs occupy while they run. The engine limits compute
 * runs and I/O runs separately, so that slow servers cannot hold every
 * place and keep kernels waiting, nor kernels the I/O. */
typedef enum bl_block_load {
	BL_LOAD_COMPUTE = 0, /* CPU or device work */
	BL_LOAD_IO,          /* waits for files, sockets or databases */
	BL_LOAD_NONE,        /* waits for a person without using a worker: not limited */
	BL_LOAD_KINDS
} bl_block_load_t;

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
	/* What a run occupies, for the engine's limits of jobs running at
	 * once; the tenant's max_concurrent applies to every kind. */
	bl_block_load_t load;
} bl_block_t;

/* Return the block named `name`, or NULL. */
const bl_block_t *bl_block_find(const char *name);

/* Write the registered blocks' names, comma-separated, into `out` (cut
 * to `size` bytes, always terminated). */
void bl_block_names(char *out, size_t size);

/* Allocate an outcome; NULL when memory runs out. */
bl_block_outcome_t *bl_block_outcome_new(void);

/* Free an outcome and its result. Takes *outcome; NULL is fine. */
void bl_block_outcome_free(bl_block_outcome_t **outcome);

#ifdef __cplusplus
}
#endif

#endif
