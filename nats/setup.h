/*
 * Internal to the NATS client layer: comparing an existing JetStream
 * object's configuration with the one setup asked for, field by field.
 */
#ifndef BL_NATS_SETUP_H
#define BL_NATS_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/nats.h>

/* Mismatches found so far: a BL_JS_FIELD_* mask and their description. */
typedef struct bl__js_diff {
	uint32_t mask;
	char text[320];
} bl__js_diff_t;

/* Record a mismatch of an integer field unless `have` equals `want`. */
void bl__js_diff_int(bl__js_diff_t *diff, uint32_t field, int64_t have, int64_t want);

/* Record a mismatch of a string field unless they are equal. */
void bl__js_diff_str(bl__js_diff_t *diff, uint32_t field, const char *have, const char *want);

/* Record a mismatch of a boolean field unless they are equal. */
void bl__js_diff_bool(bl__js_diff_t *diff, uint32_t field, bool have, bool want);

/* The integer member `key` of `obj`, or `fallback` when absent. */
int64_t bl__js_get_int(const json_t *obj, const char *key, int64_t fallback);

/*
 * Check a stream, consumer or bucket name: non-empty, at most 255 bytes,
 * without '.', '*', '>', whitespace or path separators. Returns 0 or
 * BL_EINVAL with err naming `field`.
 */
int bl__js_check_name(const char *name, const char *field, bl_nats_error_t *err);

#endif
