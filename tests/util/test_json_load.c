/*
 * bl_json_loadb against jansson's json_loadb: both accept the same
 * documents and build equal trees (json_equal), both reject the same
 * ones, and bl_json_loadb's error position points at the fault. Strings
 * of 0 to 70 bytes with a special byte at each offset cover the edges of
 * the 16-byte string scan.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/json_load.h>

#include "json_load_internal.h"

#define ALL_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* Load `len` bytes with both parsers; assert that both accept them and
 * build equal trees, and that the success fields of the errors match. */
static void expect_same_tree(const char *doc, size_t len, size_t flags, const char *label)
{
	json_error_t ours_error, theirs_error;

	json_t *theirs = json_loadb(doc, len, flags, &theirs_error);
	json_t *ours = bl_json_loadb(doc, len, flags, &ours_error);

	cr_assert_not_null(theirs, "%s: json_loadb rejected it: %s", label, theirs_error.text);
	cr_assert_not_null(ours, "%s: bl_json_loadb rejected it at byte %d: %s", label, ours_error.position,
			   ours_error.text);
	cr_assert(json_equal(ours, theirs), "%s: the trees differ", label);
	cr_assert_eq(ours_error.position, theirs_error.position, "%s: position %d on success, jansson %d", label,
		     ours_error.position, theirs_error.position);
	cr_assert_eq(ours_error.line, -1, "%s: line %d on success, expected -1", label, ours_error.line);
	cr_assert_str_eq(ours_error.source, "<buffer>", "%s: source \"%s\"", label, ours_error.source);
	json_decref(ours);
	json_decref(theirs);
}

/* Load `len` bytes with both parsers; assert that both reject them, and
 * return bl_json_loadb's error. */
static json_error_t expect_both_reject(const char *doc, size_t len, size_t flags, const char *label)
{
	json_error_t ours_error, theirs_error;

	json_t *theirs = json_loadb(doc, len, flags, &theirs_error);
	json_t *ours = bl_json_loadb(doc, len, flags, &ours_error);

	cr_assert_null(theirs, "%s: json_loadb accepted it", label);
	cr_assert_null(ours, "%s: bl_json_loadb accepted it", label);
	cr_assert_str_eq(ours_error.source, "<buffer>", "%s: source \"%s\"", label, ours_error.source);
	cr_assert(ours_error.text[0] != '\0', "%s: no error text", label);
	return ours_error;
}

/* Assert that both parsers agree on `len` bytes: both reject them, or
 * both accept them with equal trees. Returns whether they were accepted. */
static bool expect_agreement(const char *doc, size_t len, size_t flags, const char *label)
{
	json_t *theirs = json_loadb(doc, len, flags, NULL);
	json_t *ours = bl_json_loadb(doc, len, flags, NULL);
	bool accepted = theirs != NULL;

	cr_assert_eq(ours != NULL, accepted, "%s: json_loadb %s it, bl_json_loadb %s it", label,
		     accepted ? "accepted" : "rejected", ours ? "accepted" : "rejected");
	if (accepted)
		cr_assert(json_equal(ours, theirs), "%s: the trees differ", label);
	json_decref(ours);
	json_decref(theirs);
	return accepted;
}

/* One of each kind of value, and the number forms at the edges of
 * json_int_t and double. 1e-400 underflows: jansson accepts it as 0. */
Test(util_json_load, builds_the_same_tree_as_jansson)
{
	static const char *const docs[] = {
		"{}", "[]", " [ ] ", "\t\r\n{}\n", "[1,2,3]", "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
		"0", "-0", "-0.0", "1.5", "1e10", "1E+2", "1e-2", "-1.25e-3", "123456789", "9223372036854775807",
		"-9223372036854775808", "1e-400", "-1e-400", "4.9e-324", "2.2250738585072014e-308",
		"1.7976931348623157e308", "0.1", "100000000000000000000000000000.0", "true", "false", "null", "\"\"",
		"\"plain\"", "\"caf\\u00e9\"", "\"\\u20AC\\u20ac\"", "\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"",
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"caf\xc3\xa9\"", "\"\xf0\x9f\x98\x80\"", "\"\x7f\"",
		"{\"a\":1,\"b\":2,\"a\":3}", "{\"\\u0041\":1,\"x\\ny\":[{}]}", "[[[[[]]]],{\"\":{\"\":[]}}]",
		"{\"k\\u00e9y\":{\"in\\u006eer\":\"v\\u00e1l\",\"x\":[1,\"\\u0041\"]},\"after\":\"\\u0042\"}",
	};

	for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
		expect_same_tree(docs[i], strlen(docs[i]), JSON_DECODE_ANY, docs[i]);
}

/* \u0000 is accepted in a value with JSON_ALLOW_NUL, and the string keeps
 * its length past the NUL byte. */
Test(util_json_load, accepts_nul_escape_with_allow_nul)
{
	const char *doc = "[\"a\\u0000b\"]";

	expect_same_tree(doc, strlen(doc), JSON_ALLOW_NUL, doc);

	json_t *root = bl_json_loadb(doc, strlen(doc), JSON_ALLOW_NUL, NULL);
	json_t *s = json_array_get(root, 0);
	cr_assert_eq(json_string_length(s), 3, "length %zu, expected 3", json_string_length(s));
	cr_assert(memcmp(json_string_value(s), "a\0b", 3) == 0, "bytes differ from a, NUL, b");
	json_decref(root);
}

struct bad_doc {
	const char *doc;
	size_t len; /* 0: strlen(doc) */
	size_t flags;
	int position; /* expected error position: just past the fault */
	const char *words; /* expected in the error text */
};

/* Each row is rejected by both parsers. bl_json_loadb's position is one
 * past the offending byte, or the input length when it ends too early.
 * Its text names the fault. */
static const struct bad_doc bad_docs[] = {
	{"", 0, JSON_DECODE_ANY, 0, "end of input"},
	{"[", 0, 0, 1, "end of input"},
	{"[1,]", 0, 0, 4, "unexpected ']'"},
	{"[1 2]", 0, 0, 4, "',' or ']'"},
	{"{\"a\" 1}", 0, 0, 6, "':'"},
	{"{\"a\":1,}", 0, 0, 8, "string key"},
	{"{1:2}", 0, 0, 2, "string key or '}'"},
	{"{\"a\":1", 0, 0, 6, "end of input"},
	{"{\"a\":1 \"b\":2}", 0, 0, 8, "',' or '}'"},
	{"[01]", 0, 0, 3, "leading zero"},
	{"[1.]", 0, 0, 3, "decimal point"},
	{"[1e]", 0, 0, 3, "exponent"},
	{"[1e+]", 0, 0, 4, "exponent"},
	{"[-]", 0, 0, 2, "after '-'"},
	{"[+1]", 0, 0, 2, "unexpected '+'"},
	{"[.5]", 0, 0, 2, "unexpected '.'"},
	{"[tru]", 0, 0, 4, "'true'"},
	{"[trux]", 0, 0, 5, "'true'"},
	{"[1.x]", 0, 0, 4, "decimal point"},
	{"[nul", 0, 0, 4, "end of input"},
	{"[True]", 0, 0, 2, "unexpected 'T'"},
	{"[1] x", 0, 0, 5, "after the top-level value"},
	{"[1]]", 0, 0, 4, "after the top-level value"},
	{"[\"a\\qb\"]", 0, 0, 5, "'\\q'"},
	{"[\"\\u12G4\"]", 0, 0, 7, "four hex digits"},
	{"[\"\\u12", 0, 0, 6, "end of input"},
	{"[\"\\", 0, 0, 3, "end of input"},
	{"[\"\\ud800\"]", 0, 0, 3, "high surrogate"},
	{"[\"\\ud800x\"]", 0, 0, 3, "high surrogate"},
	{"[\"\\udc00\"]", 0, 0, 3, "low surrogate"},
	{"[\"\\ud800\\u0041\"]", 0, 0, 3, "surrogate pair"},
	{"[\"\\udc00\\ud800\"]", 0, 0, 3, "low surrogate"},
	{"[\"\\ud800\\ud800\"]", 0, 0, 3, "surrogate pair"},
	{"[\"\\u0000\"]", 0, 0, 3, "\\u0000"},
	{"{\"\\u0000\":1}", 0, JSON_ALLOW_NUL, 3, "object key"},
	{"{\"a\\u0000\":1}", 0, 0, 4, "object key"},
	{"[\"a\x01\"]", 0, 0, 4, "control byte 0x01"},
	{"[\"a\nb\"]", 0, 0, 4, "control byte 0x0a"},
	{"[\"\x1f\"]", 0, 0, 3, "control byte 0x1f"},
	{"[\"\xff\"]", 0, 0, 3, "UTF-8 byte 0xff"},
	{"[\"\xc3\"]", 0, 0, 3, "UTF-8 byte 0xc3"},
	{"[\"\xed\xa0\x80\"]", 0, 0, 3, "UTF-8"},
	{"[\"\xc0\xaf\"]", 0, 0, 3, "UTF-8"},
	{"[\"ab\xf4\x90\x80\x80\"]", 0, 0, 5, "UTF-8"},
	{"[\"\xff\\q\"]", 0, 0, 3, "UTF-8"},
	{"[\"\xe2\x82", 0, 0, 3, "UTF-8"},
	{"[\"abc", 0, 0, 5, "end of input in a string"},
	{"[\xc3\xa9]", 0, 0, 2, "byte 0xc3"},
	{"[1]\0", 4, 0, 4, "byte 0x00"},
	{"[\"a\0b\"]", 7, 0, 4, "control byte 0x00"},
	{"[\0]", 3, 0, 2, "byte 0x00"},
	{"{\"a\":1,\"a\":2}", 0, JSON_REJECT_DUPLICATES, 10, "duplicate object key \"a\""},
	{"{\"\\u0061\":1,\"a\":2}", 0, JSON_REJECT_DUPLICATES, 15, "duplicate object key"},
	{"[9223372036854775808]", 0, 0, 20, "integer out of range"},
	{"[-9223372036854775809]", 0, 0, 21, "integer out of range"},
	{"[123456789012345678901234567890]", 0, 0, 31, "integer out of range"},
	{"[1e400]", 0, 0, 6, "real number out of range"},
	{"[-1e400]", 0, 0, 7, "real number out of range"},
	{"1", 0, 0, 1, "'[' or '{'"},
	{"\"x\"", 0, 0, 1, "'[' or '{'"},
	{"  ", 0, 0, 2, "end of input"},
	{"[\v]", 0, 0, 2, "byte 0x0b"},
	{"[\f1]", 0, 0, 2, "byte 0x0c"},
	{"[1,\xc2\xa0 2]", 0, 0, 4, "byte 0xc2"},
	{"[1]/", 0, 0, 4, "unexpected '/'"},
	{"[1, // note\n2]", 0, 0, 5, "unexpected '/'"},
	{"['a']", 0, 0, 2, "unexpected '''"},
	{"[NaN]", 0, 0, 2, "unexpected 'N'"},
	{"[Infinity]", 0, 0, 2, "unexpected 'I'"},
};

Test(util_json_load, rejects_invalid_documents_naming_fault)
{
	for (size_t i = 0; i < sizeof bad_docs / sizeof *bad_docs; i++) {
		const struct bad_doc *bad = &bad_docs[i];
		size_t len = bad->len ? bad->len : strlen(bad->doc);
		char label[32];
		snprintf(label, sizeof label, "bad document %zu", i);

		json_error_t error = expect_both_reject(bad->doc, len, bad->flags, label);

		cr_assert_eq(error.position, bad->position, "%s: position %d, expected %d (%s)", label, error.position,
			     bad->position, error.text);
		cr_assert(strstr(error.text, bad->words) != NULL, "%s: text \"%s\" lacks \"%s\"", label, error.text,
			  bad->words);
	}
}

/* Where the fault is the byte that starts a token, jansson's line and
 * column are the same, and the column counts characters, not bytes. */
Test(util_json_load, line_and_column_match_jansson)
{
	static const char *const docs[] = {
		"[\n  1,\n  x]",
		"[\"\xc3\xa9\", x]",
		"{\"\xe2\x82\xac\xe2\x82\xac\": 1,\n\"b\" 2}",
		"\n\n\n   }",
	};

	for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
		json_error_t ours, theirs;
		cr_assert_null(bl_json_loadb(docs[i], strlen(docs[i]), 0, &ours), "document %zu accepted", i);
		cr_assert_null(json_loadb(docs[i], strlen(docs[i]), 0, &theirs), "jansson accepted document %zu", i);
		cr_assert_eq(ours.line, theirs.line, "document %zu: line %d, jansson %d", i, ours.line, theirs.line);
		cr_assert_eq(ours.column, theirs.column, "document %zu: column %d, jansson %d", i, ours.column,
			     theirs.column);
		cr_assert_eq(ours.position, theirs.position, "document %zu: position %d, jansson %d", i,
			     ours.position, theirs.position);
	}
}

/* job.c reads json_error_code(): the codes it checks must be jansson's. */
Test(util_json_load, error_codes_match_jansson)
{
	static const struct {
		const char *doc;
		size_t flags;
		enum json_error_code code;
	} cases[] = {
		{"{\"a\":1,\"a\":2}", JSON_REJECT_DUPLICATES, json_error_duplicate_key},
		{"[\"\\u0000\"]", 0, json_error_null_character},
		{"{\"\\u0000\":1}", JSON_ALLOW_NUL, json_error_null_byte_in_key},
		{"[99999999999999999999]", 0, json_error_numeric_overflow},
		{"[1e999]", 0, json_error_numeric_overflow},
		{"[\"\xff\"]", 0, json_error_invalid_utf8},
		{"[1] 2", 0, json_error_end_of_input_expected},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_error_t ours, theirs;
		size_t len = strlen(cases[i].doc);
		cr_assert_null(bl_json_loadb(cases[i].doc, len, cases[i].flags, &ours), "case %zu accepted", i);
		cr_assert_null(json_loadb(cases[i].doc, len, cases[i].flags, &theirs), "jansson accepted case %zu", i);
		cr_assert_eq(json_error_code(&theirs), cases[i].code, "case %zu: jansson's code %d, expected %d", i,
			     json_error_code(&theirs), cases[i].code);
		cr_assert_eq(json_error_code(&ours), cases[i].code, "case %zu: code %d, expected %d", i,
			     json_error_code(&ours), cases[i].code);
	}
}

/* A flag outside the three supported ones is rejected, where json_loadb
 * would change the grammar (JSON_DISABLE_EOF_CHECK) or the numbers. */
Test(util_json_load, rejects_unsupported_flags)
{
	const size_t others[] = {JSON_DISABLE_EOF_CHECK, JSON_DECODE_INT_AS_REAL, 0x20, (size_t)1 << 40};

	for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
		json_error_t error;
		json_t *root = bl_json_loadb("[1]", 3, ALL_FLAGS | others[i], &error);
		cr_assert_null(root, "flag 0x%zx accepted", others[i]);
		cr_assert_eq(json_error_code(&error), json_error_invalid_argument, "flag 0x%zx: code %d", others[i],
			     json_error_code(&error));
		cr_assert(strstr(error.text, "unsupported flags") != NULL, "flag 0x%zx: text \"%s\"", others[i],
			  error.text);
	}
}

Test(util_json_load, rejects_null_buffer)
{
	json_error_t error;

	cr_assert_null(bl_json_loadb(NULL, 0, 0, &error), "NULL buffer accepted");
	cr_assert_eq(json_error_code(&error), json_error_invalid_argument, "code %d", json_error_code(&error));
	cr_assert_eq(error.position, 0, "position %d, expected 0", error.position);
}

/* jansson 2.14 skips a NUL byte right after a number or a literal,
 * because its lexer loses the byte when it reads one past the token and
 * puts it back. bl_json_loadb rejects it as any other stray byte. */
Test(util_json_load, rejects_nul_that_jansson_skips)
{
	static const struct {
		const char *doc;
		size_t len;
		int position;
	} cases[] = {{"[1\0]", 4, 3}, {"[true\0]", 7, 6}, {"1.5\0", 4, 4}};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_error_t error;
		json_t *theirs = json_loadb(cases[i].doc, cases[i].len, JSON_DECODE_ANY, NULL);
		cr_assert_not_null(theirs, "case %zu: jansson no longer skips the NUL byte", i);
		json_decref(theirs);

		cr_assert_null(bl_json_loadb(cases[i].doc, cases[i].len, JSON_DECODE_ANY, &error), "case %zu accepted",
			       i);
		cr_assert_eq(error.position, cases[i].position, "case %zu: position %d, expected %d", i, error.position,
			     cases[i].position);
		cr_assert(strstr(error.text, "byte 0x00") != NULL, "case %zu: text \"%s\"", i, error.text);
	}
}

/* The error argument is optional on both paths. */
Test(util_json_load, works_without_error_struct)
{
	json_t *root = bl_json_loadb("{\"a\":[1]}", 9, 0, NULL);

	cr_assert_not_null(root, "valid document rejected");
	json_decref(root);
	cr_assert_null(bl_json_loadb("{\"a\":[1}", 8, 0, NULL), "invalid document accepted");
}

/* Object keys come out in document order, as jansson 2.14 keeps them. A
 * repeated key (without JSON_REJECT_DUPLICATES) keeps its first place and
 * takes the last value. */
Test(util_json_load, keeps_keys_in_document_order)
{
	const char *doc = "{\"z\":1,\"a\":2,\"m\":3,\"\\u0062\":4,\"a\":5}";
	static const char *const order[] = {"z", "a", "m", "b"};

	json_t *ours = bl_json_loadb(doc, strlen(doc), 0, NULL);
	json_t *theirs = json_loadb(doc, strlen(doc), 0, NULL);
	cr_assert_not_null(ours, "document rejected");
	cr_assert_not_null(theirs, "jansson rejected the document");

	void *ours_it = json_object_iter(ours);
	void *theirs_it = json_object_iter(theirs);
	for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
		cr_assert_not_null(ours_it, "only %zu keys", i);
		cr_assert_str_eq(json_object_iter_key(ours_it), order[i], "key %zu is \"%s\", expected \"%s\"", i,
				 json_object_iter_key(ours_it), order[i]);
		cr_assert_str_eq(json_object_iter_key(theirs_it), order[i], "jansson's key %zu is \"%s\"", i,
				 json_object_iter_key(theirs_it));
		ours_it = json_object_iter_next(ours, ours_it);
		theirs_it = json_object_iter_next(theirs, theirs_it);
	}
	cr_assert_null(ours_it, "more than %zu keys", sizeof order / sizeof *order);
	cr_assert_eq(json_integer_value(json_object_get(ours, "a")), 5, "a is not the last value");
	json_decref(ours);
	json_decref(theirs);
}

/* Bytes placed into a string, with what jansson makes of each: escapes,
 * the edges of the control range, multi-byte characters and malformed
 * UTF-8. */
static const struct {
	const char *bytes;
	bool valid;
} string_inserts[] = {
	{"\\n", true},	   {"\\u00e9", true}, {"\\\"", true},	    {"\\ud83d\\ude00", true}, {" ", true},
	{"\x7f", true},	   {"\xc3\xa9", true}, {"\xe2\x82\xac", true}, {"\xf0\x9f\x98\x80", true}, {"\"", false},
	{"\\", false},	   {"\\x", false},    {"\x01", false},	    {"\n", false},	      {"\x1f", false},
	{"\xff", false},   {"\xe2\x82", false}, {"\x80", false},
};

/* Build '"' + `before` 'a's + insert + `after` 'z's + '"' into buf, with
 * `tail` after the closing quote. Returns the length. */
static size_t build_string_doc(char *buf, size_t before, const char *insert, size_t after, const char *tail)
{
	size_t n = 0;

	buf[n++] = '"';
	memset(buf + n, 'a', before);
	n += before;
	memcpy(buf + n, insert, strlen(insert));
	n += strlen(insert);
	memset(buf + n, 'z', after);
	n += after;
	buf[n++] = '"';
	memcpy(buf + n, tail, strlen(tail));
	return n + strlen(tail);
}

/* Every string length from 0 to 70 bytes with each insert at each offset.
 * The string ends the document (the scan's byte-by-byte tail) or is
 * followed by 40 bytes (the 16-byte steps), so the special byte falls on
 * every offset of a 16-byte load. */
Test(util_json_load, agrees_on_strings_of_every_length_and_offset)
{
	static const char *const tails[] = {"", "                                       \t"};
	char buf[256];
	size_t cases = 0;

	for (size_t t = 0; t < sizeof tails / sizeof *tails; t++) {
		for (size_t len = 0; len <= 70; len++) {
			size_t len_doc = build_string_doc(buf, len, "", 0, tails[t]);
			expect_same_tree(buf, len_doc, JSON_DECODE_ANY, "plain string");
			for (size_t at = 0; at <= len; at++) {
				for (size_t k = 0; k < sizeof string_inserts / sizeof *string_inserts; k++) {
					char label[64];
					snprintf(label, sizeof label, "insert %zu at %zu of %zu, tail %zu", k, at, len, t);
					size_t n = build_string_doc(buf, at, string_inserts[k].bytes, len - at, tails[t]);
					bool accepted = expect_agreement(buf, n, JSON_DECODE_ANY, label);
					cr_assert_eq(accepted, string_inserts[k].valid, "%s: accepted %d", label, accepted);
					cases++;
				}
			}
		}
	}
	cr_assert_gt(cases, 40000, "only %zu cases", cases);
}

/* The SSE2 scan and the plain one find the same byte for every length
 * and offset up to 70, and the end when there is none. */
Test(util_json_load, vector_scan_matches_plain_scan)
{
	static const char specials[] = {'"', '\\', '\0', '\x1f', '\n'};
	char buf[80];

	for (size_t len = 0; len <= 70; len++) {
		memset(buf, 'x', sizeof buf);
		buf[len] = '"'; /* beyond end: must not be found */
		cr_assert_eq(bl_json_find_special(buf, buf + len), buf + len, "found a byte in %zu plain bytes", len);
		for (size_t at = 0; at < len; at++) {
			for (size_t k = 0; k < sizeof specials; k++) {
				memset(buf, (at & 1) ? 'x' : '\xc3', sizeof buf);
				buf[at] = specials[k];
				const char *plain = bl__json_find_special_plain(buf, buf + len);
				const char *fast = bl_json_find_special(buf, buf + len);
				cr_assert_eq(plain, buf + at, "plain scan: byte %zu of %zu found at %td", at, len,
					     plain - buf);
				cr_assert_eq(fast, plain, "vector scan: byte %zu of %zu found at %td", at, len,
					     fast - buf);
			}
		}
	}
}

/* Characters of one to four bytes that fill_text repeats: 23 bytes. */
static const char *const text_pieces[] = {"abcdefghij", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "0123"};
#define TEXT_CYCLE 23

/* Fill `n` bytes with text of one- to four-byte characters, ending on a
 * character boundary with padding. */
static void fill_text(char *s, size_t n)
{
	const char *const *pieces = text_pieces;
	size_t i = 0;
	unsigned k = 0;

	while (i < n) {
		const char *piece = pieces[k++ % 5];
		size_t len = strlen(piece);
		if (len > n - i) {
			memset(s + i, 'z', n - i);
			break;
		}
		memcpy(s + i, piece, len);
		i += len;
	}
}

/* A 1 MiB string, plain and with an escape every 46 characters, as a value
 * and (escaped) as a key, which grows the scratch buffer under the key. */
Test(util_json_load, loads_a_one_mebibyte_string)
{
	enum { MIB = 1 << 20 };
	char *doc = malloc(MIB + 64);
	cr_assert_not_null(doc, "out of memory");

	doc[0] = '"';
	fill_text(doc + 1, MIB);
	doc[MIB + 1] = '"';
	expect_same_tree(doc, MIB + 2, JSON_DECODE_ANY, "1 MiB plain string");

	/* Each cycle of the text starts with "ab": replace it by an escape. */
	for (size_t i = 1; i + TEXT_CYCLE < MIB; i += 2 * TEXT_CYCLE)
		memcpy(doc + i, "\\n", 2);
	expect_same_tree(doc, MIB + 2, JSON_DECODE_ANY, "1 MiB escaped string");

	/* {"\u0041 key": <the escaped string>} */
	char *obj = malloc(MIB + 64);
	cr_assert_not_null(obj, "out of memory");
	const char *head = "{\"\\u0041 key\":";
	size_t n = strlen(head);
	memcpy(obj, head, n);
	memcpy(obj + n, doc, MIB + 2);
	obj[n + MIB + 2] = '}';
	expect_same_tree(obj, n + MIB + 3, 0, "escaped key over a 1 MiB escaped value");

	json_t *root = bl_json_loadb(obj, n + MIB + 3, 0, NULL);
	cr_assert_not_null(json_object_get(root, "A key"), "key \"A key\" missing");
	json_decref(root);
	free(obj);
	free(doc);
}

/* Write `levels` nested arrays around `inner` into a new buffer. */
static char *nest_arrays(size_t levels, const char *inner, size_t *len)
{
	size_t inner_len = strlen(inner);
	char *doc = malloc(2 * levels + inner_len);
	cr_assert_not_null(doc, "out of memory");

	memset(doc, '[', levels);
	memcpy(doc + levels, inner, inner_len);
	memset(doc + levels + inner_len, ']', levels);
	*len = 2 * levels + inner_len;
	return doc;
}

/* jansson counts every value toward JSON_PARSER_MAX_DEPTH, scalars too:
 * that many empty arrays nest, one more array or a number inside fails. */
Test(util_json_load, nests_up_to_jansson_depth_limit)
{
	size_t len;
	char *doc;

	doc = nest_arrays(JSON_PARSER_MAX_DEPTH, "", &len);
	expect_same_tree(doc, len, 0, "empty arrays at the limit");
	free(doc);

	doc = nest_arrays(JSON_PARSER_MAX_DEPTH - 1, "1", &len);
	expect_same_tree(doc, len, 0, "a number at the limit");
	free(doc);

	doc = nest_arrays(JSON_PARSER_MAX_DEPTH + 1, "", &len);
	json_error_t error = expect_both_reject(doc, len, 0, "arrays one past the limit");
	cr_assert_eq(json_error_code(&error), json_error_stack_overflow, "code %d", json_error_code(&error));
	cr_assert_eq(error.position, JSON_PARSER_MAX_DEPTH + 1, "position %d, expected the last '['",
		     error.position);
	free(doc);

	doc = nest_arrays(JSON_PARSER_MAX_DEPTH, "1", &len);
	expect_both_reject(doc, len, 0, "a number one past the limit");
	free(doc);
}
