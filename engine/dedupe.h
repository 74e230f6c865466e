/*
 * Job ids seen in a run. For each id it keeps the first job's fingerprint,
 * its result, and the duplicates waiting for that result.
 *
 * A repeated id with the same job (same block, parameters, priority and
 * timeout) gets the first job's result; with a different job it is a
 * conflict. Result lines are kept up to a byte budget, so a long run with
 * large results holds bounded memory; past the budget a duplicate gets a
 * short result that points back to the first one. Not thread-safe: the
 * dispatcher owns it.
 */
#ifndef BL_ENGINE_DEDUPE_H
#define BL_ENGINE_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/job.h>

#include "strmap.h"

typedef struct bl_dedupe_entry {
	uint64_t fingerprint;
	bool finished;
	bl_job_status_t status; /* of the first job, once finished */
	char *line;             /* its result, when kept */
	unsigned waiting;       /* duplicates that get its result later */
	size_t waiting_cost;    /* their job text, for the read-ahead window */
} bl_dedupe_entry_t;

typedef struct bl_dedupe {
	bl_strmap_t entries; /* "tenant/id" -> entry */
	size_t kept_bytes;
	size_t budget;
} bl_dedupe_t;

/* Start with a budget of `budget` bytes of kept result lines. */
void bl_dedupe_init(bl_dedupe_t *d, size_t budget);
void bl_dedupe_clear(bl_dedupe_t *d);

/* Compute a job's fingerprint: a hash of its block, priority, timeout and
 * parameters that ignores the order of object members. */
uint64_t bl_dedupe_fingerprint(const bl_job_t *job);

/* Return the entry of `job`'s id, or NULL when the id is new; a new id is
 * recorded (when memory allows) with the job's fingerprint. */
bl_dedupe_entry_t *bl_dedupe_lookup(bl_dedupe_t *d, const bl_job_t *job, uint64_t fingerprint);

/* Return the entry of `job`'s id without recording anything, or NULL. */
bl_dedupe_entry_t *bl_dedupe_get(bl_dedupe_t *d, const bl_job_t *job);

/* Record the first job's result and take `line` (NULL when it could not
 * be encoded): it is kept if the budget allows, else freed. */
void bl_dedupe_finish(bl_dedupe_t *d, const bl_job_t *job, char *line, bl_job_status_t status);

#endif
