/*
 * W3C Trace Context: the `traceparent` value that ties a job's results,
 * approvals and outbound requests to the caller's trace.
 *
 *   traceparent = "00-" trace-id "-" parent-id "-" trace-flags
 *
 * with a 32-digit trace id and a 16-digit parent id, neither all zeros, and
 * 2 digits of flags, all lowercase hexadecimal: 55 characters in all
 * (https://www.w3.org/TR/trace-context/, section 3.2). Only version 00 is
 * accepted.
 */
#ifndef BEAMLINE_TRACE_H
#define BEAMLINE_TRACE_H

#include <stddef.h>

#include <beamline/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Characters of a version-00 traceparent, without the NUL. */
#define BL_TRACEPARENT_LEN 55

/* A trace context: the traceparent text, NUL-terminated, and its parts. */
typedef struct bl_trace {
	char traceparent[BL_TRACEPARENT_LEN + 1];
} bl_trace_t;

/*
 * Parse and validate `text` (NUL-terminated, borrowed). Returns 0 with *out
 * written, or BL_EFORMAT with *err naming the field "traceparent" and the
 * first thing wrong: the length, the version (only 00), a separator, a
 * digit that is not lowercase hexadecimal, or an all-zero trace or parent
 * id. *out is untouched on failure. Any thread.
 */
int bl_trace_parse(bl_trace_t *out, const char *text, bl_error_t *err);

/*
 * Start a new trace: random trace and parent ids from getrandom(2), never
 * all zeros, and flags 00 (the engine records no spans). Returns 0, or a
 * negative errno when the kernel has no randomness to give. Any thread.
 */
int bl_trace_new(bl_trace_t *out);

/*
 * Keep `incoming` (may be NULL) when it is a valid traceparent, otherwise
 * start a new trace. Returns 1 when it was kept, 0 when a new one was
 * started, or bl_trace_new's negative errno. Any thread.
 */
int bl_trace_continue(bl_trace_t *out, const char *incoming);

/*
 * A child context for a call the job makes (an HTTP request): the same
 * trace id and flags, a new random parent id. Returns 0 or a negative
 * errno. Any thread.
 */
int bl_trace_child(bl_trace_t *out, const bl_trace_t *parent);

/* The 32-digit trace id of `trace` into `out` (33 bytes with the NUL), for logs. */
void bl_trace_id(char out[33], const bl_trace_t *trace);

#ifdef __cplusplus
}
#endif

#endif
