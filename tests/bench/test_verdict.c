/*
 * The rule of `beamline-bench compare`: a planted slowdown is flagged,
 * two draws of the same noise are not, and the floor, the spread and the
 * "beyond every base sample" condition each hold a change back.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "verdict.h"

/* xorshift64, so that every run of the test draws the same samples. */
static double next_uniform(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (double)(*state >> 11) / (double)(1ull << 53);
}

/* n samples around `center`, each off by up to +-`noise` of it. */
static void draw(sample_t *s, unsigned n, double center, double noise, uint64_t *state)
{
	for (unsigned i = 0; i < n; i++)
		sample_add(s, center * (1 + noise * (2 * next_uniform(state) - 1)));
}

static void fill(sample_t *s, const double *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sample_add(s, values[i]);
}

typedef struct trial_counts {
	unsigned same_flagged;   /* pairs of one distribution judged changed */
	unsigned slower_flagged; /* throughput cut by 1.3 judged a regression */
	unsigned longer_flagged; /* time stretched by 1.3 judged a regression */
} trial_counts_t;

/* Judge `trials` base runs against a second draw of the same noise and
 * against that draw slowed by 30%, as throughput and as time. */
static trial_counts_t run_trials(unsigned trials, unsigned reps, double noise, uint64_t seed)
{
	trial_counts_t counts = {0};
	uint64_t state = seed;

	for (unsigned t = 0; t < trials; t++) {
		sample_t base = {0}, same = {0}, slower = {0}, longer = {0};
		draw(&base, reps, 100, noise, &state);
		draw(&same, reps, 100, noise, &state);
		for (size_t i = 0; i < same.count; i++) {
			sample_add(&slower, same.values[i] / 1.3);
			sample_add(&longer, same.values[i] * 1.3);
		}

		counts.same_flagged +=
			verdict_judge(&base, &same, BETTER_HIGHER, VERDICT_THRESHOLD_PCT).verdict != VERDICT_UNCHANGED;
		counts.slower_flagged += verdict_judge(&base, &slower, BETTER_HIGHER, VERDICT_THRESHOLD_PCT).verdict ==
					 VERDICT_REGRESSION;
		counts.longer_flagged += verdict_judge(&base, &longer, BETTER_LOWER, VERDICT_THRESHOLD_PCT).verdict ==
					 VERDICT_REGRESSION;
		sample_free(&base);
		sample_free(&same);
		sample_free(&slower);
		sample_free(&longer);
	}
	return counts;
}

/* With +-5% noise and five repetitions, the default rule never confuses
 * the two cases: every 30% slowdown is flagged (throughput down 23%, time
 * up 30%), and no pair from one build is. */
Test(bench_verdict, five_percent_noise_separates_cleanly)
{
	trial_counts_t c = run_trials(1000, 5, 0.05, 0x9e3779b97f4a7c15ull);

	cr_expect_eq(c.same_flagged, 0, "same build flagged %u times of 1000", c.same_flagged);
	cr_expect_eq(c.slower_flagged, 1000, "throughput slowdown flagged %u times of 1000", c.slower_flagged);
	cr_expect_eq(c.longer_flagged, 1000, "time slowdown flagged %u times of 1000", c.longer_flagged);
}

/* With +-10% noise the rule trades a few missed slowdowns for almost no
 * false alarms. 100,000 trials of this rule with seed 1 gave 0.26% false
 * alarms and 97% (throughput) to 99% (time) detection, and the bounds
 * below leave room for the seed. */
Test(bench_verdict, ten_percent_noise_rarely_false_alarms)
{
	trial_counts_t c = run_trials(1000, 5, 0.10, 0x243f6a8885a308d3ull);

	cr_expect_leq(c.same_flagged, 10, "same build flagged %u times of 1000", c.same_flagged);
	cr_expect_geq(c.slower_flagged, 900, "throughput slowdown flagged only %u times of 1000", c.slower_flagged);
	cr_expect_geq(c.longer_flagged, 900, "time slowdown flagged only %u times of 1000", c.longer_flagged);
}

/* A 12% slowdown with no noise at all is under the 15% floor. */
Test(bench_verdict, change_under_floor_is_unchanged)
{
	sample_t base = {0}, cur = {0};
	fill(&base, (double[]){100, 100, 100}, 3);
	fill(&cur, (double[]){88, 88, 88}, 3);

	judgement_t j = verdict_judge(&base, &cur, BETTER_HIGHER, 15);

	cr_expect_eq(j.verdict, VERDICT_UNCHANGED, "got %s", verdict_name(j.verdict));
	cr_expect_float_eq(j.change_pct, -12.0, 1e-9, "change %f", j.change_pct);
	sample_free(&base);
	sample_free(&cur);
}

/* Medians 100 and 80 (20% worse, over the floor), but the base run spans
 * 60 to 140 with a MAD of 30: two standard errors of the difference come
 * to about 50%, so the change is within the noise. */
Test(bench_verdict, change_within_spread_is_unchanged)
{
	sample_t base = {0}, cur = {0};
	fill(&base, (double[]){60, 70, 100, 130, 140}, 5);
	fill(&cur, (double[]){79, 80, 80, 80, 81}, 5);

	judgement_t j = verdict_judge(&base, &cur, BETTER_HIGHER, 15);

	cr_expect_eq(j.verdict, VERDICT_UNCHANGED, "got %s", verdict_name(j.verdict));
	cr_expect_gt(j.bar_pct, 20.0, "bar %f", j.bar_pct);
	sample_free(&base);
	sample_free(&cur);
}

/* Tight samples but two slow base samples: the new median (75) is 25%
 * below the base median. Rule 3 sets the slowest base sample (70) aside,
 * but 75 is still above the next one (72), so it is not beyond the base
 * range and stays unchanged. */
Test(bench_verdict, median_inside_base_range_is_unchanged)
{
	sample_t base = {0}, cur = {0};
	fill(&base, (double[]){70, 72, 100, 100, 100}, 5);
	fill(&cur, (double[]){75, 75, 75, 75, 75}, 5);

	judgement_t j = verdict_judge(&base, &cur, BETTER_HIGHER, 15);

	cr_expect_eq(j.verdict, VERDICT_UNCHANGED, "got %s", verdict_name(j.verdict));
	sample_free(&base);
	sample_free(&cur);
}

/* One slow base sample (70) among four at 100: rule 3 sets it aside, so
 * a new median of 75, 25% lower and below every other base sample, is a
 * regression. */
Test(bench_verdict, one_slow_base_sample_set_aside)
{
	sample_t base = {0}, cur = {0};
	fill(&base, (double[]){70, 100, 100, 100, 100}, 5);
	fill(&cur, (double[]){75, 75, 75, 75, 75}, 5);

	judgement_t j = verdict_judge(&base, &cur, BETTER_HIGHER, 15);

	cr_expect_eq(j.verdict, VERDICT_REGRESSION, "got %s", verdict_name(j.verdict));
	sample_free(&base);
	sample_free(&cur);
}

/* With only 3 base samples nothing is set aside: the slow one (70) keeps
 * a new median of 75 inside the base range. */
Test(bench_verdict, three_base_samples_all_count)
{
	sample_t base = {0}, cur = {0};
	fill(&base, (double[]){70, 100, 100}, 3);
	fill(&cur, (double[]){75, 75, 75}, 3);

	judgement_t j = verdict_judge(&base, &cur, BETTER_HIGHER, 15);

	cr_expect_eq(j.verdict, VERDICT_UNCHANGED, "got %s", verdict_name(j.verdict));
	sample_free(&base);
	sample_free(&cur);
}

/* For a time, lower is better: shorter is an improvement, longer a
 * regression, with the change signed as the raw medians move. */
Test(bench_verdict, lower_is_better_direction)
{
	sample_t base = {0}, faster = {0}, slower = {0};
	fill(&base, (double[]){100, 101, 99}, 3);
	fill(&faster, (double[]){70, 71, 69}, 3);
	fill(&slower, (double[]){130, 131, 129}, 3);

	judgement_t better = verdict_judge(&base, &faster, BETTER_LOWER, 15);
	judgement_t worse = verdict_judge(&base, &slower, BETTER_LOWER, 15);

	cr_expect_eq(better.verdict, VERDICT_IMPROVEMENT, "got %s", verdict_name(better.verdict));
	cr_expect_eq(worse.verdict, VERDICT_REGRESSION, "got %s", verdict_name(worse.verdict));
	cr_expect_float_eq(worse.change_pct, 30.0, 1e-9, "change %f", worse.change_pct);
	sample_free(&base);
	sample_free(&faster);
	sample_free(&slower);
}

/* One repetition gives no spread, so even a 40% drop cannot be
 * distinguished from noise: the figure is inconclusive, never a regression, and the change
 * is still reported. */
Test(bench_verdict, single_repetition_is_inconclusive)
{
	sample_t base = {0}, cur = {0};
	fill(&base, (double[]){100}, 1);
	fill(&cur, (double[]){60}, 1);

	judgement_t j = verdict_judge(&base, &cur, BETTER_HIGHER, 15);

	cr_expect_eq(j.verdict, VERDICT_INCONCLUSIVE, "got %s", verdict_name(j.verdict));
	cr_expect_float_eq(j.change_pct, -40.0, 1e-9, "change %f", j.change_pct);
	sample_free(&base);
	sample_free(&cur);
}

/* Two repetitions in the new run and five tight ones in the base: still
 * fewer than 3 on one side, so a 42% rise is inconclusive. */
Test(bench_verdict, two_new_repetitions_are_inconclusive)
{
	sample_t base = {0}, cur = {0};
	fill(&base, (double[]){100, 101, 99, 100, 100}, 5);
	fill(&cur, (double[]){142, 142}, 2);

	judgement_t j = verdict_judge(&base, &cur, BETTER_LOWER, 15);

	cr_expect_eq(j.verdict, VERDICT_INCONCLUSIVE, "got %s", verdict_name(j.verdict));
	sample_free(&base);
	sample_free(&cur);
}
