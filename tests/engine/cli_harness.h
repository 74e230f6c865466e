/*
 * Runs the beamline-engine executable as a child process and collects its
 * exit status, standard output and standard error, for tests of the
 * command line itself.
 */
#ifndef BL_TEST_CLI_HARNESS_H
#define BL_TEST_CLI_HARNESS_H

typedef struct cli_result {
	int status;    /* exit status, or 128 + signal when killed */
	char *out;     /* standard output, NUL-terminated, owned */
	char *err;     /* standard error, NUL-terminated, owned */
} cli_result_t;

/*
 * Run beamline-engine with the NULL-terminated `args` (without the program
 * name). `env` is NULL or one "NAME=value" to add to the child's
 * environment. The child's standard error is copied to the test's, so
 * sanitizer reports from it reach the test log. Fails the test when the
 * child cannot be started.
 */
void cli_run(cli_result_t *r, const char *const *args, const char *env);

/* Free what cli_run collected. */
void cli_result_free(cli_result_t *r);

#endif
