/*
 * The fs block: get, put, list, stat and delete of files in the tenant's
 * folder. Parameters, results and errors are in docs/blocks/fs.md; the
 * work happens in the actor of fs_actor.c, on the I/O pool.
 */
#define _GNU_SOURCE /* O_PATH */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_run.h"

/* Bytes a run uses besides the file data: the job, names, the result. */
#define FS_RUN_OVERHEAD 4096u

static const bl_fs_limits_t default_limits = {
	.max_op_bytes = 16u << 20,
	.max_tenant_bytes = UINT64_C(1) << 30,
	.max_list_entries = 1000,
	.max_path_bytes = PATH_MAX - 1,
};

void fs_limits_default(bl_fs_limits_t *lim)
{
	*lim = default_limits;
}

const bl_fs_limits_t *fs_limits_of(const bl_block_env_t *env)
{
	return env->services ? &env->services->fs : &default_limits;
}

/* Return the result code for a failure, which clients match on. */
static const char *error_code_of(int rc)
{
	switch (rc) {
	case -EXDEV:
	case -ELOOP:
		return "path_outside_tenant_folder";
	case -ENOENT:
	case -ENOTDIR:
		return "not_found";
	case -EEXIST:
		return "already_exists";
	case -EISDIR:
		return "is_a_folder";
	case -ENOTEMPTY:
		return "folder_not_empty";
	case BL_ELIMIT:
		return "limit_exceeded";
	case BL_EQUOTA:
		return "quota_exceeded";
	case BL_ECANCELED:
		return "cancelled";
	case BL_ENOMEM:
	case -ENOMEM:
		return "out_of_memory";
	case BL_EINVAL:
	case BL_EFORMAT:
		return "invalid_params";
	default:
		return "io_error";
	}
}

/* Return whether the same job may succeed if it runs again later. */
static bool is_retryable(int rc)
{
	return rc == BL_ENOMEM || rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE || rc == -EAGAIN;
}

void fs_report(bl_block_done_fn done, void *ctx, int rc, json_t **result, fs_attached_t *attached,
	       const bl_error_t *err)
{
	void *block = attached ? attached->block : NULL;
	bl_block_outcome_t *o = bl_block_outcome_new();
	if (!o) {
		json_decref(*result);
		*result = NULL;
		free(block);
		done(ctx, NULL);
		return;
	}

	o->pool = "io";
	o->code = rc;
	if (rc == 0) {
		o->result = *result;
		*result = NULL;
		if (block)
			o->attached = attached->text;
		o->attached_block = block;
	} else {
		free(block);
		o->error = *err;
		o->error_code = error_code_of(rc);
		o->retryable = is_retryable(rc);
		o->rejected = rc == BL_EQUOTA;
	}
	done(ctx, o);
}

/* The checks that need the tenant's folder and the I/O pool. */
static int check_env(const bl_block_env_t *env, bl_error_t *err)
{
	if (env->data_dir < 0)
		return bl_error_set(err, -ENOENT, "tenant",
				    "tenant '%s' has no folder in the data folder; the fs block works only inside it",
				    env->tenant ? env->tenant : "");
	if (!env->io_pool)
		return bl_error_set(err, -ENOSYS, NULL,
				    "the fs block needs io_uring, which this kernel does not offer to the engine");
	return 0;
}

/*
 * Estimate the bytes a get holds: the data read and its base64 text. Only
 * a tenant with a memory quota (mem_bytes) has its jobs' estimates
 * checked, and only then is the file looked at: the path lookup and the
 * stat cost about a quarter of a 64 KiB get. Without a quota, or when the
 * file cannot be looked at (missing, a folder), the estimate is 0. So a
 * job queued before a quota is set is not refused for a bound it does not
 * need, and a job on a missing file ends with its own error.
 * NOTE: a file that appears between this look and the run is read without
 * being counted; the run still stops at max_op_bytes.
 */
static uint64_t get_estimate(const fs_params_t *p, const bl_block_env_t *env, const bl_fs_limits_t *lim)
{
	struct stat st;
	uint64_t bytes = 0;

	if (env->device_mem_limit == 0)
		return 0;
	int fd = fs_open_beneath(env->data_dir, p->path, O_PATH, NULL);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		uint64_t rest = (uint64_t)st.st_size > p->offset ? (uint64_t)st.st_size - p->offset : 0;
		bytes = rest < p->length ? rest : p->length;
		bytes = bytes < lim->max_op_bytes ? bytes : lim->max_op_bytes;
	}
	if (fd >= 0)
		close(fd);
	return bytes + (bytes + 2) / 3 * 4;
}

static int fs_prepare(json_t *params, const bl_block_env_t *env, uint64_t *mem_estimate, bl_error_t *err)
{
	const bl_fs_limits_t *lim = fs_limits_of(env);
	fs_params_t p;

	int rc = fs_params_parse(&p, params, lim, err);
	if (rc == 0)
		rc = check_env(env, err);
	if (rc < 0)
		return rc;

	*mem_estimate = FS_RUN_OVERHEAD;
	if (p.op == FS_GET)
		*mem_estimate += get_estimate(&p, env, lim);
	else if (p.op == FS_PUT && p.encoding == FS_ENCODING_BASE64)
		*mem_estimate += p.data_len;
	else if (p.op == FS_LIST)
		*mem_estimate += (uint64_t)lim->max_list_entries * 512u;
	return 0;
}

static int fs_start(json_t *params, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	const bl_fs_limits_t *lim = fs_limits_of(env);
	fs_params_t p;
	bl_error_t err;
	json_t *none = NULL;

	/* The parameters were checked by prepare; a failure here reports. */
	int rc = fs_params_parse(&p, params, lim, &err);
	if (rc == 0)
		rc = check_env(env, &err);
	if (rc < 0) {
		fs_report(done, ctx, rc, &none, NULL, &err);
		return 0;
	}
	return fs_actor_start(&p, env, done, ctx);
}

const bl_block_t bl__fs_block = {
	.name = "fs",
	.prepare = fs_prepare,
	.start = fs_start,
	.load = BL_LOAD_IO,
};
