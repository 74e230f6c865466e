/*
 * The local run against its files: blank lines, where results go, repeated
 * ids, tenants without a folder, and many tenants under a low limit on
 * open files.
 */
#define _GNU_SOURCE /* pthread, mkfifo */

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_harness.h"

#define NOOP(id) "{\"id\":\"" id "\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"

static const char *status_of(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static const char *error_part(json_t *r, const char *part)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), part));
}

/* Read the whole of `path` into a new string. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(out);
	fclose(f);
	return text;
}

Test(engine_run_files, blank_lines_are_skipped, .timeout = 60)
{
	harness_t h;
	harness_init(&h);

	int rc = harness_run(&h, "\n\n" NOOP("a") "\n   \n" NOOP("b"));

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, 2, "expected 2 results, got %zu", h.count);
	cr_assert_str_eq(status_of(harness_result(&h, "a")), "ok");
	cr_assert_str_eq(status_of(harness_result(&h, "b")), "ok");
	harness_fini(&h);
}

Test(engine_run_files, blank_file_completes_empty, .timeout = 60)
{
	harness_t h;
	harness_init(&h);

	int rc = harness_run(&h, "\n\n\n");

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, 0);
	cr_assert_eq(h.summary.jobs, 0);
	harness_fini(&h);
}

/* Naming the jobs file as the output fails before any job runs, and the
 * jobs file keeps its text. */
Test(engine_run_files, output_over_jobs_file_rejected, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	const char *jobs = NOOP("a");
	h.cfg.jobs_path = harness_write_jobs(&h, jobs);
	h.cfg.output_path = h.cfg.jobs_path;
	bl_error_t err = {0};

	int rc = bl_run_jobs(&h.cfg, &h.summary, &err);

	cr_assert_lt(rc, 0, "the run must refuse to start");
	cr_assert(strstr(err.message, "jobs file"), "the message must say why: %s", err.message);
	char *text = slurp(h.cfg.jobs_path);
	cr_assert_str_eq(text, jobs, "the jobs file changed");
	free(text);
	harness_fini(&h);
}

/* A replaced results file keeps its permissions. */
Test(engine_run_files, replaced_output_keeps_its_mode, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	char out[400];
	snprintf(out, sizeof out, "%s/kept.jsonl", h.dir);
	int fd = open(out, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "old\n", 4), 4);
	close(fd);
	cr_assert_eq(chmod(out, 0640), 0);
	h.cfg.jobs_path = harness_write_jobs(&h, NOOP("a"));
	h.cfg.output_path = out;
	bl_error_t err = {0};

	int rc = bl_run_jobs(&h.cfg, &h.summary, &err);

	cr_assert_eq(rc, 0, "run failed: %s", err.message);
	struct stat st;
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640, "mode became %o", st.st_mode & 07777);
	char *text = slurp(out);
	cr_assert(strstr(text, "\"id\":\"a\""), "the output must hold the new result: %s", text);
	cr_assert_null(strstr(text, "old"), "the old text must be gone");
	free(text);
	harness_fini(&h);
}

typedef struct fifo_reader {
	const char *path;
	char *text;
} fifo_reader_t;

static void *read_fifo(void *p)
{
	fifo_reader_t *r = p;
	r->text = slurp(r->path);
	return NULL;
}

/* A FIFO is written in place, not replaced by a regular file. */
Test(engine_run_files, fifo_output_written_in_place, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	char fifo[400];
	snprintf(fifo, sizeof fifo, "%s/results.fifo", h.dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	fifo_reader_t reader = {.path = fifo};
	pthread_t thread;
	cr_assert_eq(pthread_create(&thread, NULL, read_fifo, &reader), 0);
	h.cfg.jobs_path = harness_write_jobs(&h, NOOP("a") NOOP("b"));
	h.cfg.output_path = fifo;
	bl_error_t err = {0};

	int rc = bl_run_jobs(&h.cfg, &h.summary, &err);
	pthread_join(thread, NULL);

	cr_assert_eq(rc, 0, "run failed: %s", err.message);
	struct stat st;
	cr_assert_eq(lstat(fifo, &st), 0);
	cr_assert(S_ISFIFO(st.st_mode), "the FIFO was replaced");
	cr_assert(strstr(reader.text, "\"id\":\"a\""), "missing result a: %s", reader.text);
	cr_assert(strstr(reader.text, "\"id\":\"b\""), "missing result b: %s", reader.text);
	free(reader.text);
	harness_fini(&h);
}

/* An id used again for a different job is not run and gets its own error;
 * the first job's result is kept. */
Test(engine_run_files, id_conflict_is_an_error, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	const char *jobs = NOOP("same") "{\"id\":\"same\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":"
					"\"reduce\",\"inputs\":{\"x\":[1,2]},\"args\":{\"op\":\"sum\"}}}\n";

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, 2);
	/* Results come in the order jobs finish: the conflict's result is
	 * written at once, possibly before the first job is done. */
	json_t *first = strcmp(status_of(h.results[0]), "ok") == 0 ? h.results[0] : h.results[1];
	json_t *second = first == h.results[0] ? h.results[1] : h.results[0];
	cr_assert_str_eq(status_of(first), "ok", "the first job must run");
	json_t *kernel = json_object_get(json_object_get(first, "result"), "kernel");
	cr_assert_str_eq(json_string_value(kernel), "noop", "the result must be the first job's");
	cr_assert_str_eq(status_of(second), "error");
	cr_assert_str_eq(error_part(second, "code"), "duplicate_id_conflict");
	cr_assert_str_eq(error_part(second, "field"), "id");
	harness_fini(&h);
}

/* A tenant without a folder can still run on inline data; a file input
 * gets an error that names the missing folder and the fix. */
Test(engine_run_files, tenant_without_folder, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	const char *jobs = "{\"id\":\"inline\",\"tenant\":\"nofolder\",\"block\":\"kernel\",\"params\":{\"kernel\":"
			   "\"reduce\",\"inputs\":{\"x\":[1,2]},\"args\":{\"op\":\"sum\"}}}\n"
			   "{\"id\":\"file\",\"tenant\":\"nofolder\",\"block\":\"kernel\",\"params\":{\"kernel\":"
			   "\"reduce\",\"inputs\":{\"x\":\"x.npy\"},\"args\":{\"op\":\"sum\"}}}\n";

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(harness_result(&h, "inline")), "ok");
	json_t *file = harness_result(&h, "file");
	cr_assert_str_eq(status_of(file), "error");
	cr_assert_str_eq(error_part(file, "code"), "input_not_found");
	cr_assert(strstr(error_part(file, "message"), "has no data folder"), "got: %s", error_part(file, "message"));
	harness_fini(&h);
}

/* Paths that leave the tenant's folder are refused whether or not their
 * target exists, so the error reveals nothing about other folders. */
Test(engine_run_files, escape_hides_existence, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	char other[400];
	snprintf(other, sizeof other, "%s/u", h.data);
	cr_assert_eq(mkdir(other, 0700), 0);
	harness_random_npy(&h, "x.npy", 2, 2, 1);
	char copy[900];
	snprintf(copy, sizeof copy, "cp '%s/t/x.npy' '%s/x.npy'", h.data, other);
	cr_assert_eq(system(copy), 0);
	const char *jobs = "{\"id\":\"there\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"reduce\","
			   "\"inputs\":{\"x\":\"../u/x.npy\"},\"args\":{\"op\":\"sum\"}}}\n"
			   "{\"id\":\"absent\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"reduce\","
			   "\"inputs\":{\"x\":\"../u/none.npy\"},\"args\":{\"op\":\"sum\"}}}\n";

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(error_part(harness_result(&h, "there"), "code"), "path_outside_tenant_folder");
	cr_assert_str_eq(error_part(harness_result(&h, "absent"), "code"), "path_outside_tenant_folder");
	harness_fini(&h);
}

/*
 * 400 tenants, each with its own folder and file, under a limit of 128
 * open files: idle folders are closed as needed and every job succeeds.
 */
Test(engine_run_files, many_tenants_low_file_limit, .timeout = 120)
{
	enum { TENANTS = 400 };
	harness_t h;
	harness_init(&h);
	harness_random_npy(&h, "x.npy", 4, 4, 5);
	char *jobs = NULL;
	size_t jobs_size = 0;
	FILE *out = open_memstream(&jobs, &jobs_size);
	for (int i = 0; i < TENANTS; i++) {
		char cmd[1400];
		snprintf(cmd, sizeof cmd, "mkdir '%s/t%d' && ln '%s/t/x.npy' '%s/t%d/x.npy'", h.data, i, h.data,
			 h.data, i);
		cr_assert_eq(system(cmd), 0);
		fprintf(out,
			"{\"id\":\"j\",\"tenant\":\"t%d\",\"block\":\"kernel\",\"params\":{\"kernel\":\"reduce\","
			"\"inputs\":{\"x\":\"x.npy\"},\"args\":{\"op\":\"sum\"}}}\n",
			i);
	}
	fclose(out);
	struct rlimit saved, low;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = 128;

	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	int rc = harness_run(&h, jobs);
	setrlimit(RLIMIT_NOFILE, &saved);

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, TENANTS);
	for (size_t i = 0; i < h.count; i++)
		cr_assert_str_eq(status_of(h.results[i]), "ok", "tenant %s failed: %s",
				 json_string_value(json_object_get(h.results[i], "tenant")),
				 error_part(h.results[i], "message") ? error_part(h.results[i], "message") : "");
	free(jobs);
	harness_fini(&h);
}

/* Two outputs naming one file would leave only the last written; the job
 * is refused before it runs, naming the second output. */
Test(engine_run_files, outputs_naming_one_file_rejected, .timeout = 60)
{
	harness_t h;
	harness_init(&h);

	int rc = harness_run(&h, "{\"id\":\"same\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"topk\","
				 "\"inputs\":{\"x\":[3,1,2]},\"args\":{\"k\":2},"
				 "\"outputs\":{\"values\":\"same.npy\",\"indices\":\"same.npy\"}}}\n");
	json_t *r = harness_result(&h, "same");

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(r), "error");
	cr_assert_str_eq(error_part(r, "field"), "params.outputs.indices");
	cr_assert(strstr(error_part(r, "message"), "same.npy"), "message: %s", error_part(r, "message"));
	harness_fini(&h);
}

/* The most negative integer is not an axis: an error, not a crash. */
Test(engine_run_files, extreme_axis_rejected, .timeout = 60)
{
	harness_t h;
	harness_init(&h);

	int rc = harness_run(&h, "{\"id\":\"axis\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"reduce\","
				 "\"inputs\":{\"x\":[[1,2],[3,4]]},\"args\":{\"op\":\"sum\","
				 "\"axis\":-9223372036854775808}}}\n");
	json_t *r = harness_result(&h, "axis");

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(r), "error");
	cr_assert_str_eq(error_part(r, "field"), "params.args.axis");
	harness_fini(&h);
}

/* Names are compared in a plain form, so different spellings of one
 * file are caught too. */
Test(engine_run_files, outputs_spelled_differently_rejected, .timeout = 60)
{
	static const char *const spellings[] = {"./a.npy", ".//a.npy", "sub/../a.npy", "sub/./../a.npy"};

	for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
		harness_t h;
		harness_init(&h);
		char jobs[512];
		snprintf(jobs, sizeof jobs,
			 "{\"id\":\"same\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"topk\","
			 "\"inputs\":{\"x\":[3,1,2]},\"args\":{\"k\":2},"
			 "\"outputs\":{\"values\":\"a.npy\",\"indices\":\"%s\"}}}\n",
			 spellings[i]);

		cr_assert_eq(harness_run(&h, jobs), 0);
		json_t *r = harness_result(&h, "same");
		cr_assert_str_eq(status_of(r), "error", "%s was not caught", spellings[i]);
		cr_assert_str_eq(error_part(r, "field"), "params.outputs.indices");
		harness_fini(&h);
	}
}
