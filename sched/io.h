/*
 * The I/O pool's rings: one io_uring per worker, its table of operations in
 * flight, and the eventfd that wakes the worker while it waits in the ring.
 *
 * Field owners: everything but `wake_fd` and the cancel inbox belongs to the
 * worker thread that owns the ring. `wake_fd` is set once at start and
 * written by any thread; the inbox is guarded by `inbox_lock`, with
 * `inbox_count` readable without it.
 *
 * Operation ids. An id packs the owning worker's index, the operation's slot
 * in that worker's table and the slot's generation, so a cancel that
 * arrives after the slot was reused finds a different generation and does
 * nothing.
 */
#ifndef BL_SCHED_IO_H
#define BL_SCHED_IO_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <beamline/sched.h>

#include "pool.h"

/* Submission queue entries per ring; the completion queue is twice that,
 * and the kernel keeps overflowing completions (IORING_FEAT_NODROP). */
#define BL__IO_RING_ENTRIES 256u

/* user_data of the ring's own requests; operations use their record's
 * address, which is never this small. */
#define BL__IO_WAKE_TOKEN 1u
#define BL__IO_CANCEL_TOKEN 2u

typedef struct bl__io_op {
	bl_actor_t *actor; /* one reference, dropped after delivery */
	bl_msg_t *msg;     /* the completion, allocated at submit */
	uint8_t opcode;
	bool cancelled;
	uint16_t poll_events;
	int fd;
	unsigned char *buf;
	uint32_t len;
	uint32_t done;   /* bytes written so far, for a short write */
	uint64_t offset; /* UINT64_MAX: the file position */
	uint32_t slot;
	uint32_t generation;
	uint32_t next_free;
} bl__io_op_t;

typedef struct bl__io_ring {
	/* Owner thread only. */
	struct io_uring ring;
	bool ring_ready;
	bool wake_armed;
	uint64_t wake_value; /* the eventfd read's buffer */
	bl__io_op_t **ops;
	uint32_t capacity;
	uint32_t free_head; /* UINT32_MAX when empty */
	uint32_t in_flight;

	/* Set once at start; written by any thread. */
	int wake_fd;

	/* Cancel requests from actors that moved to another worker. */
	pthread_mutex_t inbox_lock;
	uint64_t *inbox;
	uint32_t inbox_capacity;
	uint32_t _Atomic inbox_count;
} bl__io_ring_t;

/* The I/O pool's operations (io_ring.c). */
extern const bl__pool_ops_t bl__io_pool_ops;

/* Queue an SQE for `op` on the calling worker's ring and submit it, making
 * room when the submission queue is full (io_ring.c). */
void bl__io_ring_submit(bl__io_ring_t *io, bl__io_op_t *op);

/* Submit a cancel of `op` on its ring; owner thread only (io_ring.c). */
void bl__io_ring_cancel(bl__io_ring_t *io, bl__io_op_t *op);

/* Deliver the completion of `op` with `res` and free its slot (io.c). */
void bl__io_deliver(bl__io_ring_t *io, bl__io_op_t *op, int64_t res);

/* Look up the operation `id` in `io`; NULL when it already completed (io.c). */
bl__io_op_t *bl__io_find(bl__io_ring_t *io, uint64_t id);

/* Free every slot record; the table must be empty (io.c). */
void bl__io_table_destroy(bl__io_ring_t *io);

#endif
