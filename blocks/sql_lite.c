/*
 * One SQL job on SQLite. SQLite calls block, so the whole job runs as one
 * task on the blocking pool, never on a CPU or I/O worker.
 *
 * Which file: a configured database's path, or, for a job that names no
 * database, the tenant's own TENANT_FOLDER/sql/default.db (created on first
 * use, in WAL mode). A statement cannot reach another file: ATTACH is
 * refused (by the authorizer, and by a limit of 0 attached databases,
 * which also stops VACUUM INTO), symbolic links are not followed, and the
 * connection runs in SQLite's defensive mode.
 *
 * The embedded database counts towards the tenant's fs quota
 * (fs.max_tenant_bytes). It is opened through the quota VFS
 * (sql_lite_quota.c), which refuses a write that would pass the quota.
 * Its files are measured into the tenant's total before and after each
 * statement.
 *
 * Handles are kept open between jobs in a small cache keyed by tenant and
 * file name, so that settings a statement leaves on a handle (PRAGMA) stay
 * with its tenant even on a shared file; a handle is used by one job at a
 * time.
 */
#define _GNU_SOURCE /* realpath, O_NOFOLLOW */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include <beamline/json_load.h>

#include "fs_run.h"
#include "sql_embedded.h"
#include "sql_lite_quota.h"
#include "sql_run.h"

/* Idle handles kept open over all files. */
#define CACHE_IDLE_MAX 32u

/* Virtual-machine steps between two checks of the clock and the cancel
 * flag. */
#define PROGRESS_STEPS 1000

/* ------------------------------------------------------------------------ */
/* The handle cache                                                          */
/* ------------------------------------------------------------------------ */

typedef struct lite_entry {
	char *key;
	sqlite3 *db;
	struct lite_entry *next;
} lite_entry_t;

struct sql_lite_cache {
	pthread_mutex_t lock;
	lite_entry_t *idle; /* guarded by lock */
	unsigned count;     /* guarded by lock */
};

sql_lite_cache_t *sql_lite_cache_new(void)
{
	sql_lite_cache_t *cache = calloc(1, sizeof *cache);
	if (cache)
		pthread_mutex_init(&cache->lock, NULL);
	return cache;
}

void sql_lite_cache_free(sql_lite_cache_t **cache)
{
	sql_lite_cache_t *c = *cache;
	if (!c)
		return;
	while (c->idle) {
		lite_entry_t *e = c->idle;
		c->idle = e->next;
		sqlite3_close_v2(e->db);
		free(e->key);
		free(e);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cache = NULL;
}

/* Take an idle handle for `key`, or NULL when there is none. */
static sqlite3 *cache_take(sql_lite_cache_t *c, const char *key)
{
	lite_entry_t *found = NULL;

	pthread_mutex_lock(&c->lock);
	for (lite_entry_t **p = &c->idle; *p; p = &(*p)->next) {
		if (strcmp((*p)->key, key) == 0) {
			found = *p;
			*p = found->next;
			c->count--;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);

	if (!found)
		return NULL;
	sqlite3 *db = found->db;
	free(found->key);
	free(found);
	return db;
}

/* Close every idle handle for `key`. */
static void cache_drop(sql_lite_cache_t *c, const char *key)
{
	sqlite3 *db;

	while ((db = cache_take(c, key)))
		sqlite3_close_v2(db);
}

/* Keep `db` for the next job with `key`, or close it when the cache is
 * full. */
static void cache_put(sql_lite_cache_t *c, const char *key, sqlite3 *db)
{
	lite_entry_t *e = calloc(1, sizeof *e);
	if (e)
		e->key = strdup(key);
	if (!e || !e->key) {
		free(e);
		sqlite3_close_v2(db);
		return;
	}
	e->db = db;

	pthread_mutex_lock(&c->lock);
	bool room = c->count < CACHE_IDLE_MAX;
	if (room) {
		e->next = c->idle;
		c->idle = e;
		c->count++;
	}
	pthread_mutex_unlock(&c->lock);

	if (!room) {
		sqlite3_close_v2(db);
		free(e->key);
		free(e);
	}
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct lite_run {
	sql_request_t req;
	const bl_block_env_t *env;
	bl_block_done_fn done;
	void *ctx;
	const bl_sql_service_t *svc;
	uint64_t deadline_ns;
	bool timed_out;
	bool cancelled;
	bool embedded;
	bool quota;         /* the embedded database, with a tenant quota set */
	sql_quota_scope_t scope;
	char path[PATH_MAX];
	char *key;          /* the handle cache's key: tenant, newline, path */
	sqlite3 *db;
	sqlite3_stmt *stmt;
	sql_result_t result;
	sql_failure_t failure;
} lite_run_t;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Record SQLite's error `rc` on the run's handle. */
static int fail_sqlite(lite_run_t *run, int rc, const char *field)
{
	const char *message = run->db ? sqlite3_errmsg(run->db) : sqlite3_errstr(rc);
	int primary = rc & 0xff;

	if (run->scope.exceeded)
		return sql_fail(&run->failure, BL_EQUOTA, "quota_exceeded", false, "params.sql", "%s",
				run->scope.err.message);
	if (primary == SQLITE_INTERRUPT && run->timed_out)
		return sql_fail(&run->failure, BL_ETIMEDOUT, "timeout", false, "params.timeout_ms", "%s",
				"the statement ran past its timeout");
	if (primary == SQLITE_INTERRUPT)
		return sql_fail(&run->failure, BL_ECANCELED, "cancelled", false, NULL, "%s", "the job was cancelled");
	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return sql_fail(&run->failure, -EBUSY, "database_busy", true, NULL,
				"the database is locked by another writer: %s", message);
	if (primary == SQLITE_NOMEM)
		return sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "SQLite: %s", message);
	if (primary == SQLITE_TOOBIG)
		return sql_fail(&run->failure, BL_ELIMIT, "limit_exceeded", false, NULL,
				"SQLite: %s (a value may not be longer than sql.max_result_bytes, %llu bytes)", message,
				(unsigned long long)run->svc->max_result_bytes);
	if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL ||
	    primary == SQLITE_CORRUPT || primary == SQLITE_READONLY || primary == SQLITE_NOTADB)
		return sql_fail(&run->failure, -EIO, "io_error", primary == SQLITE_IOERR, NULL, "SQLite: %s", message);
	return sql_fail(&run->failure, BL_EINVAL, "sql_error", false, field, "SQLite error: %s", message);
}

/* The progress handler: a non-zero return interrupts the statement. */
static int check_progress(void *arg)
{
	lite_run_t *run = arg;
	if (bl_cancel_requested(run->env->cancel)) {
		run->cancelled = true;
		return 1;
	}
	if (now_ns() > run->deadline_ns) {
		run->timed_out = true;
		return 1;
	}
	return 0;
}

/* Pragmas that reach past the job's own handle when they set a value: the
 * heap limits and temporary folders are the whole process's (a tenant's
 * hard_heap_limit would starve every other tenant's SQLite), and the
 * journal and locking modes are the file's. */
static bool is_shared_pragma(const char *name)
{
	static const char *const shared[] = {"hard_heap_limit", "soft_heap_limit", "temp_store_directory",
					     "data_store_directory", "journal_mode", "locking_mode"};

	for (size_t i = 0; i < sizeof shared / sizeof *shared; i++) {
		if (strcasecmp(name, shared[i]) == 0)
			return true;
	}
	return false;
}

/* Refuse to open or name another database file from SQL, to change what
 * other handles share, or to read fts3_tokenizer's pointers. */
static int authorize(void *arg, int action, const char *a, const char *b, const char *c, const char *d)
{
	(void)arg, (void)c, (void)d;
	if (action == SQLITE_ATTACH || action == SQLITE_DETACH)
		return SQLITE_DENY;
	if (action == SQLITE_PRAGMA && a && b && is_shared_pragma(a))
		return SQLITE_DENY;
	if (action == SQLITE_FUNCTION && b && strcasecmp(b, "fts3_tokenizer") == 0)
		return SQLITE_DENY;
	return SQLITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */
/* ------------------------------------------------------------------------ */

/* Find TENANT_FOLDER/sql/default.db, making the folder on first use. */
static int embedded_path(lite_run_t *run)
{
	int dir = run->env->data_dir;
	char link[64], base[PATH_MAX];
	struct stat st;

	if (dir < 0)
		return sql_fail(
			&run->failure, BL_EINVAL, "invalid_params", false, "params.database",
			"the embedded SQLite database lives in the tenant's folder, and tenant '%s' has none in "
			"the data folder; create it or name a configured database",
			run->env->tenant);
	if (mkdirat(dir, SQL_EMBEDDED_FOLDER, 0700) != 0 && errno != EEXIST)
		return sql_fail(&run->failure, -errno, "io_error", false, NULL,
				"cannot make the tenant's sql folder: %s", strerror(errno));
	if (fstatat(dir, SQL_EMBEDDED_FOLDER, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
		return sql_fail(&run->failure, -ENOTDIR, "io_error", false, NULL, "%s",
				"the tenant's 'sql' entry is not a folder (a symbolic link is not followed)");

	/* The folder's real name, so a cached handle never depends on a
	 * descriptor that another job may reuse. */
	snprintf(link, sizeof link, "/proc/self/fd/%d", dir);
	if (!realpath(link, base))
		return sql_fail(&run->failure, -errno, "io_error", false, NULL,
				"cannot resolve the tenant's folder: %s", strerror(errno));
	int n = snprintf(run->path, sizeof run->path, "%s/%s/%s", base, SQL_EMBEDDED_FOLDER, SQL_EMBEDDED_FILE);
	if (n < 0 || (size_t)n >= sizeof run->path)
		return sql_fail(&run->failure, -ENAMETOOLONG, "io_error", false, NULL, "%s",
				"the tenant's folder name is too long");
	run->embedded = true;
	return 0;
}

/* Return whether the database file that `db` has open no longer has its
 * name: deleted, or replaced by another file. SQLite's unix VFS compares
 * the inode that the path names now with the one it opened. */
static bool has_moved(sqlite3 *db)
{
	int moved = 0;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
		return false;
	return moved != 0;
}

/* Take a cached handle for the run's key. A handle whose file was deleted
 * or replaced is closed, with every idle one for the same file, so that
 * the job opens the file the path names now. Writes into an unlinked file
 * would be lost at the next start, and the quota, which measures files by
 * name, would not count them. Closing the old handles first lets SQLite
 * checkpoint into the old file and remove the old -wal and -shm files,
 * which a new database of the same name must not adopt. */
static sqlite3 *take_cached(lite_run_t *run)
{
	sqlite3 *db = cache_take(run->svc->lite, run->key);

	if (!db || !has_moved(db))
		return db;
	sqlite3_close_v2(db);
	cache_drop(run->svc->lite, run->key);
	/* NOTE: a handle that another job of the tenant is using at this
	 * moment stays open on the old file until that job ends. */
	return NULL;
}

static int open_handle(lite_run_t *run)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
		    (run->embedded ? SQLITE_OPEN_CREATE : 0);

	size_t key_size = strlen(run->env->tenant) + strlen(run->path) + 2;
	run->key = malloc(key_size);
	if (!run->key)
		return sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s", "out of memory");
	snprintf(run->key, key_size, "%s\n%s", run->env->tenant, run->path);
	run->db = take_cached(run);
	if (run->db)
		return 0;

	int rc = sqlite3_open_v2(run->path, &run->db, flags, run->embedded ? SQL_QUOTA_VFS : NULL);
	if (rc != SQLITE_OK) {
		sql_fail(&run->failure, -EIO, "io_error", false, NULL, "cannot open the SQLite database %s: %s",
			 run->embedded ? "of the tenant" : run->req.database->name,
			 run->db ? sqlite3_errmsg(run->db) : sqlite3_errstr(rc));
		sqlite3_close_v2(run->db);
		run->db = NULL;
		return run->failure.code;
	}
	sqlite3_extended_result_codes(run->db, 1);
	sqlite3_limit(run->db, SQLITE_LIMIT_ATTACHED, 0);
	/* No value may grow past what one result may hold, so that one job
	 * cannot build gigabytes (randomblob, printf) that it could never
	 * return: SQLite fails such a statement with SQLITE_TOOBIG. */
	sqlite3_limit(run->db, SQLITE_LIMIT_LENGTH,
		      run->svc->max_result_bytes < INT_MAX ? (int)run->svc->max_result_bytes : INT_MAX);
	sqlite3_db_config(run->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(run->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	if (run->embedded)
		sqlite3_exec(run->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	/* Last: the authorizer refuses the journal mode pragma above. */
	sqlite3_set_authorizer(run->db, authorize, NULL);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Preparing and binding                                                     */
/* ------------------------------------------------------------------------ */

/* Skip white space and SQL comments; return where the next token starts. */
static const char *skip_blank(const char *p, const char *end)
{
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ';') {
			p++;
		} else if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
		} else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			const char *close = p + 2;
			while (close + 1 < end && !(close[0] == '*' && close[1] == '/'))
				close++;
			p = close + 1 < end ? close + 2 : end;
		} else {
			break;
		}
	}
	return p;
}

static int prepare(lite_run_t *run)
{
	const char *tail = NULL;
	const char *end = run->req.sql + run->req.sql_len;

	int rc = sqlite3_prepare_v3(run->db, run->req.sql, (int)run->req.sql_len, 0, &run->stmt, &tail);
	if (rc != SQLITE_OK)
		return fail_sqlite(run, rc, "params.sql");
	if (!run->stmt)
		return sql_fail(&run->failure, BL_EFORMAT, "invalid_params", false, "params.sql", "%s",
				"the statement is empty (only white space or comments)");
	if (tail && skip_blank(tail, end) < end) {
		return sql_fail(&run->failure, BL_EFORMAT, "invalid_params", false, "params.sql",
				"more than one statement: the first ends at byte %td; send one statement per job",
				tail - run->req.sql);
	}
	return 0;
}

/* The job parameter (1-based) that SQLite parameter `index` stands for:
 * "?" takes its position, "?N" and "$N" take N. Returns 0 with a name
 * that is not a number. */
static long param_number(sqlite3_stmt *stmt, int index)
{
	const char *name = sqlite3_bind_parameter_name(stmt, index);
	if (!name)
		return index;
	if ((name[0] != '$' && name[0] != '?') || !name[1])
		return 0;

	char *end;
	long n = strtol(name + 1, &end, 10);
	return *end || n < 1 ? 0 : n;
}

static int bind_value(lite_run_t *run, int index, json_t *v)
{
	if (json_is_null(v))
		return sqlite3_bind_null(run->stmt, index);
	if (json_is_boolean(v))
		return sqlite3_bind_int(run->stmt, index, json_is_true(v));
	if (json_is_integer(v))
		return sqlite3_bind_int64(run->stmt, index, json_integer_value(v));
	if (json_is_real(v))
		return sqlite3_bind_double(run->stmt, index, json_real_value(v));
	if (json_is_string(v))
		return sqlite3_bind_text64(run->stmt, index, json_string_value(v), json_string_length(v), SQLITE_STATIC,
					   SQLITE_UTF8);

	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		return SQLITE_NOMEM;
	return sqlite3_bind_text64(run->stmt, index, text, strlen(text), free, SQLITE_UTF8);
}

static int bind_params(lite_run_t *run)
{
	size_t given = run->req.params ? json_array_size(run->req.params) : 0;
	int count = sqlite3_bind_parameter_count(run->stmt);
	long highest = 0;

	for (int i = 1; i <= count; i++) {
		long n = param_number(run->stmt, i);
		if (n == 0)
			return sql_fail(&run->failure, BL_EFORMAT, "invalid_params", false, "params.sql",
					"named parameter '%s' is not supported; number the parameters $1, $2, ...",
					sqlite3_bind_parameter_name(run->stmt, i));
		highest = n > highest ? n : highest;
		if ((size_t)n > given)
			continue;
		int rc = bind_value(run, i, json_array_get(run->req.params, (size_t)n - 1));
		if (rc != SQLITE_OK)
			return fail_sqlite(run, rc, "params.params");
	}
	if ((size_t)highest != given) {
		return sql_fail(&run->failure, BL_EFORMAT, "invalid_params", false, "params.params",
				"the statement takes %ld parameters and the job gives %zu", highest, given);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading rows                                                              */
/* ------------------------------------------------------------------------ */

static bool decltype_is(sqlite3_stmt *stmt, int col, const char *a, const char *b)
{
	const char *t = sqlite3_column_decltype(stmt, col);
	return t && (strcasecmp(t, a) == 0 || strcasecmp(t, b) == 0);
}

static int add_columns(lite_run_t *run, bool have_row)
{
	static const char *const classes[] = {"", "integer", "real", "text", "blob", "null"};
	char type[64];

	for (int c = 0; c < sqlite3_column_count(run->stmt); c++) {
		const char *decl = sqlite3_column_decltype(run->stmt, c);
		if (decl) {
			size_t i = 0;
			for (; decl[i] && i + 1 < sizeof type; i++)
				type[i] = (char)(decl[i] >= 'A' && decl[i] <= 'Z' ? decl[i] - 'A' + 'a' : decl[i]);
			type[i] = '\0';
		} else {
			snprintf(type, sizeof type, "%s",
				 have_row ? classes[sqlite3_column_type(run->stmt, c)] : "any");
		}
		if (sql_result_add_column(&run->result, sqlite3_column_name(run->stmt, c), type) < 0)
			return -1;
	}
	return 0;
}

static json_t *column_value(lite_run_t *run, int c)
{
	sqlite3_stmt *stmt = run->stmt;

	switch (sqlite3_column_type(stmt, c)) {
	case SQLITE_INTEGER:
		if (decltype_is(stmt, c, "BOOLEAN", "BOOL"))
			return json_boolean(sqlite3_column_int64(stmt, c) != 0);
		return json_integer(sqlite3_column_int64(stmt, c));
	case SQLITE_FLOAT:
		return sql_json_double(sqlite3_column_double(stmt, c));
	case SQLITE_BLOB:
		return sql_json_base64(sqlite3_column_blob(stmt, c), (size_t)sqlite3_column_bytes(stmt, c));
	case SQLITE_TEXT: {
		const char *text = (const char *)sqlite3_column_text(stmt, c);
		size_t len = (size_t)sqlite3_column_bytes(stmt, c);
		json_t *v = NULL;
		if (decltype_is(stmt, c, "JSON", "JSONB"))
			v = bl_json_loadb(text, len, JSON_DECODE_ANY, NULL);
		if (!v)
			v = json_stringn(text, len);
		if (!v)
			sql_fail(&run->failure, BL_EFORMAT, "sql_error", false, NULL,
				 "column '%s' holds text that is not valid UTF-8; "
				 "read it as a BLOB (CAST(x AS BLOB)) to get base64",
				 sqlite3_column_name(stmt, c));
		return v;
	}
	default:
		return json_null();
	}
}

static int add_row(lite_run_t *run)
{
	int n = sqlite3_column_count(run->stmt);
	uint64_t bytes = 0;
	for (int c = 0; c < n; c++)
		bytes += (uint64_t)sqlite3_column_bytes(run->stmt, c) + 1;
	if (!sql_result_room(&run->result, bytes))
		return 1;

	json_t *row = json_array();
	for (int c = 0; row && c < n; c++) {
		json_t *v = column_value(run, c);
		if (!v || json_array_append_new(row, v) < 0) {
			json_decref(row);
			row = NULL;
		}
	}
	if (!row || sql_result_add_row(&run->result, row, bytes) < 0)
		return run->failure.code < 0 ? run->failure.code
					     : sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s",
							"out of memory building the result");
	return 0;
}

/* Step until done, the row cap, or a failure. One step past the cap tells
 * whether more rows existed, and the statement stops there. */
static int step_rows(lite_run_t *run)
{
	sqlite3_int64 before = sqlite3_total_changes64(run->db);
	int rc;

	while ((rc = sqlite3_step(run->stmt)) == SQLITE_ROW) {
		if (!sql_result_has_columns(&run->result) && add_columns(run, true) < 0)
			return sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s", "out of memory");
		int added = add_row(run);
		if (added < 0)
			return added;
		if (added > 0)
			return 0; /* truncated */
	}
	if (rc != SQLITE_DONE)
		return fail_sqlite(run, rc, "params.sql");
	if (!sql_result_has_columns(&run->result) && add_columns(run, false) < 0)
		return sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s", "out of memory");
	/* changes() keeps the count of the last INSERT, UPDATE or DELETE, so
	 * it counts only when this statement changed something. */
	if (sqlite3_total_changes64(run->db) != before)
		run->result.affected = sqlite3_changes64(run->db);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The task                                                                  */
/* ------------------------------------------------------------------------ */

/* Give the handle back clean: no statement, no open transaction (a job's
 * BEGIN without COMMIT is rolled back), no progress handler. */
static void release_handle(lite_run_t *run)
{
	sqlite3_finalize(run->stmt);
	run->stmt = NULL;
	if (!run->db)
		return;
	sqlite3_progress_handler(run->db, 0, NULL, NULL);
	if (!sqlite3_get_autocommit(run->db))
		sqlite3_exec(run->db, "ROLLBACK", NULL, NULL, NULL);
	cache_put(run->svc->lite, run->key, run->db);
	run->db = NULL;
}

/* Set up the quota VFS and count the embedded database's files into the
 * tenant's total, before the database is opened or created. */
static int begin_quota(lite_run_t *run)
{
	bl_error_t err = {0};

	if (sql_quota_vfs_register() < 0)
		return sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s",
				"SQLite cannot register the quota VFS");
	run->quota = fs_limits_of(run->env)->max_tenant_bytes > 0;
	if (run->quota && sql_quota_sync(run->env, run->path, &err) < 0)
		return sql_fail(&run->failure, err.code, "io_error", true, NULL, "%s", err.message);
	return 0;
}

/* Step the statement, charging what it writes to the tenant's quota. */
static void run_statement(lite_run_t *run)
{
	if (run->quota)
		sql_quota_enter(&run->scope, run->env);
	step_rows(run);
	if (run->quota)
		sql_quota_leave();
}

/* Measure the files again: the statement may have shrunk them, and a
 * write that failed after its charge left the total high. */
static void end_quota(lite_run_t *run)
{
	bl_error_t err = {0};

	if (run->quota)
		(void)sql_quota_sync(run->env, run->path, &err);
}

/* Free a run that will not run or has run. */
static void lite_run_free(lite_run_t *run)
{
	sql_result_fini(&run->result);
	free(run->key);
	free(run);
}

/* Free a run that will not run because the runtime stopped first. Its
 * job's actor is freed by the runtime too, so no outcome is awaited. */
static void lite_drop(void *arg)
{
	lite_run_free(arg);
}

static void lite_task(void *arg)
{
	lite_run_t *run = arg;
	run->deadline_ns = now_ns() + run->req.timeout_ms * 1000000u;

	int rc = run->req.database ? 0 : embedded_path(run);
	if (rc == 0 && run->embedded)
		rc = begin_quota(run);
	if (rc == 0)
		rc = open_handle(run);
	if (rc == 0) {
		sqlite3_busy_timeout(run->db, (int)run->svc->busy_timeout_ms);
		sqlite3_progress_handler(run->db, PROGRESS_STEPS, check_progress, run);
		rc = prepare(run);
	}
	if (rc == 0)
		rc = bind_params(run);
	if (rc == 0)
		run_statement(run);
	release_handle(run);
	end_quota(run);

	bl_block_outcome_t *o = sql_outcome_make(&run->failure, &run->result, "blocking");
	bl_block_done_fn done = run->done;
	void *ctx = run->ctx;
	lite_run_free(run);
	done(ctx, o);
}

int sql_lite_start(const sql_request_t *req, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	const bl_sql_service_t *svc = env->services->sql;
	lite_run_t *run = calloc(1, sizeof *run);
	if (!run)
		return BL_ENOMEM;

	run->req = *req;
	run->env = env;
	run->done = done;
	run->ctx = ctx;
	run->svc = svc;
	if (req->database)
		snprintf(run->path, sizeof run->path, "%s", req->target->path);
	if (sql_result_init(&run->result, req->max_rows, svc->max_result_bytes) < 0) {
		free(run);
		return BL_ENOMEM;
	}
	int rc = bl_pool_submit_with_drop(env->blocking_pool, lite_task, lite_drop, run);
	if (rc < 0)
		lite_run_free(run);
	return rc;
}
