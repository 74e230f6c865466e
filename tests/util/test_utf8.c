/*
 * The UTF-8 checks accept well-formed text and reject each kind of
 * malformed sequence, and only bl_utf8_is_text rejects NUL. Both agree
 * with a byte-by-byte reference decoder on random inputs. Those mix long
 * ASCII runs (the vector path) with multi-byte sequences and stray bytes.
 * The vector check of multi-byte text and the scalar one also agree with
 * the reference on every pair of bytes, on sequences of three and four
 * bytes around each boundary value, and on dense multi-byte text with
 * random faults.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h> /* rand_r */
#include <string.h>

#include <beamline/utf8.h>

#include "utf8_internal.h"

Test(util_utf8, accepts_well_formed_text)
{
	static const char *const good[] = {
		"", "plain ascii text longer than one word", "caf\xc3\xa9", "\xe2\x82\xac uro", "\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		const uint8_t *s = (const uint8_t *)good[i];
		cr_assert(bl_utf8_is_valid(s, strlen(good[i])), "is_valid refused case %zu", i);
		cr_assert(bl_utf8_is_text(s, strlen(good[i])), "is_text refused case %zu", i);
	}
	cr_assert(bl_utf8_is_valid((const uint8_t *)"a\0b", 3), "a NUL byte is valid UTF-8");
	cr_assert(!bl_utf8_is_text((const uint8_t *)"a\0b", 3), "is_text accepted a NUL byte");
}

Test(util_utf8, refuses_malformed_sequences)
{
	static const char *const bad[] = {
		"\x80",             /* a continuation byte first */
		"\xc0\xaf",         /* overlong two-byte form */
		"\xe0\x80\xaf",     /* overlong three-byte form */
		"\xf0\x80\x80\xaf", /* overlong four-byte form */
		"\xed\xa0\x80",     /* a surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xf5\x80\x80\x80", /* a lead byte never used */
		"\xe2\x82",         /* cut off */
		"12345678\xff",     /* after a full ASCII word */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const uint8_t *s = (const uint8_t *)bad[i];
		cr_assert(!bl_utf8_is_valid(s, strlen(bad[i])), "is_valid accepted case %zu", i);
		cr_assert(!bl_utf8_is_text(s, strlen(bad[i])), "is_text accepted case %zu", i);
	}
}

/* One NUL or one stray byte at each offset of 300 ASCII bytes, so it lands
 * in a vector block, an 8-byte word and the byte-by-byte tail in turn. */
Test(util_utf8, finds_one_bad_byte_at_every_offset)
{
	uint8_t s[300];
	for (size_t at = 0; at < sizeof s; at++) {
		memset(s, 'x', sizeof s);
		s[at] = 0;
		cr_assert(bl_utf8_is_valid(s, sizeof s), "is_valid refused a NUL at %zu", at);
		cr_assert(!bl_utf8_is_text(s, sizeof s), "is_text missed a NUL at %zu", at);
		s[at] = 0x80;
		cr_assert(!bl_utf8_is_valid(s, sizeof s), "is_valid missed 0x80 at %zu", at);
		cr_assert(!bl_utf8_is_text(s, sizeof s), "is_text missed 0x80 at %zu", at);
		s[at] = 0x7f;
		cr_assert(bl_utf8_is_text(s, sizeof s), "is_text refused 0x7f at %zu", at);
	}
}

/* Return the length of the sequence that lead byte c starts, or 0 for a
 * byte that cannot start one. F8 and above would start the five- and
 * six-byte forms that RFC 3629 removed. */
static size_t lead_length(uint32_t c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xF8)
		return 0;
	if (c >= 0xF0)
		return 4;
	if (c >= 0xE0)
		return 3;
	if (c >= 0xC0)
		return 2;
	return 0;
}

/* The reference: decode one code point at a time by the table of RFC
 * 3629 section 4, with no shortcut for ASCII. */
static bool reference_check(const uint8_t *s, size_t len, bool allow_nul)
{
	size_t i = 0;
	while (i < len) {
		uint32_t c = s[i];
		size_t n = lead_length(c);
		if (n == 0 || i + n > len || (c == 0 && !allow_nul))
			return false;
		uint32_t cp = n == 1 ? c : c & (0xFFu >> (n + 1));
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3Fu);
		}
		static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n;
	}
	return true;
}

/* Fill s with ASCII runs of up to 300 bytes, broken now and then by a
 * well-formed sequence, a NUL, or a random byte. */
static void random_text(uint8_t *s, size_t len, unsigned *seed)
{
	static const char *const pieces[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\x9f\xbf"};
	size_t i = 0;
	while (i < len) {
		size_t run = (size_t)rand_r(seed) % 300;
		for (; run > 0 && i < len; run--)
			s[i++] = (uint8_t)(' ' + rand_r(seed) % 95);
		int kind = rand_r(seed) % 8;
		if (kind < 4) {
			for (const char *p = pieces[kind]; *p && i < len; p++)
				s[i++] = (uint8_t)*p;
		} else if (kind == 4 && i < len) {
			s[i++] = 0;
		} else if (kind == 5 && i < len) {
			s[i++] = (uint8_t)rand_r(seed);
		}
	}
}

Test(util_utf8, agrees_with_the_reference_on_random_text)
{
	enum { LEN = 2048 };
	static uint8_t s[LEN];
	unsigned seed = 20261205;
	size_t valid = 0, text = 0;
	for (int round = 0; round < 4000; round++) {
		size_t len = (size_t)rand_r(&seed) % LEN;
		random_text(s, len, &seed);
		bool want_valid = reference_check(s, len, true);
		bool want_text = reference_check(s, len, false);
		cr_assert_eq(bl_utf8_is_valid(s, len), want_valid, "is_valid disagrees in round %d (%zu bytes)",
			     round, len);
		cr_assert_eq(bl_utf8_is_text(s, len), want_text, "is_text disagrees in round %d (%zu bytes)", round,
			     len);
		valid += want_valid;
		text += want_text;
	}
	/* Both outcomes must come up often, or the test checks little. */
	cr_assert(text > 400 && valid - text > 400 && valid < 3600, "valid %zu, text %zu of 4000", valid, text);
}

/* Assert that the reference, the scalar check and, where the CPU has it,
 * the vector check agree on s, with and without NUL allowed. */
static void expect_checks_agree(const uint8_t *s, size_t len, const char *label)
{
	for (int allow_nul = 0; allow_nul <= 1; allow_nul++) {
		bool want = reference_check(s, len, allow_nul);
		cr_assert_eq(bl__utf8_scan(s, len, allow_nul, false), want, "scalar check disagrees on %s (nul %d)",
			     label, allow_nul);
		if (bl__utf8_vector_available())
			cr_assert_eq(bl__utf8_scan(s, len, allow_nul, true), want,
				     "vector check disagrees on %s (nul %d)", label, allow_nul);
	}
}

/* Offsets of a candidate sequence in its 160-byte test buffer: across a
 * 16-byte vector and across the 128-byte block of the ASCII test. */
static const size_t candidate_offsets[] = {13, 14, 15, 16, 126, 127, 128};

/* Put the `n` bytes of `candidate` at offset `at` of a 160-byte buffer
 * and check it. Euro signs (three bytes each) come before and after it,
 * so that the block is not ASCII, with ASCII letters to fill. */
static void expect_candidate_agrees(const uint8_t *candidate, size_t n, size_t at)
{
	enum { LEN = 160 };
	static const uint8_t euro[] = {0xE2, 0x82, 0xAC};
	uint8_t s[LEN];
	size_t i = 0;

	while (i + sizeof euro <= at) {
		memcpy(s + i, euro, sizeof euro);
		i += sizeof euro;
	}
	memset(s + i, 'x', at - i);
	memcpy(s + at, candidate, n);
	for (i = at + n; i + sizeof euro <= LEN; i += sizeof euro)
		memcpy(s + i, euro, sizeof euro);
	memset(s + i, 'y', LEN - i);

	char label[64];
	snprintf(label, sizeof label, "%zu bytes %02x %02x ... at %zu", n, candidate[0], n > 1 ? candidate[1] : 0, at);
	expect_checks_agree(s, LEN, label);
}

Test(util_utf8, vector_check_agrees_on_every_byte_pair)
{
	for (unsigned pair = 0; pair < 65536; pair++) {
		uint8_t candidate[2] = {(uint8_t)(pair >> 8), (uint8_t)pair};
		for (size_t o = 0; o < sizeof candidate_offsets / sizeof *candidate_offsets; o += 3)
			expect_candidate_agrees(candidate, 2, candidate_offsets[o]);
	}
}

/* Lead bytes and follow bytes at the edges of what RFC 3629 allows. */
static const uint8_t edge_leads[] = {0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
				     0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF};
static const uint8_t edge_follows[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
				       0xAF, 0xB0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF};

#define COUNT_OF(a) (sizeof(a) / sizeof *(a))

Test(util_utf8, vector_check_agrees_on_three_byte_sequences)
{
	for (size_t l = 0; l < COUNT_OF(edge_leads); l++)
		for (size_t f = 0; f < COUNT_OF(edge_follows); f++)
			for (unsigned third = 0; third < 256; third++) {
				uint8_t candidate[3] = {edge_leads[l], edge_follows[f], (uint8_t)third};
				for (size_t o = 0; o < COUNT_OF(candidate_offsets); o++)
					expect_candidate_agrees(candidate, 3, candidate_offsets[o]);
			}
}

Test(util_utf8, vector_check_agrees_on_four_byte_sequences)
{
	for (size_t l = 0; l < COUNT_OF(edge_leads); l++)
		for (size_t a = 0; a < COUNT_OF(edge_follows); a++)
			for (size_t b = 0; b < COUNT_OF(edge_follows); b++)
				for (size_t c = 0; c < COUNT_OF(edge_follows); c++) {
					uint8_t candidate[4] = {edge_leads[l], edge_follows[a], edge_follows[b],
								edge_follows[c]};
					expect_candidate_agrees(candidate, 4, candidate_offsets[(a + b + c) % 7]);
				}
}

/* Fill s with well-formed text that is mostly multi-byte characters,
 * in short ASCII runs now and then. */
static void dense_text(uint8_t *s, size_t len, unsigned *seed)
{
	static const char *const pieces[] = {"\xc3\xa9", "\xdf\xbf", "\xe2\x82\xac", "\xe0\xa0\x80",
					     "\xed\x9f\xbf", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
					     "\xf0\x9f\x98\x80", "ab"};
	size_t i = 0;
	while (i < len) {
		const char *p = pieces[rand_r(seed) % COUNT_OF(pieces)];
		size_t n = strlen(p);
		if (i + n > len)
			break;
		memcpy(s + i, p, n);
		i += n;
	}
	memset(s + i, 'z', len - i);
}

/* Dense multi-byte text, whole or with one to three bytes changed to
 * random values, checked by all three. */
Test(util_utf8, vector_check_agrees_on_dense_text_with_faults)
{
	enum { LEN = 4096 };
	static uint8_t s[LEN];
	unsigned seed = 7;
	size_t valid = 0;
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)rand_r(&seed) % LEN;
		dense_text(s, len, &seed);
		int faults = len > 0 ? rand_r(&seed) % 4 : 0;
		for (int f = 0; f < faults; f++)
			s[(size_t)rand_r(&seed) % len] = (uint8_t)rand_r(&seed);

		char label[48];
		snprintf(label, sizeof label, "round %d (%zu bytes)", round, len);
		expect_checks_agree(s, len, label);
		valid += reference_check(s, len, true);
	}
	/* Faulty inputs are sometimes still well-formed; both kinds must be
	 * common, or the test checks little. */
	cr_assert(valid > 600 && valid < 2400, "%zu of 3000 inputs were valid", valid);
}

/* The first fault is the first byte that is not text, and there is none
 * exactly when bl_utf8_is_text accepts the bytes. */
Test(util_utf8, first_fault_names_the_first_bad_byte)
{
	static const struct {
		const char *s;
		size_t len;
		size_t fault;
	} cases[] = {
		{"abc", 3, 3},		       {"a\0b", 3, 1},		{"\xe2\x82", 2, 0},
		{"ab\xed\xa0\x80", 5, 2},      {"ab\xc3\xa9\xff", 5, 4}, {"\xff" "abc\0", 5, 0},
		{"\xf0\x9f\x98\x80z\x80", 6, 5},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t got = bl_utf8_first_fault((const uint8_t *)cases[i].s, cases[i].len);
		cr_assert_eq(got, cases[i].fault, "case %zu: first fault at %zu, expected %zu", i, got, cases[i].fault);
	}

	enum { LEN = 1024 };
	static uint8_t s[LEN];
	unsigned seed = 11;
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)rand_r(&seed) % LEN;
		dense_text(s, len, &seed);
		if (len > 0 && round % 2)
			s[(size_t)rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
		size_t fault = bl_utf8_first_fault(s, len);
		cr_assert_eq(fault == len, bl_utf8_is_text(s, len), "round %d: first fault %zu of %zu bytes", round,
			     fault, len);
		cr_assert(fault == len || reference_check(s, fault, false), "round %d: the bytes before %zu are text",
			  round, fault);
	}
}
