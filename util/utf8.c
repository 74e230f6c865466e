/* UTF-8 validation (utf8.h). */
#include <beamline/utf8.h>

#include <string.h>

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

/* Return whether the 64 bytes at s are all ASCII. The loop has no branch,
 * so the compiler can turn it into a few vector instructions. */
static bool ascii_block(const uint8_t *s)
{
	uint64_t any = 0;
	for (size_t k = 0; k < 64; k += 8) {
		uint64_t word;
		memcpy(&word, s + k, sizeof word);
		any |= word;
	}
	return (any & UINT64_C(0x8080808080808080)) == 0;
}

bool bl_utf8_is_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		/* Text is mostly ASCII: test 64 bytes at once while it is. */
		if (len - i >= 64 && ascii_block(s + i)) {
			i += 64;
			continue;
		}
		if (len - i >= 8) {
			uint64_t word;
			memcpy(&word, s + i, sizeof word);
			if ((word & UINT64_C(0x8080808080808080)) == 0) {
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = sequence_len(s + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}
