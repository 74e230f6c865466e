/*
 * The admin HTTP endpoint: a small router on libmicrohttpd, listening on
 * loopback unless the config allows otherwise. Handlers are registered
 * per path; each returns a status and a JSON body. Today it serves
 * the approvals (admin_approvals.c) and /metrics, /health and /ready
 * (admin_health.c).
 *
 * Config section "admin":
 *   { "listen": "127.0.0.1:8481",        (port 0: any free port, logged)
 *     "token_file": "/etc/beamline/admin.token",
 *     "allow_non_loopback": false,
 *     "max_body_bytes": 65536,
 *     "metrics_require_token": false }   (true: /metrics needs the token too)
 *
 * Every route registered with `needs_token` requires the header
 * "Authorization: Bearer TOKEN", with TOKEN the token file's content
 * (surrounding white space removed): 401 without the header, 403 with a
 * wrong token. The handlers run on the endpoint's own thread, which may
 * block on file I/O; they never run on a runtime worker.
 */
#ifndef BL_ENGINE_ADMIN_H
#define BL_ENGINE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>

typedef struct bl_admin bl_admin_t;

/* The "admin" section, after validation. */
typedef struct bl_admin_config {
	char host[64];          /* an IPv4 or IPv6 address literal */
	uint16_t port;          /* 0: any free port */
	bool ipv6;
	char token_file[4096];
	bool allow_non_loopback;
	size_t max_body_bytes;
	bool metrics_require_token;
} bl_admin_config_t;

/*
 * Read the "admin" section (borrowed) into *cfg. Returns 0, or BL_EFORMAT /
 * BL_EINVAL with *err naming the key ("admin.listen"), including a
 * non-loopback address without allow_non_loopback.
 */
int bl_admin_config_parse(bl_admin_config_t *cfg, const json_t *section, bl_error_t *err);

/* One request, borrowed for the handler call. */
typedef struct bl_admin_request {
	const char *method;  /* "GET", "POST", ... */
	const char *path;    /* the whole path, e.g. "/approvals/acme:job-1" */
	const char *rest;    /* the path after the route's prefix */
	const char *body;    /* NUL-terminated; "" when none */
	size_t body_len;
} bl_admin_request_t;

/* A handler's response: `body` is taken by the router (NULL: empty).
 * A handler that answers with other than JSON sets `text` instead (taken,
 * freed with free()) and its `content_type` (a static string). */
typedef struct bl_admin_response {
	unsigned status;
	json_t *body;
	char *text;
	size_t text_len;
	const char *content_type;
} bl_admin_response_t;

typedef void (*bl_admin_handler_fn)(void *ctx, const bl_admin_request_t *req, bl_admin_response_t *res);

/* Fill *res with `status` and {"error": {"code", "message", "field"}};
 * `field` may be NULL. */
void bl_admin_error(bl_admin_response_t *res, unsigned status, const char *code, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Make an endpoint from *cfg (copied): read the token file, but do not
 * listen yet. The token file must not be readable or writable by group or
 * others, and must hold a token. Returns 0 and an owned endpoint (free
 * with bl_admin_free), or a negative code with *err naming
 * "admin.token_file".
 */
int bl_admin_new(bl_admin_t **out, const bl_admin_config_t *cfg, bl_error_t *err);

/*
 * Route requests for `path` to `handler` with `ctx` (borrowed for the
 * endpoint's life). A path ending in '/' is a prefix: "/approvals/"
 * matches "/approvals/ID", and the handler gets "ID" as `rest`. Call
 * before bl_admin_start. Returns 0, or BL_ELIMIT past 16 routes.
 */
int bl_admin_route(bl_admin_t *admin, const char *path, bool needs_token, bl_admin_handler_fn handler, void *ctx);

/* Start listening. Returns 0, or a negative code with *err naming
 * "admin.listen". */
int bl_admin_start(bl_admin_t *admin, bl_error_t *err);

/* Whether the engine is ready for work. On false, the function writes
 * why into `reason` (`size` bytes), for the /ready response. Runs on the
 * endpoint's thread, so it must not block for long. */
typedef bool (*bl_admin_ready_fn)(void *ctx, char *reason, size_t size);

/* Make `fn(ctx)` (ctx borrowed until replaced or the endpoint is freed)
 * decide /ready; NULL means never ready. Any thread, at any time. */
void bl_admin_set_ready_fn(bl_admin_t *admin, bl_admin_ready_fn fn, void *ctx);

/* Ask the readiness function; on false, *reason says why. Any thread. */
bool bl_admin_is_ready(bl_admin_t *admin, char *reason, size_t size);

/* Return the config the endpoint was made with; borrowed. */
const bl_admin_config_t *bl_admin_config(const bl_admin_t *admin);

/* Return the port the endpoint listens on; 0 before it starts. */
uint16_t bl_admin_port(const bl_admin_t *admin);

/* Stop listening, waiting for requests in progress. Takes *admin; NULL is
 * fine. */
void bl_admin_free(bl_admin_t **admin);

#endif
