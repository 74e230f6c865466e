/*
 * The fs block's actor: one per job, on the I/O pool. It runs list, stat
 * and delete at once (fs_meta.c) and moves the data of get and put
 * through the worker's ring, one operation in flight at a time.
 *
 * A put writes a temporary file in the target's folder, flushes it with
 * fsync, and only then gives it the real name. So a crash or a failure
 * never leaves part of a file under that name, and an old file stays
 * whole until the new one replaces it in one rename. The temporary file
 * is an O_TMPFILE inode, which has no name at all until it is linked, so
 * a killed engine leaves nothing behind. Where the file system has no
 * O_TMPFILE, it is a hidden file named FS_TEMP_PREFIX + pid + counter,
 * which list does not show and a failed or cancelled put removes.
 *
 * Cancellation: the actor watches the job's cancel hook. A cancel cancels
 * the operation in flight; when its completion arrives the actor drops
 * the temporary file and reports BL_ECANCELED. A put whose job was
 * cancelled never renames its file into place.
 */
#define _GNU_SOURCE /* O_TMPFILE, renameat2, AT_EMPTY_PATH */

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <beamline/base64.h>
#include <beamline/read_buffer.h>
#include "fs_run.h"
#include <beamline/utf8.h>

enum { MSG_BEGIN = 1, MSG_CANCEL = 2 };

/* Bytes per read or write on the ring: large enough that a 1 MiB file is
 * one operation, small enough that a cancel does not wait for a whole
 * large file. */
#define FS_IO_CHUNK (4u << 20)

typedef struct fs_job {
	fs_params_t p;
	const bl_block_env_t *env;
	const bl_fs_limits_t *lim;
	bl_block_done_fn done;
	void *ctx;

	int dir;                  /* put: the target's folder; -1 when closed */
	int fd;                   /* get: the file; put: the temporary file; -1 when closed */
	char name[NAME_MAX + 1];  /* put: the target's last name */
	char temp[64];            /* put: the temporary file's name while it has one, else "" */
	bool existed;             /* put: the target existed before */
	uint64_t old_size;        /* put: bytes of the regular file it replaces */
	bool reserved;            /* put: job->len bytes of the quota are reserved */

	uint8_t *buf;             /* get: what was read; put: the decoded content (base64) */
	void *owned;              /* the block to free, which buf points into */
	fs_attached_t attached;   /* get: the content kept out of the result's tree */
	const uint8_t *data;      /* put: the bytes to write (buf, or the content string) */
	uint64_t file_size;       /* get */
	uint64_t len;             /* bytes to read or write */
	uint64_t moved;           /* bytes read or written so far */
	bool syncing;             /* put: the fsync is in flight, not a write */

	uint64_t io_id;
	bool in_flight;
	bool cancelled;
} fs_job_t;

typedef struct fs_actor_state {
	fs_job_t *job; /* NULL once reported */
} fs_actor_state_t;

static atomic_uint temp_counter;

/* Close what the job holds, remove its temporary file, and give back
 * the quota of a put that did not complete. */
static void release(fs_job_t *job)
{
	if (job->reserved)
		fs_quota_give_back(job->env, job->len);
	if (job->temp[0] && job->dir >= 0)
		unlinkat(job->dir, job->temp, 0);
	if (job->fd >= 0)
		close(job->fd);
	if (job->dir >= 0)
		close(job->dir);
	free(job->owned);
	free(job->attached.block);
	free(job);
}

static void finish(fs_actor_state_t *state, bl_actor_t *self, int rc, json_t *result, const bl_error_t *err)
{
	fs_job_t *job = state->job;
	bl_block_done_fn done = job->done;
	void *ctx = job->ctx;
	fs_attached_t attached = job->attached;

	job->attached.block = NULL;
	state->job = NULL;
	bl_cancel_hook_unwatch(job->env->cancel_hook);
	release(job);
	fs_report(done, ctx, rc, &result, &attached, err);
	bl_actor_stop(self);
}

static void fail(fs_actor_state_t *state, bl_actor_t *self, const bl_error_t *err)
{
	finish(state, self, err->code, NULL, err);
}

/* ------------------------------------------------------------------------ */
/* get                                                                       */
/* ------------------------------------------------------------------------ */

static int submit_read(fs_job_t *job)
{
	uint64_t left = job->len - job->moved;
	size_t chunk = left < FS_IO_CHUNK ? (size_t)left : FS_IO_CHUNK;
	int rc = bl_io_read(&job->io_id, job->fd, job->buf + job->moved, chunk, job->p.offset + job->moved, 0);
	job->in_flight = rc == 0;
	return rc;
}

/* Open the file and check what range of it the job may read. */
static int open_for_get(fs_job_t *job, bl_error_t *err)
{
	struct stat st;
	const fs_params_t *p = &job->p;

	/* O_NONBLOCK keeps the open of a FIFO from waiting for a writer. The
	 * FIFO is then refused, and a regular file has the flag cleared,
	 * because the ring fails non-blocking reads with -EAGAIN. */
	job->fd = fs_open_beneath(job->env->data_dir, p->path, O_RDONLY | O_NONBLOCK, err);
	if (job->fd < 0)
		return job->fd;
	if (fstat(job->fd, &st) != 0)
		return bl_error_set(err, -errno, "params.path", "cannot stat '%s': %s", p->path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return bl_error_set(err, -EISDIR, "params.path", "'%s' is a folder; get reads files (list reads folders)",
				    p->path);
	if (!S_ISREG(st.st_mode))
		return bl_error_set(err, BL_EINVAL, "params.path", "'%s' is not a regular file", p->path);
	if (fcntl(job->fd, F_SETFL, 0) != 0)
		return bl_error_set(err, -errno, "params.path", "cannot set up '%s': %s", p->path, strerror(errno));

	job->file_size = (uint64_t)st.st_size;
	if (p->offset > job->file_size)
		return bl_error_set(err, BL_EINVAL, "params.offset", "offset %llu is past the end of '%s' (%llu bytes)",
				    (unsigned long long)p->offset, p->path, (unsigned long long)job->file_size);
	uint64_t rest = job->file_size - p->offset;
	job->len = p->length < rest ? p->length : rest;
	if (job->len > job->lim->max_op_bytes)
		return bl_error_set(err, BL_ELIMIT, "params.path",
				    "'%s' has %llu bytes from the offset, more than one get may read (max_op_bytes %llu); "
				    "give params.length to read part of it",
				    p->path, (unsigned long long)job->len, (unsigned long long)job->lim->max_op_bytes);
	return 0;
}

static int begin_get(fs_job_t *job, bl_error_t *err)
{
	int rc = open_for_get(job, err);
	if (rc < 0)
		return rc;

	job->buf = bl_read_buffer_alloc(job->len, &job->owned);
	if (!job->buf)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory for %llu bytes of '%s'",
				    (unsigned long long)job->len, job->p.path);
	if (job->len == 0)
		return 0;
	rc = submit_read(job);
	return rc < 0 ? bl_error_set(err, rc, NULL, "cannot start reading '%s': %s", job->p.path, bl_strerror(rc)) : 0;
}

/* Fail a get that requested utf8 for bytes that are not text. The
 * message gives the file offset of the first byte that is not text. It
 * names the range when the job read only part of the file, because a
 * range that cuts a multi-byte character is not text even where the
 * whole file is. */
static int reject_non_text(const fs_job_t *job, bl_error_t *err)
{
	const fs_params_t *p = &job->p;
	size_t at = bl_utf8_first_fault(job->buf, job->len);
	unsigned long long offset = (unsigned long long)(p->offset + at);
	unsigned byte = at < job->len ? job->buf[at] : 0;

	if (at < job->len && byte == 0)
		return bl_error_set(err, BL_EFORMAT, "params.encoding",
				    "'%s' contains a NUL byte at offset %llu, which text cannot carry safely; request "
				    "\"encoding\": \"base64\"",
				    p->path, offset);
	if (job->len < job->file_size)
		return bl_error_set(err, BL_EFORMAT, "params.encoding",
				    "bytes %llu to %llu of '%s' are not valid UTF-8 text from offset %llu (byte 0x%02x), "
				    "possibly because the range cuts a multi-byte character; request \"encoding\": "
				    "\"base64\", or an offset and length on character boundaries",
				    (unsigned long long)p->offset, (unsigned long long)(p->offset + job->len - 1), p->path,
				    offset, byte);
	return bl_error_set(err, BL_EFORMAT, "params.encoding",
			    "'%s' is not valid UTF-8 text: byte 0x%02x at offset %llu does not start a well-formed "
			    "character; request \"encoding\": \"base64\"",
			    p->path, byte, offset);
}

/* The content string of `len` bytes at `text`, which lie in `block`
 * (taken) and are valid UTF-8: text that passed bl_utf8_is_text, or
 * base64. Where the env allows it, the string stays out of the tree:
 * the tree gets a placeholder and the outcome the text. Otherwise it is
 * copied into a json_t and the block freed. */
static json_t *content_string(fs_job_t *job, const uint8_t *text, size_t len, void *block)
{
	json_t *content = job->env->attach_text ? json_string("") : json_stringn_nocheck((const char *)text, len);

	if (content && job->env->attach_text) {
		job->attached = (fs_attached_t){
			.text = {.slot = content, .text = (const char *)text, .len = len, .checked = true}, .block = block};
		return content;
	}
	free(block);
	return content;
}

/* Turn the bytes read into the content string: text when they are UTF-8
 * without NUL bytes and the job did not ask for base64, else base64. A
 * NUL would be valid JSON ("\u0000"), but consumers that keep strings in
 * C strings would cut the text there without noticing. */
static int encode(json_t **content, const char **encoding, fs_job_t *job, bl_error_t *err)
{
	if (job->p.encoding != FS_ENCODING_BASE64) {
		if (bl_utf8_is_text(job->buf, job->len)) {
			void *block = job->owned;
			job->owned = NULL;
			*content = content_string(job, job->buf, job->len, block);
			*encoding = "utf8";
			return *content ? 0 : bl_error_set(err, BL_ENOMEM, NULL, "out of memory for '%s'", job->p.path);
		}
		if (job->p.encoding == FS_ENCODING_UTF8)
			return reject_non_text(job, err);
	}

	char *text = malloc(bl_base64_encoded_len(job->len) + 1);
	if (!text)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory encoding '%s'", job->p.path);
	bl_base64_encode(text, job->buf, job->len);
	*content = content_string(job, (const uint8_t *)text, bl_base64_encoded_len(job->len), text);
	*encoding = "base64";
	return *content ? 0 : bl_error_set(err, BL_ENOMEM, NULL, "out of memory encoding '%s'", job->p.path);
}

static void complete_get(fs_actor_state_t *state, bl_actor_t *self)
{
	fs_job_t *job = state->job;
	json_t *content = NULL;
	const char *encoding = NULL;
	bl_error_t err;

	if (encode(&content, &encoding, job, &err) < 0) {
		fail(state, self, &err);
		return;
	}
	json_t *result = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:o}", "op", "get", "path", job->p.path, "size",
				   (json_int_t)job->file_size, "offset", (json_int_t)job->p.offset, "length",
				   (json_int_t)job->len, "encoding", encoding, "content", content);
	if (!result)
		bl_error_set(&err, BL_ENOMEM, NULL, "out of memory");
	finish(state, self, result ? 0 : BL_ENOMEM, result, &err);
}

static void on_read(fs_actor_state_t *state, bl_actor_t *self, int64_t res)
{
	fs_job_t *job = state->job;
	bl_error_t err;

	if (res < 0) {
		bl_error_set(&err, (int)res, "params.path", "reading '%s' failed: %s", job->p.path, strerror((int)-res));
		fail(state, self, &err);
		return;
	}
	job->moved += (uint64_t)res;
	/* A read of 0 bytes is the end of a file that shrank meanwhile:
	 * return what there is. */
	if (res == 0)
		job->len = job->moved;
	if (job->moved == job->len) {
		complete_get(state, self);
		return;
	}
	int rc = submit_read(job);
	if (rc < 0) {
		bl_error_set(&err, rc, NULL, "cannot go on reading '%s': %s", job->p.path, bl_strerror(rc));
		fail(state, self, &err);
	}
}

/* ------------------------------------------------------------------------ */
/* put                                                                       */
/* ------------------------------------------------------------------------ */

/* Decode base64 content, or use the string's bytes as they are. */
static int take_content(fs_job_t *job, bl_error_t *err)
{
	job->len = job->p.data_len;
	if (job->p.encoding != FS_ENCODING_BASE64) {
		job->data = (const uint8_t *)job->p.content;
		return 0;
	}
	job->owned = malloc(job->len ? job->len : 1);
	job->buf = job->owned;
	if (!job->buf)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory decoding %llu bytes",
				    (unsigned long long)job->len);
	bl_base64_decode(job->buf, job->p.content, job->p.content_len);
	job->data = job->buf;
	return 0;
}

/* Look at what the put would replace. Returns the bytes of the regular
 * file there now (0 when none) through *old_size. */
static int check_target(fs_job_t *job, uint64_t *old_size, bl_error_t *err)
{
	struct stat st;
	const char *path = job->p.path;

	*old_size = 0;
	if (strcmp(job->name, ".") == 0)
		return bl_error_set(err, BL_EINVAL, "params.path", "'%s' ends in '.'; give a file name", path);
	if (fstatat(job->dir, job->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		return bl_error_set(err, -errno, "params.path", "cannot stat '%s': %s", path, strerror(errno));
	}
	job->existed = true;
	if (S_ISDIR(st.st_mode))
		return bl_error_set(err, -EISDIR, "params.path", "'%s' is a folder; put writes files", path);
	if (!job->p.overwrite)
		return bl_error_set(err, -EEXIST, "params.path", "'%s' already exists and params.overwrite is false", path);
	if (S_ISREG(st.st_mode))
		*old_size = (uint64_t)st.st_size;
	return 0;
}

static void make_temp_name(fs_job_t *job)
{
	snprintf(job->temp, sizeof job->temp, FS_TEMP_PREFIX "%ld-%u", (long)getpid(),
		 atomic_fetch_add(&temp_counter, 1u));
}

/* Create the temporary file: an unnamed O_TMPFILE inode, or a hidden
 * named file where the file system offers no O_TMPFILE. */
static int open_temp(fs_job_t *job, bl_error_t *err)
{
	job->fd = openat(job->dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (job->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return bl_error_set(err, -errno, "params.path", "cannot create a file in the folder of '%s': %s",
				    job->p.path, strerror(errno));

	/* NOTE: only file systems without O_TMPFILE (some network and FUSE
	 * ones) reach this; the tests run on ones that have it. */
	make_temp_name(job);
	job->fd = openat(job->dir, job->temp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (job->fd >= 0)
		return 0;
	int rc = -errno;
	job->temp[0] = '\0';
	return bl_error_set(err, rc, "params.path", "cannot create a file in the folder of '%s': %s", job->p.path,
			    strerror(-rc));
}

/* Submit the next write, or the fsync once everything is written. */
static int submit_write(fs_job_t *job)
{
	int rc;
	uint64_t left = job->len - job->moved;

	if (left == 0) {
		job->syncing = true;
		rc = bl_io_fsync(&job->io_id, job->fd, 0);
	} else {
		size_t chunk = left < FS_IO_CHUNK ? (size_t)left : FS_IO_CHUNK;
		rc = bl_io_write(&job->io_id, job->fd, job->data + job->moved, chunk, job->moved, 0);
	}
	job->in_flight = rc == 0;
	return rc;
}

static int begin_put(fs_job_t *job, bl_error_t *err)
{
	int rc = take_content(job, err);
	if (rc < 0)
		return rc;
	job->dir = fs_open_parent(job->env->data_dir, job->p.path, job->name, err);
	if (job->dir < 0)
		return job->dir;
	rc = fs_check_not_sql_file(job->env->data_dir, job->dir, job->name, job->p.path, "put", err);
	if (rc == 0)
		rc = check_target(job, &job->old_size, err);
	if (rc == 0)
		rc = fs_quota_reserve(job->env, job->old_size, job->len, err);
	if (rc < 0)
		return rc;
	job->reserved = true;
	rc = open_temp(job, err);
	if (rc < 0)
		return rc;

	rc = submit_write(job);
	return rc < 0 ? bl_error_set(err, rc, NULL, "cannot start writing '%s': %s", job->p.path, bl_strerror(rc)) : 0;
}

/* Give an O_TMPFILE inode the name `name` in the job's folder. Linking
 * by descriptor (AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH on kernels
 * before 6.10; the /proc/self/fd path works without it. */
static int link_tmpfile(fs_job_t *job, const char *name)
{
	char proc_path[64];

	if (linkat(job->fd, "", job->dir, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != EPERM && errno != ENOENT)
		return -errno;
	snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", job->fd);
	return linkat(AT_FDCWD, proc_path, job->dir, name, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

/* Move the named temporary file onto the target, refusing to replace one
 * unless the job allows it. */
static int rename_temp(fs_job_t *job)
{
	unsigned flags = job->p.overwrite ? 0 : RENAME_NOREPLACE;
	if (renameat2(job->dir, job->temp, job->dir, job->name, flags) != 0)
		return -errno;
	job->temp[0] = '\0';
	return 0;
}

/* Give the flushed file its real name. */
static int commit(fs_job_t *job, bl_error_t *err)
{
	int rc;

	if (job->temp[0]) {
		rc = rename_temp(job);
	} else if (!job->p.overwrite) {
		rc = link_tmpfile(job, job->name);
	} else {
		/* link(2) cannot replace a name, so the inode gets a hidden
		 * name first and that is renamed over the target. */
		make_temp_name(job);
		rc = link_tmpfile(job, job->temp);
		if (rc < 0)
			job->temp[0] = '\0';
		else
			rc = rename_temp(job);
	}

	if (rc == -EEXIST)
		return bl_error_set(err, rc, "params.path", "'%s' was created meanwhile and params.overwrite is false",
				    job->p.path);
	if (rc < 0)
		return bl_error_set(err, rc, "params.path", "cannot give '%s' its name: %s", job->p.path, strerror(-rc));
	return 0;
}

static void complete_put(fs_actor_state_t *state, bl_actor_t *self)
{
	fs_job_t *job = state->job;
	bl_error_t err;

	int rc = commit(job, &err);
	if (rc < 0) {
		fail(state, self, &err);
		return;
	}
	/* The new bytes stay counted; the replaced file's go. */
	job->reserved = false;
	fs_quota_give_back(job->env, job->old_size);
	json_t *result = json_pack("{s:s, s:s, s:I, s:b}", "op", "put", "path", job->p.path, "size",
				   (json_int_t)job->len, "created", !job->existed);
	if (!result)
		bl_error_set(&err, BL_ENOMEM, NULL, "out of memory");
	finish(state, self, result ? 0 : BL_ENOMEM, result, &err);
}

static void on_written(fs_actor_state_t *state, bl_actor_t *self, int64_t res)
{
	fs_job_t *job = state->job;
	uint64_t expected = job->len - job->moved < FS_IO_CHUNK ? job->len - job->moved : FS_IO_CHUNK;
	bl_error_t err;

	if (res < 0 || (!job->syncing && (uint64_t)res != expected)) {
		/* The pool resubmits short writes, so a short count means an
		 * error stopped the write (typically a full disk). */
		int rc = res < 0 ? (int)res : -EIO;
		bl_error_set(&err, rc, "params.path", "%s '%s' failed: %s", job->syncing ? "flushing" : "writing",
			     job->p.path, res < 0 ? strerror(-rc) : "short write (the disk may be full)");
		fail(state, self, &err);
		return;
	}
	if (job->syncing) {
		complete_put(state, self);
		return;
	}
	job->moved += (uint64_t)res;
	int rc = submit_write(job);
	if (rc < 0) {
		bl_error_set(&err, rc, NULL, "cannot go on writing '%s': %s", job->p.path, bl_strerror(rc));
		fail(state, self, &err);
	}
}

/* ------------------------------------------------------------------------ */
/* The actor                                                                 */
/* ------------------------------------------------------------------------ */

static void begin(fs_actor_state_t *state, bl_actor_t *self)
{
	fs_job_t *job = state->job;
	bl_error_t err;
	json_t *result = NULL;
	int rc;

	/* A job cancelled already gets its message at once, and handles it
	 * after this handler, with the first operation in flight. */
	bl_cancel_hook_watch(job->env->cancel_hook, self, MSG_CANCEL);
	if (bl_cancel_requested(job->env->cancel)) {
		bl_error_set(&err, BL_ECANCELED, NULL, "the job was cancelled before it started");
		fail(state, self, &err);
		return;
	}

	if (job->p.op == FS_GET)
		rc = begin_get(job, &err);
	else if (job->p.op == FS_PUT)
		rc = begin_put(job, &err);
	else
		rc = fs_meta_run(&result, &job->p, job->env, &err);

	if (rc < 0)
		fail(state, self, &err);
	else if (job->p.op == FS_GET && !job->in_flight)
		complete_get(state, self); /* an empty range: nothing to read */
	else if (!job->in_flight)
		finish(state, self, 0, result, &err);
}

static void on_cancel(fs_job_t *job)
{
	job->cancelled = true;
	/* -ENOENT: the operation has completed and its message is on the way,
	 * where the cancel is seen. */
	if (job->in_flight)
		(void)bl_io_cancel(job->io_id);
}

static void on_io(fs_actor_state_t *state, bl_actor_t *self, const bl_io_result_t *r)
{
	fs_job_t *job = state->job;
	bl_error_t err;

	job->in_flight = false;
	if (job->cancelled || bl_cancel_requested(job->env->cancel)) {
		bl_error_set(&err, BL_ECANCELED, NULL, "the job was cancelled (timeout or cancel request) during its %s",
			     fs_op_name(job->p.op));
		fail(state, self, &err);
		return;
	}
	if (job->p.op == FS_GET)
		on_read(state, self, r->res);
	else
		on_written(state, self, r->res);
}

static int fs_receive(bl_actor_t *self, void *raw, bl_msg_t *msg)
{
	fs_actor_state_t *state = raw;
	if (!state->job)
		return 0; /* reported: a late cancel means nothing */

	if (msg->type == MSG_BEGIN)
		begin(state, self);
	else if (msg->type == MSG_CANCEL)
		on_cancel(state->job);
	else if (msg->type == BL_MSG_IO)
		on_io(state, self, bl_msg_payload(msg));
	return 0;
}

/* Only a runtime shut down mid-job stops the actor before it reported;
 * its operations have been cancelled and awaited by then. */
static void fs_stop(bl_actor_t *self, void *raw, int reason)
{
	fs_actor_state_t *state = raw;
	(void)self;
	(void)reason;
	if (!state->job)
		return;
	bl_cancel_hook_unwatch(state->job->env->cancel_hook);
	release(state->job);
	state->job = NULL;
}

static const bl_behaviour_t fs_behaviour = {.name = "fs", .receive = fs_receive, .stop = fs_stop};

int fs_actor_start(const fs_params_t *p, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	fs_job_t *job = calloc(1, sizeof *job);
	if (!job)
		return BL_ENOMEM;
	*job = (fs_job_t){.p = *p, .env = env, .lim = fs_limits_of(env), .done = done, .ctx = ctx, .dir = -1, .fd = -1};

	fs_actor_state_t state = {.job = job};
	bl_actor_t *actor;
	int rc = bl_actor_spawn(&actor, env->io_pool, &fs_behaviour, &state, sizeof state);
	if (rc < 0) {
		free(job);
		return rc;
	}
	rc = bl_send_u64(actor, MSG_BEGIN, 0);
	if (rc < 0) {
		/* The actor owns the job now; stopping it frees the job. */
		bl_actor_kill(actor, rc);
	}
	bl_actor_release(&actor);
	return rc;
}
