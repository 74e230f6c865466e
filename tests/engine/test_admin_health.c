/*
 * The /metrics, /health and /ready routes on an endpoint started in the
 * test process, with readiness functions the test controls.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "admin_health.h"
#include "http_client.h"
#include "metrics.h"

#define TOKEN "health-test-token"

typedef struct fixture {
	char dir[64];
	bl_admin_t *admin;
	bl_metrics_t *metrics;
	int port;
} fixture_t;

/* Start an endpoint on 127.0.0.1, any port, with the routes and one
 * counter at 3 in the registry. */
static void start(fixture_t *f, bool metrics_require_token)
{
	bl_admin_config_t cfg = {.port = 0, .max_body_bytes = 1024, .metrics_require_token = metrics_require_token};
	bl_metric_desc_t d = {.name = "probes_total", .help = "Probes.", .type = BL_METRIC_COUNTER};
	bl_metric_t *m;
	bl_error_t err = {0};

	snprintf(f->dir, sizeof f->dir, "/tmp/bl-health-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	snprintf(cfg.host, sizeof cfg.host, "127.0.0.1");
	snprintf(cfg.token_file, sizeof cfg.token_file, "%s/token", f->dir);
	FILE *t = fopen(cfg.token_file, "w");
	cr_assert_not_null(t);
	fputs(TOKEN "\n", t);
	fclose(t);
	chmod(cfg.token_file, 0600);

	cr_assert_eq(bl_metrics_new(&f->metrics), 0);
	cr_assert_eq(bl_metrics_register(f->metrics, &d, &m, NULL), 0);
	bl_metric_add(bl_metric_series(m, NULL), 3);
	cr_assert_eq(bl_admin_new(&f->admin, &cfg, &err), 0, "%s", err.message);
	cr_assert_eq(bl__admin_health_register(f->admin, f->metrics), 0);
	cr_assert_eq(bl_admin_start(f->admin, &err), 0, "%s", err.message);
	f->port = bl_admin_port(f->admin);
}

static void stop(fixture_t *f)
{
	char path[128];
	bl_admin_free(&f->admin);
	bl_metrics_free(&f->metrics);
	snprintf(path, sizeof path, "%s/token", f->dir);
	unlink(path);
	rmdir(f->dir);
}

static bool always_ready(void *ctx, char *reason, size_t size)
{
	(void)ctx;
	(void)reason;
	(void)size;
	return true;
}

static bool waiting_for_streams(void *ctx, char *reason, size_t size)
{
	snprintf(reason, size, "%s", (const char *)ctx);
	return false;
}

/* /metrics returns the text format with its Content-Type, without a token
 * by default. Other methods get 405. */
Test(engine_admin_health, metrics_served_as_text, .timeout = 30)
{
	fixture_t f;
	start(&f, false);

	http_reply_t get = http_request(f.port, "GET", "/metrics", NULL);
	http_reply_t post = http_request(f.port, "POST", "/metrics", NULL);

	cr_expect_eq(get.status, 200, "GET /metrics: %ld %s", get.status, get.body);
	cr_expect_str_eq(get.content_type ? get.content_type : "(none)", BL_METRICS_CONTENT_TYPE);
	cr_expect_not_null(strstr(get.body, "# TYPE probes_total counter\nprobes_total 3\n"), "%s", get.body);
	cr_expect_eq(post.status, 405, "POST /metrics: %ld %s", post.status, post.body);
	http_reply_free(&get);
	http_reply_free(&post);
	stop(&f);
}

/* With metrics_require_token, /metrics is 401 without the token, 403 with
 * a wrong one and 200 with it; /health stays open. */
Test(engine_admin_health, metrics_token_when_required, .timeout = 30)
{
	fixture_t f;
	start(&f, true);

	http_reply_t none = http_request(f.port, "GET", "/metrics", NULL);
	http_reply_t wrong = http_request(f.port, "GET", "/metrics", "not-the-token");
	http_reply_t right = http_request(f.port, "GET", "/metrics", TOKEN);
	http_reply_t health = http_request(f.port, "GET", "/health", NULL);

	cr_expect_eq(none.status, 401, "no token: %ld", none.status);
	cr_expect_eq(wrong.status, 403, "wrong token: %ld", wrong.status);
	cr_expect_eq(right.status, 200, "right token: %ld %s", right.status, right.body);
	cr_expect_eq(health.status, 200, "/health: %ld", health.status);
	http_reply_free(&none);
	http_reply_free(&wrong);
	http_reply_free(&right);
	http_reply_free(&health);
	stop(&f);
}

/* /ready follows the readiness function: 503 with no function at all,
 * 503 with the function's reason, then 200 once it returns true. /health
 * is 200 throughout. */
Test(engine_admin_health, ready_follows_readiness_function, .timeout = 30)
{
	fixture_t f;
	start(&f, false);

	http_reply_t unset = http_request(f.port, "GET", "/ready", NULL);
	bl_admin_set_ready_fn(f.admin, waiting_for_streams, (void *)"stream BEAMLINE_JOBS not verified yet");
	http_reply_t waiting = http_request(f.port, "GET", "/ready", NULL);
	bl_admin_set_ready_fn(f.admin, always_ready, NULL);
	http_reply_t ready = http_request(f.port, "GET", "/ready", NULL);
	http_reply_t health = http_request(f.port, "GET", "/health", NULL);

	cr_expect_eq(unset.status, 503, "no function: %ld %s", unset.status, unset.body);
	cr_expect_eq(waiting.status, 503, "not ready: %ld %s", waiting.status, waiting.body);
	cr_expect_str_eq(waiting.body,
			 "{\"status\":\"not_ready\",\"reason\":\"stream BEAMLINE_JOBS not verified yet\"}");
	cr_expect_eq(ready.status, 200, "ready: %ld %s", ready.status, ready.body);
	cr_expect_str_eq(ready.body, "{\"status\":\"ready\"}");
	cr_expect_eq(health.status, 200);
	cr_expect_str_eq(health.body, "{\"status\":\"alive\"}");
	http_reply_free(&unset);
	http_reply_free(&waiting);
	http_reply_free(&ready);
	http_reply_free(&health);
	stop(&f);
}
