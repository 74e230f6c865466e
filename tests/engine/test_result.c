#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/job.h>

/* Encode `r` and parse the line back; the line must be compact JSON on
 * one line. */
static json_t *round_trip(const bl_job_result_t *r)
{
	json_error_t jerr;

	char *line = bl_job_result_encode(r);
	cr_assert_not_null(line, "expected an encoded result");
	cr_assert_null(strchr(line, '\n'), "expected one line, got \"%s\"", line);
	json_t *back = json_loads(line, 0, &jerr);
	cr_assert_not_null(back, "expected valid JSON, got \"%s\" (%s)", line, jerr.text);
	free(line);
	return back;
}

static const char *text_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Every status has its wire name; a value outside the enum does not crash
 * the lookup. */
Test(engine_result, status_names)
{
	cr_assert_str_eq(bl_job_status_name(BL_JOB_OK), "ok");
	cr_assert_str_eq(bl_job_status_name(BL_JOB_ERROR), "error");
	cr_assert_str_eq(bl_job_status_name(BL_JOB_TIMEOUT), "timeout");
	cr_assert_str_eq(bl_job_status_name(BL_JOB_REJECTED), "rejected");
	cr_assert_str_eq(bl_job_status_name(BL_JOB_CANCELLED), "cancelled");
	cr_assert_str_eq(bl_job_status_name((bl_job_status_t)99), "unknown");
}

/* A successful result carries every part it was given. */
Test(engine_result, ok_result_round_trips)
{
	json_t *value = json_pack("{s:i, s:[f, f]}", "rows", 2, "sum", 1.5, 2.5);
	bl_job_result_t r = {
		.id = "job-1",
		.tenant = "acme",
		.status = BL_JOB_OK,
		.result = value,
		.attempts = 2,
		.pool = "gpu",
		.device = "NVIDIA H200",
		.queued_us = 1500,
		.run_us = 42,
	};

	json_t *back = round_trip(&r);

	cr_assert_str_eq(text_at(back, "id"), "job-1");
	cr_assert_str_eq(text_at(back, "tenant"), "acme");
	cr_assert_str_eq(text_at(back, "status"), "ok");
	cr_assert(json_equal(json_object_get(back, "result"), value), "expected the result value back");
	cr_assert_null(json_object_get(back, "error"), "expected no error part for an ok result");
	cr_assert_eq(json_integer_value(json_object_get(back, "attempts")), 2);
	cr_assert_str_eq(text_at(back, "pool"), "gpu");
	cr_assert_str_eq(text_at(back, "device"), "NVIDIA H200");
	json_t *timing = json_object_get(back, "timing_us");
	cr_assert_eq(json_integer_value(json_object_get(timing, "queued")), 1500);
	cr_assert_eq(json_integer_value(json_object_get(timing, "run")), 42);
	cr_assert_eq(value->refcount, 1u, "expected the borrowed result to keep one reference, got %zu",
		     value->refcount);
	json_decref(back);
	json_decref(value);
}

/* An error result carries the code, message, field and retryable flag. */
Test(engine_result, error_result_round_trips)
{
	bl_job_result_t r = {
		.id = "job-1",
		.tenant = "acme",
		.status = BL_JOB_ERROR,
		.error_code = "invalid_job",
		.error_field = "params.args.k",
		.error_message = "expected a positive integer, got -3",
		.retryable = true,
	};

	json_t *back = round_trip(&r);

	json_t *error = json_object_get(back, "error");
	cr_assert(json_is_object(error), "expected an error object");
	cr_assert_str_eq(text_at(error, "code"), "invalid_job");
	cr_assert_str_eq(text_at(error, "field"), "params.args.k");
	cr_assert_str_eq(text_at(error, "message"), "expected a positive integer, got -3");
	cr_assert(json_is_true(json_object_get(error, "retryable")));
	cr_assert_null(json_object_get(back, "result"));
	json_decref(back);
}

/* Absent parts are left out: NULL or empty strings, no result, no error
 * code, zero attempts. The status and the timing are always present. */
Test(engine_result, absent_parts_are_omitted)
{
	bl_job_result_t r = {.status = BL_JOB_REJECTED, .tenant = "", .error_message = "ignored without a code"};

	json_t *back = round_trip(&r);

	cr_assert_eq(json_object_size(back), 2u, "expected only status and timing_us, got %zu keys",
		     json_object_size(back));
	cr_assert_str_eq(text_at(back, "status"), "rejected");
	json_t *timing = json_object_get(back, "timing_us");
	cr_assert_eq(json_integer_value(json_object_get(timing, "queued")), 0);
	cr_assert_eq(json_integer_value(json_object_get(timing, "run")), 0);
	json_decref(back);
}

/* An error without a field leaves "field" out of the error part. */
Test(engine_result, error_without_field_omits_it)
{
	bl_job_result_t r = {.status = BL_JOB_TIMEOUT, .error_code = "timed_out", .error_field = ""};

	json_t *back = round_trip(&r);

	json_t *error = json_object_get(back, "error");
	cr_assert_str_eq(text_at(error, "code"), "timed_out");
	cr_assert_null(json_object_get(error, "field"));
	cr_assert_null(json_object_get(error, "message"));
	cr_assert(json_is_false(json_object_get(error, "retryable")));
	json_decref(back);
}

/* Every status encodes to its name. */
Test(engine_result, every_status_round_trips)
{
	const bl_job_status_t all[] = {BL_JOB_OK, BL_JOB_ERROR, BL_JOB_TIMEOUT, BL_JOB_REJECTED, BL_JOB_CANCELLED};

	for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
		bl_job_result_t r = {.id = "j", .tenant = "t", .status = all[i]};

		json_t *back = round_trip(&r);

		cr_assert_str_eq(text_at(back, "status"), bl_job_status_name(all[i]));
		json_decref(back);
	}
}

/* The line is compact and keeps the documented key order, so logs read
 * the same way every time. */
Test(engine_result, line_is_compact_and_ordered)
{
	bl_job_result_t r = {
		.id = "job-1", .tenant = "acme", .status = BL_JOB_OK, .attempts = 1, .queued_us = 7, .run_us = 9};

	char *line = bl_job_result_encode(&r);

	cr_assert_str_eq(line, "{\"id\":\"job-1\",\"tenant\":\"acme\",\"status\":\"ok\",\"attempts\":1,"
			       "\"timing_us\":{\"queued\":7,\"run\":9}}");
	free(line);
}

/* Bytes that are not UTF-8, as in a message that quotes bad input or a
 * message cut inside a character, become U+FFFD, so the line is still
 * valid JSON. */
Test(engine_result, invalid_utf8_is_replaced)
{
	bl_job_result_t r = {
		.status = BL_JOB_ERROR,
		.error_code = "invalid_job",
		.error_message = "bad \xFF byte, cut \xC3",
		.error_field = "caf\xC3\xA9",
	};

	json_t *back = round_trip(&r);

	json_t *error = json_object_get(back, "error");
	cr_assert_str_eq(text_at(error, "message"), "bad \xEF\xBF\xBD byte, cut \xEF\xBF\xBD");
	cr_assert_str_eq(text_at(error, "field"), "caf\xC3\xA9", "expected valid UTF-8 to stay as it is");
	json_decref(back);
}

/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8
 * either. */
Test(engine_result, malformed_sequences_are_replaced)
{
	const char *cases[][2] = {
		{"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},
		{"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
		{"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
		{"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_job_result_t r = {.id = cases[i][0], .status = BL_JOB_OK};

		json_t *back = round_trip(&r);

		cr_assert_str_eq(text_at(back, "id"), cases[i][1], "case %zu", i);
		json_decref(back);
	}
}

/* Timings above INT64_MAX, the largest JSON integer, are clamped rather
 * than wrapped into negative numbers. */
Test(engine_result, huge_timing_is_clamped)
{
	bl_job_result_t r = {.status = BL_JOB_OK, .queued_us = UINT64_MAX, .run_us = (uint64_t)INT64_MAX + 1};

	json_t *back = round_trip(&r);

	json_t *timing = json_object_get(back, "timing_us");
	cr_assert_eq(json_integer_value(json_object_get(timing, "queued")), INT64_MAX);
	cr_assert_eq(json_integer_value(json_object_get(timing, "run")), INT64_MAX);
	json_decref(back);
}

/* NULL has nothing to encode. */
Test(engine_result, null_result_encodes_nothing)
{
	cr_assert_null(bl_job_result_encode(NULL));
}

/* The error from a rejected job and its salvaged names make a valid error
 * result, which carries the id, tenant, field and message to the client. */
Test(engine_result, parse_error_makes_error_result)
{
	const char *text = "{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"kernel\",\"timeout_ms\":-3}";
	char id[129], tenant[129];
	bl_job_limits_t lim;
	bl_job_limits_init(&lim);
	bl_job_t *job = NULL;
	bl_error_t err;
	int rc = bl_job_parse(&job, text, strlen(text), &lim, id, tenant, sizeof id, &err);
	cr_assert_eq(rc, BL_EFORMAT);
	bl_job_result_t r = {
		.id = id,
		.tenant = tenant,
		.status = BL_JOB_REJECTED,
		.error_code = "invalid_job",
		.error_field = err.field,
		.error_message = err.message,
	};

	json_t *back = round_trip(&r);

	cr_assert_str_eq(text_at(back, "id"), "job-1");
	cr_assert_str_eq(text_at(back, "tenant"), "acme");
	cr_assert_str_eq(text_at(json_object_get(back, "error"), "field"), "timeout_ms");
	cr_assert_str_eq(text_at(json_object_get(back, "error"), "message"), "expected a positive integer, got -3");
	json_decref(back);
}
