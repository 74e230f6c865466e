/*
 * Exit statuses shared by the commands of beamline-engine, and the entry
 * point of each command that lives outside main.c.
 */
#ifndef BL_ENGINE_CLI_H
#define BL_ENGINE_CLI_H

#include <jansson.h>
#include <stdio.h>

enum {
	EXIT_JOBS_FAILED = 1, /* the run completed, some jobs did not succeed */
	EXIT_USAGE = 2,
	EXIT_RUN_FAILED = 3,  /* the command itself could not proceed */
	EXIT_NOT_FOUND = 4,   /* approve: no such approval */
	EXIT_CONFLICT = 5,    /* approve: already decided */
	EXIT_EXPIRED = 6,     /* approve: the request expired */
};

/*
 * Run `beamline-engine devices [--json]`; argv[1] is "devices". Prints the
 * CPU, the OpenBLAS kernels and the OpenCL devices on standard output.
 * Returns the exit status: 0, EXIT_USAGE, or EXIT_RUN_FAILED when the
 * machine could not be described.
 */
int bl__devices_main(int argc, char **argv);

/*
 * Run `beamline-engine approve ID --decision WORD ...`; argv[1] is
 * "approve". Records the decision in the approvals folder. Returns the
 * exit status: 0, EXIT_USAGE, EXIT_RUN_FAILED, EXIT_NOT_FOUND,
 * EXIT_CONFLICT or EXIT_EXPIRED (approve.c).
 */
int bl__approve_main(int argc, char **argv);

/* Run `beamline-engine approvals [--json]`: list the pending approvals on
 * standard output. Returns 0, EXIT_USAGE or EXIT_RUN_FAILED. */
int bl__approvals_main(int argc, char **argv);

/* Run `beamline-engine serve --config FILE`: the service mode until
 * SIGTERM or SIGINT. Returns 0 after a drain, EXIT_USAGE or EXIT_RUN_FAILED
 * (serve.c). */
int bl__serve_main(int argc, char **argv);

/*
 * Run `beamline-engine submit JOBS.jsonl --nats URL ...`; argv[1] is
 * "submit". Publishes the jobs and writes their results (submit.c).
 * Returns 0, EXIT_JOBS_FAILED, EXIT_USAGE or EXIT_RUN_FAILED.
 */
int bl__submit_main(int argc, char **argv);

/*
 * Run `beamline-engine plan WORKLOAD.json ...`; argv[1] is "plan". Prints
 * the calibration, the sweep, the recommendation and the validation on
 * standard output (plan.c). Returns 0, 1 when no size meets the target,
 * EXIT_USAGE or EXIT_RUN_FAILED.
 */
int bl__plan_main(int argc, char **argv);

/* Print the document bl__devices_main builds ({"cpu", "blas", "opencl"})
 * for a person. Borrows `doc`. */
void bl__devices_print(const json_t *doc, FILE *to);

#endif
