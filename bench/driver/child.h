/*
 * Running a suite's program or script as a child process and capturing
 * what it prints.
 */
#ifndef BL_BENCH_CHILD_H
#define BL_BENCH_CHILD_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of standard error kept for the document when a child fails. */
#define CHILD_STDERR_TAIL 2048
/* Bytes of standard output kept, NUL included. A suite prints figures,
 * not data, so more than this is a broken child. */
#define CHILD_OUTPUT_MAX (16u << 20)

typedef struct child_result {
	char *output; /* standard output, NUL-terminated; owned */
	size_t output_len;
	bool output_truncated; /* true when output is only the first CHILD_OUTPUT_MAX - 1 bytes */
	char stderr_tail[CHILD_STDERR_TAIL]; /* the last bytes of standard error */
	int exit_status;                     /* exit status, or 128 + signal */
	bool timed_out;
	double elapsed_s;
} child_result_t;

/*
 * Run argv[0] (searched in PATH) with `argv` (NULL-terminated) and `env`
 * (NULL or NULL-terminated "NAME=value" strings added to ours), in its own
 * process group. Its standard output is kept from the start, up to
 * CHILD_OUTPUT_MAX - 1 bytes; the rest is read and dropped, and
 * output_truncated says so. Its standard error is copied to ours as it arrives and
 * its last bytes are kept. After `timeout_s` seconds the group gets
 * SIGTERM, so that scripts stop their servers, and SIGKILL 10 s later.
 * Returns 0 with *out filled (free with child_result_free) whatever the
 * child's exit status, or -errno when it could not be started.
 */
int child_run(child_result_t *out, char *const argv[], char *const env[], unsigned timeout_s);

void child_result_free(child_result_t *r);

/*
 * Catch SIGINT and SIGTERM from now on. Each sends SIGTERM to the process
 * group of the child that is running, so that an interrupted run still
 * stops the servers its scripts started, and marks the run interrupted.
 */
void child_forward_signals(void);

/* Whether SIGINT or SIGTERM arrived since child_forward_signals(). */
bool child_interrupted(void);

#endif
