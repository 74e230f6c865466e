/*
 * beamline-engine submit: the state shared by its files. submit.c reads
 * and publishes the jobs; submit_wait.c waits for their results and dead
 * letters and writes one result line per job.
 */
#ifndef BL_ENGINE_CLI_SUBMIT_H
#define BL_ENGINE_CLI_SUBMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <beamline/error.h>
#include <beamline/job.h>
#include <beamline/js.h>

#include "strmap.h"

#define SUBMIT_JOBS_STREAM "BEAMLINE_JOBS"
#define SUBMIT_RESULTS_STREAM "BEAMLINE_RESULTS"
#define SUBMIT_DLQ_STREAM "BEAMLINE_DLQ"

typedef struct submit_options {
	const char *jobs_path;   /* "-": standard input */
	const char *url;
	const char *output_path; /* NULL: standard output */
	const char *creds_path;  /* NULL: none */
	uint64_t timeout_s;      /* wait for results after the last publish */
	bool progress;
} submit_options_t;

/* One job awaited, under its key "<tenant>/<id>". */
typedef struct submit_job {
	char *tenant; /* owned */
	char *id;     /* owned */
	unsigned copies; /* lines of the file with this key, published or duplicate */
	bool done;
} submit_job_t;

/* The consumers that read one tenant's results and dead letters. */
typedef struct submit_tenant {
	char *name; /* owned */
	char results_consumer[64];
	char dlq_consumer[64];
	bl_js_puller_t *results;
	bl_js_puller_t *dlq;
} submit_tenant_t;

typedef struct submit {
	const submit_options_t *opts;
	bl_nats_t *nats;
	FILE *out;
	char run_tag[17];       /* random hex that names this run's consumers */
	bl_strmap_t awaited;    /* "<tenant>/<id>" -> submit_job_t * */
	submit_tenant_t *tenants;
	size_t tenant_count;
	size_t tenant_capacity;

	uint64_t lines;         /* job lines read (blank lines excluded) */
	uint64_t published;     /* stored as new jobs */
	uint64_t duplicates;    /* the stream had the job already */
	uint64_t waiting;       /* lines published and still without a result */
	uint64_t written;       /* result lines written */
	uint64_t by_status[BL_JOB_CANCELLED + 1];
	int write_error;        /* first output error, as -errno */
} submit_t;

/* Start reading `tenant`'s results and dead letters (once per tenant).
 * Returns 0, or a negative code with *err naming the stream. */
int bl__submit_watch_tenant(submit_t *s, const char *tenant, bl_error_t *err);

/* Write `result` (borrowed) as one output line and count its status. */
void bl__submit_write(submit_t *s, json_t *result);

/* Write an error result for a job that never reached the engine. */
void bl__submit_write_error(submit_t *s, const char *id, const char *tenant, const char *traceparent,
			    const char *code, const bl_error_t *err, bool retryable);

/* Wait for every awaited job until opts->timeout_s passes, then write a
 * timeout result for each job still without one. */
void bl__submit_wait(submit_t *s);

/* Delete this run's consumers and free the tenants and the awaited jobs. */
void bl__submit_cleanup(submit_t *s);

#endif
