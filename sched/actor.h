/*
 * The actor record and the runtime's internal actor operations.
 *
 * Field owners: `link` belongs to whichever queue holds the actor; `tag`,
 * `behaviour`, `pool` and `size_class` are set at spawn; the mailbox's
 * producer end is shared, its consumer end and `ext` belong to the thread
 * running the actor; `refs` is shared; `flags` is written only by the
 * thread running the actor and read by senders.
 *
 * Lifetime. A spawned actor holds one reference for the caller and one for
 * being alive. The alive reference is dropped when the actor has
 * terminated and its mailbox is drained and marked. Scheduling a live actor
 * takes no reference (the alive one covers it); scheduling an actor that
 * has already terminated takes one, which its draining activation drops.
 * So memory is freed only when nothing can run, queue or name the actor.
 */
#ifndef BL_SCHED_ACTOR_H
#define BL_SCHED_ACTOR_H

#include <stdatomic.h>
#include <stdint.h>

#include <beamline/sched.h>

#include "mailbox.h"
#include "pool.h"
#include "runnable.h"

/* bl_actor.flags */
enum {
	BL__ACTOR_DEAD = 0x1,
	BL__ACTOR_STOP_REQUESTED = 0x2,
};

/* bl_actor.tag while the actor's memory is in use: runtime address | 1. */
#define BL__ACTOR_LIVE_BIT ((uintptr_t)1)

typedef struct bl__actor_set {
	bl_actor_t **items;
	uint32_t count;
	uint32_t capacity;
} bl__actor_set_t;

/* Rarely needed parts of an actor, allocated on first use. */
typedef struct bl__actor_ext {
	bl__actor_set_t links;    /* one reference held per entry */
	bl__actor_set_t monitors; /* actors to send BL_MSG_DOWN; one reference each */
} bl__actor_ext_t;

struct bl_actor {
	bl__link_t link; /* first: see runnable.h */
	uintptr_t tag;   /* second: see alloc.h */
	bl__mailbox_t mailbox;
	const bl_behaviour_t *behaviour;
	bl_pool_t *pool;
	uint32_t _Atomic refs;
	uint16_t _Atomic flags;
	uint16_t size_class;
	bl__actor_ext_t *ext;
	/* Written once, before BL__ACTOR_DEAD is set with release order. */
	int32_t exit_reason;
	_Alignas(16) unsigned char state[];
};

/* System message types, beside the public BL_MSG_DOWN and BL_MSG_EXIT. */
#define BL__MSG_LINK 0xFFFF0010u
#define BL__MSG_UNLINK 0xFFFF0011u
#define BL__MSG_MONITOR 0xFFFF0012u
#define BL__MSG_DEMONITOR 0xFFFF0013u
#define BL__MSG_STOP 0xFFFF0014u
#define BL__MSG_KILL 0xFFFF0015u

/* Payload of every system message; `from` carries one reference. */
typedef struct bl__sys_payload {
	bl_actor_t *from;
	int reason;
} bl__sys_payload_t;

/* The actor whose handler runs on this thread. */
extern _Thread_local bl_actor_t *bl__current_actor;

/* Run one activation of `a` on worker `w` (actor.c). */
void bl__actor_run(bl__worker_t *w, bl_actor_t *a);

/* Make `a` runnable after a push found its mailbox marked (actor.c). */
void bl__actor_schedule(bl_actor_t *a);

/* Allocate a message of any type, system types included; NULL when memory
 * runs out. */
bl_msg_t *bl__msg_alloc(uint32_t type, size_t payload_size);

/* Free a message's memory, and nothing it refers to. */
void bl__msg_release(bl_msg_t *msg);

/*
 * Release what a message that will not be handled carries. For a system
 * message that is its reference, after replying to a link or monitor
 * request with the exit of `target`; for an application message, the
 * discard callback of `target` runs. The message itself is not freed.
 */
void bl__msg_discard(bl_actor_t *target, bl_msg_t *msg);

/* Queue a system message to `to`, retaining `from` for the message.
 * Returns 0 or BL_ENOMEM. */
int bl__send_system(bl_actor_t *to, uint32_t type, bl_actor_t *from, int reason);

/* Queue a system message whose loss would break supervision (an exit or a
 * down notification); aborts when memory runs out. */
void bl__send_system_or_die(bl_actor_t *to, uint32_t type, bl_actor_t *from, int reason);

/*
 * Handle a system message for a live actor (link.c). Returns 0 when the
 * message was consumed, 1 when it must go to the behaviour's receive
 * callback (a trapped BL_MSG_EXIT or a BL_MSG_DOWN), or a reason <= 0 with
 * *terminate set when the actor must terminate with it.
 */
int bl__link_handle_live(bl_actor_t *a, bl_msg_t *msg, bool *terminate);

/* Handle a system message that reached an actor after it terminated. */
void bl__link_handle_dead(bl_actor_t *a, bl_msg_t *msg);

/* Send exits to linked actors and downs to monitors, dropping every
 * reference the lists held (link.c). */
void bl__link_notify_exit(bl_actor_t *a, int reason);

/* Drop the references of the link and monitor lists without notifying,
 * for shutdown. */
void bl__link_clear(bl_actor_t *a);

/* Release the reference a delivered BL_MSG_DOWN or BL_MSG_EXIT carries,
 * after the receive callback returned (link.c). */
void bl__link_after_receive(bl_msg_t *msg);

/* Free what a terminated, drained actor still owns besides its own memory
 * (the mailbox's last node, the link and monitor lists) and mark the
 * memory free for the arena walk. */
void bl__actor_release_parts(bl_actor_t *a);

/* Free the memory of an actor whose last reference is gone. */
void bl__actor_destroy(bl_actor_t *a);

#endif
