#include "serve_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nats/nats.h>

void serve_harness_init(serve_harness_t *h, const char *nats_extra, const char *extra_sections)
{
	char path[700];
	bl_nats_error_t err = {0};

	memset(h, 0, sizeof *h);
	int rc = bl_test_nats_start(&h->server);
	if (rc == -ENOENT)
		cr_skip_test("skipped: %s", h->server.error);
	cr_assert_eq(rc, 0, "cannot start nats-server: %s", h->server.error);

	test_dir_make(h->dir, sizeof h->dir);
	snprintf(path, sizeof path, "%s/data", h->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/data/acme", h->dir);
	mkdir(path, 0700);
	snprintf(h->nats_extra, sizeof h->nats_extra, "%s", nats_extra);
	snprintf(h->extra_sections, sizeof h->extra_sections, "%s", extra_sections);
	snprintf(h->config_path, sizeof h->config_path, "%s/serve.json", h->dir);
	serve_config_write(h, h->config_path, "");

	const char *urls[] = {h->server.url};
	bl_nats_config_t nc = {.urls = urls, .nurls = 1, .max_reconnects = -1};
	cr_assert_eq(bl_nats_connect(&h->nats, &nc, &err), 0, "cannot connect: %s", err.error.message);
}

void serve_config_write(serve_harness_t *h, const char *path, const char *engine_extra)
{
	char text[4096];
	snprintf(text, sizeof text,
		 "{\"nats\": {\"urls\": [\"%s\"], \"request_timeout_ms\": 2000%s},\n"
		 " \"engine\": {\"workers\": 2, \"data_dir\": \"%s/data\", \"no_gpu\": true, \"max_in_flight\": 16%s}%s}\n",
		 h->server.url, h->nats_extra, h->dir, engine_extra, h->extra_sections);
	test_file_write(path, text, 0600);
}

void serve_harness_fini(serve_harness_t *h)
{
	bl_nats_free(h->nats);
	bl_test_nats_cleanup(&h->server);
	if (h->dir[0])
		test_dir_remove(h->dir);
}

void serve_start(serve_harness_t *h, engine_child_t *c, const char *tag)
{
	serve_start_with(h, c, tag, h->config_path);
}

void serve_start_with(serve_harness_t *h, engine_child_t *c, const char *tag, const char *path)
{
	(void)h;
	const char *args[] = {"serve", "--config", path, "--log-level", "info", NULL};
	child_start(c, h->dir, tag, args);
	char *seen = wait_for_err(c, "serve_started", 20000);
	cr_assert_not_null(seen, "engine %s did not start; its log:\n%s", tag, test_file_read(c->err_path));
	free(seen);
}

void serve_publish(serve_harness_t *h, const char *tenant, const char *job, const char *msg_id)
{
	char subject[300];
	bl_nats_error_t err = {0};
	bl_js_publish_opts_t opts = {.msg_id = msg_id};

	snprintf(subject, sizeof subject, "beamline.jobs.v1.%s", tenant);
	int rc = bl_js_publish(h->nats, subject, job, strlen(job), &opts, NULL, &err);
	cr_assert_eq(rc, 0, "cannot publish to %s: %s", subject, err.error.message);
}

uint64_t serve_stream_count(serve_harness_t *h, const char *stream)
{
	bl_js_stream_state_t st = {0};
	if (bl_js_stream_state(h->nats, stream, &st, NULL) < 0)
		return 0;
	return st.messages;
}

uint64_t serve_wait_count(serve_harness_t *h, const char *stream, uint64_t count, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	uint64_t n;
	while ((n = serve_stream_count(h, stream)) < count && now_ms() < until)
		sleep_ms(50);
	return n;
}

uint64_t serve_wait_empty(serve_harness_t *h, const char *stream, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	uint64_t n;
	while ((n = serve_stream_count(h, stream)) > 0 && now_ms() < until)
		sleep_ms(20);
	return n;
}

/* A direct get: `suffix` after the stream name, `body` the request. */
static json_t *direct_get(serve_harness_t *h, const char *stream, const char *suffix, const char *body)
{
	char api[600];
	natsMsg *reply = NULL;
	snprintf(api, sizeof api, "$JS.API.DIRECT.GET.%s%s", stream, suffix);

	if (natsConnection_RequestString(&reply, bl_nats_raw(h->nats), api, body, 2000) != NATS_OK)
		return NULL;
	json_t *doc = natsMsg_GetDataLength(reply) > 0
			      ? json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL)
			      : NULL;
	natsMsg_Destroy(reply);
	return doc;
}

json_t *serve_result(serve_harness_t *h, const char *tenant, const char *id)
{
	char suffix[400];
	snprintf(suffix, sizeof suffix, ".beamline.results.v1.%s.%s", tenant, id);
	return direct_get(h, "BEAMLINE_RESULTS", suffix, "");
}

json_t *serve_stream_msg(serve_harness_t *h, const char *stream, uint64_t seq)
{
	char body[64];
	snprintf(body, sizeof body, "{\"seq\": %llu}", (unsigned long long)seq);
	return direct_get(h, stream, "", body);
}

json_t *serve_dead_letter_nth(serve_harness_t *h, const char *id, int nth)
{
	bl_js_stream_state_t st = {0};
	if (bl_js_stream_state(h->nats, "BEAMLINE_DLQ", &st, NULL) < 0)
		return NULL;
	for (uint64_t seq = st.first_seq; seq && seq <= st.last_seq; seq++) {
		json_t *entry = serve_stream_msg(h, "BEAMLINE_DLQ", seq);
		const char *entry_id = json_string_value(json_object_get(entry, "id"));
		if (entry_id && strcmp(entry_id, id) == 0 && nth-- == 0)
			return entry;
		json_decref(entry);
	}
	return NULL;
}

json_t *serve_dead_letter(serve_harness_t *h, const char *id)
{
	return serve_dead_letter_nth(h, id, 0);
}

int serve_harness_init_silent_postgres(serve_harness_t *h, const char *nats_extra, int connect_timeout_ms)
{
	char sections[512];
	int port;
	int fd = silent_listener(&port);

	snprintf(sections, sizeof sections,
		 ", \"sql\": {\"connect_timeout_ms\": %d, \"databases\": {\"pg\": {\"driver\": \"postgres\", "
		 "\"dsn\": \"host=127.0.0.1 port=%d dbname=x user=x\", \"shared\": true}}}",
		 connect_timeout_ms, port);
	serve_harness_init(h, nats_extra, sections);
	return fd;
}

json_t *serve_request(serve_harness_t *h, const char *subject, const char *body, int timeout_ms)
{
	natsMsg *reply = NULL;
	if (natsConnection_RequestString(&reply, bl_nats_raw(h->nats), subject, body, timeout_ms) != NATS_OK)
		return NULL;
	json_t *doc = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
	natsMsg_Destroy(reply);
	return doc;
}

json_t *serve_result_subjects(serve_harness_t *h)
{
	natsMsg *reply = NULL;
	const char *body = "{\"subjects_filter\": \"beamline.results.v1.>\"}";
	natsStatus s = natsConnection_RequestString(&reply, bl_nats_raw(h->nats), "$JS.API.STREAM.INFO.BEAMLINE_RESULTS",
						    body, 5000);
	cr_assert_eq(s, NATS_OK, "stream info of BEAMLINE_RESULTS failed: %s", natsStatus_GetText(s));
	json_t *doc = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
	natsMsg_Destroy(reply);
	json_t *subjects = json_incref(json_object_get(json_object_get(doc, "state"), "subjects"));
	json_decref(doc);
	return subjects ? subjects : json_object();
}

void serve_stop(engine_child_t *c)
{
	kill(c->pid, SIGTERM);
	cr_assert(child_wait(c, 15000), "the engine did not exit within 15 s of SIGTERM");
	cr_assert_eq(c->status, 0, "the engine exited with %d after SIGTERM; its log:\n%s", c->status,
		     test_file_read(c->err_path));
}

void serve_wait_running(serve_harness_t *h, int running)
{
	long long until = now_ms() + 20000;
	json_int_t now = -1;
	while (now_ms() < until) {
		json_t *st = serve_request(h, "beamline.engine.v1.status", "", 2000);
		now = json_integer_value(json_object_get(json_object_get(st, "jobs"), "running"));
		json_decref(st);
		if (now == running)
			return;
		sleep_ms(50);
	}
	cr_assert_fail("expected %d jobs running, the engine reports %lld", running, (long long)now);
}
