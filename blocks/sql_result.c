/* The result of one SQL job, and the value encodings both drivers share. */
#include "sql_result.h"

#include <math.h>
#include <stdlib.h>

#include <beamline/base64.h>

int sql_result_init(sql_result_t *r, uint64_t max_rows, uint64_t max_bytes)
{
	*r = (sql_result_t){.max_rows = max_rows, .max_bytes = max_bytes};
	r->rows = json_array();
	return r->rows ? 0 : -1;
}

void sql_result_fini(sql_result_t *r)
{
	json_decref(r->columns);
	json_decref(r->rows);
	r->columns = NULL;
	r->rows = NULL;
}

int sql_result_add_column(sql_result_t *r, const char *name, const char *type)
{
	if (!r->columns && !(r->columns = json_array()))
		return -1;
	return json_array_append_new(r->columns, json_pack("{s:s, s:s}", "name", name, "type", type));
}

bool sql_result_room(sql_result_t *r, uint64_t bytes)
{
	if (r->truncated)
		return false;
	if (json_array_size(r->rows) >= r->max_rows || r->bytes + bytes > r->max_bytes)
		r->truncated = true;
	return !r->truncated;
}

int sql_result_add_row(sql_result_t *r, json_t *row, uint64_t bytes)
{
	r->bytes += bytes;
	return json_array_append_new(r->rows, row);
}

json_t *sql_result_take(sql_result_t *r)
{
	if (!r->columns && !(r->columns = json_array()))
		return NULL;

	json_t *out = json_pack("{s:o, s:o, s:I, s:b, s:I}", "columns", r->columns, "rows", r->rows, "row_count",
				(json_int_t)json_array_size(r->rows), "truncated", r->truncated, "affected",
				(json_int_t)r->affected);
	/* json_pack's "o" takes both arrays, even when it fails. */
	r->columns = NULL;
	r->rows = NULL;
	return out;
}

json_t *sql_json_base64(const unsigned char *data, size_t len)
{
	size_t o;
	char *out = bl_base64_encode_new(data, len, &o);
	if (!out)
		return NULL;

	json_t *s = json_stringn_nocheck(out, o);
	free(out);
	return s;
}

json_t *sql_json_double(double value)
{
	if (isnan(value))
		return json_string("NaN");
	if (isinf(value))
		return json_string(value > 0 ? "Infinity" : "-Infinity");
	return json_real(value);
}
