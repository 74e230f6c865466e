/*
 * The admin endpoint: token, router and libmicrohttpd daemon.
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the headers, once per piece of body, and once more when the body
 * is complete. The token and the declared body size are checked on the
 * first call, so a request that will be refused is answered before its
 * body is read; the route runs on the last call.
 */
#define _GNU_SOURCE /* O_CLOEXEC */

#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define ROUTES_MAX 16

/* Connections open at once. The epoll loop's cost does not grow with idle
 * connections, so the bound is memory and descriptors: each connection
 * uses one descriptor and MHD's per-connection buffer (32 KiB). The limit
 * is the smallest of CONNECTION_LIMIT and a quarter of the soft
 * RLIMIT_NOFILE, but at least CONNECTION_MIN, so that slow clients leave
 * three quarters of the descriptors to jobs, tenant folders and NATS. */
#define CONNECTION_LIMIT 1024u
#define CONNECTION_MIN 8u

/* Seconds of silence after which a connection is closed. The timeout is
 * short until the request's headers are complete, so that clients that
 * connect and send nothing cannot keep every slot. It is longer once a
 * request is under way, for a slow body or a keep-alive wait. */
#define HEADER_TIMEOUT_S 2u
#define REQUEST_TIMEOUT_S 10u
/* NOTE: these count silence, since libmicrohttpd 0.9.75 has no deadline
 * for the headers. A client that sends a byte every second keeps its
 * slot, and enough of them to reach the connection limit would lock other
 * clients out again, though not take the descriptors that jobs need. */
#define TOKEN_MAX_BYTES 4096
#define BODY_TOO_LARGE "the request body is over the limit (admin.max_body_bytes)"

typedef struct route {
	char path[64];
	bool prefix;
	bool needs_token;
	bl_admin_handler_fn handler;
	void *ctx;
} route_t;

struct bl_admin {
	bl_admin_config_t cfg;
	char *token;
	size_t token_len;
	route_t routes[ROUTES_MAX];
	unsigned route_count;
	struct MHD_Daemon *daemon;
	uint16_t port;

	/* The readiness function may be replaced while requests run. */
	pthread_mutex_t ready_lock;
	bl_admin_ready_fn ready_fn;
	void *ready_ctx;
};

/* One request in progress: its route and its body so far. */
typedef struct pending {
	const route_t *route;
	char *body;
	size_t len;
	bool too_large;
} pending_t;

/* ------------------------------------------------------------------------ */
/* Token                                                                     */
/* ------------------------------------------------------------------------ */

/* Read the token: the file's text without surrounding white space. */
static int load_token(bl_admin_t *a, bl_error_t *err)
{
	const char *path = a->cfg.token_file;
	struct stat st;
	char buf[TOKEN_MAX_BYTES + 1];

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return bl_error_set(err, -errno, "admin.token_file", "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return bl_error_set(err, BL_EINVAL, "admin.token_file",
				    "%s must be a regular file that only its owner can read (chmod 600), got mode %04o",
				    path, (unsigned)(st.st_mode & 07777));
	}
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0 || n > TOKEN_MAX_BYTES)
		return bl_error_set(err, n < 0 ? -errno : BL_ELIMIT, "admin.token_file",
				    "cannot read a token of at most %u bytes from %s", TOKEN_MAX_BYTES, path);

	size_t start = 0, end = (size_t)n;
	while (start < end && strchr(" \t\r\n", buf[start]))
		start++;
	while (end > start && strchr(" \t\r\n", buf[end - 1]))
		end--;
	if (end == start)
		return bl_error_set(err, BL_EINVAL, "admin.token_file", "%s holds no token", path);

	a->token = strndup(buf + start, end - start);
	a->token_len = end - start;
	return a->token ? 0 : bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
}

/* Compare without an early exit, so the time taken does not tell how
 * much of a guess was right. The length difference is folded in too. */
static bool token_matches(const bl_admin_t *a, const char *given)
{
	size_t len = strlen(given);
	unsigned char diff = (unsigned char)(len != a->token_len);
	for (size_t i = 0; i < a->token_len; i++)
		diff |= (unsigned char)(a->token[i] ^ (i < len ? given[i] : 0));
	return diff == 0;
}

/* Return 0 when the request carries the token, else 401 or 403. */
static unsigned check_token(const bl_admin_t *a, struct MHD_Connection *c)
{
	const char *header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!header || strncmp(header, "Bearer ", 7) != 0)
		return MHD_HTTP_UNAUTHORIZED;
	return token_matches(a, header + 7) ? 0 : MHD_HTTP_FORBIDDEN;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

void bl_admin_error(bl_admin_response_t *res, unsigned status, const char *code, const char *field,
		    const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);

	json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
	if (e && field)
		json_object_set_new(e, "field", json_string(field));
	json_decref(res->body);
	res->status = status;
	res->body = e ? json_pack("{s:o}", "error", e) : NULL;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	size_t len = text ? strlen(text) : 0;
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text ? text : (char *)"", MHD_RESPMEM_MUST_COPY);
	free(text);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

/* Send a handler's text body as it is. */
static enum MHD_Result send_text(struct MHD_Connection *c, bl_admin_response_t *res)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(res->text_len, res->text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(res->text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type ? res->content_type : "text/plain");
	enum MHD_Result ok = MHD_queue_response(c, res->status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *message)
{
	bl_admin_response_t res = {0};
	bl_admin_error(&res, status, code, NULL, "%s", message);
	return send_json(c, res.status, res.body);
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                   */
/* ------------------------------------------------------------------------ */

int bl_admin_route(bl_admin_t *admin, const char *path, bool needs_token, bl_admin_handler_fn handler, void *ctx)
{
	if (admin->route_count == ROUTES_MAX || strlen(path) >= sizeof admin->routes[0].path)
		return BL_ELIMIT;
	route_t *r = &admin->routes[admin->route_count++];
	snprintf(r->path, sizeof r->path, "%s", path);
	r->prefix = path[strlen(path) - 1] == '/';
	r->needs_token = needs_token;
	r->handler = handler;
	r->ctx = ctx;
	return 0;
}

static const route_t *find_route(const bl_admin_t *a, const char *url)
{
	for (unsigned i = 0; i < a->route_count; i++) {
		const route_t *r = &a->routes[i];
		size_t n = strlen(r->path);
		if (r->prefix ? strncmp(url, r->path, n) == 0 && url[n] != '\0' : strcmp(url, r->path) == 0)
			return r;
	}
	return NULL;
}

/* The first call of a request, once its headers are complete: give the
 * connection the longer timeout, pick the route, check the token and the
 * declared size. Sets *state and returns MHD_YES to go on reading, or
 * queues the refusal. */
static enum MHD_Result begin(bl_admin_t *a, struct MHD_Connection *c, const char *url, void **state)
{
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, REQUEST_TIMEOUT_S);
	const route_t *route = find_route(a, url);
	if (!route)
		return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such path on the admin endpoint");

	unsigned refused = route->needs_token ? check_token(a, c) : 0;
	if (refused)
		return send_error(c, refused, refused == MHD_HTTP_UNAUTHORIZED ? "unauthorized" : "forbidden",
				  refused == MHD_HTTP_UNAUTHORIZED ? "missing \"Authorization: Bearer TOKEN\""
								   : "the bearer token is wrong");

	const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length && strtoull(length, NULL, 10) > a->cfg.max_body_bytes)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large", BODY_TOO_LARGE);

	pending_t *p = calloc(1, sizeof *p);
	if (!p)
		return MHD_NO;
	p->route = route;
	*state = p;
	return MHD_YES;
}

/* Append a piece of body, or note that it is too large. */
static void take_body(bl_admin_t *a, pending_t *p, const char *data, size_t size)
{
	if (p->too_large || p->len + size > a->cfg.max_body_bytes) {
		p->too_large = true;
		return;
	}
	char *grown = realloc(p->body, p->len + size + 1);
	if (!grown) {
		p->too_large = true;
		return;
	}
	memcpy(grown + p->len, data, size);
	p->body = grown;
	p->len += size;
	p->body[p->len] = '\0';
}

static enum MHD_Result finish(struct MHD_Connection *c, const pending_t *p, const char *url, const char *method)
{
	if (p->too_large)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large", BODY_TOO_LARGE);

	bl_admin_request_t req = {
		.method = method,
		.path = url,
		.rest = url + strlen(p->route->path),
		.body = p->body ? p->body : "",
		.body_len = p->len,
	};
	bl_admin_response_t res = {.status = MHD_HTTP_OK};
	if (!p->route->prefix)
		req.rest = "";
	p->route->handler(p->route->ctx, &req, &res);
	if (res.text) {
		json_decref(res.body);
		return send_text(c, &res);
	}
	return send_json(c, res.status, res.body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **state)
{
	bl_admin_t *a = cls;
	(void)version;

	if (!*state)
		return begin(a, c, url, state);
	pending_t *p = *state;
	if (*upload_data_size > 0) {
		take_body(a, p, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return finish(c, p, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)c;
	(void)why;
	pending_t *p = *state;
	if (!p)
		return;
	free(p->body);
	free(p);
	*state = NULL;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */
/* ------------------------------------------------------------------------ */

int bl_admin_new(bl_admin_t **out, const bl_admin_config_t *cfg, bl_error_t *err)
{
	*out = NULL;
	bl_admin_t *a = calloc(1, sizeof *a);
	if (!a)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory making the admin endpoint");
	a->cfg = *cfg;
	int rc = load_token(a, err);
	if (rc < 0) {
		free(a);
		return rc;
	}
	pthread_mutex_init(&a->ready_lock, NULL);
	*out = a;
	return 0;
}

/* Return the connection limit for the process's current descriptor limit. */
static unsigned connection_limit(void)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
		return CONNECTION_LIMIT;
	if (lim.rlim_cur / 4 >= CONNECTION_LIMIT)
		return CONNECTION_LIMIT;
	return lim.rlim_cur / 4 > CONNECTION_MIN ? (unsigned)(lim.rlim_cur / 4) : CONNECTION_MIN;
}

int bl_admin_start(bl_admin_t *a, bl_error_t *err)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(a->cfg.port)};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(a->cfg.port)};
	const struct sockaddr *addr = a->cfg.ipv6 ? (const struct sockaddr *)&v6 : (const struct sockaddr *)&v4;

	if (a->cfg.ipv6)
		inet_pton(AF_INET6, a->cfg.host, &v6.sin6_addr);
	else
		inet_pton(AF_INET, a->cfg.host, &v4.sin_addr);

	/* MHD_USE_ITC lets bl_admin_free stop accepting before it stops. The
	 * timeout given here applies until a request's headers are complete;
	 * begin() raises it for the rest of the connection. */
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | (a->cfg.ipv6 ? MHD_USE_IPv6 : 0);
	unsigned connections = connection_limit();
	a->daemon = MHD_start_daemon(flags, a->cfg.port, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, addr,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_CONNECTION_LIMIT,
				     connections, MHD_OPTION_CONNECTION_TIMEOUT, HEADER_TIMEOUT_S, MHD_OPTION_END);
	if (!a->daemon)
		return bl_error_set(err, -EADDRNOTAVAIL, "admin.listen",
				    "cannot listen on %s%s%s:%u (in use, or not an address of this machine)",
				    a->cfg.ipv6 ? "[" : "", a->cfg.host, a->cfg.ipv6 ? "]" : "", (unsigned)a->cfg.port);

	const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	a->port = info ? info->port : a->cfg.port;
	BL_LOG(BL_LOG_INFO, "admin", "admin_listening", NULL, NULL, BL_LOG_S("host", a->cfg.host),
	       BL_LOG_I("port", a->port), BL_LOG_I("max_connections", connections));
	return 0;
}

void bl_admin_set_ready_fn(bl_admin_t *admin, bl_admin_ready_fn fn, void *ctx)
{
	pthread_mutex_lock(&admin->ready_lock);
	admin->ready_fn = fn;
	admin->ready_ctx = ctx;
	pthread_mutex_unlock(&admin->ready_lock);
}

/* The function is called under the lock, so a caller that replaces it
 * knows the old one is no longer running once bl_admin_set_ready_fn
 * returns. */
bool bl_admin_is_ready(bl_admin_t *admin, char *reason, size_t size)
{
	pthread_mutex_lock(&admin->ready_lock);
	bool ready = admin->ready_fn && admin->ready_fn(admin->ready_ctx, reason, size);
	if (!admin->ready_fn)
		snprintf(reason, size, "no readiness check is installed");
	pthread_mutex_unlock(&admin->ready_lock);
	return ready;
}

const bl_admin_config_t *bl_admin_config(const bl_admin_t *admin)
{
	return &admin->cfg;
}

uint16_t bl_admin_port(const bl_admin_t *admin)
{
	return admin->port;
}

/* Stop accepting, then give the requests in progress up to a second to
 * send their responses: a decision that ends the run's last job must
 * still reach its client. */
static void drain(struct MHD_Daemon *daemon)
{
	MHD_socket listener = MHD_quiesce_daemon(daemon);
	for (int i = 0; i < 100; i++) {
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!info || info->num_connections == 0)
			break;
		usleep(10000);
	}
	MHD_stop_daemon(daemon);
	if (listener != MHD_INVALID_SOCKET)
		close(listener);
}

void bl_admin_free(bl_admin_t **admin)
{
	bl_admin_t *a = *admin;
	if (!a)
		return;
	if (a->daemon)
		drain(a->daemon);
	if (a->token)
		memset(a->token, 0, a->token_len);
	free(a->token);
	pthread_mutex_destroy(&a->ready_lock);
	free(a);
	*admin = NULL;
}
