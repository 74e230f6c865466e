#define _GNU_SOURCE /* mkdtemp */

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "fixture.h"

/* Connection events as the callback saw them, counted per kind. */
typedef struct events {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int count[BL_NATS_EVENT_ERROR + 1];
} events_t;

static void on_event(const bl_nats_event_t *event, void *arg)
{
	events_t *events = arg;
	pthread_mutex_lock(&events->lock);
	events->count[event->kind]++;
	pthread_cond_broadcast(&events->changed);
	pthread_mutex_unlock(&events->lock);
}

/* Wait until `kind` has been seen `n` times or `timeout_ms` passed; returns the count seen. */
static int wait_event(events_t *events, bl_nats_event_kind_t kind, int n, long timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&events->lock);
	while (events->count[kind] < n && pthread_cond_timedwait(&events->changed, &events->lock, &until) == 0)
		;
	int seen = events->count[kind];
	pthread_mutex_unlock(&events->lock);
	return seen;
}

static bl_nats_t *connect_with_events(events_t *events)
{
	pthread_mutex_init(&events->lock, NULL);
	pthread_cond_init(&events->changed, NULL);
	const char *urls[] = {fixture_server.url};
	bl_nats_config_t config = {
		.urls = urls,
		.nurls = 1,
		.name = "beamline-reconnect-test",
		.max_reconnects = -1,
		.reconnect_wait_ms = 50,
		.reconnect_wait_max_ms = 200,
		.on_event = on_event,
		.on_event_arg = events,
	};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_nats_connect(&nats, &config, &err), 0, "%s", err.error.message);
	return nats;
}

static void restart_and_fetch(int (*stop)(bl_test_nats_server_t *))
{
	FIXTURE_START();
	events_t events = {0};
	bl_nats_t *nats = connect_with_events(&events);
	fixture_jobs_stream(nats, 30000);
	fixture_publish_jobs(nats, 0, 1);
	bl_js_puller_t *puller = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_js_puller_new(&puller, nats, "JOBS", "worker", &err), 0, "%s", err.error.message);

	cr_assert_eq(stop(&fixture_server), 0, "%s", fixture_server.error);
	cr_assert_eq(wait_event(&events, BL_NATS_EVENT_DISCONNECTED, 1, 5000), 1, "no disconnected event");
	cr_assert_not(bl_nats_is_connected(nats));
	cr_assert_eq(bl_test_nats_restart(&fixture_server), 0, "%s", fixture_server.error);
	cr_assert_eq(wait_event(&events, BL_NATS_EVENT_RECONNECTED, 1, 10000), 1, "no reconnected event in 10 s");
	bl_js_msg_t *msg = NULL;
	int count = bl_js_fetch(puller, &msg, 1, 2000, &err);

	cr_assert(bl_nats_is_connected(nats));
	cr_assert_eq(count, 1, "the message stored before the restart: got %d (%s)", count, err.error.message);
	cr_assert(memcmp(bl_js_msg_data(msg), "job-0", 5) == 0);
	cr_assert_eq(bl_js_ack_sync(msg, &err), 0, "%s", err.error.message);
	bl_js_msg_free(msg);
	fixture_publish_jobs(nats, 1, 1);
	bl_js_puller_free(puller);
	bl_nats_free(nats);
	cr_assert_eq(wait_event(&events, BL_NATS_EVENT_CLOSED, 1, 1000), 1, "no closed event");
}

/* After a clean server restart on the same port and store, the connection comes back by
 * itself and a fetch with the puller made before the restart gets the stored message. */
Test(nats_conn, reconnects_after_restart, .fini = fixture_stop, .timeout = 60)
{
	restart_and_fetch(bl_test_nats_stop);
}

/* The same after the server was killed (SIGKILL), as in a crash. */
Test(nats_conn, reconnects_after_crash, .fini = fixture_stop, .timeout = 60)
{
	restart_and_fetch(bl_test_nats_kill);
}

/* With nothing listening, connecting fails at once with -ECONNREFUSED. */
Test(nats_conn, no_server_refused, .fini = fixture_stop, .timeout = 30)
{
	FIXTURE_START();
	cr_assert_eq(bl_test_nats_stop(&fixture_server), 0);
	const char *urls[] = {fixture_server.url};
	bl_nats_config_t config = {.urls = urls, .nurls = 1};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_nats_connect(&nats, &config, &err);

	cr_assert_eq(rc, -ECONNREFUSED, "got %d: %s", rc, err.error.message);
	cr_assert_null(nats);
}

/* Configurations that cannot work are rejected with the field named. */
Test(nats_conn, invalid_config_names_field)
{
	const char *urls[] = {"nats://127.0.0.1:1"};
	const char *empty[] = {""};
	struct {
		bl_nats_config_t config;
		const char *field;
	} cases[] = {
		{{.urls = NULL, .nurls = 0}, "urls"},
		{{.urls = empty, .nurls = 1}, "urls"},
		{{.urls = urls, .nurls = 1, .nkey_seed_file = "/nonexistent/seed"}, "nkey_public"},
		{{.urls = urls, .nurls = 1, .tls_cert_file = "/nonexistent/cert"}, "tls_key_file"},
		{{.urls = urls, .nurls = 1, .creds_file = "a", .nkey_seed_file = "b", .nkey_public = "U"},
		 "nkey_seed_file"},
		{{.urls = urls, .nurls = 1, .request_timeout_ms = -1}, "timeouts"},
		{{.urls = urls, .nurls = 1, .max_reconnects = -2}, "max_reconnects"},
		{{.urls = urls, .nurls = 1, .ping_interval_ms = -1}, "ping_interval_ms"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_nats_t *nats = NULL;
		bl_nats_error_t err = {0};

		int rc = bl_nats_connect(&nats, &cases[i].config, &err);

		cr_assert_eq(rc, BL_EINVAL, "case %zu: expected BL_EINVAL, got %d", i, rc);
		cr_assert_str_eq(err.error.field, cases[i].field, "case %zu: %s", i, err.error.message);
	}
}

/* A credentials file that does not exist is reported against creds_file, before any connection. */
Test(nats_conn, missing_creds_file_reported)
{
	const char *urls[] = {"nats://127.0.0.1:1"};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .creds_file = "/nonexistent/user.creds"};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_nats_connect(&nats, &config, &err);

	cr_assert_eq(rc, -ENOENT, "got %d: %s", rc, err.error.message);
	cr_assert_str_eq(err.error.field, "creds_file", "field \"%s\": %s", err.error.field, err.error.message);
}

/* A throw-away certificate authority with a server certificate for 127.0.0.1 and a client
 * certificate, made with the openssl command in a temporary folder. */
typedef struct certs {
	char dir[128];
	char path[6][192];
} certs_t;

enum { CA, CA_KEY, SERVER, SERVER_KEY, CLIENT, CLIENT_KEY };

static bool make_certs(certs_t *c)
{
	snprintf(c->dir, sizeof c->dir, "/tmp/bl-certs-XXXXXX");
	cr_assert_not_null(mkdtemp(c->dir));
	static const char *names[] = {"ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key"};
	char dir[sizeof c->dir];
	memcpy(dir, c->dir, sizeof dir);
	for (int i = 0; i < 6; i++)
		snprintf(c->path[i], sizeof c->path[i], "%s/%s", dir, names[i]);

	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
		 "-out ca.pem -days 1 -subj /CN=bl-test-ca && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
		 "-out server.csr -subj /CN=127.0.0.1 && "
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
		 "-days 1 -extfile san.ext && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key "
		 "-out client.csr -subj /CN=bl-test-client && "
		 "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1",
		 c->dir);
	char quiet[4200];
	snprintf(quiet, sizeof quiet, "(%s) >/dev/null 2>&1", cmd);
	return system(quiet) == 0;
}

/* The running test's certificates, removed with the server by stop_tls (the TLS tests' .fini). */
static certs_t certs;

static void stop_tls(void)
{
	fixture_stop();
	if (!certs.dir[0] || strstr(certs.dir, "XXXXXX"))
		return;
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", certs.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", certs.dir);
}

/* Start a server that requires TLS and a client certificate signed by the test CA. */
static void start_tls_server(certs_t *c)
{
	if (access("/usr/bin/openssl", X_OK) != 0)
		cr_skip_test("skipped: /usr/bin/openssl is needed to make test certificates");
	cr_assert(make_certs(c), "openssl could not make the test certificates in %s", c->dir);
	char tls[2048];
	snprintf(tls, sizeof tls,
		 "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  ca_file: \"%s\"\n  verify: true\n}",
		 c->path[SERVER], c->path[SERVER_KEY], c->path[CA]);
	int rc = bl_test_nats_start_with(&fixture_server, tls);
	if (rc == -ENOENT) {
		/* A skipped test does not run its .fini. */
		stop_tls();
		cr_skip_test("skipped: %s", fixture_server.error);
	}
	cr_assert_eq(rc, 0, "cannot start nats-server with TLS: %s", fixture_server.error);
}

/* With the CA and a client certificate, the connection is made over TLS and JetStream works on it. */
Test(nats_conn, tls_with_client_certificate, .fini = stop_tls, .timeout = 30)
{
	start_tls_server(&certs);
	const char *urls[] = {fixture_server.url};
	bl_nats_config_t config = {
		.urls = urls,
		.nurls = 1,
		.tls = true,
		.tls_ca_file = certs.path[CA],
		.tls_cert_file = certs.path[CLIENT],
		.tls_key_file = certs.path[CLIENT_KEY],
	};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_nats_connect(&nats, &config, &err);

	cr_assert_eq(rc, 0, "TLS connect to %s: %s", fixture_server.url, err.error.message);
	fixture_jobs_stream(nats, 1000);
	bl_nats_free(nats);
}

/* A server that verifies client certificates rejects a client without one. */
Test(nats_conn, tls_without_client_certificate_rejected, .fini = stop_tls, .timeout = 30)
{
	start_tls_server(&certs);
	const char *urls[] = {fixture_server.url};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .tls = true, .tls_ca_file = certs.path[CA]};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_nats_connect(&nats, &config, &err);

	cr_assert_lt(rc, 0, "connected without a client certificate");
	cr_assert_null(nats);
}

/* A CA file that does not exist is reported against tls_ca_file before any connection. */
Test(nats_conn, missing_ca_file_reported)
{
	const char *urls[] = {"tls://127.0.0.1:1"};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .tls = true, .tls_ca_file = "/nonexistent/ca.pem"};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_nats_connect(&nats, &config, &err);

	cr_assert_eq(rc, -ENOENT, "got %d: %s", rc, err.error.message);
	cr_assert_str_eq(err.error.field, "tls_ca_file", "field \"%s\": %s", err.error.field, err.error.message);
}
