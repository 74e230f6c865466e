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
#include <stdio.h>
#include <stdlib.h>

#include <beamline/kv.h>

#include "approvals_kv.h"
#include "kv_follow.h"
#include "log.h"

struct bl_approvals_kv_watch {
	/* Set once at start. */
	bl_approvals_t *service;
	char bucket[128];
	bl_kv_t *kv;
	bl_kv_follow_t *follow;
};

/* Wake the jobs waiting on the approval of the entry's key. */
static void deliver(void *arg, const bl_kv_entry_t *e)
{
	bl_approvals_kv_watch_t *w = arg;
	char id[BL_APPROVAL_ID_MAX + 1];

	if (bl__approvals_kv_id(id, sizeof id, e->key) < 0) {
		BL_LOG(BL_LOG_DEBUG, "approvals", "approval_key_ignored", NULL, "the key is not an approval's key",
		       BL_LOG_S("key", e->key), BL_LOG_I("revision", e->revision));
		return;
	}
	bl_approvals_notify(w->service, id);
}

/* Log the failure and make waiting jobs poll meanwhile. */
static void failing(void *arg, int rc, const bl_nats_error_t *err)
{
	bl_approvals_kv_watch_t *w = arg;

	BL_LOG(BL_LOG_WARN, "approvals", "approvals_watch_failing", NULL, err->error.message,
	       BL_LOG_S("bucket", w->bucket), BL_LOG_I("err", rc), BL_LOG_S("err_name", bl_err_name(rc)),
	       BL_LOG_S("action", "waiting jobs reread their approval periodically until the watch recovers"));
	bl_approvals_set_watched(w->service, false);
}

static void recovered(void *arg)
{
	bl_approvals_kv_watch_t *w = arg;

	BL_LOG(BL_LOG_INFO, "approvals", "approvals_watch_recovered", NULL, NULL, BL_LOG_S("bucket", w->bucket));
	bl_approvals_set_watched(w->service, true);
}

static const bl_kv_follow_ops_t follow_ops = {.entry = deliver, .failing = failing, .recovered = recovered};

int bl__approvals_kv_watch_start(bl_approvals_kv_watch_t **out, bl_nats_t *nats, bl_approvals_t *service,
				 const char *bucket, bl_error_t *err)
{
	const char *name = bucket ? bucket : BL_APPROVALS_KV_BUCKET;
	bl_kv_watch_opts_t opts = {.headers_only = true};
	bl_kv_watch_t *watch = NULL;
	bl_nats_error_t nerr = {0};

	*out = NULL;
	bl_approvals_kv_watch_t *w = calloc(1, sizeof *w);
	if (!w)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory starting the approvals watch");
	w->service = service;
	snprintf(w->bucket, sizeof w->bucket, "%s", name);

	int rc = bl_kv_open(&w->kv, nats, name, &nerr);
	if (rc >= 0)
		rc = bl_kv_watch_new(&watch, w->kv, &opts, &nerr);
	if (rc >= 0) {
		/* Before the thread runs, so that its first failure can turn it off. */
		bl_approvals_set_watched(service, true);
		rc = bl__kv_follow_start(&w->follow, watch, &follow_ops, w);
	}
	if (rc < 0) {
		bl_approvals_set_watched(service, false);
		bl_error_set(err, rc, name, "cannot watch the approvals bucket: %s",
			     nerr.error.message[0] ? nerr.error.message : bl_strerror(rc));
		bl_kv_watch_free(watch);
		bl_kv_free(w->kv);
		free(w);
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

	bl__kv_follow_stop(&w->follow);
	bl_kv_free(w->kv);
	free(w);
	*watch = NULL;
}
