/*
 * The pass over raw job text that runs before jansson builds a tree: it
 * enforces the size, depth, string, array and object limits in one scan,
 * and finds the paths that error messages name.
 *
 * The scan is a tolerant JSON tokenizer. It tracks strings (escapes
 * included) and brackets exactly, but does not check the grammar: a
 * syntax error is left to jansson, which reports it with a line and
 * column. For valid JSON every count is exact, so any tree that jansson
 * builds afterwards is within the limits. For invalid JSON the scan may
 * report a limit violation that lies after the first syntax error.
 */
#ifndef BEAMLINE_ENGINE_JOB_LIMITS_H
#define BEAMLINE_ENGINE_JOB_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include <beamline/error.h>
#include <beamline/job.h>

/*
 * The raw value of a top-level "id" or "tenant" member, found during the
 * scan so that an error result can carry it even when no tree is built.
 * `usable` is set when the top-level value is an object with that key
 * exactly once, its value is a closed string without escapes, and the
 * member lies before the point where the scan stopped.
 */
typedef struct bl__job_name_span {
	bool usable;
	size_t start; /* offset of the first byte after the opening quote */
	size_t len;   /* bytes up to the closing quote */
} bl__job_name_span_t;

typedef struct bl__job_names {
	bl__job_name_span_t id;
	bl__job_name_span_t tenant;
} bl__job_names_t;

/*
 * Check `len` bytes of `text` against *lim: max_bytes, max_depth,
 * max_string_bytes (counted after unescaping, keys included),
 * max_array_items and max_object_keys. Stops at the first violation, the
 * one with the lowest byte offset. When the text is longer than
 * max_bytes, only the first max_bytes are scanned, so the size violation
 * is reported at offset max_bytes unless another comes before it.
 *
 * Fills *names (may be NULL) from the bytes scanned, whatever the outcome.
 * Returns 0, BL_ELIMIT with *err naming the JSON path of the offending
 * value and giving the limit and the byte offset, or BL_ENOMEM.
 */
int bl__job_limits_check(const char *text, size_t len, const bl_job_limits_t *lim, bl__job_names_t *names,
			 bl_error_t *err);

/*
 * Write into `path` (`size` bytes, NUL-terminated, cut when too long) the
 * JSON path of the member that the scan is in at byte `offset`, such as
 * "params.inputs[2]", or "" at the top level. Used to name the field of a
 * jansson error from its byte position. Keys are copied as they appear in
 * the text, escapes included. Returns 0 or BL_ENOMEM.
 */
int bl__job_limits_path_at(const char *text, size_t len, size_t offset, char *path, size_t size);

#endif
