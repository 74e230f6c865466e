#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_limits.h"

/* Generous limits; each test lowers the one it checks. */
static bl_job_limits_t wide_limits(void)
{
	bl_job_limits_t lim;
	bl_job_limits_init(&lim);
	return lim;
}

typedef struct check {
	int rc;
	bl_error_t err;
	bl__job_names_t names;
} check_t;

static check_t run_check(const char *text, size_t len, const bl_job_limits_t *lim)
{
	check_t c = {.rc = 1};
	c.rc = bl__job_limits_check(text, len, lim, &c.names, &c.err);
	return c;
}

static check_t run_text(const char *text, const bl_job_limits_t *lim)
{
	return run_check(text, strlen(text), lim);
}

static void expect_pass(const check_t *c, const char *text)
{
	cr_assert_eq(c->rc, 0, "expected %s to pass, got %d (%s: %s)", text, c->rc, c->err.field, c->err.message);
}

static void expect_violation(const check_t *c, const char *text, const char *field, const char *message)
{
	cr_assert_eq(c->rc, BL_ELIMIT, "expected BL_ELIMIT for %s, got %d", text, c->rc);
	cr_assert_eq(c->err.code, BL_ELIMIT);
	cr_assert_str_eq(c->err.field, field, "expected field \"%s\" for %s, got \"%s\"", field, text, c->err.field);
	cr_assert_str_eq(c->err.message, message, "expected message \"%s\" for %s, got \"%s\"", message, text,
			 c->err.message);
}

static char *repeat(const char *head, const char *unit, size_t count, const char *tail, size_t *len)
{
	size_t head_len = strlen(head), unit_len = strlen(unit), tail_len = strlen(tail);
	char *text = malloc(head_len + unit_len * count + tail_len + 1);
	cr_assert_not_null(text);
	memcpy(text, head, head_len);
	for (size_t i = 0; i < count; i++)
		memcpy(text + head_len + i * unit_len, unit, unit_len);
	memcpy(text + head_len + unit_len * count, tail, tail_len + 1);
	*len = head_len + unit_len * count + tail_len;
	return text;
}

/* A job within every limit passes, and its names are found. */
Test(engine_job_limits, valid_job_passes)
{
	const char *text =
		"{\"id\":\"job-1\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"n\":[1,[2,{}],\"x\"]}}";
	bl_job_limits_t lim = wide_limits();

	check_t c = run_text(text, &lim);

	expect_pass(&c, text);
	cr_assert(c.names.id.usable);
	cr_assert_eq(c.names.id.len, 5u);
	cr_assert_eq(strncmp(text + c.names.id.start, "job-1", 5), 0);
	cr_assert(c.names.tenant.usable);
	cr_assert_eq(strncmp(text + c.names.tenant.start, "acme", 4), 0);
}

/* Text of exactly max_bytes passes; one byte more fails at offset
 * max_bytes, with the whole length in the message. */
Test(engine_job_limits, size_limit_is_exact)
{
	const char *text = "{\"a\":\"0123456789\"}";
	bl_job_limits_t lim = wide_limits();
	lim.max_bytes = strlen(text);
	check_t at = run_text(text, &lim);
	lim.max_bytes = strlen(text) - 1;

	check_t over = run_text(text, &lim);

	expect_pass(&at, text);
	expect_violation(&over, text, "", "text exceeds the limit of 17 bytes at byte 17: the job is 18 bytes long");
}

/* A violation inside the first max_bytes comes before the size violation
 * at max_bytes, so it is the one reported. */
Test(engine_job_limits, earlier_violation_beats_size)
{
	const char *text = "{\"a\":[[[1]]],\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}";
	bl_job_limits_t lim = wide_limits();
	lim.max_bytes = 20;
	lim.max_depth = 2;

	check_t c = run_text(text, &lim);

	expect_violation(&c, text, "a[0]", "nesting exceeds the limit of 2 levels: level 3 opens at byte 6");
}

/* Depth max_depth passes; one level more fails at the bracket that opens
 * it, named by the path of the value it starts. */
Test(engine_job_limits, depth_limit_is_exact)
{
	const char *at = "{\"a\":{\"b\":[]}}";
	const char *over = "{\"a\":{\"b\":[[]]}}";
	bl_job_limits_t lim = wide_limits();
	lim.max_depth = 3;

	check_t a = run_text(at, &lim);
	check_t b = run_text(over, &lim);

	expect_pass(&a, at);
	expect_violation(&b, over, "a.b[0]", "nesting exceeds the limit of 3 levels: level 4 opens at byte 11");
}

/* 10,000 nested arrays or objects, closed or truncated, fail at level 33
 * without recursion; with no depth limit they pass the scan, which keeps
 * its stack on the heap. */
Test(engine_job_limits, deep_nesting_does_not_recurse, .timeout = 10)
{
	size_t len;
	char *arrays = repeat("", "[", 10000, "", &len);
	char *objects = repeat("", "{\"k\":", 10000, "", &len);
	bl_job_limits_t lim = wide_limits();

	check_t a = run_check(arrays, 10000, &lim);
	check_t b = run_check(objects, len, &lim);
	lim.max_depth = UINT_MAX;
	check_t c = run_check(arrays, 10000, &lim);

	cr_assert_eq(a.rc, BL_ELIMIT);
	cr_assert_not_null(strstr(a.err.message, "level 33 opens at byte 32"), "got \"%s\"", a.err.message);
	cr_assert_eq(b.rc, BL_ELIMIT);
	cr_assert_not_null(strstr(b.err.message, "level 33 opens at byte 160"), "got \"%s\"", b.err.message);
	expect_pass(&c, "10,000 open arrays");
	free(arrays);
	free(objects);
}

/* Strings are measured after unescaping: "\n" is one byte, "\u00e9" two,
 * a surrogate pair four. A string of exactly the limit passes. */
Test(engine_job_limits, string_length_counts_decoded_bytes)
{
	const struct {
		const char *text;
		size_t decoded;
	} cases[] = {
		{"[\"abcd\"]", 4},    {"[\"\\n\\t\\\"\\\\\"]", 4}, {"[\"\\u0041\"]", 1},  {"[\"\\u00e9\"]", 2},
		{"[\"\\u20ac\"]", 3}, {"[\"\\ud83d\\ude00\"]", 4}, {"[\"\xC3\xA9\"]", 2},
	};
	bl_job_limits_t lim = wide_limits();

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		lim.max_string_bytes = cases[i].decoded;
		check_t at = run_text(cases[i].text, &lim);
		lim.max_string_bytes = cases[i].decoded - 1;
		check_t over = run_text(cases[i].text, &lim);

		expect_pass(&at, cases[i].text);
		cr_assert_eq(over.rc, BL_ELIMIT, "expected %s to exceed %zu bytes", cases[i].text,
			     cases[i].decoded - 1);
		cr_assert_str_eq(over.err.field, "[0]");
	}
}

/* Keys are strings too; a long key is named by its object's path. */
Test(engine_job_limits, long_key_is_rejected)
{
	const char *text = "{\"params\":{\"short\":1,\"much_too_long\":2}}";
	bl_job_limits_t lim = wide_limits();
	lim.max_string_bytes = 8;

	check_t c = run_text(text, &lim);

	expect_violation(&c, text, "params", "key starting at byte 21 exceeds the limit of 8 bytes");
}

/* A long string value is named by its own path. */
Test(engine_job_limits, long_string_names_its_path)
{
	const char *text = "{\"params\":{\"inputs\":[\"a\",\"b\",\"ccccccccc\"]}}";
	bl_job_limits_t lim = wide_limits();
	lim.max_string_bytes = 8;

	check_t c = run_text(text, &lim);

	expect_violation(&c, text, "params.inputs[2]", "string starting at byte 29 exceeds the limit of 8 bytes");
}

/* An array of max_array_items passes; one more item fails at that item.
 * Nested arrays are counted separately, and an empty array has none. */
Test(engine_job_limits, array_limit_is_exact)
{
	const char *at = "{\"a\":[1,\"two\",[3,4,5],{},[]]}";
	const char *over = "{\"a\":[1,\"two\",[3,4,5],{},[],6]}";
	bl_job_limits_t lim = wide_limits();
	lim.max_array_items = 5;

	check_t a = run_text(at, &lim);
	check_t b = run_text(over, &lim);

	expect_pass(&a, at);
	expect_violation(&b, over, "a", "array exceeds the limit of 5 items: item 6 starts at byte 28");
}

/* 65,537 items exceed the default limit of 65,536. */
Test(engine_job_limits, long_array_at_default_limit)
{
	size_t len;
	char *at = repeat("[0", ",0", 65535, "]", &len);
	bl_job_limits_t lim = wide_limits();
	check_t a = run_check(at, len, &lim);
	char *over = repeat("[0", ",0", 65536, "]", &len);

	check_t b = run_check(over, len, &lim);

	expect_pass(&a, "65,536 items");
	cr_assert_eq(b.rc, BL_ELIMIT);
	cr_assert_str_eq(b.err.field, "");
	cr_assert_not_null(strstr(b.err.message, "item 65537 starts at byte 131073"), "got \"%s\"", b.err.message);
	free(at);
	free(over);
}

/* An object of max_object_keys passes; one more key fails at that key. */
Test(engine_job_limits, object_limit_is_exact)
{
	const char *at = "{\"o\":{\"a\":1,\"b\":{\"c\":1,\"d\":2,\"e\":3},\"f\":4}}";
	const char *over = "{\"o\":{\"a\":1,\"b\":{\"c\":1,\"d\":2,\"e\":3},\"f\":4,\"g\":5}}";
	bl_job_limits_t lim = wide_limits();
	lim.max_object_keys = 3;

	check_t a = run_text(at, &lim);
	check_t b = run_text(over, &lim);

	expect_pass(&a, at);
	expect_violation(&b, over, "o", "object exceeds the limit of 3 keys: key 4 starts at byte 42");
}

/* Brackets, braces, commas and escaped quotes inside strings are text:
 * with a depth of 1, one item and one key the object still passes, and a
 * string that ends in an escaped backslash is closed by the next quote. */
Test(engine_job_limits, structure_inside_strings_is_ignored)
{
	const char *texts[] = {
		"{\"a\":\"[[[[{{{{,,,,\"}", "{\"a\":\"\\\"[[[[\\\"\"}",		 "{\"a\":\"\\\\\"}",
		"{\"[{\\\"\":\"]}\"}",	    "{\"a\":\"\\u005b\\u007b\\u0022\"}",
	};
	bl_job_limits_t lim = wide_limits();
	lim.max_depth = 1;
	lim.max_array_items = 1;
	lim.max_object_keys = 1;

	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		check_t c = run_text(texts[i], &lim);

		expect_pass(&c, texts[i]);
	}
}

/* An escaped backslash before a quote must not swallow that quote: here
 * the array after the string is seen, and its fourth item fails. */
Test(engine_job_limits, escaped_backslash_ends_string)
{
	const char *text = "{\"a\":\"x\\\\\",\"b\":[1,2,3,4]}";
	bl_job_limits_t lim = wide_limits();
	lim.max_array_items = 3;

	check_t c = run_text(text, &lim);

	expect_violation(&c, text, "b", "array exceeds the limit of 3 items: item 4 starts at byte 22");
}

/* Every prefix of a job, cut anywhere (inside a string, an escape or a
 * \u sequence), is scanned without error or overrun: truncation is
 * jansson's to report. */
Test(engine_job_limits, truncated_text_passes_the_scan)
{
	const char *text =
		"{\"id\":\"j\\u00e9\\\"b\",\"params\":{\"a\":[1,{\"b\":\"[\\\\\"}],\"c\":\"\\ud83d\\ude00\"}}";
	size_t len = strlen(text);
	bl_job_limits_t lim = wide_limits();

	for (size_t n = 0; n <= len; n++) {
		/* A copy of exactly n bytes lets the sanitizer catch a read past
		 * the end. */
		char *copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, text, n);

		check_t c = run_check(copy, n, &lim);

		cr_assert_eq(c.rc, 0, "expected 0 for the first %zu bytes, got %d (%s)", n, c.rc, c.err.message);
		free(copy);
	}
}

/* Malformed structure does not confuse the depth count: stray closers at
 * the top level are ignored, and mismatched closers still close. */
Test(engine_job_limits, stray_closers_do_not_underflow)
{
	const char *texts[] = {"]]]]}}}}", "[}[}[}[}", "{]{]{]{]", ",,::\"a\":1"};
	bl_job_limits_t lim = wide_limits();
	lim.max_depth = 1;

	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		check_t c = run_text(texts[i], &lim);

		expect_pass(&c, texts[i]);
	}
}

/* A name is usable only when it is a top-level member that appears once
 * and whose value is a closed string without escapes. */
Test(engine_job_limits, names_need_one_plain_top_level_string)
{
	const struct {
		const char *text;
		bool id_usable;
		bool tenant_usable;
	} cases[] = {
		{"{\"id\":\"a\",\"tenant\":\"b\"}", true, true},
		{"{\"id\":\"a\",\"id\":\"c\",\"tenant\":\"b\"}", false, true},
		{"{\"id\":\"a\\u0062\",\"tenant\":\"b\"}", false, true},
		{"{\"id\":5,\"tenant\":\"b\"}", false, true},
		{"{\"x\":{\"id\":\"a\"},\"tenant\":\"b\"}", false, true},
		{"[{\"id\":\"a\",\"tenant\":\"b\"}]", false, false},
		{"{\"tenant\":\"b\",\"id\":\"a", false, true},
		{"{\"id\" \"a\",\"tenant\":\"b\"}", false, true},
		{"{\"id\":\"a\"}{\"id\":\"a\"}", false, false},
		{"\"id\"", false, false},
	};
	bl_job_limits_t lim = wide_limits();

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		check_t c = run_text(cases[i].text, &lim);

		cr_assert_eq(c.names.id.usable, cases[i].id_usable, "expected id usable = %d for %s",
			     cases[i].id_usable, cases[i].text);
		cr_assert_eq(c.names.tenant.usable, cases[i].tenant_usable, "expected tenant usable = %d for %s",
			     cases[i].tenant_usable, cases[i].text);
	}
}

/* The path at an offset names the member being read there: keys joined
 * by dots, array indexes in brackets, and the container alone while it
 * waits for its next member. */
Test(engine_job_limits, path_at_names_the_member)
{
	const char *text = "{\"a\":{\"b\":[10,{\"c\":\"x\"}]},\"d\":1}";
	const struct {
		size_t offset;
		const char *path;
	} cases[] = {
		{0, ""},
		{1, ""},
		{5, "a"},
		{10, "a.b"},
		{13, "a.b[0]"},
		{14, "a.b"},
		{20, "a.b[1].c"},
		{24, "a.b"},
		{25, "a"},
		{26, ""},
		{31, "d"},
		{1000, ""},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char path[BL_ERROR_FIELD_MAX];

		int rc = bl__job_limits_path_at(text, strlen(text), cases[i].offset, path, sizeof path);

		cr_assert_eq(rc, 0);
		cr_assert_str_eq(path, cases[i].path, "expected \"%s\" at byte %zu, got \"%s\"", cases[i].path,
				 cases[i].offset, path);
	}
}

/* A path longer than the buffer is cut and stays NUL-terminated. */
Test(engine_job_limits, long_path_is_cut)
{
	size_t len;
	char *text = repeat("", "{\"key\":", 100, "1", &len);
	char path[16];

	int rc = bl__job_limits_path_at(text, len, len, path, sizeof path);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(path, "key.key.key.key");
	free(text);
}
