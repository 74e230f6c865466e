/*
 * The NATS connection of BeamLine's client layer.
 *
 * The layer speaks JetStream through plain core-NATS requests (see js.h and
 * kv.h) and uses only core cnats: connections, publishes with headers,
 * synchronous subscriptions and requests. It never calls cnats's JetStream
 * or KV wrappers, whose 3.4.1 versions lose or overrun messages.
 *
 * Errors follow the project's convention (beamline/error.h): a function that
 * can fail returns 0 or a count, or a negative code. Causes that have an
 * errno name use it: -ETIMEDOUT (no reply in time), -ENOTCONN (the
 * connection is closed), -ECONNREFUSED (no server reachable), -EACCES
 * (authorisation), -ENOENT (stream, consumer, key or message not found),
 * -EEXIST (exists with a different configuration, or a key that must be
 * absent), -ESTALE (a compare-and-set lost: the revision is not the latest),
 * -EREMOTEIO (any other JetStream API error), -EPROTO (a reply the layer
 * cannot read). Details go to a bl_nats_error_t.
 *
 * The layer does not log: connection events reach the caller's callback.
 */
#ifndef BEAMLINE_NATS_H
#define BEAMLINE_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What went wrong: `error` as everywhere in the project (code, the stream,
 * consumer, key or subject concerned in `field`, and a sentence), plus the
 * JetStream API's own figures when the server rejected a request: `status`
 * (400, 404, 503 ...) and `api_code` (10058 "stream name already in use",
 * 10100 "filtered consumer not unique on workqueue stream" ...); both are 0
 * otherwise. Functions fill it when they fail and leave it untouched
 * otherwise; NULL means "not interested".
 */
typedef struct bl_nats_error {
	bl_error_t error;
	int status;
	int api_code;
} bl_nats_error_t;

typedef enum bl_nats_event_kind {
	BL_NATS_EVENT_DISCONNECTED = 0,
	BL_NATS_EVENT_RECONNECTED,
	BL_NATS_EVENT_CLOSED,
	/* An asynchronous error, such as a slow consumer dropping messages. */
	BL_NATS_EVENT_ERROR,
} bl_nats_event_kind_t;

/*
 * One connection event. `url` is the server the connection uses (or last
 * used; "" when unknown), `reason` the library's text for the last error
 * ("" when none). Both are borrowed for the duration of the callback.
 */
typedef struct bl_nats_event {
	bl_nats_event_kind_t kind;
	const char *url;
	const char *reason;
	/* Reconnections so far on this connection. */
	uint64_t reconnects;
} bl_nats_event_t;

/* Called on a cnats thread; it must not block and must not free the connection. */
typedef void (*bl_nats_event_fn)(const bl_nats_event_t *event, void *arg);

/*
 * How to connect. Every string is borrowed for the duration of
 * bl_nats_connect. Zero means "the default" for every number.
 */
typedef struct bl_nats_config {
	/* Server URLs, e.g. "nats://127.0.0.1:4222"; at least one. */
	const char *const *urls;
	size_t nurls;
	/* The connection's name as the server shows it; NULL for none. */
	const char *name;
	/* A user credentials file (JWT and nkey seed); NULL for none. */
	const char *creds_file;
	/* An nkey seed file and its public key ("U..."); NULL for none. */
	const char *nkey_seed_file;
	const char *nkey_public;
	/* TLS: a CA file to trust, a client certificate and its key. Giving any of
	 * the files, or a "tls://" URL, also turns TLS on. */
	bool tls;
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	/* Connect timeout per server; default 2000. */
	int64_t connect_timeout_ms;
	/* Wait for a JetStream API reply (stream, consumer and KV management,
	 * KV reads, publish acknowledgements); default 5000. */
	int64_t request_timeout_ms;
	/* Reconnect attempts per server before the connection closes; -1 forever, default 60. */
	int max_reconnects;
	/* How often the client pings the server; two unanswered pings count as a
	 * disconnection. Default 20000, so that a server that vanished without
	 * closing the connection is noticed within about a minute (cnats's own
	 * default is 2 minutes per ping). */
	int64_t ping_interval_ms;
	/* Back-off: the first wait, doubled per attempt up to the maximum, plus up to
	 * 10 % jitter. Defaults 100 and 2000. */
	int64_t reconnect_wait_ms;
	int64_t reconnect_wait_max_ms;
	/* Write each publish at once instead of leaving it to cnats's flusher
	 * thread, which held each reply about 1 ms in bench/nats/run (cnats
	 * 3.4.1): for a connection that replies to requests. Costs a write
	 * per publish. */
	bool send_asap;
	/* Connection events; NULL to ignore them. */
	bl_nats_event_fn on_event;
	void *on_event_arg;
} bl_nats_config_t;

typedef struct bl_nats bl_nats_t;

/*
 * Connect to the first reachable server of `config`. On success *out is an
 * owned connection (free with bl_nats_free). Returns 0 or a negative code,
 * and err names the field concerned:
 * - BL_EINVAL for a bad configuration. This includes a key file that is not
 *   a regular file, an invalid nkey, a seed that is not nkey_public's, and a
 *   credentials file without a JWT or whose seed is not the JWT user's.
 * - -ENOENT or -EACCES when a credentials, seed or TLS file cannot be read.
 * - -ECONNREFUSED when no server could be reached.
 * - -EACCES when the server rejected the credentials (creds_file or
 *   nkey_seed_file).
 * *out is left alone on failure. Any thread.
 */
int bl_nats_connect(bl_nats_t **out, const bl_nats_config_t *config, bl_nats_error_t *err);

/* Close and free the connection (NULL is fine). No other call on it may be
 * running or start. Objects made from it must be freed first. */
void bl_nats_free(bl_nats_t *nats);

/* Whether the connection is currently connected (not reconnecting or closed). */
bool bl_nats_is_connected(const bl_nats_t *nats);

/*
 * Wait until the server has processed everything sent so far, or
 * `timeout_ms` passed. Returns 0, -ETIMEDOUT or another negative code.
 */
int bl_nats_flush(bl_nats_t *nats, int64_t timeout_ms, bl_nats_error_t *err);

/*
 * Unsubscribe and destroy `subscription`, a natsSubscription of this
 * connection (typed void as for bl_nats_raw), waiting until the
 * connection no longer delivers to it. Use it in place of
 * natsSubscription_Destroy on a subscription that may still receive
 * messages (sub_close.c explains the cnats race). May wait up to the
 * request timeout.
 */
void bl_nats_subscription_close(bl_nats_t *nats, void *subscription);

/* The cnats connection, borrowed, for core-NATS work this layer does not
 * wrap (request-reply services). Typed void to keep cnats out of this header. */
void *bl_nats_raw(bl_nats_t *nats);

/* The event kind's stable snake_case name ("nats_disconnected" ...), for logs. */
const char *bl_nats_event_name(bl_nats_event_kind_t kind);

#ifdef __cplusplus
}
#endif

#endif
