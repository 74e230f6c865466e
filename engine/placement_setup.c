/*
 * The device side of a run: the placement model, kept in a file between
 * runs, and the slot that opens the OpenCL device when a job first needs
 * it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <beamline/gpu.h>

#include "log.h"
#include <beamline/placement.h>
#include "run_ctx.h"

/* The model's file: the configured one, or placement.json in the cache
 * folder (created when missing). NULL keeps the model in memory only. */
static char *model_path(const bl_run_config_t *cfg)
{
	if (cfg->placement_path)
		return strdup(cfg->placement_path);

	char *dir = bl_gpu_cache_dir(NULL);
	if (!dir)
		return NULL;
	size_t size = strlen(dir) + sizeof "/placement.json";
	char *path = malloc(size);
	if (path) {
		bl_gpu_make_folders(dir); /* a folder that cannot be made shows when saving */
		snprintf(path, size, "%s/placement.json", dir);
	}
	free(dir);
	return path;
}

static void on_device_opened(void *ctx, bl_gpu_t *gpu, const bl_error_t *err)
{
	(void)ctx;
	if (gpu)
		BL_LOG(BL_LOG_INFO, "engine", "gpu_opened", NULL, NULL, BL_LOG_S("device", bl_gpu_label(gpu)),
		       BL_LOG_I("fp64", bl_gpu_has_fp64(gpu)));
	else
		BL_LOG(BL_LOG_WARN, "engine", "gpu_unavailable", NULL, err ? err->message : "no OpenCL device",
		       BL_LOG_S("consequence", "jobs with device auto run on the CPU; device gpu is rejected"));
}

/* Whether `a` and `b` name one file: the same text, or the same inode. */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	if (!a || !b)
		return false;
	if (strcmp(a, b) == 0)
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A model file the user named must not be one of the run's other files. */
static int check_named_path(const bl_run_config_t *cfg, bl_error_t *err)
{
	const char *path = cfg->placement_path;
	const char *other = same_file(path, cfg->jobs_path)	  ? "the jobs file"
			    : same_file(path, cfg->quotas_path) ? "the quota file"
			    : same_file(path, cfg->output_path) ? "the output file"
								: NULL;
	if (path[0] == '\0')
		return bl_error_set(err, BL_EINVAL, "--placement", "--placement: expected a file name, got ''");
	if (other)
		return bl_error_set(err, BL_EINVAL, "--placement", "--placement: '%s' is also %s; name a file of its own",
				    path, other);
	return 0;
}

int bl__placement_start(run_ctx_t *ctx, bl_error_t *err)
{
	const bl_run_config_t *cfg = ctx->cfg;
	bl_error_t model_err = {0};

	if (cfg->placement_path && !cfg->no_gpu && check_named_path(cfg, err) < 0)
		return err ? err->code : BL_EINVAL;
	/* Without a device there is nothing to measure or keep. */
	ctx->placement_path = cfg->no_gpu ? NULL : model_path(cfg);
	int rc = bl_placement_open(&ctx->placement, ctx->placement_path, &model_err);
	if ((rc == BL_EINVAL || rc == BL_EFORMAT) && cfg->placement_path) {
		/* A file the user named that is not a model is reported, not
		 * replaced. Only the engine's own file in the cache folder is
		 * rebuilt when it does not parse. */
		if (err)
			*err = model_err;
		bl_error_prefix(err, "--placement: ");
		return rc;
	}
	if (rc < 0) {
		bool replace = rc == BL_EFORMAT;
		BL_LOG(BL_LOG_WARN, "engine", "placement_unreadable", NULL, model_err.message,
		       BL_LOG_S("consequence", replace ? "measuring again; the file is replaced at the end of the run"
						       : "measuring again; the model is not saved"));
		if (bl_placement_open(&ctx->placement, NULL, err) < 0)
			return err ? err->code : BL_ENOMEM;
		if (replace)
			bl_placement_set_path(ctx->placement, ctx->placement_path);
	}

	bl_gpu_config_t gpu_cfg;
	bl_gpu_config_init(&gpu_cfg);
	gpu_cfg.device_index = cfg->gpu_device;
	gpu_cfg.queues = cfg->gpu_queues;
	if (bl_device_slot_new(&ctx->device, &gpu_cfg, !cfg->no_gpu, ctx->placement, on_device_opened, ctx) < 0)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	return 0;
}

void bl__placement_stop(run_ctx_t *ctx)
{
	bl_error_t err = {0};

	if (ctx->placement && bl_placement_save(ctx->placement, &err) < 0)
		BL_LOG(BL_LOG_WARN, "engine", "placement_not_saved", NULL, err.message,
		       BL_LOG_S("consequence", "the next run measures again"));
	bl_device_slot_free(&ctx->device);
	bl_placement_free(&ctx->placement);
	free(ctx->placement_path);
	ctx->placement_path = NULL;
}
