#include "verdict.h"

#include <math.h>

/* The standard error of a run's median, from its MAD. */
static double median_standard_error(const sample_t *s)
{
	double sd = 1.4826 * sample_mad(s);
	return 1.2533 * sd / sqrt((double)s->count);
}

judgement_t verdict_judge(const sample_t *base, const sample_t *current, better_t better, double threshold_pct)
{
	judgement_t j = {.verdict = VERDICT_UNCHANGED};
	j.base = sample_median(base);
	j.current = sample_median(current);
	j.change_pct = (j.current - j.base) / j.base * 100.0;
	if (base->count < VERDICT_MIN_REPS || current->count < VERDICT_MIN_REPS) {
		j.verdict = VERDICT_INCONCLUSIVE;
		j.bar_pct = NAN;
		return j;
	}

	/* Rules 1 and 2: the bar is the larger of the floor and the noise. */
	double se = hypot(median_standard_error(base), median_standard_error(current));
	double noise_pct = VERDICT_Z * se / j.base * 100.0;
	j.bar_pct = fmax(threshold_pct, noise_pct);

	/* Positive `worse` is a change in the bad direction. */
	double worse = better == BETTER_HIGHER ? -j.change_pct : j.change_pct;
	if (!(fabs(worse) > j.bar_pct))
		return j;

	/* Rule 3: beyond every base sample in the direction of the change,
	 * but one outlier among enough samples is set aside. */
	bool up = j.current > j.base;
	size_t skip = base->count >= VERDICT_ROBUST_REPS ? 1 : 0;
	double edge = sample_order(base, up ? base->count - 1 - skip : skip);
	if (!(up ? j.current > edge : j.current < edge))
		return j;

	j.verdict = worse > 0 ? VERDICT_REGRESSION : VERDICT_IMPROVEMENT;
	return j;
}

const char *verdict_name(verdict_t verdict)
{
	switch (verdict) {
	case VERDICT_UNCHANGED:
		return "unchanged";
	case VERDICT_REGRESSION:
		return "regression";
	case VERDICT_IMPROVEMENT:
		return "improvement";
	case VERDICT_NEW:
		return "new";
	case VERDICT_MISSING:
		return "missing";
	case VERDICT_INCONCLUSIVE:
		return "inconclusive";
	case VERDICT_COUNT:
		break;
	}
	return "unknown";
}
