#include <errno.h>
#include <limits.h>
#include <stdatomic.h>

#include <beamline/sched.h>

#include "futex.h"

#define WAITING 0x80000000u

void bl_latch_init(bl_latch_t *latch, uint32_t count)
{
	atomic_init(&latch->state, count & BL_LATCH_COUNT_MAX);
}

void bl_latch_count_down(bl_latch_t *latch)
{
	/*
	 * The decrement alone decides whether to wake: after it, the waiter
	 * may already have returned and reused the latch's memory, so nothing
	 * here reads the latch again. A futex wake only hashes the address and
	 * does not access the memory behind it. acq_rel: a waiter that sees
	 * zero sees everything done before every count-down.
	 */
	uint32_t old = atomic_fetch_sub_explicit(&latch->state, 1, memory_order_acq_rel);
	if (old == (WAITING | 1))
		bl__futex_wake(&latch->state, INT_MAX);
}

/* Wait for zero; `deadline` NULL waits for ever. Returns 0 or -ETIMEDOUT. */
static int wait_until(bl_latch_t *latch, const struct timespec *deadline)
{
	for (;;) {
		uint32_t state = atomic_load_explicit(&latch->state, memory_order_acquire);
		if ((state & BL_LATCH_COUNT_MAX) == 0)
			return 0;

		/* Announce the wait in the same word the count-down changes, so
		 * the last count-down's decrement tells it whether to wake. */
		if (!(state & WAITING) &&
		    !atomic_compare_exchange_weak_explicit(&latch->state, &state, state | WAITING,
							   memory_order_acquire, memory_order_acquire))
			continue;

		struct timespec left, *timeout = NULL;
		if (deadline) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			int64_t ns = (deadline->tv_sec - now.tv_sec) * 1000000000ll + (deadline->tv_nsec - now.tv_nsec);
			if (ns <= 0)
				return -ETIMEDOUT;
			left.tv_sec = ns / 1000000000ll;
			left.tv_nsec = ns % 1000000000ll;
			timeout = &left;
		}
		bl__futex_wait(&latch->state, state | WAITING, timeout);
	}
}

void bl_latch_wait(bl_latch_t *latch)
{
	wait_until(latch, NULL);
}

int bl_latch_wait_for(bl_latch_t *latch, uint64_t timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(timeout_ms / 1000);
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000l;
	if (deadline.tv_nsec >= 1000000000l) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000l;
	}
	return wait_until(latch, &deadline);
}
