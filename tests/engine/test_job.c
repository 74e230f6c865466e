#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/job.h>

/* A valid job with every field, and one with only the required fields. */
#define FULL_JOB                                                                                                       \
	"{\"id\":\"job-1\",\"tenant\":\"acme\",\"priority\":\"high\",\"block\":\"kernel\","                            \
	"\"params\":{\"op\":\"matmul\",\"n\":[1,2,3]},\"timeout_ms\":30000,"                                           \
	"\"deadline\":\"2026-12-04T21:00:00Z\","                                                                       \
	"\"retry\":{\"max_attempts\":3,\"backoff_ms\":250,\"max_backoff_ms\":5000}}"
#define MINIMAL_JOB "{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"kernel\"}"

/* The required fields, for building a job with one more field. */
#define BASE "\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"kernel\""

#define NAME_SIZE 256

typedef struct outcome {
	int rc;
	bl_error_t err;
	bl_job_t *job;
	char id[NAME_SIZE];
	char tenant[NAME_SIZE];
} outcome_t;

static bl_job_limits_t default_limits(void)
{
	bl_job_limits_t lim;
	bl_job_limits_init(&lim);
	return lim;
}

static outcome_t parse_limited(const char *text, size_t len, const bl_job_limits_t *lim)
{
	outcome_t o = {.rc = 1};

	/* Sentinels show whether the parser cleared the name buffers. */
	memset(o.id, 'x', sizeof o.id - 1);
	memset(o.tenant, 'x', sizeof o.tenant - 1);
	o.rc = bl_job_parse(&o.job, text, len, lim, o.id, o.tenant, sizeof o.id, &o.err);
	return o;
}

static outcome_t parse(const char *text)
{
	bl_job_limits_t lim = default_limits();
	return parse_limited(text, strlen(text), &lim);
}

/* A job literal with the required fields and `extra`. */
#define JOB_WITH(extra) "{" BASE "," extra "}"

/* Write a job with the required fields and `extra` into `buf`. */
static const char *format_job(char *buf, size_t size, const char *extra)
{
	snprintf(buf, size, "{" BASE ",%s}", extra);
	return buf;
}

static void expect_ok(const outcome_t *o, const char *text)
{
	cr_assert_eq(o->rc, 0, "expected %s to parse, got %d (%s: %s)", text, o->rc, o->err.field, o->err.message);
	cr_assert_not_null(o->job);
}

static void expect_error(const outcome_t *o, const char *text, int code, const char *field)
{
	cr_assert_eq(o->rc, code, "expected %s for %s, got %s (%s: %s)", bl_err_name(code), text, bl_err_name(o->rc),
		     o->err.field, o->err.message);
	cr_assert_eq(o->err.code, code, "expected err.code %d, got %d", code, o->err.code);
	cr_assert_str_eq(o->err.field, field, "expected field \"%s\" for %s, got \"%s\" (%s)", field, text,
			 o->err.field, o->err.message);
	cr_assert_null(o->job, "expected no job after an error");
	cr_assert_neq(o->err.message[0], '\0', "expected a message for %s", text);
}

static void expect_message_has(const outcome_t *o, const char *part)
{
	cr_assert_not_null(strstr(o->err.message, part), "expected the message to contain \"%s\", got \"%s\"", part,
			   o->err.message);
}

/* The defaults are the documented ones: 1 MiB, depth 32, strings of
 * 64 KiB, 65,536 array items, 1,024 keys, names of 128 bytes, 24 hours. */
Test(engine_job, limits_init_sets_defaults)
{
	bl_job_limits_t lim;

	bl_job_limits_init(&lim);

	cr_assert_eq(lim.max_bytes, 1048576u);
	cr_assert_eq(lim.max_depth, 32u);
	cr_assert_eq(lim.max_string_bytes, 65536u);
	cr_assert_eq(lim.max_array_items, 65536u);
	cr_assert_eq(lim.max_object_keys, 1024u);
	cr_assert_eq(lim.max_name_bytes, 128u);
	cr_assert_eq(lim.max_timeout_ms, 86400000u);
}

/* Every priority has its wire name; a value outside the enum does not
 * crash the lookup. */
Test(engine_job, priority_names)
{
	cr_assert_str_eq(bl_priority_name(BL_PRIORITY_CRITICAL), "critical");
	cr_assert_str_eq(bl_priority_name(BL_PRIORITY_HIGH), "high");
	cr_assert_str_eq(bl_priority_name(BL_PRIORITY_NORMAL), "normal");
	cr_assert_str_eq(bl_priority_name(BL_PRIORITY_LOW), "low");
	cr_assert_str_eq(bl_priority_name((bl_priority_t)BL_PRIORITY_COUNT), "unknown");
}

/* A job with every field set keeps every value. */
Test(engine_job, full_job_keeps_every_field)
{
	outcome_t o = parse(FULL_JOB);

	expect_ok(&o, FULL_JOB);
	cr_assert_str_eq(o.job->id, "job-1");
	cr_assert_str_eq(o.job->tenant, "acme");
	cr_assert_eq(o.job->priority, BL_PRIORITY_HIGH);
	cr_assert_str_eq(o.job->block, "kernel");
	cr_assert_str_eq(json_string_value(json_object_get(o.job->params, "op")), "matmul");
	cr_assert_eq(json_array_size(json_object_get(o.job->params, "n")), 3u);
	cr_assert_eq(o.job->timeout_ms, 30000u);
	cr_assert(o.job->has_deadline);
	cr_assert_eq(o.job->deadline_ms, INT64_C(1796418000000), "expected 1796418000000, got %lld",
		     (long long)o.job->deadline_ms);
	cr_assert_eq(o.job->retry.max_attempts, 3u);
	cr_assert_eq(o.job->retry.backoff_ms, 250u);
	cr_assert_eq(o.job->retry.max_backoff_ms, 5000u);
	cr_assert_str_eq(o.id, "job-1");
	cr_assert_str_eq(o.tenant, "acme");
	bl_job_free(&o.job);
	cr_assert_null(o.job, "expected bl_job_free to clear the pointer");
}

/* Optional fields get their defaults: normal priority, empty params, no
 * timeout, no deadline, one attempt. */
Test(engine_job, minimal_job_gets_defaults)
{
	outcome_t o = parse(MINIMAL_JOB);

	expect_ok(&o, MINIMAL_JOB);
	cr_assert_eq(o.job->priority, BL_PRIORITY_NORMAL);
	cr_assert(json_is_object(o.job->params), "expected params to default to an object");
	cr_assert_eq(json_object_size(o.job->params), 0u);
	cr_assert_eq(o.job->timeout_ms, 0u);
	cr_assert_not(o.job->has_deadline);
	cr_assert_eq(o.job->retry.max_attempts, 1u);
	bl_job_free(&o.job);
}

/* bl_job_free accepts NULL and a pointer to NULL. */
Test(engine_job, free_accepts_null)
{
	bl_job_t *job = NULL;

	bl_job_free(&job);
	bl_job_free(NULL);

	cr_assert_null(job);
}

/* Each of the four priority names parses to its enum value. */
Test(engine_job, every_priority_parses)
{
	for (int p = 0; p < BL_PRIORITY_COUNT; p++) {
		char extra[64];
		snprintf(extra, sizeof extra, "\"priority\":\"%s\"", bl_priority_name((bl_priority_t)p));
		char buf[512];
		const char *text = format_job(buf, sizeof buf, extra);

		outcome_t o = parse(text);

		expect_ok(&o, text);
		cr_assert_eq(o.job->priority, (bl_priority_t)p, "expected priority %d for %s, got %d", p, text,
			     o.job->priority);
		bl_job_free(&o.job);
	}
}

/* Priority names are exact: another word, another case or an empty
 * string is rejected and the message lists the four names. */
Test(engine_job, unknown_priority_is_rejected)
{
	const char *bad[] = {"\"priority\":\"urgent\"", "\"priority\":\"HIGH\"", "\"priority\":\"\"",
			     "\"priority\":\"normal \""};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char buf[512];
		const char *text = format_job(buf, sizeof buf, bad[i]);

		outcome_t o = parse(text);

		expect_error(&o, text, BL_EFORMAT, "priority");
		expect_message_has(&o, "\"critical\", \"high\", \"normal\" or \"low\"");
	}
}

/* id, tenant and block are required; each missing one is named. */
Test(engine_job, missing_required_field_is_named)
{
	const char *cases[][2] = {
		{"{\"tenant\":\"acme\",\"block\":\"kernel\"}", "id"},
		{"{\"id\":\"job-1\",\"block\":\"kernel\"}", "tenant"},
		{"{\"id\":\"job-1\",\"tenant\":\"acme\"}", "block"},
		{"{}", "id"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		outcome_t o = parse(cases[i][0]);

		expect_error(&o, cases[i][0], BL_EFORMAT, cases[i][1]);
		expect_message_has(&o, "missing");
	}
}

/* A wrong type for any field is rejected with the field's path and the
 * type that was found. null is a wrong type too: an optional field is
 * either absent or of its type. */
Test(engine_job, wrong_type_names_field_and_found_type)
{
	const struct {
		const char *text;
		const char *field;
		const char *found;
	} cases[] = {
		{"{\"id\":5,\"tenant\":\"acme\",\"block\":\"kernel\"}", "id", "got an integer"},
		{"{\"id\":\"job-1\",\"tenant\":[],\"block\":\"kernel\"}", "tenant", "got an array"},
		{"{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":true}", "block", "got true"},
		{"{" BASE ",\"priority\":1}", "priority", "got an integer"},
		{"{" BASE ",\"params\":[]}", "params", "got an array"},
		{"{" BASE ",\"params\":null}", "params", "got null"},
		{"{" BASE ",\"params\":\"x\"}", "params", "got a string"},
		{"{" BASE ",\"timeout_ms\":\"30\"}", "timeout_ms", "got a string"},
		{"{" BASE ",\"timeout_ms\":1.5}", "timeout_ms", "got a real number"},
		{"{" BASE ",\"timeout_ms\":30000.0}", "timeout_ms", "got a real number"},
		{"{" BASE ",\"deadline\":0}", "deadline", "got an integer"},
		{"{" BASE ",\"deadline\":null}", "deadline", "got null"},
		{"{" BASE ",\"retry\":3}", "retry", "got an integer"},
		{"{" BASE ",\"retry\":{\"max_attempts\":\"3\"}}", "retry.max_attempts", "got a string"},
		{"{" BASE ",\"retry\":{\"backoff_ms\":1.0}}", "retry.backoff_ms", "got a real number"},
		{"{" BASE ",\"retry\":{\"max_backoff_ms\":null}}", "retry.max_backoff_ms", "got null"},
		{"{" BASE ",\"retry\":{\"max_attempts\":false}}", "retry.max_attempts", "got false"},
		{"{\"id\":{},\"tenant\":\"acme\",\"block\":\"kernel\"}", "id", "got an object"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		outcome_t o = parse(cases[i].text);

		expect_error(&o, cases[i].text, BL_EFORMAT, cases[i].field);
		expect_message_has(&o, cases[i].found);
	}
}

/* An unknown top-level field is reported by name, so a typo such as
 * "timeout" for "timeout_ms" is not silently ignored. */
Test(engine_job, unknown_field_is_named)
{
	const char *text = JOB_WITH("\"timeout\":30000");

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "timeout");
	expect_message_has(&o, "unknown field");
	cr_assert_str_eq(o.id, "job-1", "expected the id to be salvaged, got \"%s\"", o.id);
}

/* Unknown fields inside retry are named with their path. */
Test(engine_job, unknown_retry_field_is_named)
{
	const char *text = JOB_WITH("\"retry\":{\"attempts\":3}");

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "retry.attempts");
}

/* Ids and tenants share the rule: 1 to max_name_bytes of [A-Za-z0-9._-],
 * and not "." or "..". A name over the limit is BL_ELIMIT; a name of the
 * wrong form is BL_EFORMAT. */
Test(engine_job, bad_names_are_rejected)
{
	char long_name[140];
	memset(long_name, 'a', 129);
	long_name[129] = '\0';
	const struct {
		const char *name; /* as written in JSON, without quotes */
		int code;
		const char *hint;
	} cases[] = {
		{"", BL_EFORMAT, "empty string"},
		{long_name, BL_ELIMIT, "129 bytes"},
		{"a/b", BL_EFORMAT, "0x2F"},
		{"../etc", BL_EFORMAT, "0x2F"},
		{"a b", BL_EFORMAT, "0x20"},
		{"caf\xC3\xA9", BL_EFORMAT, "0xC3"},
		{"caf\\u00e9", BL_EFORMAT, "0xC3"},
		{"tab\\t", BL_EFORMAT, "0x09"},
		{".", BL_EFORMAT, "directory"},
		{"..", BL_EFORMAT, "directory"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		for (int which = 0; which < 2; which++) {
			char text[512];
			if (which == 0)
				snprintf(text, sizeof text, "{\"id\":\"%s\",\"tenant\":\"acme\",\"block\":\"kernel\"}",
					 cases[i].name);
			else
				snprintf(text, sizeof text, "{\"id\":\"job-1\",\"tenant\":\"%s\",\"block\":\"kernel\"}",
					 cases[i].name);

			outcome_t o = parse(text);

			expect_error(&o, text, cases[i].code, which == 0 ? "id" : "tenant");
			expect_message_has(&o, cases[i].hint);
		}
	}
}

/* A NUL byte written as \u0000 is rejected while the text is parsed, and
 * the error still names the field it is in. */
Test(engine_job, nul_escape_in_name_is_rejected)
{
	const char *id_text = "{\"id\":\"a\\u0000b\",\"tenant\":\"acme\",\"block\":\"kernel\"}";
	const char *tenant_text = "{\"id\":\"job-1\",\"tenant\":\"ac\\u0000me\",\"block\":\"kernel\"}";

	outcome_t id = parse(id_text);
	outcome_t tenant = parse(tenant_text);

	expect_error(&id, id_text, BL_EFORMAT, "id");
	expect_message_has(&id, "NUL");
	cr_assert_str_eq(id.id, "", "expected no salvaged id, got \"%s\"", id.id);
	expect_error(&tenant, tenant_text, BL_EFORMAT, "tenant");
	cr_assert_str_eq(tenant.id, "job-1", "expected the id to be salvaged, got \"%s\"", tenant.id);
}

/* A NUL byte inside params is rejected the same way, with its path. */
Test(engine_job, nul_escape_in_params_is_rejected)
{
	const char *text = JOB_WITH("\"params\":{\"list\":[\"ok\",\"bad\\u0000\"]}");

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "params.list[1]");
}

/* Names at the limit and with every allowed kind of character pass. */
Test(engine_job, good_names_are_accepted)
{
	char name[129];
	memset(name, 'Z', 128);
	name[128] = '\0';
	const char *names[] = {name, "Ab_c-9", "-", "a-b", "a_"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char text[512];
		snprintf(text, sizeof text, "{\"id\":\"%s\",\"tenant\":\"%s\",\"block\":\"kernel\"}", names[i],
			 names[i]);

		outcome_t o = parse(text);

		expect_ok(&o, text);
		cr_assert_str_eq(o.job->id, names[i]);
		cr_assert_str_eq(o.job->tenant, names[i]);
		bl_job_free(&o.job);
	}
}

/* A dot is fine in an id, but not in a tenant's name: the engine keeps its
 * own state in DATA_DIR/.beamline, which a tenant called ".beamline" would
 * reach, and a dot would split the tenant's NATS subjects. */
Test(engine_job, tenant_names_have_no_dot)
{
	const char *names[] = {".beamline", "...", ".x", "a.b", "a."};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char text[512];
		snprintf(text, sizeof text, "{\"id\":\"%s\",\"tenant\":\"t\",\"block\":\"kernel\"}", names[i]);
		outcome_t as_id = parse(text);
		expect_ok(&as_id, text);
		bl_job_free(&as_id.job);

		snprintf(text, sizeof text, "{\"id\":\"j\",\"tenant\":\"%s\",\"block\":\"kernel\"}", names[i]);
		outcome_t as_tenant = parse(text);
		expect_error(&as_tenant, text, BL_EFORMAT, "tenant");
		expect_message_has(&as_tenant, "without '.'");
	}
}

/* The name limit is configurable, and escapes are counted after decoding:
 * "\u0061" is the one-byte name "a". */
Test(engine_job, name_limit_is_configurable)
{
	bl_job_limits_t lim = default_limits();
	lim.max_name_bytes = 4;
	const char *ok = "{\"id\":\"\\u0061bcd\",\"tenant\":\"acme\",\"block\":\"kern\"}";
	const char *too_long = "{\"id\":\"abcde\",\"tenant\":\"acme\",\"block\":\"kern\"}";
	const char *block_too_long = "{\"id\":\"abcd\",\"tenant\":\"acme\",\"block\":\"kernel\"}";

	outcome_t a = parse_limited(ok, strlen(ok), &lim);
	outcome_t b = parse_limited(too_long, strlen(too_long), &lim);
	outcome_t c = parse_limited(block_too_long, strlen(block_too_long), &lim);

	expect_ok(&a, ok);
	cr_assert_str_eq(a.job->id, "abcd");
	bl_job_free(&a.job);
	expect_error(&b, too_long, BL_ELIMIT, "id");
	expect_error(&c, block_too_long, BL_ELIMIT, "block");
}

/* Block names are non-empty and use only lower-case letters and '_'. */
Test(engine_job, bad_block_names_are_rejected)
{
	const char *bad[] = {"\"\"", "\"Kernel\"", "\"ker-nel\"", "\"kernel2\"", "\"dag/x\""};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char text[256];
		snprintf(text, sizeof text, "{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":%s}", bad[i]);

		outcome_t o = parse(text);

		expect_error(&o, text, BL_EFORMAT, "block");
	}
}

/* timeout_ms is a positive integer up to max_timeout_ms: 1 and the limit
 * pass, the limit + 1 is BL_ELIMIT, and 0 or a negative value is
 * BL_EFORMAT with the value in the message. */
Test(engine_job, timeout_bounds)
{
	const struct {
		const char *value;
		int code;
		const char *hint;
	} cases[] = {
		{"1", 0, NULL},
		{"86400000", 0, NULL},
		{"86400001", BL_ELIMIT, "got 86400001"},
		{"0", BL_EFORMAT, "got 0"},
		{"-3", BL_EFORMAT, "expected a positive integer, got -3"},
		{"-9223372036854775808", BL_EFORMAT, "got -9223372036854775808"},
		{"1e3", BL_EFORMAT, "got a real number"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char extra[64];
		snprintf(extra, sizeof extra, "\"timeout_ms\":%s", cases[i].value);
		char buf[512];
		const char *text = format_job(buf, sizeof buf, extra);

		outcome_t o = parse(text);

		if (cases[i].code == 0) {
			expect_ok(&o, text);
			cr_assert_eq(o.job->timeout_ms, strtoull(cases[i].value, NULL, 10));
			bl_job_free(&o.job);
			continue;
		}
		expect_error(&o, text, cases[i].code, "timeout_ms");
		expect_message_has(&o, cases[i].hint);
	}
}

/* An integer too large for 64 bits is a JSON error that the parser reports;
 * the error still names timeout_ms. */
Test(engine_job, timeout_overflow_names_field)
{
	const char *text = JOB_WITH("\"timeout_ms\":99999999999999999999");

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "timeout_ms");
	expect_message_has(&o, "invalid JSON");
}

/* The timeout limit follows the configured max_timeout_ms. */
Test(engine_job, timeout_limit_is_configurable)
{
	bl_job_limits_t lim = default_limits();
	lim.max_timeout_ms = 1000;
	const char *ok = JOB_WITH("\"timeout_ms\":1000");
	outcome_t a = parse_limited(ok, strlen(ok), &lim);
	expect_ok(&a, ok);
	bl_job_free(&a.job);

	const char *over = JOB_WITH("\"timeout_ms\":1001");
	outcome_t b = parse_limited(over, strlen(over), &lim);

	expect_error(&b, over, BL_ELIMIT, "timeout_ms");
}

/* Valid RFC 3339 deadlines become Unix milliseconds: offsets are
 * subtracted, fractions are cut to milliseconds, 't' and 'z' may be lower
 * case, and a leap second at 23:59:60 UTC counts as the next midnight. */
Test(engine_job, valid_deadlines_convert_to_unix_ms)
{
	const struct {
		const char *text;
		long long ms;
	} cases[] = {
		{"1970-01-01T00:00:00Z", 0},
		{"2026-12-04T21:00:00Z", 1796418000000},
		{"2026-12-04T22:30:00+01:30", 1796418000000},
		{"2026-12-04T16:00:00-05:00", 1796418000000},
		{"2026-12-04T21:00:00-00:00", 1796418000000},
		{"2026-12-04t21:00:00z", 1796418000000},
		{"2026-12-04T21:00:00.5Z", 1796418000500},
		{"2026-12-04T21:00:00.123456789Z", 1796418000123},
		{"2026-12-04T21:00:00.07+00:00", 1796418000070},
		{"1969-12-31T23:59:59.999Z", -1},
		{"2024-02-29T00:00:00Z", 1709164800000},
		{"2000-03-01T00:00:00Z", 951868800000},
		{"2016-12-31T23:59:60Z", 1483228800000},
		{"2017-01-01T00:59:60+01:00", 1483228800000},
		{"0001-01-01T00:00:00Z", -62135596800000},
		{"0000-01-01T00:00:00Z", -62167219200000},
		{"9999-12-31T23:59:59Z", 253402300799000},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char extra[128];
		snprintf(extra, sizeof extra, "\"deadline\":\"%s\"", cases[i].text);
		char buf[512];
		const char *text = format_job(buf, sizeof buf, extra);

		outcome_t o = parse(text);

		expect_ok(&o, text);
		cr_assert(o.job->has_deadline);
		cr_assert_eq(o.job->deadline_ms, cases[i].ms, "expected %lld for %s, got %lld", cases[i].ms,
			     cases[i].text, (long long)o.job->deadline_ms);
		bl_job_free(&o.job);
	}
}

/* Invalid deadlines are BL_EFORMAT on "deadline" and the message states
 * what is wrong: days that do not exist, a missing time zone, a space for
 * 'T', out-of-range fields, short fields and trailing text. */
Test(engine_job, invalid_deadlines_are_rejected)
{
	const struct {
		const char *text;
		const char *hint;
	} cases[] = {
		{"2026-02-30T00:00:00Z", "which has 28 days"},
		{"2025-02-29T00:00:00Z", "which has 28 days"},
		{"2100-02-29T00:00:00Z", "which has 28 days"},
		{"2026-04-31T00:00:00Z", "which has 30 days"},
		{"2026-12-00T00:00:00Z", "day 00"},
		{"2026-13-01T00:00:00Z", "month 13"},
		{"2026-00-01T00:00:00Z", "month 00"},
		{"2026-12-04T21:00:00", "time zone is missing"},
		{"2026-12-04T21:00:00.5", "time zone is missing"},
		{"2026-12-04 21:00:00Z", "'T'"},
		{"2026-12-04", "'T'"},
		{"2026-12-04T24:00:00Z", "does not exist"},
		{"2026-12-04T21:60:00Z", "does not exist"},
		{"2026-12-04T21:00:61Z", "does not exist"},
		{"2026-12-04T12:00:60Z", "leap second"},
		{"2026-12-04T21:00:00.Z", "digit must follow"},
		{"2026-12-04T21:00:00+2:00", "+hh:mm"},
		{"2026-12-04T21:00:00+0200", "+hh:mm"},
		{"2026-12-04T21:00:00+24:00", "offset 24:00"},
		{"2026-12-04T21:00:00+01:60", "offset 01:60"},
		{"2026-12-04T21:00:00Zjunk", "after the time zone"},
		{"2026-12-04T21:00:00ZZ", "after the time zone"},
		{"26-12-04T21:00:00Z", "YYYY-MM-DD"},
		{"2026-1-04T21:00:00Z", "YYYY-MM-DD"},
		{"2026-12-04T21:00Z", "hh:mm:ss"},
		{"+2026-12-04T21:00:00Z", "YYYY-MM-DD"},
		{"", "YYYY-MM-DD"},
		{"2026-12-04T21:00:00UTC", "Z or an offset"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char extra[128];
		snprintf(extra, sizeof extra, "\"deadline\":\"%s\"", cases[i].text);
		char buf[512];
		const char *text = format_job(buf, sizeof buf, extra);

		outcome_t o = parse(text);

		expect_error(&o, text, BL_EFORMAT, "deadline");
		expect_message_has(&o, cases[i].hint);
	}
}

/* max_attempts is 1 to 100; backoffs are non-negative, bounded by
 * max_timeout_ms, and max_backoff_ms must not be below backoff_ms. */
Test(engine_job, retry_bounds)
{
	const struct {
		const char *retry;
		int code;
		const char *field;
	} cases[] = {
		{"{\"max_attempts\":1}", 0, NULL},
		{"{\"max_attempts\":100}", 0, NULL},
		{"{}", 0, NULL},
		{"{\"max_attempts\":0}", BL_EFORMAT, "retry.max_attempts"},
		{"{\"max_attempts\":101}", BL_EFORMAT, "retry.max_attempts"},
		{"{\"max_attempts\":-1}", BL_EFORMAT, "retry.max_attempts"},
		{"{\"backoff_ms\":0,\"max_backoff_ms\":0}", 0, NULL},
		{"{\"backoff_ms\":-1}", BL_EFORMAT, "retry.backoff_ms"},
		{"{\"backoff_ms\":86400001}", BL_ELIMIT, "retry.backoff_ms"},
		{"{\"max_backoff_ms\":86400001}", BL_ELIMIT, "retry.max_backoff_ms"},
		{"{\"backoff_ms\":500,\"max_backoff_ms\":499}", BL_EFORMAT, "retry.max_backoff_ms"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char extra[128];
		snprintf(extra, sizeof extra, "\"retry\":%s", cases[i].retry);
		char buf[512];
		const char *text = format_job(buf, sizeof buf, extra);

		outcome_t o = parse(text);

		if (cases[i].code == 0) {
			expect_ok(&o, text);
			bl_job_free(&o.job);
		} else {
			expect_error(&o, text, cases[i].code, cases[i].field);
		}
	}
}

/* Absent retry members take defaults: 1 attempt, 100 ms, and a cap of
 * 10,000 ms or backoff_ms when that is larger. */
Test(engine_job, retry_defaults)
{
	const char *small = JOB_WITH("\"retry\":{\"max_attempts\":5}");
	const char *large = JOB_WITH("\"retry\":{\"backoff_ms\":20000}");

	outcome_t a = parse(small);
	outcome_t b = parse(large);

	expect_ok(&a, small);
	cr_assert_eq(a.job->retry.max_attempts, 5u);
	cr_assert_eq(a.job->retry.backoff_ms, 100u);
	cr_assert_eq(a.job->retry.max_backoff_ms, 10000u);
	expect_ok(&b, large);
	cr_assert_eq(b.job->retry.max_attempts, 1u);
	cr_assert_eq(b.job->retry.backoff_ms, 20000u);
	cr_assert_eq(b.job->retry.max_backoff_ms, 20000u);
	bl_job_free(&a.job);
	bl_job_free(&b.job);
}

/* A duplicate key is rejected by the parser and named by its path, at the
 * top level and inside params. A duplicated id is not salvaged, because
 * there is no telling which one the client meant. */
Test(engine_job, duplicate_keys_are_rejected)
{
	const char *top = "{\"id\":\"a\",\"tenant\":\"acme\",\"id\":\"b\",\"block\":\"kernel\"}";
	const char *nested = JOB_WITH("\"params\":{\"x\":1,\"x\":2}");

	outcome_t a = parse(top);
	outcome_t b = parse(nested);

	expect_error(&a, top, BL_EFORMAT, "id");
	expect_message_has(&a, "duplicate");
	cr_assert_str_eq(a.id, "", "expected no salvaged id, got \"%s\"", a.id);
	cr_assert_str_eq(a.tenant, "acme", "expected tenant acme, got \"%s\"", a.tenant);
	expect_error(&b, nested, BL_EFORMAT, "params.x");
}

/* Only an object is a job; other JSON values are named by their type. */
Test(engine_job, non_object_top_level_is_rejected)
{
	const char *cases[][2] = {
		{"[]", "got an array"},
		{"\"job\"", "got a string"},
		{"42", "got an integer"},
		{"null", "got null"},
		{"true", "got true"},
		{"1.5", "got a real number"},
		{"[" MINIMAL_JOB "]", "got an array"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		outcome_t o = parse(cases[i][0]);

		expect_error(&o, cases[i][0], BL_EFORMAT, "");
		expect_message_has(&o, cases[i][1]);
		cr_assert_str_eq(o.id, "");
	}
}

/* Every proper prefix of a valid job, the empty text included, is a clean
 * BL_EFORMAT: no job, a message with the line and column, and cleared
 * name buffers when the id was not complete. */
Test(engine_job, every_truncation_is_a_clean_error)
{
	const char *text = FULL_JOB;
	size_t len = strlen(text);
	bl_job_limits_t lim = default_limits();

	for (size_t n = 0; n < len; n++) {
		outcome_t o = parse_limited(text, n, &lim);

		cr_assert_eq(o.rc, BL_EFORMAT, "expected BL_EFORMAT for the first %zu bytes, got %s (%s)", n,
			     bl_err_name(o.rc), o.err.message);
		cr_assert_null(o.job);
		cr_assert_not_null(strstr(o.err.message, "line 1"), "expected a line number for %zu bytes, got \"%s\"",
				   n, o.err.message);
		cr_assert(o.id[0] == '\0' || strcmp(o.id, "job-1") == 0, "expected \"\" or job-1 at %zu, got \"%s\"", n,
			  o.id);
	}
}

/* The error on a truncated job names the member that was being read. */
Test(engine_job, truncation_names_the_open_field)
{
	const char *text = "{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"n\":[1,2";

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "params.n[1]");
	cr_assert_str_eq(o.id, "job-1");
	cr_assert_str_eq(o.tenant, "acme");
}

/* Syntax errors report the parser's line and column and name the field. */
Test(engine_job, syntax_error_names_field_and_position)
{
	const char *text = "{\"id\":\"job-1\",\n\"tenant\":\"acme\",\n\"block\":\"kernel\",\n\"timeout_ms\":12x}";

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "timeout_ms");
	expect_message_has(&o, "line 4");
	cr_assert_str_eq(o.id, "job-1", "expected the id to be salvaged, got \"%s\"", o.id);
}

/* A number or literal cut short ("1." then ',') names its own member: the
 * byte that ends it lies outside the member, so the fault is put on the
 * token's last byte. */
Test(engine_job, cut_number_names_field)
{
	const struct {
		const char *text;
		const char *field;
	} cases[] = {
		{JOB_WITH("\"timeout_ms\":1.,\"priority\":\"high\""), "timeout_ms"},
		{JOB_WITH("\"timeout_ms\":-,\"priority\":\"high\""), "timeout_ms"},
		{JOB_WITH("\"params\":{\"n\":1e}"), "params.n"},
		{JOB_WITH("\"params\":{\"n\":[1e+]}"), "params.n[0]"},
		{JOB_WITH("\"params\":{\"flag\":tru}"), "params.flag"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		outcome_t o = parse(cases[i].text);

		expect_error(&o, cases[i].text, BL_EFORMAT, cases[i].field);
	}
}

/* Malformed text of several kinds is BL_EFORMAT, never a crash: trailing
 * data, a raw NUL byte, bad escapes, single quotes, comments, a trailing
 * comma and invalid UTF-8. */
Test(engine_job, malformed_json_is_rejected)
{
	const struct {
		const char *text;
		size_t len;
	} cases[] = {
		{MINIMAL_JOB " x", 0},
		{MINIMAL_JOB MINIMAL_JOB, 0},
		{"{\"id\":\"job-1\"\0,\"tenant\":\"acme\",\"block\":\"kernel\"}", 48},
		{"{\"id\":\"a\\qb\",\"tenant\":\"acme\",\"block\":\"kernel\"}", 0},
		{"{\"id\":\"a\\u12\",\"tenant\":\"acme\",\"block\":\"kernel\"}", 0},
		{"{'id':'job-1','tenant':'acme','block':'kernel'}", 0},
		{"{\"id\":\"job-1\",/* c */\"tenant\":\"acme\",\"block\":\"kernel\"}", 0},
		{"{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"kernel\",}", 0},
		{"{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"ker\xFF\"}", 0},
		{"{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"kernel\"]", 0},
		{"]]]]}}}}", 0},
		{"\xEF\xBB\xBF" MINIMAL_JOB, 0},
	};
	bl_job_limits_t lim = default_limits();

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);

		outcome_t o = parse_limited(cases[i].text, len, &lim);

		cr_assert_eq(o.rc, BL_EFORMAT, "expected BL_EFORMAT for case %zu, got %s (%s)", i, bl_err_name(o.rc),
			     o.err.message);
		cr_assert_null(o.job);
		expect_message_has(&o, "invalid JSON");
	}
}

/* Text longer than max_bytes is BL_ELIMIT before the parser reads it; the
 * padding is whitespace, so no other limit is crossed first. The id and
 * tenant before the cut are still salvaged. */
Test(engine_job, oversized_text_is_rejected)
{
	bl_job_limits_t lim = default_limits();
	const char *head = MINIMAL_JOB;
	size_t head_len = strlen(head) - 1;
	size_t len = lim.max_bytes + 100;
	char *text = malloc(len);
	cr_assert_not_null(text);
	memcpy(text, head, head_len);
	memset(text + head_len, ' ', len - head_len - 1);
	text[len - 1] = '}';

	outcome_t o = parse_limited(text, len, &lim);
	free(text);

	expect_error(&o, "1 MiB of padding", BL_ELIMIT, "");
	expect_message_has(&o, "limit of 1048576 bytes at byte 1048576");
	cr_assert_str_eq(o.id, "job-1");
	cr_assert_str_eq(o.tenant, "acme");
}

/* Text of exactly max_bytes passes the size check. */
Test(engine_job, text_at_size_limit_is_accepted)
{
	bl_job_limits_t lim = default_limits();
	lim.max_bytes = strlen(MINIMAL_JOB);

	outcome_t o = parse_limited(MINIMAL_JOB, strlen(MINIMAL_JOB), &lim);

	expect_ok(&o, MINIMAL_JOB);
	bl_job_free(&o.job);
}

static char *nested_arrays(const char *head, size_t levels, const char *tail, size_t *len)
{
	size_t head_len = strlen(head), tail_len = strlen(tail);
	char *text = malloc(head_len + 2 * levels + tail_len + 1);
	cr_assert_not_null(text);
	memcpy(text, head, head_len);
	memset(text + head_len, '[', levels);
	memset(text + head_len + levels, ']', levels);
	memcpy(text + head_len + 2 * levels, tail, tail_len + 1);
	*len = head_len + 2 * levels + tail_len;
	return text;
}

/* 10,000 nested arrays in params stop at depth 33 with the path of the
 * array that opens it: the job is level 1, params level 2, and "deep"
 * contains levels 3 to 33, so the path ends in 30 indexes. */
Test(engine_job, deep_nesting_is_rejected, .timeout = 10)
{
	size_t len;
	char *text = nested_arrays("{" BASE ",\"params\":{\"deep\":", 10000, "}}", &len);
	char field[256] = "params.deep";
	for (int i = 0; i < 30; i++)
		strcat(field, "[0]");

	bl_job_limits_t lim = default_limits();
	outcome_t o = parse_limited(text, len, &lim);

	expect_error(&o, "10,000 nested arrays", BL_ELIMIT, field);
	expect_message_has(&o, "limit of 32 levels");
	cr_assert_str_eq(o.id, "job-1");
	free(text);
}

/* With the depth limit raised past the parser's own (2,048), 10,000 levels
 * still end in a clean BL_ELIMIT, from the parser, rather than deep
 * recursion. */
Test(engine_job, deep_nesting_past_parser_limit_is_clean, .timeout = 10)
{
	size_t len;
	char *text = nested_arrays("{" BASE ",\"params\":{\"deep\":", 10000, "}}", &len);
	bl_job_limits_t lim = default_limits();
	lim.max_depth = UINT_MAX;

	outcome_t o = parse_limited(text, len, &lim);

	cr_assert_eq(o.rc, BL_ELIMIT, "expected BL_ELIMIT, got %s (%s)", bl_err_name(o.rc), o.err.message);
	expect_message_has(&o, "limit of 2048 levels");
	cr_assert_null(o.job);
	free(text);
}

/* A string over max_string_bytes is BL_ELIMIT with its path. */
Test(engine_job, long_string_is_rejected)
{
	bl_job_limits_t lim = default_limits();
	lim.max_string_bytes = 16;
	const char *ok = JOB_WITH("\"params\":{\"s\":\"0123456789abcdef\"}");
	const char *over = JOB_WITH("\"params\":{\"s\":\"0123456789abcdefg\"}");

	outcome_t a = parse_limited(ok, strlen(ok), &lim);
	outcome_t b = parse_limited(over, strlen(over), &lim);

	expect_ok(&a, ok);
	bl_job_free(&a.job);
	expect_error(&b, over, BL_ELIMIT, "params.s");
	expect_message_has(&b, "limit of 16 bytes");
}

/* An array over max_array_items is BL_ELIMIT with the array's path. */
Test(engine_job, long_array_is_rejected)
{
	bl_job_limits_t lim = default_limits();
	lim.max_array_items = 3;
	const char *text = JOB_WITH("\"params\":{\"n\":[1,2,3,4]}");

	outcome_t o = parse_limited(text, strlen(text), &lim);

	expect_error(&o, text, BL_ELIMIT, "params.n");
	expect_message_has(&o, "item 4");
}

/* An object over max_object_keys is BL_ELIMIT with the object's path.
 * The top-level object counts too: with a limit of 4 keys, id, tenant,
 * block and params fit, and a fifth top-level key does not. */
Test(engine_job, many_keys_are_rejected)
{
	bl_job_limits_t lim = default_limits();
	lim.max_object_keys = 4;
	const char *params = JOB_WITH("\"params\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}");
	const char *top = JOB_WITH("\"params\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4}");
	const char *top5 = JOB_WITH("\"params\":{},\"priority\":\"low\"");

	outcome_t a = parse_limited(params, strlen(params), &lim);
	outcome_t b = parse_limited(top, strlen(top), &lim);
	outcome_t c = parse_limited(top5, strlen(top5), &lim);

	expect_error(&a, params, BL_ELIMIT, "params");
	expect_message_has(&a, "key 5");
	expect_ok(&b, top);
	bl_job_free(&b.job);
	expect_error(&c, top5, BL_ELIMIT, "");
	expect_message_has(&c, "key 5");
}

/* Brackets, braces, escaped quotes and backslashes inside strings do not
 * count as structure: with a depth limit of 2 the job still parses. */
Test(engine_job, brackets_and_quotes_inside_strings)
{
	bl_job_limits_t lim = default_limits();
	lim.max_depth = 2;
	const char *text =
		JOB_WITH("\"params\":{\"a\":\"[[[{{{\",\"b\":\"\\\"[[[\\\"\",\"c\":\"\\\\\",\"d\":\"]]}}\"}");

	outcome_t o = parse_limited(text, strlen(text), &lim);

	expect_ok(&o, text);
	cr_assert_str_eq(json_string_value(json_object_get(o.job->params, "b")), "\"[[[\"");
	cr_assert_str_eq(json_string_value(json_object_get(o.job->params, "c")), "\\");
	bl_job_free(&o.job);
}

/* params keeps its values after the parse tree is released. */
Test(engine_job, params_outlive_the_tree)
{
	const char *text = JOB_WITH("\"params\":{\"k\":-3,\"v\":{\"w\":[true,null]}}");

	outcome_t o = parse(text);

	expect_ok(&o, text);
	cr_assert_eq(json_integer_value(json_object_get(o.job->params, "k")), -3);
	cr_assert(json_is_null(json_array_get(json_object_get(json_object_get(o.job->params, "v"), "w"), 1)));
	bl_job_free(&o.job);
}

/* On a validation error the id and tenant are copied out so that the
 * error result can carry them. */
Test(engine_job, names_are_salvaged_on_validation_error)
{
	const char *text = JOB_WITH("\"priority\":\"urgent\"");

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "priority");
	cr_assert_str_eq(o.id, "job-1");
	cr_assert_str_eq(o.tenant, "acme");
}

/* An invalid id is not salvaged, but a valid tenant still is. */
Test(engine_job, invalid_id_is_not_salvaged)
{
	const char *text = "{\"id\":\"a/b\",\"tenant\":\"acme\",\"block\":\"kernel\"}";

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "id");
	cr_assert_str_eq(o.id, "");
	cr_assert_str_eq(o.tenant, "acme");
}

/* A name that does not fit the buffer is not cut short: the buffer gets
 * the empty string. NULL buffers are accepted. */
Test(engine_job, salvage_respects_buffer_size)
{
	const char *text = "{\"id\":\"job-12345\",\"tenant\":\"acme\",\"block\":\"kernel\",\"x\":1}";
	char id[9] = "sentinel", tenant[9] = "sentinel";
	bl_job_limits_t lim = default_limits();
	bl_job_t *job = NULL;
	bl_error_t err;

	int rc = bl_job_parse(&job, text, strlen(text), &lim, id, tenant, sizeof id, &err);
	int rc_null = bl_job_parse(&job, text, strlen(text), &lim, NULL, NULL, 0, &err);

	cr_assert_eq(rc, BL_EFORMAT);
	cr_assert_str_eq(id, "", "expected an id too long for 9 bytes to be dropped, got \"%s\"", id);
	cr_assert_str_eq(tenant, "acme");
	cr_assert_eq(rc_null, BL_EFORMAT);
}

/* Salvage works when no tree was built: after a limit violation and
 * after a syntax error, names that came before the failure are copied. */
Test(engine_job, names_are_salvaged_without_a_tree)
{
	bl_job_limits_t lim = default_limits();
	lim.max_array_items = 1;
	const char *limit = "{\"tenant\":\"acme\",\"id\":\"job-1\",\"params\":{\"n\":[1,2]},\"block\":\"kernel\"}";
	const char *syntax = "{\"tenant\":\"acme\",\"id\":\"job-1\",\"block\":kernel}";
	const char *escaped = "{\"tenant\":\"acme\",\"id\":\"job\\u002d1\",\"block\":kernel}";

	outcome_t a = parse_limited(limit, strlen(limit), &lim);
	outcome_t b = parse(syntax);
	outcome_t c = parse(escaped);

	cr_assert_eq(a.rc, BL_ELIMIT);
	cr_assert_str_eq(a.id, "job-1");
	cr_assert_str_eq(a.tenant, "acme");
	cr_assert_eq(b.rc, BL_EFORMAT);
	cr_assert_str_eq(b.id, "job-1");
	cr_assert_str_eq(b.tenant, "acme");
	cr_assert_eq(c.rc, BL_EFORMAT);
	cr_assert_str_eq(c.id, "", "expected an escaped id not to be salvaged from raw text, got \"%s\"", c.id);
	cr_assert_str_eq(c.tenant, "acme");
}

/* After a syntax error, a name that comes later in the text is not
 * salvaged, because the text past the error has no reliable structure. */
Test(engine_job, names_after_syntax_error_are_dropped)
{
	const char *text = "{\"tenant\":\"acme\",\"block\":kernel,\"id\":\"job-1\"}";

	outcome_t o = parse(text);

	expect_error(&o, text, BL_EFORMAT, "block");
	cr_assert_str_eq(o.id, "", "expected no id from after the error, got \"%s\"", o.id);
	cr_assert_str_eq(o.tenant, "acme");
}

/* Names nested below the top level, or in a non-object job, are not the
 * job's names and are not salvaged. */
Test(engine_job, nested_names_are_not_salvaged)
{
	const char *nested = "{\"params\":{\"id\":\"job-1\",\"tenant\":\"acme\"}}";
	const char *array = "[{\"id\":\"job-1\",\"tenant\":\"acme\"}]";

	outcome_t a = parse(nested);
	outcome_t b = parse(array);

	expect_error(&a, nested, BL_EFORMAT, "id");
	cr_assert_str_eq(a.id, "");
	cr_assert_str_eq(a.tenant, "");
	expect_error(&b, array, BL_EFORMAT, "");
	cr_assert_str_eq(b.id, "");
	cr_assert_str_eq(b.tenant, "");
}

/* Missing arguments are BL_EINVAL, and text may be NULL only when empty. */
Test(engine_job, bad_arguments_are_einval)
{
	bl_job_limits_t lim = default_limits();
	bl_job_t *job = NULL;
	bl_error_t err;

	cr_assert_eq(bl_job_parse(NULL, MINIMAL_JOB, 10, &lim, NULL, NULL, 0, &err), BL_EINVAL);
	cr_assert_eq(bl_job_parse(&job, MINIMAL_JOB, 10, NULL, NULL, NULL, 0, &err), BL_EINVAL);
	cr_assert_eq(bl_job_parse(&job, NULL, 10, &lim, NULL, NULL, 0, &err), BL_EINVAL);
	cr_assert_eq(bl_job_parse(&job, NULL, 0, &lim, NULL, NULL, 0, &err), BL_EFORMAT);
	cr_assert_eq(bl_job_parse(&job, MINIMAL_JOB, strlen(MINIMAL_JOB), &lim, NULL, NULL, 0, NULL), 0);
	bl_job_free(&job);
}
