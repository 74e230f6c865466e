/*
 * Base64 (RFC 4648, section 4: the standard alphabet, "=" padding) for
 * binary content in JSON: fs and http bodies, SQL blobs, NATS stream
 * messages. Decoding is strict: no white space, no missing padding, no
 * bits set after the last byte.
 */
#ifndef BEAMLINE_BASE64_H
#define BEAMLINE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Return the characters that encoding `n` bytes gives, without the NUL. */
size_t bl_base64_encoded_len(size_t n);

/* Encode `n` bytes of `in` into `out`, which has room for
 * bl_base64_encoded_len(n) + 1 characters; writes a NUL at the end. */
void bl_base64_encode(char *out, const uint8_t *in, size_t n);

/*
 * Check `n` characters of `in` and count the bytes they decode to.
 * Returns 0 and the count in *out, or -1 with the offset of the first bad
 * character (or `n` when the length is not a multiple of 4) in *bad_at.
 */
int bl_base64_check(uint64_t *out, const char *in, size_t n, size_t *bad_at);

/* Decode `n` characters that bl_base64_check accepted into `out`, which
 * has room for the count it returned. */
void bl_base64_decode(uint8_t *out, const char *in, size_t n);

/* Encode `n` bytes into a new NUL-terminated string of *out_len
 * characters (out_len may be NULL). Returns it (owned), or NULL when
 * memory runs out. */
char *bl_base64_encode_new(const void *in, size_t n, size_t *out_len);

/* Decode `n` characters into a new buffer of *out_len bytes plus a NUL.
 * Returns it (owned), or NULL when the text is not strict base64 or
 * memory runs out. */
unsigned char *bl_base64_decode_new(const char *in, size_t n, size_t *out_len);

#endif
