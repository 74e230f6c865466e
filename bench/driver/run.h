/*
 * Running one benchmark program and reading its one-line JSON result.
 */
#ifndef BL_BENCH_RUN_H
#define BL_BENCH_RUN_H

#include <stdbool.h>

#include <jansson.h>

/*
 * Run argv[0] with `argv` (NULL-terminated), wait at most `timeout_s`
 * seconds, and parse the first line of its standard output as a JSON
 * object. Returns the object (owned: json_decref) or NULL, with the reason
 * in `error` (at most `error_size` bytes): it could not start, timed out
 * (it is then killed, and *timed_out is set), exited non-zero, or printed
 * no JSON object. Its standard error passes through to ours.
 */
json_t *bench_run(char *const argv[], unsigned timeout_s, bool *timed_out, char *error, size_t error_size);

#endif
