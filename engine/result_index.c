/*
 * The results index (result_index.h): a set of key fingerprints with
 * linear probing, grown by doubling at half load, and the current/epoch
 * state that decides whether an absent key can be trusted.
 */
#include "result_index.h"

#include <stdlib.h>
#include <string.h>

#include <beamline/error.h>

#include <beamline/keyed_hash.h>

#define INITIAL_CAPACITY 1024u
/* Room on the stack for a tenant and an id of this many bytes each. */
#define KEY_PART_MAX 160u

/* The fingerprint of a results key "<tenant>.<id>" of `len` bytes. It is
 * keyed (keyed_hash.h), so a tenant that picks its job ids cannot make
 * them share slots and lengthen the probe runs under the lock. Never 0,
 * which marks a free slot. */
static uint64_t key_fingerprint(const char *key, size_t len)
{
	uint64_t h = bl_keyed_hash(key, len);
	return h ? h : 1;
}

/* The fingerprint of the key "<tenant>.<id>"; 0 without memory for a long key. */
static uint64_t fingerprint(const char *tenant, const char *id)
{
	char small[2 * KEY_PART_MAX];
	size_t tenant_len = strlen(tenant), id_len = strlen(id);
	size_t len = tenant_len + 1 + id_len;
	char *key = len <= sizeof small ? small : malloc(len);

	if (!key)
		return 0;
	memcpy(key, tenant, tenant_len);
	key[tenant_len] = '.';
	memcpy(key + tenant_len + 1, id, id_len);

	uint64_t fp = key_fingerprint(key, len);
	if (key != small)
		free(key);
	return fp;
}

/* The slot that contains `fp`, or the free slot where it would go. */
static size_t find_slot(const uint64_t *slots, size_t capacity, uint64_t fp)
{
	size_t i = (size_t)fp & (capacity - 1);
	while (slots[i] != 0 && slots[i] != fp)
		i = (i + 1) & (capacity - 1);
	return i;
}

/* Double the table. Called with the lock held. */
static int grow_locked(result_index_t *ix)
{
	size_t capacity = ix->capacity * 2;
	uint64_t *slots = calloc(capacity, sizeof *slots);
	if (!slots)
		return BL_ENOMEM;

	for (size_t i = 0; i < ix->capacity; i++) {
		if (ix->slots[i])
			slots[find_slot(slots, capacity, ix->slots[i])] = ix->slots[i];
	}
	free(ix->slots);
	ix->slots = slots;
	ix->capacity = capacity;
	return 0;
}

int bl__result_index_init(result_index_t *ix, size_t max_keys)
{
	memset(ix, 0, sizeof *ix);
	ix->slots = calloc(INITIAL_CAPACITY, sizeof *ix->slots);
	if (!ix->slots)
		return BL_ENOMEM;
	ix->capacity = INITIAL_CAPACITY;
	ix->max_keys = max_keys;
	pthread_mutex_init(&ix->lock, NULL);
	return 0;
}

void bl__result_index_destroy(result_index_t *ix)
{
	if (!ix->slots)
		return;
	pthread_mutex_destroy(&ix->lock);
	free(ix->slots);
	ix->slots = NULL;
}

uint64_t bl__result_index_epoch(result_index_t *ix)
{
	pthread_mutex_lock(&ix->lock);
	uint64_t epoch = ix->epoch;
	pthread_mutex_unlock(&ix->lock);
	return epoch;
}

/* Add the fingerprint `fp`. Called with the lock held; returns as bl__result_index_add. */
static int add_locked(result_index_t *ix, uint64_t fp)
{
	size_t i = find_slot(ix->slots, ix->capacity, fp);
	if (ix->slots[i] == fp)
		return 0;

	if (ix->count >= ix->max_keys) {
		ix->full = true;
		ix->current = false;
		return BL_ELIMIT;
	}
	if (2 * (ix->count + 1) > ix->capacity) {
		int rc = grow_locked(ix);
		if (rc < 0) {
			/* The key is not in the set, so the set no longer covers every stored result. */
			ix->current = false;
			ix->epoch++;
			return rc;
		}
		i = find_slot(ix->slots, ix->capacity, fp);
	}
	ix->slots[i] = fp;
	ix->count++;
	return 1;
}

int bl__result_index_add(result_index_t *ix, const char *key)
{
	uint64_t fp = key_fingerprint(key, strlen(key));

	pthread_mutex_lock(&ix->lock);
	int rc = ix->full ? BL_ELIMIT : add_locked(ix, fp);
	pthread_mutex_unlock(&ix->lock);
	return rc;
}

void bl__result_index_caught_up(result_index_t *ix, uint64_t epoch)
{
	pthread_mutex_lock(&ix->lock);
	if (ix->epoch == epoch && !ix->full)
		ix->current = true;
	pthread_mutex_unlock(&ix->lock);
}

void bl__result_index_invalidate(result_index_t *ix)
{
	pthread_mutex_lock(&ix->lock);
	ix->current = false;
	ix->epoch++;
	pthread_mutex_unlock(&ix->lock);
}

bool bl__result_index_may_hold(result_index_t *ix, const char *tenant, const char *id)
{
	uint64_t fp = fingerprint(tenant, id);
	if (fp == 0)
		return true; /* without memory to hash the key, the results stream is asked */

	pthread_mutex_lock(&ix->lock);
	bool may_hold = !ix->current || ix->slots[find_slot(ix->slots, ix->capacity, fp)] == fp;
	pthread_mutex_unlock(&ix->lock);
	return may_hold;
}

bool bl__result_index_is_current(result_index_t *ix, size_t *count)
{
	pthread_mutex_lock(&ix->lock);
	bool current = ix->current;
	*count = ix->count;
	pthread_mutex_unlock(&ix->lock);
	return current;
}
