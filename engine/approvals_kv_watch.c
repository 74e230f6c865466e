/*
 * The bucket watch of the service mode's approvals: one thread that reads
 * a watch on beamline_approvals and wakes the jobs waiting on each
 * approval whose record was stored or changed. A decision made on any
 * instance thus reaches the instance whose job waits on it.
 *
 * The watch delivers keys only (no values): a woken job reads its record
 * itself, so a spurious wake-up costs one read. While the watch fails
 * (the server away), it marks the store as unwatched, so waiting jobs
 * reread their record every approvals.rescan_ms until it recovers. The
 * watch recreates its consumer from the last change it delivered, so no
 * decision is missed across a reconnection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <beamline/kv.h>

#include "approvals_kv.h"
#include "log.h"

/* How long one wait on the watch lasts: the bound on how late a stop is noticed. */
#define POLL_MS 250

struct bl_approvals_kv_watch {
	/* Set once at start. */
	bl_approvals_t *service;
	char bucket[128];
	bl_kv_t *kv;
	bl_kv_watch_t *watch; /* the thread's alone once it runs */
	pthread_t thread;

	atomic_bool stopping;
};

/* Wake the jobs waiting on the approval of `key`. */
static void deliver(bl_approvals_kv_watch_t *w, const bl_kv_entry_t *e)
{
	char id[BL_APPROVAL_ID_MAX + 1];

	if (bl__approvals_kv_id(id, sizeof id, e->key) < 0) {
		BL_LOG(BL_LOG_DEBUG, "approvals", "approval_key_ignored", NULL, "the key is not an approval's key",
		       BL_LOG_S("key", e->key), BL_LOG_I("revision", e->revision));
		return;
	}
	bl_approvals_notify(w->service, id);
}

/* Log a failure once when it starts, and make waiting jobs poll meanwhile. */
static void on_failure(bl_approvals_kv_watch_t *w, bool *failing, int rc, const bl_nats_error_t *err)
{
	if (*failing)
		return;
	*failing = true;
	BL_LOG(BL_LOG_WARN, "approvals", "approvals_watch_failing", NULL, err->error.message,
	       BL_LOG_S("bucket", w->bucket), BL_LOG_I("err", rc), BL_LOG_S("err_name", bl_err_name(rc)),
	       BL_LOG_S("action", "waiting jobs reread their approval periodically until the watch recovers"));
	bl_approvals_set_watched(w->service, false);
}

static void *watch_loop(void *arg)
{
	bl_approvals_kv_watch_t *w = arg;
	bool failing = false;

	while (!atomic_load(&w->stopping)) {
		bl_kv_entry_t *e = NULL;
		bl_nats_error_t err = {0};
		int rc = bl_kv_watch_next(w->watch, &e, POLL_MS, &err);

		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			on_failure(w, &failing, rc, &err);
			struct timespec pause = {.tv_nsec = POLL_MS * 1000000L};
			nanosleep(&pause, NULL);
			continue;
		}
		if (failing) {
			BL_LOG(BL_LOG_INFO, "approvals", "approvals_watch_recovered", NULL, NULL,
			       BL_LOG_S("bucket", w->bucket));
			bl_approvals_set_watched(w->service, true);
			failing = false;
		}
		if (rc == 1)
			deliver(w, e);
		bl_kv_entry_free(e);
	}
	return NULL;
}

static void free_watch(bl_approvals_kv_watch_t *w)
{
	bl_kv_watch_free(w->watch);
	bl_kv_free(w->kv);
	free(w);
}

int bl__approvals_kv_watch_start(bl_approvals_kv_watch_t **out, bl_nats_t *nats, bl_approvals_t *service,
				 const char *bucket, bl_error_t *err)
{
	const char *name = bucket ? bucket : BL_APPROVALS_KV_BUCKET;
	bl_kv_watch_opts_t opts = {.headers_only = true};
	bl_nats_error_t nerr = {0};

	*out = NULL;
	bl_approvals_kv_watch_t *w = calloc(1, sizeof *w);
	if (!w)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory starting the approvals watch");
	w->service = service;
	snprintf(w->bucket, sizeof w->bucket, "%s", name);

	int rc = bl_kv_open(&w->kv, nats, name, &nerr);
	if (rc >= 0)
		rc = bl_kv_watch_new(&w->watch, w->kv, &opts, &nerr);
	if (rc >= 0) {
		/* Before the thread runs, so that its first failure can turn it off. */
		bl_approvals_set_watched(service, true);
		rc = -pthread_create(&w->thread, NULL, watch_loop, w);
	}
	if (rc < 0) {
		bl_approvals_set_watched(service, false);
		bl_error_set(err, rc, name, "cannot watch the approvals bucket: %s",
			     nerr.error.message[0] ? nerr.error.message : bl_strerror(rc));
		free_watch(w);
		return rc;
	}
	*out = w;
	return 0;
}

void bl__approvals_kv_watch_stop(bl_approvals_kv_watch_t **watch)
{
	bl_approvals_kv_watch_t *w = *watch;
	if (!w)
		return;

	atomic_store(&w->stopping, true);
	pthread_join(w->thread, NULL);
	free_watch(w);
	*watch = NULL;
}
