/*
 * nkey decoding and the Ed25519 public key of a seed (OpenSSL's libcrypto,
 * which cnats already loads for TLS).
 */
#define _DEFAULT_SOURCE /* explicit_bzero */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include <beamline/error.h>

#include "nkey.h"

enum {
	KEY_BYTES = 32,
	/* Prefix bytes of the text form: a user public key has one, a seed two. */
	PREFIX_USER = 20 << 3,
	PREFIX_SEED = 18 << 3,
	/* A user seed decodes to 2 prefix bytes, the key and 2 checksum bytes. */
	SEED_BYTES = 2 + KEY_BYTES + 2,
	PUBLIC_BYTES = 1 + KEY_BYTES + 2,
};

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16_xmodem(const uint8_t *data, size_t len)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(data[i] << 8);
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

/* Decode `len` base32 characters into exactly `want` bytes of `out`. Returns false on a bad character or length. */
static bool base32_decode(uint8_t *out, size_t want, const char *text, size_t len)
{
	uint32_t bits = 0;
	int nbits = 0;
	size_t n = 0;

	if (len != (want * 8 + 4) / 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		const char *at = text[i] ? strchr(ALPHABET, text[i]) : NULL;
		if (!at)
			return false;
		bits = (bits << 5) | (uint32_t)(at - ALPHABET);
		nbits += 5;
		if (nbits >= 8) {
			nbits -= 8;
			out[n++] = (uint8_t)(bits >> nbits);
		}
	}
	return n == want;
}

static void base32_encode(char *out, const uint8_t *data, size_t len)
{
	uint32_t bits = 0;
	int nbits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		bits = (bits << 8) | data[i];
		nbits += 8;
		while (nbits >= 5) {
			nbits -= 5;
			out[n++] = ALPHABET[(bits >> nbits) & 31];
		}
	}
	if (nbits > 0)
		out[n++] = ALPHABET[(bits << (5 - nbits)) & 31];
	out[n] = '\0';
}

/* Decode `text` into `raw` (`size` bytes) and check the checksum of its last two bytes. */
static int decode_checked(uint8_t *raw, size_t size, const char *text, size_t len, char *reason, size_t reason_size)
{
	if (!base32_decode(raw, size, text, len)) {
		snprintf(reason, reason_size, "expected %zu base32 characters (A-Z, 2-7), got %zu characters",
			 (size * 8 + 4) / 5, len);
		return BL_EINVAL;
	}
	uint16_t stored = (uint16_t)(raw[size - 2] | raw[size - 1] << 8);
	if (crc16_xmodem(raw, size - 2) != stored) {
		snprintf(reason, reason_size, "the checksum does not match, so the key was changed or cut");
		return BL_EINVAL;
	}
	return 0;
}

int bl__nkey_check_user_public(const char *text, size_t len, char *reason, size_t reason_size)
{
	uint8_t raw[PUBLIC_BYTES];

	int rc = decode_checked(raw, sizeof raw, text, len, reason, reason_size);
	if (rc < 0)
		return rc;
	if (raw[0] != PREFIX_USER) {
		snprintf(reason, reason_size, "not a user public key, which starts with \"U\"");
		return BL_EINVAL;
	}
	return 0;
}

/* Derive the Ed25519 public key of the 32-byte `seed` into `public_key`. */
static int derive_public(uint8_t *public_key, const uint8_t *seed)
{
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, KEY_BYTES);
	if (!key)
		return BL_ENOMEM;
	size_t len = KEY_BYTES;
	int ok = EVP_PKEY_get_raw_public_key(key, public_key, &len);
	EVP_PKEY_free(key);
	return ok == 1 && len == KEY_BYTES ? 0 : BL_ENOMEM;
}

int bl__nkey_seed_public(char *public_key, const char *text, size_t len, char *reason, size_t reason_size)
{
	uint8_t raw[SEED_BYTES];
	uint8_t encoded[PUBLIC_BYTES];

	int rc = decode_checked(raw, sizeof raw, text, len, reason, reason_size);
	if (rc < 0)
		goto out;
	/* The first 5 bits are the seed prefix, and the next 5 are the key type's prefix. */
	unsigned type = (unsigned)((raw[0] & 7) << 5 | (raw[1] & 0xf8) >> 3);
	if ((raw[0] & 0xf8) != PREFIX_SEED || type != PREFIX_USER) {
		snprintf(reason, reason_size, "not a user seed, which starts with \"SU\"");
		rc = BL_EINVAL;
		goto out;
	}

	encoded[0] = PREFIX_USER;
	rc = derive_public(encoded + 1, raw + 2);
	if (rc < 0)
		goto out;
	uint16_t crc = crc16_xmodem(encoded, 1 + KEY_BYTES);
	encoded[1 + KEY_BYTES] = (uint8_t)(crc & 0xff);
	encoded[2 + KEY_BYTES] = (uint8_t)(crc >> 8);
	base32_encode(public_key, encoded, sizeof encoded);

out:
	explicit_bzero(raw, sizeof raw);
	return rc;
}

int bl__nkey_find_seed(const char **start, size_t *len, const char *content)
{
	for (const char *line = content; *line;) {
		size_t n = strcspn(line, "\r\n");
		const char *text = line + strspn(line, " \t");
		size_t text_len = n - (size_t)(text - line);
		while (text_len > 0 && (text[text_len - 1] == ' ' || text[text_len - 1] == '\t'))
			text_len--;
		if (text_len >= 2 && text[0] == 'S' && text[1] == 'U') {
			*start = text;
			*len = text_len;
			return 0;
		}
		line += n;
		line += strspn(line, "\r\n");
	}
	return -ENOENT;
}
