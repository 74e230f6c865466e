/*
 * The results index: which tenant/id keys have a stored result in
 * BEAMLINE_RESULTS, as far as a watch on that stream has seen. An execute
 * request whose key is certainly absent skips the JetStream round trip of
 * a results lookup. Only a key that may be present is looked up.
 *
 * The set holds 64-bit fingerprints of "<tenant>.<id>", not the keys, so
 * two keys can share one. That only makes an absent key look present,
 * which costs one lookup and never a wrong answer.
 *
 * The index is "current" from the moment the watch has delivered every
 * result stored when the watch started, until an invalidation (the
 * connection dropped, the watch failed). While it is not current every
 * key may be present. Each invalidation starts a new epoch; the watch
 * started in an older epoch cannot make the index current again.
 *
 * Thread safety: every call takes the index's lock, so any thread may
 * call any function once init has returned.
 */
#ifndef BL_ENGINE_RESULT_INDEX_H
#define BL_ENGINE_RESULT_INDEX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct result_index {
	pthread_mutex_t lock;
	uint64_t *slots;    /* fingerprints, open addressing; 0 marks a free slot */
	size_t capacity;    /* slots, a power of two */
	size_t count;       /* keys held */
	size_t max_keys;
	uint64_t epoch;     /* incremented by each invalidation */
	bool current;
	bool full;          /* max_keys was reached: never current again */
} result_index_t;

/* Make an empty index for at most `max_keys` keys. Returns 0 or BL_ENOMEM. */
int bl__result_index_init(result_index_t *ix, size_t max_keys);

/* Free what the index owns. No other thread may use it any more. */
void bl__result_index_destroy(result_index_t *ix);

/* The current epoch: a watch records it when it starts, for bl__result_index_caught_up. */
uint64_t bl__result_index_epoch(result_index_t *ix);

/*
 * Add the key "<tenant>.<id>" (borrowed). Returns 1 when it was new, 0
 * when it was there already, or a negative code. BL_ELIMIT means max_keys
 * is reached: the index is never current again, so every key may be
 * present. BL_ENOMEM means growing the table failed, and the index is left
 * not current.
 */
int bl__result_index_add(result_index_t *ix, const char *key);

/* Mark the index current, unless an invalidation came after `epoch` was read. */
void bl__result_index_caught_up(result_index_t *ix, uint64_t epoch);

/* Mark the index not current and start a new epoch. */
void bl__result_index_invalidate(result_index_t *ix);

/*
 * Whether tenant/id (borrowed) may have a stored result: true when its key
 * is in the set, or when the index is not current. False means that no
 * result of tenant/id had reached the watch when this call ran.
 */
bool bl__result_index_may_hold(result_index_t *ix, const char *tenant, const char *id);

/* Whether the index is current, and in *count the number of keys it contains (for status replies). */
bool bl__result_index_is_current(result_index_t *ix, size_t *count);

#endif
