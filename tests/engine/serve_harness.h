/*
 * What the service-mode tests share: a real nats-server on 127.0.0.1, a
 * config file, `beamline-engine serve` children, and a client connection
 * that publishes jobs and reads BEAMLINE_RESULTS and BEAMLINE_DLQ.
 */
#ifndef BL_TEST_SERVE_HARNESS_H
#define BL_TEST_SERVE_HARNESS_H

#include <jansson.h>

#include <beamline/js.h>
#include <beamline/nats.h>

#include "../support/nats_server.h"
#include "engine_child.h"

typedef struct serve_harness {
	bl_test_nats_server_t server;
	char dir[512];          /* config, data folder, children's output */
	char config_path[600];
	bl_nats_t *nats;
	char nats_extra[1024];
	char extra_sections[2048];
} serve_harness_t;

/* Start the server (skipping the test when nats-server is missing), make
 * the folder with a tenant folder "acme", write the config with `nats_extra`
 * added inside the "nats" section (a JSON fragment starting with a comma, or
 * "") and `extra_sections` added at the top level (likewise), and connect. */
void serve_harness_init(serve_harness_t *h, const char *nats_extra, const char *extra_sections);

/* Write a config to `path` as init does, with `engine_extra` (a fragment
 * starting with a comma, or "") added inside the "engine" section. */
void serve_config_write(serve_harness_t *h, const char *path, const char *engine_extra);

/* Start `beamline-engine serve --config path` as `tag` and wait until it logs serve_started. */
void serve_start_with(serve_harness_t *h, engine_child_t *c, const char *tag, const char *path);

/* Close the connection, stop the server, remove the folder. */
void serve_harness_fini(serve_harness_t *h);

/* Start `beamline-engine serve` as `tag` and wait until it logs serve_started. */
void serve_start(serve_harness_t *h, engine_child_t *c, const char *tag);

/* Publish `job` to beamline.jobs.v1.<tenant> with Nats-Msg-Id `msg_id` (NULL: none). */
void serve_publish(serve_harness_t *h, const char *tenant, const char *job, const char *msg_id);

/* Messages in stream `stream` now. */
uint64_t serve_stream_count(serve_harness_t *h, const char *stream);

/* Wait up to `timeout_ms` until `stream` holds at least `count` messages; returns the count then. */
uint64_t serve_wait_count(serve_harness_t *h, const char *stream, uint64_t count, int timeout_ms);

/* Wait up to `timeout_ms` until `stream` holds no messages (acks reach the
 * work queue a little after the results they follow); returns the count then. */
uint64_t serve_wait_empty(serve_harness_t *h, const char *stream, int timeout_ms);

/* The stored result of tenant/id, parsed (owned), or NULL. */
json_t *serve_result(serve_harness_t *h, const char *tenant, const char *id);

/* Message `seq` of `stream`, parsed (owned), or NULL. */
json_t *serve_stream_msg(serve_harness_t *h, const char *stream, uint64_t seq);

/* The dead letter of tenant/id (the first one found), or NULL. Owned. */
json_t *serve_dead_letter(serve_harness_t *h, const char *id);

/* Return the `nth` dead letter (from 0) of any tenant's job `id`, or NULL. The caller
 * releases it with json_decref. */
json_t *serve_dead_letter_nth(serve_harness_t *h, const char *id, int nth);

/* Run serve_harness_init with a postgres database "pg" whose server never
 * accepts (silent_listener), so each sql job on it fails retryably after
 * `connect_timeout_ms`. Returns the listener's socket. */
int serve_harness_init_silent_postgres(serve_harness_t *h, const char *nats_extra, int connect_timeout_ms);

/* Messages per subject of BEAMLINE_RESULTS, as {"subject": count}; owned. */
json_t *serve_result_subjects(serve_harness_t *h);

/* Send `body` to `subject` as a request and parse the reply (owned), or NULL on timeout. */
json_t *serve_request(serve_harness_t *h, const char *subject, const char *body, int timeout_ms);

/* Send SIGTERM and expect exit status 0 within 15 s. */
void serve_stop(engine_child_t *c);

/* Wait up to 20 s until the engine reports `running` jobs running (the
 * first status reply, so with one engine running). */
void serve_wait_running(serve_harness_t *h, int running);

/* A no-op kernel job of tenant "acme". */
#define NOOP_JOB(id) "{\"id\":\"" id "\",\"tenant\":\"acme\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}"

#endif
