/*
 * An actor's mailbox: an intrusive multi-producer, single-consumer queue
 * of messages (after Dmitry Vyukov's node-based MPSC queue) whose producer
 * end also records whether the actor is scheduled.
 *
 * Producers (any thread) push with one atomic exchange and one store, so a
 * push is wait-free. The consumer is whichever worker runs the actor; the
 * scheduling protocol guarantees there is at most one at a time.
 *
 * The queue always holds one node at its consumer end, `tail`: initially the
 * embedded stub, later the message handled last. That message is freed by
 * the next pop (or by bl__mailbox_destroy), not when its handler returns.
 *
 * Scheduling mark. Bit 0 of `head` set means: the queue is empty and the
 * actor is not scheduled. Only the consumer sets it, with a compare-and-swap
 * that fails if any producer pushed since, and only a producer's exchange
 * clears it. So exactly one push sees the mark (bl__mailbox_push returns
 * true) and that producer, alone, schedules the actor. Nothing is ever lost
 * between "the consumer saw an empty queue" and "a producer added one".
 */
#ifndef BL_SCHED_MAILBOX_H
#define BL_SCHED_MAILBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <beamline/sched.h>

typedef struct bl__mailbox {
	struct bl_mq_node *_Atomic head; /* producers; bit 0 = empty, unscheduled */
	struct bl_mq_node *tail;         /* consumer only */
	struct bl_mq_node stub;
} bl__mailbox_t;

#define BL__MAILBOX_MARK ((uintptr_t)1)

static inline struct bl_mq_node *bl__mailbox_marked(struct bl_mq_node *node)
{
	return (struct bl_mq_node *)((uintptr_t)node | BL__MAILBOX_MARK);
}

/* Initialise an empty mailbox, marked unscheduled. */
static inline void bl__mailbox_init(bl__mailbox_t *mb)
{
	atomic_init(&mb->stub.next, NULL);
	mb->tail = &mb->stub;
	atomic_init(&mb->head, bl__mailbox_marked(&mb->stub));
}

/*
 * Append `node`. Returns true when the mailbox was marked empty and
 * unscheduled: the caller must then schedule the actor. Any thread.
 */
static inline bool bl__mailbox_push(bl__mailbox_t *mb, struct bl_mq_node *node)
{
	atomic_store_explicit(&node->next, NULL, memory_order_relaxed);

	/*
	 * acq_rel: the release half keeps the store above (and the message's
	 * payload) from moving after the exchange, or the next producer's link
	 * could reach a node whose `next` is not yet NULL. The acquire half
	 * pairs with the consumer's release when it set the mark, so the
	 * producer that schedules the actor sees everything its last
	 * activation wrote.
	 */
	struct bl_mq_node *prev = atomic_exchange_explicit(&mb->head, node, memory_order_acq_rel);
	bool was_marked = ((uintptr_t)prev & BL__MAILBOX_MARK) != 0;
	prev = (struct bl_mq_node *)((uintptr_t)prev & ~BL__MAILBOX_MARK);

	/* Release: the consumer's acquire load of prev->next sees the payload. */
	atomic_store_explicit(&prev->next, node, memory_order_release);
	return was_marked;
}

/*
 * Take the next message after `*tail`, a consumer-held copy of mb->tail, or
 * return NULL when none is linked yet (which includes a producer caught
 * between its exchange and its link). On success *tail moves to the
 * message, and *retired receives the node the queue no longer needs (the
 * previous tail) for the caller to free, or NULL when that node is the
 * stub. Keeping the tail in a local for a whole activation and storing it
 * back once (bl__mailbox_set_tail) keeps the consumer off the cache line of
 * `head`, which producers write on every push. Consumer only.
 */
static inline struct bl_mq_node *bl__mailbox_pop_local(bl__mailbox_t *mb, struct bl_mq_node **tail,
						       struct bl_mq_node **retired)
{
	struct bl_mq_node *next = atomic_load_explicit(&(*tail)->next, memory_order_acquire);

	*retired = NULL;
	if (!next)
		return NULL;

	if (*tail != &mb->stub)
		*retired = *tail;
	*tail = next;
	return next;
}

/* Store back a tail advanced by bl__mailbox_pop_local. Consumer only. */
static inline void bl__mailbox_set_tail(bl__mailbox_t *mb, struct bl_mq_node *tail)
{
	mb->tail = tail;
}

/* bl__mailbox_pop_local on mb->tail itself. Consumer only. */
static inline struct bl_mq_node *bl__mailbox_pop(bl__mailbox_t *mb, struct bl_mq_node **retired)
{
	return bl__mailbox_pop_local(mb, &mb->tail, retired);
}

/*
 * Set the mark when the mailbox is empty. Returns true when the mark was
 * set: the actor is now unscheduled, and the caller must not touch it again
 * without a reference of its own. Returns false when a message is present
 * or a producer is mid-push, and the actor stays scheduled. Consumer only.
 */
static inline bool bl__mailbox_try_mark(bl__mailbox_t *mb)
{
	struct bl_mq_node *tail = mb->tail;
	if (atomic_load_explicit(&tail->next, memory_order_acquire))
		return false;

	/*
	 * Release on success: the producer that clears the mark and schedules
	 * the actor elsewhere must see this activation's writes. A failed
	 * compare needs no order: the caller just keeps the actor scheduled.
	 */
	struct bl_mq_node *expected = tail;
	return atomic_compare_exchange_strong_explicit(&mb->head, &expected, bl__mailbox_marked(tail),
						       memory_order_release, memory_order_relaxed);
}

/* Return true when no message is linked after the tail. Consumer only. */
static inline bool bl__mailbox_is_empty(const bl__mailbox_t *mb)
{
	return atomic_load_explicit(&mb->tail->next, memory_order_acquire) == NULL;
}

#endif
