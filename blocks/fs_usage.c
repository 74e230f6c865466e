/*
 * The fs block's tenant quota: a running total of the bytes in each
 * tenant's regular files, held by the engine's services.
 *
 * A tenant's total is counted by walking its folder the first time one of
 * its puts needs it in this engine process, so a restart counts afresh.
 * After that, a put reserves its bytes before it writes, so puts running
 * at the same time cannot pass the quota together. It gives back the old
 * file's bytes once the new file replaces it, or its own if it fails. A
 * delete gives back the file's bytes.
 * The tenant's embedded SQLite database (sql/default.db and its WAL,
 * journal and shared-memory files) grows under SQLite, not under a put.
 * The sql block charges each write that grows one of its files
 * (fs_quota_grow_sqlite), and before and after each statement reports
 * their measured size (fs_quota_sync_sqlite), which corrects the total
 * for what shrank or was deleted.
 * NOTE: other files that reach a tenant folder by another way (kernel
 * outputs, an operator's copy) are not counted until the engine restarts,
 * so the total can be low by their size until then. Walking on every put
 * would be exact but costs a stat per file of the tenant on each put.
 *
 * One mutex guards the table; a folder walk runs without it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs_run.h"

#define BUCKETS 1024u

typedef struct tenant_total {
	struct tenant_total *next;
	uint64_t bytes;         /* everything, the SQLite files included */
	uint64_t sqlite_bytes;  /* the SQLite files' share of `bytes` */
	bool counted;
	bool sqlite_known;      /* sqlite_bytes has been measured since the count */
	char name[];
} tenant_total_t;

struct bl_fs_usage {
	pthread_mutex_t lock;
	tenant_total_t *buckets[BUCKETS];
};

int fs_usage_new(bl_fs_usage_t **out)
{
	bl_fs_usage_t *u = calloc(1, sizeof *u);
	if (!u)
		return BL_ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	*out = u;
	return 0;
}

void fs_usage_free(bl_fs_usage_t **usage)
{
	bl_fs_usage_t *u = *usage;
	if (!u)
		return;
	for (unsigned i = 0; i < BUCKETS; i++) {
		while (u->buckets[i]) {
			tenant_total_t *t = u->buckets[i];
			u->buckets[i] = t->next;
			free(t);
		}
	}
	pthread_mutex_destroy(&u->lock);
	free(u);
	*usage = NULL;
}

static unsigned bucket_of(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h % BUCKETS;
}

/* Find `name`'s total, adding it when `add` is set; NULL when it is not
 * there or memory runs out. */
static tenant_total_t *find_locked(bl_fs_usage_t *u, const char *name, bool add)
{
	unsigned b = bucket_of(name);
	for (tenant_total_t *t = u->buckets[b]; t; t = t->next) {
		if (strcmp(t->name, name) == 0)
			return t;
	}
	if (!add)
		return NULL;
	size_t len = strlen(name) + 1;
	tenant_total_t *t = calloc(1, sizeof *t + len);
	if (!t)
		return NULL;
	memcpy(t->name, name, len);
	t->next = u->buckets[b];
	u->buckets[b] = t;
	return t;
}

static const char *tenant_of(const bl_block_env_t *env)
{
	return env->tenant ? env->tenant : "";
}

static int quota_error(const bl_block_env_t *env, uint64_t used, uint64_t after, uint64_t max, bl_error_t *err)
{
	return bl_error_set(err, BL_EQUOTA, "params.content",
			    "the put would bring tenant '%s' to %llu bytes, over its fs quota of %llu bytes "
			    "(max_tenant_bytes); it now uses %llu",
			    tenant_of(env), (unsigned long long)after, (unsigned long long)max,
			    (unsigned long long)used);
}

/* Without a usage table (a caller with no services), count the folder on
 * every put. */
static int reserve_by_walking(const bl_block_env_t *env, uint64_t max, uint64_t old_size, uint64_t add,
			      bl_error_t *err)
{
	uint64_t used;
	int rc = fs_tenant_usage(&used, env->data_dir, err);
	if (rc < 0)
		return rc;
	uint64_t after = used - (old_size < used ? old_size : used) + add;
	return after <= max ? 0 : quota_error(env, used, after, max, err);
}

/* Count the tenant's folder, unless a put running at the same time has
 * done it first. Called without the lock. */
static int count_tenant(bl_fs_usage_t *u, const bl_block_env_t *env, bl_error_t *err)
{
	uint64_t walked;
	int rc = fs_tenant_usage(&walked, env->data_dir, err);
	if (rc < 0)
		return rc;

	pthread_mutex_lock(&u->lock);
	tenant_total_t *t = find_locked(u, tenant_of(env), true);
	if (t && !t->counted) {
		t->bytes = walked;
		t->counted = true;
	}
	pthread_mutex_unlock(&u->lock);
	return t ? 0 : bl_error_set(err, BL_ENOMEM, NULL, "out of memory counting the tenant's files");
}

/* Find env's tenant total, counting the folder first when this process
 * has not. Returns 0 with the lock held and *out set, or a negative code
 * with the lock released. */
static int lock_counted(bl_fs_usage_t *u, const bl_block_env_t *env, tenant_total_t **out, bl_error_t *err)
{
	for (;;) {
		pthread_mutex_lock(&u->lock);
		tenant_total_t *t = find_locked(u, tenant_of(env), true);
		if (t && t->counted) {
			*out = t;
			return 0;
		}
		pthread_mutex_unlock(&u->lock);
		if (!t)
			return bl_error_set(err, BL_ENOMEM, NULL, "out of memory counting the tenant's files");
		int rc = count_tenant(u, env, err);
		if (rc < 0)
			return rc;
	}
}

int fs_quota_reserve(const bl_block_env_t *env, uint64_t old_size, uint64_t add, bl_error_t *err)
{
	uint64_t max = fs_limits_of(env)->max_tenant_bytes;
	bl_fs_usage_t *u = env->services ? env->services->fs_usage : NULL;
	tenant_total_t *t;

	if (max == 0)
		return 0;
	if (!u)
		return reserve_by_walking(env, max, old_size, add, err);

	int rc = lock_counted(u, env, &t, err);
	if (rc < 0)
		return rc;
	uint64_t used = t->bytes;
	uint64_t after = used - (old_size < used ? old_size : used) + add;
	if (after <= max)
		t->bytes += add;
	pthread_mutex_unlock(&u->lock);
	return after <= max ? 0 : quota_error(env, used, after, max, err);
}

int fs_quota_sync_sqlite(const bl_block_env_t *env, uint64_t measured, bl_error_t *err)
{
	bl_fs_usage_t *u = env->services ? env->services->fs_usage : NULL;
	tenant_total_t *t;

	if (fs_limits_of(env)->max_tenant_bytes == 0 || !u)
		return 0;
	int rc = lock_counted(u, env, &t, err);
	if (rc < 0)
		return rc;

	/* The first time, the walk that counted the folder saw the files as
	 * they are now: the sql block syncs before it opens the database.
	 * NOTE: an fs delete of these files has already given their bytes
	 * back, so the difference below takes them off a second time and
	 * the total stays low by their size until a restart. */
	if (t->sqlite_known)
		t->bytes = t->bytes - (t->sqlite_bytes < t->bytes ? t->sqlite_bytes : t->bytes) + measured;
	t->sqlite_bytes = measured;
	t->sqlite_known = true;
	pthread_mutex_unlock(&u->lock);
	return 0;
}

int fs_quota_grow_sqlite(const bl_block_env_t *env, uint64_t add, bl_error_t *err)
{
	uint64_t max = fs_limits_of(env)->max_tenant_bytes;
	bl_fs_usage_t *u = env->services ? env->services->fs_usage : NULL;
	tenant_total_t *t;

	if (max == 0 || !u)
		return 0;
	int rc = lock_counted(u, env, &t, err);
	if (rc < 0)
		return rc;

	uint64_t used = t->bytes;
	bool fits = add <= max && used <= max - add;
	if (fits) {
		t->bytes += add;
		t->sqlite_bytes += add;
	}
	pthread_mutex_unlock(&u->lock);
	if (fits)
		return 0;
	return bl_error_set(err, BL_EQUOTA, "params.sql",
			    "the statement's writes to the SQLite database would bring tenant '%s' past its fs quota "
			    "of %llu bytes (fs.max_tenant_bytes); it uses %llu bytes now, files and database included",
			    tenant_of(env), (unsigned long long)max, (unsigned long long)used);
}

void fs_quota_give_back(const bl_block_env_t *env, uint64_t bytes)
{
	bl_fs_usage_t *u = env->services ? env->services->fs_usage : NULL;
	if (!u || bytes == 0)
		return;

	pthread_mutex_lock(&u->lock);
	tenant_total_t *t = find_locked(u, tenant_of(env), false);
	if (t && t->counted)
		t->bytes = t->bytes > bytes ? t->bytes - bytes : 0;
	pthread_mutex_unlock(&u->lock);
}
