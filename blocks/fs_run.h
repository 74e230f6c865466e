/*
 * The fs block's parts, shared by its files: the parsed parameters
 * (fs_params.c), the path helpers on top of openat2 (fs_path.c), the
 * metadata operations (fs_meta.c) and the actor that moves file data
 * through the I/O pool (fs_actor.c). docs/blocks/fs.md describes the block.
 */
#ifndef BL_BLOCKS_FS_RUN_H
#define BL_BLOCKS_FS_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <beamline/services.h>

/* Names starting with this are the temporary files of a put in progress:
 * list hides them and no job may name one. */
#define FS_TEMP_PREFIX ".bl-put-"

typedef enum fs_op { FS_GET, FS_PUT, FS_LIST, FS_STAT, FS_DELETE } fs_op_t;

typedef enum fs_encoding { FS_ENCODING_AUTO, FS_ENCODING_UTF8, FS_ENCODING_BASE64 } fs_encoding_t;

/* A job's parameters; the strings are borrowed from the params JSON. */
typedef struct fs_params {
	fs_op_t op;
	const char *path;       /* "" for the tenant folder itself (list, stat) */
	fs_encoding_t encoding; /* get: what to return; put: how content is given */
	uint64_t offset;        /* get */
	uint64_t length;        /* get; UINT64_MAX: to the end of the file */
	const char *content;    /* put */
	size_t content_len;     /* put: bytes of the string */
	uint64_t data_len;      /* put: bytes the file will hold (decoded) */
	bool overwrite;         /* put */
} fs_params_t;

/* The limits to use: the engine's, or the defaults when a caller gives no
 * services. Borrowed. */
const bl_fs_limits_t *fs_limits_of(const bl_block_env_t *env);

/* Open the "fs" config section `config` (NULL: defaults) into s->fs.
 * Returns 0, or BL_EINVAL with *err naming the key ("fs.max_op_bytes"). */
int bl__fs_config_open(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup,
		       bl_error_t *err);

/* Free what bl__fs_config_open made; NULL members are fine. */
void bl__fs_config_close(bl_block_services_t *s);

/* Fill *lim with the defaults documented in docs/blocks/fs.md. */
void fs_limits_default(bl_fs_limits_t *lim);

/*
 * Parse and check `params` (borrowed; *out borrows its strings). Nothing
 * touches the file system. Returns 0, or BL_EINVAL / BL_EFORMAT /
 * BL_ELIMIT with *err naming the field ("params.path").
 */
int fs_params_parse(fs_params_t *out, json_t *params, const bl_fs_limits_t *lim, bl_error_t *err);

/* Return the name of `op` ("get", ...). */
const char *fs_op_name(fs_op_t op);

/*
 * Open `path` (relative, already checked by fs_params_parse) beneath the
 * tenant folder `root` with openat2 (RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), with open(2) `flags`. Returns the descriptor or
 * a negative errno with *err naming params.path: -EXDEV for a link that
 * leads out, -ELOOP for a magic link or a link loop, -ENOENT, ...
 */
int fs_open_beneath(int root, const char *path, int flags, bl_error_t *err);

/*
 * Split `path` into its folder and its last name, and open the folder
 * beneath `root` (fs_open_beneath). Returns the folder's descriptor, to
 * be closed by the caller, and fills `name` with the last component. That
 * is "" when the path names the tenant folder itself, or "." for a path
 * ending in "/.". A path ending in '/' must name an existing folder, else
 * the call fails with -ENOTDIR or -ENOENT, as the kernel would.
 */
int fs_open_parent(int root, const char *path, char name[NAME_MAX + 1], bl_error_t *err);

/*
 * Reject a change by `op` ("put", "delete") to the sql block's embedded
 * database beneath the tenant folder `root`: the database and its -wal,
 * -shm and -journal files. `dir` and `name` come from fs_open_parent, and
 * `path` is the job's path, quoted in the message. The folder is compared
 * by device and inode, so every spelling of the path is caught. Returns 0,
 * BL_EINVAL with *err naming params.path, or a negative errno when a stat
 * fails.
 */
int fs_check_not_sql_file(int root, int dir, const char *name, const char *path, const char *op,
			  bl_error_t *err);

/*
 * Add up the sizes of the regular files beneath `root`, links not
 * followed and temporary files of puts left out. Returns 0 and the sum
 * in *out, or a negative errno / BL_ELIMIT (too deep) with *err set.
 */
int fs_tenant_usage(uint64_t *out, int root, bl_error_t *err);

/* Return a JSON string with the RFC 3339 UTC time of `ts`, e.g.
 * "2026-12-05T03:03:19.123456789Z". */
json_t *fs_time_json(const struct timespec *ts);

/* Return the type name of a st_mode: "file", "dir", "symlink" or "other". */
const char *fs_type_name(unsigned mode);

/*
 * Run a list, stat or delete of `p` in env's tenant folder; these make
 * short metadata calls only, so they run on the caller's thread. Returns
 * 0 and an owned result object in *out, or a negative code with *err
 * naming the field.
 */
int fs_meta_run(json_t **out, const fs_params_t *p, const bl_block_env_t *env, bl_error_t *err);

/* Make an empty table of tenant totals (fs_usage.c). Returns 0 and an
 * owned table (free with fs_usage_free), or BL_ENOMEM. */
int fs_usage_new(bl_fs_usage_t **out);

/* Free the table. Takes *usage; NULL is fine. */
void fs_usage_free(bl_fs_usage_t **usage);

/*
 * Reserve `add` bytes of env's tenant quota for a put that replaces a
 * file of `old_size` bytes (0: none), counting the tenant's folder first
 * when this process has not yet. Does nothing when max_tenant_bytes is 0.
 * Returns 0, BL_EQUOTA with *err saying by how much, or a negative errno
 * from the count. Any thread.
 */
int fs_quota_reserve(const bl_block_env_t *env, uint64_t old_size, uint64_t add, bl_error_t *err);

/* Give `bytes` back to env's tenant: a failed put's reservation, the old
 * file a put replaced, or a deleted file. Any thread. */
void fs_quota_give_back(const bl_block_env_t *env, uint64_t bytes);

/*
 * Set the bytes of env's embedded SQLite files (database, WAL, journal,
 * shared memory) to `measured`, adjusting the tenant's total by the
 * difference from the last sync or growth, and counting the folder first
 * when this process has not. Does nothing when max_tenant_bytes is 0.
 * Returns 0, or a negative errno / BL_ENOMEM from the count. Any thread.
 */
int fs_quota_sync_sqlite(const bl_block_env_t *env, uint64_t measured, bl_error_t *err);

/*
 * Charge `add` bytes that SQLite is about to append to one of env's
 * embedded database files. Returns 0, or BL_EQUOTA with *err naming
 * params.sql and the quota when the tenant's total would pass
 * max_tenant_bytes (nothing is charged then). Any thread.
 */
int fs_quota_grow_sqlite(const bl_block_env_t *env, uint64_t add, bl_error_t *err);

/*
 * Start the actor that runs `p` on env->io_pool. The actor reports
 * through done(ctx, outcome) exactly once. The strings of `p` (borrowed
 * from the job's params) and `env` must stay valid until done. Returns
 * 0, or BL_ENOMEM / BL_ESHUTDOWN when the actor cannot start (done is
 * then not called).
 */
int fs_actor_start(const fs_params_t *p, const bl_block_env_t *env, bl_block_done_fn done, void *ctx);

/* The content of a get kept out of its result's tree, where the env
 * allows it (bl_block_outcome_t.attached). */
typedef struct fs_attached {
	bl_json_text_t text;
	void *block; /* what text.text points into, owned; NULL: nothing attached */
} fs_attached_t;

/* Report a finished run through `done`: a result on rc == 0, else the
 * failure in *err with its error code. Takes *result, and attached's
 * block (attached may be NULL). */
void fs_report(bl_block_done_fn done, void *ctx, int rc, json_t **result, fs_attached_t *attached,
	       const bl_error_t *err);

#endif
