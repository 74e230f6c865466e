/* The KV watch follower (kv_follow.h). */
#include "kv_follow.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* How long one wait on the watch lasts: the bound on how late a stop is noticed. */
#define POLL_MS 250

struct bl_kv_follow {
	bl_kv_follow_ops_t ops;
	void *arg;
	bl_kv_watch_t *watch; /* used only by the thread once it runs */
	pthread_t thread;
	atomic_bool stopping;
};

/* Report a failure when it starts, then pause before the next read. */
static void on_failure(bl_kv_follow_t *f, bool *failing, int rc, const bl_nats_error_t *err)
{
	if (!*failing && f->ops.failing)
		f->ops.failing(f->arg, rc, err);
	*failing = true;

	struct timespec pause = {.tv_nsec = POLL_MS * 1000000L};
	nanosleep(&pause, NULL);
}

static void *follow_loop(void *arg)
{
	bl_kv_follow_t *f = arg;
	bool failing = false;

	while (!atomic_load(&f->stopping)) {
		bl_kv_entry_t *e = NULL;
		bl_nats_error_t err = {0};
		int rc = bl_kv_watch_next(f->watch, &e, POLL_MS, &err);

		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			on_failure(f, &failing, rc, &err);
			continue;
		}
		if (failing && f->ops.recovered)
			f->ops.recovered(f->arg);
		failing = false;

		if (rc == 1)
			f->ops.entry(f->arg, e);
		else if (f->ops.caught_up)
			f->ops.caught_up(f->arg);
		bl_kv_entry_free(e);
	}
	return NULL;
}

int bl__kv_follow_start(bl_kv_follow_t **out, bl_kv_watch_t *watch, const bl_kv_follow_ops_t *ops, void *arg)
{
	*out = NULL;
	if (!ops->entry)
		return -EINVAL;
	bl_kv_follow_t *f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	f->ops = *ops;
	f->arg = arg;
	f->watch = watch;

	int rc = pthread_create(&f->thread, NULL, follow_loop, f);
	if (rc != 0) {
		free(f);
		return -rc;
	}
	*out = f;
	return 0;
}

void bl__kv_follow_stop(bl_kv_follow_t **follow)
{
	bl_kv_follow_t *f = *follow;
	if (!f)
		return;

	atomic_store(&f->stopping, true);
	pthread_join(f->thread, NULL);
	bl_kv_watch_free(f->watch);
	free(f);
	*follow = NULL;
}
