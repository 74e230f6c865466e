/*
 * The vector check of multi-byte UTF-8 (utf8_internal.h), on SSSE3, and
 * the skip over ASCII blocks on AVX2.
 *
 * Each byte is checked against the one, two and three bytes before it,
 * sixteen bytes at a time. A malformed pair of neighbouring bytes is
 * found with three table lookups (pshufb): one by the high nibble of the
 * byte before, one by its low nibble, one by the high nibble of the byte
 * itself. Each lookup gives a set of error bits, and a bit that survives
 * the AND of the three names an error. Each bit is one kind of error
 * whose condition is a product of a set of high nibbles, a set of low
 * nibbles and a set of next high nibbles, so the AND is true exactly when
 * the condition is. Where two kinds share a bit, their product covers
 * no well-formed pair.
 *
 * The pair check cannot see whether a continuation byte that follows a
 * continuation byte belongs there, so it marks such bytes (TWO_CONTS).
 * They must be exactly the third and fourth bytes of three- and four-byte
 * sequences, which the bytes two and three places back show.
 *
 * This is the lookup method of J. Keiser and D. Lemire, "Validating UTF-8
 * in less than one instruction per byte", Software: Practice and
 * Experience 51(5), 2021, doi:10.1002/spe.2920, with tables derived here
 * from RFC 3629.
 */
#include "utf8_internal.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define VECTOR_TARGET __attribute__((target("ssse3")))

/* Error bits of the pair check: the byte before (p) and the byte (b). */
enum {
	TOO_SHORT = 1 << 0,  /* p is a lead byte, b is not a continuation byte */
	TOO_LONG = 1 << 1,   /* p is ASCII, b is a continuation byte */
	OVERLONG_3 = 1 << 2, /* E0 then 80..9F */
	SURROGATE = 1 << 3,  /* ED then A0..BF */
	OVERLONG_2 = 1 << 4, /* C0 or C1 then a continuation byte */
	TOO_LARGE = 1 << 5,  /* F4..FF then 90..BF */
	OVERLONG_4 = 1 << 6, /* F0 then 80..8F, and F5..FF then 80..8F */
	TWO_CONTS = 1 << 7,  /* two continuation bytes: checked apart */
};

/* The bits whose condition does not depend on p's low nibble. */
#define ANY_LOW (TOO_SHORT | TOO_LONG | TWO_CONTS)

/* The continuation bytes 80..BF, by their high nibble 8..B. */
#define CONTINUATION (TOO_LONG | OVERLONG_2 | TWO_CONTS)

VECTOR_TARGET static inline __m128i high_nibbles(__m128i v)
{
	return _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
}

VECTOR_TARGET static inline __m128i low_nibbles(__m128i v)
{
	return _mm_and_si128(v, _mm_set1_epi8(0x0F));
}

/* The error bits of a pair by the high nibble of p, 0 to F. */
static const uint8_t by_prev_high[16] = {
	TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, /* ASCII */
	TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,					/* continuation */
	TOO_SHORT | OVERLONG_2,								/* C0..CF */
	TOO_SHORT,									/* D0..DF */
	TOO_SHORT | OVERLONG_3 | SURROGATE,						/* E0..EF */
	TOO_SHORT | TOO_LARGE | OVERLONG_4,						/* F0..FF */
};

/* The error bits of a pair by the low nibble of p, 0 to F. */
static const uint8_t by_prev_low[16] = {
	ANY_LOW | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, /* C0, E0, F0 */
	ANY_LOW | OVERLONG_2,				/* C1 */
	ANY_LOW,
	ANY_LOW,
	ANY_LOW | TOO_LARGE, /* F4 */
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4 | SURROGATE, /* ED */
	ANY_LOW | TOO_LARGE | OVERLONG_4,
	ANY_LOW | TOO_LARGE | OVERLONG_4,
};

/* The error bits of a pair by the high nibble of b, 0 to F. */
static const uint8_t by_high[16] = {
	TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, /* ASCII */
	CONTINUATION | OVERLONG_3 | OVERLONG_4,	 /* 80..8F */
	CONTINUATION | OVERLONG_3 | TOO_LARGE,	 /* 90..9F */
	CONTINUATION | SURROGATE | TOO_LARGE,	 /* A0..AF */
	CONTINUATION | SURROGATE | TOO_LARGE,	 /* B0..BF */
	TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, /* lead bytes */
};

VECTOR_TARGET static inline __m128i lookup(const uint8_t table[16], __m128i nibbles)
{
	return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)table), nibbles);
}

/* Return the error bits of each byte of `in` against the byte before it,
 * which is the same byte of prev1. */
VECTOR_TARGET static inline __m128i pair_errors(__m128i in, __m128i prev1)
{
	__m128i errors = lookup(by_prev_high, high_nibbles(prev1));
	errors = _mm_and_si128(errors, lookup(by_prev_low, low_nibbles(prev1)));
	return _mm_and_si128(errors, lookup(by_high, high_nibbles(in)));
}

/* Return 0x80 in each byte of `in` that must be a continuation byte after
 * a continuation byte. These are the third byte after a lead byte of E0 or
 * above, and the fourth after a lead byte of F0 or above. */
VECTOR_TARGET static inline __m128i third_or_fourth(__m128i in, __m128i prev)
{
	__m128i prev2 = _mm_alignr_epi8(in, prev, 14);
	__m128i prev3 = _mm_alignr_epi8(in, prev, 13);
	__m128i third = _mm_subs_epu8(prev2, _mm_set1_epi8((char)(0xE0 - 1)));
	__m128i fourth = _mm_subs_epu8(prev3, _mm_set1_epi8((char)(0xF0 - 1)));
	__m128i either = _mm_cmpgt_epi8(_mm_or_si128(third, fourth), _mm_setzero_si128());
	return _mm_and_si128(either, _mm_set1_epi8((char)0x80));
}

/* Return non-zero bytes where `in`, after the sixteen bytes `prev`, is not
 * well-formed. A TWO_CONTS mark where a third or fourth byte is due
 * cancels out; either one alone is an error. */
VECTOR_TARGET static inline __m128i vector_errors(__m128i in, __m128i prev)
{
	__m128i prev1 = _mm_alignr_epi8(in, prev, 15);
	return _mm_xor_si128(pair_errors(in, prev1), third_or_fourth(in, prev));
}

/* Return the sixteen bytes before s + at, with zeros (ASCII) before s. */
VECTOR_TARGET static inline __m128i bytes_before(const uint8_t *s, size_t at)
{
	if (at >= 16)
		return _mm_loadu_si128((const __m128i *)(s + at - 16));

	uint8_t padded[16] = {0};
	memcpy(padded + 16 - at, s, at);
	return _mm_loadu_si128((const __m128i *)padded);
}

/* Return where a sequence cut off by `end` starts: a lead byte among the
 * last three before end that needs more bytes than are left, else end.
 * The bytes before end are known to be well-formed so far. */
static size_t cut_off_start(const uint8_t *s, size_t end)
{
	if (s[end - 1] >= 0xC0)
		return end - 1;
	if (s[end - 2] >= 0xE0)
		return end - 2;
	if (s[end - 3] >= 0xF0)
		return end - 3;
	return end;
}

VECTOR_TARGET bool bl__utf8_vector_stretch(const uint8_t *s, size_t *at, size_t end, bool allow_nul)
{
	const __m128i zero = _mm_setzero_si128();
	__m128i prev = bytes_before(s, *at);
	__m128i errors = zero;

	for (size_t i = *at; i < end; i += 16) {
		__m128i in = _mm_loadu_si128((const __m128i *)(s + i));
		errors = _mm_or_si128(errors, vector_errors(in, prev));
		if (!allow_nul)
			errors = _mm_or_si128(errors, _mm_cmpeq_epi8(in, zero));
		prev = in;
	}

	if (_mm_movemask_epi8(_mm_cmpeq_epi8(errors, zero)) != 0xFFFF)
		return false;
	*at = cut_off_start(s, end);
	return true;
}

bool bl__utf8_vector_available(void)
{
	return __builtin_cpu_supports("ssse3");
}

/* Compares 32 bytes at a time where SSE2 takes 16, so ASCII text, the
 * common case, is checked at about twice the speed while in the L2 cache. */
__attribute__((target("avx2"))) size_t bl__utf8_skip_ascii(const uint8_t *s, size_t at, size_t len, bool allow_nul)
{
	const __m256i least = _mm256_set1_epi8(allow_nul ? -1 : 0);

	while (len - at >= 128) {
		const __m256i *p = (const __m256i *)(s + at);
		__m256i ok = _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_loadu_si256(p), least),
					      _mm256_cmpgt_epi8(_mm256_loadu_si256(p + 1), least));
		ok = _mm256_and_si256(ok, _mm256_cmpgt_epi8(_mm256_loadu_si256(p + 2), least));
		ok = _mm256_and_si256(ok, _mm256_cmpgt_epi8(_mm256_loadu_si256(p + 3), least));
		if ((uint32_t)_mm256_movemask_epi8(ok) != UINT32_MAX)
			break;
		at += 128;
	}
	return at;
}

bool bl__utf8_wide_available(void)
{
	return __builtin_cpu_supports("avx2");
}

#else

bool bl__utf8_vector_stretch(const uint8_t *s, size_t *at, size_t end, bool allow_nul)
{
	(void)s;
	(void)at;
	(void)end;
	(void)allow_nul;
	return false;
}

bool bl__utf8_vector_available(void)
{
	return false;
}

size_t bl__utf8_skip_ascii(const uint8_t *s, size_t at, size_t len, bool allow_nul)
{
	(void)s;
	(void)len;
	(void)allow_nul;
	return at;
}

bool bl__utf8_wide_available(void)
{
	return false;
}

#endif
