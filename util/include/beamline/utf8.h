/* UTF-8 validation for the fs block's text content. */
#ifndef BEAMLINE_UTF8_H
#define BEAMLINE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Return whether `len` bytes of `s` are well-formed UTF-8 (RFC 3629): no
 * overlong forms, no surrogates, nothing above U+10FFFF. NUL bytes are
 * allowed.
 */
bool bl_utf8_is_valid(const uint8_t *s, size_t len);

/*
 * Return whether `len` bytes of `s` are well-formed UTF-8, as
 * bl_utf8_is_valid checks, and contain no NUL byte: text that a C string
 * carries whole. One pass over the bytes.
 */
bool bl_utf8_is_text(const uint8_t *s, size_t len);

/*
 * Return the offset of the first byte of s that bl_utf8_is_text rejects:
 * a NUL, or the first byte of a sequence that is malformed or cut off at
 * len. Returns len when all of s is text. It checks one character at a
 * time, for error messages.
 */
size_t bl_utf8_first_fault(const uint8_t *s, size_t len);

#endif
