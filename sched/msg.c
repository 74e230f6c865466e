#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "sanitize.h"

static bl_msg_t *msg_alloc(uint32_t type, size_t payload_size)
{
	unsigned cls;
	bl_msg_t *msg = bl__shared_alloc(sizeof *msg + payload_size, &cls);
	if (!msg)
		return NULL;

	msg->type = type;
	msg->size_class = (uint16_t)cls;
	msg->flags = 0;
	return msg;
}

bl_msg_t *bl__msg_alloc(uint32_t type, size_t payload_size)
{
	return msg_alloc(type, payload_size);
}

bl_msg_t *bl_msg_new(uint32_t type, size_t payload_size)
{
	if (type >= BL_MSG_SYSTEM_BASE)
		return NULL;
	return msg_alloc(type, payload_size);
}

void bl__msg_release(bl_msg_t *msg)
{
	bl__shared_free(msg, msg->size_class);
}

void bl_msg_free(bl_msg_t **msg)
{
	if (*msg)
		bl__msg_release(*msg);
	*msg = NULL;
}

void bl__msg_discard(bl_actor_t *target, bl_msg_t *msg)
{
	/* An I/O completion carries no reference: the application owns what
	 * it points to, like an application message's payload. */
	if (msg->type >= BL_MSG_SYSTEM_BASE && msg->type != BL_MSG_IO) {
		bl__link_handle_dead(target, msg);
		return;
	}
	if (target->behaviour->discard)
		target->behaviour->discard(msg);
}

int bl_send(bl_actor_t *to, bl_msg_t **msgp)
{
	bl_msg_t *msg = *msgp;
	*msgp = NULL;

	/* Acquire: pairs with the release that set DEAD, so the discard below
	 * sees the exit reason. The mailbox path covers the race where the
	 * target dies after this check. */
	if (atomic_load_explicit(&to->flags, memory_order_acquire) & BL__ACTOR_DEAD) {
		bl__msg_discard(to, msg);
		bl__msg_release(msg);
		return BL_EDEAD;
	}

	if (bl__mailbox_push(&to->mailbox, &msg->node))
		bl__actor_schedule(to);
	return 0;
}

int bl_send_u64(bl_actor_t *to, uint32_t type, uint64_t value)
{
	if (type >= BL_MSG_SYSTEM_BASE)
		return BL_EINVAL;

	bl_msg_t *msg = msg_alloc(type, sizeof value);
	if (!msg)
		return BL_ENOMEM;

	memcpy(bl_msg_payload(msg), &value, sizeof value);
	return bl_send(to, &msg);
}

int bl__send_system(bl_actor_t *to, uint32_t type, bl_actor_t *from, int reason)
{
	bl_msg_t *msg = msg_alloc(type, sizeof(bl__sys_payload_t));
	if (!msg)
		return BL_ENOMEM;

	bl__sys_payload_t *p = bl_msg_payload(msg);
	p->from = from;
	p->reason = reason;
	if (from)
		bl_actor_retain(from);

	if (bl__mailbox_push(&to->mailbox, &msg->node))
		bl__actor_schedule(to);
	return 0;
}

void bl__send_system_or_die(bl_actor_t *to, uint32_t type, bl_actor_t *from, int reason)
{
	if (bl__send_system(to, type, from, reason) != 0)
		bl__die("out of memory while sending an exit or down notification");
}
