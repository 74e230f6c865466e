/*
 * The approval store: one folder, two files per approval (approvals.h).
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

struct bl_approval_store {
	int dir_fd;
	char *path;
};

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
	bl_approval_store_t *s = rc == 0 ? malloc(sizeof *s) : NULL;
	if (rc == 0 && !s)
		rc = BL_ENOMEM;
	if (rc < 0) {
		bl_error_set(err, rc, path, "cannot open the approvals folder: %s", bl_strerror(rc));
		if (fd >= 0)
			close(fd);
		free(path);
		return rc;
	}
	s->dir_fd = fd;
	s->path = path;
	*out = s;
	return 0;
}

void bl_approval_store_free(bl_approval_store_t **store)
{
	bl_approval_store_t *s = *store;
	if (!s)
		return;
	close(s->dir_fd);
	free(s->path);
	free(s);
	*store = NULL;
}

const char *bl_approval_store_path(const bl_approval_store_t *store)
{
	return store->path;
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
static int read_record(bl_approval_store_t *s, const char *name, json_t **out, bl_error_t *err)
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
static int open_temp(bl_approval_store_t *s, char *name, size_t size)
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
static int write_record_once(bl_approval_store_t *s, const char *name, const json_t *record, bl_error_t *err)
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

/* Check the fields every stored request has. */
static int check_request(const json_t *req, const char *name, bl_error_t *err)
{
	if (!json_is_string(json_object_get(req, "id")) || !json_is_integer(json_object_get(req, "expires_ms")) ||
	    !json_is_string(json_object_get(req, "default_decision")))
		return bl_error_set(err, BL_EFORMAT, name,
				    "the request lacks \"id\", \"expires_ms\" or \"default_decision\"");
	return 0;
}

/* A decision file is read back into a job's result: refuse one that a
 * person or a crash left without a decision word, decider, time or
 * default flag of the right type. */
static int check_decision(const json_t *d, const char *name, bl_error_t *err)
{
	bl_decision_t decision;
	const char *word = json_string_value(json_object_get(d, "decision"));
	const json_t *comment = json_object_get(d, "comment");

	bool valid = word && bl_decision_parse(&decision, word) == 0;
	valid = valid && json_is_string(json_object_get(d, "decided_by")) &&
		json_is_string(json_object_get(d, "decided_at"));
	valid = valid && json_is_boolean(json_object_get(d, "defaulted")) &&
		(!comment || json_is_string(comment) || json_is_null(comment));
	if (!valid)
		return bl_error_set(err, BL_EFORMAT, name,
				    "the decision lacks \"decision\" (approve or reject), \"decided_by\", "
				    "\"decided_at\" or \"defaulted\", or has a \"comment\" that is not a string");
	return 0;
}

/* Load request and decision of `id`. */
static int load(bl_approval_store_t *s, const char *id, bl_approval_t *out, bl_error_t *err)
{
	char name[BL_APPROVAL_ID_MAX + 32];

	out->request = out->decision = NULL;
	file_name(name, sizeof name, id, REQUEST_SUFFIX);
	int rc = read_record(s, name, &out->request, err);
	if (rc == 0)
		rc = check_request(out->request, name, err);

	file_name(name, sizeof name, id, DECISION_SUFFIX);
	if (rc == 0) {
		rc = read_record(s, name, &out->decision, err);
		if (rc == -ENOENT)
			rc = 0;
		else if (rc == 0)
			rc = check_decision(out->decision, name, err);
	}
	if (rc < 0)
		bl_approval_clear(out);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

int bl_approval_store_get(bl_approval_store_t *store, const char *id, bl_approval_t *out, bl_error_t *err)
{
	if (strlen(id) > BL_APPROVAL_ID_MAX)
		return -ENOENT;
	return load(store, id, out, err);
}

int bl_approval_store_post(bl_approval_store_t *store, const json_t *request, bl_approval_t *out, bool *created,
			   bl_error_t *err)
{
	char name[BL_APPROVAL_ID_MAX + 32];
	const char *id = json_string_value(json_object_get(request, "id"));

	*created = false;
	out->request = out->decision = NULL;
	if (!id || strlen(id) > BL_APPROVAL_ID_MAX)
		return bl_error_set(err, BL_EINVAL, "id", "the request has no valid \"id\"");

	file_name(name, sizeof name, id, REQUEST_SUFFIX);
	int rc = write_record_once(store, name, request, err);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	*created = rc == 0;
	return load(store, id, out, err);
}

/* Build the decision file's object for `in` at `now_ms`. */
static json_t *decision_record(const char *id, const bl_decision_input_t *in, int64_t now_ms)
{
	char at[40];
	bl_approval_format_time(at, sizeof at, now_ms);
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "id", id, "decision", bl_decision_name(in->decision),
			      "decided_by", in->by, "decided_at", at, "decided_ms", (json_int_t)now_ms, "defaulted",
			      in->defaulted);
	if (d && in->comment)
		json_object_set_new(d, "comment", json_string(in->comment));
	return d;
}

int bl_approval_store_decide(bl_approval_store_t *store, const char *id, const bl_decision_input_t *in,
			     int64_t now_ms, bl_approval_t *out, bl_error_t *err)
{
	char name[BL_APPROVAL_ID_MAX + 32];

	out->request = out->decision = NULL;
	int rc = bl_decision_input_check(in, err);
	if (rc == 0)
		rc = bl_approval_store_get(store, id, out, err);
	if (rc < 0)
		return rc;
	if (out->decision)
		return -EEXIST;
	if (!in->defaulted && now_ms >= bl_approval_expires_ms(out))
		return BL_ETIMEDOUT;

	json_t *d = decision_record(id, in, now_ms);
	if (!d) {
		bl_approval_clear(out);
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory recording the decision");
	}
	file_name(name, sizeof name, id, DECISION_SUFFIX);
	rc = write_record_once(store, name, d, err);
	if (rc == 0) {
		out->decision = d;
		return 0;
	}
	json_decref(d);
	if (rc != -EEXIST) {
		bl_approval_clear(out);
		return rc;
	}
	/* Someone else decided between our read and our link: report theirs. */
	bl_approval_clear(out);
	rc = load(store, id, out, err);
	return rc < 0 ? rc : -EEXIST;
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

static int compare_created(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created_ms"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created_ms"));
	return (x > y) - (x < y);
}

/* Sort the array of described approvals by creation time. */
static json_t *sorted(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **items = n ? malloc(n * sizeof *items) : NULL;
	json_t *out = json_array();
	if ((n && !items) || !out) {
		free(items);
		json_decref(out);
		return list; /* unsorted beats nothing */
	}
	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(list, i);
	if (n > 1)
		qsort(items, n, sizeof *items, compare_created); /* items is NULL when n is 0 */
	for (size_t i = 0; i < n; i++)
		json_array_append(out, items[i]);
	free(items);
	json_decref(list);
	return out;
}

int bl_approval_store_list(bl_approval_store_t *store, json_t **out, bl_error_t *err)
{
	*out = NULL;
	/* A new open file description: a dup would share the read position
	 * with other listings. */
	int fd = openat(store->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return bl_error_set(err, rc, store->path, "cannot list the approvals folder: %s", strerror(-rc));
	}

	json_t *list = json_array();
	struct dirent *e;
	while (list && (e = readdir(dir)) != NULL) {
		char id[BL_APPROVAL_ID_MAX + 1];
		size_t stem;
		bl_approval_t a;
		if (e->d_name[0] == '.' || !has_suffix(e->d_name, REQUEST_SUFFIX, &stem) || stem > BL_APPROVAL_ID_MAX)
			continue;
		snprintf(id, sizeof id, "%.*s", (int)stem, e->d_name);
		if (load(store, id, &a, NULL) < 0)
			continue;
		if (!a.decision)
			json_array_append_new(list, bl_approval_describe(&a));
		bl_approval_clear(&a);
	}
	closedir(dir);
	if (!list)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing the approvals");
	*out = sorted(list);
	return 0;
}
