/*
 * Live tenant quotas from the JetStream key-value bucket `beamline_quotas`:
 * each key is a tenant name, each value that tenant's quota as a JSON
 * object of the quota file's tenant entries ({"max_queued": 10, "weight": 3};
 * fields left out come from the default quota). A watcher thread reports
 * every put and delete, and once the end of the values stored at start.
 * A value that does not parse is logged and skipped, so the tenant keeps
 * its previous quota.
 *
 * A service passes the changes to its dispatcher actor: on_change
 * bl__dispatcher_quota_fn with arg the dispatcher (run_ctx.h). It starts
 * the watch once the dispatcher runs, waits for the stored quotas before
 * taking jobs, and stops the watch before the runtime is freed.
 */
#ifndef BL_ENGINE_QUOTA_WATCH_H
#define BL_ENGINE_QUOTA_WATCH_H

#include <stdint.h>

#include <beamline/error.h>
#include <beamline/nats.h>

#include "quota.h"

#define BL_QUOTA_WATCH_BUCKET "beamline_quotas"

/* Called on the watcher's thread, once per change; `change` is borrowed for
 * the call. It must not block for long: later changes wait for it. */
typedef void (*bl_quota_watch_fn)(const bl_quota_change_t *change, void *arg);

typedef struct bl_quota_watch_config {
	const char *bucket;        /* NULL: BL_QUOTA_WATCH_BUCKET */
	bl_quota_t default_quota;  /* the fields a stored value leaves out */
	bl_quota_watch_fn on_change;
	void *arg;
} bl_quota_watch_config_t;

typedef struct bl_quota_watch bl_quota_watch_t;

/*
 * Open the bucket (creating it, with one value per key, when missing),
 * start watching it and start the watcher thread. Borrows `nats`, which
 * must outlive the watch, and copies *cfg. Returns 0 with *out owned (stop
 * with bl_quota_watch_stop), or a negative code with *err naming the
 * bucket: BL_EINVAL for a bad bucket name or no callback, or the NATS
 * layer's code (-ECONNREFUSED, -ETIMEDOUT, -ENOTSUP ...). Any thread.
 */
int bl_quota_watch_start(bl_quota_watch_t **out, bl_nats_t *nats, const bl_quota_watch_config_t *cfg,
			 bl_error_t *err);

/*
 * Wait at most `timeout_ms` for the callback to have seen every value
 * stored at start (its BL_QUOTA_READY call). Returns 0 or -ETIMEDOUT. Any
 * thread.
 */
int bl_quota_watch_wait_ready(bl_quota_watch_t *watch, int64_t timeout_ms);

/* Stop the thread (within about 250 ms) and free the watch; no callback
 * runs after it returns. Takes *watch and sets it to NULL; NULL is fine. */
void bl_quota_watch_stop(bl_quota_watch_t **watch);

#endif
