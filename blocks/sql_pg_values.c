/* PostgreSQL text values to JSON, and JSON parameters to text. */
#include "sql_pg_values.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/json_load.h>

#include "sql_result.h"

/* Built-in type OIDs, from PostgreSQL's catalog (pg_type.dat); they are
 * fixed across server versions. */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
	OID_CHAR = 18,
	OID_NAME = 19,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_OID = 26,
	OID_JSON = 114,
	OID_XML = 142,
	OID_CIDR = 650,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_MONEY = 790,
	OID_MACADDR = 829,
	OID_INET = 869,
	OID_BPCHAR = 1042,
	OID_VARCHAR = 1043,
	OID_DATE = 1082,
	OID_TIME = 1083,
	OID_TIMESTAMP = 1114,
	OID_TIMESTAMPTZ = 1184,
	OID_INTERVAL = 1186,
	OID_TIMETZ = 1266,
	OID_BIT = 1560,
	OID_VARBIT = 1562,
	OID_NUMERIC = 1700,
	OID_VOID = 2278,
	OID_UUID = 2950,
	OID_JSONB = 3802,
};

typedef struct type_name {
	Oid oid;
	const char *name;
} type_name_t;

static const type_name_t type_names[] = {
	{OID_BOOL, "bool"},           {OID_BYTEA, "bytea"},     {OID_CHAR, "char"},
	{OID_NAME, "name"},           {OID_INT8, "int8"},       {OID_INT2, "int2"},
	{OID_INT4, "int4"},           {OID_TEXT, "text"},       {OID_OID, "oid"},
	{OID_JSON, "json"},           {OID_XML, "xml"},         {OID_CIDR, "cidr"},
	{OID_FLOAT4, "float4"},       {OID_FLOAT8, "float8"},   {OID_MONEY, "money"},
	{OID_MACADDR, "macaddr"},     {OID_INET, "inet"},       {OID_BPCHAR, "bpchar"},
	{OID_VARCHAR, "varchar"},     {OID_DATE, "date"},       {OID_TIME, "time"},
	{OID_TIMESTAMP, "timestamp"}, {OID_TIMESTAMPTZ, "timestamptz"}, {OID_INTERVAL, "interval"},
	{OID_TIMETZ, "timetz"},       {OID_BIT, "bit"},         {OID_VARBIT, "varbit"},
	{OID_NUMERIC, "numeric"},     {OID_VOID, "void"},       {OID_UUID, "uuid"},
	{OID_JSONB, "jsonb"},
};

const char *sql_pg_type_name(Oid type)
{
	for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++) {
		if (type_names[i].oid == type)
			return type_names[i].name;
	}
	return NULL;
}

static json_t *integer_value(const char *text)
{
	char *end;
	long long v = strtoll(text, &end, 10);
	return *end ? json_string(text) : json_integer(v);
}

static json_t *float_value(const char *text)
{
	char *end;
	double v = strtod(text, &end);
	return *end ? json_string(text) : sql_json_double(v);
}

/* bytea arrives as "\x" and two hex digits per byte (bytea_output hex, the
 * default since PostgreSQL 9.0). */
static json_t *bytea_value(const char *text, size_t len)
{
	if (len < 2 || text[0] != '\\' || text[1] != 'x' || len % 2 != 0)
		return json_stringn(text, len);

	size_t n = (len - 2) / 2;
	unsigned char *bytes = malloc(n ? n : 1);
	if (!bytes)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned hi, lo;
		if (sscanf(text + 2 + 2 * i, "%1x%1x", &hi, &lo) != 2) {
			free(bytes);
			return json_stringn(text, len);
		}
		bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	json_t *v = sql_json_base64(bytes, n);
	free(bytes);
	return v;
}

/*
 * ISO DateStyle writes "2024-01-02 03:04:05.5+00"; RFC 3339 wants a "T"
 * between date and time and the offset as "Z" or "+hh:mm". Values the
 * format cannot hold ("infinity", years BC) stay as PostgreSQL wrote them.
 */
static json_t *timestamp_value(const char *text, size_t len, bool with_zone)
{
	char buf[64];
	if (len < 19 || len + 4 >= sizeof buf || text[10] != ' ' || strstr(text, " BC"))
		return json_stringn(text, len);

	memcpy(buf, text, len + 1);
	buf[10] = 'T';
	if (!with_zone)
		return json_string(buf);

	const char *sign = strpbrk(buf + 19, "+-");
	if (sign && strcmp(sign, "+00") == 0) {
		strcpy(buf + (sign - buf), "Z");
	} else if (sign && strlen(sign) == 3) {
		strcat(buf, ":00");
	}
	return json_string(buf);
}

static json_t *json_column_value(const char *text, size_t len)
{
	json_t *v = bl_json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return v ? v : json_stringn(text, len);
}

json_t *sql_pg_value(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();

	const char *text = PQgetvalue(res, row, col);
	size_t len = (size_t)PQgetlength(res, row, col);
	switch (PQftype(res, col)) {
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		return integer_value(text);
	case OID_FLOAT4:
	case OID_FLOAT8:
		return float_value(text);
	case OID_BOOL:
		return json_boolean(text[0] == 't');
	case OID_BYTEA:
		return bytea_value(text, len);
	case OID_JSON:
	case OID_JSONB:
		return json_column_value(text, len);
	case OID_TIMESTAMP:
		return timestamp_value(text, len, false);
	case OID_TIMESTAMPTZ:
		return timestamp_value(text, len, true);
	default:
		/* numeric stays text to keep every digit; so do dates, times,
		 * intervals, uuids and every type without a JSON form. */
		return json_stringn(text, len);
	}
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

/* The shortest of 15 to 17 significant digits that reads back as the same
 * double, so 0.1 goes as "0.1" (which a numeric column stores as typed)
 * rather than "0.10000000000000001". */
static void shortest_double(char *buf, size_t size, double value)
{
	for (int digits = 15; digits <= 17; digits++) {
		snprintf(buf, size, "%.*g", digits, value);
		if (strtod(buf, NULL) == value)
			return;
	}
}

static char *param_text(json_t *v, size_t index, bl_error_t *err, int *rc)
{
	char buf[64];

	*rc = 0;
	if (json_is_null(v))
		return NULL;
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	if (json_is_integer(v)) {
		snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_real(v)) {
		shortest_double(buf, sizeof buf, json_real_value(v));
		return strdup(buf);
	}
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			char field[64];
			snprintf(field, sizeof field, "params.params[%zu]", index);
			*rc = bl_error_set(err, BL_EFORMAT, field, "the string contains a NUL character, which "
					   "PostgreSQL text cannot hold; send binary data as bytea in hex or base64 "
					   "text and decode it in SQL");
			return NULL;
		}
		return strdup(json_string_value(v));
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

int sql_pg_params_make(sql_pg_params_t *out, json_t *params, bl_error_t *err)
{
	size_t n = params ? json_array_size(params) : 0;

	out->count = (int)n;
	out->values = calloc(n ? n : 1, sizeof *out->values);
	if (!out->values)
		return bl_error_set(err, BL_ENOMEM, "params.params", "out of memory");

	for (size_t i = 0; i < n; i++) {
		int rc;
		json_t *v = json_array_get(params, i);
		out->values[i] = param_text(v, i, err, &rc);
		if (rc < 0) {
			sql_pg_params_free(out);
			return rc;
		}
		if (!out->values[i] && !json_is_null(v)) {
			sql_pg_params_free(out);
			return bl_error_set(err, BL_ENOMEM, "params.params", "out of memory");
		}
	}
	return 0;
}

void sql_pg_params_free(sql_pg_params_t *p)
{
	for (int i = 0; p->values && i < p->count; i++)
		free(p->values[i]);
	free(p->values);
	p->values = NULL;
	p->count = 0;
}
