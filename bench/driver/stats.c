#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sample_add(sample_t *s, double value)
{
	if (s->count == s->capacity) {
		size_t capacity = s->capacity ? s->capacity * 2 : 8;
		double *values = realloc(s->values, capacity * sizeof *values);
		if (!values) {
			fputs("beamline-bench: out of memory\n", stderr);
			abort();
		}
		s->values = values;
		s->capacity = capacity;
	}
	s->values[s->count++] = value;
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Copy the values and sort the copy. Returns owned (free). */
static double *sorted_copy(const sample_t *s)
{
	double *sorted = malloc(s->count * sizeof *sorted);
	if (!sorted) {
		fputs("beamline-bench: out of memory\n", stderr);
		abort();
	}
	memcpy(sorted, s->values, s->count * sizeof *sorted);
	qsort(sorted, s->count, sizeof *sorted, compare);
	return sorted;
}

double sample_median(const sample_t *s)
{
	if (s->count == 0)
		return NAN;

	double *sorted = sorted_copy(s);
	size_t mid = s->count / 2;
	double median = s->count % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
	free(sorted);
	return median;
}

double sample_order(const sample_t *s, size_t k)
{
	if (k >= s->count)
		return NAN;

	double *sorted = sorted_copy(s);
	double value = sorted[k];
	free(sorted);
	return value;
}

double sample_mad(const sample_t *s)
{
	double median = sample_median(s);
	if (isnan(median))
		return NAN;

	sample_t deviations = {0};
	for (size_t i = 0; i < s->count; i++)
		sample_add(&deviations, fabs(s->values[i] - median));
	double mad = sample_median(&deviations);
	sample_free(&deviations);
	return mad;
}

double sample_min(const sample_t *s)
{
	double min = NAN;
	for (size_t i = 0; i < s->count; i++)
		min = isnan(min) || s->values[i] < min ? s->values[i] : min;
	return min;
}

double sample_max(const sample_t *s)
{
	double max = NAN;
	for (size_t i = 0; i < s->count; i++)
		max = isnan(max) || s->values[i] > max ? s->values[i] : max;
	return max;
}

void sample_free(sample_t *s)
{
	free(s->values);
	*s = (sample_t){0};
}
