/*
 * The indexer thread: keeps the results index (result_index.h) in step
 * with BEAMLINE_RESULTS through a headers-only watch on the stream, so an
 * execute request for a job with no stored result needs no lookup.
 *
 * The watch starts with the last message of every results subject, then
 * follows new ones. Its initial-values marker makes the index current.
 * Anything that can leave a stored result unseen makes it not current
 * until a new watch has caught up again: the connection dropping or coming
 * back (serve.c's event handler invalidates the index), or the watch
 * failing. A new watch starts over from the last message of every subject
 * and adds keys that are there already. The set is never cleared: a
 * stored result goes away only by age, and a key whose result expired
 * costs one lookup and no wrong reply.
 *
 * NOTE: a result stored by any instance reaches this index one push
 * delivery after the stream stored it, later when the server or this
 * process is busy. An execute request for that tenant/id in between finds
 * no key and runs the job again. The reply is still correct (the job's
 * result), and requests never store results, so only the work is
 * repeated. Before the index, a request that came just before the result
 * was stored ran the job in the same way. A watch consumer deleted on the
 * server while the connection stays up widens the window to 15 s. The
 * watch notices only after three missed heartbeats (5 s each, its
 * default), and it replaces the consumer without returning an error, so
 * the index stays current meanwhile.
 */
#define _DEFAULT_SOURCE /* usleep */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "serve_ctx.h"

/*
 * The maximum number of keys in the index. 4 Mi keys take at most 64 MiB
 * of fingerprint slots, because the table grows at half load. Past it the
 * index is switched off, and every execute request looks up the stream, as
 * before the index existed.
 */
#define INDEX_MAX_KEYS (4u << 20)

/* How long one wait on the watch lasts: the bound on how late a stop or an invalidation is noticed. */
#define POLL_MS 250

/* Pause after a failed watch (the server away), before the next try. */
#define RETRY_PAUSE_MS 250

/* Learn one key. Returns false when the index is full and the thread should end. */
static bool learn(serve_t *s, const bl_kv_entry_t *entry)
{
	if (entry->op != BL_KV_PUT)
		return true;

	int rc = bl__result_index_add(&s->results_index, entry->key);
	if (rc == BL_ELIMIT) {
		BL_LOG(BL_LOG_WARN, "serve", "results_index_full", NULL,
		       "the results index is full; from now on every execute request looks up BEAMLINE_RESULTS",
		       BL_LOG_I("max_keys", INDEX_MAX_KEYS));
		return false;
	}
	if (rc == BL_ENOMEM)
		BL_LOG(BL_LOG_WARN, "serve", "results_index_out_of_memory", NULL,
		       "cannot grow the results index; execute requests look up BEAMLINE_RESULTS until it is rebuilt");
	return true;
}

/*
 * Log a failed watch: only the first failure of a run of them, so that a
 * server away for a minute costs one line and not one per retry.
 */
static void note_failure(bool *failing, int rc, const bl_nats_error_t *nerr)
{
	if (!*failing)
		BL_LOG(BL_LOG_WARN, "serve", "results_watch_failed", NULL, nerr->error.message,
		       BL_LOG_S("err_name", bl_err_name(rc)), BL_LOG_I("retry_ms", RETRY_PAUSE_MS),
		       BL_LOG_S("action", "retrying; execute requests look up BEAMLINE_RESULTS meanwhile"));
	*failing = true;
}

/* Open a watch on BEAMLINE_RESULTS. Returns 0, or a negative code with *nerr set. */
static int open_watch(serve_t *s, bl_kv_watch_t **watch, bl_nats_error_t *nerr)
{
	bl_kv_watch_opts_t opts = {.headers_only = true};
	return bl_kv_watch_stream_new(watch, s->nats, SERVE_STREAM_RESULTS, SERVE_RESULTS_PREFIX, &opts, nerr);
}

/*
 * Run the indexer: read the watch and learn each key, and make the index
 * current at the marker. The watch is replaced whenever the index's epoch
 * moved (an invalidation) or the watch failed.
 */
static void *index_loop(void *arg)
{
	serve_t *s = arg;
	bl_kv_watch_t *watch = NULL;
	uint64_t epoch = 0;
	bool keep_going = true;
	bool failing = false; /* the last watch failed and no new one has opened since */

	while (keep_going && !atomic_load(&s->stopping)) {
		if (watch && bl__result_index_epoch(&s->results_index) != epoch) {
			bl_kv_watch_free(watch);
			watch = NULL;
		}
		bl_nats_error_t nerr = {0};
		if (!watch) {
			epoch = bl__result_index_epoch(&s->results_index);
			int rc = open_watch(s, &watch, &nerr);
			if (rc < 0) {
				note_failure(&failing, rc, &nerr);
				usleep(RETRY_PAUSE_MS * 1000);
				continue;
			}
			if (failing)
				BL_LOG(BL_LOG_INFO, "serve", "results_watch_restored", NULL, NULL);
			failing = false;
		}

		bl_kv_entry_t *entry = NULL;
		int rc = bl_kv_watch_next(watch, &entry, POLL_MS, &nerr);
		if (rc == 1) {
			keep_going = learn(s, entry);
			bl_kv_entry_free(entry);
		} else if (rc == 0) {
			bl__result_index_caught_up(&s->results_index, epoch);
			BL_LOG(BL_LOG_INFO, "serve", "results_index_current", NULL, NULL);
		} else if (rc != -ETIMEDOUT) {
			/* The invalidation also makes the next round replace this watch. */
			note_failure(&failing, rc, &nerr);
			bl__result_index_invalidate(&s->results_index);
			usleep(RETRY_PAUSE_MS * 1000);
		}
	}

	/* No watch follows the stream any more: trust no absent key from here on. */
	bl__result_index_invalidate(&s->results_index);
	bl_kv_watch_free(watch);
	return NULL;
}

int bl__serve_index_init(serve_t *s)
{
	return bl__result_index_init(&s->results_index, INDEX_MAX_KEYS);
}

int bl__serve_index_start(serve_t *s, bl_error_t *err)
{
	int rc = pthread_create(&s->indexer, NULL, index_loop, s);
	if (rc != 0)
		return bl_error_set(err, -rc, NULL, "cannot start the results indexer thread: %s", strerror(rc));
	s->indexer_started = true;
	return 0;
}

void bl__serve_index_join(serve_t *s)
{
	if (s->indexer_started)
		pthread_join(s->indexer, NULL);
	s->indexer_started = false;
}
