/*
 * The public I/O API: actors on an I/O pool submit file and socket
 * operations on their worker's ring and receive each completion as one
 * BL_MSG_IO message.
 *
 * Routing. An operation records the submitting actor (holding a reference)
 * and its completion message, allocated at submit so that delivery cannot
 * fail for memory. The completion is sent to the actor, wherever it runs
 * by then: an actor stolen by another worker still receives the completions
 * of operations left on its old worker's ring.
 */
#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"

#define SLOT_BITS 24u
#define WORKER_BITS 16u
#define SLOT_MAX ((1u << SLOT_BITS) - 1u)
#define FIELD_MASK(bits) ((UINT64_C(1) << (bits)) - 1u)
#define NO_SLOT UINT32_MAX

static uint64_t make_id(unsigned worker, const bl__io_op_t *op)
{
	uint64_t generation = op->generation & FIELD_MASK(64u - SLOT_BITS - WORKER_BITS);
	return generation << (SLOT_BITS + WORKER_BITS) | (uint64_t)worker << SLOT_BITS | op->slot;
}

static unsigned id_worker(uint64_t id)
{
	return (unsigned)(id >> SLOT_BITS & FIELD_MASK(WORKER_BITS));
}

/* Double the table; new slots go on the free list. */
static int grow_table(bl__io_ring_t *io)
{
	uint32_t capacity = io->capacity ? io->capacity * 2u : 64u;
	if (capacity > SLOT_MAX)
		return BL_ELIMIT;

	bl__io_op_t **ops = realloc(io->ops, capacity * sizeof *ops);
	if (!ops)
		return BL_ENOMEM;
	io->ops = ops;

	for (uint32_t i = io->capacity; i < capacity; i++) {
		ops[i] = calloc(1, sizeof **ops);
		if (!ops[i]) {
			io->capacity = i;
			return io->free_head != NO_SLOT ? 0 : BL_ENOMEM;
		}
		ops[i]->slot = i;
		ops[i]->next_free = io->free_head;
		io->free_head = i;
	}
	io->capacity = capacity;
	return 0;
}

static bl__io_op_t *take_slot(bl__io_ring_t *io, int *rc)
{
	if (io->free_head == NO_SLOT) {
		*rc = grow_table(io);
		if (io->free_head == NO_SLOT)
			return NULL;
	}

	bl__io_op_t *op = io->ops[io->free_head];
	io->free_head = op->next_free;
	return op;
}

static void free_slot(bl__io_ring_t *io, bl__io_op_t *op)
{
	op->actor = NULL;
	op->msg = NULL;
	op->generation++;
	op->next_free = io->free_head;
	io->free_head = op->slot;
}

void bl__io_table_destroy(bl__io_ring_t *io)
{
	for (uint32_t i = 0; i < io->capacity; i++)
		free(io->ops[i]);
	free(io->ops);
	io->ops = NULL;
	io->capacity = 0;
	io->free_head = NO_SLOT;
}

bl__io_op_t *bl__io_find(bl__io_ring_t *io, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & SLOT_MAX);
	if (slot >= io->capacity)
		return NULL;

	bl__io_op_t *op = io->ops[slot];
	if (!op->actor || make_id(id_worker(id), op) != id)
		return NULL;
	return op;
}

void bl__io_deliver(bl__io_ring_t *io, bl__io_op_t *op, int64_t res)
{
	bl_msg_t *msg = op->msg;
	bl_actor_t *actor = op->actor;
	bl_io_result_t *result = bl_msg_payload(msg);

	result->res = res;
	free_slot(io, op);
	io->in_flight--;

	/* A terminated actor's discard callback receives the completion. */
	bl_send(actor, &msg);
	bl_actor_release(&actor);
}

/* ------------------------------------------------------------------------ */
/* Submission                                                                */
/* ------------------------------------------------------------------------ */

/* The ring of the worker running the calling handler, when that handler
 * belongs to an actor of an I/O pool; else NULL. */
static bl__io_ring_t *caller_ring(bl_actor_t **actor)
{
	bl__worker_t *w = bl__current_worker;
	bl_actor_t *a = bl__current_actor;

	if (!w || !a || w->pool->kind != BL_POOL_IO || a->pool != w->pool)
		return NULL;
	*actor = a;
	return w->io;
}

/* Fill a slot for the calling actor and submit it. Returns 0 and the id in
 * *out, BL_EINVAL outside an I/O pool's handler, BL_ENOMEM or BL_ELIMIT. */
static int submit(uint64_t *out, const bl__io_op_t *proto, uint64_t tag)
{
	bl_actor_t *actor;
	bl__io_ring_t *io = caller_ring(&actor);
	int rc = BL_ENOMEM;

	if (!io)
		return BL_EINVAL;
	bl_msg_t *msg = bl__msg_alloc(BL_MSG_IO, sizeof(bl_io_result_t));
	if (!msg)
		return BL_ENOMEM;
	bl__io_op_t *op = take_slot(io, &rc);
	if (!op) {
		bl__msg_release(msg);
		return rc;
	}

	uint32_t slot = op->slot, generation = op->generation;
	*op = *proto;
	op->slot = slot;
	op->generation = generation;
	op->actor = actor;
	op->msg = msg;
	bl_actor_retain(actor);

	uint64_t id = make_id(bl__current_worker->index, op);
	*(bl_io_result_t *)bl_msg_payload(msg) = (bl_io_result_t){.id = id, .tag = tag, .buf = op->buf};
	io->in_flight++;
	bl__io_ring_submit(io, op);
	if (out)
		*out = id;
	return 0;
}

static int check_length(size_t len)
{
	return len <= UINT32_MAX ? 0 : BL_EINVAL;
}

int bl_io_read(uint64_t *out, int fd, void *buf, size_t len, uint64_t offset, uint64_t tag)
{
	if (fd < 0 || (!buf && len > 0) || check_length(len) < 0)
		return BL_EINVAL;

	bl__io_op_t proto = {.opcode = IORING_OP_READ, .fd = fd, .buf = buf, .len = (uint32_t)len, .offset = offset};
	return submit(out, &proto, tag);
}

int bl_io_write(uint64_t *out, int fd, const void *buf, size_t len, uint64_t offset, uint64_t tag)
{
	if (fd < 0 || (!buf && len > 0) || check_length(len) < 0)
		return BL_EINVAL;

	/* The kernel only reads the buffer; the cast keeps one record type. */
	bl__io_op_t proto = {
		.opcode = IORING_OP_WRITE, .fd = fd, .buf = (void *)(uintptr_t)buf, .len = (uint32_t)len, .offset = offset};
	return submit(out, &proto, tag);
}

int bl_io_fsync(uint64_t *out, int fd, uint64_t tag)
{
	if (fd < 0)
		return BL_EINVAL;

	bl__io_op_t proto = {.opcode = IORING_OP_FSYNC, .fd = fd};
	return submit(out, &proto, tag);
}

int bl_io_poll_fd(uint64_t *out, int fd, short events, uint64_t tag)
{
	if (fd < 0 || events == 0)
		return BL_EINVAL;

	bl__io_op_t proto = {.opcode = IORING_OP_POLL_ADD, .fd = fd, .poll_events = (uint16_t)events};
	return submit(out, &proto, tag);
}

/* ------------------------------------------------------------------------ */
/* Cancellation                                                              */
/* ------------------------------------------------------------------------ */

/* Queue a cancel for the ring of another worker and wake that worker; it
 * submits the cancel from its own thread, since a ring has one submitter. */
static int post_cancel(bl__worker_t *owner, uint64_t id)
{
	bl__io_ring_t *io = owner->io;
	int rc = 0;

	pthread_mutex_lock(&io->inbox_lock);
	uint32_t count = atomic_load_explicit(&io->inbox_count, memory_order_relaxed);
	if (count == io->inbox_capacity) {
		uint32_t capacity = io->inbox_capacity ? io->inbox_capacity * 2u : 16u;
		uint64_t *inbox = realloc(io->inbox, capacity * sizeof *inbox);
		if (inbox) {
			io->inbox = inbox;
			io->inbox_capacity = capacity;
		}
	}
	if (count < io->inbox_capacity) {
		io->inbox[count] = id;
		atomic_store_explicit(&io->inbox_count, count + 1u, memory_order_relaxed);
	} else {
		rc = BL_ENOMEM;
	}
	pthread_mutex_unlock(&io->inbox_lock);

	if (rc == 0)
		owner->pool->ops->wake(owner);
	return rc;
}

int bl_io_cancel(uint64_t id)
{
	bl_actor_t *actor;
	bl__io_ring_t *io = caller_ring(&actor);

	if (!io)
		return BL_EINVAL;

	bl_pool_t *pool = bl__current_worker->pool;
	unsigned worker = id_worker(id);
	if (worker >= pool->worker_count)
		return -ENOENT;
	if (worker != bl__current_worker->index)
		return post_cancel(&pool->workers[worker], id);

	bl__io_op_t *op = bl__io_find(io, id);
	if (!op)
		return -ENOENT;
	bl__io_ring_cancel(io, op);
	return 0;
}
