/*
 * The human block's parameters: each bad one fails `prepare` with an
 * error naming its field, and the expiry must leave room within the job's
 * own timeout.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <beamline/blocks.h>
#include <beamline/services.h>

typedef struct fixture {
	bl_block_services_t *services;
	bl_block_env_t env;
	const bl_block_t *block;
} fixture_t;

/* Services from `config` (JSON text; NULL: defaults). Nothing is written
 * to the state folder until a job runs, so "/nonexistent" is safe. */
static void fixture_init(fixture_t *f, const char *config)
{
	bl_error_t err = {0};
	json_t *doc = config ? json_loads(config, 0, NULL) : NULL;
	bl_services_setup_t setup = {.config = doc, .state_dir = "/nonexistent/state"};
	int rc = bl_block_services_new(&f->services, &setup, &err);
	json_decref(doc);
	cr_assert_eq(rc, 0, "services: %s", err.message);

	memset(&f->env, 0, sizeof f->env);
	f->env.services = f->services;
	f->env.tenant = "acme";
	f->env.job_id = "job-1";
	f->env.timeout_ms = 60000;
	f->block = bl_block_find("human");
	cr_assert_not_null(f->block, "the human block is not registered");
}

static void fixture_fini(fixture_t *f)
{
	bl_block_services_stop(f->services);
	bl_block_services_free(&f->services);
}

/* Run prepare on `params` (JSON text); returns its code, with *err. */
static int prepare(fixture_t *f, const char *params, bl_error_t *err)
{
	uint64_t mem = 0;
	json_t *p = json_loads(params, 0, NULL);
	cr_assert_not_null(p, "bad test JSON: %s", params);
	int rc = f->block->prepare(p, &f->env, &mem, err);
	json_decref(p);
	return rc;
}

#define BASE "\"summary\":\"deploy\",\"requested_by\":\"ci\""

/* Each bad parameter names itself in the error. */
Test(blocks_human, bad_params_name_the_field)
{
	static const struct {
		const char *params;
		const char *field;
	} bad[] = {
		{"[]", "params"},
		{"{\"requested_by\":\"ci\",\"expires_in_ms\":1000}", "params.summary"},
		{"{\"summary\":\"\",\"requested_by\":\"ci\",\"expires_in_ms\":1000}", "params.summary"},
		{"{\"summary\":7,\"requested_by\":\"ci\",\"expires_in_ms\":1000}", "params.summary"},
		{"{\"summary\":\"s\",\"expires_in_ms\":1000}", "params.requested_by"},
		{"{" BASE "}", "params.expires_in_ms"},
		{"{" BASE ",\"expires_in_ms\":0}", "params.expires_in_ms"},
		{"{" BASE ",\"expires_in_ms\":\"1000\"}", "params.expires_in_ms"},
		{"{" BASE ",\"expires_in_ms\":1.5}", "params.expires_in_ms"},
		{"{" BASE ",\"expires_in_ms\":1000,\"default_decision\":\"yes\"}", "params.default_decision"},
		{"{" BASE ",\"expires_in_ms\":1000,\"details\":[1]}", "params.details"},
		{"{" BASE ",\"expires_in_ms\":1000,\"fail_on_reject\":1}", "params.fail_on_reject"},
		{"{" BASE ",\"expires_in_ms\":1000,\"expiry\":5}", "params.expiry"},
	};
	fixture_t f;
	fixture_init(&f, NULL);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bl_error_t err = {0};
		int rc = prepare(&f, bad[i].params, &err);
		cr_assert_lt(rc, 0, "%s was accepted", bad[i].params);
		cr_assert_str_eq(err.field, bad[i].field, "%s: %s", bad[i].params, err.message);
	}
	bl_error_t err = {0};
	int good = prepare(&f, "{" BASE ",\"expires_in_ms\":1000,\"details\":{\"a\":1},\"fail_on_reject\":true}", &err);
	cr_assert_eq(good, 0, "good params refused: %s", err.message);
	fixture_fini(&f);
}

/* An expiry at or past the job's timeout is refused, naming both; one
 * below it passes. */
Test(blocks_human, expiry_must_be_shorter_than_timeout)
{
	fixture_t f;
	bl_error_t err = {0};
	fixture_init(&f, NULL);
	f.env.timeout_ms = 5000;

	int at = prepare(&f, "{" BASE ",\"expires_in_ms\":5000}", &err);
	cr_assert_lt(at, 0);
	cr_assert_str_eq(err.field, "params.expires_in_ms");
	cr_assert_not_null(strstr(err.message, "timeout of 5000 ms"), "%s", err.message);
	int below = prepare(&f, "{" BASE ",\"expires_in_ms\":4999}", &err);

	cr_assert_eq(below, 0, "%s", err.message);
	fixture_fini(&f);
}

/* approvals.max_expiry_ms bounds the expiry. */
Test(blocks_human, config_bounds_expiry)
{
	fixture_t f;
	bl_error_t err = {0};
	fixture_init(&f, "{\"approvals\": {\"max_expiry_ms\": 1000}}");

	int over = prepare(&f, "{" BASE ",\"expires_in_ms\":1001}", &err);

	cr_assert_lt(over, 0);
	cr_assert_str_eq(err.field, "params.expires_in_ms");
	cr_assert_not_null(strstr(err.message, "approvals.max_expiry_ms"), "%s", err.message);
	fixture_fini(&f);
}

/* A job id that makes the approval id too long for a file name is
 * refused at prepare, not when the job runs. */
Test(blocks_human, long_job_id_refused)
{
	fixture_t f;
	bl_error_t err = {0};
	char job_id[300];
	fixture_init(&f, NULL);
	memset(job_id, 'j', 250);
	job_id[250] = '\0';
	f.env.job_id = job_id;

	int rc = prepare(&f, "{" BASE ",\"expires_in_ms\":1000}", &err);

	cr_assert_eq(rc, BL_ELIMIT);
	cr_assert_str_eq(err.field, "id");
	fixture_fini(&f);
}
