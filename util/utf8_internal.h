/* The parts of the UTF-8 checks (utf8.c, utf8_vector.c) that the tests
 * call directly, so that they compare the vector check with the scalar
 * one on the same input. */
#ifndef BEAMLINE_UTF8_INTERNAL_H
#define BEAMLINE_UTF8_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return whether this CPU runs bl__utf8_vector_stretch: SSSE3 on x86. */
bool bl__utf8_vector_available(void);

/*
 * Check s[*at, end) as UTF-8 after the bytes before *at, and for NUL
 * unless allow_nul. end - *at must be a positive multiple of 16. Returns
 * false at a fault. Otherwise moves *at to the start of a sequence that
 * end cuts off, or to end. Call it only when bl__utf8_vector_available.
 */
bool bl__utf8_vector_stretch(const uint8_t *s, size_t *at, size_t end, bool allow_nul);

/* Return whether this CPU runs bl__utf8_skip_ascii: AVX2 on x86. */
bool bl__utf8_wide_available(void);

/* Return the offset of the first block of 128 bytes from `at` that is not
 * all ASCII (without NUL unless allow_nul), or the offset where fewer
 * than 128 bytes are left before len. Call it only when
 * bl__utf8_wide_available. */
size_t bl__utf8_skip_ascii(const uint8_t *s, size_t at, size_t len, bool allow_nul);

/* Check `len` bytes as bl_utf8_is_valid (allow_nul) or bl_utf8_is_text
 * do, with the vector check of multi-byte text or without it. */
bool bl__utf8_scan(const uint8_t *s, size_t len, bool allow_nul, bool use_vector);

#endif
