/*
 * The approvals folder: the store of a local run and of the approve
 * command, two files per approval (approvals.h).
 *
 * Every file is written whole to a temporary name, flushed, then linked
 * to its final name. linkat(2) never replaces an existing name, which is
 * what makes "the first decision wins" hold between the engine, the admin
 * endpoint and the approve command, with no lock: a second decider gets
 * EEXIST and reads the first decision instead. The folder is flushed
 * after each link so that the name survives a crash.
 */
#define _GNU_SOURCE /* O_CLOEXEC with openat, linkat, fdopendir */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <beamline/approvals.h>

/* A stored file larger than this is damaged, not an approval. */
#define RECORD_MAX_BYTES (1u << 20)

#define REQUEST_SUFFIX ".request.json"
#define DECISION_SUFFIX ".decision.json"

typedef struct file_store {
	bl_approval_store_t base; /* base.where is `path` */
	int dir_fd;
	char *path;
} file_store_t;

static const bl_approval_store_ops_t file_ops;

/* Make `path` and its parents (mode 0700), like mkdir -p. */
static int make_folders(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return BL_ENOMEM;

	int rc = 0;
	for (char *p = copy + 1; rc == 0; p++) {
		bool end = *p == '\0';
		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST)
			rc = -errno;
		if (end)
			break;
		*p = '/';
	}
	free(copy);
	return rc;
}

int bl_approval_store_open(bl_approval_store_t **out, const char *state_dir, const char *subdir, bool create,
			   bl_error_t *err)
{
	*out = NULL;
	size_t size = strlen(state_dir) + 1 + strlen(subdir) + 1;
	char *path = malloc(size);
	if (!path)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory opening the approvals folder");
	snprintf(path, size, "%s/%s", state_dir, subdir);

	int rc = create ? make_folders(path) : 0;
	int fd = rc == 0 ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (rc == 0 && fd < 0)
		rc = -errno;
	file_store_t *s = rc == 0 ? malloc(sizeof *s) : NULL;
	if (rc == 0 && !s)
		rc = BL_ENOMEM;
	if (rc < 0) {
		bl_error_set(err, rc, path, "cannot open the approvals folder: %s", bl_strerror(rc));
		if (fd >= 0)
			close(fd);
		free(path);
		return rc;
	}
	s->base.ops = &file_ops;
	s->base.where = path;
	s->dir_fd = fd;
	s->path = path;
	*out = &s->base;
	return 0;
}

static void file_free(bl_approval_store_t *store)
{
	file_store_t *s = (file_store_t *)store;
	close(s->dir_fd);
	free(s->path);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

static void file_name(char *out, size_t size, const char *id, const char *suffix)
{
	snprintf(out, size, "%s%s", id, suffix);
}

/* Read file `name` of the folder as a JSON object into *out. Returns 0,
 * -ENOENT, a negative errno, or BL_EFORMAT for a damaged file. */
static int read_record(file_store_t *s, const char *name, json_t **out, bl_error_t *err)
{
	json_error_t jerr;
	struct stat st;

	*out = NULL;
	int fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : bl_error_set(err, -errno, name, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) != 0 || st.st_size > RECORD_MAX_BYTES) {
		close(fd);
		return bl_error_set(err, BL_EFORMAT, name, "the file is unreadable or larger than %u bytes",
				    RECORD_MAX_BYTES);
	}

	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return bl_error_set(err, BL_ENOMEM, name, "out of memory reading the file");
	}
	*out = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return bl_error_set(err, BL_EFORMAT, name, "the file is not a JSON object: %s", jerr.text);
	}
	return 0;
}

/* Write all of `text` to `fd`. Returns 0 or a negative errno. */
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

/* Open a new temporary file in the folder; its name goes to `name`. The
 * process id and a counter keep names of concurrent writers apart. */
static int open_temp(file_store_t *s, char *name, size_t size)
{
	static atomic_uint counter;

	for (int attempt = 0; attempt < 100; attempt++) {
		snprintf(name, size, ".tmp-%ld-%u", (long)getpid(), atomic_fetch_add(&counter, 1));
		int fd = openat(s->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/*
 * Write `record` as file `name`, unless that name exists. Returns 0,
 * -EEXIST when it exists (nothing written), or a negative errno with *err.
 */
static int write_record_once(file_store_t *s, const char *name, const json_t *record, bl_error_t *err)
{
	char temp[32];
	char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return bl_error_set(err, BL_ENOMEM, name, "out of memory encoding the record");

	int fd = open_temp(s, temp, sizeof temp);
	if (fd < 0) {
		free(text);
		return bl_error_set(err, fd, s->path, "cannot create a file in the approvals folder: %s",
				    strerror(-fd));
	}
	int rc = write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	free(text);
	if (rc == 0 && linkat(s->dir_fd, temp, s->dir_fd, name, 0) != 0)
		rc = -errno;
	unlinkat(s->dir_fd, temp, 0);
	if (rc == -EEXIST)
		return rc;
	if (rc == 0 && fsync(s->dir_fd) != 0)
		rc = -errno;
	if (rc < 0)
		return bl_error_set(err, rc, name, "cannot write the approval file: %s", strerror(-rc));
	return 0;
}

/* Load request and decision of `id`. */
static int load(file_store_t *s, const char *id, bl_approval_t *out, bl_error_t *err)
{
	char name[BL_APPROVAL_ID_MAX + 32];

	out->request = out->decision = NULL;
	file_name(name, sizeof name, id, REQUEST_SUFFIX);
	int rc = read_record(s, name, &out->request, err);
	if (rc == 0)
		rc = bl_approval_check_request(out->request, name, err);

	file_name(name, sizeof name, id, DECISION_SUFFIX);
	if (rc == 0) {
		rc = read_record(s, name, &out->decision, err);
		if (rc == -ENOENT)
			rc = 0;
		else if (rc == 0)
			rc = bl_approval_check_decision(out->decision, name, err);
	}
	if (rc < 0)
		bl_approval_clear(out);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The store's primitives                                                    */
/* ------------------------------------------------------------------------ */

static int file_create(bl_approval_store_t *store, const char *id, const json_t *request, bl_error_t *err)
{
	char name[BL_APPROVAL_ID_MAX + 32];

	file_name(name, sizeof name, id, REQUEST_SUFFIX);
	return write_record_once((file_store_t *)store, name, request, err);
}

/* The files are written once each, so a load needs no version. */
static int file_load(bl_approval_store_t *store, const char *id, bl_approval_t *out, uint64_t *version,
		     bl_error_t *err)
{
	*version = 0;
	return load((file_store_t *)store, id, out, err);
}

/* Linking the decision file fails with EEXIST when another decider linked
 * one first, so `pending` and `version` are not needed. */
static int file_record(bl_approval_store_t *store, const char *id, const bl_approval_t *pending, uint64_t version,
		       const json_t *decision, bl_error_t *err)
{
	char name[BL_APPROVAL_ID_MAX + 32];
	(void)pending;
	(void)version;

	file_name(name, sizeof name, id, DECISION_SUFFIX);
	return write_record_once((file_store_t *)store, name, decision, err);
}

/* Return whether `name` ends with `suffix`; *stem_len gets the rest. */
static bool has_suffix(const char *name, const char *suffix, size_t *stem_len)
{
	size_t n = strlen(name), k = strlen(suffix);
	if (n <= k || strcmp(name + n - k, suffix) != 0)
		return false;
	*stem_len = n - k;
	return true;
}

/* Append a copy of the first `len` bytes of `id` to *ids. */
static int append_id(char ***ids, size_t *count, size_t *cap, const char *id, size_t len)
{
	if (*count == *cap) {
		size_t grown = *cap ? *cap * 2 : 16;
		char **bigger = realloc(*ids, grown * sizeof *bigger);
		if (!bigger)
			return BL_ENOMEM;
		*ids = bigger;
		*cap = grown;
	}
	char *copy = strndup(id, len);
	if (!copy)
		return BL_ENOMEM;
	(*ids)[(*count)++] = copy;
	return 0;
}

static int file_list_ids(bl_approval_store_t *store, char ***ids, size_t *count, bl_error_t *err)
{
	file_store_t *s = (file_store_t *)store;
	size_t cap = 0;

	*ids = NULL;
	*count = 0;
	/* A new open file description: a dup would share the read position
	 * with other listings. */
	int fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return bl_error_set(err, rc, s->path, "cannot list the approvals folder: %s", strerror(-rc));
	}

	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(dir)) != NULL) {
		size_t stem;
		if (e->d_name[0] == '.' || !has_suffix(e->d_name, REQUEST_SUFFIX, &stem) || stem > BL_APPROVAL_ID_MAX)
			continue;
		rc = append_id(ids, count, &cap, e->d_name, stem);
	}
	closedir(dir);
	if (rc < 0) {
		while (*count > 0)
			free((*ids)[--*count]);
		free(*ids);
		*ids = NULL;
		return bl_error_set(err, rc, NULL, "out of memory listing the approvals");
	}
	return 0;
}

static const bl_approval_store_ops_t file_ops = {
	.create = file_create,
	.load = file_load,
	.record = file_record,
	.list_ids = file_list_ids,
	.free = file_free,
};
