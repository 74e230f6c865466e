#include "task.h"

#include "alloc.h"
#include "runtime.h"

int bl_pool_submit(bl_pool_t *pool, bl_task_fn fn, void *arg)
{
	return bl_pool_submit_with_drop(pool, fn, NULL, arg);
}

int bl_pool_submit_with_drop(bl_pool_t *pool, bl_task_fn fn, bl_task_fn drop, void *arg)
{
	if (atomic_load_explicit(&pool->rt->shutting_down, memory_order_acquire))
		return BL_ESHUTDOWN;

	unsigned cls;
	bl__task_t *task = bl__shared_alloc(sizeof *task, &cls);
	if (!task)
		return BL_ENOMEM;

	task->fn = fn;
	task->drop = drop;
	task->arg = arg;
	task->size_class = cls;
	bl__pool_enqueue(pool, (bl__runnable_t)task | BL__RUNNABLE_TASK, false);
	return 0;
}

void bl__task_run(bl__worker_t *w, bl__task_t *task)
{
	task->fn(task->arg);
	bl__task_free(task);
	atomic_store_explicit(&w->tasks, atomic_load_explicit(&w->tasks, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void bl__task_free(bl__task_t *task)
{
	bl__shared_free(task, task->size_class);
}

void bl__task_drop(bl__task_t *task)
{
	if (task->drop)
		task->drop(task->arg);
	bl__task_free(task);
}
