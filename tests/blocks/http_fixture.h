/*
 * What the http block's tests share: the test server (tests/support/
 * http_server.py) started on 127.0.0.1 and stopped again, and a runtime
 * with an I/O pool and the http service, on which one job at a time runs.
 */
#ifndef BL_TEST_HTTP_FIXTURE_H
#define BL_TEST_HTTP_FIXTURE_H

#include <sys/types.h>

#include <beamline/blocks.h>
#include <beamline/http_service.h>
#include <beamline/services.h>

typedef struct http_server {
	pid_t pid;
	int stdin_fd;    /* the server exits when this closes, even if the test dies */
	int port;        /* the main server */
	int other_port;  /* a second server, as a redirect target */
	int hole_port;   /* a listener that never accepts: connects hang */
} http_server_t;

/* Start the server; skips the test when python3 is missing. */
void http_server_start(http_server_t *s);

/* Stop the server and wait for it. */
void http_server_stop(http_server_t *s);

typedef struct http_fixture {
	http_server_t server;
	bl_runtime_t *rt;
	bl_pool_t *io;
	bl_block_services_t services;
	bl_cancel_t cancel;
	bl_cancel_hook_t *hook;
	bl_block_env_t env;
} http_fixture_t;

/*
 * Start the server, a runtime with a two-worker I/O pool and the http
 * service from `config_json` (the "http" section; NULL: allow 127.0.0.1/32
 * only). Skips the test when the kernel refuses io_uring.
 */
void http_fixture_init(http_fixture_t *f, const char *config_json);

/* Stop and free everything. */
void http_fixture_fini(http_fixture_t *f);

/*
 * Run one http job with `params_json`, in which every "PORT", "OTHER" and
 * "HOLE" is replaced by the matching port. Returns the outcome (free with
 * bl_block_outcome_free); fails the test when prepare refuses the params
 * or no outcome arrives within 20 s. With `cancel_after_ms` > 0, fires the
 * job's cancel hook after that long.
 */
bl_block_outcome_t *http_fixture_run(http_fixture_t *f, const char *params_json, unsigned cancel_after_ms);

/* A job started by http_fixture_start(). */
typedef struct http_waiter http_waiter_t;

/* Prepare and start one http job without waiting; `params_json` as for
 * http_fixture_run(). Returns the handle to wait on. */
http_waiter_t *http_fixture_start(http_fixture_t *f, const char *params_json);

/* Wait up to 20 s for the job's outcome and free the handle; with
 * `cancel_after_ms` > 0, fire `hook` when no outcome came in that time. */
bl_block_outcome_t *http_fixture_wait(http_waiter_t *w, unsigned cancel_after_ms, bl_cancel_hook_t *hook);

/* GET /count?key=KEY from the second server (its own breaker host, so an
 * open breaker on the first does not block it): the number of
 * requests it saw, and the times of the first `n` in *times (seconds). */
int http_fixture_count(http_fixture_t *f, const char *key, double *times, int n);

/* Return the monotonic clock in milliseconds. */
double http_fixture_now_ms(void);

#endif
