#include "budget.h"

double budget_plan(budget_item_t *items, size_t count, double budget_s, unsigned reps)
{
	unsigned first = reps < BUDGET_MIN_REPS ? reps : BUDGET_MIN_REPS;
	double used = 0;

	for (size_t i = 0; i < count; i++) {
		items[i].reps = 0;
		if (!items[i].runnable)
			continue;
		unsigned want = budget_s > 0 ? first : reps;
		if (budget_s > 0 && used + want * items[i].rep_s > budget_s)
			continue;
		items[i].reps = want;
		used += want * items[i].rep_s;
	}

	/* Spread what is left one repetition at a time. */
	for (bool added = true; budget_s > 0 && added;) {
		added = false;
		for (size_t i = 0; i < count; i++) {
			if (items[i].reps == 0 || items[i].reps >= reps || used + items[i].rep_s > budget_s)
				continue;
			items[i].reps++;
			used += items[i].rep_s;
			added = true;
		}
	}
	return used;
}
