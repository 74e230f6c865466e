/*
 * A keyed 64-bit hash for tables whose keys come from tenants (job ids,
 * tenant names): SipHash-2-4 (libsodium's crypto_shorthash) with a key
 * drawn from the kernel's random numbers once per process. A client that
 * picks its keys therefore cannot make them collide on purpose, which
 * would lengthen the probe runs of a table that other tenants share.
 */
#ifndef BL_UTIL_KEYED_HASH_H
#define BL_UTIL_KEYED_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash the `len` bytes at `data` (borrowed). Thread-safe. */
uint64_t bl_keyed_hash(const void *data, size_t len);

#endif
