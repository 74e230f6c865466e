/*
 * Planner jobs through the real engine (real_run.h). A thread writes the
 * job lines into a pipe at their arrival times, and bl_run_jobs reads the
 * other end as its jobs file, so each job is read when it arrives.
 */
#define _GNU_SOURCE /* mkdtemp, nftw */

#include "real_run.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define PATH_BYTES 512
/* The scratch folder's path fits in this, leaving room for its file names. */
#define DIR_BYTES 400

typedef struct pacer {
	const bl_plan_real_run_t *r;
	int fd; /* the pipe's write end, closed by the pacer when done */
	struct timespec start;
} pacer_t;

static void sleep_until(const struct timespec *start, double at_ms)
{
	struct timespec t = *start;
	long long ns = (long long)(at_ms * 1e6);

	t.tv_sec += ns / 1000000000LL;
	t.tv_nsec += ns % 1000000000LL;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static int write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write each job line, with its newline, at its arrival time. A write
 * that fails ends the feed: the run stopped early and the read end is
 * closed. SIGPIPE is blocked on this thread, so such a write returns
 * EPIPE instead of ending the process. */
static void *pace(void *arg)
{
	pacer_t *p = arg;
	const bl_plan_real_run_t *r = p->r;
	sigset_t pipe_signal;

	sigemptyset(&pipe_signal);
	sigaddset(&pipe_signal, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);

	for (size_t i = 0; i < r->count; i++) {
		if (r->at_ms)
			sleep_until(&p->start, r->at_ms[i]);
		if (write_all(p->fd, r->lines[i], strlen(r->lines[i])) < 0 || write_all(p->fd, "\n", 1) < 0)
			break;
	}
	close(p->fd);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* What else the host is doing                                               */
/* ------------------------------------------------------------------------ */

typedef struct cpu_sample {
	double busy_s;  /* all processes, every core, since boot */
	double self_s;  /* this process, every thread */
	double wall_s;  /* monotonic */
	bool valid;
} cpu_sample_t;

static cpu_sample_t sample_cpu(void)
{
	cpu_sample_t c = {0};
	unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
	struct rusage ru;
	struct timespec now;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "r");

	clock_gettime(CLOCK_MONOTONIC, &now);
	c.wall_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	if (!f)
		return c;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq,
		       &softirq, &steal);
	fclose(f);
	if (n != 8 || hz <= 0 || getrusage(RUSAGE_SELF, &ru) != 0)
		return c;
	c.busy_s = (double)(user + nice + system + irq + softirq) / (double)hz;
	c.self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		   (double)ru.ru_stime.tv_usec / 1e6;
	c.valid = true;
	return c;
}

/* Cores that other processes kept busy between the two samples. */
static double other_cores(const cpu_sample_t *a, const cpu_sample_t *b)
{
	double wall = b->wall_s - a->wall_s;
	if (!a->valid || !b->valid || wall <= 0)
		return -1;
	double other = (b->busy_s - a->busy_s) - (b->self_s - a->self_s);
	return other > 0 ? other / wall : 0;
}

/* ------------------------------------------------------------------------ */
/* Scratch files                                                             */
/* ------------------------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write the quota file: the workload's quotas, or one job at a time with
 * room to queue all `count` jobs, which calibration hands over at once. */
static int write_quotas(const char *path, const bl_plan_workload_t *w, bool one_at_a_time, size_t count,
			bl_error_t *err)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return bl_error_set(err, -errno, path, "cannot write the quota file: %s", strerror(errno));

	fprintf(f, "{\"default\": {\"max_concurrent\": 1}, \"tenants\": {");
	for (size_t i = 0; i < w->tenant_count; i++) {
		const bl_quota_t *q = &w->tenants[i].quota;
		/* 100,000,000 is the most the quota file takes. */
		size_t queued = one_at_a_time && count > q->max_queued ? count : q->max_queued;
		if (queued > 100000000)
			queued = 100000000;
		fprintf(f, "%s\"%s\": {\"max_concurrent\": %u, \"max_queued\": %zu, \"weight\": %u}", i ? ", " : "",
			w->tenants[i].name, one_at_a_time ? 1u : q->max_concurrent, queued, q->weight);
	}
	fprintf(f, "}}\n");
	if (fclose(f) != 0)
		return bl_error_set(err, -EIO, path, "cannot write the quota file");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* Take one result line: the job's index from its id, then its figures. */
static void take_result(bl_plan_real_run_t *r, const char *line)
{
	json_t *doc = json_loads(line, 0, NULL);
	const char *id = json_string_value(json_object_get(doc, "id"));
	const char *status = json_string_value(json_object_get(doc, "status"));
	json_t *timing = json_object_get(doc, "timing_us");
	char *end;
	unsigned long long i = id && strncmp(id, "plan-", 5) == 0 ? strtoull(id + 5, &end, 10) : ULLONG_MAX;

	if (i >= r->count) {
		json_decref(doc);
		return;
	}
	if (status && strcmp(status, "ok") == 0) {
		double queued = (double)json_integer_value(json_object_get(timing, "queued"));
		double run = (double)json_integer_value(json_object_get(timing, "run"));
		r->run_ms[i] = run / 1000.0;
		r->latency_ms[i] = (queued + run) / 1000.0;
	} else if (r->failed++ == 0) {
		json_t *e = json_object_get(doc, "error");
		const char *message = json_string_value(json_object_get(e, "message"));
		const char *field = json_string_value(json_object_get(e, "field"));
		bl_error_set(&r->first_failure, BL_EINVAL, field, "%s: %s", status ? status : "no status",
			     message ? message : "no message");
		r->first_failed = (size_t)i;
	}
	json_decref(doc);
}

static int read_results(bl_plan_real_run_t *r, const char *path, bl_error_t *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return bl_error_set(err, -errno, path, "cannot read the results: %s", strerror(errno));
	while (getline(&line, &cap, f) > 0)
		take_result(r, line);
	free(line);
	fclose(f);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */
/* ------------------------------------------------------------------------ */

/* Make the paths of the scratch files in `dir`. */
static void scratch_paths(const char *dir, char *quotas, char *results, char *state, char *jobs, int read_fd)
{
	snprintf(quotas, PATH_BYTES, "%.*s/quotas.json", DIR_BYTES, dir);
	snprintf(results, PATH_BYTES, "%.*s/results.jsonl", DIR_BYTES, dir);
	snprintf(state, PATH_BYTES, "%.*s/state", DIR_BYTES, dir);
	snprintf(jobs, PATH_BYTES, "/dev/fd/%d", read_fd);
}

static int run_engine(bl_plan_real_run_t *r, const bl_plan_workload_t *w, const char *dir, bl_error_t *err)
{
	char quotas[PATH_BYTES], results[PATH_BYTES], state[PATH_BYTES], jobs[PATH_BYTES];
	bl_run_summary_t summary = {0};
	bl_run_config_t cfg;
	pacer_t pacer = {.r = r};
	pthread_t thread;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return bl_error_set(err, -errno, NULL, "cannot make a pipe for the jobs: %s", strerror(errno));
	scratch_paths(dir, quotas, results, state, jobs, fds[0]);
	int rc = write_quotas(quotas, w, r->one_at_a_time, r->count, err);
	if (rc < 0)
		goto out_close;

	bl_run_config_init(&cfg);
	cfg.jobs_path = jobs;
	cfg.output_path = results;
	cfg.data_dir = w->data_dir;
	cfg.quotas_path = quotas;
	cfg.state_dir = state;
	cfg.cpu_workers = r->cpu_workers;
	if (r->io_workers)
		cfg.io_workers = r->io_workers;
	cfg.ageing_ms = w->ageing_ms;
	cfg.no_gpu = true;

	pacer.fd = fds[1];
	clock_gettime(CLOCK_MONOTONIC, &pacer.start);
	if (pthread_create(&thread, NULL, pace, &pacer) != 0) {
		rc = bl_error_set(err, -EAGAIN, NULL, "cannot start the thread that feeds the jobs");
		goto out_close;
	}
	fds[1] = -1; /* the pacer closes it */
	cpu_sample_t before = sample_cpu();
	rc = bl_run_jobs(&cfg, &summary, err);
	/* A run that stopped early left the pacer writing: closing the read
	 * end makes its next write fail. */
	close(fds[0]);
	fds[0] = -1;
	pthread_join(thread, NULL);
	cpu_sample_t after = sample_cpu();
	r->other_cores = other_cores(&before, &after);
	bl_run_summary_free(&summary);
	r->wall_s = summary.elapsed_s;
	if (rc == 0)
		rc = read_results(r, results, err);

out_close:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return rc;
}

int bl_plan_real_run(bl_plan_real_run_t *r, const bl_plan_workload_t *w, bl_error_t *err)
{
	const char *tmp = getenv("TMPDIR");
	char dir[DIR_BYTES];

	if (tmp && strlen(tmp) > DIR_BYTES - 32)
		return bl_error_set(err, -ENAMETOOLONG, "TMPDIR", "the temporary folder's path is longer than %d bytes",
				    DIR_BYTES - 32);
	for (size_t i = 0; i < r->count; i++)
		r->run_ms[i] = r->latency_ms[i] = -1;
	r->failed = 0;
	snprintf(dir, sizeof dir, "%s/beamline-plan-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return bl_error_set(err, -errno, dir, "cannot make a scratch folder: %s", strerror(errno));

	int rc = run_engine(r, w, dir, err);
	remove_tree(dir);

	/* A job without a result line counts as failed too. */
	size_t missing = 0;
	for (size_t i = 0; rc == 0 && i < r->count; i++)
		missing += r->run_ms[i] < 0;
	if (missing > r->failed)
		r->failed = missing;
	return rc;
}
