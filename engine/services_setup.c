/*
 * The I/O side of a run: the config file, the state folder and the block
 * services (http, sql, approvals, fs limits) made from them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <beamline/services.h>

#include "admin.h"
#include "admin_approvals.h"
#include "admin_health.h"
#include "log.h"
#include "metrics_engine.h"
#include "run_ctx.h"

/* Config files larger than this are rejected before parsing. */
#define CONFIG_MAX_BYTES (1u << 20)

int bl__config_load(json_t **out, const char *path, bl_error_t *err)
{
	struct stat st;
	json_error_t jerr;

	*out = NULL;
	if (stat(path, &st) != 0)
		return bl_error_set(err, -errno, path, "cannot read the config file: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return bl_error_set(err, BL_EINVAL, path, "the config file is not a regular file");
	if (st.st_size > CONFIG_MAX_BYTES)
		return bl_error_set(err, BL_ELIMIT, path, "the config file is larger than %u bytes", CONFIG_MAX_BYTES);

	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return bl_error_set(err, BL_EFORMAT, path, "the config file is not valid JSON: line %d, column %d: %s",
				    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(*out))
		return bl_error_set(err, BL_EFORMAT, path, "the config must be a JSON object of sections");
	return 0;
}

/* The state folder: the configured one, or DATA_DIR/.beamline. Tenant
 * names cannot start with a dot, so no tenant folder can take its name. */
static char *state_dir(const bl_run_config_t *cfg)
{
	if (cfg->state_dir)
		return strdup(cfg->state_dir);
	size_t size = strlen(cfg->data_dir) + sizeof "/.beamline";
	char *dir = malloc(size);
	if (dir)
		snprintf(dir, size, "%s/.beamline", cfg->data_dir);
	return dir;
}

/* The services' logger: their JSON fields become the record's fields. */
static void log_for_service(int level, const char *module, const char *event, const char *corr_id, const char *msg,
			    const json_t *fields)
{
	bl_log_field_t out[16];
	size_t n = 0;
	const char *key;
	json_t *v;
	json_t *object;

	if (!bl_log_enabled((bl_log_level_t)level))
		return;
	/* jansson's iterators take a non-const object but only read it. */
	memcpy(&object, &fields, sizeof object);
	json_object_foreach(object, key, v) {
		if (n == sizeof out / sizeof *out)
			break;
		if (json_is_string(v))
			out[n++] = BL_LOG_S(key, json_string_value(v));
		else if (json_is_integer(v))
			out[n++] = BL_LOG_I(key, json_integer_value(v));
		else if (json_is_real(v))
			out[n++] = BL_LOG_D(key, json_real_value(v));
		else if (json_is_boolean(v))
			out[n++] = BL_LOG_B(key, json_is_true(v));
	}
	bl_log_write((bl_log_level_t)level, module, event, corr_id, msg, out, n);
}

/* The local run's readiness: its pools run for as long as the endpoint
 * does, since the endpoint starts after them and stops before them. */
static bool pools_ready(void *arg, char *reason, size_t size)
{
	const run_ctx_t *ctx = arg;
	if (ctx->rt && ctx->control && ctx->cpu)
		return true;
	snprintf(reason, size, "the worker pools are not running");
	return false;
}

/* Make the metrics and report every pool of the run in them. */
static int start_metrics(run_ctx_t *ctx, bl_error_t *err)
{
	bl_pool_t *pools[] = {ctx->control, ctx->cpu, ctx->gpu, ctx->io, ctx->blocking};

	int rc = bl_engine_metrics_new(&ctx->metrics, err);
	for (size_t i = 0; rc == 0 && i < sizeof pools / sizeof *pools; i++) {
		if (pools[i] && bl_engine_metrics_watch_pool(ctx->metrics, pools[i]) < 0)
			rc = bl_error_set(err, BL_ELIMIT, NULL, "too many pools for the metrics");
	}
	return rc;
}

/* Start the admin endpoint when the config has an "admin" section. */
static int start_admin(run_ctx_t *ctx, bl_error_t *err)
{
	const json_t *section = ctx->config ? json_object_get(ctx->config, "admin") : NULL;
	bl_admin_config_t cfg;

	if (!section)
		return 0;
	int rc = bl_admin_config_parse(&cfg, section, err);
	if (rc == 0)
		rc = bl_admin_new(&ctx->admin, &cfg, err);
	if (rc == 0 && bl__admin_approvals_register(ctx->admin, ctx->services->approvals) < 0)
		rc = bl_error_set(err, BL_ELIMIT, "admin", "cannot register the approvals routes");
	if (rc == 0 && bl__admin_health_register(ctx->admin, bl_engine_metrics_registry(ctx->metrics)) < 0)
		rc = bl_error_set(err, BL_ELIMIT, "admin", "cannot register the /metrics, /health and /ready routes");
	if (rc == 0)
		bl_admin_set_ready_fn(ctx->admin, pools_ready, ctx);
	if (rc == 0)
		rc = bl_admin_start(ctx->admin, err);
	if (rc < 0)
		bl_admin_free(&ctx->admin);
	return rc;
}

int bl__services_start(run_ctx_t *ctx, bl_error_t *err)
{
	/* The service mode loads the file itself and leaves only the services' sections in ctx->config. */
	int rc = ctx->cfg->config_path && !ctx->config ? bl__config_load(&ctx->config, ctx->cfg->config_path, err) : 0;
	if (rc < 0)
		return rc;

	ctx->state_dir = state_dir(ctx->cfg);
	if (!ctx->state_dir)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");

	bl_services_setup_t setup = {
		.config = ctx->config,
		.config_path = ctx->cfg->config_path,
		.rt = ctx->rt,
		.control_pool = ctx->control,
		.io_pool = ctx->io,
		.blocking_pool = ctx->blocking,
		.data_dir = ctx->cfg->data_dir,
		.state_dir = ctx->state_dir,
		.log = log_for_service,
	};
	rc = bl_block_services_new(&ctx->services, &setup, err);
	if (rc == 0)
		rc = start_metrics(ctx, err);
	if (rc == 0)
		rc = start_admin(ctx, err);
	if (rc < 0 && ctx->cfg->config_path)
		bl_error_prefix(err, "%s: ", ctx->cfg->config_path);
	return rc;
}

void bl__services_quiesce(run_ctx_t *ctx)
{
	/* The endpoint's handlers use the services: it goes first. */
	bl_admin_free(&ctx->admin);
	bl_block_services_stop(ctx->services);
}

void bl__services_stop(run_ctx_t *ctx)
{
	bl_block_services_free(&ctx->services);
	bl_engine_metrics_free(&ctx->metrics);
	json_decref(ctx->config);
	ctx->config = NULL;
	free(ctx->state_dir);
	ctx->state_dir = NULL;
}
