/*
 * The approvals service: the "approvals" config section, the store (the
 * folder, opened on first use, or the one the service mode hands over),
 * the folder watch, and the registry of waiting jobs.
 *
 * Lock: `lock` guards the store pointer while it is being opened, the
 * waiter list and the watch actor handle. Opening the store (file I/O)
 * and bl_send, which is wait-free, are the only calls made with it held.
 */
#define _GNU_SOURCE /* inotify flags */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "approvals_service.h"

/* The largest approvals.max_expiry_ms: 365 days. */
#define MAX_EXPIRY_MS (UINT64_C(365) * 86400000)

typedef struct waiter {
	struct waiter *next;
	bl_actor_t *actor; /* one reference */
	uint32_t type;
	char id[BL_APPROVAL_ID_MAX + 1];
} waiter_t;

struct bl_approvals {
	/* Set once at open. */
	bl_approvals_config_t cfg;
	char *state_dir;
	bl_pool_t *control_pool;
	bl_pool_t *io_pool;       /* NULL: no watch; waiting runs poll */
	bl_pool_t *blocking_pool;
	bl_service_log_fn log;

	pthread_mutex_t lock;
	bl_approval_store_t *store; /* opened on first use or handed over; guarded by lock */
	int inotify_fd;             /* -1 until the watch starts */
	bl_actor_t *watch;          /* guarded by lock */
	bool stopped;               /* guarded by lock */
	atomic_bool watched;
	waiter_t *waiters;          /* guarded by lock */
};

/* ------------------------------------------------------------------------ */
/* Config                                                                    */
/* ------------------------------------------------------------------------ */

void bl_approvals_config_init(bl_approvals_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->default_decision = BL_DECISION_REJECT;
	cfg->max_expiry_ms = 86400000;
	snprintf(cfg->dir, sizeof cfg->dir, "approvals");
	cfg->rescan_ms = 200;
	cfg->watch = true;
}

static int parse_ms(const json_t *v, const char *key, uint64_t min, uint64_t max, uint64_t *out, bl_error_t *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min || json_integer_value(v) > (json_int_t)max)
		return bl_error_set(err, BL_EINVAL, key, "expected an integer from %llu to %llu (milliseconds)",
				    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_bool(const json_t *v, const char *key, bool *out, bl_error_t *err)
{
	if (!json_is_boolean(v))
		return bl_error_set(err, BL_EINVAL, key, "expected true or false");
	*out = json_is_true(v);
	return 0;
}

/* A subfolder name: one path component, no dot first, so it stays inside
 * the state folder. */
static int parse_dir(const json_t *v, char *out, size_t size, bl_error_t *err)
{
	const char *s = json_string_value(v);
	if (!s || !s[0] || s[0] == '.' || strchr(s, '/') || strlen(s) >= size)
		return bl_error_set(err, BL_EINVAL, "approvals.dir",
				    "expected a folder name (no '/', not starting with '.', under %zu bytes)", size);
	snprintf(out, size, "%s", s);
	return 0;
}

static int unknown_key(const char *key, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	snprintf(field, sizeof field, "approvals.%s", key);
	return bl_error_set(err, BL_EINVAL, field,
			    "unknown key; known: default_decision, max_expiry_ms, dir, rescan_ms, watch");
}

int bl_approvals_config_parse(bl_approvals_config_t *cfg, const json_t *section, bl_error_t *err)
{
	const char *key;
	json_t *v;

	bl_approvals_config_init(cfg);
	if (!section)
		return 0;
	if (!json_is_object(section))
		return bl_error_set(err, BL_EFORMAT, "approvals", "expected an object");

	/* jansson's iterators take a non-const object but only read it. */
	json_t *object;
	memcpy(&object, &section, sizeof object);
	json_object_foreach(object, key, v) {
		int rc;
		if (strcmp(key, "default_decision") == 0)
			rc = json_is_string(v) && bl_decision_parse(&cfg->default_decision, json_string_value(v)) == 0
				     ? 0
				     : bl_error_set(err, BL_EINVAL, "approvals.default_decision",
						    "expected \"approve\" or \"reject\"");
		else if (strcmp(key, "max_expiry_ms") == 0)
			rc = parse_ms(v, "approvals.max_expiry_ms", 1, MAX_EXPIRY_MS, &cfg->max_expiry_ms, err);
		else if (strcmp(key, "rescan_ms") == 0)
			rc = parse_ms(v, "approvals.rescan_ms", 10, 60000, &cfg->rescan_ms, err);
		else if (strcmp(key, "dir") == 0)
			rc = parse_dir(v, cfg->dir, sizeof cfg->dir, err);
		else if (strcmp(key, "watch") == 0)
			rc = parse_bool(v, "approvals.watch", &cfg->watch, err);
		else
			rc = unknown_key(key, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The service                                                               */
/* ------------------------------------------------------------------------ */

int bl__approvals_open(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup,
			  bl_error_t *err)
{
	bl_approvals_t *a = calloc(1, sizeof *a);
	if (!a)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory making the approvals service");

	/* Without a state folder there is nowhere to keep approvals: the
	 * section is still checked, and human jobs report the service missing. */
	int rc = bl_approvals_config_parse(&a->cfg, config, err);
	if (rc == 0 && !setup->state_dir) {
		free(a);
		return 0;
	}
	a->state_dir = rc == 0 ? strdup(setup->state_dir) : NULL;
	if (rc == 0 && !a->state_dir)
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory making the approvals service");
	if (rc < 0) {
		free(a->state_dir);
		free(a);
		return rc;
	}
	a->control_pool = setup->control_pool;
	a->io_pool = setup->io_pool;
	a->blocking_pool = setup->blocking_pool;
	a->log = setup->log;
	a->inotify_fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	s->approvals = a;
	return 0;
}

void bl__approvals_stop(bl_block_services_t *s)
{
	bl_approvals_t *a = s->approvals;
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopped = true;
	if (a->watch) {
		bl__approvals_watch_stop(a->watch);
		bl_actor_release(&a->watch);
	}
	pthread_mutex_unlock(&a->lock);
}

void bl__approvals_close(bl_block_services_t *s)
{
	bl_approvals_t *a = s->approvals;
	if (!a)
		return;
	/* The runtime is gone, and every run actor unregistered in its stop
	 * callback. A waiter left here would be a bug. Its actor handle is
	 * invalid by now, so the entry is only freed. */
	while (a->waiters) {
		waiter_t *w = a->waiters;
		a->waiters = w->next;
		free(w);
	}
	bl_approval_store_free(&a->store);
	if (a->inotify_fd >= 0)
		close(a->inotify_fd);
	pthread_mutex_destroy(&a->lock);
	free(a->state_dir);
	free(a);
	s->approvals = NULL;
}

/* Start watching the folder for decision files; the caller holds the lock
 * and has opened the store. Without a watch, runs poll instead. */
static void start_watch_locked(bl_approvals_t *a)
{
	const char *reason = NULL;

	if (!a->cfg.watch)
		return; /* the operator chose polling: nothing to warn about */
	if (!a->io_pool) {
		reason = "no I/O pool (the kernel refuses io_uring)";
	} else if ((a->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		reason = strerror(errno);
	} else if (inotify_add_watch(a->inotify_fd, bl_approval_store_path(a->store),
				     IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
		reason = strerror(errno);
	} else if (bl__approvals_watch_spawn(&a->watch, a->io_pool, a, a->inotify_fd) < 0) {
		reason = "cannot start the watch actor";
	}
	if (!reason) {
		atomic_store(&a->watched, true);
		return;
	}

	json_t *fields = json_pack("{s:s, s:I}", "reason", reason, "rescan_ms", (json_int_t)a->cfg.rescan_ms);
	bl__approvals_log(a, BL_SERVICE_LOG_WARN, "approvals_watch_unavailable", NULL,
			  "cannot watch the approvals folder; waiting jobs reread their decision periodically", fields);
	json_decref(fields);
}

int bl_approvals_store(bl_approvals_t *a, bl_approval_store_t **out, bl_error_t *err)
{
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	if (!a->store) {
		rc = bl_approval_store_open(&a->store, a->state_dir, a->cfg.dir, true, err);
		if (rc == 0 && !a->stopped)
			start_watch_locked(a);
	}
	*out = a->store;
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int bl_approvals_use_store(bl_approvals_t *a, bl_approval_store_t **store)
{
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	if (a->store) {
		rc = -EBUSY;
	} else {
		a->store = *store;
		*store = NULL;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void bl_approvals_set_watched(bl_approvals_t *a, bool watched)
{
	bool was = atomic_exchange(&a->watched, watched);
	if (was && !watched)
		bl__approvals_notify_all(a);
}

const bl_approvals_config_t *bl_approvals_config(const bl_approvals_t *a)
{
	return &a->cfg;
}

/* ------------------------------------------------------------------------ */
/* Waiting jobs                                                              */
/* ------------------------------------------------------------------------ */

int bl__approvals_wait(bl_approvals_t *a, const char *id, bl_actor_t *actor, uint32_t type)
{
	waiter_t *w = calloc(1, sizeof *w);
	if (!w)
		return BL_ENOMEM;
	snprintf(w->id, sizeof w->id, "%s", id);
	bl_actor_retain(actor);
	w->actor = actor;
	w->type = type;

	pthread_mutex_lock(&a->lock);
	w->next = a->waiters;
	a->waiters = w;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

void bl__approvals_unwait(bl_approvals_t *a, bl_actor_t *actor)
{
	pthread_mutex_lock(&a->lock);
	for (waiter_t **p = &a->waiters; *p;) {
		waiter_t *w = *p;
		if (w->actor != actor) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		bl_actor_release(&w->actor);
		free(w);
	}
	pthread_mutex_unlock(&a->lock);
}

/* NOTE: a linear scan per decision. Decisions come at human pace, so even
 * thousands of waiting jobs cost microseconds per decision. A hash by id
 * would be the fix if that changes. */
void bl_approvals_notify(bl_approvals_t *a, const char *id)
{
	pthread_mutex_lock(&a->lock);
	for (waiter_t *w = a->waiters; w; w = w->next) {
		if (strcmp(w->id, id) == 0)
			(void)bl_send_u64(w->actor, w->type, 0);
	}
	pthread_mutex_unlock(&a->lock);
}

void bl__approvals_notify_all(bl_approvals_t *a)
{
	pthread_mutex_lock(&a->lock);
	for (waiter_t *w = a->waiters; w; w = w->next)
		(void)bl_send_u64(w->actor, w->type, 0);
	pthread_mutex_unlock(&a->lock);
}

void bl__approvals_watch_failed(bl_approvals_t *a)
{
	atomic_store(&a->watched, false);
	bl__approvals_notify_all(a);
}

bool bl__approvals_watched(bl_approvals_t *a)
{
	return atomic_load(&a->watched);
}

bl_pool_t *bl__approvals_control_pool(bl_approvals_t *a)
{
	return a->control_pool;
}

bl_pool_t *bl__approvals_blocking_pool(bl_approvals_t *a)
{
	return a->blocking_pool;
}

void bl__approvals_log(bl_approvals_t *a, int level, const char *event, const char *corr_id, const char *msg,
		       const json_t *fields)
{
	if (a->log)
		a->log(level, "approvals", event, corr_id, msg, fields);
}
