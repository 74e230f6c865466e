/*
 * The BeamLine actor runtime.
 *
 * An actor is a behaviour (a table of callbacks), a block of state that the
 * runtime allocates next to the actor, a mailbox, and the pool it runs on.
 * Actors exchange messages; a pool's worker threads run actors whose
 * mailboxes are not empty, a bounded batch of messages at a time. Spawning an
 * actor creates no thread.
 *
 * Threads. Every function here may be called from any thread unless its
 * comment says otherwise. "From its handler" means from inside the receive,
 * stop or discard callback that the runtime is running for that actor.
 *
 * Ownership. Each pointer parameter either borrows (the callee keeps nothing
 * after it returns), or takes (the callee now owns it; functions that take
 * through a T ** set *p to NULL). A returned pointer is either borrowed (valid
 * for as long as stated) or owned (release it with the function named).
 *
 * Errors. Functions that can fail return 0 or a negative code from
 * <beamline/error.h>.
 *
 * Memory ordering. Everything an actor wrote before bl_send() is visible to
 * the receiving handler. A message is immutable once sent.
 */
#ifndef BEAMLINE_SCHED_H
#define BEAMLINE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bl_runtime bl_runtime_t;
typedef struct bl_pool bl_pool_t;
typedef struct bl_actor bl_actor_t;

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

/* Queue link of a message; written only by the runtime. */
struct bl_mq_node {
	struct bl_mq_node *_Atomic next;
};

/*
 * A message: a 16-byte header followed by the payload, which starts 16-byte
 * aligned at bl_msg_payload(). Applications read `type` and the payload, and
 * write the payload only before sending.
 */
typedef struct bl_msg {
	struct bl_mq_node node;
	uint32_t type;
	uint16_t size_class;
	uint16_t flags;
} bl_msg_t;

/* Application message types are below this value; the runtime owns the rest. */
#define BL_MSG_SYSTEM_BASE 0xFFFF0000u
/* Delivered to a monitoring actor when the monitored actor terminates. */
#define BL_MSG_DOWN 0xFFFF0001u
/* Delivered to an actor that traps exits when a linked actor terminates. */
#define BL_MSG_EXIT 0xFFFF0002u
/* Delivered to an actor of an I/O pool when an operation it submitted
 * completes; the payload is a bl_io_result_t. */
#define BL_MSG_IO 0xFFFF0003u

/*
 * Payload of BL_MSG_DOWN and BL_MSG_EXIT. `actor` is borrowed for the
 * duration of the handler call; bl_actor_retain() it to keep it longer.
 * `reason` is 0 for a normal exit, else the negative code the actor exited
 * with.
 */
typedef struct bl_exit_info {
	bl_actor_t *actor;
	int reason;
} bl_exit_info_t;

/*
 * Allocate a message of `type` (below BL_MSG_SYSTEM_BASE) with room for
 * `payload_size` bytes of uninitialised payload. Returns an owned message:
 * hand it to bl_send() or free it with bl_msg_free(). Returns NULL when
 * memory runs out or `type` is a system type.
 */
bl_msg_t *bl_msg_new(uint32_t type, size_t payload_size);

/* Free a message that was never sent. Takes *msg and sets it to NULL. */
void bl_msg_free(bl_msg_t **msg);

/* Return the payload, 16-byte aligned; valid while the message is. */
static inline void *bl_msg_payload(bl_msg_t *msg)
{
	return msg + 1;
}

/* ------------------------------------------------------------------------ */
/* Runtime and pools                                                         */
/* ------------------------------------------------------------------------ */

/*
 * Create an empty runtime; add pools with bl_runtime_add_pool(). Returns 0
 * and an owned runtime in *out (free with bl_runtime_free), or BL_ENOMEM.
 */
int bl_runtime_new(bl_runtime_t **out);

/*
 * Shut the runtime down and free it. Every pool stops taking work, each
 * worker finishes the activation it is running, and the workers exit. Then
 * every actor that still exists is terminated with reason BL_ESHUTDOWN: its
 * stop callback runs, every message still queued for it is passed to its
 * discard callback and freed, and its memory is released. Pending timers are
 * cancelled the same way. Actor handles held by the caller are invalid
 * afterwards. Takes *rt and sets it to NULL; must not be called from a
 * worker of this runtime.
 */
void bl_runtime_free(bl_runtime_t **rt);

/* Pool flavours. Each flavour runs actors; they differ in how an idle worker
 * waits and what it polls between activations. */
typedef enum bl_pool_kind {
	/* Compute: idle workers spin, then sleep on a futex. */
	BL_POOL_CPU = 0,
	/* Device queues: one worker per OpenCL command queue. Its actors
	 * enqueue device work without waiting and receive completions as
	 * messages sent from OpenCL event callbacks. Workers are never
	 * pinned, since the device does the work. */
	BL_POOL_GPU = 1,
	/* File and socket I/O: each worker owns an io_uring and, when idle,
	 * waits in it rather than on a futex. Its actors submit operations
	 * with the bl_io_* functions and receive completions as BL_MSG_IO
	 * messages. Workers are never pinned, since they mostly wait. */
	BL_POOL_IO = 2,
} bl_pool_kind_t;

typedef struct bl_pool_config {
	/* Name used in logs and metrics; copied. */
	const char *name;
	bl_pool_kind_t kind;
	/* Worker threads; 0 means one per core that hwloc reports (or one per
	 * online CPU when hwloc reports none). */
	unsigned workers;
	/* Maximum messages an actor handles per activation before it yields. */
	unsigned batch;
	/* Rounds of looking for work (each a pass over every queue) before an
	 * idle worker sleeps. */
	unsigned spin_rounds;
	/* Bind worker i to core i through hwloc when the topology allows. */
	bool pin_workers;
} bl_pool_config_t;

/* Fill *cfg with defaults: kind CPU, workers 0, batch 64, spin_rounds 256,
 * pin_workers true, name "cpu". */
void bl_pool_config_init(bl_pool_config_t *cfg);

/*
 * Create a pool in `rt` and start its workers. Returns 0 and a pool borrowed
 * from the runtime in *out (valid until bl_runtime_free), BL_EINVAL for a bad
 * configuration, BL_ENOMEM, or a negative errno when a thread cannot start.
 * For BL_POOL_IO, -ENOSYS or -EPERM mean that the kernel offers no io_uring
 * to this process (built without it, disabled by the io_uring_disabled
 * sysctl, or refused by a container's seccomp filter); other negative errno
 * values come from eventfd() or io_uring_queue_init(). Must not be called
 * from a worker of `rt`.
 */
int bl_runtime_add_pool(bl_runtime_t *rt, const bl_pool_config_t *cfg, bl_pool_t **out);

/* Return the number of worker threads of `pool`. */
unsigned bl_pool_worker_count(const bl_pool_t *pool);

/* Return the configured name of `pool`; borrowed for the pool's lifetime. */
const char *bl_pool_name(const bl_pool_t *pool);

/* Counters summed over a pool's workers since it started. Each counter is
 * read without stopping the workers, so the set is not one snapshot. */
typedef struct bl_pool_stats {
	uint64_t activations; /* actor activations run */
	uint64_t messages;    /* messages handed to receive callbacks */
	uint64_t tasks;       /* tasks run */
	uint64_t steals;      /* actors or tasks taken from another worker */
	uint64_t parks;       /* times a worker went to sleep */
	uint64_t wakeups;     /* times a sleeping worker was woken for work */
	uint64_t spawned;     /* actors spawned on this pool */
	uint64_t exited;      /* actors of this pool that terminated */
	uint64_t pinned;      /* workers bound to a core */
	uint64_t parked_ns;   /* time workers spent asleep, a park in progress included */
	uint64_t age_ns;      /* time since the pool was made */
} bl_pool_stats_t;

/* Fill *out with the counters of `pool`. */
void bl_pool_stats(const bl_pool_t *pool, bl_pool_stats_t *out);

/* ------------------------------------------------------------------------ */
/* The machine                                                               */
/* ------------------------------------------------------------------------ */

/* The CPU as hwloc reports it, for people sizing pools. A count of 0 or
 * an empty model means hwloc reported none. */
typedef struct bl_cpu_info {
	unsigned packages;   /* sockets */
	unsigned numa_nodes;
	unsigned cores;
	unsigned pus;        /* processing units (hardware threads) */
	char model[128];     /* the first package's CPUModel, e.g. "Intel(R) Xeon(R) ..." */
	uint64_t l2_bytes;   /* size of the first L2 cache */
	unsigned l2_count;
	uint64_t l3_bytes;   /* size of the first L3 cache */
	unsigned l3_count;
	uint64_t memory_bytes; /* main memory over all NUMA nodes */
} bl_cpu_info_t;

/*
 * Fill *out with the machine's CPU topology: the whole machine, not only
 * the cores this process may use. Returns 0, or -ENODEV when hwloc cannot
 * load a topology (*out is then zeroed). Safe from any thread. Each call
 * loads the topology again, so callers should not call it per job.
 */
int bl_cpu_info_load(bl_cpu_info_t *out);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

typedef void (*bl_task_fn)(void *arg);

/*
 * Run fn(arg) once on a worker of `pool`. From a worker of the same pool the
 * task goes to that worker's own deque, from elsewhere to the pool's inject
 * queue. `arg` is passed through untouched; what it points to belongs to
 * the task. Returns 0, BL_ENOMEM, or BL_ESHUTDOWN once the runtime is being
 * freed (fn is then not called).
 */
int bl_pool_submit(bl_pool_t *pool, bl_task_fn fn, void *arg);

/*
 * As bl_pool_submit, with drop(arg) called instead of fn(arg) when the
 * runtime is freed while the task is still queued, so that a task whose
 * argument owns memory or holds an actor reference can give them up.
 * Exactly one of fn and drop runs once the call returns 0.
 */
int bl_pool_submit_with_drop(bl_pool_t *pool, bl_task_fn fn, bl_task_fn drop, void *arg);

/* ------------------------------------------------------------------------ */
/* Actors                                                                    */
/* ------------------------------------------------------------------------ */

/* The actor traps exits: it receives a BL_MSG_EXIT for every exit of a
 * linked actor, normal or abnormal, instead of terminating with
 * BL_ELINKED when a linked actor exits abnormally. */
#define BL_BEHAVIOUR_TRAP_EXIT 0x1u

typedef struct bl_behaviour {
	/* Name used in logs; borrowed, must outlive every actor using it. */
	const char *name;

	/*
	 * Handle one message. `state` is the actor's state block, `msg` is
	 * borrowed and freed by the runtime after the call (copy what must
	 * outlive it). Return 0 to continue, or a negative code to terminate
	 * the actor abnormally with that reason. Required.
	 */
	int (*receive)(bl_actor_t *self, void *state, bl_msg_t *msg);

	/*
	 * Release what `state` owns. Called once, when the actor terminates
	 * for any reason (0 = normal). Optional.
	 */
	void (*stop)(bl_actor_t *self, void *state, int reason);

	/*
	 * Release what an unhandled message's payload owns, when the message is
	 * dropped because the actor terminated or the runtime shut down. The
	 * runtime frees the message itself afterwards. Optional.
	 */
	void (*discard)(bl_msg_t *msg);

	/* BL_BEHAVIOUR_* flags. */
	unsigned flags;
} bl_behaviour_t;

/* Largest state block an actor may have. */
#define BL_ACTOR_STATE_MAX 4096u

/*
 * Spawn an actor on `pool`. `behaviour` is borrowed and must outlive the
 * actor. The runtime allocates `state_size` bytes (16-byte aligned, at most
 * BL_ACTOR_STATE_MAX) next to the actor and copies `state` into them, or
 * zeroes them when `state` is NULL. Returns 0 and one owned reference in
 * *out (release with bl_actor_release), BL_EINVAL, BL_ENOMEM or
 * BL_ESHUTDOWN.
 */
int bl_actor_spawn(bl_actor_t **out, bl_pool_t *pool, const bl_behaviour_t *behaviour,
		   const void *state, size_t state_size);

/* Add a reference to `actor`; the caller must already hold one. */
void bl_actor_retain(bl_actor_t *actor);

/*
 * Drop a reference. Takes *actor and sets it to NULL. The memory of a
 * terminated actor is freed when its last reference goes; an actor that is
 * still running keeps running (the runtime holds its own reference until
 * the actor terminates).
 */
void bl_actor_release(bl_actor_t **actor);

/*
 * Send `*msg` to `to`. Takes the message and sets *msg to NULL. Wait-free
 * for the sender. Returns 0 when the message was queued, or BL_EDEAD when
 * `to` had already terminated: the message was then passed to the target's
 * discard callback and freed. A message can still be dropped after 0 is
 * returned, if the target terminates before handling it. The caller must
 * hold a reference to `to`.
 */
int bl_send(bl_actor_t *to, bl_msg_t **msg);

/* Allocate a message with one uint64_t payload and send it. Returns as
 * bl_send(), BL_ENOMEM, or BL_EINVAL for a system `type`. */
int bl_send_u64(bl_actor_t *to, uint32_t type, uint64_t value);

/* Read the uint64_t payload of a message built by bl_send_u64(). */
static inline uint64_t bl_msg_u64(bl_msg_t *msg)
{
	return *(const uint64_t *)bl_msg_payload(msg);
}

/*
 * Ask `actor` to terminate normally. From its own handler, it terminates
 * after the current message; from anywhere else, after the messages already
 * in its mailbox. Terminating an actor that has already terminated does
 * nothing.
 */
void bl_actor_stop(bl_actor_t *actor);

/*
 * Terminate `actor` abnormally with `reason` (negative; BL_EKILLED when 0 or
 * positive is given), after the messages already in its mailbox. Linked
 * actors receive the exit as for a failure.
 */
void bl_actor_kill(bl_actor_t *actor, int reason);

/*
 * Link the calling actor `self` and `other` both ways: when either
 * terminates abnormally the other terminates with BL_ELINKED, or receives
 * BL_MSG_EXIT when it traps exits. Linking to an actor that has already
 * terminated delivers its exit at once. Must be called from self's handler.
 * Returns 0, BL_ENOMEM, or BL_EINVAL when not called from self's handler.
 */
int bl_actor_link(bl_actor_t *self, bl_actor_t *other);

/* Remove a link made with bl_actor_link(). Must be called from self's
 * handler. An exit already in flight may still arrive. */
void bl_actor_unlink(bl_actor_t *self, bl_actor_t *other);

/*
 * Monitor `other`: when it terminates, for any reason, `self` receives one
 * BL_MSG_DOWN. Monitoring an actor that has already terminated delivers the
 * BL_MSG_DOWN at once. Must be called from self's handler. Returns 0,
 * BL_ENOMEM, or BL_EINVAL when not called from self's handler.
 */
int bl_actor_monitor(bl_actor_t *self, bl_actor_t *other);

/* Cancel one monitor made with bl_actor_monitor(). Must be called from
 * self's handler. A BL_MSG_DOWN already in flight may still arrive. */
void bl_actor_demonitor(bl_actor_t *self, bl_actor_t *other);

/* Return the actor whose handler is running on this thread, or NULL;
 * borrowed for the duration of the handler. */
bl_actor_t *bl_actor_self(void);

/* Return the pool `actor` runs on; borrowed for the runtime's lifetime. */
bl_pool_t *bl_actor_pool(const bl_actor_t *actor);

/* Return the runtime `actor` belongs to; borrowed. */
bl_runtime_t *bl_actor_runtime(const bl_actor_t *actor);

/* Return the behaviour name of `actor`; borrowed. */
const char *bl_actor_name(const bl_actor_t *actor);

/* ------------------------------------------------------------------------ */
/* Supervision                                                               */
/* ------------------------------------------------------------------------ */

typedef enum bl_restart {
	/* Restart after any exit, normal or not. */
	BL_RESTART_PERMANENT = 0,
	/* Restart only after an abnormal exit. */
	BL_RESTART_TRANSIENT,
	/* Never restart. */
	BL_RESTART_TEMPORARY,
} bl_restart_t;

typedef enum bl_strategy {
	/* Restart only the child that exited. */
	BL_ONE_FOR_ONE = 0,
	/* Kill every other child with BL_ESHUTDOWN, wait until each has
	 * exited, then start them all again in order (temporary children are
	 * not started again). */
	BL_ONE_FOR_ALL,
} bl_strategy_t;

typedef struct bl_child_spec {
	const bl_behaviour_t *behaviour; /* borrowed; must outlive the supervisor */
	const void *state;               /* copied at every start; NULL zeroes */
	size_t state_size;
	bl_restart_t restart;
	bl_pool_t *pool;                 /* NULL: the supervisor's pool */
} bl_child_spec_t;

/* Largest number of children and of restarts in one intensity period. */
#define BL_SUPERVISOR_CHILDREN_MAX 1024u
#define BL_SUPERVISOR_RESTARTS_MAX 1024u

typedef struct bl_supervisor_spec {
	bl_strategy_t strategy;
	/*
	 * Restart intensity: when more than `max_restarts` restarts would
	 * happen within `period_ms`, the supervisor stops its children and
	 * terminates with BL_EINTENSITY. With max_restarts 0 the first
	 * restart trips it; otherwise period_ms must be at least 1.
	 */
	unsigned max_restarts;
	uint32_t period_ms;
	const bl_child_spec_t *children; /* copied, with `n_children` entries */
	size_t n_children;
	/*
	 * Called from the supervisor's handler after each child start and
	 * restart, with the child borrowed for the call (retain it to keep
	 * it). Optional.
	 */
	void (*on_child_start)(void *ctx, size_t index, bl_actor_t *child);
	void *ctx;
} bl_supervisor_spec_t;

/*
 * Spawn a supervisor on `pool` that starts the children of `spec` in order,
 * links to each and traps their exits. The spec (not the behaviours it
 * points to) is copied. When the supervisor terminates, for any reason, it
 * kills its children with BL_ESHUTDOWN without waiting for them. Returns as
 * bl_actor_spawn(); BL_EINVAL for an empty or oversized spec, an unknown
 * strategy or restart type, or max_restarts > 0 with period_ms 0.
 */
int bl_supervisor_spawn(bl_actor_t **out, bl_pool_t *pool, const bl_supervisor_spec_t *spec);

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

typedef uint64_t bl_timer_id_t;

/*
 * Send `*msg` to `to` after at least `delay_ms` milliseconds. Takes the
 * message and sets *msg to NULL; holds a reference to `to` until the timer
 * fires or is cancelled. The timer runs on the wheel of `to`'s pool, with
 * millisecond resolution; timers that expire in the same millisecond are
 * delivered in the order they were set. Returns 0 and the timer's id in *out
 * (may be NULL), BL_ENOMEM or BL_ESHUTDOWN (the message is then freed
 * through the discard callback of `to`).
 */
int bl_send_after(bl_timer_id_t *out, bl_actor_t *to, bl_msg_t **msg, uint64_t delay_ms);

/*
 * Cancel a timer set by bl_send_after() on any pool of `rt`. Returns 0 when
 * the timer was pending: its message will never be delivered and has been
 * discarded. Returns BL_ENOTIMER when it already fired, was already
 * cancelled, or the id is unknown.
 */
int bl_timer_cancel(bl_runtime_t *rt, bl_timer_id_t id);

/* ------------------------------------------------------------------------ */
/* I/O: operations on the io_uring of an I/O pool's worker                   */
/* ------------------------------------------------------------------------ */

/*
 * Every bl_io_* submit function must be called from the handler of an actor
 * on a BL_POOL_IO pool; the operation goes to the ring of the worker
 * running that handler. Exactly one BL_MSG_IO message is sent to the
 * submitting actor per operation, wherever the actor runs by then: the
 * runtime holds a reference to the actor until the completion is sent. When
 * the actor has terminated, the completion goes to its discard callback.
 *
 * Buffers are borrowed until the completion message is handled or
 * discarded: the kernel may write to a read buffer until then. A buffer in
 * the actor's state block is safe, since the runtime's reference keeps the
 * state alive. When the runtime shuts down, every operation still in flight
 * is cancelled and its completion awaited before bl_runtime_free() runs any
 * stop callback, so no buffer is touched after that.
 * NOTE: an actor that stops before the runtime does leaves its operations
 * running; each completes normally (a read on a pipe nobody writes, only
 * at shutdown) and goes to the discard callback. Cancel them first.
 *
 * Errors of the operation itself arrive in bl_io_result_t.res as a negative
 * errno. The pool resubmits operations that fail with -EAGAIN or -EINTR,
 * so those never arrive, except as -ECANCELED after bl_io_cancel().
 * Give the pool file descriptors in blocking mode: io_uring waits for them
 * without blocking a thread, while a non-blocking one makes reads fail with
 * -EAGAIN and the pool resubmit them in a busy loop.
 */

/* Offset meaning "at the file position", for pipes, sockets and files
 * opened with O_APPEND. */
#define BL_IO_OFFSET_CURRENT UINT64_MAX

/* Payload of BL_MSG_IO. */
typedef struct bl_io_result {
	uint64_t id;  /* the id the submit function returned */
	uint64_t tag; /* the caller's tag, passed through */
	/* Bytes transferred (reads and writes), the ready poll events
	 * (bl_io_poll_fd), 0 (bl_io_fsync), or a negative errno. */
	int64_t res;
	/* The buffer given to bl_io_read or bl_io_write, so a discard
	 * callback can release it; NULL for the others. */
	void *buf;
} bl_io_result_t;

/*
 * Read up to `len` bytes (at most UINT32_MAX) of `fd` at `offset` (or
 * BL_IO_OFFSET_CURRENT) into `buf`, which is borrowed as described above.
 * One read: the result counts the bytes read, which is short at end of
 * file, and on pipes and sockets whenever less is available; 0 means end of
 * file. Callers loop for the rest. Returns 0 and the operation's id in *out
 * (may be NULL), BL_EINVAL for a bad argument or when not called from an
 * I/O pool actor's handler, BL_ENOMEM, or BL_ELIMIT when the worker has
 * 16777215 operations in flight.
 */
int bl_io_read(uint64_t *out, int fd, void *buf, size_t len, uint64_t offset, uint64_t tag);

/*
 * Write `len` bytes (at most UINT32_MAX) of `buf` to `fd` at `offset` (or
 * BL_IO_OFFSET_CURRENT). A short write is resubmitted for the rest, so the
 * result is `len` unless an error stopped it: then it is the bytes written
 * before the error when there were some, else the negative errno. Returns
 * as bl_io_read().
 */
int bl_io_write(uint64_t *out, int fd, const void *buf, size_t len, uint64_t offset, uint64_t tag);

/* Flush `fd`'s data and metadata to storage (fsync(2)). Returns as
 * bl_io_read(). */
int bl_io_fsync(uint64_t *out, int fd, uint64_t tag);

/*
 * Wait once until `fd` has one of the poll(2) `events` (POLLIN, POLLOUT,
 * ...); the result contains the events that are ready. For sockets and pipes.
 * Returns as bl_io_read(); BL_EINVAL when `events` is 0.
 */
int bl_io_poll_fd(uint64_t *out, int fd, short events, uint64_t tag);

/*
 * Cancel the operation `id` submitted by the calling actor. Must be called
 * from the handler of an actor on the I/O pool that ran the submit. The
 * completion still arrives: with -ECANCELED when the cancel won, or with
 * the normal result when the operation finished first (a cancelled write
 * may report the bytes it wrote). Returns 0 when the cancel was requested,
 * -ENOENT when the operation is known to have completed already, BL_EINVAL
 * when not called from an I/O pool actor's handler, or BL_ENOMEM when the
 * request for another worker's ring cannot be queued.
 */
int bl_io_cancel(uint64_t id);

/* ------------------------------------------------------------------------ */
/* Latch: lets a thread that is not a worker wait for actors                 */
/* ------------------------------------------------------------------------ */

/* Bits 0..30: the count; bit 31: a thread is (about to be) waiting. */
typedef struct bl_latch {
	uint32_t _Atomic state;
} bl_latch_t;

/* Largest count a latch can start from. */
#define BL_LATCH_COUNT_MAX 0x7FFFFFFFu

/* Set the latch to open after `count` (at most BL_LATCH_COUNT_MAX) calls of
 * bl_latch_count_down(). */
void bl_latch_init(bl_latch_t *latch, uint32_t count);

/*
 * Decrement the count; the call that reaches zero wakes every waiter. The
 * call does not touch the latch after its decrement, so a waiter may free
 * or reuse the latch as soon as its wait returns.
 */
void bl_latch_count_down(bl_latch_t *latch);

/* Block until the count is zero. Must not be called from a worker. */
void bl_latch_wait(bl_latch_t *latch);

/* Block until the count is zero or `timeout_ms` passes. Returns 0 or
 * -ETIMEDOUT. Must not be called from a worker. */
int bl_latch_wait_for(bl_latch_t *latch, uint64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
