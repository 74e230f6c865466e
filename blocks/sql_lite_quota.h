/*
 * The fs quota for the tenant's embedded SQLite database: a SQLite VFS
 * that wraps the default one and charges env's tenant for every write
 * that makes the database, its rollback journal or its WAL longer.
 */
#ifndef BL_BLOCKS_SQL_LITE_QUOTA_H
#define BL_BLOCKS_SQL_LITE_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include <beamline/blocks.h>

/* The VFS name to open the embedded database with. */
#define SQL_QUOTA_VFS "beamline-quota"

/* The quota that a statement running on this thread is charged to. */
typedef struct sql_quota_scope {
	const bl_block_env_t *env; /* borrowed for the scope's life */
	bool exceeded;             /* a write was refused: err names the quota */
	bl_error_t err;
} sql_quota_scope_t;

/* Register the VFS with SQLite, once per process. Returns 0, or BL_ENOMEM
 * when SQLite cannot. Any thread. */
int sql_quota_vfs_register(void);

/*
 * Charge the files that connections open through the VFS on this thread
 * to `env`'s tenant (borrowed) until sql_quota_leave(). A write that would
 * pass the quota fails with SQLITE_FULL and sets scope->exceeded. Writes
 * outside a scope are not charged; the next sync counts them.
 */
void sql_quota_enter(sql_quota_scope_t *scope, const bl_block_env_t *env);

/* End the calling thread's scope. */
void sql_quota_leave(void);

/*
 * Measure the database at `db_path` (its file plus "-wal", "-journal" and
 * "-shm") and set env's tenant total to match (fs_quota_sync_sqlite).
 * Missing files count 0. Returns 0, or a negative errno with *err set.
 */
int sql_quota_sync(const bl_block_env_t *env, const char *db_path, bl_error_t *err);

#endif
