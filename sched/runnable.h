/*
 * Runnables: what a worker's deque, its next-slot and a pool's inject queue
 * carry. A runnable is a tagged word: an actor pointer with tag 0 or a task
 * pointer with tag 1. Both objects embed a bl__link_t for the inject queue.
 */
#ifndef BL_SCHED_RUNNABLE_H
#define BL_SCHED_RUNNABLE_H

#include <stdatomic.h>
#include <stdint.h>

typedef uintptr_t bl__runnable_t;

#define BL__RUNNABLE_TAG_MASK ((uintptr_t)7)
#define BL__RUNNABLE_ACTOR ((uintptr_t)0)
#define BL__RUNNABLE_TASK ((uintptr_t)1)
/* Reserved for the inject queue's stub node; never handed to a worker. */
#define BL__RUNNABLE_STUB ((uintptr_t)2)

/* Inject-queue link; `next` holds the next runnable, 0 for none. */
typedef struct bl__link {
	bl__runnable_t _Atomic next;
} bl__link_t;

/* A task submitted with bl_pool_submit(). */
typedef struct bl__task {
	bl__link_t link;
	void (*fn)(void *arg);
	void (*drop)(void *arg); /* instead of fn at shutdown; may be NULL */
	void *arg;
	unsigned size_class;
} bl__task_t;

static inline uintptr_t bl__runnable_tag(bl__runnable_t r)
{
	return r & BL__RUNNABLE_TAG_MASK;
}

static inline void *bl__runnable_ptr(bl__runnable_t r)
{
	return (void *)(r & ~BL__RUNNABLE_TAG_MASK);
}

#endif
