/*
 * A pool's timer service: a hierarchical wheel (timer_wheel.h) driven by one
 * thread that sleeps until the earliest deadline, then sends each expired
 * timer's message to its target.
 *
 * NOTE: the wheel has a thread of its own rather than being advanced by
 * workers between activations. Timer delivery then does not depend on how
 * busy or how asleep the workers are, at the cost of one mostly sleeping
 * thread per pool.
 *
 * Timer ids: bits 63..56 hold the pool index + 1, bits 55..32 a generation
 * and bits 31..0 the record index, so a stale id never cancels the record's
 * next user (until the 24-bit generation wraps on that record).
 */
#ifndef BL_SCHED_TIMER_H
#define BL_SCHED_TIMER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <beamline/sched.h>

#include "timer_wheel.h"

typedef struct bl__timer_rec {
	bl__wheel_entry_t entry;
	bl_actor_t *target; /* one reference while pending */
	bl_msg_t *msg;
	uint32_t index;      /* position in the pages, fixed at creation */
	uint32_t generation;
	uint32_t next_free;
	bool pending;
} bl__timer_rec_t;

typedef struct bl__timers {
	pthread_mutex_t lock;
	/* Guarded by `lock`. */
	bl__wheel_t wheel;
	bl__timer_rec_t **pages;
	uint32_t page_count;
	uint32_t free_head; /* UINT32_MAX: no free record */
	uint64_t wake_at;   /* ms; the deadline the thread sleeps towards */
	bool stopping;
	/* Bumped to wake the thread early; its futex word. */
	uint32_t _Atomic wake_seq;
	unsigned pool_index;
	pthread_t thread;
	bool initialised;
	bool started;
} bl__timers_t;

/* Start the service's thread for the pool with index `pool_index`.
 * Returns 0 or a negative errno. */
int bl__timers_start(bl__timers_t *t, unsigned pool_index);

/* Stop and join the thread; pending timers stay pending. */
void bl__timers_stop(bl__timers_t *t);

/* Drop every pending timer through its target's discard callback and free
 * the service's memory. Only after bl__timers_stop. */
void bl__timers_destroy(bl__timers_t *t);

/* Arm a timer (see bl_send_after). */
int bl__timers_add(bl__timers_t *t, bl_timer_id_t *out, bl_actor_t *to, bl_msg_t *msg, uint64_t delay_ms);

/* Cancel a timer of this service (see bl_timer_cancel). */
int bl__timers_cancel(bl__timers_t *t, bl_timer_id_t id);

/* Milliseconds on the monotonic clock. */
uint64_t bl__now_ms(void);

/* Nanoseconds on the monotonic clock. */
uint64_t bl__now_ns(void);

#endif
