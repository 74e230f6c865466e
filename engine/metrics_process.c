/*
 * The process metrics under the names Prometheus client libraries use
 * (process_*), read from /proc, getrusage and getrlimit at each scrape.
 * Linux only, as the engine is.
 */
#define _GNU_SOURCE /* O_DIRECTORY, RUSAGE_SELF */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "metrics_engine.h"

typedef struct process_metrics {
	bl_metric_series_t *start_time;
	bl_metric_series_t *cpu;
	bl_metric_series_t *resident;
	bl_metric_series_t *open_fds;
	bl_metric_series_t *max_fds;
} process_metrics_t;

/* The start time in seconds since the epoch: the boot time (/proc/stat
 * "btime") plus the process' start in clock ticks after boot (field 22
 * of /proc/self/stat). Returns 0 when either cannot be read. */
static double start_time(void)
{
	char line[1024];
	unsigned long long btime = 0, ticks = 0;

	FILE *f = fopen("/proc/stat", "r");
	while (f && fgets(line, sizeof line, f) && sscanf(line, "btime %llu", &btime) != 1)
		;
	if (f)
		fclose(f);

	f = fopen("/proc/self/stat", "r");
	char *fields = f && fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
	if (f)
		fclose(f);
	/* After the command name: state is field 3, starttime field 22. */
	if (!fields || sscanf(fields + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			      &ticks) != 1 || btime == 0)
		return 0;
	long hz = sysconf(_SC_CLK_TCK);
	return (double)btime + (double)ticks / (double)(hz > 0 ? hz : 100);
}

static double resident_bytes(void)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%*u %llu", &pages) != 1)
		pages = 0;
	fclose(f);
	return (double)pages * (double)sysconf(_SC_PAGESIZE);
}

/* Open descriptors: entries of /proc/self/fd, less the one reading it. */
static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return (double)(n > 0 ? n - 1 : 0);
}

static void collect(void *ctx)
{
	process_metrics_t *p = ctx;
	struct rusage ru;
	struct rlimit rl;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		bl_metric_set(p->cpu, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
					      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	bl_metric_set(p->resident, resident_bytes());
	bl_metric_set(p->open_fds, open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		bl_metric_set(p->max_fds, (double)rl.rlim_cur);
}

static int add(bl_metrics_t *r, bl_metric_series_t **out, const char *name, bl_metric_type_t type, const char *help,
	       bl_error_t *err)
{
	bl_metric_desc_t d = {.name = name, .help = help, .type = type};
	bl_metric_t *m;
	int rc = bl_metrics_register(r, &d, &m, err);
	if (rc == 0)
		*out = bl_metric_series(m, NULL);
	return rc;
}

int bl_metrics_process_register(bl_metrics_t *r, bl_error_t *err)
{
	process_metrics_t *p = calloc(1, sizeof *p);
	if (!p)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory adding the process metrics");

	int rc = add(r, &p->start_time, "process_start_time_seconds", BL_METRIC_GAUGE,
		     "Start time of the process since the Unix epoch in seconds.", err);
	if (rc == 0)
		rc = add(r, &p->cpu, "process_cpu_seconds_total", BL_METRIC_COUNTER,
			 "User and system CPU time of the process in seconds.", err);
	if (rc == 0)
		rc = add(r, &p->resident, "process_resident_memory_bytes", BL_METRIC_GAUGE,
			 "Resident memory of the process in bytes.", err);
	if (rc == 0)
		rc = add(r, &p->open_fds, "process_open_fds", BL_METRIC_GAUGE, "Open file descriptors of the process.",
			 err);
	if (rc == 0)
		rc = add(r, &p->max_fds, "process_max_fds", BL_METRIC_GAUGE,
			 "Limit on open file descriptors of the process (RLIMIT_NOFILE).", err);
	if (rc < 0) {
		free(p);
		return rc;
	}

	bl_metric_set(p->start_time, start_time());
	if (bl_metrics_add_collector(r, collect, p, free) < 0)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory adding the process metrics");
	return 0;
}
