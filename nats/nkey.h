/*
 * NATS nkeys, read and checked locally, so that a bad key is reported by
 * config field before any connection. The text form of an nkey is base32
 * without padding of prefix bytes, the 32-byte Ed25519 key and a
 * CRC-16/XMODEM of both, stored little-endian. This file checks user seeds
 * and user public keys and derives the public key of a seed. Internal to
 * the NATS client layer.
 */
#ifndef BL_NATS_NKEY_H
#define BL_NATS_NKEY_H

#include <stddef.h>
#include <stdint.h>

/* A user public key or seed in text form is 56 or 58 characters, so this fits either with its NUL. */
#define BL__NKEY_TEXT_MAX 64

/*
 * Check that `text` (borrowed, `len` characters) is a user public key
 * ("U...": valid base32, checksum and prefix). Returns 0, or BL_EINVAL with
 * the cause in `reason` (`reason_size` bytes).
 */
int bl__nkey_check_user_public(const char *text, size_t len, char *reason, size_t reason_size);

/*
 * Decode the user seed `text` (borrowed, `len` characters, "SU...") and
 * write the text of its public key ("U...", NUL-terminated) to `public_key`,
 * which has BL__NKEY_TEXT_MAX bytes. Returns 0, BL_EINVAL with the cause in
 * `reason` for a text that is not a user seed, or BL_ENOMEM.
 */
int bl__nkey_seed_public(char *public_key, const char *text, size_t len, char *reason, size_t reason_size);

/*
 * Find the seed line of a seed or credentials file's `content` (borrowed,
 * NUL-terminated): the first line that starts with "SU" once blanks are
 * trimmed. Sets *start and *len. Returns 0, or -ENOENT when there is none.
 */
int bl__nkey_find_seed(const char **start, size_t *len, const char *content);

#endif
