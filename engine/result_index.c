/*
 * The results index (result_index.h): a set of key fingerprints with
 * linear probing, grown by doubling at half load, and the current/epoch
 * state that decides whether an absent key can be trusted.
 */
#include "result_index.h"

#include <stdlib.h>
#include <string.h>

#include <beamline/error.h>

#include "hash.h"

#define INITIAL_CAPACITY 1024u

/*
 * The fingerprint of the key "<tenant>.<id>", without building the key.
 * Never 0, which marks a free slot.
 *
 * NOTE: the hash is not keyed, so a tenant that picks its job ids can make
 * them share slots or whole fingerprints. That costs longer probe runs
 * under the lock and needless lookups, never a wrong reply. A keyed hash
 * (SipHash with a key drawn at start) would close it.
 */
static uint64_t fingerprint(const char *tenant, const char *id)
{
	uint64_t h = bl__hash_fnv1a(BL_HASH_FNV1A_INIT, tenant, strlen(tenant));
	h = bl__hash_fnv1a(h, ".", 1);
	h = bl__hash_mix(bl__hash_fnv1a(h, id, strlen(id)));
	return h ? h : 1;
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
	/* The same bytes as fingerprint(tenant, id) hashes, since a key is "<tenant>.<id>". */
	uint64_t fp = bl__hash_mix(bl__hash_fnv1a(BL_HASH_FNV1A_INIT, key, strlen(key)));
	fp = fp ? fp : 1;

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
