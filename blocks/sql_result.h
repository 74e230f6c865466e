/*
 * The result of one SQL job, built row by row:
 *
 *   {"columns": [{"name": "id", "type": "int4"}, ...],
 *    "rows": [[1, "a"], ...], "row_count": 1, "truncated": false,
 *    "affected": 0}
 *
 * Rows are arrays in column order. The builder stops keeping rows at the
 * job's row cap or once the kept values reach the byte cap; `truncated`
 * then says that more rows existed. Not thread-safe: one job owns it.
 */
#ifndef BL_BLOCKS_SQL_RESULT_H
#define BL_BLOCKS_SQL_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct sql_result {
	json_t *columns;    /* owned; NULL until the first column is added */
	json_t *rows;       /* owned */
	uint64_t max_rows;
	uint64_t max_bytes;
	uint64_t bytes;     /* of the kept values, as their text */
	bool truncated;
	int64_t affected;   /* rows an INSERT, UPDATE or DELETE changed */
} sql_result_t;

/* Start an empty result. Returns 0 or -1 when memory runs out. */
int sql_result_init(sql_result_t *r, uint64_t max_rows, uint64_t max_bytes);

/* Free what the result still owns. */
void sql_result_fini(sql_result_t *r);

/* Whether the columns are set yet. */
static inline bool sql_result_has_columns(const sql_result_t *r)
{
	return r->columns != NULL;
}

/* Add a column (name and type are copied). Returns 0 or -1. */
int sql_result_add_column(sql_result_t *r, const char *name, const char *type);

/*
 * Whether the next row of `bytes` may be kept. Once it may not, the result
 * is marked truncated; the caller skips the row.
 */
bool sql_result_room(sql_result_t *r, uint64_t bytes);

/* Append a row (an array; takes it). Returns 0 or -1. */
int sql_result_add_row(sql_result_t *r, json_t *row, uint64_t bytes);

/* Build the result object; the builder is emptied. Returns an owned object
 * or NULL when memory runs out. */
json_t *sql_result_take(sql_result_t *r);

/* Encode `len` bytes as a base64 JSON string (RFC 4648, with padding).
 * Returns an owned string or NULL. */
json_t *sql_json_base64(const unsigned char *data, size_t len);

/* A JSON real, or for NaN and infinities (which JSON cannot hold) the
 * strings "NaN", "Infinity" and "-Infinity". Returns owned or NULL. */
json_t *sql_json_double(double value);

#endif
