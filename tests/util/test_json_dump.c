/*
 * bl_json_dumps against jansson's json_dumps (JSON_COMPACT |
 * JSON_ENCODE_ANY): the same text byte for byte on every kind of value,
 * on strings with an escape at each position around the 16- and 64-byte steps of the scan,
 * and on random trees; refused where jansson refuses.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beamline/json_dump.h>

/* Check that both writers give the same text for `v`, and take v. */
static void expect_same(json_t *v, const char *label)
{
	size_t len = SIZE_MAX;
	char *mine = bl_json_dumps(v, &len);
	char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	cr_assert_not_null(theirs, "jansson refused %s", label);
	cr_assert_not_null(mine, "bl_json_dumps refused %s, jansson wrote %.200s", label, theirs);
	cr_assert_eq(len, strlen(theirs), "%s: length %zu, jansson's %zu", label, len, strlen(theirs));
	cr_assert_str_eq(mine, theirs, "%s", label);
	free(mine);
	free(theirs);
	json_decref(v);
}

Test(util_json_dump, scalars_match_jansson)
{
	expect_same(json_null(), "null");
	expect_same(json_true(), "true");
	expect_same(json_false(), "false");
	expect_same(json_integer(0), "0");
	expect_same(json_integer(-42), "-42");
	expect_same(json_integer(INT64_MAX), "INT64_MAX");
	expect_same(json_integer(INT64_MIN), "INT64_MIN");
	expect_same(json_string(""), "an empty string");
	expect_same(json_string("plain"), "a plain string");
	expect_same(json_string("a/b \x7f caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"), "slash, DEL, multi-byte");
	expect_same(json_stringn("nul\0inside", 10), "a NUL byte");
}

Test(util_json_dump, reals_match_jansson)
{
	const double reals[] = {0.0,     -0.0,    1.0,     -1.5,    0.1,     1e20,   1e21,    1e-7,  123456789012345678.0,
				1e300,   -1e-300, DBL_MAX, DBL_MIN, 5e-324,  1e100,  2.5e-05, 1e16,  1e17,
				3.14159, 100.0,   1e15,    1e-5,    -1e-100, 0.5e-9, 6.02e23};
	for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
		char label[64];
		snprintf(label, sizeof label, "the real %.17g", reals[i]);
		expect_same(json_real(reals[i]), label);
	}
}

Test(util_json_dump, containers_match_jansson)
{
	expect_same(json_object(), "{}");
	expect_same(json_array(), "[]");
	expect_same(json_loads("[[],{},[[]],{\"a\":{}}]", 0, NULL), "nested empty containers");
	expect_same(json_pack("{s:i, s:[i, s, n, b], s:{s:f}}", "z", 1, "a", 2, "x\"y", 0, "m", "k", 2.5),
		    "a small document");

	json_t *odd_keys = json_object();
	json_object_setn_new(odd_keys, "n\0l", 3, json_integer(1));
	json_object_set_new(odd_keys, "tab\there", json_integer(2));
	json_object_set_new(odd_keys, "\xc3\xa9t\xc3\xa9", json_integer(3));
	json_object_set_new(odd_keys, "", json_integer(4));
	expect_same(odd_keys, "keys with a NUL, a tab, accents, and an empty key");
}

/* Every byte that needs an escape, and a few that do not, at every
 * position of strings of 0 to 140 bytes: the 64- and 16-byte steps and the
 * tail meet each one at each offset, after one or two 64-byte steps. */
Test(util_json_dump, escapes_at_every_position)
{
	const char *inserts[] = {"\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f", " ", "\x7f", "/",
				 "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
	char text[150];

	for (size_t len = 0; len <= 140; len++) {
		for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++) {
			for (size_t at = 0; at + strlen(inserts[k]) <= len; at++) {
				memset(text, 'a' + (int)(len % 26), len);
				memcpy(text + at, inserts[k], strlen(inserts[k]));
				char label[64];
				snprintf(label, sizeof label, "insert %zu at %zu of %zu bytes", k, at, len);
				expect_same(json_stringn(text, len), label);
			}
		}
	}
}

Test(util_json_dump, one_mebibyte_of_text_lines)
{
	size_t n = 1u << 20;
	char *text = malloc(n);
	for (size_t i = 0; i < n; i++)
		text[i] = i % 80 == 79 ? '\n' : (char)('a' + i % 26);
	text[1000] = '"';
	text[n - 1] = '\\';
	expect_same(json_pack("{s:s, s:s%}", "op", "get", "content", text, n), "1 MiB of text lines");
	free(text);
}

/* A random value of at most `depth` levels: every kind, with strings
 * drawn from a small alphabet rich in bytes that need escapes. */
static json_t *random_value(unsigned *seed, int depth)
{
	static const char alphabet[] = "ab\"\\\n\t\x01/ \xc3\xa9";
	int kind = rand_r(seed) % (depth > 0 ? 8 : 6);
	char text[48];
	size_t n = (size_t)(rand_r(seed) % 40);

	for (size_t i = 0; i < n; i++)
		text[i] = alphabet[rand_r(seed) % 9]; /* ASCII entries only; é is added whole below */
	if (n > 2 && rand_r(seed) % 4 == 0)
		memcpy(text + n - 2, "\xc3\xa9", 2);

	switch (kind) {
	case 0: return json_null();
	case 1: return json_boolean(rand_r(seed) % 2);
	case 2: return json_integer((json_int_t)rand_r(seed) - RAND_MAX / 2);
	case 3: return json_real(((double)rand_r(seed) - RAND_MAX / 2) * pow(10.0, rand_r(seed) % 40 - 20));
	case 4:
	case 5: return json_stringn(text, n);
	case 6: {
		json_t *a = json_array();
		for (int i = rand_r(seed) % 5; i > 0; i--)
			json_array_append_new(a, random_value(seed, depth - 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (int i = rand_r(seed) % 5; i > 0; i--)
			json_object_setn_new(o, text, n / (size_t)(i + 1), random_value(seed, depth - 1));
		return o;
	}
	}
}

Test(util_json_dump, random_trees_match_jansson)
{
	unsigned seed = (unsigned)time(NULL);
	for (int i = 0; i < 2000; i++) {
		unsigned tree_seed = seed + (unsigned)i;
		char label[64];
		snprintf(label, sizeof label, "random tree of seed %u", tree_seed);
		expect_same(random_value(&tree_seed, 6), label);
	}
}

Test(util_json_dump, refuses_what_jansson_refuses)
{
	json_t *bad = json_pack("{s:[o]}", "k", json_stringn_nocheck("ok \xc3 cut", 8));
	cr_assert_null(json_dumps(bad, JSON_COMPACT), "jansson refuses a string that is not UTF-8");
	cr_assert_null(bl_json_dumps(bad, NULL), "so does bl_json_dumps");
	json_decref(bad);

	json_t *a = json_array(), *b = json_array();
	json_array_append(a, b);
	json_array_append(b, a);
	cr_assert_null(json_dumps(a, JSON_COMPACT), "jansson refuses a tree that holds itself");
	cr_assert_null(bl_json_dumps(a, NULL), "bl_json_dumps ends it at its depth limit");
	json_array_clear(b);
	json_decref(a);
	json_decref(b);
}

static json_t *nested_arrays(size_t depth)
{
	json_t *v = json_array();
	for (size_t i = 1; i < depth; i++) {
		json_t *outer = json_array();
		json_array_append_new(outer, v);
		v = outer;
	}
	return v;
}

Test(util_json_dump, depth_limit)
{
	json_t *deepest = nested_arrays(BL_JSON_DUMP_MAX_DEPTH);
	size_t len = 0;
	char *text = bl_json_dumps(deepest, &len);
	cr_assert_not_null(text, "%d levels are written", BL_JSON_DUMP_MAX_DEPTH);
	cr_assert_eq(len, 2u * BL_JSON_DUMP_MAX_DEPTH);
	free(text);
	json_decref(deepest);

	json_t *deeper = nested_arrays(BL_JSON_DUMP_MAX_DEPTH + 1);
	cr_assert_null(bl_json_dumps(deeper, NULL), "one level more is refused");
	json_decref(deeper);
}

/* Text given apart from the tree is written where its slot is, as the
 * same string inside the tree would be. */
Test(util_json_dump, text_written_in_place_of_its_slot)
{
	const char text[] = "line one\n\"quoted\" caf\xc3\xa9 \\ end";
	json_t *slot = json_string("");
	json_t *tree = json_pack("{s:s, s:O, s:[i, O]}", "op", "get", "content", slot, "list", 1, slot);
	json_t *inside = json_pack("{s:s, s:s%, s:[i, s%]}", "op", "get", "content", text, sizeof text - 1, "list", 1,
				   text, sizeof text - 1);
	bl_json_text_t sub = {.slot = slot, .text = text, .len = sizeof text - 1};

	size_t len = 0;
	char *mine = bl_json_dumps_with(tree, &sub, &len);
	char *theirs = json_dumps(inside, JSON_COMPACT);
	cr_assert_str_eq(mine, theirs);
	cr_assert_eq(len, strlen(theirs));
	free(mine);

	sub.checked = true;
	char *checked = bl_json_dumps_with(tree, &sub, NULL);
	cr_assert_str_eq(checked, theirs, "text the caller checked is written the same");
	free(checked);
	free(theirs);

	bl_json_text_t bad = {.slot = slot, .text = "cut \xc3", .len = 5};
	cr_assert_null(bl_json_dumps_with(tree, &bad, NULL), "text that is not UTF-8 is refused");

	char *plain = bl_json_dumps_with(tree, NULL, NULL);
	cr_assert_str_eq(plain, "{\"op\":\"get\",\"content\":\"\",\"list\":[1,\"\"]}", "without text the slot is itself");
	free(plain);
	json_decref(tree);
	json_decref(inside);
	json_decref(slot);
}
