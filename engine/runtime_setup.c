/*
 * The worker pools of an engine: control, CPU, GPU, I/O and blocking.
 * Shared by the local run (run.c) and the service mode (serve.c).
 */
#include <errno.h>

#include "log.h"
#include "run_ctx.h"

/* The I/O pool, when the kernel offers io_uring (a container may forbid
 * it: the I/O blocks then fail their jobs, and the rest runs), and the
 * pool whose workers may block. */
static int start_io_pools(run_ctx_t *ctx, bl_error_t *err)
{
	bl_pool_config_t cfg;

	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = ctx->cfg->io_workers;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(ctx->rt, &cfg, &ctx->io);
	if (rc == -ENOSYS || rc == -EPERM) {
		BL_LOG(BL_LOG_WARN, "engine", "io_uring_unavailable", NULL,
		       "the kernel refuses io_uring; the fs, http and sql blocks will fail their jobs",
		       BL_LOG_S("reason", bl_strerror(rc)));
		ctx->io = NULL;
		rc = 0;
	}
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot start the I/O pool: %s", bl_strerror(rc));

	bl_pool_config_init(&cfg);
	cfg.name = "blocking";
	cfg.workers = ctx->cfg->blocking_workers;
	cfg.pin_workers = false;
	rc = bl_runtime_add_pool(ctx->rt, &cfg, &ctx->blocking);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot start the blocking pool: %s", bl_strerror(rc));
	return 0;
}

int bl__runtime_start(run_ctx_t *ctx, bl_error_t *err)
{
	bl_pool_config_t cfg;
	int rc = bl_runtime_new(&ctx->rt);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot create the runtime: %s", bl_strerror(rc));

	/* The control pool (admission, job actors, the writer) needs one
	 * unpinned worker; compute runs on the pinned CPU pool. */
	bl_pool_config_init(&cfg);
	cfg.name = "control";
	cfg.workers = 1;
	cfg.pin_workers = false;
	rc = bl_runtime_add_pool(ctx->rt, &cfg, &ctx->control);
	if (rc == 0) {
		bl_pool_config_init(&cfg);
		cfg.name = "cpu";
		cfg.workers = ctx->cfg->cpu_workers;
		rc = bl_runtime_add_pool(ctx->rt, &cfg, &ctx->cpu);
	}
	if (rc == 0 && !ctx->cfg->no_gpu) {
		/* Cheap while unused: its workers sleep until a job reaches the
		 * device. */
		bl_pool_config_init(&cfg);
		cfg.name = "gpu";
		cfg.kind = BL_POOL_GPU;
		cfg.workers = ctx->cfg->gpu_queues;
		cfg.pin_workers = false;
		rc = bl_runtime_add_pool(ctx->rt, &cfg, &ctx->gpu);
	}
	if (rc == 0)
		rc = start_io_pools(ctx, err);
	else
		bl_error_set(err, rc, NULL, "cannot start the worker pools: %s", bl_strerror(rc));
	return rc;
}
