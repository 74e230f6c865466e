#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/error.h>
#include <beamline/keyed_hash.h>

/* Keyed, because the keys are tenant names and job ids. */
static uint64_t hash(const char *key)
{
	return bl_keyed_hash(key, strlen(key));
}

static bl_strmap_slot_t *find(bl_strmap_slot_t *slots, size_t capacity, const char *key)
{
	size_t mask = capacity - 1;
	for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
		bl_strmap_slot_t *s = &slots[i];
		if (!s->key || strcmp(s->key, key) == 0)
			return s;
	}
}

void *bl_strmap_get(const bl_strmap_t *map, const char *key)
{
	if (map->capacity == 0)
		return NULL;
	bl_strmap_slot_t *s = find(map->slots, map->capacity, key);
	return s->key ? s->value : NULL;
}

static int grow(bl_strmap_t *map)
{
	size_t capacity = map->capacity ? map->capacity * 2 : 16;
	bl_strmap_slot_t *slots = calloc(capacity, sizeof *slots);
	if (!slots)
		return BL_ENOMEM;

	for (size_t i = 0; i < map->capacity; i++) {
		if (map->slots[i].key)
			*find(slots, capacity, map->slots[i].key) = map->slots[i];
	}
	free(map->slots);
	map->slots = slots;
	map->capacity = capacity;
	return 0;
}

int bl_strmap_put(bl_strmap_t *map, const char *key, void *value)
{
	/* Keep the load factor at or below one half. */
	if ((map->count + 1) * 2 > map->capacity && grow(map) != 0)
		return BL_ENOMEM;

	bl_strmap_slot_t *s = find(map->slots, map->capacity, key);
	if (!s->key) {
		s->key = strdup(key);
		if (!s->key)
			return BL_ENOMEM;
		map->count++;
	}
	s->value = value;
	return 0;
}

void bl_strmap_clear(bl_strmap_t *map, void (*free_value)(void *value))
{
	for (size_t i = 0; i < map->capacity; i++) {
		if (!map->slots[i].key)
			continue;
		if (free_value)
			free_value(map->slots[i].value);
		free(map->slots[i].key);
	}
	free(map->slots);
	*map = (bl_strmap_t){0};
}
