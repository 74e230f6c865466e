/*
 * Arrival times from the Alibaba cluster traces, read in place from their
 * gzip'd CSV files. Their terms allow research and study use but not
 * redistribution, so the project never carries a copy: the default path
 * points at the shared data folder beside the project.
 *
 * openb-pods: openb_pod_list_default.csv, column creation_time (seconds).
 * lora-requests: lora_request_trace.csv, column gmt_create
 * ("YYYY-MM-DD HH:MM:SS", taken as UTC).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "arrivals.h"
#include "sim.h"

#define LINE_MAX_BYTES 4096

typedef struct trace_format {
	const char *name;
	const char *file;
	const char *header; /* the first columns of the header line */
	unsigned column;    /* of the arrival time */
} trace_format_t;

static const trace_format_t formats[] = {
	{"openb-pods", "openb_pod_list_default.csv.gz", "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,"
							"pod_phase,creation_time",
	 8},
	{"lora-requests", "lora_request_trace.csv.gz", "gmt_create,", 0},
};

static const trace_format_t *find_format(const char *name)
{
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		if (strcmp(formats[i].name, name) == 0)
			return &formats[i];
	}
	return NULL;
}

char *bl_plan_trace_default_path(const char *name)
{
	const trace_format_t *f = find_format(name);
	if (!f)
		return NULL;

	size_t len = strlen(BL_SHARED_DATA_DIR) + strlen(f->file) + 32;
	char *path = malloc(len);
	if (path)
		snprintf(path, len, "%s/alibaba-cluster-traces/%s", BL_SHARED_DATA_DIR, f->file);
	return path;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

/* Parse the time in `text` (the column's start) into seconds. */
static int parse_time(const trace_format_t *f, const char *text, double *out)
{
	if (f->column == 0) {
		int y, mo, d, h, mi, s;
		if (sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6 || mo < 1 || mo > 12)
			return -1;
		*out = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + h * 3600.0 + mi * 60.0 + s;
		return 0;
	}
	char *end;
	*out = strtod(text, &end);
	if (end == text || !isfinite(*out))
		return -1;
	return *end == ',' || *end == '\n' || *end == '\r' || *end == '\0' ? 0 : -1;
}

static const char *column_start(const char *line, unsigned column)
{
	for (unsigned c = 0; c < column && line; c++) {
		line = strchr(line, ',');
		line = line ? line + 1 : NULL;
	}
	return line;
}

/* Append `t` to *times, growing it. Returns 0 or BL_ENOMEM. */
static int append(double **times, size_t *count, size_t *cap, double t)
{
	if (*count == *cap) {
		size_t grown = *cap ? *cap * 2 : 4096;
		double *p = realloc(*times, grown * sizeof *p);
		if (!p)
			return BL_ENOMEM;
		*times = p;
		*cap = grown;
	}
	(*times)[(*count)++] = t;
	return 0;
}

int bl_plan_trace_read(double **out, const char *name, const char *path, bl_error_t *err)
{
	const trace_format_t *f = find_format(name);
	char line[LINE_MAX_BYTES];
	double *times = NULL;
	size_t count = 0, cap = 0, line_no = 1;
	int rc = 0;

	if (!f)
		return bl_error_set(err, BL_EFORMAT, "arrival.trace", "unknown trace '%s'", name);
	gzFile in = gzopen(path, "rb");
	if (!in)
		return bl_error_set(err, -ENOENT, path,
				    "the %s trace is not there; give its path in arrival.path, or use the poisson process",
				    name);
	if (!gzgets(in, line, sizeof line) || strncmp(line, f->header, strlen(f->header)) != 0) {
		rc = bl_error_set(err, BL_EFORMAT, path, "not the %s trace: the header should start \"%s\"", name,
				  f->header);
		goto out;
	}
	while (gzgets(in, line, sizeof line)) {
		const char *text = column_start(line, f->column);
		double t;
		line_no++;
		if (!text || parse_time(f, text, &t) < 0) {
			rc = bl_error_set(err, BL_EFORMAT, path, "line %zu: no arrival time in column %u", line_no,
					  f->column + 1);
			goto out;
		}
		if (append(&times, &count, &cap, t) < 0) {
			rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory reading %s", path);
			goto out;
		}
	}
	if (count == 0) {
		rc = bl_error_set(err, BL_EFORMAT, path, "the trace has no arrivals");
		goto out;
	}
	bl_plan_sort(times, count);
	*out = times;
	times = NULL;
	rc = (int)count;

out:
	free(times);
	gzclose(in);
	return rc;
}
