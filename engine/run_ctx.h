/*
 * State shared by the actors of one local run, and their messages.
 *
 * Actors, all on the engine's control pool (compute runs on the CPU pool):
 *   dispatcher  admission: queues jobs per tenant and priority, starts them
 *               under the quotas, spots duplicate ids;
 *   job         one per started job: runs its block, enforces its timeout,
 *               retries transient failures, reports its result;
 *   writer      writes results in the order they arrive, counts them, and
 *               ends the run once every job read has its result.
 * The main thread reads the jobs file, parses each line and hands jobs to
 * the dispatcher, at most `window` ahead of the written results.
 */
#ifndef BL_ENGINE_RUN_CTX_H
#define BL_ENGINE_RUN_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <beamline/blocks.h>
#include <beamline/sched.h>

#include "admission.h"
#include "quota.h"
#include "run.h"

enum {
	/* to the dispatcher */
	MSG_JOB = 1,        /* payload: job_state_t * */
	MSG_JOB_DONE,       /* payload: job_state_t *; the job actor has stopped */
	MSG_CANCEL,         /* payload: char *, "tenant/id" (owned); to a job actor: none */
	MSG_INPUT_END,      /* no more jobs */
	MSG_TICK,           /* a CPU budget refilled */
	MSG_QUOTA,          /* payload: bl_quota_change_t *, owned by the message */
	/* to a job actor */
	MSG_START,
	MSG_OUTCOME,        /* payload: bl_block_outcome_t * (may be NULL: out of memory) */
	MSG_TIMEOUT,
	MSG_RETRY,
	/* to the writer */
	MSG_RESULT,         /* payload: result_item_t *; to any result sink */
	MSG_EXPECT,         /* payload: uint64_t, the number of results to expect */
	MSG_FLUSH,          /* flush the results written so far */
	MSG_STOP,           /* to the dispatcher: cancel queued jobs and every later one */
};

typedef struct run_ctx {
	const bl_run_config_t *cfg;
	bl_runtime_t *rt;
	bl_pool_t *control;
	bl_pool_t *cpu;
	bl_pool_t *gpu;                 /* NULL with --no-gpu */
	bl_pool_t *io;                  /* NULL when the kernel offers no io_uring */
	bl_pool_t *blocking;            /* workers that may block (SQLite) */
	json_t *config;                 /* the --config document; NULL: defaults */
	bl_block_services_t *services;  /* http, sql, approvals, fs limits */
	struct bl_admin *admin;         /* the admin endpoint; NULL without an "admin" section */
	struct bl_engine_metrics *metrics; /* updated from any thread; NULL: not counted */
	char *state_dir;                /* owned */
	bl_device_slot_t *device;       /* opened when a job first needs it */
	bl_placement_t *placement;      /* measured run times for "device": "auto" */
	char *placement_path;
	bl_actor_t *dispatcher;
	/* The result sink: any actor that takes MSG_RESULT and frees the item.
	 * The writer (writer.c) for the jobs file; serve_sink.c in service mode. */
	bl_actor_t *writer;
	/* The dispatcher replies to a repeated job id with the first job's result
	 * (dedupe.h). Off in service mode, where the results stream does that. */
	bool dedupe_ids;
	/* Bytes of result lines the dedupe table may still keep, set by the
	 * dispatcher. It only shrinks, so bl__report skips copying a line
	 * that the table would not keep anyway. */
	_Atomic size_t dedupe_room;
	bl_quota_table_t *quotas;
	int data_root;
	FILE *out;
	bool out_in_place;      /* readers see results as they come (not a temporary file) */

	/* Flow control between the reading thread and the writer. */
	pthread_mutex_t lock;
	pthread_cond_t room;
	size_t in_flight;       /* jobs read and not yet written; guarded by lock */
	size_t in_flight_bytes; /* their text; guarded by lock */
	int read_error;         /* reading the jobs file failed, as -errno */
	atomic_bool stop_requested; /* SIGTERM or SIGINT: read no further */

	bl_latch_t finished;

	/* Written by the writer, read by the progress line and the summary. */
	uint64_t _Atomic written;
	uint64_t _Atomic by_status[BL_JOB_CANCELLED + 1];
	uint64_t _Atomic read;
	/* Written by the dispatcher after each message, for status requests. */
	uint64_t _Atomic jobs_running;
	uint64_t _Atomic jobs_queued;
	bl_run_summary_t summary;  /* writer-owned until `finished` opens */
	double *run_ms;            /* run times of the jobs that ran; writer-owned */
	size_t run_ms_count;
	size_t run_ms_capacity;
	int write_error;           /* first output error, as -errno */
} run_ctx_t;

/* A job from the moment it is read until its actor stops. */
typedef struct job_state {
	bl_admission_entry_t entry; /* the dispatcher's, while queued or running */
	run_ctx_t *ctx;
	bl_job_t *job;
	const bl_block_t *block;
	bl_block_env_t env;
	bl_cancel_t cancel;
	bl_cancel_hook_t *cancel_hook; /* fires `cancel` and notifies an I/O block */
	char corr_id[300]; /* tenant/id; both fit whole */
	uint64_t ticket;   /* the job source's handle for the sink; 0 for the jobs file */
	size_t cost;       /* bytes of job text, for the read-ahead window */
	uint64_t read_ns;           /* when the job was read, on the monotonic clock */
	uint64_t queued_us;         /* from reading to the first start */
	uint64_t started_ns;        /* of the current attempt */
	uint64_t run_ns;
	unsigned attempts;
	double cpu_ms;
	bl_timer_id_t timer;
	bool timer_set;
	bool timed_out;             /* timed out or cancelled: its result went out before the work stopped */
	bool reported;              /* its result went to the writer */
	char *result_line;          /* a copy of that result, for duplicates */
	bl_job_status_t result_status;
	bool holds_folder;          /* env.data_dir is held from the dispatcher's tenant_dirs */
	/* The dispatcher's list of admitted jobs (queued, held or running), for cancel requests. */
	struct job_state *live_prev;
	struct job_state *live_next;
	bool live;
	bl_actor_t *actor;
} job_state_t;

/* One result on its way to the writer. */
typedef struct result_item {
	char *line;                 /* owned; no newline */
	size_t line_len;            /* its length */
	size_t cost;                /* bytes of job text to release from the window */
	uint64_t ticket;            /* job_state_t.ticket of the job */
	bl_job_status_t status;
	bool retryable;             /* the error may pass on a later attempt */
	char block[32];
	double run_ms;              /* < 0 when the job did not run */
} result_item_t;

/* Actor behaviours (dispatcher.c, job_actor.c, writer.c). */
extern const bl_behaviour_t bl__dispatcher_behaviour;
extern const bl_behaviour_t bl__job_behaviour;
extern const bl_behaviour_t bl__writer_behaviour;

/* Send a pointer payload. Returns as bl_send, or BL_ENOMEM. */
int bl__send_ptr(bl_actor_t *to, uint32_t type, void *ptr);
void *bl__msg_ptr(bl_msg_t *msg);

/* Encode and send a result to the result sink; `run_ms` < 0 when the job
 * did not run; `cost` is the job's text size, released from the read-ahead
 * window when the result is written; `ticket` is the job source's handle
 * (job_state_t.ticket), passed through to the sink. Returns an owned copy
 * of the encoded line for duplicates of the job, where the run reports
 * them (run_ctx_t.dedupe_ids); else NULL. Also NULL when memory runs out;
 * then the result is lost and logged. */
char *bl__report(run_ctx_t *ctx, const bl_job_result_t *r, const char *block, double run_ms, size_t cost,
		 uint64_t ticket);

/* Report a job that failed before running: status `status`, the error from
 * *err under `code`; `traceparent` NULL for a line that is no job (it gets
 * a new trace). Returns as bl__report. */
char *bl__report_failure(run_ctx_t *ctx, const char *id, const char *tenant, const char *block, const char *traceparent,
			 bl_job_status_t status, const char *code, const bl_error_t *err, bool retryable, size_t cost,
			 uint64_t ticket);

/*
 * Make the state of `*job` and send it to the dispatcher: the job source's
 * entry point. `cost` is its text size, `ticket` the source's handle for
 * the sink (0: none). Returns 0 and takes *job (set to NULL), or BL_ENOMEM
 * with *err set and *job still the caller's, to report. Any thread.
 */
int bl__job_submit(run_ctx_t *ctx, bl_job_t **job, size_t cost, uint64_t ticket, bl_error_t *err);

/* Give `job` the trace context of a message's "traceparent" header (NULL
 * when absent) unless the job carries its own; an invalid header starts a
 * new trace (intake.c). */
void bl__job_take_trace(bl_job_t *job, const char *header);

/* Start the runtime and its pools into ctx (runtime_setup.c). Returns 0
 * or a negative code with *err set. */
int bl__runtime_start(run_ctx_t *ctx, bl_error_t *err);

/* Spawn the writer of a run (writer.c). */
int bl__writer_spawn(bl_actor_t **out, run_ctx_t *ctx);

/* Spawn the job actor for `js` (job_actor.c). */
int bl__job_spawn(bl_actor_t **out, run_ctx_t *ctx, job_state_t *js);

/* Free a job_state and what it owns. */
void bl__job_state_free(job_state_t *js);

/* Load the placement model and make the device slot (placement_setup.c);
 * failures to read the model are logged and the run measures afresh.
 * Returns 0 or BL_ENOMEM. */
int bl__placement_start(run_ctx_t *ctx, bl_error_t *err);

/* Save the placement model, close the device and free both. Call after
 * the runtime is freed. */
void bl__placement_stop(run_ctx_t *ctx);

/* Load the config file, make the state folder and the block services
 * (services_setup.c). Call with the pools running. Returns 0, or a
 * negative code with *err naming the config key or file at fault. */
int bl__services_start(run_ctx_t *ctx, bl_error_t *err);

/* Load the config file at `path`: a regular file of at most 1 MiB holding
 * one JSON object. Returns 0 with *out owned (also on a non-object, for
 * the caller to free), or a negative code with *err naming the file
 * (services_setup.c). */
int bl__config_load(json_t **out, const char *path, bl_error_t *err);

/* Stop the services' threads and actors; the runtime must still run. */
void bl__services_quiesce(run_ctx_t *ctx);

/* Free the services and the config; call after the runtime is freed. */
void bl__services_stop(run_ctx_t *ctx);

/* Spawn the dispatcher of a run (dispatcher.c). */
int bl__dispatcher_spawn(bl_actor_t **out, run_ctx_t *ctx, bl_error_t *err);

/*
 * Send the dispatcher `dispatcher` (borrowed) a copy of *change, which it
 * applies to its admission on its own thread (admission.h says what each
 * field does to queued and running jobs). Any thread. Returns 0, BL_ENOMEM,
 * or bl_send's error once the actor has stopped.
 */
int bl__dispatcher_send_quota(bl_actor_t *dispatcher, const bl_quota_change_t *change);

/* A quota watch callback (quota_watch.h) that passes each change to the
 * dispatcher actor `dispatcher` (a bl_actor_t *, borrowed) with
 * bl__dispatcher_send_quota; a change that cannot be sent is logged. */
void bl__dispatcher_quota_fn(const bl_quota_change_t *change, void *dispatcher);

/* Milliseconds on the monotonic clock. */
uint64_t bl__run_now_ms(void);

/* Nanoseconds on the monotonic clock. */
uint64_t bl__run_now_ns(void);

#endif
