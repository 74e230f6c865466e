/*
 * Internal to the NATS client layer: reading a key's last entry from the
 * bucket's stream, by direct get or by the stream message API.
 */
#ifndef BL_NATS_KV_READ_H
#define BL_NATS_KV_READ_H

#include "kv.h"

/*
 * Read `key`'s last entry, deletes and purges included, into *out (owned).
 * Returns 0, -ENOENT when the key has no entry, BL_EINVAL for an invalid
 * key, or another negative code.
 */
int bl__kv_read_last(bl_kv_entry_t **out, bl_kv_t *kv, const char *key, bl_nats_error_t *err);

/* Parse an RFC 3339 UTC time with up to nine fraction digits into nanoseconds since the epoch. */
int bl__kv_parse_time(int64_t *out, const char *text);

#endif
