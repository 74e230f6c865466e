/*
 * The cancel hook: a job's cancel flag plus, optionally, one actor to notify.
 * The lock orders a fire against a watch, so exactly one of them sends the
 * message: a watch that comes after the fire sends it itself.
 */
#include <pthread.h>
#include <stdlib.h>

#include <beamline/blocks.h>

struct bl_cancel_hook {
	bl_cancel_t *cancel;
	pthread_mutex_t lock;
	bl_actor_t *actor; /* one reference; guarded by lock */
	uint32_t type;
	bool fired; /* guarded by lock */
};

bl_cancel_hook_t *bl_cancel_hook_new(bl_cancel_t *cancel)
{
	bl_cancel_hook_t *hook = calloc(1, sizeof *hook);
	if (!hook)
		return NULL;
	hook->cancel = cancel;
	pthread_mutex_init(&hook->lock, NULL);
	return hook;
}

/* Send the watcher its message and drop it; the caller holds the lock. */
static void tell_watcher(bl_cancel_hook_t *hook)
{
	if (!hook->actor)
		return;
	/* Out of memory loses the message but not the cancel, because the
	 * block checks the flag when its operation ends. */
	(void)bl_send_u64(hook->actor, hook->type, 0);
	bl_actor_release(&hook->actor);
}

void bl_cancel_hook_fire(bl_cancel_hook_t *hook)
{
	if (!hook)
		return;
	atomic_store(&hook->cancel->requested, true);

	pthread_mutex_lock(&hook->lock);
	if (!hook->fired) {
		hook->fired = true;
		tell_watcher(hook);
	}
	pthread_mutex_unlock(&hook->lock);
}

int bl_cancel_hook_watch(bl_cancel_hook_t *hook, bl_actor_t *actor, uint32_t type)
{
	if (!hook || !actor)
		return BL_EINVAL;

	pthread_mutex_lock(&hook->lock);
	bl_actor_release(&hook->actor);
	bl_actor_retain(actor);
	hook->actor = actor;
	hook->type = type;
	if (hook->fired)
		tell_watcher(hook);
	pthread_mutex_unlock(&hook->lock);
	return 0;
}

void bl_cancel_hook_unwatch(bl_cancel_hook_t *hook)
{
	if (!hook)
		return;
	pthread_mutex_lock(&hook->lock);
	bl_actor_release(&hook->actor);
	pthread_mutex_unlock(&hook->lock);
}

void bl_cancel_hook_free(bl_cancel_hook_t **hook)
{
	if (!*hook)
		return;
	bl_actor_release(&(*hook)->actor);
	pthread_mutex_destroy(&(*hook)->lock);
	free(*hook);
	*hook = NULL;
}
