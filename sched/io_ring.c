/*
 * The I/O pool flavour: each worker owns an io_uring, waits in it when idle
 * and turns completions into messages in `poll`.
 *
 * Waking. Every ring keeps one read of the worker's eventfd armed while the
 * worker waits. A waker stores NOTIFIED in the worker's park state and then
 * writes the eventfd, which completes the read and so ends the wait. The
 * write cannot be lost: an eventfd read completes as soon as the counter is
 * non-zero, so a write that lands before the read is armed, or before the
 * worker enters io_uring_submit_and_wait, still makes the wait return at
 * once. The park protocol (park.c) is unchanged: the worker publishes
 * SLEEPING, rechecks for work, and waits only while its state is not
 * NOTIFIED.
 *
 * A completion of the worker's own operations also ends the wait. The wait
 * consumes only the ring's own tokens (the eventfd read and cancel
 * results); on finding an operation's completion it takes the worker off the
 * idle list itself, as a notifier would, and leaves delivery to `poll`.
 */
#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "actor.h"

/* ------------------------------------------------------------------------ */
/* Submission                                                                */
/* ------------------------------------------------------------------------ */

static unsigned reap(bl__io_ring_t *io);

static void prep(struct io_uring_sqe *sqe, bl__io_op_t *op)
{
	/* UINT64_MAX is also io_uring's "use the file position". */
	uint64_t offset = op->offset == UINT64_MAX ? op->offset : op->offset + op->done;

	switch (op->opcode) {
	case IORING_OP_READ:
		io_uring_prep_read(sqe, op->fd, op->buf, op->len, offset);
		break;
	case IORING_OP_WRITE:
		io_uring_prep_write(sqe, op->fd, op->buf + op->done, op->len - op->done, offset);
		break;
	case IORING_OP_FSYNC:
		io_uring_prep_fsync(sqe, op->fd, 0);
		break;
	default:
		io_uring_prep_poll_add(sqe, op->fd, op->poll_events);
		break;
	}
	io_uring_sqe_set_data(sqe, op);
}

/*
 * Return a free submission entry. When the queue is full, hand its entries
 * to the kernel; when the kernel refuses them for now (-EBUSY: too many
 * completions not yet reaped), reap and deliver first. Nothing is dropped.
 */
static struct io_uring_sqe *get_sqe(bl__io_ring_t *io)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&io->ring)) == NULL) {
		int rc = io_uring_submit(&io->ring);
		if (rc == -EBUSY || rc == -EAGAIN)
			reap(io);
	}
	return sqe;
}

void bl__io_ring_submit(bl__io_ring_t *io, bl__io_op_t *op)
{
	prep(get_sqe(io), op);

	/* An error here leaves the entry queued; `poll` submits it again. */
	io_uring_submit(&io->ring);
}

void bl__io_ring_cancel(bl__io_ring_t *io, bl__io_op_t *op)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	op->cancelled = true;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, BL__IO_CANCEL_TOKEN);
	io_uring_submit(&io->ring);
}

/* Submit the cancels other workers posted for this ring. The inbox is
 * swapped out under its lock, so cancelling runs without it. */
static void drain_inbox(bl__io_ring_t *io)
{
	if (atomic_load_explicit(&io->inbox_count, memory_order_relaxed) == 0)
		return;

	pthread_mutex_lock(&io->inbox_lock);
	uint64_t *ids = io->inbox;
	uint32_t count = atomic_load_explicit(&io->inbox_count, memory_order_relaxed);
	io->inbox = NULL;
	io->inbox_capacity = 0;
	atomic_store_explicit(&io->inbox_count, 0, memory_order_relaxed);
	pthread_mutex_unlock(&io->inbox_lock);

	for (uint32_t i = 0; i < count; i++) {
		bl__io_op_t *op = bl__io_find(io, ids[i]);
		if (op && !op->cancelled)
			bl__io_ring_cancel(io, op);
	}
	free(ids);
}

/* ------------------------------------------------------------------------ */
/* Completion                                                                */
/* ------------------------------------------------------------------------ */

/* Finish, retry or continue `op` after one completion. Returns 1 when a
 * message was delivered. */
static unsigned complete(bl__io_ring_t *io, bl__io_op_t *op, int res)
{
	bool retry = res == -EAGAIN || res == -EINTR;

	if (retry && op->cancelled)
		res = -ECANCELED;
	else if (retry)
		goto resubmit;

	if (op->opcode == IORING_OP_WRITE && res >= 0) {
		op->done += (uint32_t)res;
		if (res > 0 && op->done < op->len && !op->cancelled)
			goto resubmit;
		res = (int)op->done;
	}

	bl__io_deliver(io, op, res);
	return 1;

resubmit:
	prep(get_sqe(io), op);
	io_uring_submit(&io->ring);
	return 0;
}

/* Deliver every completion in the ring. Returns how many messages went out. */
static unsigned reap(bl__io_ring_t *io)
{
	struct io_uring_cqe *cqe;
	unsigned delivered = 0;

	while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
		uint64_t data = cqe->user_data;
		int res = cqe->res;

		io_uring_cqe_seen(&io->ring, cqe);
		if (data == BL__IO_WAKE_TOKEN)
			io->wake_armed = false;
		else if (data != BL__IO_CANCEL_TOKEN)
			delivered += complete(io, (bl__io_op_t *)(uintptr_t)data, res);
	}
	return delivered;
}

/* ------------------------------------------------------------------------ */
/* Waiting and waking                                                        */
/* ------------------------------------------------------------------------ */

static void arm_wake(bl__io_ring_t *io)
{
	if (io->wake_armed)
		return;

	struct io_uring_sqe *sqe = get_sqe(io);
	io_uring_prep_read(sqe, io->wake_fd, &io->wake_value, sizeof io->wake_value, 0);
	io_uring_sqe_set_data64(sqe, BL__IO_WAKE_TOKEN);
	io->wake_armed = true;
}

/* Consume the ring's own completions at the head of the queue. Returns true
 * when an operation's completion waits behind them. */
static bool take_tokens(bl__io_ring_t *io)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
		if (cqe->user_data == BL__IO_WAKE_TOKEN)
			io->wake_armed = false;
		else if (cqe->user_data != BL__IO_CANCEL_TOKEN)
			return true;
		io_uring_cqe_seen(&io->ring, cqe);
	}
	return false;
}

static bool has_local_work(bl__worker_t *w)
{
	return atomic_load_explicit(&w->slot, memory_order_relaxed) != 0 || bl__deque_size(&w->deque) > 0;
}

static void io_wait(bl__worker_t *w)
{
	bl__io_ring_t *io = w->io;

	drain_inbox(io);
	if (!take_tokens(io) && !has_local_work(w)) {
		arm_wake(io);
		/* Submits the armed read with anything else queued, then sleeps
		 * until the queue contains a completion. -EINTR is a spurious
		 * return, which the caller's loop allows. */
		io_uring_submit_and_wait(&io->ring, 1);
		if (!take_tokens(io) && !has_local_work(w))
			return;
	}

	/* Work of this worker's own: leave the park as a notifier would. */
	bl__worker_unpark_self(w);
}

static void io_wake(bl__worker_t *w)
{
	uint64_t one = 1;
	int saved = errno;
	ssize_t n;

	/* Only an overflowing counter makes a blocking eventfd write fail or
	 * wait, and a counter that high already wakes the reader. */
	do
		n = write(w->io->wake_fd, &one, sizeof one);
	while (n < 0 && errno == EINTR);
	errno = saved;
}

static unsigned io_poll(bl__worker_t *w)
{
	bl__io_ring_t *io = w->io;

	drain_inbox(io);
	if (io_uring_sq_ready(&io->ring) > 0)
		io_uring_submit(&io->ring);
	return reap(io);
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Open the worker's eventfd and ring. Returns 0, BL_ENOMEM, or the negative
 * errno of eventfd or io_uring_queue_init: -ENOSYS or -EPERM mean the
 * kernel offers no io_uring to this process.
 */
static int io_worker_start(bl__worker_t *w)
{
	int rc = BL_ENOMEM;
	bl__io_ring_t *io = calloc(1, sizeof *io);
	if (!io)
		return BL_ENOMEM;
	io->free_head = UINT32_MAX;

	/* Blocking on purpose: io_uring fails a read of a non-blocking file
	 * with -EAGAIN instead of waiting for it to become readable. */
	io->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (io->wake_fd < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = io_uring_queue_init(BL__IO_RING_ENTRIES, &io->ring, 0);
	if (rc < 0)
		goto err_close_fd;
	if (pthread_mutex_init(&io->inbox_lock, NULL) != 0) {
		rc = BL_ENOMEM;
		goto err_exit_ring;
	}

	io->ring_ready = true;
	w->io = io;
	return 0;

err_exit_ring:
	io_uring_queue_exit(&io->ring);
err_close_fd:
	close(io->wake_fd);
err_free:
	free(io);
	return rc;
}

/*
 * Cancel every operation in flight and wait for each completion before the
 * ring goes away, so that no buffer is touched after the pool stopped. The
 * completions are sent as usual; during shutdown they reach the actors'
 * discard callbacks.
 */
static void io_worker_stop(bl__worker_t *w)
{
	bl__io_ring_t *io = w->io;

	for (uint32_t i = 0; i < io->capacity; i++) {
		bl__io_op_t *op = io->ops[i];
		if (op->actor && !op->cancelled)
			bl__io_ring_cancel(io, op);
	}
	while (io->in_flight > 0) {
		io_uring_submit_and_wait(&io->ring, 1);
		reap(io);
	}

	io_uring_queue_exit(&io->ring);
	io->ring_ready = false;
}

/* After every thread that could wake the worker is gone: the eventfd must
 * outlive worker_stop, since a waker may still write it then. */
static void io_worker_free(bl__worker_t *w)
{
	bl__io_ring_t *io = w->io;
	if (!io)
		return;

	close(io->wake_fd);
	pthread_mutex_destroy(&io->inbox_lock);
	free(io->inbox);
	bl__io_table_destroy(io);
	free(io);
	w->io = NULL;
}

const bl__pool_ops_t bl__io_pool_ops = {
	.worker_start = io_worker_start,
	.worker_stop = io_worker_stop,
	.worker_free = io_worker_free,
	.poll = io_poll,
	.wait = io_wait,
	.wake = io_wake,
};
