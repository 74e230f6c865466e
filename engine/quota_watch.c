/*
 * The quota watcher: one thread that reads the bucket's watch and turns
 * each entry into a bl_quota_change_t for the caller's callback.
 */
#include "quota_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beamline/kv.h>

#include "kv_follow.h"
#include "log.h"

struct bl_quota_watch {
	/* Set once at start. */
	bl_quota_watch_config_t cfg;
	char bucket[128];
	bl_kv_t *kv;
	bl_kv_follow_t *follow;

	/* Whether BL_QUOTA_READY was delivered; guarded by lock. */
	pthread_mutex_t lock;
	pthread_cond_t ready_cond;
	bool ready;
};

/* Turn one entry into a change and hand it on; a bad one is logged. */
static void deliver(void *arg, const bl_kv_entry_t *e)
{
	bl_quota_watch_t *w = arg;
	bl_quota_change_t change = {.kind = e->op == BL_KV_PUT ? BL_QUOTA_PUT : BL_QUOTA_DELETE};
	bl_error_t err = {0};

	if (strlen(e->key) > BL_QUOTA_TENANT_MAX) {
		BL_LOG(BL_LOG_WARN, "quotas", "quota_invalid", NULL, "the key is too long to be a tenant name; ignored",
		       BL_LOG_S("bucket", w->bucket), BL_LOG_I("revision", e->revision));
		return;
	}
	snprintf(change.tenant, sizeof change.tenant, "%s", e->key);
	int rc = change.kind == BL_QUOTA_PUT
			 ? bl_quota_value_parse(&change.quota, e->key, e->value, e->len, &w->cfg.default_quota, &err)
			 : 0;
	if (rc < 0) {
		BL_LOG(BL_LOG_WARN, "quotas", "quota_invalid", NULL, err.message, BL_LOG_S("tenant", e->key),
		       BL_LOG_S("field", err.field), BL_LOG_I("revision", e->revision),
		       BL_LOG_S("action", "ignored; the tenant keeps its previous quota"));
		return;
	}
	w->cfg.on_change(&change, w->cfg.arg);
}

static void mark_ready(void *arg)
{
	bl_quota_watch_t *w = arg;
	bl_quota_change_t change = {.kind = BL_QUOTA_READY};

	w->cfg.on_change(&change, w->cfg.arg);
	pthread_mutex_lock(&w->lock);
	w->ready = true;
	pthread_cond_broadcast(&w->ready_cond);
	pthread_mutex_unlock(&w->lock);
}

static void failing(void *arg, int rc, const bl_nats_error_t *err)
{
	bl_quota_watch_t *w = arg;

	BL_LOG(BL_LOG_WARN, "quotas", "quota_watch_failing", NULL, err->error.message, BL_LOG_S("bucket", w->bucket),
	       BL_LOG_I("err", rc), BL_LOG_S("err_name", bl_err_name(rc)));
}

static void recovered(void *arg)
{
	bl_quota_watch_t *w = arg;

	BL_LOG(BL_LOG_INFO, "quotas", "quota_watch_recovered", NULL, NULL, BL_LOG_S("bucket", w->bucket));
}

static const bl_kv_follow_ops_t follow_ops = {
	.entry = deliver,
	.caught_up = mark_ready,
	.failing = failing,
	.recovered = recovered,
};

/* Open the bucket, creating it when it does not exist. */
static int open_bucket(bl_quota_watch_t *w, bl_nats_t *nats, bl_nats_error_t *err)
{
	int rc = bl_kv_open(&w->kv, nats, w->bucket, err);
	if (rc != -ENOENT)
		return rc;

	bl_kv_config_t config = {.bucket = w->bucket, .history = 1};
	rc = bl_kv_bucket_ensure(nats, &config, NULL, err);
	return rc < 0 ? rc : bl_kv_open(&w->kv, nats, w->bucket, err);
}

static void free_watch(bl_quota_watch_t *w)
{
	bl__kv_follow_stop(&w->follow);
	bl_kv_free(w->kv);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->ready_cond);
	free(w);
}

int bl_quota_watch_start(bl_quota_watch_t **out, bl_nats_t *nats, const bl_quota_watch_config_t *cfg,
			 bl_error_t *err)
{
	const char *bucket = cfg->bucket ? cfg->bucket : BL_QUOTA_WATCH_BUCKET;
	bl_nats_error_t nerr = {0};
	bl_kv_watch_t *watch = NULL;

	if (!cfg->on_change || strlen(bucket) >= sizeof ((bl_quota_watch_t *)0)->bucket)
		return bl_error_set(err, BL_EINVAL, "quotas.bucket", "expected a bucket name under 128 bytes and a callback");
	bl_quota_watch_t *w = calloc(1, sizeof *w);
	if (!w)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory starting the quota watch");
	w->cfg = *cfg;
	snprintf(w->bucket, sizeof w->bucket, "%s", bucket);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->ready_cond, NULL);

	int rc = open_bucket(w, nats, &nerr);
	if (rc >= 0)
		rc = bl_kv_watch_new(&watch, w->kv, NULL, &nerr);
	if (rc >= 0)
		rc = bl__kv_follow_start(&w->follow, watch, &follow_ops, w);
	if (rc < 0) {
		bl_error_set(err, rc, "quotas.bucket", "cannot watch the quota bucket '%s': %s", w->bucket,
			     nerr.error.message[0] ? nerr.error.message : bl_strerror(rc));
		bl_kv_watch_free(watch);
		free_watch(w);
		return rc;
	}
	*out = w;
	return 0;
}

int bl_quota_watch_wait_ready(bl_quota_watch_t *w, int64_t timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->ready && rc == 0)
		rc = pthread_cond_timedwait(&w->ready_cond, &w->lock, &until);
	bool ready = w->ready;
	pthread_mutex_unlock(&w->lock);
	return ready ? 0 : -ETIMEDOUT;
}

void bl_quota_watch_stop(bl_quota_watch_t **watch)
{
	bl_quota_watch_t *w = *watch;
	if (!w)
		return;

	free_watch(w);
	*watch = NULL;
}
