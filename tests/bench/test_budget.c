/*
 * Planning repetitions into a time budget. Every suite gets its first
 * three repetitions before any gets a fourth, and a suite that does not
 * fit gets none. Without a budget every suite gets all it requested.
 */
#include <criterion/criterion.h>

#include "budget.h"

Test(bench_budget, no_budget_plans_every_rep)
{
	budget_item_t items[] = {{.rep_s = 100, .runnable = true}, {.rep_s = 5, .runnable = false}};

	budget_plan(items, 2, 0, 5);

	cr_expect_eq(items[0].reps, 5, "reps %u", items[0].reps);
	cr_expect_eq(items[1].reps, 0, "a suite that cannot run got %u reps", items[1].reps);
}

/* 60 s: the first suite's three 10 s repetitions fit (30 s), the second's
 * three of 15 s do not (45 s of 30 s left), the third's three of 5 s do
 * (15 s). The 15 s left add one more to each planned suite in turn:
 * 10 s to the first, then 5 s to the third. */
Test(bench_budget, tight_budget_skips_and_spreads)
{
	budget_item_t items[] = {
		{.rep_s = 10, .runnable = true}, {.rep_s = 15, .runnable = true}, {.rep_s = 5, .runnable = true}};

	double planned = budget_plan(items, 3, 60, 5);

	cr_expect_eq(items[0].reps, 4, "first suite: %u reps", items[0].reps);
	cr_expect_eq(items[1].reps, 0, "second suite: %u reps", items[1].reps);
	cr_expect_eq(items[2].reps, 4, "third suite: %u reps", items[2].reps);
	cr_expect_float_eq(planned, 60.0, 1e-9, "planned %f s", planned);
}

/* A large budget stops at the requested repetitions. */
Test(bench_budget, large_budget_stops_at_reps)
{
	budget_item_t items[] = {{.rep_s = 1, .runnable = true}, {.rep_s = 2, .runnable = true}};

	double planned = budget_plan(items, 2, 1000, 5);

	cr_expect_eq(items[0].reps, 5, "reps %u", items[0].reps);
	cr_expect_eq(items[1].reps, 5, "reps %u", items[1].reps);
	cr_expect_float_eq(planned, 15.0, 1e-9, "planned %f s", planned);
}

/* With --reps 2 the first pass gives 2, not 3. */
Test(bench_budget, fewer_reps_than_minimum)
{
	budget_item_t items[] = {{.rep_s = 10, .runnable = true}};

	budget_plan(items, 1, 25, 2);

	cr_expect_eq(items[0].reps, 2, "reps %u", items[0].reps);
}
