/*
 * Runs the engine on jobs written by a test, with a data folder of the
 * test's own, and reads the results back.
 */
#ifndef BL_TEST_RUN_HARNESS_H
#define BL_TEST_RUN_HARNESS_H

#include <jansson.h>

#include "run.h"

typedef struct harness {
	char dir[256];      /* temporary folder: jobs, output, data/ */
	char data[300];     /* the data folder; tenant "t" has data/t */
	char jobs_path[320];
	char placement[340]; /* the placement model's file */
	bl_run_config_t cfg;
	bl_run_summary_t summary;
	json_t **results;   /* in output order */
	size_t count;
} harness_t;

/* Create the temporary folders and a config pointing at them. */
void harness_init(harness_t *h);

/* Remove the folders and free the results. A test that fails before
 * calling it leaves its folder in place, for inspection. */
void harness_fini(harness_t *h);

/* Write `jobs` (JSON lines) as the jobs file; returns its path. */
const char *harness_write_jobs(harness_t *h, const char *jobs);

/* Write `jobs` (JSON lines) as the jobs file, run, and read the output.
 * Returns bl_run_jobs' code. */
int harness_run(harness_t *h, const char *jobs);

/* The result of job `id`, or NULL. */
json_t *harness_result(const harness_t *h, const char *id);

/* Position of job `id` in the output, or -1. */
int harness_position(const harness_t *h, const char *id);

/* Write a float64 tensor of `rows` x `cols` uniform numbers in [0, 1) from
 * `seed` as data/t/<name>. */
void harness_random_npy(harness_t *h, const char *name, size_t rows, size_t cols, uint64_t seed);

/* Write `t` as data/t/<name>. */
void harness_write_npy(harness_t *h, const char *name, const bl_tensor_t *t);

/* Write a quota file and point the config at it. */
void harness_quotas(harness_t *h, const char *json);

#endif
