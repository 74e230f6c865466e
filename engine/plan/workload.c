/*
 * Reading and validating the planner's workload description (workload.h).
 */
#include "workload.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/blocks.h>

/* The quota file's ranges (quota.c); the real runs get a quota file. */
#define WEIGHT_MAX 1000000
#define MAX_CONCURRENT_MAX 1000000
#define MAX_QUEUED_MAX 100000000

/* Fractions may be written with a few decimals; a sum this close to 1 is 1. */
#define SHARE_TOLERANCE 1e-6

/* The priority classes by bl_priority_t value; NULL-terminated for check_keys. */
static const char *const priority_names[BL_PRIORITY_COUNT + 1] = {"critical", "high", "normal", "low", NULL};

/* ------------------------------------------------------------------------ */
/* Fields                                                                    */
/* ------------------------------------------------------------------------ */

/* Write "parent.child" (or either alone) into out[BL_ERROR_FIELD_MAX]; a
 * path too long ends in "...". */
static void join_field(char *out, const char *parent, const char *child)
{
	const char *dot = parent[0] && child[0] ? "." : "";
	int n = snprintf(out, BL_ERROR_FIELD_MAX, "%s%s%s", parent, dot, child);
	if (n >= BL_ERROR_FIELD_MAX)
		memcpy(out + BL_ERROR_FIELD_MAX - 4, "...", 4);
}

/* Reject any key of `obj` not in the NULL-terminated `allowed`. */
static int check_keys(json_t *obj, const char *path, const char *const *allowed, const char *expected,
		      bl_error_t *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		bool known = false;
		for (const char *const *a = allowed; *a; a++)
			known = known || strcmp(*a, key) == 0;
		if (!known)
			return bl_error_set(err, BL_EFORMAT, path[0] ? path : key, "unknown key '%s'; expected %s", key,
					    expected);
	}
	return 0;
}

/* Read the number `key` of `obj` into *out when present, in [min, max]. */
static int get_number(json_t *obj, const char *key, const char *path, double min, double max, double *out,
		      bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	json_t *v = json_object_get(obj, key);

	join_field(field, path, key);
	if (!v)
		return 0;
	if (!json_is_number(v))
		return bl_error_set(err, BL_EFORMAT, field, "expected a number");
	double x = json_number_value(v);
	if (isinf(min) && !(x <= max))
		return bl_error_set(err, BL_EFORMAT, field, "expected a number of at most %g, got %g", max, x);
	if (!(x >= min && x <= max))
		return bl_error_set(err, BL_EFORMAT, field, "expected a number from %g to %g, got %g", min, max, x);
	*out = x;
	return 0;
}

/* Read the integer `key` of `obj` into *out when present, in [min, max]. */
static int get_integer(json_t *obj, const char *key, const char *path, uint64_t min, uint64_t max, uint64_t *out,
		       bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	json_t *v = json_object_get(obj, key);

	join_field(field, path, key);
	if (!v)
		return 0;
	json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
	if (!json_is_integer(v) || x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		return bl_error_set(err, BL_EFORMAT, field, "expected an integer from %llu to %llu",
				    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)x;
	return 0;
}

/* Resolve `path` against `dir` unless it is absolute. Returns owned text or NULL. */
static char *resolve(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir || !dir[0])
		return strdup(path);
	size_t len = strlen(dir) + strlen(path) + 2;
	char *out = malloc(len);
	if (out)
		snprintf(out, len, "%s/%s", dir, path);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Tenants                                                                   */
/* ------------------------------------------------------------------------ */

static int parse_priorities(bl_plan_tenant_spec_t *t, json_t *obj, const char *path, bl_error_t *err)
{
	double sum = 0;

	if (!json_is_object(obj))
		return bl_error_set(err, BL_EFORMAT, path, "expected an object of priority class to share");
	int rc = check_keys(obj, path, priority_names, "critical, high, normal or low", err);
	if (rc < 0)
		return rc;
	memset(t->priority_share, 0, sizeof t->priority_share);
	for (int p = 0; p < BL_PRIORITY_COUNT; p++) {
		rc = get_number(obj, priority_names[p], path, 0, 1, &t->priority_share[p], err);
		if (rc < 0)
			return rc;
		sum += t->priority_share[p];
	}
	if (fabs(sum - 1) > SHARE_TOLERANCE)
		return bl_error_set(err, BL_EFORMAT, path, "the priority shares sum to %g; they must sum to 1", sum);
	return 0;
}

static int parse_tenant(bl_plan_tenant_spec_t *t, const char *name, json_t *obj, bl_error_t *err)
{
	static const char *const keys[] = {"weight", "max_concurrent", "max_queued", "priorities", NULL};
	char path[BL_ERROR_FIELD_MAX];
	uint64_t weight = 1, concurrent, queued;

	snprintf(path, sizeof path, "tenants.%s", name);
	int rc = bl_job_check_name(name, strlen(name), 128, path, err);
	if (rc < 0)
		return rc;
	if (!json_is_object(obj))
		return bl_error_set(err, BL_EFORMAT, path, "expected an object with the tenant's quota");
	if ((rc = check_keys(obj, path, keys, "weight, max_concurrent, max_queued or priorities", err)) < 0)
		return rc;

	bl_quota_init(&t->quota);
	concurrent = t->quota.max_concurrent;
	queued = t->quota.max_queued;
	if ((rc = get_integer(obj, "weight", path, 1, WEIGHT_MAX, &weight, err)) < 0 ||
	    (rc = get_integer(obj, "max_concurrent", path, 1, MAX_CONCURRENT_MAX, &concurrent, err)) < 0 ||
	    (rc = get_integer(obj, "max_queued", path, 1, MAX_QUEUED_MAX, &queued, err)) < 0)
		return rc;
	t->quota.weight = (uint32_t)weight;
	t->quota.max_concurrent = (uint32_t)concurrent;
	t->quota.max_queued = (uint32_t)queued;

	t->priority_share[BL_PRIORITY_NORMAL] = 1;
	json_t *priorities = json_object_get(obj, "priorities");
	if (priorities) {
		char sub[BL_ERROR_FIELD_MAX];
		join_field(sub, path, "priorities");
		if ((rc = parse_priorities(t, priorities, sub, err)) < 0)
			return rc;
	}
	t->name = strdup(name);
	return t->name ? 0 : bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
}

static int parse_tenants(bl_plan_workload_t *w, json_t *obj, bl_error_t *err)
{
	const char *name;
	json_t *value;

	if (!json_is_object(obj) || json_object_size(obj) == 0)
		return bl_error_set(err, BL_EFORMAT, "tenants", "expected an object naming at least one tenant");
	w->tenants = calloc(json_object_size(obj), sizeof *w->tenants);
	if (!w->tenants)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	json_object_foreach(obj, name, value) {
		int rc = parse_tenant(&w->tenants[w->tenant_count], name, value, err);
		if (rc < 0)
			return rc;
		w->tenant_count++;
	}
	return 0;
}

static int find_tenant(const bl_plan_workload_t *w, const char *name)
{
	for (size_t i = 0; i < w->tenant_count; i++) {
		if (strcmp(w->tenants[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* The mix                                                                   */
/* ------------------------------------------------------------------------ */

/* Check the template as the engine would parse it, with an id and tenant. */
static int check_template(const bl_plan_workload_t *w, bl_plan_entry_t *e, const char *path, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	bl_job_limits_t limits;
	bl_job_t *job = NULL;

	join_field(field, path, "job");
	if (!json_is_object(e->job))
		return bl_error_set(err, BL_EFORMAT, field, "expected a job object in the engine's format, without id and tenant");
	for (const char *const *k = (const char *const[]){"id", "tenant", NULL}; *k; k++) {
		if (json_object_get(e->job, *k))
			return bl_error_set(err, BL_EFORMAT, field,
					    "the template must not set \"%s\": the planner gives each job its own", *k);
	}

	char *line = bl_plan_job_line(w, e, "plan-check", BL_PRIORITY_NORMAL);
	if (!line)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	bl_job_limits_init(&limits);
	int rc = bl_job_parse(&job, line, strlen(line), &limits, NULL, NULL, 0, err);
	free(line);
	if (rc < 0) {
		char inner[BL_ERROR_FIELD_MAX];
		memcpy(inner, err->field, sizeof inner);
		join_field(err->field, field, inner);
		return rc;
	}

	const bl_block_t *block = bl_block_find(job->block);
	e->has_priority = json_object_get(e->job, "priority") != NULL;
	e->priority = job->priority;
	bl_job_free(&job);
	if (!block) {
		char names[128];
		bl_block_names(names, sizeof names);
		join_field(field, path, "job.block");
		return bl_error_set(err, BL_EFORMAT, field, "unknown block '%s'; expected one of: %s",
				    json_string_value(json_object_get(e->job, "block")), names);
	}
	if (block->load == BL_LOAD_NONE) {
		join_field(field, path, "job.block");
		return bl_error_set(err, BL_EFORMAT, field,
				    "block '%s' waits for a person, which the planner cannot model; leave it out of the mix",
				    block->name);
	}
	e->kind = block->load == BL_LOAD_IO ? BL_PLAN_IO : BL_PLAN_COMPUTE;
	return 0;
}

/* Parse mix[i]; *by_rate is set by the first entry and then required of
 * the others. The share is the fraction, or the rate until normalised. */
static int parse_entry(bl_plan_workload_t *w, bl_plan_entry_t *e, json_t *obj, size_t i, int *by_rate,
		       bl_error_t *err)
{
	static const char *const keys[] = {"name", "tenant", "fraction", "rate_per_s", "job", NULL};
	char path[BL_ERROR_FIELD_MAX], field[BL_ERROR_FIELD_MAX];
	int rc;

	snprintf(path, sizeof path, "mix[%zu]", i);
	if (!json_is_object(obj))
		return bl_error_set(err, BL_EFORMAT, path, "expected an object with name, tenant, fraction or rate_per_s, and job");
	if ((rc = check_keys(obj, path, keys, "name, tenant, fraction, rate_per_s or job", err)) < 0)
		return rc;

	const char *name = json_string_value(json_object_get(obj, "name"));
	join_field(field, path, "name");
	if (!name)
		return bl_error_set(err, BL_EFORMAT, field, "missing: give the entry a name (letters, digits, . _ -)");
	if ((rc = bl_job_check_name(name, strlen(name), 64, field, err)) < 0)
		return rc;

	const char *tenant = json_string_value(json_object_get(obj, "tenant"));
	join_field(field, path, "tenant");
	if (!tenant)
		return bl_error_set(err, BL_EFORMAT, field, "missing: name one of the tenants in \"tenants\"");
	int t = find_tenant(w, tenant);
	if (t < 0)
		return bl_error_set(err, BL_EFORMAT, field, "tenant '%s' is not in \"tenants\"; add it with its quota",
				    tenant);

	json_t *fraction = json_object_get(obj, "fraction");
	json_t *rate = json_object_get(obj, "rate_per_s");
	join_field(field, path, "fraction");
	if (!fraction == !rate)
		return bl_error_set(err, BL_EFORMAT, field, "give exactly one of \"fraction\" and \"rate_per_s\"");
	if (*by_rate >= 0 && *by_rate != (rate != NULL))
		return bl_error_set(err, BL_EFORMAT, field, "give \"%s\" as mix[0] does, not both kinds",
				    *by_rate ? "rate_per_s" : "fraction");
	*by_rate = rate != NULL;
	rc = rate ? get_number(obj, "rate_per_s", path, 0, 1e9, &e->share, err)
		  : get_number(obj, "fraction", path, 0, 1, &e->share, err);
	if (rc < 0)
		return rc;

	e->tenant = (uint32_t)t;
	e->job = json_deep_copy(json_object_get(obj, "job"));
	e->name = strdup(name);
	if (!e->name)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	if (!e->job) {
		join_field(field, path, "job");
		return bl_error_set(err, BL_EFORMAT, field, "missing: give a job template in the engine's job format");
	}
	return check_template(w, e, path, err);
}

/* Check that entry i's name is not an earlier entry's. The report and
 * the service-time lines name entries, so two entries of one name could
 * not be distinguished. */
static int check_name_unique(const bl_plan_workload_t *w, size_t i, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];

	for (size_t k = 0; k < i; k++) {
		if (strcmp(w->entries[k].name, w->entries[i].name) != 0)
			continue;
		snprintf(field, sizeof field, "mix[%zu].name", i);
		return bl_error_set(err, BL_EFORMAT, field, "the name '%s' is also the name of mix[%zu]; give each entry "
				    "a name of its own", w->entries[i].name, k);
	}
	return 0;
}

/* Parse the mix; returns whether it gives rates through *by_rate. */
static int parse_mix(bl_plan_workload_t *w, json_t *arr, int *by_rate, bl_error_t *err)
{
	double sum = 0;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return bl_error_set(err, BL_EFORMAT, "mix", "expected an array of at least one entry");
	w->entries = calloc(json_array_size(arr), sizeof *w->entries);
	if (!w->entries)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	*by_rate = -1;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		int rc = parse_entry(w, &w->entries[i], json_array_get(arr, i), i, by_rate, err);
		w->entry_count += w->entries[i].name != NULL || w->entries[i].job != NULL;
		if (rc < 0)
			return rc;
		if ((rc = check_name_unique(w, i, err)) < 0)
			return rc;
		w->has_io = w->has_io || w->entries[i].kind == BL_PLAN_IO;
		sum += w->entries[i].share;
	}

	if (*by_rate) {
		w->rate_per_s = sum;
		if (sum <= 0)
			return bl_error_set(err, BL_EFORMAT, "mix",
					    "the rates sum to 0: no job would arrive; give some entry a rate above 0");
		for (size_t i = 0; i < w->entry_count; i++)
			w->entries[i].share /= sum;
		return 0;
	}
	if (fabs(sum - 1) > SHARE_TOLERANCE)
		return bl_error_set(err, BL_EFORMAT, "mix", "the fractions sum to %g; they must sum to 1", sum);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Arrivals and the rest                                                     */
/* ------------------------------------------------------------------------ */

static int parse_trace(bl_plan_workload_t *w, json_t *obj, const char *dir, bl_error_t *err)
{
	const char *trace = json_string_value(json_object_get(obj, "trace"));
	if (!trace || (strcmp(trace, "openb-pods") != 0 && strcmp(trace, "lora-requests") != 0))
		return bl_error_set(err, BL_EFORMAT, "arrival.trace", "expected \"openb-pods\" or \"lora-requests\"");

	json_t *path = json_object_get(obj, "path");
	if (path && !json_is_string(path))
		return bl_error_set(err, BL_EFORMAT, "arrival.path", "expected the path of the trace file (.csv.gz)");
	w->time_scale = 1;
	int rc = get_number(obj, "time_scale", "arrival", 1e-9, 1e9, &w->time_scale, err);
	if (rc < 0)
		return rc;
	w->trace = strdup(trace);
	w->trace_path = path ? resolve(dir, json_string_value(path)) : NULL;
	if (!w->trace || (path && !w->trace_path))
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	return 0;
}

static int parse_arrival(bl_plan_workload_t *w, json_t *obj, bool by_rate, const char *dir, bl_error_t *err)
{
	static const char *const keys[] = {"process", "rate_per_s", "trace", "path", "time_scale", NULL};

	if (!obj && by_rate)
		return 0;
	if (!json_is_object(obj))
		return bl_error_set(err, BL_EFORMAT, "arrival",
				    "missing: give {\"process\": \"poisson\", \"rate_per_s\": N} or a trace replay");
	int rc = check_keys(obj, "arrival", keys, "process, rate_per_s, trace, path or time_scale", err);
	if (rc < 0)
		return rc;

	const char *process = json_string_value(json_object_get(obj, "process"));
	if (!process || (strcmp(process, "poisson") != 0 && strcmp(process, "trace") != 0))
		return bl_error_set(err, BL_EFORMAT, "arrival.process", "expected \"poisson\" or \"trace\"");
	if (strcmp(process, "trace") == 0) {
		w->process = BL_PLAN_TRACE;
		if (by_rate)
			return bl_error_set(err, BL_EFORMAT, "mix",
					    "a trace gives the arrival times: give each entry a \"fraction\", not a rate");
		return parse_trace(w, obj, dir, err);
	}

	json_t *rate = json_object_get(obj, "rate_per_s");
	if (by_rate && rate)
		return bl_error_set(err, BL_EFORMAT, "arrival.rate_per_s",
				    "the mix gives rates per entry; leave the total out");
	if (by_rate)
		return 0;
	if (!rate)
		return bl_error_set(err, BL_EFORMAT, "arrival.rate_per_s", "missing: give the jobs per second");
	if ((rc = get_number(obj, "rate_per_s", "arrival", -INFINITY, 1e9, &w->rate_per_s, err)) < 0)
		return rc;
	if (w->rate_per_s < 0)
		return bl_error_set(err, BL_EFORMAT, "arrival.rate_per_s", "expected a rate of at least 0, got %g",
				    w->rate_per_s);
	if (w->rate_per_s == 0)
		return bl_error_set(err, BL_EFORMAT, "arrival.rate_per_s",
				    "the rate is 0: no job would arrive, so there is nothing to plan; give a rate above 0");
	return 0;
}

static int parse_sizes(bl_plan_workload_t *w, json_t *root, bl_error_t *err)
{
	uint64_t simulated = 20000, samples = 30, spacing = 0, validation = 300, ageing = 1000;
	int rc;

	if ((rc = get_integer(root, "simulated_jobs", "", 100, 10000000, &simulated, err)) < 0 ||
	    (rc = get_integer(root, "calibration_samples", "", 3, 100000, &samples, err)) < 0 ||
	    (rc = get_integer(root, "calibration_spacing_ms", "", 0, 60000, &spacing, err)) < 0 ||
	    (rc = get_integer(root, "validation_jobs", "", 20, 1000000, &validation, err)) < 0 ||
	    (rc = get_integer(root, "ageing_ms", "", 1, 86400000, &ageing, err)) < 0)
		return rc;
	w->simulated_jobs = simulated;
	w->calibration_samples = samples;
	w->calibration_spacing_ms = spacing;
	w->validation_jobs = validation;
	w->ageing_ms = ageing;
	return get_number(root, "target_p99_ms", "", 1e-3, 1e9, &w->target_p99_ms, err);
}

int bl_plan_workload_parse(bl_plan_workload_t **out, json_t *root, const char *dir, bl_error_t *err)
{
	static const char *const keys[] = {"data_dir", "target_p99_ms", "arrival", "tenants", "mix",
					   "simulated_jobs", "calibration_samples", "calibration_spacing_ms",
					   "validation_jobs", "ageing_ms", NULL};
	int by_rate = 0;
	int rc;

	if (!json_is_object(root))
		return bl_error_set(err, BL_EFORMAT, "", "expected a JSON object describing the workload");
	bl_plan_workload_t *w = calloc(1, sizeof *w);
	if (!w)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");

	rc = check_keys(root, "", keys,
			"data_dir, target_p99_ms, arrival, tenants, mix, simulated_jobs, calibration_samples, "
			"calibration_spacing_ms, validation_jobs or ageing_ms",
			err);
	if (rc == 0)
		rc = parse_sizes(w, root, err);
	if (rc == 0)
		rc = parse_tenants(w, json_object_get(root, "tenants"), err);
	if (rc == 0)
		rc = parse_mix(w, json_object_get(root, "mix"), &by_rate, err);
	if (rc == 0)
		rc = parse_arrival(w, json_object_get(root, "arrival"), by_rate == 1, dir, err);
	if (rc < 0)
		goto fail;

	json_t *data_dir = json_object_get(root, "data_dir");
	if (data_dir && !json_is_string(data_dir)) {
		rc = bl_error_set(err, BL_EFORMAT, "data_dir", "expected the folder holding one folder per tenant");
		goto fail;
	}
	w->data_dir = resolve(dir, data_dir ? json_string_value(data_dir) : ".");
	if (!w->data_dir) {
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	*out = w;
	return 0;

fail:
	bl_plan_workload_free(&w);
	return rc;
}

int bl_plan_workload_load(bl_plan_workload_t **out, const char *path, bl_error_t *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (jerr.line < 0)
			return bl_error_set(err, -ENOENT, path, "cannot read the workload file: %s", jerr.text);
		return bl_error_set(err, BL_EFORMAT, path, "invalid JSON at line %d, column %d: %s", jerr.line,
				    jerr.column, jerr.text);
	}

	/* Relative paths in the file are taken from the file's folder. */
	char *copy = strdup(path);
	if (!copy) {
		json_decref(root);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	}
	char *slash = strrchr(copy, '/');
	const char *dir = ".";
	if (slash == copy)
		dir = "/";
	else if (slash) {
		*slash = '\0';
		dir = copy;
	}
	int rc = bl_plan_workload_parse(out, root, dir, err);
	free(copy);
	json_decref(root);
	return rc;
}

void bl_plan_workload_free(bl_plan_workload_t **w)
{
	if (!*w)
		return;
	for (size_t i = 0; i < (*w)->tenant_count; i++)
		free((*w)->tenants[i].name);
	for (size_t i = 0; i < (*w)->entry_count; i++) {
		free((*w)->entries[i].name);
		json_decref((*w)->entries[i].job);
	}
	free((*w)->tenants);
	free((*w)->entries);
	free((*w)->data_dir);
	free((*w)->trace);
	free((*w)->trace_path);
	free(*w);
	*w = NULL;
}

char *bl_plan_job_line(const bl_plan_workload_t *w, const bl_plan_entry_t *entry, const char *id,
		       bl_priority_t priority)
{
	json_t *job = json_deep_copy(entry->job);
	char *line = NULL;

	if (job && json_object_set_new(job, "id", json_string(id)) == 0 &&
	    json_object_set_new(job, "tenant", json_string(w->tenants[entry->tenant].name)) == 0 &&
	    (entry->has_priority || json_object_set_new(job, "priority", json_string(priority_names[priority])) == 0))
		line = json_dumps(job, JSON_COMPACT);
	json_decref(job);
	return line;
}
