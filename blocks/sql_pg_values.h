/*
 * PostgreSQL values to JSON and JSON parameters to PostgreSQL text.
 *
 * Results arrive in text format, on sessions set to DateStyle ISO and
 * TimeZone UTC (sql_config.c), and are converted by column type: integers
 * to JSON integers (int8 too: the JSON text is exact, though JavaScript
 * readers lose digits beyond 2^53), float4/float8 to JSON numbers (NaN and
 * infinities as strings), bool to true/false, numeric to a string (exact),
 * json/jsonb parsed, bytea to base64, timestamps to RFC 3339 strings, and
 * every other type to its text form.
 */
#ifndef BL_BLOCKS_SQL_PG_VALUES_H
#define BL_BLOCKS_SQL_PG_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include <beamline/error.h>

/* The name of a built-in type ("int4", "text", ...), or NULL for a type
 * this table does not know (user types, enums, arrays). */
const char *sql_pg_type_name(Oid type);

/* Convert field (`row`, `col`) of `res`. Returns an owned value (json null
 * for SQL NULL), or NULL when memory runs out. */
json_t *sql_pg_value(const PGresult *res, int row, int col);

/* Statement parameters as PQsendQueryParams takes them: text values, NULL
 * for SQL NULL, all of unspecified type so the server infers each from its
 * use, as for a quoted literal. */
typedef struct sql_pg_params {
	int count;
	char **values; /* owned, `count` entries; NULL entries are SQL NULL */
} sql_pg_params_t;

/*
 * Convert the JSON array `params` (NULL: none): null to NULL, true/false
 * to "true"/"false", integers in decimal, reals as the shortest text
 * (15 to 17 significant digits) that reads back as the same double,
 * strings as they are, arrays and objects as compact JSON text.
 * Returns 0, or BL_EFORMAT with *err naming "params.params[i]" (a string
 * with a NUL character, which PostgreSQL text cannot hold), or BL_ENOMEM.
 */
int sql_pg_params_make(sql_pg_params_t *out, json_t *params, bl_error_t *err);

/* Free the converted parameters. */
void sql_pg_params_free(sql_pg_params_t *p);

#endif
