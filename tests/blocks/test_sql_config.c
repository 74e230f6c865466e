/*
 * The sql config section and job parameters: each mistake is refused with
 * the key or field at fault. No database server is needed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sql_fixture.h"

typedef struct bad_config {
	const char *config;
	const char *field;
} bad_config_t;

/* Each config names its mistake's key in the error. */
Test(blocks_sql_config, bad_configs_name_the_key)
{
	static const bad_config_t cases[] = {
		{"{\"sql\": {\"max_rowz\": 1}}", "sql"},
		{"{\"sql\": {\"max_rows\": 0}}", "sql.max_rows"},
		{"{\"sql\": {\"embedded\": 1}}", "sql.embedded"},
		{"{\"sql\": {\"databases\": []}}", "sql.databases"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"mysql\", \"shared\": true}}}}", "sql.databases.x"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"postgres\", \"shared\": true}}}}",
		 "sql.databases.x.dsn"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"postgres\", \"dsn\": \"host=127.0.0.1\"}}}}",
		 "sql.databases.x"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"postgres\", \"dsn\": \"nonsense\", \"shared\": "
		 "true}}}}",
		 "sql.databases.x"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"postgres\", \"dsn\": \"host=127.0.0.1\", "
		 "\"pool_size\": 0, \"shared\": true}}}}",
		 "sql.databases.x.pool_size"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"postgres\", \"dsn\": \"host=127.0.0.1\", "
		 "\"tenants\": {\"a\": {\"schema\": \"Bad-Name\"}}}}}}",
		 "sql.databases.x.tenants.a"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"postgres\", \"dsn\": \"host=127.0.0.1\", "
		 "\"tenants\": {\"a\": {\"user\": \"u\"}}}}}}",
		 "sql.databases.x.tenants.a"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"postgres\", \"dsn\": \"host=127.0.0.1\", "
		 "\"tenants\": {\"../x\": {}}}}}}",
		 "sql.databases.x.tenants.../x"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"sqlite\", \"path\": \"rel.db\", \"shared\": "
		 "true}}}}",
		 "sql.databases.x"},
		{"{\"sql\": {\"databases\": {\"x\": {\"driver\": \"sqlite\", \"path\": \"/x.db\", \"shared\": true, "
		 "\"tenants\": {}}}}}",
		 "sql.databases.x"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		sql_fixture_t f;
		bl_error_t err = {0};
		sql_fixture_init(&f);

		int rc = sql_fixture_try_start(&f, cases[i].config, &err);

		cr_assert_lt(rc, 0, "case %zu was accepted: %s", i, cases[i].config);
		cr_assert_str_eq(err.field, cases[i].field, "case %zu: expected field %s, got %s (%s)", i,
				 cases[i].field, err.field, err.message);
		sql_fixture_fini(&f);
	}
}

typedef struct bad_params {
	const char *params;
	const char *field;
} bad_params_t;

/* Each bad job is refused at prepare, naming the field. */
Test(blocks_sql_config, bad_params_name_the_field)
{
	static const bad_params_t cases[] = {
		{"{\"params\": []}", "params.sql"},
		{"{\"sql\": 5}", "params.sql"},
		{"{\"sql\": \"  \"}", "params.sql"},
		{"{\"sql\": \"SELECT 1\", \"params\": {\"a\": 1}}", "params.params"},
		{"{\"sql\": \"SELECT 1\", \"params\": \"1\"}", "params.params"},
		{"{\"sql\": \"SELECT 1\", \"database\": \"nope\"}", "params.database"},
		{"{\"sql\": \"SELECT 1\", \"database\": 3}", "params.database"},
		{"{\"sql\": \"SELECT 1\", \"max_rows\": 0}", "params.max_rows"},
		{"{\"sql\": \"SELECT 1\", \"timeout_ms\": \"5\"}", "params.timeout_ms"},
		{"{\"sql\": \"SELECT 1\", \"query\": \"x\"}", "params"},
	};
	sql_fixture_t f;
	sql_fixture_init(&f);
	sql_fixture_start(&f, NULL);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_error_t err = {0};
		int rc = sql_prepare(&f, "a", cases[i].params, &err);
		cr_assert_lt(rc, 0, "case %zu was accepted: %s", i, cases[i].params);
		cr_assert_str_eq(err.field, cases[i].field, "case %zu: expected field %s, got %s (%s)", i,
				 cases[i].field, err.field, err.message);
	}
	sql_fixture_fini(&f);
}

/* With the embedded database turned off, a job must name a database. */
Test(blocks_sql_config, embedded_off_requires_database)
{
	sql_fixture_t f;
	bl_error_t err = {0};
	sql_fixture_init(&f);
	sql_fixture_start(&f, "{\"sql\": {\"embedded\": false}}");

	int rc = sql_prepare(&f, "a", "{\"sql\": \"SELECT 1\"}", &err);

	cr_assert_lt(rc, 0);
	cr_assert_str_eq(err.field, "params.database");
	sql_fixture_fini(&f);
}
