/*
 * Unkeyed 64-bit hashing: XXH3 (xxHash) over bytes, then the splitmix64
 * finaliser where the low bits must be well mixed. Neither function is
 * keyed, so a caller that chooses the input can make two collide on
 * purpose: tables keyed by tenants' names and ids use bl_keyed_hash
 * (keyed_hash.h) instead. These fingerprint a job's content, which is
 * compared only with another job of the same tenant and id. The content
 * can hold megabytes (an fs put), which XXH3 reads at memory speed.
 */
#ifndef BL_ENGINE_HASH_H
#define BL_ENGINE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <xxhash.h>

/* The hash to start from: the hash of no bytes. */
#define BL_HASH_INIT 0xcbf29ce484222325ull

/* Hash the `len` bytes at `data` (borrowed), continuing from `h`. */
static inline uint64_t bl__hash_bytes(uint64_t h, const void *data, size_t len)
{
	return XXH3_64bits_withSeed(data, len, h);
}

/* Spread every input bit over the output (the splitmix64 finaliser). */
static inline uint64_t bl__hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

#endif
