/*
 * Where a run writes its results.
 *
 * A regular file (new or existing) is written under a temporary name in
 * the same folder and renamed over the target once the run completes, so
 * the target never contains a partial run; a replaced file keeps its mode, a
 * new one gets 0666 less the umask. A path naming a symbolic link replaces
 * the link's target, not the link. Anything that is not a regular file
 * (a terminal, /dev/null, a FIFO) is written in place. "-" means standard
 * output. Writing over the jobs file itself is refused. While a temporary
 * file exists, SIGINT and SIGTERM remove it before the process dies.
 */
#ifndef BL_ENGINE_OUTPUT_H
#define BL_ENGINE_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include <beamline/error.h>

typedef struct bl_output {
	FILE *file;
	char *target;    /* the path renamed over at the end; NULL when writing in place */
	char *temp_path; /* NULL when writing in place */
} bl_output_t;

/*
 * Open the output at `path` (NULL or "-" for standard output). `input`,
 * when not NULL, is the jobs file's stat, to refuse writing over it.
 * Returns 0, or a negative code with *err naming the path.
 */
int bl_output_open(bl_output_t *out, const char *path, const struct stat *input, bl_error_t *err);

/*
 * Flush and close the output; with `keep`, move the temporary file over
 * the target, otherwise remove it. Returns 0, or the first write error as
 * a negative errno with *err.
 */
int bl_output_close(bl_output_t *out, bool keep, bl_error_t *err);

/* Remove the temporary file of the output being written, if any. For a
 * signal handler that ends the process in place of output.c's own:
 * async-signal-safe. */
void bl_output_remove_pending(void);

#endif
