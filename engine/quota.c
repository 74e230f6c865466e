#include "quota.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/job.h>

void bl_quota_init(bl_quota_t *q)
{
	q->max_concurrent = 4;
	q->max_queued = 10000;
	q->cpu_ms_per_s = 0;
	q->mem_bytes = 0;
	q->weight = 1;
}

/* Read a non-negative integer field in [min, max]. */
static int read_uint(uint64_t *out, json_t *value, const char *field, uint64_t min, uint64_t max,
		     bl_error_t *err)
{
	if (!json_is_integer(value))
		return bl_error_set(err, BL_EFORMAT, field, "expected an integer from %llu to %llu",
				    (unsigned long long)min, (unsigned long long)max);

	json_int_t v = json_integer_value(value);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return bl_error_set(err, BL_EFORMAT, field, "expected an integer from %llu to %llu, got %lld",
				    (unsigned long long)min, (unsigned long long)max, (long long)v);
	*out = (uint64_t)v;
	return 0;
}

int bl_quota_parse(bl_quota_t *q, json_t *obj, const char *path, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	const char *key;
	json_t *value;

	if (!json_is_object(obj))
		return bl_error_set(err, BL_EFORMAT, path, "expected an object of quota fields");

	json_object_foreach(obj, key, value) {
		uint64_t v;
		int rc;
		snprintf(field, sizeof field, "%s.%s", path, key);
		if (strcmp(key, "max_concurrent") == 0) {
			rc = read_uint(&v, value, field, 1, 1000000, err);
			q->max_concurrent = (uint32_t)v;
		} else if (strcmp(key, "max_queued") == 0) {
			rc = read_uint(&v, value, field, 1, 100000000, err);
			q->max_queued = (uint32_t)v;
		} else if (strcmp(key, "cpu_ms_per_s") == 0) {
			rc = read_uint(&v, value, field, 0, 1000000, err);
			q->cpu_ms_per_s = (uint32_t)v;
		} else if (strcmp(key, "mem_bytes") == 0) {
			rc = read_uint(&v, value, field, 0, UINT64_C(1) << 50, err);
			q->mem_bytes = v;
		} else if (strcmp(key, "weight") == 0) {
			rc = read_uint(&v, value, field, 1, 1000000, err);
			q->weight = (uint32_t)v;
		} else {
			return bl_error_set(err, BL_EFORMAT, field,
					    "unknown quota field; expected max_concurrent, max_queued, cpu_ms_per_s, "
					    "mem_bytes or weight");
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_policy(bool *reject, json_t *value, bl_error_t *err)
{
	const char *text = json_string_value(value);
	if (text && strcmp(text, "default") == 0) {
		*reject = false;
		return 0;
	}
	if (text && strcmp(text, "reject") == 0) {
		*reject = true;
		return 0;
	}
	return bl_error_set(err, BL_EFORMAT, "unknown_tenants", "expected \"default\" or \"reject\"");
}

static int parse_tenants(bl_quota_table_t *t, json_t *tenants, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	const char *name;
	size_t name_len;
	json_t *value;
	bl_job_limits_t limits;

	bl_job_limits_init(&limits);
	if (!json_is_object(tenants))
		return bl_error_set(err, BL_EFORMAT, "tenants", "expected an object mapping tenant names to quotas");

	t->entries = calloc(json_object_size(tenants) + 1, sizeof *t->entries);
	if (!t->entries)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory reading quotas");

	json_object_keylen_foreach(tenants, name, name_len, value) {
		bl_quota_entry_t *e = &t->entries[t->count];
		snprintf(field, sizeof field, "tenants.%s", name);
		int rc = bl_job_check_name(name, name_len, limits.max_name_bytes, "tenants", err);
		if (rc < 0) {
			bl_error_prefix(err, "tenant name: ");
			return rc;
		}

		e->quota = t->default_quota;
		rc = bl_quota_parse(&e->quota, value, field, err);
		if (rc < 0)
			return rc;
		e->tenant = strdup(name);
		if (!e->tenant)
			return bl_error_set(err, BL_ENOMEM, NULL, "out of memory reading quotas");
		t->count++;
	}
	return 0;
}

int bl_quota_table_parse(bl_quota_table_t **out, json_t *root, bl_error_t *err)
{
	if (!json_is_object(root))
		return bl_error_set(err, BL_EFORMAT, NULL, "expected a JSON object with default, unknown_tenants and tenants");

	bl_quota_table_t *t = calloc(1, sizeof *t);
	if (!t)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory reading quotas");
	bl_quota_init(&t->default_quota);

	int rc = 0;
	const char *key;
	json_t *value;
	json_object_foreach(root, key, value) {
		if (strcmp(key, "default") != 0 && strcmp(key, "unknown_tenants") != 0 && strcmp(key, "tenants") != 0) {
			rc = bl_error_set(err, BL_EFORMAT, key, "unknown field; expected default, unknown_tenants or tenants");
			break;
		}
	}
	/* "default" first: tenant entries inherit from it. */
	if (rc == 0 && json_object_get(root, "default"))
		rc = bl_quota_parse(&t->default_quota, json_object_get(root, "default"), "default", err);
	if (rc == 0 && json_object_get(root, "unknown_tenants"))
		rc = parse_policy(&t->reject_unknown, json_object_get(root, "unknown_tenants"), err);
	if (rc == 0 && json_object_get(root, "tenants"))
		rc = parse_tenants(t, json_object_get(root, "tenants"), err);

	if (rc < 0) {
		bl_quota_table_free(&t);
		return rc;
	}
	*out = t;
	return 0;
}

int bl_quota_table_load(bl_quota_table_t **out, const char *path, bl_error_t *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (jerr.line < 0)
			return bl_error_set(err, -ENOENT, path, "cannot read the quota file: %s", jerr.text);
		return bl_error_set(err, BL_EFORMAT, path, "not valid JSON at line %d, column %d: %s", jerr.line,
				    jerr.column, jerr.text);
	}

	int rc = bl_quota_table_parse(out, root, err);
	json_decref(root);
	if (rc < 0) {
		/* The parser names a field in the document; the reader also
		 * needs to know which file. */
		bl_error_prefix(err, "quota file '%s', %s: ", path, err->field[0] ? err->field : "top level");
		snprintf(err->field, sizeof err->field, "--quotas");
	}
	return rc;
}

int bl_quota_value_parse(bl_quota_t *out, const char *tenant, const char *text, size_t len,
			 const bl_quota_t *defaults, bl_error_t *err)
{
	bl_job_limits_t limits;
	json_error_t jerr;

	bl_job_limits_init(&limits);
	int rc = bl_job_check_name(tenant, strlen(tenant), limits.max_name_bytes, "tenant", err);
	if (rc < 0)
		return rc;

	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return bl_error_set(err, BL_EFORMAT, tenant, "the quota of tenant '%s' is not valid JSON at column %d: %s",
				    tenant, jerr.column, jerr.text);

	bl_quota_t q = *defaults;
	rc = bl_quota_parse(&q, root, tenant, err);
	json_decref(root);
	if (rc == 0)
		*out = q;
	return rc;
}

bl_quota_table_t *bl_quota_table_default(void)
{
	bl_quota_table_t *t = calloc(1, sizeof *t);
	if (t)
		bl_quota_init(&t->default_quota);
	return t;
}

const bl_quota_t *bl_quota_table_find(const bl_quota_table_t *t, const char *tenant)
{
	for (size_t i = 0; i < t->count; i++) {
		if (strcmp(t->entries[i].tenant, tenant) == 0)
			return &t->entries[i].quota;
	}
	return NULL;
}

void bl_quota_table_free(bl_quota_table_t **t)
{
	if (!*t)
		return;
	for (size_t i = 0; i < (*t)->count; i++)
		free((*t)->entries[i].tenant);
	free((*t)->entries);
	free(*t);
	*t = NULL;
}
