/*
 * Jobs and results: the engine's wire format, schema version 1.
 *
 * A job is one JSON object:
 *
 *   { "id": "client-chosen, unique per tenant", "tenant": "acme",
 *     "priority": "critical" | "high" | "normal" | "low",   (default normal)
 *     "block": "kernel", "params": { ... },
 *     "timeout_ms": 30000,                                    (optional)
 *     "deadline": "2026-12-04T21:00:00Z",                     (optional, RFC 3339)
 *     "retry": { "max_attempts": 3, "backoff_ms": 100, "max_backoff_ms": 10000 },
 *     "traceparent": "00-<32 hex>-<16 hex>-<2 hex>" }                (optional, W3C)
 *
 * A result is one JSON object:
 *
 *   { "id": ..., "tenant": ..., "status": "ok" | "error" | "timeout" |
 *     "rejected" | "cancelled", "result": { ... },
 *     "error": { "code": "...", "message": "...", "field": "...", "retryable": false },
 *     "attempts": 1, "pool": "cpu", "device": "...", "traceparent": "00-...",
 *     "timing_us": { "queued": ..., "run": ... } }
 *
 * Parsing never trusts its input: the text is checked against the limits
 * (size, nesting depth, string length, array length, object keys) before a
 * tree is built, then every field is validated. Errors name the field by
 * its JSON path ("params.inputs[2].name", or "" for the job as a whole)
 * and state what was expected.
 */
#ifndef BEAMLINE_JOB_H
#define BEAMLINE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>
#include <beamline/json_dump.h>
#include <beamline/trace.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bl_priority {
	BL_PRIORITY_CRITICAL = 0,
	BL_PRIORITY_HIGH,
	BL_PRIORITY_NORMAL,
	BL_PRIORITY_LOW,
} bl_priority_t;

#define BL_PRIORITY_COUNT 4

/* Return "critical", "high", "normal" or "low", or "unknown" for a value
 * outside the enum. */
const char *bl_priority_name(bl_priority_t p);

/* Limits on one job; all are configurable. */
typedef struct bl_job_limits {
	size_t max_bytes;        /* the whole job text */
	unsigned max_depth;      /* nesting of objects and arrays; jansson 2.14
				  * stops at 2,048 levels even when this is larger */
	size_t max_string_bytes; /* any string or key, after unescaping */
	size_t max_array_items;  /* any array */
	size_t max_object_keys;  /* any object */
	size_t max_name_bytes;   /* id, tenant and block */
	uint64_t max_timeout_ms; /* also bounds retry.backoff_ms and max_backoff_ms */
} bl_job_limits_t;

/* Fill *lim with the defaults: 1 MiB, depth 32, strings of 64 KiB, arrays
 * of 65,536 items, objects of 1,024 keys, names of 128 bytes, timeouts up
 * to 24 hours. */
void bl_job_limits_init(bl_job_limits_t *lim);

/* Check an id or tenant name of `len` bytes as bl_job_parse does; on
 * failure *err names `field`. Returns 0, BL_EFORMAT or BL_ELIMIT. */
int bl_job_check_name(const char *s, size_t len, size_t max_bytes, const char *field, bl_error_t *err);

typedef struct bl_job_retry {
	unsigned max_attempts;   /* 1 to 100; 1 = no retry; default 1 */
	uint64_t backoff_ms;     /* first wait between attempts; default 100 */
	uint64_t max_backoff_ms; /* cap on the wait, >= backoff_ms; default
				  * 10,000, or backoff_ms when that is larger */
	bool max_attempts_given; /* the job set max_attempts (the service mode
				  * then uses its default otherwise) */
} bl_job_retry_t;

typedef struct bl_job {
	char *id;
	char *tenant;
	bl_priority_t priority;
	char *block;
	json_t *params;         /* one reference owned by the job; an object */
	uint64_t timeout_ms;    /* 0 when the job gave none */
	bool has_deadline;
	int64_t deadline_ms;    /* Unix time in ms, when has_deadline */
	bl_job_retry_t retry;
	/* The W3C trace context: the job's "traceparent", or one the engine
	 * set (from a NATS header, or a new trace); "" when neither yet. */
	char traceparent[BL_TRACEPARENT_LEN + 1];
} bl_job_t;

/*
 * Parse and validate one job from `len` bytes of `text` (not necessarily
 * NUL-terminated). Borrows `text` and `lim`; safe from any thread.
 *
 * The fields:
 * - "id", "tenant" (required): 1 to max_name_bytes of [A-Za-z0-9._-],
 *   except "." and "..", which would name directories in a path. Escapes
 *   count as the bytes they decode to, and "\u0000" is rejected.
 * - "priority": one of the four names, exactly; default "normal".
 * - "block" (required): 1 to max_name_bytes of [a-z_].
 * - "params": an object; an empty object when absent.
 * - "timeout_ms": an integer from 1 to max_timeout_ms.
 * - "deadline": an RFC 3339 date-time (section 5.6) with a time zone, Z or
 *   +hh:mm/-hh:mm. 'T' and 'Z' may be lower case, as the RFC allows; a
 *   space for 'T' is rejected. A fraction is cut to milliseconds. Second
 *   60 is accepted only at 23:59 UTC and becomes the next midnight, since
 *   Unix time has no leap seconds.
 * - "retry": an object with only the members of bl_job_retry_t, each
 *   optional; the backoffs are integers from 0 to max_timeout_ms.
 * - "traceparent": a W3C traceparent, version 00 (beamline/trace.h); an
 *   invalid one is an error naming the field, not silently replaced.
 * An optional field is either absent or of its type: null is rejected.
 * Unknown fields are rejected at the top level and in "retry", so a typo
 * such as "timeout" for "timeout_ms" is reported rather than ignored.
 *
 * Returns 0 and an owned job in *out (free with bl_job_free); *out is
 * written only on success. Otherwise *err names the field and returns:
 * - BL_ELIMIT: a limit in *lim, or jansson's depth limit, was exceeded.
 *   For a limit on the text, the message gives the limit and the byte
 *   offset of the first violation (the item, key, string or bracket that
 *   crosses it). The check runs before the JSON is parsed, so malformed
 *   text may be reported as a limit violation that lies past its first
 *   syntax error.
 * - BL_EFORMAT: the text is not JSON, a key is duplicated, the top level
 *   is not an object, or a field breaks the rules above. For text that is
 *   not JSON, the message gives jansson's line, column and byte offset,
 *   and the field is the member being read there.
 * - BL_ENOMEM: memory ran out.
 * - BL_EINVAL: `out` or `lim` is NULL, or `text` is NULL with `len` > 0.
 *
 * Whatever the outcome, the "id" and "tenant" are copied into `id_out`
 * and `tenant_out` (each `name_size` bytes, may be NULL), so that an error
 * result can carry them. Each is copied on its own, and only when it is a
 * valid name that fits in `name_size` bytes with its NUL. Otherwise its
 * buffer gets the empty string. When the text parsed as JSON, the names
 * come from the top-level object. When it did not, they come from the
 * raw text, and only as plain top-level strings (no escapes) that appear
 * once and before the point of failure.
 */
int bl_job_parse(bl_job_t **out, const char *text, size_t len, const bl_job_limits_t *lim, char *id_out,
		 char *tenant_out, size_t name_size, bl_error_t *err);

/* Free a job. Takes *job and sets it to NULL; NULL is fine. */
void bl_job_free(bl_job_t **job);

typedef enum bl_job_status {
	BL_JOB_OK = 0,
	BL_JOB_ERROR,
	BL_JOB_TIMEOUT,
	BL_JOB_REJECTED,
	BL_JOB_CANCELLED,
} bl_job_status_t;

/* Return "ok", "error", "timeout", "rejected" or "cancelled", or
 * "unknown" for a value outside the enum. */
const char *bl_job_status_name(bl_job_status_t s);

typedef struct bl_job_result {
	const char *id;           /* borrowed */
	const char *tenant;       /* borrowed */
	bl_job_status_t status;
	json_t *result;           /* borrowed; NULL for none */
	const bl_json_text_t *attached; /* text written in place of one value of result
	                                 * (bl_json_dumps_with); NULL for none */
	const char *error_code;   /* stable snake_case code, e.g. "invalid_job"; NULL when ok */
	const char *error_field;  /* JSON path or NULL */
	const char *error_message;
	bool retryable;
	unsigned attempts;
	const char *pool;         /* "cpu", "gpu", "io", or NULL */
	const char *device;       /* NULL for none */
	const char *traceparent;  /* the job's trace context; NULL or "" for none */
	uint64_t queued_us;
	uint64_t run_us;
} bl_job_result_t;

/*
 * Encode a result as one line of compact JSON without the newline, keys in
 * the order of the format above. Borrows *r; safe from any thread.
 *
 * Absent parts are left out: a NULL or empty string, a NULL result, zero
 * attempts, and the whole "error" object when error_code is NULL or empty.
 * "status" and "timing_us" are always present; a timing above INT64_MAX
 * is clamped to it. Bytes that are not UTF-8 in any string (such as a
 * message cut inside a character) become U+FFFD.
 *
 * Returns an owned string (free with free()), or NULL when `r` is NULL or
 * memory runs out.
 */
char *bl_job_result_encode(const bl_job_result_t *r);

/*
 * Return a JSON string of the text `s`. Text from a rejected job can carry
 * bytes that are not UTF-8 (a message that quotes the input, or a cut in
 * the middle of a character), and jansson refuses such strings, so each
 * invalid byte becomes U+FFFD. Returns NULL when memory runs out.
 */
json_t *bl_json_string_lossy(const char *s);

/* As bl_job_result_encode, and give the length of the line through *len,
 * which spares a caller a strlen of a line that can hold megabytes. */
char *bl_job_result_encode_len(const bl_job_result_t *r, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
