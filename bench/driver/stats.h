/*
 * A growing sample of figures with order statistics.
 */
#ifndef BL_BENCH_STATS_H
#define BL_BENCH_STATS_H

#include <stddef.h>

typedef struct sample {
	double *values;
	size_t count;
	size_t capacity;
} sample_t;

/* Append a value; aborts when memory runs out. */
void sample_add(sample_t *s, double value);

/* Median, minimum and maximum; NAN for an empty sample. */
double sample_median(const sample_t *s);
double sample_min(const sample_t *s);
double sample_max(const sample_t *s);

/* Return the k-th smallest value, counting from 0, or NAN when k >= count. */
double sample_order(const sample_t *s, size_t k);

/* Median absolute deviation from the median, unscaled; NAN for an empty
 * sample. */
double sample_mad(const sample_t *s);

void sample_free(sample_t *s);

#endif
