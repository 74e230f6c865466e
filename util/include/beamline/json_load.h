/* A faster JSON loader that builds jansson's tree (json_t). */
#ifndef BEAMLINE_JSON_LOAD_H
#define BEAMLINE_JSON_LOAD_H

#include <stddef.h>

#include <jansson.h>

/*
 * Parse the `len` bytes of `buf` as one JSON document, as jansson 2.14's
 * json_loadb does with the same flags: it accepts the same documents and
 * returns an equal tree (json_equal), with object keys in document order.
 * Returns the tree, owned by the caller (free with json_decref), or NULL
 * with `error` filled. `buf` is borrowed and need not end with a NUL byte.
 *
 * NOTE: one difference is deliberate. jansson skips a NUL byte that
 * directly follows a number or a literal, so json_loadb loads "[1\0]" as
 * [1]. bl_json_loadb rejects every NUL byte outside a \u0000 escape.
 *
 * `flags` may combine JSON_REJECT_DUPLICATES, JSON_DECODE_ANY and
 * JSON_ALLOW_NUL. Any other bit is rejected with json_error_invalid_argument,
 * where json_loadb would ignore it or change the grammar.
 *
 * `error` may be NULL. When set, it is filled as json_loadb fills it, with
 * source "<buffer>". On success, line and column are -1 and position is
 * `len`. On failure, `text` contains a message, json_error_code() returns
 * the jansson error code, and the place of the fault is:
 *   line      1-based line;
 *   column    1-based column, counted in UTF-8 characters as jansson
 *             counts it, not in bytes;
 *   position  the byte offset just past the offending byte, so the fault
 *             is at buf[position - 1]. It is `len` when the input ends too
 *             early, and just past the key or number for a duplicate key
 *             or a number out of range. A number or a literal cut short by
 *             a byte that ends a value (",", "]", "}", ":", white space)
 *             has its fault on its own last byte, so that the position
 *             falls inside its member. It is clamped to INT_MAX.
 * jansson's position also falls at or just past the fault, but not always
 * on the same byte: it often points past the whole token.
 */
json_t *bl_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);

/*
 * Return the first byte in [p, end) that ends a run of plain bytes inside
 * a JSON string: '"', '\\' or a control byte (below 0x20). Returns end
 * when there is none. It reads 16 bytes a step with SSE2 where the
 * compiler targets it.
 */
const char *bl_json_find_special(const char *p, const char *end);

/* Return a phrase naming the JSON type of `v` for error messages: "an
 * object", "a string", "true" and so on. */
const char *bl_json_type_phrase(const json_t *v);

#endif
