/*
 * Paths of the fs block, resolved beneath the tenant folder.
 *
 * Every lookup goes through openat2 with RESOLVE_BENEATH, so the kernel
 * refuses "..", absolute symbolic links and links that point out of the
 * folder (-EXDEV), and RESOLVE_NO_MAGICLINKS, so /proc/PID/fd, root and
 * cwd links are refused (-ELOOP). Symbolic links that stay inside the
 * folder are followed. The last component of a path that is changed
 * (put, delete) or described (stat) is never followed: the operation runs
 * on its folder's descriptor with AT_SYMLINK_NOFOLLOW or its equivalent.
 */
#define _GNU_SOURCE /* openat2 through syscall */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fs_run.h"
#include "sql_embedded.h"

/* Folders deeper than this beneath the tenant folder make the usage walk
 * fail, rather than hold a descriptor per level without bound. */
#define USAGE_DEPTH_MAX 64

/* openat2 returns -EAGAIN when a rename elsewhere raced the lookup; these
 * are the tries before that is reported. */
#define RESOLVE_TRIES 8

static int describe_open_error(int rc, const char *path, bl_error_t *err)
{
	switch (rc) {
	case -EXDEV:
		return bl_error_set(err, rc, "params.path",
				    "'%s' leads outside the tenant folder (an absolute symbolic link or one pointing out)",
				    path);
	case -ELOOP:
		return bl_error_set(err, rc, "params.path",
				    "'%s' goes through a magic link (/proc/PID/fd, root, cwd) or too many symbolic links",
				    path);
	case -ENOENT:
		return bl_error_set(err, rc, "params.path", "'%s' was not found in the tenant folder", path);
	case -ENOTDIR:
		return bl_error_set(err, rc, "params.path", "a component of '%s' is not a folder", path);
	default:
		return bl_error_set(err, rc, "params.path", "cannot open '%s': %s", path, strerror(-rc));
	}
}

int fs_open_beneath(int root, const char *path, int flags, bl_error_t *err)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	const char *lookup = path[0] ? path : ".";
	int fd = -1;

	for (int i = 0; i < RESOLVE_TRIES; i++) {
		fd = (int)syscall(SYS_openat2, root, lookup, &how, sizeof how);
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0)
		return describe_open_error(-errno, path, err);
	return fd;
}

/* A path ending in '/' names a folder, as it does for the kernel: check
 * that `name` in the open folder `dir` is one (a link is not followed).
 * Returns `dir`, or closes it and returns -ENOTDIR or -ENOENT with *err set. */
static int check_names_folder(int dir, const char *path, const char *name, bl_error_t *err)
{
	struct stat st;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		return dir;

	int rc = errno == ENOENT ? -ENOENT : -ENOTDIR;
	close(dir);
	if (rc == -ENOENT)
		return bl_error_set(err, rc, "params.path", "'%s' was not found in the tenant folder", path);
	return bl_error_set(err, rc, "params.path", "'%s' ends in '/', but '%s' is not a folder", path, name);
}

int fs_open_parent(int root, const char *path, char name[NAME_MAX + 1], bl_error_t *err)
{
	char folder[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof folder)
		return bl_error_set(err, BL_ELIMIT, "params.path", "the path is longer than PATH_MAX");
	while (len > 0 && path[len - 1] == '/')
		len--;

	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (len - start > NAME_MAX)
		return bl_error_set(err, BL_ELIMIT, "params.path", "the last name is longer than NAME_MAX");
	memcpy(name, path + start, len - start);
	name[len - start] = '\0';

	memcpy(folder, path, start);
	folder[start] = '\0';
	int dir = fs_open_beneath(root, folder, O_RDONLY | O_DIRECTORY, err);
	if (dir < 0 || path[len] != '/' || !name[0])
		return dir;

	return check_names_folder(dir, path, name, err);
}

int fs_check_not_sql_file(int root, int dir, const char *name, const char *path, const char *op,
			  bl_error_t *err)
{
	struct stat folder, sql;

	if (!sql_embedded_is_file(name))
		return 0;
	if (fstat(dir, &folder) != 0)
		return bl_error_set(err, -errno, "params.path", "cannot stat the folder of '%s': %s", path,
				    strerror(errno));
	int rc = fstatat(root, SQL_EMBEDDED_FOLDER, &sql, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return bl_error_set(err, rc, "params.path", "cannot stat the tenant's '%s' folder: %s",
				    SQL_EMBEDDED_FOLDER, strerror(-rc));
	if (folder.st_dev != sql.st_dev || folder.st_ino != sql.st_ino)
		return 0;

	return bl_error_set(err, BL_EINVAL, "params.path",
			    "'%s' is a file of the sql block's embedded SQLite database, which an open connection may "
			    "be using, so fs jobs may not %s it; change the data with sql jobs",
			    path, op);
}

static bool is_temp_name(const char *name)
{
	return strncmp(name, FS_TEMP_PREFIX, sizeof FS_TEMP_PREFIX - 1) == 0;
}

/* Add the sizes beneath the open folder `dir` (taken: closed here). */
static int add_folder(uint64_t *sum, int dir, int depth, bl_error_t *err)
{
	if (depth > USAGE_DEPTH_MAX) {
		close(dir);
		return bl_error_set(err, BL_ELIMIT, "tenant",
				    "the tenant folder is nested more than %d folders deep; its usage cannot be counted",
				    USAGE_DEPTH_MAX);
	}
	DIR *d = fdopendir(dir);
	if (!d) {
		int rc = -errno;
		close(dir);
		return bl_error_set(err, rc, "tenant", "cannot read the tenant folder: %s", strerror(-rc));
	}

	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || is_temp_name(e->d_name))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* removed while we looked */
		if (S_ISREG(st.st_mode)) {
			*sum += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				rc = add_folder(sum, sub, depth + 1, err);
		}
	}
	closedir(d);
	return rc;
}

int fs_tenant_usage(uint64_t *out, int root, bl_error_t *err)
{
	uint64_t sum = 0;
	int dir = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return bl_error_set(err, -errno, "tenant", "cannot open the tenant folder: %s", strerror(errno));

	int rc = add_folder(&sum, dir, 0, err);
	if (rc < 0)
		return rc;
	*out = sum;
	return 0;
}

json_t *fs_time_json(const struct timespec *ts)
{
	struct tm tm;
	char text[64];

	gmtime_r(&ts->tv_sec, &tm);
	size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(text + n, sizeof text - n, ".%09ldZ", ts->tv_nsec);
	return json_string(text);
}

const char *fs_type_name(unsigned mode)
{
	if (S_ISREG(mode))
		return "file";
	if (S_ISDIR(mode))
		return "dir";
	if (S_ISLNK(mode))
		return "symlink";
	return "other";
}
