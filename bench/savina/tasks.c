/* Task overhead: 1,000,000 empty tasks through the CPU pool, submitted from
 * outside the pool or from a task on a worker. */
#include <stdatomic.h>

#include "savina.h"

#define TASKS 1000000u

typedef struct tasks_run {
	bl_pool_t *pool;
	uint64_t _Atomic finished;
	bl_latch_t done;
	int error;
} tasks_run_t;

/* The empty task; counting it is how the driver learns that all ran. */
static void empty_task(void *arg)
{
	tasks_run_t *run = arg;
	if (atomic_fetch_add_explicit(&run->finished, 1, memory_order_relaxed) + 1 == TASKS)
		bl_latch_count_down(&run->done);
}

static void submit_all(void *arg)
{
	tasks_run_t *run = arg;
	for (unsigned i = 0; i < TASKS; i++) {
		int rc = bl_pool_submit(run->pool, empty_task, run);
		if (rc < 0) {
			run->error = rc;
			bl_latch_count_down(&run->done);
			return;
		}
	}
}

static int run_tasks(bl_pool_t *pool, savina_result_t *out, bool inside)
{
	tasks_run_t run = {.pool = pool};
	atomic_init(&run.finished, 0);
	bl_latch_init(&run.done, 1);

	double start = savina_now();
	if (inside)
		bl_pool_submit(pool, submit_all, &run);
	else
		submit_all(&run);
	bl_latch_wait(&run.done);
	out->elapsed_s = savina_now() - start;

	out->ops = TASKS;
	out->unit = "tasks";
	out->check = run.error == 0 && atomic_load(&run.finished) == TASKS;
	return run.error;
}

int savina_tasks(bl_pool_t *pool, savina_result_t *out)
{
	return run_tasks(pool, out, false);
}

int savina_tasks_inside(bl_pool_t *pool, savina_result_t *out)
{
	return run_tasks(pool, out, true);
}
