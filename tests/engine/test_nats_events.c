#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../support/nats_server.h"
#include "log.h"
#include "nats_events.h"

static bl_test_nats_server_t server;

static void stop_server(void)
{
	bl_test_nats_cleanup(&server);
}

/* The record of `event` among the JSON lines of `text`, or NULL. */
static json_t *find_record(const char *text, const char *event)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		json_t *record = json_loadb(line, len, 0, NULL);
		const char *name = json_string_value(json_object_get(record, "event"));
		if (name && strcmp(name, event) == 0)
			return record;
		json_decref(record);
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

/*
 * A server restart and the final close reach the log as three JSON records: the disconnection
 * as a warning, the reconnection and the close as info, each with module "nats" and the
 * server's URL.
 */
Test(engine_nats_events, restart_logged_as_json, .fini = stop_server, .timeout = 30)
{
	int rc = bl_test_nats_start(&server);
	if (rc == -ENOENT)
		cr_skip_test("skipped: %s", server.error);
	cr_assert_eq(rc, 0, "%s", server.error);
	int pipe_fds[2];
	cr_assert_eq(pipe(pipe_fds), 0);
	cr_assert_eq(bl_log_start(BL_LOG_INFO, pipe_fds[1]), 0);
	const char *urls[] = {server.url};
	bl_nats_config_t config = {
		.urls = urls, .nurls = 1, .reconnect_wait_ms = 50, .on_event = bl_engine_log_nats_event};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_nats_connect(&nats, &config, &err), 0, "%s", err.error.message);

	cr_assert_eq(bl_test_nats_stop(&server), 0);
	cr_assert_eq(bl_test_nats_restart(&server), 0, "%s", server.error);
	for (int i = 0; i < 100 && !bl_nats_is_connected(nats); i++)
		nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	cr_assert(bl_nats_is_connected(nats), "no reconnection within 5 s");
	bl_nats_free(nats);
	bl_log_stop();
	close(pipe_fds[1]);
	static char text[65536];
	ssize_t n = read(pipe_fds[0], text, sizeof text - 1);
	close(pipe_fds[0]);
	text[n > 0 ? n : 0] = '\0';

	static const char *events[] = {"nats_disconnected", "nats_reconnected", "nats_closed"};
	static const char *levels[] = {"warn", "info", "info"};
	for (int i = 0; i < 3; i++) {
		json_t *record = find_record(text, events[i]);
		cr_assert_not_null(record, "no %s record in:\n%s", events[i], text);
		cr_assert_str_eq(json_string_value(json_object_get(record, "module")), "nats");
		cr_assert_str_eq(json_string_value(json_object_get(record, "level")), levels[i], "%s", events[i]);
		cr_assert_str_eq(json_string_value(json_object_get(record, "url")), server.url, "%s", events[i]);
		json_decref(record);
	}
}
