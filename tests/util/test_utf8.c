/*
 * The UTF-8 checks accept well-formed text and reject each kind of
 * malformed sequence, and only bl_utf8_is_text rejects NUL. Both agree
 * with a byte-by-byte reference decoder on random inputs. Those mix long
 * ASCII runs (the vector path) with multi-byte sequences and stray bytes.
 */
#include <criterion/criterion.h>
#include <stdlib.h> /* rand_r */
#include <string.h>

#include <beamline/utf8.h>

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
 * byte that cannot start one. */
static size_t lead_length(uint32_t c)
{
	if (c < 0x80)
		return 1;
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
