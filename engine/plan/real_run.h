/*
 * Running planner jobs through the real engine, in this process, with the
 * same code as `beamline-engine run` (bl_run_jobs). Calibration hands over
 * all jobs at once under a quota that runs one job at a time. Validation
 * paces them at their arrival times under the workload's quotas.
 *
 * Latency is taken from each result's timing_us (queued + run): the
 * engine's own clock from reading the job to the end of its run. Output
 * timestamps would not do, because the writer may hold results written to
 * a pipe for up to 100 ms before flushing them. The engine counts
 * "queued" from the whole millisecond in which it read the job, which
 * adds up to 1 ms. The part of a millisecond that had passed when the job
 * was written is taken off again. NOTE: a job read in the millisecond
 * after it was written is then counted up to 1 ms short.
 */
#ifndef BL_ENGINE_PLAN_REAL_RUN_H
#define BL_ENGINE_PLAN_REAL_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include <beamline/error.h>

#include "workload.h"

typedef struct bl_plan_real_run {
	char **lines;          /* job lines, borrowed; job i has id "plan-<i>" */
	const double *at_ms;   /* arrival of each job since the start; NULL: all at once */
	size_t count;
	unsigned cpu_workers;
	unsigned io_workers;    /* 0: the engine's default */
	bool one_at_a_time;    /* every tenant gets max_concurrent 1; else the workload's quotas */
	/* Filled per job, by index: ms, or -1 when the job did not succeed. */
	double *run_ms;
	double *latency_ms;    /* timing_us queued + run, less the millisecond fraction above */
	size_t failed;         /* jobs without an ok result */
	bl_error_t first_failure; /* the first failed job's error; field "mix entry" left to the caller */
	size_t first_failed;   /* index of that job */
	double wall_s;
	/* CPU time that other processes on the host used during the run, in
	 * cores (from /proc/stat and this process's usage); -1 when unknown.
	 * The simulation assumes the cores are the engine's alone. */
	double other_cores;
} bl_plan_real_run_t;

/*
 * Run r->lines through the engine with the data folder and ageing of `w`
 * (borrowed), no GPU, and scratch files in a temporary folder that is
 * removed afterwards. Returns 0 with the per-job figures filled (jobs may
 * have failed: see r->failed), or a negative code with *err when the run
 * could not proceed. Blocks the calling thread for the whole run.
 */
int bl_plan_real_run(bl_plan_real_run_t *r, const bl_plan_workload_t *w, bl_error_t *err);

#endif
