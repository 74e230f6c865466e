/*
 * The operations routes of the admin endpoint (admin_health.c):
 *
 *   GET /metrics  the registry in the Prometheus text format; without a
 *                 token unless "metrics_require_token" is true
 *   GET /health   200 {"status":"alive"} while the process serves requests
 *   GET /ready    200 {"status":"ready"} when the readiness function (see
 *                 bl_admin_set_ready_fn) returns true, else 503
 *                 {"status":"not_ready","reason":"..."}
 *
 * /health and /ready never need the token, since orchestrators probe them
 * without one. Other methods than GET get 405.
 */
#ifndef BL_ENGINE_ADMIN_HEALTH_H
#define BL_ENGINE_ADMIN_HEALTH_H

#include "admin.h"
#include "metrics.h"

/* Route /metrics to `metrics` (borrowed for the endpoint's life), and
 * /health and /ready, and add the gauge beamline_engine_ready to
 * `metrics`, which must outlive the endpoint. Call before the first
 * render. Returns 0, BL_ELIMIT (routes full), BL_EINVAL (the gauge is
 * already registered) or BL_ENOMEM. */
int bl__admin_health_register(bl_admin_t *admin, bl_metrics_t *metrics);

#endif
