/*
 * The "sql" config section: limits, and the named databases with their
 * tenants. Each PostgreSQL target gets its own pool, so no connection ever
 * carries one tenant's session to another. docs/blocks/sql.md lists every
 * key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_service.h"

#define DEFAULT_MAX_ROWS 10000u
#define DEFAULT_MAX_RESULT_BYTES (16u << 20)
#define DEFAULT_STATEMENT_TIMEOUT_MS 30000u
#define DEFAULT_BUSY_TIMEOUT_MS 5000u
#define DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define DEFAULT_POOL_SIZE 4u
#define POOL_SIZE_MAX 1000u
#define TIMEOUT_MAX_MS 86400000u

/* Connection parameters of one pool, at most this many. */
#define CONN_PARAMS_MAX 64

/* ------------------------------------------------------------------------ */
/* Reading values                                                            */
/* ------------------------------------------------------------------------ */

static int check_keys(const json_t *obj, const char *field, const char *const *known, bl_error_t *err)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)(uintptr_t)obj, key, value) {
		bool found = false;
		for (size_t i = 0; known[i] && !found; i++)
			found = strcmp(key, known[i]) == 0;
		if (!found) {
			char list[256] = "";
			for (size_t i = 0; known[i]; i++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", known[i]);
			return bl_error_set(err, BL_EINVAL, field, "unknown key '%s'; expected one of: %s", key, list);
		}
	}
	return 0;
}

/* Read integer `key` of `obj` into *out when present, in [min, max]. */
static int read_uint(const json_t *obj, const char *key, const char *parent, uint64_t min, uint64_t max,
		     uint64_t *out, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	json_t *value = json_object_get(obj, key);

	if (!value)
		return 0;
	snprintf(field, sizeof field, "%s.%s", parent, key);
	if (!json_is_integer(value) || json_integer_value(value) < (json_int_t)min ||
	    (uint64_t)json_integer_value(value) > max)
		return bl_error_set(err, BL_EINVAL, field, "expected an integer from %llu to %llu",
				    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(value);
	return 0;
}

/* Read string `key` of `obj`; *out stays NULL when absent and not
 * required. */
static int read_string(const json_t *obj, const char *key, const char *parent, bool required, const char **out,
		       bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	json_t *value = json_object_get(obj, key);

	snprintf(field, sizeof field, "%s.%s", parent, key);
	*out = NULL;
	if (!value && required)
		return bl_error_set(err, BL_EINVAL, field, "missing");
	if (!value)
		return 0;
	if (!json_is_string(value) || json_string_length(value) == 0)
		return bl_error_set(err, BL_EINVAL, field, "expected a non-empty string");
	*out = json_string_value(value);
	return 0;
}

/* A schema name goes into the session's options unquoted, so it is held
 * to the characters of a plain SQL identifier. */
static bool plain_identifier(const char *s)
{
	if (!s[0] || strlen(s) > 63 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (const char *p = s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* PostgreSQL targets                                                        */
/* ------------------------------------------------------------------------ */

typedef struct conn_params {
	const char *keywords[CONN_PARAMS_MAX + 1];
	const char *values[CONN_PARAMS_MAX + 1];
	size_t count;
	char options[1024];
	PQconninfoOption *parsed;
} conn_params_t;

static void set_param(conn_params_t *p, const char *keyword, const char *value)
{
	for (size_t i = 0; i < p->count; i++) {
		if (strcmp(p->keywords[i], keyword) == 0) {
			p->values[i] = value;
			return;
		}
	}
	if (p->count < CONN_PARAMS_MAX) {
		p->keywords[p->count] = keyword;
		p->values[p->count++] = value;
	}
}

static const char *get_param(const conn_params_t *p, const char *keyword)
{
	for (size_t i = 0; i < p->count; i++) {
		if (strcmp(p->keywords[i], keyword) == 0)
			return p->values[i];
	}
	return NULL;
}

/*
 * Parse `dsn` and add the session settings every connection needs: UTF-8,
 * ISO dates in UTC (so timestamps convert to RFC 3339 text), floats that
 * read back exactly, the statement timeout and the tenant's schema.
 */
static int make_conn_params(conn_params_t *p, const char *dsn, const char *schema, uint64_t timeout_ms,
			    const char *field, bl_error_t *err)
{
	char *message = NULL;

	memset(p, 0, sizeof *p);
	p->parsed = PQconninfoParse(dsn, &message);
	if (!p->parsed) {
		bl_error_set(err, BL_EINVAL, field, "invalid connection string: %s",
			     message ? message : "out of memory");
		PQfreemem(message);
		return BL_EINVAL;
	}
	for (PQconninfoOption *o = p->parsed; o->keyword; o++) {
		if (o->val && o->val[0])
			set_param(p, o->keyword, o->val);
	}

	const char *user_options = get_param(p, "options");
	int n = snprintf(p->options, sizeof p->options,
			 "%s%s-c statement_timeout=%llu -c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3%s%s",
			 user_options ? user_options : "", user_options ? " " : "", (unsigned long long)timeout_ms,
			 schema ? " -c search_path=" : "", schema ? schema : "");
	if (n < 0 || (size_t)n >= sizeof p->options)
		return bl_error_set(err, BL_EINVAL, field, "the connection's options are longer than %zu bytes",
				    sizeof p->options - 1);
	set_param(p, "options", p->options);
	set_param(p, "client_encoding", "UTF8");
	if (!get_param(p, "application_name"))
		set_param(p, "application_name", "beamline-engine");
	if (p->count >= CONN_PARAMS_MAX)
		return bl_error_set(err, BL_EINVAL, field, "more than %d connection parameters", CONN_PARAMS_MAX);
	return 0;
}

static int make_pool(sql_target_t *t, const char *label, const char *dsn, const char *schema, uint64_t timeout_ms,
		     uint64_t size, const char *field, bl_error_t *err)
{
	conn_params_t p;
	int rc = make_conn_params(&p, dsn, schema, timeout_ms, field, err);
	if (rc == 0) {
		t->pool = sql_pg_pool_new(label, p.keywords, p.values, (unsigned)size, timeout_ms);
		if (!t->pool)
			rc = bl_error_set(err, BL_ENOMEM, field, "out of memory");
	}
	PQconninfoFree(p.parsed);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Databases                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct db_spec {
	const char *name;
	const char *field;      /* "sql.databases.NAME" */
	const char *dsn;        /* postgres */
	const char *path;       /* sqlite */
	uint64_t pool_size;
	bool shared;
	const json_t *tenants;
} db_spec_t;

/* Whether a job could name `tenant` (the job format's rule for tenant
 * names), so that a misspelt entry is an error rather than dead config. */
static bool valid_tenant_name(const char *tenant)
{
	size_t len = strlen(tenant);
	if (len == 0 || len > 128 || tenant[0] == '.')
		return false;
	return strspn(tenant, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

static int add_target(sql_database_t *db, const db_spec_t *spec, const char *tenant, const json_t *entry,
		      bl_error_t *err)
{
	static const char *const pg_keys[] = {"dsn", "schema", NULL};
	static const char *const lite_keys[] = {"path", NULL};
	char field[BL_ERROR_FIELD_MAX], label[256];
	const char *dsn = spec->dsn, *schema = NULL, *path = spec->path;
	int rc = 0;

	snprintf(field, sizeof field, "%s.tenants.%s", spec->field, tenant ? tenant : "");
	if (!tenant)
		snprintf(field, sizeof field, "%s", spec->field);
	if (tenant && !valid_tenant_name(tenant))
		return bl_error_set(err, BL_EINVAL, field,
				    "'%s' cannot be a tenant's name: expected 1 to 128 characters from [A-Za-z0-9._-], "
				    "not starting with '.'",
				    tenant);
	if (entry && !json_is_object(entry))
		return bl_error_set(err, BL_EINVAL, field, "expected an object");
	if (entry && db->driver == SQL_DRIVER_POSTGRES) {
		rc = check_keys(entry, field, pg_keys, err);
		const char *own_dsn = NULL;
		if (rc == 0)
			rc = read_string(entry, "dsn", field, false, &own_dsn, err);
		if (rc == 0)
			rc = read_string(entry, "schema", field, false, &schema, err);
		if (rc == 0 && schema && !plain_identifier(schema))
			rc = bl_error_set(err, BL_EINVAL, field, "schema '%s': expected lower-case letters, digits and "
					  "underscores, starting with a letter or underscore (at most 63)", schema);
		dsn = own_dsn ? own_dsn : dsn;
	} else if (entry) {
		rc = check_keys(entry, field, lite_keys, err);
		if (rc == 0)
			rc = read_string(entry, "path", field, true, &path, err);
	}
	if (rc == 0 && db->driver == SQL_DRIVER_SQLITE && path[0] != '/')
		rc = bl_error_set(err, BL_EINVAL, field, "path '%s': expected an absolute file name", path);
	if (rc < 0)
		return rc;

	sql_target_t *t = &db->targets[db->target_count++];
	t->tenant = tenant ? strdup(tenant) : NULL;
	if (tenant && !t->tenant)
		return bl_error_set(err, BL_ENOMEM, field, "out of memory");
	if (db->driver == SQL_DRIVER_SQLITE) {
		t->path = strdup(path);
		return t->path ? 0 : bl_error_set(err, BL_ENOMEM, field, "out of memory");
	}
	snprintf(label, sizeof label, "%s%s%s", spec->name, tenant ? "/" : "", tenant ? tenant : "");
	return make_pool(t, label, dsn, schema, db->statement_timeout_ms, spec->pool_size, field, err);
}

static int read_db_spec(db_spec_t *spec, sql_database_t *db, const json_t *obj, bl_error_t *err)
{
	static const char *const keys[] = {"driver", "dsn", "path", "pool_size", "statement_timeout_ms",
					   "shared", "tenants", NULL};
	const char *driver = NULL;

	if (!json_is_object(obj))
		return bl_error_set(err, BL_EINVAL, spec->field, "expected an object with \"driver\"");
	int rc = check_keys(obj, spec->field, keys, err);
	if (rc == 0)
		rc = read_string(obj, "driver", spec->field, true, &driver, err);
	if (rc < 0)
		return rc;

	bool pg = strcmp(driver, "postgres") == 0;
	if (!pg && strcmp(driver, "sqlite") != 0)
		return bl_error_set(err, BL_EINVAL, spec->field, "driver '%s': expected \"postgres\" or \"sqlite\"",
				    driver);
	db->driver = pg ? SQL_DRIVER_POSTGRES : SQL_DRIVER_SQLITE;

	rc = read_string(obj, pg ? "dsn" : "path", spec->field, pg, pg ? &spec->dsn : &spec->path, err);
	if (rc == 0 && json_object_get(obj, pg ? "path" : "dsn"))
		rc = bl_error_set(err, BL_EINVAL, spec->field, "\"%s\" belongs to the %s driver", pg ? "path" : "dsn",
				  pg ? "sqlite" : "postgres");
	if (rc == 0 && !pg && json_object_get(obj, "pool_size"))
		rc = bl_error_set(err, BL_EINVAL, spec->field, "\"pool_size\" belongs to the postgres driver");
	if (rc == 0)
		rc = read_uint(obj, "pool_size", spec->field, 1, POOL_SIZE_MAX, &spec->pool_size, err);
	if (rc == 0)
		rc = read_uint(obj, "statement_timeout_ms", spec->field, 1, TIMEOUT_MAX_MS, &db->statement_timeout_ms,
			       err);
	if (rc < 0)
		return rc;

	json_t *shared = json_object_get(obj, "shared");
	if (shared && !json_is_boolean(shared))
		return bl_error_set(err, BL_EINVAL, spec->field, "\"shared\": expected true or false");
	spec->shared = json_is_true(shared);
	spec->tenants = json_object_get(obj, "tenants");
	if (spec->tenants && !json_is_object(spec->tenants))
		return bl_error_set(err, BL_EINVAL, spec->field, "\"tenants\": expected an object of tenant names");
	if (!spec->shared && !spec->tenants)
		return bl_error_set(err, BL_EINVAL, spec->field,
				    "give \"tenants\" (who may use it, each with their own "
				    "connection or file) or \"shared\": true (every tenant uses it)");
	if (spec->shared && spec->tenants)
		return bl_error_set(err, BL_EINVAL, spec->field, "\"shared\" and \"tenants\" exclude each other");
	if (!pg && spec->shared && !spec->path)
		return bl_error_set(err, BL_EINVAL, spec->field, "a shared sqlite database needs \"path\"");
	return 0;
}

static int open_database(sql_database_t *db, const char *name, const json_t *obj, const bl_sql_service_t *svc,
			 bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	snprintf(field, sizeof field, "sql.databases.%s", name);
	db_spec_t spec = {.name = name, .field = field, .pool_size = DEFAULT_POOL_SIZE};

	db->name = strdup(name);
	if (!db->name)
		return bl_error_set(err, BL_ENOMEM, field, "out of memory");
	db->statement_timeout_ms = svc->statement_timeout_ms;
	int rc = read_db_spec(&spec, db, obj, err);
	if (rc < 0)
		return rc;

	size_t count = spec.shared ? 1 : json_object_size(spec.tenants);
	db->targets = calloc(count ? count : 1, sizeof *db->targets);
	if (!db->targets)
		return bl_error_set(err, BL_ENOMEM, field, "out of memory");
	if (spec.shared)
		return add_target(db, &spec, NULL, NULL, err);

	const char *tenant;
	json_t *entry;
	json_object_foreach((json_t *)(uintptr_t)spec.tenants, tenant, entry) {
		if ((rc = add_target(db, &spec, tenant, entry, err)) < 0)
			return rc;
	}
	return 0;
}

static void close_database(sql_database_t *db)
{
	for (size_t i = 0; i < db->target_count; i++) {
		sql_pg_pool_free(&db->targets[i].pool);
		free(db->targets[i].tenant);
		free(db->targets[i].path);
	}
	free(db->targets);
	free(db->name);
}

/* ------------------------------------------------------------------------ */
/* The section                                                               */
/* ------------------------------------------------------------------------ */

static int read_limits(bl_sql_service_t *svc, const json_t *config, bl_error_t *err)
{
	static const char *const keys[] = {"max_rows", "max_result_bytes", "statement_timeout_ms", "busy_timeout_ms",
					   "connect_timeout_ms", "embedded", "databases", NULL};

	if (!json_is_object(config))
		return bl_error_set(err, BL_EINVAL, "sql", "expected an object");
	int rc = check_keys(config, "sql", keys, err);
	if (rc == 0)
		rc = read_uint(config, "max_rows", "sql", 1, UINT64_C(1) << 32, &svc->max_rows, err);
	if (rc == 0)
		rc = read_uint(config, "max_result_bytes", "sql", 1024, UINT64_C(1) << 34, &svc->max_result_bytes, err);
	if (rc == 0)
		rc = read_uint(config, "statement_timeout_ms", "sql", 1, TIMEOUT_MAX_MS, &svc->statement_timeout_ms,
			       err);
	if (rc == 0)
		rc = read_uint(config, "busy_timeout_ms", "sql", 0, TIMEOUT_MAX_MS, &svc->busy_timeout_ms, err);
	if (rc == 0)
		rc = read_uint(config, "connect_timeout_ms", "sql", 1, TIMEOUT_MAX_MS, &svc->connect_timeout_ms, err);

	json_t *embedded = json_object_get(config, "embedded");
	if (rc == 0 && embedded && !json_is_boolean(embedded))
		rc = bl_error_set(err, BL_EINVAL, "sql.embedded", "expected true or false");
	if (embedded)
		svc->embedded = json_is_true(embedded);
	return rc;
}

static int open_databases(bl_sql_service_t *svc, const json_t *databases, bl_error_t *err)
{
	const char *name;
	json_t *obj;

	if (!databases)
		return 0;
	if (!json_is_object(databases))
		return bl_error_set(err, BL_EINVAL, "sql.databases", "expected an object of named databases");

	svc->databases = calloc(json_object_size(databases) + 1, sizeof *svc->databases);
	if (!svc->databases)
		return bl_error_set(err, BL_ENOMEM, "sql.databases", "out of memory");
	json_object_foreach((json_t *)(uintptr_t)databases, name, obj) {
		int rc = open_database(&svc->databases[svc->database_count++], name, obj, svc, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int bl__sql_service_open(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup,
			 bl_error_t *err)
{
	bl_sql_service_t *svc = calloc(1, sizeof *svc);
	if (!svc)
		return bl_error_set(err, BL_ENOMEM, "sql", "out of memory");
	s->sql = svc;

	svc->max_rows = DEFAULT_MAX_ROWS;
	svc->max_result_bytes = DEFAULT_MAX_RESULT_BYTES;
	svc->statement_timeout_ms = DEFAULT_STATEMENT_TIMEOUT_MS;
	svc->busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS;
	svc->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	svc->embedded = true;
	svc->io_pool = setup->io_pool;
	svc->blocking_pool = setup->blocking_pool;
	svc->lite = sql_lite_cache_new();
	if (!svc->lite)
		return bl_error_set(err, BL_ENOMEM, "sql", "out of memory");

	int rc = config ? read_limits(svc, config, err) : 0;
	if (rc == 0 && config)
		rc = open_databases(svc, json_object_get(config, "databases"), err);
	return rc;
}

void bl__sql_service_stop(bl_block_services_t *s)
{
	bl_sql_service_t *svc = s->sql;
	if (!svc)
		return;
	for (size_t i = 0; i < svc->database_count; i++) {
		for (size_t j = 0; j < svc->databases[i].target_count; j++) {
			if (svc->databases[i].targets[j].pool)
				sql_pg_pool_stop(svc->databases[i].targets[j].pool);
		}
	}
}

void bl__sql_service_close(bl_block_services_t *s)
{
	bl_sql_service_t *svc = s->sql;
	if (!svc)
		return;
	for (size_t i = 0; i < svc->database_count; i++)
		close_database(&svc->databases[i]);
	free(svc->databases);
	sql_lite_cache_free(&svc->lite);
	free(svc);
	s->sql = NULL;
}

int sql_service_find(const bl_sql_service_t *svc, const char *name, const char *tenant, const sql_database_t **db,
		     const sql_target_t **target, bl_error_t *err)
{
	for (size_t i = 0; i < svc->database_count; i++) {
		const sql_database_t *d = &svc->databases[i];
		if (strcmp(d->name, name) != 0)
			continue;
		for (size_t j = 0; j < d->target_count; j++) {
			if (!d->targets[j].tenant || strcmp(d->targets[j].tenant, tenant) == 0) {
				*db = d;
				*target = &d->targets[j];
				return 0;
			}
		}
		return bl_error_set(err, BL_EINVAL, "params.database",
				    "tenant '%s' is not one of the tenants of database '%s'", tenant, name);
	}
	return bl_error_set(err, BL_EINVAL, "params.database", "unknown database '%s'; %s", name,
			    svc->database_count ? "see the config's sql.databases"
						: "the config's sql section names no databases");
}
