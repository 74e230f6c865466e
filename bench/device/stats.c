/*
 * Clocks and the median / minimum / maximum summaries every section
 * reports.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "device_bench.h"

double bench_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

summary_t bench_summarize(double *values, unsigned n)
{
	qsort(values, n, sizeof *values, compare_doubles);

	double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
	return (summary_t){median, values[0], values[n - 1]};
}

json_t *bench_summary_json(summary_t s)
{
	return json_pack("{s:f, s:f, s:f}", "median", s.median, "min", s.min, "max", s.max);
}

json_t *bench_real(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}
