/* UTF-8 validation (utf8.h). */
#include <beamline/utf8.h>

#include <string.h>

#include "utf8_internal.h"

/* Bytes that one step of the vector fast path checks: eight vectors. */
#define BLOCK 128

/* Sixteen signed bytes, in GCC's and Clang's portable vector extension:
 * x86-64 compiles it to SSE2, which every such CPU has. */
typedef int8_t bytes16 __attribute__((vector_size(16)));
_Static_assert(BLOCK == 8 * sizeof(bytes16), "ascii_block reads eight vectors");

static inline bytes16 load16(const uint8_t *p)
{
	bytes16 v;
	memcpy(&v, p, sizeof v);
	return v;
}

/*
 * Return whether every byte of the BLOCK bytes at s, read as a signed
 * number, is above `least`: -1 accepts ASCII with NUL, 0 ASCII without.
 * Text is mostly ASCII, and this takes it 16 bytes an instruction with no
 * branch inside the block.
 */
static bool ascii_block(const uint8_t *s, int8_t least)
{
	const bytes16 lim = {least, least, least, least, least, least, least, least,
			     least, least, least, least, least, least, least, least};
	bytes16 low = (load16(s) > lim) & (load16(s + 16) > lim) & (load16(s + 32) > lim) & (load16(s + 48) > lim);
	bytes16 high = (load16(s + 64) > lim) & (load16(s + 80) > lim) & (load16(s + 96) > lim) &
		       (load16(s + 112) > lim);
	bytes16 ok = low & high;

	uint64_t half[2];
	memcpy(half, &ok, sizeof half);
	return (half[0] & half[1]) == UINT64_MAX;
}

/* Check one multi-byte sequence at s[0] (a non-ASCII lead byte); return
 * its length, or 0 when it is malformed or cut off by `left`. */
static size_t sequence_len(const uint8_t *s, size_t left)
{
	uint8_t c = s[0];
	size_t n;
	uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return 0;
	}

	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	}
	return n;
}

/* Return whether the 8 bytes of `word` are ASCII, and none is NUL unless
 * allow_nul. The NUL test is the usual one for a zero byte in a word. */
static bool ascii_word(uint64_t word, bool allow_nul)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = UINT64_C(0x8080808080808080);

	if (word & highs)
		return false;
	return allow_nul || ((word - ones) & ~word & highs) == 0;
}

/* Check the bytes of s from *at up to `end` without the vector path. A
 * sequence that starts before `end` may run past it. Moves *at past what
 * was checked, and returns false at the first fault. */
static bool scan_stretch(const uint8_t *s, size_t len, size_t *at, size_t end, bool allow_nul)
{
	size_t i = *at;

	while (i < end) {
		if (len - i >= 8) {
			uint64_t word;
			memcpy(&word, s + i, sizeof word);
			if (ascii_word(word, allow_nul)) {
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			if (s[i] == 0 && !allow_nul)
				return false;
			i++;
			continue;
		}
		size_t n = sequence_len(s + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	*at = i;
	return true;
}

/* Both checks in one: well-formed UTF-8, and no NUL unless allow_nul.
 * Continuation bytes are never 0, so a NUL can only stand alone. A block
 * that is not all ASCII is checked whole before the ASCII test is tried
 * again, by the vector check (utf8_vector.c) where the CPU has it, else
 * one character at a time. On an AMD EPYC, 64 KiB of three-byte
 * characters took 11 us with the vector check and 66 us without. ASCII
 * took 1.0 us with the AVX2 skip and 1.9 us with SSE2 (ascii_block). At
 * 1 MiB the text no longer fits in the L2 cache: 23 and 30 us. */
bool bl__utf8_scan(const uint8_t *s, size_t len, bool allow_nul, bool use_vector)
{
	int8_t least = allow_nul ? -1 : 0;
	bool wide = use_vector && bl__utf8_wide_available();
	size_t i = 0;

	while (len - i >= BLOCK) {
		bool ok = true;
		if (wide) {
			i = bl__utf8_skip_ascii(s, i, len, allow_nul);
			if (len - i < BLOCK)
				break;
		} else if (ascii_block(s + i, least)) {
			i += BLOCK;
			continue;
		}
		if (use_vector)
			ok = bl__utf8_vector_stretch(s, &i, i + BLOCK, allow_nul);
		else
			ok = scan_stretch(s, len, &i, i + BLOCK, allow_nul);
		if (!ok)
			return false;
	}
	return scan_stretch(s, len, &i, len, allow_nul);
}

size_t bl_utf8_first_fault(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (s[i] == 0)
			return i;
		size_t n = s[i] < 0x80 ? 1 : sequence_len(s + i, len - i);
		if (n == 0)
			return i;
		i += n;
	}
	return len;
}

bool bl_utf8_is_valid(const uint8_t *s, size_t len)
{
	return bl__utf8_scan(s, len, true, bl__utf8_vector_available());
}

bool bl_utf8_is_text(const uint8_t *s, size_t len)
{
	return bl__utf8_scan(s, len, false, bl__utf8_vector_available());
}
