/*
 * The fs block's metadata operations: list, stat and delete. Each makes a
 * few short system calls relative to a folder opened beneath the tenant
 * folder, so they run on the I/O worker that handles the job instead of
 * going through the ring.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <beamline/base64.h>
#include <beamline/utf8.h>

#include "fs_run.h"

typedef struct entry {
	char *name;
	struct stat st;
} entry_t;

typedef struct listing {
	entry_t *entries;
	size_t count;
	bool truncated;
} listing_t;

static json_t *describe(const struct stat *st)
{
	return json_pack("{s:s, s:I, s:o}", "type", fs_type_name(st->st_mode), "size", (json_int_t)st->st_size, "mtime",
			 fs_time_json(&st->st_mtim));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

static void free_listing(listing_t *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->entries[i].name);
	free(l->entries);
}

/* Read up to `max` entries of `d`, then look for one more to tell whether
 * the listing is cut. */
static int read_entries(listing_t *l, DIR *d, size_t max, bl_error_t *err)
{
	struct dirent *e;

	l->entries = calloc(max ? max : 1, sizeof *l->entries);
	if (!l->entries)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing the folder");
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strncmp(name, FS_TEMP_PREFIX, sizeof FS_TEMP_PREFIX - 1) == 0)
			continue;
		if (l->count == max) {
			l->truncated = true;
			break;
		}
		entry_t *slot = &l->entries[l->count];
		if (fstatat(dirfd(d), name, &slot->st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* removed while we looked */
		slot->name = strdup(name);
		if (!slot->name)
			return bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing the folder");
		l->count++;
	}
	qsort(l->entries, l->count, sizeof *l->entries, by_name);
	return 0;
}

/* Return the length of the UTF-8 sequence at s[0..len), or 0 when the
 * bytes there are not one (a stray, overlong or cut sequence). */
static size_t utf8_sequence_len(const uint8_t *s, size_t len)
{
	size_t n = 0;

	if (s[0] < 0x80)
		n = 1;
	else if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	return n && n <= len && bl_utf8_is_valid(s, n) ? n : 0;
}

/* Copy `name`, with U+FFFD in place of each byte that is not part of a
 * valid UTF-8 sequence. Returns an owned string, or NULL. */
static char *replace_invalid_utf8(const char *name)
{
	const uint8_t *s = (const uint8_t *)name;
	size_t len = strlen(name), out = 0;
	char *text = malloc(len * 3 + 1);

	for (size_t i = 0; text && i < len;) {
		size_t n = utf8_sequence_len(s + i, len - i);
		if (n == 0) {
			memcpy(text + out, "\xEF\xBF\xBD", 3);
			out += 3;
			i++;
			continue;
		}
		memcpy(text + out, s + i, n);
		out += n;
		i += n;
	}
	if (text)
		text[out] = '\0';
	return text;
}

/* Set the "name" of entry `e`. Linux names are bytes, and one that is not
 * UTF-8 cannot be a JSON string: it gets "name" with U+FFFD for each
 * invalid byte, for people to read, and "name_base64" with its bytes. */
static void set_name(json_t *e, const char *name)
{
	size_t len = strlen(name);

	if (bl_utf8_is_valid((const uint8_t *)name, len)) {
		json_object_set_new(e, "name", json_stringn_nocheck(name, len));
		return;
	}
	char *readable = replace_invalid_utf8(name);
	char *raw = malloc(bl_base64_encoded_len(len) + 1);
	if (readable && raw) {
		bl_base64_encode(raw, (const uint8_t *)name, len);
		json_object_set_new(e, "name", json_string(readable));
		json_object_set_new(e, "name_base64", json_stringn_nocheck(raw, bl_base64_encoded_len(len)));
	}
	free(readable);
	free(raw);
}

static json_t *listing_json(const listing_t *l, const char *path)
{
	json_t *entries = json_array();
	for (size_t i = 0; entries && i < l->count; i++) {
		json_t *e = describe(&l->entries[i].st);
		set_name(e, l->entries[i].name);
		json_array_append_new(entries, e);
	}
	return json_pack("{s:s, s:s, s:o, s:b}", "op", "list", "path", path, "entries", entries, "truncated",
			 l->truncated);
}

static int run_list(json_t **out, const fs_params_t *p, int root, const bl_fs_limits_t *lim, bl_error_t *err)
{
	listing_t l = {0};
	int fd = fs_open_beneath(root, p->path, O_RDONLY | O_DIRECTORY, err);
	if (fd == -ENOTDIR)
		return bl_error_set(err, fd, "params.path", "'%s' is not a folder; list takes a folder", p->path);
	if (fd < 0)
		return fd;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing the folder");
	}

	int rc = read_entries(&l, d, lim->max_list_entries, err);
	closedir(d);
	if (rc == 0) {
		*out = listing_json(&l, p->path);
		rc = *out ? 0 : bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing the folder");
	}
	free_listing(&l);
	return rc;
}

/* Stat the last component of `path` without following it; a path that
 * ends in the folder itself ("", "a/.") is stat'ed through its own
 * descriptor. */
static int stat_path(struct stat *st, const char *path, int root, char name[NAME_MAX + 1], bl_error_t *err)
{
	int dir = fs_open_parent(root, path, name, err);
	if (dir < 0)
		return dir;

	int rc = name[0] && strcmp(name, ".") != 0 ? fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW) : fstat(dir, st);
	rc = rc == 0 ? 0 : -errno;
	close(dir);
	if (rc == -ENOENT)
		return bl_error_set(err, rc, "params.path", "'%s' was not found in the tenant folder", path);
	if (rc < 0)
		return bl_error_set(err, rc, "params.path", "cannot stat '%s': %s", path, strerror(-rc));
	return 0;
}

static int run_stat(json_t **out, const fs_params_t *p, int root, bl_error_t *err)
{
	struct stat st;
	char name[NAME_MAX + 1];
	char mode[8];

	int rc = stat_path(&st, p->path, root, name, err);
	if (rc < 0)
		return rc;
	snprintf(mode, sizeof mode, "%04o", (unsigned)(st.st_mode & 07777));
	*out = describe(&st);
	if (!*out)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	json_object_set_new(*out, "op", json_string("stat"));
	json_object_set_new(*out, "path", json_string(p->path));
	json_object_set_new(*out, "mode", json_string(mode));
	return 0;
}

static int remove_entry(int dir, const char *name, const struct stat *st, const char *path, bl_error_t *err)
{
	bool folder = S_ISDIR(st->st_mode);
	if (unlinkat(dir, name, folder ? AT_REMOVEDIR : 0) == 0)
		return 0;

	int rc = -errno;
	if (rc == -ENOTEMPTY || rc == -EEXIST)
		return bl_error_set(err, -ENOTEMPTY, "params.path",
				    "the folder '%s' is not empty; delete removes folders only when empty", path);
	return bl_error_set(err, rc, "params.path", "cannot delete '%s': %s", path, strerror(-rc));
}

static int run_delete(json_t **out, const fs_params_t *p, const bl_block_env_t *env, bl_error_t *err)
{
	struct stat st;
	char name[NAME_MAX + 1];

	int dir = fs_open_parent(env->data_dir, p->path, name, err);
	if (dir < 0)
		return dir;
	int rc = 0;
	if (strcmp(name, ".") == 0)
		rc = bl_error_set(err, BL_EINVAL, "params.path", "'%s' ends in '.'; name the folder itself", p->path);
	else
		rc = fs_check_not_sql_file(env->data_dir, dir, name, p->path, "delete", err);

	if (rc == 0 && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		rc = errno == ENOENT ? bl_error_set(err, -ENOENT, "params.path", "'%s' was not found in the tenant folder",
						    p->path)
				     : bl_error_set(err, -errno, "params.path", "cannot stat '%s': %s", p->path,
						    strerror(errno));
	else if (rc == 0)
		rc = remove_entry(dir, name, &st, p->path, err);
	close(dir);
	if (rc < 0)
		return rc;

	if (S_ISREG(st.st_mode))
		fs_quota_give_back(env, (uint64_t)st.st_size);
	*out = json_pack("{s:s, s:s, s:s}", "op", "delete", "path", p->path, "type", fs_type_name(st.st_mode));
	return *out ? 0 : bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
}

int fs_meta_run(json_t **out, const fs_params_t *p, const bl_block_env_t *env, bl_error_t *err)
{
	*out = NULL;
	switch (p->op) {
	case FS_LIST:
		return run_list(out, p, env->data_dir, fs_limits_of(env), err);
	case FS_STAT:
		return run_stat(out, p, env->data_dir, err);
	case FS_DELETE:
		return run_delete(out, p, env, err);
	case FS_GET:
	case FS_PUT:
		break;
	}
	return bl_error_set(err, BL_EINVAL, "params.op", "'%s' is not a metadata operation", fs_op_name(p->op));
}
