/*
 * Internal to the NATS client layer: the connection's private parts, error
 * helpers, monotonic deadlines and message-header helpers shared by its
 * files. Nothing here is API.
 */
#ifndef BL_NATS_INTERNAL_H
#define BL_NATS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <nats/nats.h>

#include <beamline/nats.h>

struct bl_nats {
	/* Set once by bl_nats_connect. */
	natsConnection *conn;
	natsOptions *opts;
	bl_nats_event_fn on_event;
	void *on_event_arg;
	int64_t reconnect_wait_ms;
	int64_t reconnect_wait_max_ms;
	/* Default wait for a JetStream API reply. */
	int64_t request_timeout_ms;

	/* cnats runs the closed callback on its own thread after natsConnection_Close
	 * returns; bl_nats_free waits for it under `lock` before freeing. */
	pthread_mutex_t lock;
	pthread_cond_t closed_cond;
	bool closed;
	/* The server last connected to, under `lock`: a disconnected connection has no current URL. */
	char url[256];
	/* Subscriptions ended while the connection could not be flushed, under
	 * `lock`; bl_nats_free destroys them (sub_close.c). */
	natsSubscription **retired;
	size_t retired_count;
	size_t retired_cap;
};

/* Destroy the subscriptions that bl_nats_subscription_close kept, once
 * the connection is closed. */
void bl__nats_destroy_retired(bl_nats_t *nats);

/* Fill err (when not NULL) with `code`, `field` and a message, no server status. Returns `code`. */
int bl__nats_fail(bl_nats_error_t *err, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Check that `path` is a regular file this process may read. Returns 0, or
 * the -errno of stat or access (-ENOENT, -EACCES ...) or BL_EINVAL for a
 * folder or device, with err naming `field` and the path.
 */
int bl__nats_check_file(const char *path, const char *field, bl_nats_error_t *err);

/*
 * Check the nkey or credentials file of `config` before connecting: a valid
 * nkey_public, a seed file with a user seed whose public key is
 * nkey_public, or a credentials file with a user JWT and the seed of the
 * JWT's user. Returns 0, BL_EINVAL naming the field, -errno when a file
 * cannot be read, or BL_ENOMEM. The files' readability is checked first by
 * bl__nats_check_file.
 */
int bl__nats_check_auth(const bl_nats_config_t *config, bl_nats_error_t *err);

/* Map a cnats status to a negative code and fill err with "`what`: <cnats text>". */
int bl__nats_status_fail(bl_nats_error_t *err, natsStatus status, const char *field, const char *what);

/* The negative code for a cnats status, without filling anything. */
int bl__nats_status_code(natsStatus status);

/* A point `timeout_ms` from now on the monotonic clock, in milliseconds. */
int64_t bl__nats_deadline(int64_t timeout_ms);

/* Milliseconds left until `deadline` (a bl__nats_deadline value), 0 when past. */
int64_t bl__nats_remaining(int64_t deadline);

/* Milliseconds on the monotonic clock. */
int64_t bl__nats_now_ms(void);

/*
 * The status of a server status message ("NATS/1.0 404 No Messages"): its
 * code (100, 404, 408, 409 ...) and description ("" when none, borrowed
 * from the message). Returns 0 for an ordinary message.
 */
int bl__nats_msg_status(natsMsg *msg, const char **description);

/* A header's value, borrowed from the message, or NULL when absent. */
const char *bl__nats_msg_header(natsMsg *msg, const char *key);

/* A fresh unique inbox subject; owned, free with free(). NULL on memory failure. */
char *bl__nats_new_inbox(void);

/*
 * Send a JetStream API request: `body` (borrowed; NULL sends an empty
 * payload) to "$JS.API." followed by the printf-style `fmt`, and parse the
 * reply into *out (owned, free with json_decref; `out` NULL discards it).
 * An "error" member in the reply fails the call with its status, err_code
 * and description in err: -ENOENT for the not-found codes, -EEXIST for
 * "already in use", -ESTALE for "wrong last sequence", -EREMOTEIO
 * otherwise. Returns 0, -ETIMEDOUT, -ENOTSUP when no JetStream replies (not
 * enabled), -EPROTO for a reply that is not JSON.
 */
int bl__js_api(bl_nats_t *nats, json_t **out, json_t *body, bl_nats_error_t *err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Fill err from a JetStream "error" object and return the mapped code. */
int bl__js_api_error(bl_nats_error_t *err, const json_t *error, const char *field, const char *what);

/* Append to a bounded string, cutting what does not fit. */
void bl__nats_appendf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
