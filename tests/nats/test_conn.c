#include <criterion/criterion.h>
#include <pthread.h>
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

	cr_assert_lt(rc, 0);
	cr_assert_str_eq(err.error.field, "creds_file", "field \"%s\": %s", err.error.field, err.error.message);
}
