/*
 * beamline-utf8-bench: the text check of fs gets (bl_utf8_is_text) with
 * and without its vector check of multi-byte text, on the same buffers in
 * turns, so the scalar check is the baseline of the same run.
 *
 *   beamline-utf8-bench [--reps N]
 *
 * For ASCII, Latin text with one accented letter (two bytes) in ten,
 * Chinese (three-byte characters) and emoji (four bytes), at 64 KiB and
 * 1 MiB, it prints one JSON line each:
 *
 *   {"text":"cjk","bytes":65536,"scalar_us":65.5,"vector_us":11.3,
 *    "speedup":5.8,"vector_gb_s":5.8}
 *
 * Times are medians of N runs (default 31) of one check each.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "utf8_internal.h"

#define REPS_MAX 1001

typedef struct text_kind {
	const char *name;
	const char *character; /* the non-ASCII character it repeats */
	unsigned ascii_between; /* ASCII letters after each such character */
} text_kind_t;

static const text_kind_t kinds[] = {
	{"ascii", NULL, 0},
	{"latin", "\xc3\xa9", 9},
	{"cjk", "\xe4\xb8\xad", 0},
	{"emoji", "\xf0\x9f\x98\x80", 0},
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Fill s with well-formed text of kind k; ASCII letters fill the end
 * where a whole character no longer fits. */
static void fill(uint8_t *s, size_t len, const text_kind_t *k)
{
	size_t n = k->character ? strlen(k->character) : 0;
	size_t i = 0;

	while (i < len) {
		if (n > 0 && len - i >= n) {
			memcpy(s + i, k->character, n);
			i += n;
			for (unsigned a = 0; a < k->ascii_between && i < len; a++, i++)
				s[i] = (uint8_t)('a' + i % 26);
		} else {
			s[i] = (uint8_t)('a' + i % 26);
			i++;
		}
	}
}

/* Time `reps` checks of each path in turns; stores the medians in us. */
static bool time_paths(double medians[2], const uint8_t *s, size_t len, unsigned reps)
{
	static double times[2][REPS_MAX];

	for (unsigned r = 0; r < reps; r++) {
		for (int vector = 0; vector < 2; vector++) {
			double start = now_us();
			bool text = bl__utf8_scan(s, len, false, vector);
			times[vector][r] = now_us() - start;
			if (!text)
				return false;
		}
	}
	for (int vector = 0; vector < 2; vector++) {
		qsort(times[vector], reps, sizeof(double), compare_doubles);
		medians[vector] = times[vector][reps / 2];
	}
	return true;
}

/* Parse [--reps N]; N must be written as plain digits. Returns 0, or -1
 * after printing what was wrong. */
static int parse_reps(unsigned *reps, int argc, char **argv)
{
	*reps = 31;
	if (argc == 1)
		return 0;
	if (argc != 3 || strcmp(argv[1], "--reps") != 0) {
		fprintf(stderr, "usage: beamline-utf8-bench [--reps N]\n");
		return -1;
	}

	const char *text = argv[2];
	size_t digits = strspn(text, "0123456789");
	unsigned long n = digits > 0 && digits <= 4 && text[digits] == '\0' ? strtoul(text, NULL, 10) : 0;
	if (n == 0 || n > REPS_MAX) {
		fprintf(stderr, "beamline-utf8-bench: --reps must be a whole number from 1 to %d, got '%s'\n", REPS_MAX,
			text);
		return -1;
	}
	*reps = (unsigned)n;
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {65536, 1048576};
	unsigned reps;

	if (parse_reps(&reps, argc, argv) < 0)
		return 2;
	if (!bl__utf8_vector_available())
		fprintf(stderr, "this CPU has no SSSE3: both paths are the scalar check\n");

	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
			uint8_t *s = malloc(sizes[z]);
			double us[2];
			if (!s)
				return fprintf(stderr, "out of memory\n"), 1;
			fill(s, sizes[z], &kinds[k]);
			bool ok = time_paths(us, s, sizes[z], reps);
			free(s);
			if (!ok)
				return fprintf(stderr, "the %s text was not accepted as text\n", kinds[k].name), 1;
			printf("{\"text\":\"%s\",\"bytes\":%zu,\"scalar_us\":%.1f,\"vector_us\":%.1f,\"speedup\":%.1f,"
			       "\"vector_gb_s\":%.2f}\n",
			       kinds[k].name, sizes[z], us[0], us[1], us[0] / us[1], (double)sizes[z] / us[1] / 1e3);
		}
	}
	return 0;
}
