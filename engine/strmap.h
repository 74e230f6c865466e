/*
 * A string-keyed hash map (open addressing, linear probing) that copies
 * its keys. Not thread-safe: one actor owns each map.
 */
#ifndef BL_ENGINE_STRMAP_H
#define BL_ENGINE_STRMAP_H

#include <stddef.h>

typedef struct bl_strmap_slot {
	char *key;
	void *value;
} bl_strmap_slot_t;

typedef struct bl_strmap {
	bl_strmap_slot_t *slots;
	size_t capacity; /* a power of two, or 0 before the first put */
	size_t count;
} bl_strmap_t;

/* Return the value stored under `key`, or NULL. */
void *bl_strmap_get(const bl_strmap_t *map, const char *key);

/* Store `value` under `key`, replacing any value there. Returns 0 or
 * BL_ENOMEM. */
int bl_strmap_put(bl_strmap_t *map, const char *key, void *value);

/* Free the keys and the table; `free_value` (may be NULL) gets each value. */
void bl_strmap_clear(bl_strmap_t *map, void (*free_value)(void *value));

#endif
