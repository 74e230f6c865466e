/*
 * Reading the exposition text in tests: render a registry, find one
 * sample's value, count the lines of a metric.
 */
#ifndef BL_TEST_METRICS_TEXT_H
#define BL_TEST_METRICS_TEXT_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Render `r`; the text is owned by the caller. */
static inline char *render(bl_metrics_t *r)
{
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(bl_metrics_render(r, &text, &len), 0, "rendering failed");
	cr_assert_eq(strlen(text), len, "the rendered length is %zu, the text %zu bytes", len, strlen(text));
	return text;
}

/* The value of the line that starts with `series` and a space, or NaN
 * when there is none, so that a missing line fails any comparison. */
static inline double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, series, n) == 0 && line[n] == ' ')
			return strtod(line + n + 1, NULL);
	}
	return NAN;
}

/* The number of lines that start with `prefix`. */
static inline int count_lines(const char *text, const char *prefix)
{
	int count = 0;
	size_t n = strlen(prefix);
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		count += strncmp(line, prefix, n) == 0;
	return count;
}

#endif
