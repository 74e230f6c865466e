/*
 * A SQLite VFS that enforces the tenant's fs quota (fs.max_tenant_bytes)
 * on its embedded database. It passes every call to the default VFS
 * (unix on Linux). The one exception is a write that would make the main
 * database, its rollback journal or its WAL longer: it is first charged to
 * the tenant. When the quota has no room, the write fails with SQLITE_FULL
 * and SQLite rolls the statement back.
 *
 * The tenant comes from a thread-local scope, which the sql block sets
 * around each statement. Only the thread that steps a statement writes
 * these three files (SQLite's sorter threads write temporary files only),
 * so every charged write belongs to that statement. Shrinking (truncation, a deleted journal) is
 * not credited here. The sync before and after each statement measures
 * the files and corrects the total, so in between the total can only be
 * high, never low.
 * NOTE: the shared-memory file (-shm, 32 KiB per 4096 WAL frames) grows
 * through xShmMap and is counted by the syncs only.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "fs_run.h"
#include "sql_lite_quota.h"

typedef struct quota_file {
	sqlite3_file base;
	sqlite3_file *real;  /* the default VFS's file, right after this struct */
	bool charged;        /* the main database, its journal or its WAL */
} quota_file_t;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs quota_vfs;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc;
static _Thread_local sql_quota_scope_t *current_scope;

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((quota_file_t *)f)->real;
}

/* ------------------------------------------------------------------------ */
/* The file methods                                                          */
/* ------------------------------------------------------------------------ */

/* Charge the bytes by which writing `amount` bytes at `offset` lengthens
 * the file. Returns SQLITE_OK, or the code that the write fails with. */
static int charge_growth(quota_file_t *q, int amount, sqlite3_int64 offset)
{
	sql_quota_scope_t *scope = current_scope;
	sqlite3_int64 size;

	if (!q->charged || !scope)
		return SQLITE_OK;
	int rc = q->real->pMethods->xFileSize(q->real, &size);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_int64 end = offset + amount;
	if (end <= size)
		return SQLITE_OK;

	rc = fs_quota_grow_sqlite(scope->env, (uint64_t)(end - size), &scope->err);
	if (rc == BL_EQUOTA) {
		scope->exceeded = true;
		return SQLITE_FULL;
	}
	return rc < 0 ? SQLITE_IOERR_WRITE : SQLITE_OK;
}

static int q_write(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset)
{
	quota_file_t *q = (quota_file_t *)f;
	int rc = charge_growth(q, amount, offset);
	if (rc != SQLITE_OK)
		return rc;
	return q->real->pMethods->xWrite(q->real, data, amount, offset);
}

static int q_close(sqlite3_file *f)
{
	return real_of(f)->pMethods->xClose(real_of(f));
}

static int q_read(sqlite3_file *f, void *data, int amount, sqlite3_int64 offset)
{
	return real_of(f)->pMethods->xRead(real_of(f), data, amount, offset);
}

static int q_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int q_sync(sqlite3_file *f, int flags)
{
	return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int q_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int q_lock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int q_unlock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int q_check_reserved_lock(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int q_file_control(sqlite3_file *f, int op, void *arg)
{
	return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int q_sector_size(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int q_device_characteristics(sqlite3_file *f)
{
	return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int q_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
	return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}

static int q_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void q_shm_barrier(sqlite3_file *f)
{
	real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int q_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int q_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out)
{
	return real_of(f)->pMethods->xFetch(real_of(f), offset, amount, out);
}

static int q_unfetch(sqlite3_file *f, sqlite3_int64 offset, void *page)
{
	return real_of(f)->pMethods->xUnfetch(real_of(f), offset, page);
}

/* Version 3, as the unix VFS's methods; v_open() refuses a real file
 * with fewer. */
static const sqlite3_io_methods quota_methods = {
	.iVersion = 3,
	.xClose = q_close,
	.xRead = q_read,
	.xWrite = q_write,
	.xTruncate = q_truncate,
	.xSync = q_sync,
	.xFileSize = q_file_size,
	.xLock = q_lock,
	.xUnlock = q_unlock,
	.xCheckReservedLock = q_check_reserved_lock,
	.xFileControl = q_file_control,
	.xSectorSize = q_sector_size,
	.xDeviceCharacteristics = q_device_characteristics,
	.xShmMap = q_shm_map,
	.xShmLock = q_shm_lock,
	.xShmBarrier = q_shm_barrier,
	.xShmUnmap = q_shm_unmap,
	.xFetch = q_fetch,
	.xUnfetch = q_unfetch,
};

/* ------------------------------------------------------------------------ */
/* The VFS methods                                                           */
/* ------------------------------------------------------------------------ */

static int v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
	quota_file_t *q = (quota_file_t *)f;
	(void)vfs;

	q->real = (sqlite3_file *)(q + 1);
	q->charged = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL)) != 0;
	int rc = real_vfs->xOpen(real_vfs, name, q->real, flags, out_flags);

	/* The methods here forward all of version 3, which the real file
	 * must therefore have (the unix VFS's do). */
	if (q->real->pMethods && q->real->pMethods->iVersion < 3) {
		q->real->pMethods->xClose(q->real);
		q->real->pMethods = NULL;
		rc = SQLITE_CANTOPEN;
	}
	/* SQLite calls xClose whenever pMethods is set, even after a failed
	 * open, so it is set exactly when the real file needs closing. */
	f->pMethods = q->real->pMethods ? &quota_methods : NULL;
	return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
	(void)vfs;
	return real_vfs->xFullPathname(real_vfs, name, size, out);
}

static void *v_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dl_error(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	real_vfs->xDlError(real_vfs, size, out);
}

static void (*v_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void)
{
	(void)vfs;
	return real_vfs->xDlSym(real_vfs, handle, symbol);
}

static void v_dl_close(sqlite3_vfs *vfs, void *handle)
{
	(void)vfs;
	real_vfs->xDlClose(real_vfs, handle);
}

static int v_randomness(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	return real_vfs->xRandomness(real_vfs, size, out);
}

static int v_sleep(sqlite3_vfs *vfs, int microseconds)
{
	(void)vfs;
	return real_vfs->xSleep(real_vfs, microseconds);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_get_last_error(sqlite3_vfs *vfs, int size, char *out)
{
	(void)vfs;
	return real_vfs->xGetLastError(real_vfs, size, out);
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

/* The system-call overrides (xSetSystemCall and its kin) are left out:
 * they are for SQLite's own tests, and a version 2 VFS has none. */
static void register_vfs(void)
{
	register_rc = BL_ENOMEM;
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs || real_vfs->iVersion < 2)
		return;

	quota_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(quota_file_t) + real_vfs->szOsFile,
		.mxPathname = real_vfs->mxPathname,
		.zName = SQL_QUOTA_VFS,
		.xOpen = v_open,
		.xDelete = v_delete,
		.xAccess = v_access,
		.xFullPathname = v_full_pathname,
		.xDlOpen = v_dl_open,
		.xDlError = v_dl_error,
		.xDlSym = v_dl_sym,
		.xDlClose = v_dl_close,
		.xRandomness = v_randomness,
		.xSleep = v_sleep,
		.xCurrentTime = v_current_time,
		.xGetLastError = v_get_last_error,
		.xCurrentTimeInt64 = v_current_time_int64,
	};
	if (sqlite3_vfs_register(&quota_vfs, 0) == SQLITE_OK)
		register_rc = 0;
}

int sql_quota_vfs_register(void)
{
	pthread_once(&register_once, register_vfs);
	return register_rc;
}

/* ------------------------------------------------------------------------ */
/* Scopes and syncs                                                          */
/* ------------------------------------------------------------------------ */

void sql_quota_enter(sql_quota_scope_t *scope, const bl_block_env_t *env)
{
	*scope = (sql_quota_scope_t){.env = env};
	current_scope = scope;
}

void sql_quota_leave(void)
{
	current_scope = NULL;
}

int sql_quota_sync(const bl_block_env_t *env, const char *db_path, bl_error_t *err)
{
	static const char *const suffixes[] = {"", "-wal", "-journal", "-shm"};
	uint64_t total = 0;
	char path[PATH_MAX + 16];
	struct stat st;

	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
		if (lstat(path, &st) != 0) {
			if (errno == ENOENT)
				continue;
			return bl_error_set(err, -errno, NULL, "cannot measure the tenant's SQLite file %s: %s", path,
					    strerror(errno));
		}
		if (S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	return fs_quota_sync_sqlite(env, total, err);
}
