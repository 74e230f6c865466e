/* Checking a SQL job's parameters. */
#include "sql_request.h"

#include <stdio.h>
#include <string.h>

static const char *const known_keys[] = {"database", "sql", "params", "max_rows", "timeout_ms", NULL};

static int check_keys(json_t *params, bl_error_t *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(params, key, value) {
		bool known = false;
		for (size_t i = 0; known_keys[i] && !known; i++)
			known = strcmp(key, known_keys[i]) == 0;
		if (!known)
			return bl_error_set(err, BL_EFORMAT, "params",
					    "unknown parameter '%s'; expected database, sql, "
					    "params, max_rows and timeout_ms",
					    key);
	}
	return 0;
}

static int parse_sql(sql_request_t *req, json_t *params, bl_error_t *err)
{
	json_t *sql = json_object_get(params, "sql");
	if (!sql)
		return bl_error_set(err, BL_EFORMAT, "params.sql",
				    "missing the statement: give \"sql\", one SQL statement");
	if (!json_is_string(sql))
		return bl_error_set(err, BL_EFORMAT, "params.sql", "expected one SQL statement as a string");

	req->sql = json_string_value(sql);
	req->sql_len = json_string_length(sql);
	if (strlen(req->sql) != req->sql_len)
		return bl_error_set(err, BL_EFORMAT, "params.sql", "the statement contains a NUL character");
	if (strspn(req->sql, " \t\r\n") == req->sql_len)
		return bl_error_set(err, BL_EFORMAT, "params.sql", "the statement is empty");
	return 0;
}

/* Parameters are JSON scalars; arrays and objects go as their JSON text,
 * for json columns. Every kind is accepted, so the check is the container
 * and its size. */
static int parse_params(sql_request_t *req, json_t *params, bl_error_t *err)
{
	json_t *list = json_object_get(params, "params");
	if (!list) {
		req->params = NULL;
		return 0;
	}
	if (!json_is_array(list))
		return bl_error_set(err, BL_EFORMAT, "params.params",
				    "expected an array of statement parameters ($1, $2, ...), got a %s",
				    json_is_object(list) ? "object" : json_is_string(list) ? "string" : "scalar");
	if (json_array_size(list) > SQL_PARAMS_MAX)
		return bl_error_set(err, BL_ELIMIT, "params.params", "%zu parameters; one statement takes at most %u",
				    json_array_size(list), SQL_PARAMS_MAX);
	req->params = list;
	return 0;
}

/* Read an optional positive integer into *out, capped at `cap`. */
static int parse_count(json_t *params, const char *key, uint64_t cap, uint64_t *out, bl_error_t *err)
{
	char field[64];
	json_t *value = json_object_get(params, key);

	snprintf(field, sizeof field, "params.%s", key);
	if (!value) {
		*out = cap;
		return 0;
	}
	if (!json_is_integer(value) || json_integer_value(value) < 1)
		return bl_error_set(err, BL_EFORMAT, field, "expected a positive integer");

	uint64_t n = (uint64_t)json_integer_value(value);
	*out = n < cap ? n : cap;
	return 0;
}

static int find_database(sql_request_t *req, json_t *params, const bl_sql_service_t *svc, const char *tenant,
			 bl_error_t *err)
{
	json_t *name = json_object_get(params, "database");
	req->database = NULL;
	req->target = NULL;

	if (name && !json_is_string(name))
		return bl_error_set(err, BL_EFORMAT, "params.database", "expected the name of a configured database");
	if (name)
		return sql_service_find(svc, json_string_value(name), tenant, &req->database, &req->target, err);
	if (!svc->embedded)
		return bl_error_set(err, BL_EINVAL, "params.database",
				    "missing the database: the embedded SQLite database is turned off (sql.embedded)");
	return 0;
}

int sql_request_parse(sql_request_t *req, json_t *params, const bl_sql_service_t *svc, const char *tenant,
		      bl_error_t *err)
{
	*req = (sql_request_t){0};
	if (!json_is_object(params))
		return bl_error_set(err, BL_EFORMAT, "params",
				    "expected an object with \"sql\" and optional \"params\"");

	int rc = check_keys(params, err);
	if (rc == 0)
		rc = parse_sql(req, params, err);
	if (rc == 0)
		rc = parse_params(req, params, err);
	if (rc == 0)
		rc = find_database(req, params, svc, tenant, err);
	if (rc == 0)
		rc = parse_count(params, "max_rows", svc->max_rows, &req->max_rows, err);

	if (rc < 0)
		return rc;
	uint64_t timeout_cap = req->database ? req->database->statement_timeout_ms : svc->statement_timeout_ms;
	return parse_count(params, "timeout_ms", timeout_cap, &req->timeout_ms, err);
}
