/*
 * The rule that decides whether a figure changed between two runs.
 */
#ifndef BL_BENCH_VERDICT_H
#define BL_BENCH_VERDICT_H

#include "figures.h"
#include "stats.h"

/* Repetitions needed before the spread of a run counts as measured. */
#define VERDICT_MIN_REPS 3
/* The default floor of `compare --threshold`, in percent. */
#define VERDICT_THRESHOLD_PCT 15.0
/* Base samples needed before rule 3 may set the furthest one aside. */
#define VERDICT_ROBUST_REPS 4
/* How many standard errors of the difference a change must exceed. */
#define VERDICT_Z 2.0

typedef enum verdict {
	VERDICT_UNCHANGED,
	VERDICT_REGRESSION,
	VERDICT_IMPROVEMENT,
	VERDICT_NEW,          /* only in the new run */
	VERDICT_MISSING,      /* only in the base run */
	VERDICT_INCONCLUSIVE, /* a run had fewer than VERDICT_MIN_REPS samples */
	VERDICT_COUNT,        /* the number of verdicts, for tallies */
} verdict_t;

typedef struct judgement {
	verdict_t verdict;
	double base;       /* median of the base samples */
	double current;    /* median of the new samples */
	double change_pct; /* (current - base) / base, in percent, signed */
	double bar_pct;    /* the change, in percent, that counts; NAN when inconclusive */
} judgement_t;

/*
 * Judge the change from `base` to `current` (both borrowed, non-empty,
 * every value positive and finite) for a figure where `better` is the
 * good direction. When either run has fewer than VERDICT_MIN_REPS
 * samples, its spread is unknown and the verdict is VERDICT_INCONCLUSIVE,
 * never a regression. Otherwise a change counts only when all of these
 * hold:
 *   1. it exceeds `threshold_pct` percent of the base median;
 *   2. it exceeds VERDICT_Z standard errors of the difference of the two
 *      medians. Each run's standard deviation is estimated as 1.4826 x
 *      its median absolute deviation (MAD), and the standard error of
 *      its median as 1.2533 x sd / sqrt(n), as for normal noise;
 *   3. the new median lies beyond every base sample in that direction,
 *      except, with VERDICT_ROBUST_REPS or more base samples, the one
 *      furthest in that direction. So a run with a near-zero MAD by
 *      chance cannot decide alone, and one slow base sample cannot hide
 *      a change either.
 * Anything else is VERDICT_UNCHANGED.
 */
judgement_t verdict_judge(const sample_t *base, const sample_t *current, better_t better, double threshold_pct);

/* "regression", "improvement", "unchanged", "new", "missing" or
 * "inconclusive". */
const char *verdict_name(verdict_t verdict);

#endif
