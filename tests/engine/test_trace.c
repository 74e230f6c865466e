#include <criterion/criterion.h>
#include <string.h>

#include <beamline/job.h>
#include <beamline/trace.h>

#define VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* Whether `text` has the shape of a version-00 traceparent: checked here
 * digit by digit, independently of the parser. */
static bool well_formed(const char *text)
{
	if (strlen(text) != 55 || strncmp(text, "00-", 3) != 0 || text[35] != '-' || text[52] != '-')
		return false;
	for (int i = 3; i < 55; i++) {
		if (i == 35 || i == 52)
			continue;
		if (!strchr("0123456789abcdef", text[i]))
			return false;
	}
	return strncmp(text + 3, "00000000000000000000000000000000", 32) != 0 &&
	       strncmp(text + 36, "0000000000000000", 16) != 0;
}

/* The example from the W3C recommendation parses and is kept as given. */
Test(engine_trace, valid_traceparent_parses)
{
	bl_trace_t trace;
	bl_error_t err = {0};

	int rc = bl_trace_parse(&trace, VALID, &err);

	cr_assert_eq(rc, 0, "expected 0, got %d: %s", rc, err.message);
	cr_assert_str_eq(trace.traceparent, VALID);
	char id[33];
	bl_trace_id(id, &trace);
	cr_assert_str_eq(id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

/* Each malformed form is rejected with BL_EFORMAT, the field
 * "traceparent", and a message naming what is wrong. */
Test(engine_trace, malformed_traceparents_rejected)
{
	static const struct {
		const char *text;
		const char *expected; /* a phrase of the message */
	} cases[] = {
		{"", "got 0"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "got 52"},
		{VALID "-extra", "more than 55"},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version '01'"},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version 'ff'"},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "expected '-'"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", "expected '-'"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", "expected '-'"},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "trace id must be lowercase hexadecimal"},
		{"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", "character 35 is 'g'"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01", "parent id must be lowercase"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", "flags must be lowercase"},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "trace id is all zeros"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "parent id is all zeros"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_trace_t trace = {.traceparent = "untouched"};
		bl_error_t err = {0};

		int rc = bl_trace_parse(&trace, cases[i].text, &err);

		cr_assert_eq(rc, BL_EFORMAT, "'%s': expected BL_EFORMAT, got %d", cases[i].text, rc);
		cr_assert_str_eq(err.field, "traceparent", "'%s': field '%s'", cases[i].text, err.field);
		cr_assert(strstr(err.message, cases[i].expected), "'%s': expected '%s' in: %s", cases[i].text,
			  cases[i].expected, err.message);
		cr_assert_str_eq(trace.traceparent, "untouched", "'%s': the output must be left alone", cases[i].text);
	}
}

/* New traces are well formed, parse back, and differ from one another
 * (two equal 128-bit random ids would mean getrandom is not used). */
Test(engine_trace, new_traces_are_valid_and_distinct)
{
	bl_trace_t a, b, parsed;

	cr_assert_eq(bl_trace_new(&a), 0);
	cr_assert_eq(bl_trace_new(&b), 0);

	cr_assert(well_formed(a.traceparent), "not a traceparent: %s", a.traceparent);
	cr_assert_eq(bl_trace_parse(&parsed, a.traceparent, NULL), 0, "does not parse back: %s", a.traceparent);
	cr_assert_str_neq(a.traceparent, b.traceparent, "two new traces are equal: %s", a.traceparent);
	cr_assert_str_eq(a.traceparent + 53, "00", "a new trace has flags 00, got %s", a.traceparent + 53);
}

/* continue keeps a valid incoming context and starts a new one for a
 * missing or malformed one; child keeps the trace id and flags and
 * changes the parent id. */
Test(engine_trace, continue_and_child)
{
	bl_trace_t kept, fresh, none, child;

	int kept_rc = bl_trace_continue(&kept, VALID);
	int fresh_rc = bl_trace_continue(&fresh, "00-zz");
	int none_rc = bl_trace_continue(&none, NULL);
	int child_rc = bl_trace_child(&child, &kept);

	cr_assert_eq(kept_rc, 1, "a valid context must be kept, got %d", kept_rc);
	cr_assert_str_eq(kept.traceparent, VALID);
	cr_assert_eq(fresh_rc, 0, "a malformed context must be replaced, got %d", fresh_rc);
	cr_assert(well_formed(fresh.traceparent), "not a traceparent: %s", fresh.traceparent);
	cr_assert_eq(none_rc, 0, "no context must start one, got %d", none_rc);
	cr_assert(well_formed(none.traceparent), "not a traceparent: %s", none.traceparent);
	cr_assert_eq(child_rc, 0);
	cr_assert(well_formed(child.traceparent), "not a traceparent: %s", child.traceparent);
	cr_assert(strncmp(child.traceparent, VALID, 36) == 0, "the trace id must stay: %s", child.traceparent);
	cr_assert_str_eq(child.traceparent + 52, "-01", "the flags must stay: %s", child.traceparent);
	cr_assert(strncmp(child.traceparent + 36, VALID + 36, 16) != 0, "the parent id must change");
}

/* A job's traceparent field is kept; a malformed one fails the job naming
 * the field; a job without one has "" until the engine sets one. */
Test(engine_trace, job_traceparent_field)
{
	const char *with = "{\"id\":\"a\",\"tenant\":\"t\",\"block\":\"kernel\",\"traceparent\":\"" VALID "\"}";
	const char *bad = "{\"id\":\"b\",\"tenant\":\"t\",\"block\":\"kernel\",\"traceparent\":\"00-1-2-3\"}";
	const char *without = "{\"id\":\"c\",\"tenant\":\"t\",\"block\":\"kernel\"}";
	bl_job_limits_t lim;
	bl_job_limits_init(&lim);
	bl_job_t *job = NULL, *plain = NULL, *never = NULL;
	bl_error_t err = {0};

	int with_rc = bl_job_parse(&job, with, strlen(with), &lim, NULL, NULL, 0, NULL);
	int bad_rc = bl_job_parse(&never, bad, strlen(bad), &lim, NULL, NULL, 0, &err);
	int without_rc = bl_job_parse(&plain, without, strlen(without), &lim, NULL, NULL, 0, NULL);

	cr_assert_eq(with_rc, 0);
	cr_assert_str_eq(job->traceparent, VALID);
	cr_assert_eq(bad_rc, BL_EFORMAT, "expected BL_EFORMAT, got %d", bad_rc);
	cr_assert_str_eq(err.field, "traceparent");
	cr_assert_null(never);
	cr_assert_eq(without_rc, 0);
	cr_assert_str_eq(plain->traceparent, "");
	bl_job_free(&job);
	bl_job_free(&plain);
}

/* A result encodes its traceparent after the device and before the timing. */
Test(engine_trace, result_carries_traceparent)
{
	bl_job_result_t r = {.id = "a", .tenant = "t", .status = BL_JOB_OK, .device = "cpu", .traceparent = VALID};

	char *line = bl_job_result_encode(&r);

	cr_assert_not_null(line);
	cr_assert(strstr(line, "\"device\":\"cpu\",\"traceparent\":\"" VALID "\",\"timing_us\""), "got %s", line);
	free(line);
}
