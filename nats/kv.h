/*
 * Internal to the NATS client layer: a bucket handle, and what the KV
 * files share.
 */
#ifndef BL_NATS_KV_H
#define BL_NATS_KV_H

#include <stdbool.h>

#include <beamline/kv.h>

#include "internal.h"

struct bl_kv {
	bl_nats_t *nats;
	char *bucket;
	/* "KV_<bucket>" */
	char *stream;
	/* "$KV.<bucket>." */
	char *prefix;
	/* The stream allows direct gets ("$JS.API.DIRECT.GET.*"). */
	bool direct;
};

/*
 * Make an entry from its parts, copied into one allocation. Returns NULL
 * when memory runs out.
 */
bl_kv_entry_t *bl__kv_entry_new(const char *key, const void *value, size_t len, uint64_t revision,
				int64_t created_ns, bl_kv_op_t op);

/* The operation a "KV-Operation" header value names: "DEL", "PURGE", or anything else (a put). */
bl_kv_op_t bl__kv_op_of(const char *header);

/*
 * Check a key: non-empty, made of letters, digits and "-/_=.", not starting
 * or ending with '.'; with `wildcards`, "*" and ">" tokens are allowed too.
 * Returns 0 or BL_EINVAL naming the key.
 */
int bl__kv_check_key(const char *key, bool wildcards, bl_nats_error_t *err);

/*
 * Check `key` and write "$KV.<bucket>.<key>" into `subject`. Returns 0, or
 * BL_EINVAL for an invalid key or one too long for `size`.
 */
int bl__kv_subject(char *subject, size_t size, const bl_kv_t *kv, const char *key, bl_nats_error_t *err);

#endif
