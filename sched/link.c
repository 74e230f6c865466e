/*
 * Links and monitors.
 *
 * Every change to an actor's link or monitor list is made by that actor's
 * own activation: the other side learns of a link, unlink, monitor or
 * demonitor through a system message in its mailbox. So the lists need no
 * lock, and message order settles every race. When a request reaches an
 * actor after it terminated, its drain replies with the exit, so a link or
 * monitor set up "too late" still reports the exit exactly once.
 */
#include <stdlib.h>

#include "actor.h"
#include "runtime.h"
#include "sanitize.h"

static bl__actor_ext_t *ext_of(bl_actor_t *a)
{
	if (!a->ext)
		a->ext = calloc(1, sizeof *a->ext);
	return a->ext;
}

static bool set_contains(const bl__actor_set_t *set, const bl_actor_t *a)
{
	for (uint32_t i = 0; i < set->count; i++) {
		if (set->items[i] == a)
			return true;
	}
	return false;
}

/* Append `a`, taking the caller's reference. Returns 0 or BL_ENOMEM. */
static int set_add(bl__actor_set_t *set, bl_actor_t *a)
{
	if (set->count == set->capacity) {
		uint32_t capacity = set->capacity ? set->capacity * 2 : 4;
		bl_actor_t **items = realloc(set->items, capacity * sizeof *items);
		if (!items)
			return BL_ENOMEM;
		set->items = items;
		set->capacity = capacity;
	}
	set->items[set->count++] = a;
	return 0;
}

/* Remove one entry for `a` and drop its reference. Returns whether there
 * was one. */
static bool set_remove(bl__actor_set_t *set, bl_actor_t *a)
{
	for (uint32_t i = 0; i < set->count; i++) {
		if (set->items[i] == a) {
			set->items[i] = set->items[--set->count];
			bl_actor_release(&a);
			return true;
		}
	}
	return false;
}

static void set_clear(bl__actor_set_t *set)
{
	for (uint32_t i = 0; i < set->count; i++)
		bl_actor_release(&set->items[i]);
	set->count = 0;
}

static bool is_running_handler(const bl_actor_t *self)
{
	return self && self == bl__current_actor;
}

/* ------------------------------------------------------------------------ */
/* Public calls, made from self's handler                                    */
/* ------------------------------------------------------------------------ */

int bl_actor_link(bl_actor_t *self, bl_actor_t *other)
{
	if (!is_running_handler(self) || !other)
		return BL_EINVAL;
	if (self == other)
		return 0;

	bl__actor_ext_t *ext = ext_of(self);
	if (!ext)
		return BL_ENOMEM;
	if (set_contains(&ext->links, other))
		return 0;

	bl_actor_retain(other);
	if (set_add(&ext->links, other) != 0) {
		bl_actor_release(&other);
		return BL_ENOMEM;
	}
	int rc = bl__send_system(other, BL__MSG_LINK, self, 0);
	if (rc != 0)
		set_remove(&ext->links, other);
	return rc;
}

void bl_actor_unlink(bl_actor_t *self, bl_actor_t *other)
{
	if (!is_running_handler(self) || !other || !self->ext)
		return;
	if (set_remove(&self->ext->links, other))
		bl__send_system_or_die(other, BL__MSG_UNLINK, self, 0);
}

int bl_actor_monitor(bl_actor_t *self, bl_actor_t *other)
{
	if (!is_running_handler(self) || !other)
		return BL_EINVAL;
	return bl__send_system(other, BL__MSG_MONITOR, self, 0);
}

void bl_actor_demonitor(bl_actor_t *self, bl_actor_t *other)
{
	if (!is_running_handler(self) || !other)
		return;
	bl__send_system_or_die(other, BL__MSG_DEMONITOR, self, 0);
}

/* ------------------------------------------------------------------------ */
/* System messages                                                           */
/* ------------------------------------------------------------------------ */

static bl_actor_t *take_from(bl_msg_t *msg)
{
	bl__sys_payload_t *p = bl_msg_payload(msg);
	bl_actor_t *from = p->from;
	p->from = NULL;
	return from;
}

/* Store `from` (with the message's reference) in `set`, unless present. */
static void record(bl_actor_t *a, bl__actor_set_t *(*which)(bl__actor_ext_t *), bl_actor_t *from)
{
	bl__actor_ext_t *ext = ext_of(a);
	if (!ext || set_add(which(ext), from) != 0)
		bl__die("out of memory while recording a link or monitor");
}

static bl__actor_set_t *links_of(bl__actor_ext_t *ext)
{
	return &ext->links;
}

static bl__actor_set_t *monitors_of(bl__actor_ext_t *ext)
{
	return &ext->monitors;
}

/* An exit from `from` arrived: returns as bl__link_handle_live. */
static int handle_exit(bl_actor_t *a, bl_msg_t *msg, bool *terminate)
{
	bl__sys_payload_t *p = bl_msg_payload(msg);
	bool linked = a->ext && set_remove(&a->ext->links, p->from);

	/* An exit from an actor we unlinked meanwhile is stale. */
	if (!linked) {
		bl_actor_t *from = take_from(msg);
		bl_actor_release(&from);
		return 0;
	}
	if (a->behaviour->flags & BL_BEHAVIOUR_TRAP_EXIT)
		return 1;

	bl_actor_t *from = take_from(msg);
	bl_actor_release(&from);
	if (p->reason == 0)
		return 0;
	*terminate = true;
	return BL_ELINKED;
}

int bl__link_handle_live(bl_actor_t *a, bl_msg_t *msg, bool *terminate)
{
	bl__sys_payload_t *p = bl_msg_payload(msg);
	bl_actor_t *from;

	switch (msg->type) {
	case BL__MSG_LINK:
		from = take_from(msg);
		if (a->ext && set_contains(&a->ext->links, from))
			bl_actor_release(&from);
		else
			record(a, links_of, from);
		return 0;
	case BL__MSG_UNLINK:
	case BL__MSG_DEMONITOR:
		from = take_from(msg);
		if (a->ext)
			set_remove(msg->type == BL__MSG_UNLINK ? &a->ext->links : &a->ext->monitors, from);
		bl_actor_release(&from);
		return 0;
	case BL__MSG_MONITOR:
		record(a, monitors_of, take_from(msg));
		return 0;
	case BL__MSG_STOP:
		*terminate = true;
		return 0;
	case BL__MSG_KILL:
		*terminate = true;
		return p->reason;
	case BL_MSG_EXIT:
		return handle_exit(a, msg, terminate);
	case BL_MSG_DOWN:
	case BL_MSG_IO:
		return 1;
	default:
		bl__die("unknown system message type");
	}
}

void bl__link_after_receive(bl_msg_t *msg)
{
	if (msg->type == BL_MSG_IO)
		return;

	bl_actor_t *from = take_from(msg);
	bl_actor_release(&from);
}

void bl__link_handle_dead(bl_actor_t *a, bl_msg_t *msg)
{
	bl_actor_t *from = take_from(msg);
	if (!from)
		return;

	/* During shutdown every actor is being torn down: send no replies. */
	bool tell = !atomic_load_explicit(&a->pool->rt->tearing_down, memory_order_relaxed);
	if (tell && msg->type == BL__MSG_LINK)
		bl__send_system_or_die(from, BL_MSG_EXIT, a, a->exit_reason);
	else if (tell && msg->type == BL__MSG_MONITOR)
		bl__send_system_or_die(from, BL_MSG_DOWN, a, a->exit_reason);
	bl_actor_release(&from);
}

void bl__link_notify_exit(bl_actor_t *a, int reason)
{
	bl__actor_ext_t *ext = a->ext;
	if (!ext)
		return;

	for (uint32_t i = 0; i < ext->links.count; i++)
		bl__send_system_or_die(ext->links.items[i], BL_MSG_EXIT, a, reason);
	for (uint32_t i = 0; i < ext->monitors.count; i++)
		bl__send_system_or_die(ext->monitors.items[i], BL_MSG_DOWN, a, reason);
	set_clear(&ext->links);
	set_clear(&ext->monitors);
}

void bl__link_clear(bl_actor_t *a)
{
	if (!a->ext)
		return;
	set_clear(&a->ext->links);
	set_clear(&a->ext->monitors);
}
