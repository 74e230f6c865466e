/*
 * The human block: posts an approval request and parks the job until a
 * person decides or the request expires (docs/blocks/human.md).
 *
 * params: { "summary": "...", "requested_by": "...", "expires_in_ms": N,
 *           "default_decision": "approve" | "reject",   (optional)
 *           "details": { ... },                          (optional)
 *           "fail_on_reject": false }                    (optional)
 */
#include <string.h>

#include "human_run.h"

/* Largest "details" object, encoded. */
#define DETAILS_MAX_BYTES (64u << 10)

typedef struct human_params {
	const char *summary;
	const char *requested_by;
	uint64_t expires_in_ms;
	bl_decision_t default_decision;
	const json_t *details; /* NULL: none */
	bool fail_on_reject;
} human_params_t;

static const char *const known_keys[] = {"summary",		"requested_by", "expires_in_ms", "default_decision",
					 "details",		"fail_on_reject", NULL};

static int check_keys(json_t *params, bl_error_t *err)
{
	const char *key;
	json_t *v;
	char field[BL_ERROR_FIELD_MAX];

	json_object_foreach(params, key, v) {
		bool known = false;
		for (int i = 0; known_keys[i] && !known; i++)
			known = strcmp(key, known_keys[i]) == 0;
		if (known)
			continue;
		snprintf(field, sizeof field, "params.%s", key);
		return bl_error_set(err, BL_EFORMAT, field,
				    "unknown parameter; the human block takes summary, requested_by, expires_in_ms, "
				    "default_decision, details and fail_on_reject");
	}
	return 0;
}

/* A required string of 1 to `max` bytes. */
static int take_text(const json_t *params, const char *key, size_t max, const char **out, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	const json_t *v = json_object_get(params, key);

	snprintf(field, sizeof field, "params.%s", key);
	if (!v)
		return bl_error_set(err, BL_EFORMAT, field, "missing; expected a string of 1 to %zu bytes", max);
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
		return bl_error_set(err, BL_EFORMAT, field, "expected a string of 1 to %zu bytes", max);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bl_error_set(err, BL_EFORMAT, field, "the string contains a NUL character");
	*out = json_string_value(v);
	return 0;
}

static int take_expiry(const json_t *params, const bl_approvals_config_t *cfg, uint64_t timeout_ms, uint64_t *out,
		       bl_error_t *err)
{
	const json_t *v = json_object_get(params, "expires_in_ms");
	if (!v)
		return bl_error_set(err, BL_EFORMAT, "params.expires_in_ms",
				    "missing; expected the milliseconds people have to decide");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > cfg->max_expiry_ms)
		return bl_error_set(err, BL_EINVAL, "params.expires_in_ms",
				    "expected an integer from 1 to %llu (approvals.max_expiry_ms)",
				    (unsigned long long)cfg->max_expiry_ms);

	*out = (uint64_t)json_integer_value(v);
	/* The job's own timeout ends the job as "timeout" and leaves the
	 * request pending; refuse a request that could never apply its
	 * default. */
	if (timeout_ms && *out >= timeout_ms)
		return bl_error_set(err, BL_EINVAL, "params.expires_in_ms",
				    "%llu ms is not shorter than the job's timeout of %llu ms, so the job would time "
				    "out before the default decision applies; raise the job's \"timeout_ms\" (or "
				    "--timeout-ms) above the expiry",
				    (unsigned long long)*out, (unsigned long long)timeout_ms);
	return 0;
}

static int take_options(const json_t *params, const bl_approvals_config_t *cfg, human_params_t *p, bl_error_t *err)
{
	const json_t *v = json_object_get(params, "default_decision");
	p->default_decision = cfg->default_decision;
	if (v && (!json_is_string(v) || bl_decision_parse(&p->default_decision, json_string_value(v)) < 0))
		return bl_error_set(err, BL_EINVAL, "params.default_decision", "expected \"approve\" or \"reject\"");

	p->details = json_object_get(params, "details");
	if (p->details && !json_is_object(p->details))
		return bl_error_set(err, BL_EFORMAT, "params.details", "expected an object");
	size_t size = p->details ? json_dumpb(p->details, NULL, 0, JSON_COMPACT) : 0;
	if (size > DETAILS_MAX_BYTES)
		return bl_error_set(err, BL_ELIMIT, "params.details", "%zu bytes encoded, over the limit of %u", size,
				    DETAILS_MAX_BYTES);

	v = json_object_get(params, "fail_on_reject");
	if (v && !json_is_boolean(v))
		return bl_error_set(err, BL_EFORMAT, "params.fail_on_reject", "expected true or false");
	p->fail_on_reject = v && json_is_true(v);
	return 0;
}

static int parse_params(json_t *params, const bl_block_env_t *env, human_params_t *p, bl_error_t *err)
{
	bl_approvals_t *service = env->services ? env->services->approvals : NULL;
	char id[BL_APPROVAL_ID_MAX + 1];

	memset(p, 0, sizeof *p);
	if (!service)
		return bl_error_set(err, BL_EINVAL, NULL, "the human block has no state folder to keep approvals in; give the engine one (--state-dir)");
	if (!json_is_object(params))
		return bl_error_set(err, BL_EFORMAT, "params", "expected an object");

	const bl_approvals_config_t *cfg = bl_approvals_config(service);
	int rc = check_keys(params, err);
	if (rc == 0)
		rc = take_text(params, "summary", BL_APPROVAL_SUMMARY_MAX, &p->summary, err);
	if (rc == 0)
		rc = take_text(params, "requested_by", BL_APPROVAL_NAME_MAX, &p->requested_by, err);
	if (rc == 0)
		rc = take_expiry(params, cfg, env->timeout_ms, &p->expires_in_ms, err);
	if (rc == 0)
		rc = take_options(params, cfg, p, err);
	if (rc == 0 && env->tenant && env->job_id)
		rc = bl_approval_id(id, sizeof id, env->tenant, env->job_id, err);
	return rc < 0 ? rc : 0;
}

static int human_prepare(json_t *params, const bl_block_env_t *env, uint64_t *mem_estimate, bl_error_t *err)
{
	human_params_t p;
	int rc = parse_params(params, env, &p, err);
	if (rc < 0)
		return rc;
	/* The request as posted, and the run's actor. */
	*mem_estimate = 4096 + strlen(p.summary) + (p.details ? json_dumpb(p.details, NULL, 0, JSON_COMPACT) : 0);
	return 0;
}

/* Build the request file's object; NULL when memory runs out. */
static json_t *build_request(const human_params_t *p, const bl_block_env_t *env, const char *id)
{
	char created[40], expires[40];
	int64_t now = bl_approval_now_ms();
	int64_t until = now + (int64_t)p->expires_in_ms;

	bl_approval_format_time(created, sizeof created, now);
	bl_approval_format_time(expires, sizeof expires, until);
	json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "id", id, "tenant", env->tenant,
			      "job_id", env->job_id, "summary", p->summary, "requested_by", p->requested_by,
			      "default_decision", bl_decision_name(p->default_decision), "created", created,
			      "created_ms", (json_int_t)now, "expires", expires, "expires_ms", (json_int_t)until);
	if (r && p->details)
		json_object_set_new(r, "details", json_deep_copy(p->details));
	if (r && env->traceparent && env->traceparent[0])
		json_object_set_new(r, "traceparent", json_string(env->traceparent));
	return r;
}

static int human_start(json_t *params, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	human_params_t p;
	char id[BL_APPROVAL_ID_MAX + 1];

	if (!env->tenant || !env->job_id || parse_params(params, env, &p, NULL) < 0 ||
	    bl_approval_id(id, sizeof id, env->tenant, env->job_id, NULL) < 0)
		return BL_EINVAL;

	human_run_spec_t spec = {
		.service = env->services->approvals,
		.request = build_request(&p, env, id),
		.fail_on_reject = p.fail_on_reject,
		.env = env,
		.done = done,
		.done_ctx = ctx,
	};
	if (!spec.request)
		return BL_ENOMEM;
	return bl__human_run_start(&spec);
}

const bl_block_t bl__human_block = {
	.name = "human",
	.prepare = human_prepare,
	.start = human_start,
	.load = BL_LOAD_NONE,
};
