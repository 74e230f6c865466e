/*
 * The fs block keeps every operation inside the tenant folder. It refuses
 * "..", absolute paths, symbolic links that point out, link loops, magic
 * links, NUL bytes and overlong names with an error naming params.path.
 * The files beside the tenant folder never change.
 */
#define _GNU_SOURCE /* symlinkat */

#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_fixture.h"

/* Every operation on `path`, as params JSON text (the path already
 * escaped for JSON). */
static void params_for_all_ops(char out[5][9000], const char *path)
{
	snprintf(out[0], 9000, "{\"op\":\"get\",\"path\":\"%s\"}", path);
	snprintf(out[1], 9000, "{\"op\":\"put\",\"path\":\"%s\",\"content\":\"x\"}", path);
	snprintf(out[2], 9000, "{\"op\":\"list\",\"path\":\"%s\"}", path);
	snprintf(out[3], 9000, "{\"op\":\"stat\",\"path\":\"%s\"}", path);
	snprintf(out[4], 9000, "{\"op\":\"delete\",\"path\":\"%s\"}", path);
}

/* Run every operation on `path` and expect each to fail with
 * `error_code` on params.path. Prepare refuses what it can see in the
 * text; the run refuses what only the file system shows. */
static void expect_all_refused(fs_fixture_t *f, const char *path, const char *error_code)
{
	static char params[5][9000];
	params_for_all_ops(params, path);

	for (int i = 0; i < 5; i++) {
		fs_outcome_t o;
		fs_fixture_run(f, &o, params[i]);
		cr_assert_lt(o.code, 0, "expected a refusal, got success for %s", params[i]);
		cr_assert_str_eq(o.error.field, "params.path", "wrong field '%s' for %s: %s", o.error.field, params[i],
				 o.error.message);
		const char *code = o.prepared ? o.error_code : "invalid_params";
		if (!o.prepared && (o.code == BL_ELIMIT))
			code = "limit_exceeded";
		cr_assert_str_eq(code, error_code, "expected %s, got %s for %s: %s", error_code, code, params[i],
				 o.error.message);
		fs_outcome_fini(&o);
	}
	fs_assert_outside_unchanged(f);
}

/* Expect get and list of `path`, which follow the last component, to
 * fail with `error_code` on params.path. */
static void expect_reads_refused(fs_fixture_t *f, const char *path, const char *error_code)
{
	static char params[5][9000];
	params_for_all_ops(params, path);

	for (int i = 0; i < 3; i += 2) {
		fs_outcome_t o;
		fs_fixture_run(f, &o, params[i]);
		cr_assert(o.prepared && o.code < 0, "expected a refusal by the run for %s", params[i]);
		cr_assert_str_eq(o.error.field, "params.path");
		cr_assert_str_eq(o.error_code, error_code, "got %s for %s: %s", o.error_code, params[i], o.error.message);
	}
	fs_assert_outside_unchanged(f);
}

static void make_link(const fs_fixture_t *f, const char *target, const char *name)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", f->tenant, name);
	cr_assert_eq(symlink(target, path), 0, "cannot link %s", path);
}

static void make_dir(const fs_fixture_t *f, const char *name)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", f->tenant, name);
	cr_assert_eq(mkdir(path, 0700), 0);
}

/* ".." is refused in any position, before any system call. */
Test(blocks_fs_paths, dot_dot_in_every_position_is_refused, .timeout = 60)
{
	static const char *const paths[] = {
		"..", "../outside.txt", "../tenant/a", "sub/..", "sub/../a", "sub/../../outside.txt", "./..", "a/b/../../..",
	};
	fs_fixture_t f;
	fs_fixture_init(&f);
	make_dir(&f, "sub");
	fs_write_file(f.tenant, "a", "a", 1);

	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
		expect_all_refused(&f, paths[i], "invalid_params");
	fs_fixture_fini(&f);
}

Test(blocks_fs_paths, absolute_paths_are_refused, .timeout = 60)
{
	fs_fixture_t f;
	fs_fixture_init(&f);
	char outside[400];
	snprintf(outside, sizeof outside, "%s/outside.txt", f.root);

	expect_all_refused(&f, outside, "invalid_params");
	expect_all_refused(&f, "/etc/passwd", "invalid_params");
	expect_all_refused(&f, "/proc/self/root/etc/passwd", "invalid_params");
	fs_fixture_fini(&f);
}

/* A link to a file outside, relative or absolute, cannot be read
 * through. stat describes the link itself, delete removes only the link,
 * and put replaces the link with a file of the tenant's. */
Test(blocks_fs_paths, link_to_a_file_outside_is_not_followed, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	char target[400];
	fs_fixture_init(&f);
	snprintf(target, sizeof target, "%s/outside.txt", f.root);
	make_link(&f, "../outside.txt", "rel");
	make_link(&f, target, "abs");

	expect_reads_refused(&f, "rel", "path_outside_tenant_folder");
	expect_reads_refused(&f, "abs", "path_outside_tenant_folder");

	fs_fixture_run(&f, &o, "{\"op\":\"stat\",\"path\":\"abs\"}");
	cr_assert_eq(o.code, 0, "%s", o.error.message);
	cr_assert_str_eq(json_string_value(json_object_get(o.result, "type")), "symlink");
	fs_outcome_fini(&o);

	fs_fixture_run(&f, &o, "{\"op\":\"put\",\"path\":\"rel\",\"content\":\"mine\"}");
	cr_assert_eq(o.code, 0, "%s", o.error.message);
	fs_outcome_fini(&o);
	char *mine = fs_read_file(f.tenant, "rel", NULL);
	cr_assert_str_eq(mine, "mine");
	free(mine);
	struct stat st;
	char path[600];
	snprintf(path, sizeof path, "%s/rel", f.tenant);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "put wrote through the link instead of replacing it");

	fs_fixture_run(&f, &o, "{\"op\":\"delete\",\"path\":\"abs\"}");
	cr_assert_eq(o.code, 0, "%s", o.error.message);
	fs_outcome_fini(&o);
	fs_assert_outside_unchanged(&f);
	fs_fixture_fini(&f);
}

/* A link to a folder outside cannot be passed through by any operation. */
Test(blocks_fs_paths, link_to_a_folder_outside_is_refused, .timeout = 60)
{
	fs_fixture_t f;
	char target[400];
	fs_fixture_init(&f);
	snprintf(target, sizeof target, "%s/outside_dir", f.root);
	make_link(&f, "../outside_dir", "reldir");
	make_link(&f, target, "absdir");
	make_dir(&f, "sub");
	make_link(&f, "../../outside_dir", "sub/deep");

	expect_all_refused(&f, "reldir/file", "path_outside_tenant_folder");
	expect_all_refused(&f, "absdir/file", "path_outside_tenant_folder");
	expect_all_refused(&f, "sub/deep/file", "path_outside_tenant_folder");

	expect_reads_refused(&f, "absdir", "path_outside_tenant_folder");
	expect_reads_refused(&f, "reldir", "path_outside_tenant_folder");
	fs_fixture_fini(&f);
}

/* Links that stay inside the tenant folder are followed. */
Test(blocks_fs_paths, link_inside_the_folder_is_followed, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	make_dir(&f, "sub");
	fs_write_file(f.tenant, "sub/data", "inside", 6);
	make_link(&f, "sub", "alias");
	make_link(&f, "../sub/data", "sub/../up");

	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"alias/data\"}");
	cr_assert_eq(o.code, 0, "%s", o.error.message);
	cr_assert_str_eq(json_string_value(json_object_get(o.result, "content")), "inside");
	fs_outcome_fini(&o);
	fs_fixture_fini(&f);
}

Test(blocks_fs_paths, link_loops_are_refused, .timeout = 60)
{
	fs_fixture_t f;
	fs_fixture_init(&f);
	make_link(&f, "loop2", "loop1");
	make_link(&f, "loop1", "loop2");
	make_link(&f, "self", "self");

	expect_all_refused(&f, "loop1/x", "path_outside_tenant_folder");
	expect_all_refused(&f, "self/x", "path_outside_tenant_folder");
	expect_reads_refused(&f, "loop1", "path_outside_tenant_folder");
	fs_fixture_fini(&f);
}

/* A link inside the tenant folder into /proc/self/root leads out like
 * any absolute link. A tenant folder that is /proc/self itself contains
 * the magic links root, cwd and fd/N, which RESOLVE_NO_MAGICLINKS
 * refuses. */
Test(blocks_fs_paths, magic_links_are_refused, .timeout = 60)
{
	fs_fixture_t f;
	fs_outcome_t o;
	fs_fixture_init(&f);
	make_link(&f, "/proc/self/root/etc/passwd", "passwd");
	make_link(&f, "/proc/self", "proc");
	make_link(&f, "../../../../../../../../proc/self/root/etc/passwd", "climb");

	expect_reads_refused(&f, "passwd", "path_outside_tenant_folder");
	expect_reads_refused(&f, "climb", "path_outside_tenant_folder");
	expect_all_refused(&f, "proc/root/etc/passwd", "path_outside_tenant_folder");
	expect_all_refused(&f, "proc/cwd/x", "path_outside_tenant_folder");

	int tenant = f.env.data_dir;
	f.env.data_dir = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(f.env.data_dir >= 0);
	static const char *const magic[] = {"root/etc/passwd", "cwd/x", "fd/0", "exe"};
	for (size_t i = 0; i < sizeof magic / sizeof *magic; i++) {
		char params[200];
		snprintf(params, sizeof params, "{\"op\":\"get\",\"path\":\"%s\"}", magic[i]);
		fs_fixture_run(&f, &o, params);
		cr_assert_str_eq(o.error_code, "path_outside_tenant_folder", "got %s for %s: %s", o.error_code,
				 magic[i], o.error.message);
		cr_assert_str_eq(o.error.field, "params.path");
	}
	close(f.env.data_dir);
	f.env.data_dir = tenant;
	fs_assert_outside_unchanged(&f);
	fs_fixture_fini(&f);
}

/* A NUL byte would cut the path short in a system call; it is refused
 * with its offset. */
Test(blocks_fs_paths, nul_bytes_are_refused, .timeout = 60)
{
	fs_fixture_t f;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "a", "a", 1);

	expect_all_refused(&f, "a\\u0000../../outside.txt", "invalid_params");
	expect_all_refused(&f, "\\u0000", "invalid_params");

	fs_outcome_t o;
	fs_fixture_run(&f, &o, "{\"op\":\"get\",\"path\":\"a\\u0000b\"}");
	cr_assert(strstr(o.error.message, "NUL byte at offset 1"), "message: %s", o.error.message);
	fs_fixture_fini(&f);
}

/* A component over NAME_MAX and a path over the limit (PATH_MAX - 1 by
 * default, or smaller when configured) are refused before any call. */
Test(blocks_fs_paths, overlong_names_and_paths_are_refused, .timeout = 60)
{
	static char path[8192];
	fs_fixture_t f;
	fs_fixture_init(&f);

	memset(path, 'n', NAME_MAX + 1);
	path[NAME_MAX + 1] = '\0';
	expect_all_refused(&f, path, "limit_exceeded");

	for (size_t i = 0; i < PATH_MAX; i += 2) {
		path[i] = 'd';
		path[i + 1] = '/';
	}
	path[PATH_MAX] = '\0';
	expect_all_refused(&f, path, "limit_exceeded");

	f.services.fs.max_path_bytes = 8;
	expect_all_refused(&f, "abcd/efgh", "limit_exceeded");
	fs_fixture_fini(&f);
}

/* A path ending in '/' names a folder: no operation acts on a file or a
 * link by that name, so put cannot replace either, and both stay as they
 * were. A folder named that way can still be described and deleted. */
Test(blocks_fs_paths, trailing_slash_names_only_a_folder, .timeout = 60)
{
	fs_fixture_t f;
	fs_fixture_init(&f);
	fs_write_file(f.tenant, "a", "old", 3);
	make_link(&f, "a", "lnk");
	make_dir(&f, "sub");

	expect_all_refused(&f, "a/", "not_found");
	expect_all_refused(&f, "lnk/", "not_found");
	expect_all_refused(&f, "a//", "not_found");

	size_t len;
	char *data = fs_read_file(f.tenant, "a", &len);
	cr_assert(len == 3 && memcmp(data, "old", 3) == 0, "'a' changed");
	free(data);
	struct stat st;
	char path[600];
	snprintf(path, sizeof path, "%s/lnk", f.tenant);
	cr_assert(lstat(path, &st) == 0 && S_ISLNK(st.st_mode), "'lnk' is no longer a link");

	fs_outcome_t o;
	fs_fixture_run(&f, &o, "{\"op\":\"stat\",\"path\":\"sub/\"}");
	cr_assert_eq(o.code, 0, "stat sub/: %s", o.error.message);
	fs_outcome_fini(&o);
	fs_fixture_run(&f, &o, "{\"op\":\"delete\",\"path\":\"sub/\"}");
	cr_assert_eq(o.code, 0, "delete sub/: %s", o.error.message);
	fs_outcome_fini(&o);
	snprintf(path, sizeof path, "%s/sub", f.tenant);
	cr_assert_neq(access(path, F_OK), 0, "'sub' was not deleted");
	fs_fixture_fini(&f);
}
