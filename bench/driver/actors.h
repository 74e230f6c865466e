/*
 * The actor suite of beamline-bench.
 */
#ifndef BL_BENCH_ACTORS_H
#define BL_BENCH_ACTORS_H

#include <stdbool.h>

typedef struct actors_options {
	unsigned threads;
	unsigned reps;
	unsigned timeout_s;       /* per run */
	const char *only;         /* comma-separated benchmark names, or NULL for all */
	const char *json_path;    /* NULL: JSON to standard output after the table; "-": JSON alone to
				   * standard output, the table to standard error */
	const char *revision;     /* recorded in the JSON */
	const char *beamline;     /* program paths; NULL when not built */
	const char *caf;
	const char *starpu;
} actors_options_t;

/* Run the suite and print the table and the JSON document. Returns 0, or
 * 1 when a run failed or a count check did not hold. */
int actors_suite(const actors_options_t *opt);

#endif
