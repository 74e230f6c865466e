/*
 * The Savina micro-benchmarks on the BeamLine runtime; bench/README.md
 * defines each workload. Every benchmark runs on a fresh runtime with one
 * CPU pool and fills a savina_result_t.
 *
 * Actor references: the driver (main thread) keeps the reference each spawn
 * returns until the runtime is freed, so the actors of a benchmark outlive
 * every message that names them, and messages may carry plain pointers.
 */
#ifndef BL_BENCH_SAVINA_H
#define BL_BENCH_SAVINA_H

#include <stdbool.h>
#include <stdint.h>

#include <beamline/sched.h>

typedef struct savina_result {
	uint64_t ops;
	const char *unit;
	double elapsed_s;
	bool check;
	/* footprint only */
	int64_t rss_growth_bytes;
	double bytes_per_actor;
} savina_result_t;

typedef int (*savina_fn)(bl_pool_t *pool, savina_result_t *out);

int savina_pingpong(bl_pool_t *pool, savina_result_t *out);
int savina_threadring(bl_pool_t *pool, savina_result_t *out);
int savina_counting(bl_pool_t *pool, savina_result_t *out);
int savina_fjthroughput(bl_pool_t *pool, savina_result_t *out);
int savina_spawn(bl_pool_t *pool, savina_result_t *out);
int savina_big(bl_pool_t *pool, savina_result_t *out);
int savina_footprint(bl_pool_t *pool, savina_result_t *out);
int savina_tasks(bl_pool_t *pool, savina_result_t *out);
int savina_tasks_inside(bl_pool_t *pool, savina_result_t *out);

/* Seconds on the monotonic clock. */
double savina_now(void);

/* Savina's performComputation(theta): sin(theta) squared. */
double savina_compute(double theta);

/* Send a message whose payload is one pointer. */
int savina_send_ptr(bl_actor_t *to, uint32_t type, void *ptr);

/* Read the pointer payload of a message built by savina_send_ptr(). */
void *savina_msg_ptr(bl_msg_t *msg);

/* Resident set size of this process in bytes, from /proc/self/statm. */
int64_t savina_rss_bytes(void);

#endif
