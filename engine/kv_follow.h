/*
 * A thread that follows a KV watch (nats/kv.h) and hands each event to
 * the owner's callbacks: the quota watch and the approvals watch of the
 * service mode share it.
 *
 * A failure is reported once when it starts and once when it ends, not
 * on every retry. In between, the thread keeps reading, because the watch
 * replaces its consumer by itself after a gap or lost heartbeats.
 */
#ifndef BL_ENGINE_KV_FOLLOW_H
#define BL_ENGINE_KV_FOLLOW_H

#include <beamline/kv.h>

typedef struct bl_kv_follow bl_kv_follow_t;

/* Called on the follower's thread, one at a time. */
typedef struct bl_kv_follow_ops {
	/* An entry was stored, changed or deleted; `e` is borrowed. Required. */
	void (*entry)(void *arg, const bl_kv_entry_t *e);
	/* Every entry that existed when the watch started was delivered. Optional. */
	void (*caught_up)(void *arg);
	/* Reads started failing with `rc`, and `err` contains the reason. Optional. */
	void (*failing)(void *arg, int rc, const bl_nats_error_t *err);
	/* Reads work again after a failure. Optional. */
	void (*recovered)(void *arg);
} bl_kv_follow_ops_t;

/*
 * Start a thread that reads `watch` and calls `ops` with `arg`. On
 * success the follower owns the watch; on failure the caller keeps it.
 * `ops` is copied. Returns 0 or a negative errno.
 */
int bl__kv_follow_start(bl_kv_follow_t **out, bl_kv_watch_t *watch, const bl_kv_follow_ops_t *ops, void *arg);

/* Stop the thread (within one poll, 250 ms), free the watch and the
 * follower, and set *follow to NULL. Accepts NULL. */
void bl__kv_follow_stop(bl_kv_follow_t **follow);

#endif
