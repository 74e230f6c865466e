#define _GNU_SOURCE /* mkdtemp */

#include "run_harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void harness_init(harness_t *h)
{
	memset(h, 0, sizeof *h);
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(h->dir, sizeof h->dir, "%s/bl-run-XXXXXX", tmp);
	cr_assert_not_null(mkdtemp(h->dir), "cannot create a temporary folder under %s", tmp);
	snprintf(h->data, sizeof h->data, "%s/data", h->dir);
	cr_assert_eq(mkdir(h->data, 0700), 0);
	char tenant[320];
	snprintf(tenant, sizeof tenant, "%s/t", h->data);
	cr_assert_eq(mkdir(tenant, 0700), 0);

	bl_run_config_init(&h->cfg);
	h->cfg.data_dir = h->data;
	h->cfg.cpu_workers = 2;
	/* CPU only unless a test turns the device on: results do not depend
	 * on what auto measured, and no test writes to the user's cache. */
	h->cfg.no_gpu = true;
	snprintf(h->placement, sizeof h->placement, "%s/placement.json", h->dir);
	h->cfg.placement_path = h->placement;
	bl_log_start(BL_LOG_OFF, 2);
}

void harness_fini(harness_t *h)
{
	for (size_t i = 0; i < h->count; i++)
		json_decref(h->results[i]);
	free(h->results);
	bl_run_summary_free(&h->summary);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
	cr_assert_eq(system(cmd), 0);
	bl_log_stop();
}

static void read_results(harness_t *h, const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no output file at %s", path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t jerr;
		json_t *r = json_loads(line, 0, &jerr);
		cr_assert_not_null(r, "output line is not JSON (%s): %s", jerr.text, line);
		h->results = realloc(h->results, (h->count + 1) * sizeof *h->results);
		h->results[h->count++] = r;
	}
	free(line);
	fclose(f);
}

const char *harness_write_jobs(harness_t *h, const char *jobs)
{
	snprintf(h->jobs_path, sizeof h->jobs_path, "%s/jobs.jsonl", h->dir);
	FILE *f = fopen(h->jobs_path, "w");
	cr_assert_not_null(f);
	fputs(jobs, f);
	fclose(f);
	return h->jobs_path;
}

/* Seconds a run may take before the watchdog prints where its threads wait. */
#define STALL_REPORT_S 60

typedef struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t done_changed;
	bool done;
} watchdog_t;

/* Print one line of /proc/self/task/<task>/<name> to stderr, after `label`. */
static void print_task_file(const char *task, const char *name, const char *label)
{
	char path[300], line[256] = "";

	snprintf(path, sizeof path, "/proc/self/task/%s/%s", task, name);
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	fprintf(stderr, " %s=%s", label, line);
}

/* Print each thread's name, kernel wait channel and system call, so that
 * a run that never ends shows which threads wait and on what. */
static void report_stall(void)
{
	DIR *tasks = opendir("/proc/self/task");
	struct dirent *d;

	fprintf(stderr, "the run is still going after %d s; its threads:\n", STALL_REPORT_S);
	while (tasks && (d = readdir(tasks))) {
		if (d->d_name[0] == '.')
			continue;
		fprintf(stderr, "  task %s:", d->d_name);
		print_task_file(d->d_name, "comm", "name");
		print_task_file(d->d_name, "wchan", "wchan");
		print_task_file(d->d_name, "syscall", "syscall");
		fputc('\n', stderr);
	}
	if (tasks)
		closedir(tasks);
}

static void *watch_run(void *arg)
{
	watchdog_t *w = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STALL_REPORT_S;
	pthread_mutex_lock(&w->lock);
	int rc = 0;
	while (!w->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->done_changed, &w->lock, &until);
	bool stalled = !w->done;
	pthread_mutex_unlock(&w->lock);

	if (stalled)
		report_stall();
	return NULL;
}

int harness_run(harness_t *h, const char *jobs)
{
	char out_path[320];
	snprintf(out_path, sizeof out_path, "%s/results.jsonl", h->dir);
	watchdog_t w = {.lock = PTHREAD_MUTEX_INITIALIZER, .done_changed = PTHREAD_COND_INITIALIZER};
	pthread_t watcher;

	h->cfg.jobs_path = harness_write_jobs(h, jobs);
	h->cfg.output_path = out_path;
	cr_assert_eq(pthread_create(&watcher, NULL, watch_run, &w), 0);
	bl_error_t err = {0};
	int rc = bl_run_jobs(&h->cfg, &h->summary, &err);

	pthread_mutex_lock(&w.lock);
	w.done = true;
	pthread_cond_signal(&w.done_changed);
	pthread_mutex_unlock(&w.lock);
	pthread_join(watcher, NULL);
	if (rc == 0)
		read_results(h, out_path);
	return rc;
}

json_t *harness_result(const harness_t *h, const char *id)
{
	for (size_t i = 0; i < h->count; i++) {
		const char *rid = json_string_value(json_object_get(h->results[i], "id"));
		if (rid && strcmp(rid, id) == 0)
			return h->results[i];
	}
	return NULL;
}

int harness_position(const harness_t *h, const char *id)
{
	for (size_t i = 0; i < h->count; i++) {
		const char *rid = json_string_value(json_object_get(h->results[i], "id"));
		if (rid && strcmp(rid, id) == 0)
			return (int)i;
	}
	return -1;
}

void harness_random_npy(harness_t *h, const char *name, size_t rows, size_t cols, uint64_t seed)
{
	bl_tensor_t *t;
	cr_assert_eq(bl_tensor_new(&t, BL_DTYPE_F64, 2, (size_t[]){rows, cols}, NULL), 0);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < t->count; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		((double *)t->data)[i] = (double)(x >> 11) / 9007199254740992.0;
	}
	harness_write_npy(h, name, t);
	bl_tensor_free(&t);
}

void harness_write_npy(harness_t *h, const char *name, const bl_tensor_t *t)
{
	char tenant[320];
	snprintf(tenant, sizeof tenant, "%s/t", h->data);
	int dir = open(tenant, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(bl_npy_write(t, dir, name, NULL), 0, "cannot write %s", name);
	close(dir);
}

void harness_quotas(harness_t *h, const char *json)
{
	static char path[320];
	snprintf(path, sizeof path, "%s/quotas.json", h->dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(json, f);
	fclose(f);
	h->cfg.quotas_path = path;
}
