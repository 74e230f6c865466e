/*
 * A real nats-server with JetStream for integration tests, on 127.0.0.1
 * only: started from a generated configuration in a temporary folder, on a
 * port the server picks, with a bounded store. It can be stopped cleanly
 * (SIGTERM), crashed (SIGKILL) and restarted on the same port and store.
 */
#ifndef BL_TEST_NATS_SERVER_H
#define BL_TEST_NATS_SERVER_H

#include <limits.h>
#include <sys/types.h>

typedef struct bl_test_nats_server {
	/* The temporary folder: configuration, JetStream store, ports file, log. */
	char dir[PATH_MAX];
	/* "nats://127.0.0.1:PORT", or "tls://127.0.0.1:PORT" when the server requires TLS */
	char url[64];
	int port;
	/* The running server, or 0. */
	pid_t pid;
	/* Configuration text added to the generated file (a tls block, operator JWTs ...), "" for none. */
	char extra_config[8192];
	/* Why the last call failed, for the test's message. */
	char error[512];
} bl_test_nats_server_t;

/*
 * Start a server in a fresh temporary folder and wait until it accepts
 * connections (10 s at most). Returns 0; -ENOENT when no nats-server
 * executable is found (the caller skips, naming BL_NATS_SERVER, PATH and
 * /usr/sbin); another negative errno value with srv->error set otherwise.
 * The executable is $BL_NATS_SERVER when set, else the first nats-server
 * on PATH, in /usr/sbin or in /usr/bin.
 */
int bl_test_nats_start(bl_test_nats_server_t *srv);

/* The same, with `extra_config` (copied) added to the configuration, for this start and every restart. */
int bl_test_nats_start_with(bl_test_nats_server_t *srv, const char *extra_config);

/* Stop the server with SIGTERM and wait for it to exit (5 s, then SIGKILL). Keeps the folder. */
int bl_test_nats_stop(bl_test_nats_server_t *srv);

/* Kill the server with SIGKILL, as a crash would, and reap it. Keeps the folder. */
int bl_test_nats_kill(bl_test_nats_server_t *srv);

/* Start a stopped server again on the same port and JetStream store. */
int bl_test_nats_restart(bl_test_nats_server_t *srv);

/* Stop the server when running and remove the temporary folder. */
void bl_test_nats_cleanup(bl_test_nats_server_t *srv);

#endif
