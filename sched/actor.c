#include "actor.h"

#include <stdlib.h>
#include <string.h>

#include "runtime.h"

_Thread_local bl_actor_t *bl__current_actor;

/* Add `n` to a counter that only the calling worker writes. */
static void count(uint64_t _Atomic *counter, uint64_t n)
{
	uint64_t v = atomic_load_explicit(counter, memory_order_relaxed);
	atomic_store_explicit(counter, v + n, memory_order_relaxed);
}

static bl__worker_t *worker_of_runtime(bl_runtime_t *rt)
{
	bl__worker_t *w = bl__current_worker;
	return w && w->pool->rt == rt ? w : NULL;
}

/* ------------------------------------------------------------------------ */
/* Spawn and references                                                      */
/* ------------------------------------------------------------------------ */

static bl_actor_t *alloc_actor(bl_runtime_t *rt, unsigned cls)
{
	bl__worker_t *w = worker_of_runtime(rt);
	if (w)
		return bl__cache_alloc(&w->actor_cache, cls);
	return bl__arena_alloc(&rt->actors, cls);
}

int bl_actor_spawn(bl_actor_t **out, bl_pool_t *pool, const bl_behaviour_t *behaviour,
		   const void *state, size_t state_size)
{
	if (!out || !pool || !behaviour || !behaviour->receive || state_size > BL_ACTOR_STATE_MAX)
		return BL_EINVAL;

	bl_runtime_t *rt = pool->rt;
	if (atomic_load_explicit(&rt->shutting_down, memory_order_acquire))
		return BL_ESHUTDOWN;

	unsigned cls = bl__class_of(sizeof(bl_actor_t) + state_size);
	bl_actor_t *a = alloc_actor(rt, cls);
	if (!a)
		return BL_ENOMEM;

	atomic_init(&a->link.next, 0);
	a->tag = (uintptr_t)rt | BL__ACTOR_LIVE_BIT;
	bl__mailbox_init(&a->mailbox);
	a->behaviour = behaviour;
	a->pool = pool;
	/* One reference for the caller, one for being alive. */
	atomic_init(&a->refs, 2);
	atomic_init(&a->flags, 0);
	a->size_class = (uint16_t)cls;
	a->ext = NULL;
	a->exit_reason = 0;
	if (state)
		memcpy(a->state, state, state_size);
	else
		memset(a->state, 0, state_size);

	bl__worker_t *w = bl__current_worker;
	if (w && w->pool == pool)
		count(&w->spawned, 1);
	else
		atomic_fetch_add_explicit(&pool->outside_spawned, 1, memory_order_relaxed);

	*out = a;
	return 0;
}

void bl_actor_retain(bl_actor_t *actor)
{
	/* Relaxed: the caller already holds a reference, so no free can race. */
	atomic_fetch_add_explicit(&actor->refs, 1, memory_order_relaxed);
}

void bl_actor_release(bl_actor_t **actor)
{
	bl_actor_t *a = *actor;
	*actor = NULL;
	if (!a)
		return;

	/*
	 * acq_rel: every use of the actor through this reference happens before
	 * the decrement (release), and the thread that frees sees all of them
	 * (acquire).
	 */
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (atomic_load_explicit(&a->pool->rt->tearing_down, memory_order_relaxed))
		return; /* shutdown frees every actor itself */
	bl__actor_destroy(a);
}

void bl__actor_release_parts(bl_actor_t *a)
{
	if (a->mailbox.tail != &a->mailbox.stub)
		bl__msg_release((bl_msg_t *)a->mailbox.tail);
	if (a->ext) {
		free(a->ext->links.items);
		free(a->ext->monitors.items);
		free(a->ext);
	}
	a->tag = 0;
}

void bl__actor_destroy(bl_actor_t *a)
{
	bl_runtime_t *rt = a->pool->rt;

	bl__actor_release_parts(a);

	bl__worker_t *w = worker_of_runtime(rt);
	if (w)
		bl__cache_free(&w->actor_cache, a->size_class, a);
	else
		bl__arena_free(&rt->actors, a->size_class, a);
}

/* ------------------------------------------------------------------------ */
/* Scheduling                                                                */
/* ------------------------------------------------------------------------ */

void bl__actor_schedule(bl_actor_t *a)
{
	/*
	 * A terminated actor is no longer covered by its alive reference, so
	 * being queued takes one, dropped by the activation that drains it.
	 * Acquire pairs with the release that set DEAD; the caller's push
	 * already synchronised with the mark set after it.
	 */
	if (atomic_load_explicit(&a->flags, memory_order_acquire) & BL__ACTOR_DEAD)
		bl_actor_retain(a);
	bl__pool_enqueue(a->pool, (bl__runnable_t)a, true);
}

/* ------------------------------------------------------------------------ */
/* Activation                                                                */
/* ------------------------------------------------------------------------ */

static bool stop_requested(const bl_actor_t *a)
{
	return atomic_load_explicit(&a->flags, memory_order_relaxed) & BL__ACTOR_STOP_REQUESTED;
}

/* Hand `msg` to the actor, counting it in *received when it reaches the
 * receive callback. Returns true when the actor must terminate, with the
 * reason in *reason. */
static bool deliver(bl_actor_t *a, bl_msg_t *msg, int *reason, unsigned *received)
{
	int rc;

	if (msg->type < BL_MSG_SYSTEM_BASE) {
		(*received)++;
		rc = a->behaviour->receive(a, a->state, msg);
	} else {
		bool terminate = false;
		rc = bl__link_handle_live(a, msg, &terminate);
		if (terminate) {
			*reason = rc;
			return true;
		}
		if (rc != 1)
			return false;
		(*received)++;
		rc = a->behaviour->receive(a, a->state, msg);
		bl__link_after_receive(msg);
	}

	if (rc < 0) {
		*reason = rc;
		return true;
	}
	*reason = 0;
	return stop_requested(a);
}

static void terminate(bl__worker_t *w, bl_actor_t *a, int reason)
{
	a->exit_reason = reason;

	/* Release: senders that see DEAD also see the exit reason. */
	uint16_t flags = atomic_load_explicit(&a->flags, memory_order_relaxed);
	atomic_store_explicit(&a->flags, flags | BL__ACTOR_DEAD, memory_order_release);

	if (a->behaviour->stop) {
		bl__current_actor = a;
		a->behaviour->stop(a, a->state, reason);
		bl__current_actor = NULL;
	}
	bl__link_notify_exit(a, reason);
	count(&w->exited, 1);
}

/*
 * Drain a terminated actor: discard the messages that arrived after it
 * terminated, replying to link and monitor requests with its exit. Then
 * drop the reference that kept it scheduled, or requeue it when a sender is
 * still mid-push.
 */
static void finish_dead(bl__worker_t *w, bl_actor_t *a)
{
	struct bl_mq_node *node, *retired;

	while ((node = bl__mailbox_pop(&a->mailbox, &retired)) != NULL) {
		if (retired)
			bl__msg_release((bl_msg_t *)retired);
		bl__msg_discard(a, (bl_msg_t *)node);
	}

	if (!bl__mailbox_try_mark(&a->mailbox)) {
		bl__pool_enqueue(w->pool, (bl__runnable_t)a, false);
		return;
	}
	bl_actor_release(&a);
}

void bl__actor_run(bl__worker_t *w, bl_actor_t *a)
{
	bl_pool_t *pool = w->pool;
	unsigned handled = 0, received = 0;
	bool ends = false;
	int reason = 0;

	count(&w->activations, 1);
	if (atomic_load_explicit(&a->flags, memory_order_relaxed) & BL__ACTOR_DEAD) {
		finish_dead(w, a);
		return;
	}

	bl__current_actor = a;
	struct bl_mq_node *tail = a->mailbox.tail;
	while (handled < pool->batch && !ends) {
		struct bl_mq_node *retired;
		struct bl_mq_node *node = bl__mailbox_pop_local(&a->mailbox, &tail, &retired);
		if (retired)
			bl__msg_release((bl_msg_t *)retired);
		if (!node)
			break;
		handled++;
		ends = deliver(a, (bl_msg_t *)node, &reason, &received);
	}
	bl__mailbox_set_tail(&a->mailbox, tail);
	bl__current_actor = NULL;
	count(&w->messages, received);

	if (ends) {
		terminate(w, a, reason);
		finish_dead(w, a);
		return;
	}

	/* A full batch with more waiting: go behind everything already queued. */
	if (handled == pool->batch && !bl__mailbox_is_empty(&a->mailbox)) {
		bl__pool_yield(pool, (bl__runnable_t)a);
		return;
	}
	if (bl__mailbox_try_mark(&a->mailbox))
		return;
	bl__pool_enqueue(pool, (bl__runnable_t)a, false);
}

/* ------------------------------------------------------------------------ */
/* Stopping and accessors                                                    */
/* ------------------------------------------------------------------------ */

void bl_actor_stop(bl_actor_t *actor)
{
	if (actor == bl__current_actor) {
		uint16_t flags = atomic_load_explicit(&actor->flags, memory_order_relaxed);
		atomic_store_explicit(&actor->flags, flags | BL__ACTOR_STOP_REQUESTED, memory_order_relaxed);
		return;
	}
	if (atomic_load_explicit(&actor->flags, memory_order_acquire) & BL__ACTOR_DEAD)
		return;
	bl__send_system_or_die(actor, BL__MSG_STOP, NULL, 0);
}

void bl_actor_kill(bl_actor_t *actor, int reason)
{
	if (atomic_load_explicit(&actor->flags, memory_order_acquire) & BL__ACTOR_DEAD)
		return;
	bl__send_system_or_die(actor, BL__MSG_KILL, NULL, reason < 0 ? reason : BL_EKILLED);
}

bl_actor_t *bl_actor_self(void)
{
	return bl__current_actor;
}

bl_pool_t *bl_actor_pool(const bl_actor_t *actor)
{
	return actor->pool;
}

bl_runtime_t *bl_actor_runtime(const bl_actor_t *actor)
{
	return actor->pool->rt;
}

const char *bl_actor_name(const bl_actor_t *actor)
{
	return actor->behaviour->name ? actor->behaviour->name : "actor";
}
