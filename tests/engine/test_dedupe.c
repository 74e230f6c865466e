#include <criterion/criterion.h>
#include <string.h>

#include "dedupe.h"

static bl_job_t *parse(const char *text)
{
	bl_job_limits_t limits;
	bl_job_t *job = NULL;
	char id[200], tenant[200];
	bl_error_t err;
	bl_job_limits_init(&limits);
	int rc = bl_job_parse(&job, text, strlen(text), &limits, id, tenant, sizeof id, &err);
	cr_assert_eq(rc, 0, "cannot parse %s: %s", text, err.message);
	return job;
}

static uint64_t fingerprint_of(const char *text)
{
	bl_job_t *job = parse(text);
	uint64_t fingerprint = bl_dedupe_fingerprint(job);
	bl_job_free(&job);
	return fingerprint;
}

#define JOB(params) "{\"id\":\"a\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":" params "}"

Test(engine_dedupe, member_order_is_ignored)
{
	uint64_t a = fingerprint_of(JOB("{\"kernel\":\"reduce\",\"args\":{\"op\":\"sum\",\"axis\":0}}"));
	uint64_t b = fingerprint_of(JOB("{\"args\":{\"axis\":0,\"op\":\"sum\"},\"kernel\":\"reduce\"}"));

	cr_assert_eq(a, b);
}

/* Each pair differs in one place; every pair must hash apart. */
Test(engine_dedupe, any_change_is_seen)
{
	static const char *pairs[][2] = {
		{JOB("{\"x\":[1,2]}"), JOB("{\"x\":[2,1]}")},
		{JOB("{\"x\":1}"), JOB("{\"x\":1.0}")},
		{JOB("{\"x\":\"a\"}"), JOB("{\"y\":\"a\"}")},
		{JOB("{\"x\":true}"), JOB("{\"x\":false}")},
		{JOB("{\"x\":null}"), JOB("{\"x\":{}}")},
		{JOB("{\"x\":[[1],[2]]}"), JOB("{\"x\":[[1,2]]}")},
		{JOB("{\"a\":{\"b\":1},\"c\":2}"), JOB("{\"a\":{\"c\":2},\"b\":1}")},
		{JOB("{}"), "{\"id\":\"a\",\"tenant\":\"t\",\"block\":\"kernel\",\"priority\":\"high\",\"params\":{}}"},
		{JOB("{}"), "{\"id\":\"a\",\"tenant\":\"t\",\"block\":\"kernel\",\"timeout_ms\":5,\"params\":{}}"},
	};

	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
		cr_assert_neq(fingerprint_of(pairs[i][0]), fingerprint_of(pairs[i][1]), "same fingerprint: %s and %s",
			      pairs[i][0], pairs[i][1]);
}

/* A finished job's result line is kept only while it fits in the byte budget. */
Test(engine_dedupe, lines_kept_within_budget)
{
	bl_dedupe_t dedupe;
	bl_dedupe_init(&dedupe, 10);
	bl_job_t *short_job = parse(JOB("{}"));
	bl_job_t *long_job = parse("{\"id\":\"b\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{}}");

	cr_assert_null(bl_dedupe_lookup(&dedupe, short_job, 1), "a new id has no entry");
	cr_assert_null(bl_dedupe_lookup(&dedupe, long_job, 2));
	bl_dedupe_finish(&dedupe, short_job, strdup("12345"), BL_JOB_OK);
	bl_dedupe_finish(&dedupe, long_job, strdup("0123456789abcdef"), BL_JOB_ERROR);

	bl_dedupe_entry_t *entry = bl_dedupe_get(&dedupe, short_job);
	cr_assert(entry->finished);
	cr_assert_str_eq(entry->line, "12345");
	entry = bl_dedupe_get(&dedupe, long_job);
	cr_assert(entry->finished);
	cr_assert_null(entry->line, "a line over the budget must not be kept");
	cr_assert_eq(entry->status, BL_JOB_ERROR, "the status is kept either way");
	bl_job_free(&short_job);
	bl_job_free(&long_job);
	bl_dedupe_clear(&dedupe);
}
