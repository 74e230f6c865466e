#define _GNU_SOURCE /* mkdtemp */

#include "fs_fixture.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const bl_block_t bl__fs_block;
int bl__fs_config_open(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup,
		       bl_error_t *err);
void bl__fs_config_close(bl_block_services_t *s);

/* One job's wait: the done callback fills the outcome and opens the latch. */
typedef struct waiter {
	bl_latch_t latch;
	bl_block_outcome_t *outcome;
	int calls;
} waiter_t;

static void on_done(void *ctx, bl_block_outcome_t *outcome)
{
	waiter_t *w = ctx;
	w->outcome = outcome;
	w->calls++;
	bl_latch_count_down(&w->latch);
}

void fs_write_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

char *fs_read_file(const char *dir, const char *rel, size_t *len)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	cr_assert_eq(fstat(fd, &st), 0);
	char *data = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(data);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		cr_assert(n > 0, "short read of %s", path);
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	if (len)
		*len = got;
	return data;
}

int fs_count_names(const char *dir, const char *rel, const char *prefix)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "cannot open %s", path);
	int count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		count += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return count;
}

void fs_fixture_init(fs_fixture_t *f)
{
	memset(f, 0, sizeof *f);
	snprintf(f->root, sizeof f->root, "%s/bl-fs-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(f->root));
	snprintf(f->tenant, sizeof f->tenant, "%s/tenant", f->root);
	cr_assert_eq(mkdir(f->tenant, 0700), 0);
	char dir[400];
	snprintf(dir, sizeof dir, "%s/outside_dir", f->root);
	cr_assert_eq(mkdir(dir, 0700), 0);
	fs_write_file(f->root, "outside.txt", FS_OUTSIDE_TEXT, strlen(FS_OUTSIDE_TEXT));
	fs_write_file(f->root, "outside_dir/file", FS_OUTSIDE_TEXT, strlen(FS_OUTSIDE_TEXT));

	bl_pool_config_t cfg;
	cr_assert_eq(bl_runtime_new(&f->rt), 0);
	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = 2;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(f->rt, &cfg, &f->io);
	if (rc == -ENOSYS || rc == -EPERM) {
		bl_runtime_free(&f->rt);
		cr_skip_test("the kernel offers no io_uring to this process (%s)", bl_strerror(rc));
	}
	cr_assert_eq(rc, 0, "cannot start the I/O pool: %s", bl_strerror(rc));

	cr_assert_eq(bl__fs_config_open(&f->services, NULL, NULL, NULL), 0);
	f->hook = bl_cancel_hook_new(&f->cancel);
	f->env = (bl_block_env_t){
		.io_pool = f->io,
		.services = &f->services,
		.cancel_hook = f->hook,
		.cancel = &f->cancel,
		.data_dir = open(f->tenant, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
		.tenant = "t",
		.job_id = "job",
		.corr_id = "t/job",
	};
	cr_assert(f->env.data_dir >= 0);
}

void fs_fixture_fini(fs_fixture_t *f)
{
	bl_runtime_free(&f->rt);
	bl_cancel_hook_free(&f->hook);
	bl__fs_config_close(&f->services);
	if (f->env.data_dir >= 0)
		close(f->env.data_dir);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
	cr_assert_eq(system(cmd), 0);
}

bool fs_put_is_writing(const fs_fixture_t *f)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		char link[300], target[600];
		struct stat st;
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(link, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		found = strncmp(target, f->tenant, strlen(f->tenant)) == 0 && strstr(target, "(deleted)") &&
			stat(link, &st) == 0 && st.st_size > 0;
	}
	closedir(d);
	return found;
}

/* Put the text an outcome kept out of its tree into `result`, in place of
 * its placeholder, the member "content". */
static void put_attached_text(json_t *result, const bl_json_text_t *text)
{
	cr_assert_eq(json_object_get(result, "content"), text->slot, "the placeholder is the content");
	cr_assert_str_eq(json_string_value(text->slot), "", "the placeholder is an empty string");
	json_object_set_new(result, "content", json_stringn(text->text, text->len));
}

void fs_fixture_run_json(fs_fixture_t *f, fs_outcome_t *out, json_t *p, bool (*cancel_when)(const fs_fixture_t *))
{
	uint64_t mem = 0;
	waiter_t w = {0};

	memset(out, 0, sizeof *out);
	out->code = bl__fs_block.prepare(p, &f->env, &mem, &out->error);
	if (out->code < 0)
		return;
	out->prepared = true;
	bl_latch_init(&w.latch, 1);
	cr_assert_eq(bl__fs_block.start(p, &f->env, on_done, &w), 0);
	while (cancel_when && bl_latch_wait_for(&w.latch, 1) != 0) {
		if (cancel_when(f)) {
			bl_cancel_hook_fire(f->hook);
			break;
		}
	}
	cr_assert_eq(bl_latch_wait_for(&w.latch, 60000), 0, "the job did not report within 60 s");
	cr_assert_eq(w.calls, 1);
	cr_assert_not_null(w.outcome);

	out->code = w.outcome->code;
	out->error_code = w.outcome->error_code;
	out->rejected = w.outcome->rejected;
	out->error = w.outcome->error;
	out->result = w.outcome->result;
	w.outcome->result = NULL;
	out->attached = w.outcome->attached_block != NULL;
	if (out->attached)
		put_attached_text(out->result, &w.outcome->attached);
	bl_block_outcome_free(&w.outcome);
}

void fs_fixture_run(fs_fixture_t *f, fs_outcome_t *out, const char *params)
{
	json_error_t jerr;
	json_t *p = json_loads(params, JSON_ALLOW_NUL, &jerr);
	cr_assert_not_null(p, "bad test params (%s): %s", jerr.text, params);
	fs_fixture_run_json(f, out, p, NULL);
	json_decref(p);
}

void fs_outcome_fini(fs_outcome_t *o)
{
	json_decref(o->result);
	o->result = NULL;
}

void fs_assert_outside_unchanged(const fs_fixture_t *f)
{
	static const char *const files[] = {"outside.txt", "outside_dir/file"};
	for (size_t i = 0; i < 2; i++) {
		char *text = fs_read_file(f->root, files[i], NULL);
		cr_assert_not_null(text, "%s/%s was removed", f->root, files[i]);
		cr_assert_str_eq(text, FS_OUTSIDE_TEXT, "%s/%s changed", f->root, files[i]);
		free(text);
	}

	DIR *d = opendir(f->root);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		bool known = !strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "tenant") || !strcmp(n, "outside.txt") ||
			     !strcmp(n, "outside_dir");
		cr_assert(known, "'%s' appeared beside the tenant folder", n);
	}
	closedir(d);
	cr_assert_eq(fs_count_names(f->root, "outside_dir", ""), 3, "outside_dir gained or lost entries");
}
