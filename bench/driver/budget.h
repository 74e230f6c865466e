/*
 * Fitting suites and repetitions into a time budget.
 */
#ifndef BL_BENCH_BUDGET_H
#define BL_BENCH_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

/* Fewer repetitions give no spread to judge a change by. */
#define BUDGET_MIN_REPS 3

typedef struct budget_item {
	double rep_s;  /* estimated seconds of one repetition; set by the caller */
	bool runnable; /* false: skipped before planning; set by the caller */
	unsigned reps; /* planned repetitions; 0 when it does not fit */
} budget_item_t;

/*
 * Plan repetitions for `items` in order. With `budget_s` <= 0 every
 * runnable item gets `reps`. Otherwise each runnable item in turn first
 * gets min(reps, BUDGET_MIN_REPS) repetitions if they fit in what is
 * left. Then the rest of the budget adds one repetition at a time to each
 * planned item in turn, up to `reps`, so that one expensive suite does not
 * starve the others. Returns the estimated seconds planned.
 */
double budget_plan(budget_item_t *items, size_t count, double budget_s, unsigned reps);

#endif
