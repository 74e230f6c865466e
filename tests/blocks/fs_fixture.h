/*
 * Runs fs block jobs straight through the block interface, on a real I/O
 * pool, against a temporary folder laid out as
 *
 *   ROOT/outside.txt         a file beside the tenant folder
 *   ROOT/outside_dir/file    a folder beside it
 *   ROOT/tenant/             the tenant folder (env.data_dir)
 *
 * so that tests can check that nothing outside the tenant folder changes.
 */
#ifndef BL_TEST_FS_FIXTURE_H
#define BL_TEST_FS_FIXTURE_H

#include <beamline/services.h>

/* The text of ROOT/outside.txt and ROOT/outside_dir/file. */
#define FS_OUTSIDE_TEXT "outside: must never change\n"

typedef struct fs_fixture {
	char root[256];
	char tenant[300];
	bl_runtime_t *rt;
	bl_pool_t *io;
	bl_block_services_t services;
	bl_cancel_t cancel;
	bl_cancel_hook_t *hook;
	bl_block_env_t env;
} fs_fixture_t;

/* How one job ended: from prepare (prepared false) or from the run. */
typedef struct fs_outcome {
	bool prepared;
	int code;
	const char *error_code; /* static; NULL when the run succeeded or prepare failed */
	bool rejected;
	bl_error_t error;
	json_t *result; /* owned */
	bool attached;  /* the content came apart from the tree (env.attach_text), and is now in it */
} fs_outcome_t;

/* Make the folders and an I/O pool; skips the test when the kernel offers
 * no io_uring. */
void fs_fixture_init(fs_fixture_t *f);

/* Stop the pool and remove the folders. */
void fs_fixture_fini(fs_fixture_t *f);

/* Run one job whose params are the JSON text `params` (NUL bytes allowed
 * as \u0000) to its end: prepare, then start and wait for done. */
void fs_fixture_run(fs_fixture_t *f, fs_outcome_t *out, const char *params);

/* Run the job `params` (borrowed). When `cancel_when` is not NULL, it is
 * polled while the job runs, and the job's cancel hook fires once it
 * returns true. */
void fs_fixture_run_json(fs_fixture_t *f, fs_outcome_t *out, json_t *params, bool (*cancel_when)(const fs_fixture_t *));

/* Return whether this process has an unnamed (O_TMPFILE) file of the
 * tenant folder open with some data written: a put is mid-write. */
bool fs_put_is_writing(const fs_fixture_t *f);

/* Free what an outcome holds. */
void fs_outcome_fini(fs_outcome_t *o);

/* Write `len` bytes as TENANT/rel or ROOT/rel. */
void fs_write_file(const char *dir, const char *rel, const void *data, size_t len);

/* Read DIR/rel into a new buffer (NUL-terminated, *len without it), or
 * NULL when it does not exist. */
char *fs_read_file(const char *dir, const char *rel, size_t *len);

/* Fail the test unless the files outside the tenant folder are as the
 * fixture made them, and nothing else appeared beside the tenant folder. */
void fs_assert_outside_unchanged(const fs_fixture_t *f);

/* Return the number of entries of DIR/rel whose name starts with
 * `prefix`. */
int fs_count_names(const char *dir, const char *rel, const char *prefix);

#endif
