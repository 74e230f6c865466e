/*
 * JetStream key-value buckets over core NATS. A bucket <b> is the stream
 * "KV_<b>" on subjects "$KV.<b>.>"; a key's value is the last message on
 * "$KV.<b>.<key>", and its revision is that message's stream sequence. A
 * delete is a message with the header "KV-Operation: DEL". cnats's KV
 * wrappers are never used (docs/nats.md explains why).
 */
#ifndef BEAMLINE_KV_H
#define BEAMLINE_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/js.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A bucket's settings. Zero history keeps 1 value per key; zero ttl_ns keeps values forever. */
typedef struct bl_kv_config {
	const char *bucket;
	int history;
	int64_t ttl_ns;
	bl_js_storage_t storage;
	int replicas;
} bl_kv_config_t;

/*
 * Create the bucket's stream when missing, or verify it (history, ttl,
 * storage, replicas and the KV settings: discard new, deny delete, rollup
 * headers, direct get). Same results as bl_js_stream_ensure: 1 created, 0
 * matched, -EEXIST with *mismatches; BL_EINVAL for a bucket name with
 * '.', '*', '>' or whitespace, or a history outside 1..64.
 */
int bl_kv_bucket_ensure(bl_nats_t *nats, const bl_kv_config_t *config, uint32_t *mismatches, bl_nats_error_t *err);

typedef struct bl_kv bl_kv_t;

/*
 * Open an existing bucket (name copied). Reads its stream once to learn
 * whether the server allows direct gets. Returns 0 with *out owned (free
 * with bl_kv_free), -ENOENT when the bucket does not exist, or another
 * negative code. A bl_kv_t may be used from several threads at once, except
 * that each watch belongs to one thread.
 */
int bl_kv_open(bl_kv_t **out, bl_nats_t *nats, const char *bucket, bl_nats_error_t *err);

/* Free a bucket handle (NULL is fine); its watches must be freed first. */
void bl_kv_free(bl_kv_t *kv);

typedef enum bl_kv_op {
	BL_KV_PUT = 0,
	BL_KV_DELETE,
	BL_KV_PURGE,
} bl_kv_op_t;

/* One key's value at one revision; owned by the caller, free with bl_kv_entry_free. */
typedef struct bl_kv_entry {
	const char *key;
	/* NUL-terminated for convenience; `len` excludes the NUL. Empty for deletes. */
	const char *value;
	size_t len;
	uint64_t revision;
	/* When the value was stored, nanoseconds since the Unix epoch (0 when unknown). */
	int64_t created_ns;
	bl_kv_op_t op;
} bl_kv_entry_t;

void bl_kv_entry_free(bl_kv_entry_t *entry);

/*
 * Read a key's latest value. Returns 0 with *out owned, or -ENOENT when the
 * key was never set or its latest entry is a delete or purge. Other
 * failures: BL_EINVAL for an invalid key, or another negative code.
 */
int bl_kv_get(bl_kv_entry_t **out, bl_kv_t *kv, const char *key, bl_nats_error_t *err);

/* Store a value; *revision (when not NULL) gets its revision. Returns 0 or a negative code. */
int bl_kv_put(bl_kv_t *kv, const char *key, const void *value, size_t len, uint64_t *revision,
	      bl_nats_error_t *err);

/* Store a value only when the key has none (never set, or deleted). Returns 0, or -EEXIST when it has one. */
int bl_kv_create(bl_kv_t *kv, const char *key, const void *value, size_t len, uint64_t *revision,
		 bl_nats_error_t *err);

/* Store a value only when the key's latest revision is `last` (compare-and-set). Returns 0 or -ESTALE. */
int bl_kv_update(bl_kv_t *kv, const char *key, const void *value, size_t len, uint64_t last, uint64_t *revision,
		 bl_nats_error_t *err);

/* Mark a key deleted (its history stays). Returns 0 or a negative code. */
int bl_kv_delete(bl_kv_t *kv, const char *key, bl_nats_error_t *err);

/* A watch on a bucket's keys. One thread at a time. */
typedef struct bl_kv_watch bl_kv_watch_t;

/* Options of a watch; zero means the default for every field. */
typedef struct bl_kv_watch_opts {
	/* Keys to watch, with NATS wildcards ("tenant.*", ">"); default ">" (all). */
	const char *keys;
	/* Deliver keys and revisions without values (key listing). */
	bool headers_only;
	/* How often the server sends a heartbeat while idle; default 5000. Three missed
	 * heartbeats make the watch recreate its consumer. */
	int64_t idle_heartbeat_ms;
} bl_kv_watch_opts_t;

/*
 * Start a watch: first the latest entry of every matching key (deletes
 * included), then every change as it happens. Returns 0 with *out owned
 * (free with bl_kv_watch_free) or a negative code.
 */
int bl_kv_watch_new(bl_kv_watch_t **out, bl_kv_t *kv, const bl_kv_watch_opts_t *opts, bl_nats_error_t *err);

/*
 * Wait at most `timeout_ms` for the next entry. Returns 1 with *out owned
 * (free with bl_kv_entry_free); 0 with *out NULL exactly once, when the
 * initial values have all been delivered (at once for an empty bucket);
 * -ETIMEDOUT when nothing came in time (the watch goes on); or another
 * negative code. The wait is measured on the monotonic clock and ends no
 * earlier than `timeout_ms`, however many heartbeats arrive meanwhile. On a
 * gap in the consumer's sequence, or after three missed heartbeats, the
 * watch recreates its consumer from the last stream sequence it delivered,
 * so no change is lost (before the marker it starts the initial values
 * over, so some may come twice); that request may add up to the connection's
 * request timeout to the wait, and when it fails (server still away) its
 * error is returned and the next call tries again.
 */
int bl_kv_watch_next(bl_kv_watch_t *watch, bl_kv_entry_t **out, int64_t timeout_ms, bl_nats_error_t *err);

/*
 * Start a watch, as bl_kv_watch_new does, on `stream`, a stream that need
 * not be a bucket. Each message on a subject "<prefix><key>" is a put of
 * <key>, unless a "KV-Operation" header makes it a delete. The stream must
 * exist, and its subjects outside `prefix` are not watched. `stream` and
 * `prefix` are borrowed and must not be NULL.
 * `opts->keys` filters the keys after the prefix. Returns 0 with *out owned
 * (free with bl_kv_watch_free) or a negative code; the watch uses `nats`
 * (borrowed), which must outlive it.
 */
int bl_kv_watch_stream_new(bl_kv_watch_t **out, bl_nats_t *nats, const char *stream, const char *prefix,
			   const bl_kv_watch_opts_t *opts, bl_nats_error_t *err);

/* Stop a watch and free it (NULL is fine). */
void bl_kv_watch_free(bl_kv_watch_t *watch);

/*
 * List the keys that currently have a value (deleted keys left out), in
 * stream order. Returns the count with *keys an owned array of owned
 * strings (free with bl_kv_keys_free), or a negative code.
 */
int bl_kv_keys(char ***keys, bl_kv_t *kv, bl_nats_error_t *err);

void bl_kv_keys_free(char **keys, size_t count);

#ifdef __cplusplus
}
#endif

#endif
