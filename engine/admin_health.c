/*
 * The admin endpoint's /metrics, /health and /ready routes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_health.h"

#define REASON_MAX 256

static bool is_get(const bl_admin_request_t *req, bl_admin_response_t *res)
{
	if (strcmp(req->method, "GET") == 0)
		return true;
	bl_admin_error(res, 405, "method_not_allowed", NULL, "%s takes GET, not %s", req->path, req->method);
	return false;
}

static void get_metrics(void *ctx, const bl_admin_request_t *req, bl_admin_response_t *res)
{
	bl_metrics_t *metrics = ctx;
	char *text;
	size_t len;

	if (!is_get(req, res))
		return;
	if (bl_metrics_render(metrics, &text, &len) < 0) {
		bl_admin_error(res, 500, "out_of_memory", NULL, "out of memory rendering the metrics");
		return;
	}
	res->status = 200;
	res->text = text;
	res->text_len = len;
	res->content_type = BL_METRICS_CONTENT_TYPE;
}

static void get_health(void *ctx, const bl_admin_request_t *req, bl_admin_response_t *res)
{
	(void)ctx;
	if (!is_get(req, res))
		return;
	res->status = 200;
	res->body = json_pack("{s:s}", "status", "alive");
}

static void get_ready(void *ctx, const bl_admin_request_t *req, bl_admin_response_t *res)
{
	bl_admin_t *admin = ctx;
	char reason[REASON_MAX] = "";

	if (!is_get(req, res))
		return;
	bool ready = bl_admin_is_ready(admin, reason, sizeof reason);
	res->status = ready ? 200 : 503;
	res->body = ready ? json_pack("{s:s}", "status", "ready")
			  : json_pack("{s:s, s:s}", "status", "not_ready", "reason", reason[0] ? reason : "not ready");
}

/* The ready gauge's collector: calls the readiness function at each
 * scrape, as /ready does. */
typedef struct ready_gauge {
	bl_admin_t *admin;
	bl_metric_series_t *series;
} ready_gauge_t;

static void collect_ready(void *ctx)
{
	ready_gauge_t *g = ctx;
	char reason[REASON_MAX];
	bl_metric_set(g->series, bl_admin_is_ready(g->admin, reason, sizeof reason) ? 1 : 0);
}

static int add_ready_gauge(bl_admin_t *admin, bl_metrics_t *metrics)
{
	bl_metric_desc_t d = {.name = "beamline_engine_ready",
			      .help = "1 while /ready returns 200, else 0; read at each scrape.",
			      .type = BL_METRIC_GAUGE};
	bl_metric_t *m;
	ready_gauge_t *g = calloc(1, sizeof *g);
	if (!g)
		return BL_ENOMEM;

	int rc = bl_metrics_register(metrics, &d, &m, NULL);
	if (rc < 0) {
		free(g);
		return rc;
	}
	g->admin = admin;
	g->series = bl_metric_series(m, NULL);
	return bl_metrics_add_collector(metrics, collect_ready, g, free);
}

int bl__admin_health_register(bl_admin_t *admin, bl_metrics_t *metrics)
{
	bool token = bl_admin_config(admin)->metrics_require_token;

	int rc = add_ready_gauge(admin, metrics);
	if (rc < 0)
		return rc;
	rc = bl_admin_route(admin, "/metrics", token, get_metrics, metrics);
	if (rc == 0)
		rc = bl_admin_route(admin, "/health", false, get_health, NULL);
	if (rc == 0)
		rc = bl_admin_route(admin, "/ready", false, get_ready, admin);
	return rc;
}
