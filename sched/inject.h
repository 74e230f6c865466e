/*
 * A pool's inject queue: runnables arriving from threads that are not
 * workers of the pool (other pools, timer threads, the application), and
 * actors that used up their batch and yield to everything queued before
 * them.
 *
 * Producers push wait-free (one exchange, one store) on a Vyukov intrusive
 * MPSC queue. Consumers are the pool's workers: one at a time, chosen by a
 * try-lock, so a worker never waits for another to finish popping.
 */
#ifndef BL_SCHED_INJECT_H
#define BL_SCHED_INJECT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "runnable.h"

typedef struct bl__inject {
	/* Producers. */
	_Alignas(64) bl__runnable_t _Atomic head;
	/* The worker holding `locked`. */
	_Alignas(64) bl__runnable_t tail;
	bool _Atomic locked;
	bl__link_t stub;
} bl__inject_t;

/* Initialise an empty queue. */
void bl__inject_init(bl__inject_t *q);

/* Append `r` (an actor or task runnable). Returns true when the queue was
 * empty before the push. Any thread. */
bool bl__inject_push(bl__inject_t *q, bl__runnable_t r);

/*
 * Take the oldest runnable, or return 0 when the queue is empty, when a
 * producer is between its two steps, or when another worker is popping.
 * Any thread.
 */
bl__runnable_t bl__inject_pop(bl__inject_t *q);

/*
 * Take up to `max` of the oldest runnables into `out` under one turn of the
 * consumer lock. Returns how many; 0 in the cases bl__inject_pop returns 0.
 * Any thread.
 */
unsigned bl__inject_pop_many(bl__inject_t *q, bl__runnable_t *out, unsigned max);

/* Return true when the queue holds nothing; sequentially consistent, for
 * the check a worker makes before it parks. Any thread. */
bool bl__inject_is_empty(bl__inject_t *q);

#endif
