/*
 * Tasks: one function call scheduled like an actor activation.
 */
#ifndef BL_SCHED_TASK_H
#define BL_SCHED_TASK_H

#include "pool.h"
#include "runnable.h"

/* Run a task on worker `w` and free it. */
void bl__task_run(bl__worker_t *w, bl__task_t *task);

/* Free a task that ran. */
void bl__task_free(bl__task_t *task);

/* Call the drop function of a task that will not run (shutdown), then free it. */
void bl__task_drop(bl__task_t *task);

#endif
