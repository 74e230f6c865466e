/*
 * The fs block through the engine: a jobs file mixing fs operations run
 * by bl_run_jobs, a put that times out, and a put whose engine process is
 * killed mid-write.
 */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run_harness.h"

static const char *status_of(const harness_t *h, const char *id)
{
	json_t *r = harness_result(h, id);
	cr_assert_not_null(r, "no result for job %s", id);
	return json_string_value(json_object_get(r, "status"));
}

static json_t *result_of(const harness_t *h, const char *id)
{
	return json_object_get(harness_result(h, id), "result");
}

static const char *error_of(const harness_t *h, const char *id, const char *part)
{
	return json_string_value(json_object_get(json_object_get(harness_result(h, id), "error"), part));
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* Return the bytes of the file at `path`, or NULL. */
static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *data = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&data, &size);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, out);
	fclose(out);
	fclose(f);
	*len = size;
	return data;
}

/* Count the entries of `dir` other than . and .. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

#define FS_JOB(id, params) "{\"id\":\"" id "\",\"tenant\":\"t\",\"block\":\"fs\",\"params\":" params "}\n"

/* Two runs of one data folder. The first writes, reads what the test put
 * there, lists, and tries to leave the folder. The second reads back what
 * the first wrote, then deletes. Jobs of one run may run in any order, so
 * each run only reads what exists before it starts. */
Test(blocks_fs_run, jobs_file_mixing_fs_ops, .timeout = 300)
{
	harness_t h;
	char path[400];
	harness_init(&h);
	snprintf(path, sizeof path, "%s/t/given.txt", h.data);
	write_text(path, "given by the test\n");
	snprintf(path, sizeof path, "%s/t/sub", h.data);
	cr_assert_eq(mkdir(path, 0700), 0);

	int rc = harness_run(&h, FS_JOB("put-text", "{\"op\":\"put\",\"path\":\"sub/a.txt\",\"content\":\"alpha\"}")
			 FS_JOB("put-bin", "{\"op\":\"put\",\"path\":\"b.bin\",\"encoding\":\"base64\",\"content\":\"AP8Q\"}")
			 FS_JOB("get-given", "{\"op\":\"get\",\"path\":\"given.txt\"}")
			 FS_JOB("list", "{\"op\":\"list\"}")
			 FS_JOB("escape", "{\"op\":\"get\",\"path\":\"../../etc/passwd\"}")
			 FS_JOB("nul", "{\"op\":\"get\",\"path\":\"a\\u0000b\"}")
			 FS_JOB("missing", "{\"op\":\"stat\",\"path\":\"nope\"}"));

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(&h, "put-text"), "ok");
	cr_assert_str_eq(status_of(&h, "put-bin"), "ok");
	cr_assert_str_eq(json_string_value(json_object_get(result_of(&h, "get-given"), "content")), "given by the test\n");
	cr_assert_str_eq(status_of(&h, "list"), "ok");
	cr_assert_str_eq(status_of(&h, "escape"), "error");
	cr_assert_str_eq(error_of(&h, "escape", "field"), "params.path");
	cr_assert_str_eq(error_of(&h, "nul", "field"), "params.path");
	cr_assert_str_eq(error_of(&h, "missing", "code"), "not_found");

	bl_run_summary_free(&h.summary);
	rc = harness_run(&h, FS_JOB("get-text", "{\"op\":\"get\",\"path\":\"sub/a.txt\"}")
			 FS_JOB("get-bin", "{\"op\":\"get\",\"path\":\"b.bin\"}")
			 FS_JOB("stat-bin", "{\"op\":\"stat\",\"path\":\"b.bin\"}")
			 FS_JOB("delete-given", "{\"op\":\"delete\",\"path\":\"given.txt\"}"));

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(json_string_value(json_object_get(result_of(&h, "get-text"), "content")), "alpha");
	cr_assert_str_eq(json_string_value(json_object_get(result_of(&h, "get-bin"), "content")), "AP8Q");
	cr_assert_str_eq(json_string_value(json_object_get(result_of(&h, "get-bin"), "encoding")), "base64");
	cr_assert_eq(json_integer_value(json_object_get(result_of(&h, "stat-bin"), "size")), 3);
	cr_assert_str_eq(status_of(&h, "delete-given"), "ok");
	snprintf(path, sizeof path, "%s/t/given.txt", h.data);
	cr_assert_neq(access(path, F_OK), 0, "given.txt was not deleted");
	harness_fini(&h);
}

/* With the quota from the config file, a put past it ends "rejected"
 * with quota_exceeded. */
Test(blocks_fs_run, quota_from_config_rejects, .timeout = 300)
{
	harness_t h;
	char path[400];
	harness_init(&h);
	snprintf(path, sizeof path, "%s/fs.json", h.dir);
	write_text(path, "{\"fs\":{\"max_tenant_bytes\":4}}");
	h.cfg.config_path = path;

	int rc = harness_run(&h, FS_JOB("big", "{\"op\":\"put\",\"path\":\"f\",\"content\":\"12345\"}"));

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(&h, "big"), "rejected");
	cr_assert_str_eq(error_of(&h, "big", "code"), "quota_exceeded");
	harness_fini(&h);
}

/* Return how many descriptors of process `pid` name a file in `dir`
 * that has no name any more (an O_TMPFILE file, or a removed one). */
static int count_unnamed_files(pid_t pid, const char *dir)
{
	char fd_dir[64];
	snprintf(fd_dir, sizeof fd_dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(fd_dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char link[400], target[600];
		snprintf(link, sizeof link, "%s/%s", fd_dir, e->d_name);
		ssize_t len = readlink(link, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strncmp(target, dir, strlen(dir)) == 0 && strstr(target, "(deleted)") != NULL;
	}
	closedir(d);
	return n;
}

/* A put of 192 MiB with a 5 ms timeout ends "timeout". By the time the
 * run returns, the old file is whole and no temporary file is left,
 * named in the folder or open in the process. */
Test(blocks_fs_run, put_timeout_leaves_no_temporary_file, .timeout = 300)
{
	harness_t h;
	char path[700], tenant[400];
	size_t size = 192u << 20;
	harness_init(&h);
	snprintf(tenant, sizeof tenant, "%s/t", h.data);
	snprintf(path, sizeof path, "%s/target", tenant);
	write_text(path, "old");
	snprintf(path, sizeof path, "%s/fs.json", h.dir);
	write_text(path, "{\"fs\":{\"max_op_bytes\":1073741824}}");
	h.cfg.config_path = path;
	h.cfg.job_limits.max_bytes = size + 4096;
	h.cfg.job_limits.max_string_bytes = size;

	char *jobs = malloc(size + 4096);
	int head = sprintf(jobs, "{\"id\":\"slow\",\"tenant\":\"t\",\"block\":\"fs\",\"timeout_ms\":5,"
				 "\"params\":{\"op\":\"put\",\"path\":\"target\",\"content\":\"");
	memset(jobs + head, 'q', size);
	strcpy(jobs + head + size, "\"}}\n");

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0);
	cr_assert_str_eq(status_of(&h, "slow"), "timeout");
	size_t len;
	snprintf(path, sizeof path, "%s/target", tenant);
	char *text = read_all(path, &len);
	cr_assert_not_null(text, "target was removed");
	cr_assert_eq(len, 3, "target has %zu bytes, expected the old 3", len);
	cr_assert_eq(memcmp(text, "old", 3), 0);
	cr_assert_eq(count_entries(tenant), 1, "something beside target was left in the tenant folder");
	cr_assert_eq(count_unnamed_files(getpid(), tenant), 0, "a temporary file is still open");
	free(text);
	free(jobs);
	harness_fini(&h);
}

/* Make the old file: 1 MiB of a fixed pattern that the new content
 * does not share. */
static void write_pattern(const char *path, size_t size)
{
	char *data = malloc(size);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 31 % 251);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, size), (ssize_t)size);
	close(fd);
	free(data);
}

/* Make a temporary folder `dir` (256 bytes) holding data/t, the folder
 * of tenant "t", whose path goes to `tenant` (400 bytes). */
static void make_run_dir(char *dir, char *tenant)
{
	snprintf(dir, 256, "%s/bl-fs-run-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(tenant, 400, "%s/data", dir);
	cr_assert_eq(mkdir(tenant, 0700), 0);
	snprintf(tenant, 400, "%s/data/t", dir);
	cr_assert_eq(mkdir(tenant, 0700), 0);
}

/* Start beamline-engine run on DIR/jobs.jsonl, with DIR/data, DIR/fs.json
 * and results in DIR/results.jsonl. */
static pid_t spawn_engine(const char *dir)
{
	char data[400], config[400], jobs[400], out[400];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(config, sizeof config, "%s/fs.json", dir);
	snprintf(jobs, sizeof jobs, "%s/jobs.jsonl", dir);
	snprintf(out, sizeof out, "%s/results.jsonl", dir);

	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(BL_ENGINE_PATH, BL_ENGINE_PATH, "run", "--data-dir", data, "--config", config, "--no-gpu",
		      "--no-progress", "--max-job-bytes", "536870912", "--max-string-bytes", "536870912", "--output", out,
		      jobs, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Wait until process `pid` has an unnamed file in `dir` open with more
 * than 0 and fewer than `total` bytes written, and return 1. Return 0
 * when the process ended first or 60 s passed. */
static int wait_mid_write(pid_t pid, const char *dir, size_t total)
{
	char fd_dir[64];
	snprintf(fd_dir, sizeof fd_dir, "/proc/%d/fd", (int)pid);
	for (int tries = 0; tries < 600000; tries++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return 0;
		DIR *d = opendir(fd_dir);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			char link[400], target[600];
			struct stat st;
			snprintf(link, sizeof link, "%s/%s", fd_dir, e->d_name);
			ssize_t len = readlink(link, target, sizeof target - 1);
			if (len <= 0)
				continue;
			target[len] = '\0';
			bool temp = strncmp(target, dir, strlen(dir)) == 0 &&
				    (strstr(target, "(deleted)") || strstr(target, "/.bl-put-"));
			if (temp && stat(link, &st) == 0 && st.st_size > 0 && (size_t)st.st_size < total) {
				closedir(d);
				return 1;
			}
		}
		if (d)
			closedir(d);
		usleep(100);
	}
	return 0;
}

/* SIGKILL an engine in the middle of a 256 MiB put over a 1 MiB file.
 * The old file is intact byte for byte, so no new content has the real
 * name, and no temporary file is left in the folder. */
Test(blocks_fs_run, put_killed_mid_write_keeps_the_old_file, .timeout = 300)
{
	char dir[256], tenant[400], path[700];
	size_t old_size = 1u << 20, size = 256u << 20;
	make_run_dir(dir, tenant);
	snprintf(path, sizeof path, "%s/target", tenant);
	write_pattern(path, old_size);
	snprintf(path, sizeof path, "%s/fs.json", dir);
	write_text(path, "{\"fs\":{\"max_op_bytes\":1073741824,\"max_tenant_bytes\":0}}");

	snprintf(path, sizeof path, "%s/jobs.jsonl", dir);
	FILE *jobs = fopen(path, "w");
	cr_assert_not_null(jobs);
	fputs("{\"id\":\"big\",\"tenant\":\"t\",\"block\":\"fs\",\"params\":{\"op\":\"put\",\"path\":\"target\","
	      "\"content\":\"",
	      jobs);
	char block[65536];
	memset(block, 'n', sizeof block);
	for (size_t i = 0; i < size / sizeof block; i++)
		fwrite(block, 1, sizeof block, jobs);
	fputs("\"}}\n", jobs);
	fclose(jobs);

	pid_t pid = spawn_engine(dir);
	int caught = wait_mid_write(pid, tenant, size);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);

	cr_assert_eq(caught, 1, "the engine ended before it was caught in the middle of the put");
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	size_t len;
	snprintf(path, sizeof path, "%s/target", tenant);
	char *data = read_all(path, &len);
	cr_assert_not_null(data);
	cr_assert_eq(len, old_size, "target has %zu bytes, expected the old %zu", len, old_size);
	for (size_t i = 0; i < old_size; i++)
		cr_assert_eq(data[i], (char)(i * 31 % 251), "target differs from the old file at byte %zu", i);
	cr_assert_eq(count_entries(tenant), 1, "the killed put left a file beside target");
	free(data);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Return the result line of job `id` in the file `path`, parsed. */
static json_t *find_result(const char *path, const char *id)
{
	size_t len;
	char *text = read_all(path, &len);
	cr_assert_not_null(text, "no results at %s", path);
	json_t *found = NULL;
	for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
		json_t *r = json_loads(line, 0, NULL);
		if (r && strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
			found = r;
		else
			json_decref(r);
	}
	free(text);
	cr_assert_not_null(found, "no result for job %s", id);
	return found;
}

/* The beamline-engine executable runs a jobs file of fs operations: a
 * put, a get of a file the test wrote, a list, a stat and an escape
 * attempt, each with its expected status. */
Test(blocks_fs_run, cli_runs_mixed_fs_jobs, .timeout = 300)
{
	char dir[256], tenant[400], path[700];
	make_run_dir(dir, tenant);
	snprintf(path, sizeof path, "%s/in.txt", tenant);
	write_text(path, "input");
	snprintf(path, sizeof path, "%s/fs.json", dir);
	write_text(path, "{\"fs\":{\"max_list_entries\":10}}");
	snprintf(path, sizeof path, "%s/jobs.jsonl", dir);
	write_text(path, FS_JOB("put", "{\"op\":\"put\",\"path\":\"out.bin\",\"encoding\":\"base64\",\"content\":\"AQID\"}")
			 FS_JOB("get", "{\"op\":\"get\",\"path\":\"in.txt\"}")
			 FS_JOB("list", "{\"op\":\"list\"}")
			 FS_JOB("stat", "{\"op\":\"stat\",\"path\":\"in.txt\"}")
			 FS_JOB("escape", "{\"op\":\"put\",\"path\":\"/tmp/x\",\"content\":\"x\"}"));

	pid_t pid = spawn_engine(dir);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);

	cr_assert(WIFEXITED(status), "beamline-engine did not exit normally");
	snprintf(path, sizeof path, "%s/results.jsonl", dir);
	static const char *const expected[][2] = {
		{"put", "ok"}, {"get", "ok"}, {"list", "ok"}, {"stat", "ok"}, {"escape", "error"},
	};
	for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
		json_t *r = find_result(path, expected[i][0]);
		cr_assert_str_eq(json_string_value(json_object_get(r, "status")), expected[i][1], "job %s",
				 expected[i][0]);
		json_decref(r);
	}
	json_t *get = find_result(path, "get");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(get, "result"), "content")), "input");
	json_decref(get);
	json_t *escape = find_result(path, "escape");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(escape, "error"), "field")), "params.path");
	json_decref(escape);
	size_t len;
	snprintf(path, sizeof path, "%s/data/t/out.bin", dir);
	char *data = read_all(path, &len);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(data, "\x01\x02\x03", 3), 0);
	free(data);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}
