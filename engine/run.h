/*
 * The local run: `beamline-engine run JOBS.jsonl`. Reads one job per line,
 * runs every job through admission and the pools, and writes one result
 * per line, in the order the jobs finish.
 */
#ifndef BL_ENGINE_RUN_H
#define BL_ENGINE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <beamline/error.h>
#include <beamline/job.h>
#include <beamline/kernels.h>
#include <beamline/sched.h>

typedef struct bl_run_config {
	const char *jobs_path;       /* "-" reads standard input */
	const char *output_path;     /* NULL writes standard output */
	const char *data_dir;        /* tenant folders live beneath it: DATA_DIR/TENANT */
	const char *quotas_path;     /* NULL: the default quota for every tenant */
	unsigned cpu_workers;        /* 0: one per core */
	uint64_t default_timeout_ms; /* for jobs that give none */
	size_t window;               /* jobs read ahead of their results */
	size_t window_bytes;         /* bytes of job text read ahead of their results */
	size_t dedupe_bytes;         /* bytes of result lines kept to repeat them in full for a repeated id */
	size_t inline_max_elements;  /* largest output returned inside a result */
	uint64_t ageing_ms;          /* admission ageing period */
	bl_job_limits_t job_limits;
	bl_npy_limits_t npy_limits;
	bl_json_tensor_limits_t json_limits;
	bool progress;               /* progress line on stderr */
	bool print_metrics;          /* keep each job's figures for the summary */
	bool no_gpu;                 /* never open an OpenCL device; "auto" runs on the CPU */
	int gpu_device;              /* OpenCL device index; -1: the first GPU, else the first device */
	unsigned gpu_queues;         /* command queues, one GPU pool worker each */
	const char *placement_path;  /* the placement model's file; NULL: placement.json in the cache folder */
	const char *config_path;     /* the services' config file (services.h); NULL: defaults */
	const char *state_dir;       /* state that survives a restart; NULL: DATA_DIR/.beamline */
	unsigned io_workers;         /* io_uring rings, one I/O pool worker each */
	unsigned blocking_workers;   /* workers that may block (SQLite) */
	/* Handle SIGTERM and SIGINT during the run (the process's handlers
	 * are replaced until it ends): the first stops reading and cancels
	 * the queued jobs while the running ones finish and every result is
	 * written; a second ends the process at once. */
	bool handle_signals;
	/* Called once on the calling thread when the actors run, before the
	 * first job is read, with the dispatcher actor (borrowed until
	 * bl_run_jobs returns): to give it live quota changes
	 * (bl__dispatcher_quota_fn). NULL: none. */
	void (*on_dispatcher)(bl_actor_t *dispatcher, void *arg);
	void *on_dispatcher_arg;
} bl_run_config_t;

/* Fill *cfg with defaults: data dir ".", one CPU worker per core, timeout
 * 60 s, a window of 4,096 jobs and 64 MiB, 64 MiB of results kept for
 * repeated ids, inline outputs up to 10,000 elements, ageing 1 s, the default limits, and the first OpenCL device
 * (a GPU when there is one) with 2 queues, one I/O worker and two
 * blocking workers. */
void bl_run_config_init(bl_run_config_t *cfg);

#define BL_RUN_BLOCKS_MAX 8

typedef struct bl_run_summary {
	uint64_t jobs;
	uint64_t by_status[BL_JOB_CANCELLED + 1];
	struct {
		char name[32];
		uint64_t jobs;
		uint64_t ok;
	} blocks[BL_RUN_BLOCKS_MAX];
	unsigned block_count;
	double run_p50_ms;  /* of the jobs that ran */
	double run_p99_ms;
	double elapsed_s;
	double jobs_per_s;
	/* With print_metrics: one line per job, "id  figures", for the first
	 * BL_RUN_DIGESTS_MAX jobs to finish; owned (bl_run_summary_free). */
	char **digests;
	size_t digest_count;
} bl_run_summary_t;

#define BL_RUN_DIGESTS_MAX 100

/*
 * Run every job of cfg->jobs_path. Returns 0 when the run completed (jobs
 * may still have failed: see the summary), or a negative code with *err
 * when the run itself could not proceed (input or output not usable,
 * quota file invalid, runtime not startable).
 */
int bl_run_jobs(const bl_run_config_t *cfg, bl_run_summary_t *summary, bl_error_t *err);

/* Print the summary as a table. */
void bl_run_summary_print(const bl_run_summary_t *s, FILE *to);

/* Free what the summary owns. */
void bl_run_summary_free(bl_run_summary_t *s);

#endif
