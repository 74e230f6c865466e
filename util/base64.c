/* Base64 encoding and strict decoding (base64.h). */
#include <beamline/base64.h>

#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Return the 6-bit value of `c`, or -1 when it is not in the alphabet. */
static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t bl_base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void bl_base64_encode(char *out, const uint8_t *in, size_t n)
{
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = alphabet[v >> 18 & 63];
		*out++ = alphabet[v >> 12 & 63];
		*out++ = alphabet[v >> 6 & 63];
		*out++ = alphabet[v & 63];
	}

	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*out++ = alphabet[v >> 18 & 63];
		*out++ = alphabet[v >> 12 & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = alphabet[v >> 18 & 63];
		*out++ = alphabet[v >> 12 & 63];
		*out++ = alphabet[v >> 6 & 63];
		*out++ = '=';
	}
	*out = '\0';
}

/* Check the last quantum, which may end in one or two "=": the bits that
 * the padding drops must be zero. Returns the bytes it encodes, or -1 with
 * *bad_at set. */
static int check_last(const char *q, size_t at, size_t *bad_at)
{
	int v[4];
	for (int k = 0; k < 4; k++)
		v[k] = value_of(q[k]);

	for (int k = 0; k < 2; k++) {
		if (v[k] < 0) {
			*bad_at = at + (size_t)k;
			return -1;
		}
	}
	if (q[2] == '=' && q[3] == '=') {
		if (v[1] & 15) {
			*bad_at = at + 1;
			return -1;
		}
		return 1;
	}
	if (v[2] < 0) {
		*bad_at = at + 2;
		return -1;
	}
	if (q[3] == '=') {
		if (v[2] & 3) {
			*bad_at = at + 2;
			return -1;
		}
		return 2;
	}
	if (v[3] < 0) {
		*bad_at = at + 3;
		return -1;
	}
	return 3;
}

int bl_base64_check(uint64_t *out, const char *in, size_t n, size_t *bad_at)
{
	if (n % 4 != 0) {
		*bad_at = n;
		return -1;
	}
	if (n == 0) {
		*out = 0;
		return 0;
	}

	for (size_t i = 0; i + 4 < n; i++) {
		if (value_of(in[i]) < 0) {
			*bad_at = i;
			return -1;
		}
	}
	int last = check_last(in + n - 4, n - 4, bad_at);
	if (last < 0)
		return -1;
	*out = (uint64_t)(n / 4 - 1) * 3 + (uint64_t)last;
	return 0;
}

void bl_base64_decode(uint8_t *out, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = (uint32_t)value_of(in[i]) << 18 | (uint32_t)value_of(in[i + 1]) << 12;
		*out++ = (uint8_t)(v >> 16);
		if (in[i + 2] == '=')
			break;
		v |= (uint32_t)value_of(in[i + 2]) << 6;
		*out++ = (uint8_t)(v >> 8);
		if (in[i + 3] == '=')
			break;
		v |= (uint32_t)value_of(in[i + 3]);
		*out++ = (uint8_t)v;
	}
}

char *bl_base64_encode_new(const void *in, size_t n, size_t *out_len)
{
	size_t len = bl_base64_encoded_len(n);
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	bl_base64_encode(out, in, n);
	if (out_len)
		*out_len = len;
	return out;
}

unsigned char *bl_base64_decode_new(const char *in, size_t n, size_t *out_len)
{
	uint64_t len;
	size_t bad_at;

	if (bl_base64_check(&len, in, n, &bad_at) < 0)
		return NULL;
	unsigned char *out = malloc((size_t)len + 1);
	if (!out)
		return NULL;
	bl_base64_decode(out, in, n);
	out[len] = '\0';
	*out_len = (size_t)len;
	return out;
}
