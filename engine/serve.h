/*
 * The service mode: `beamline-engine serve --config FILE`. Jobs arrive from
 * the JetStream stream BEAMLINE_JOBS (durable pull consumer
 * "beamline-engine", shared by every instance) and as requests on
 * "beamline.engine.v1.execute"; results go to BEAMLINE_RESULTS, failures
 * that exhausted their attempts to BEAMLINE_DLQ. docs/serve.md describes
 * the subjects, the attempt model and the drain.
 */
#ifndef BL_ENGINE_SERVE_H
#define BL_ENGINE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <beamline/error.h>
#include <beamline/js.h>

#include "run.h"

#define BL_SERVE_URLS_MAX 16

/* The "nats" and "engine" sections of the config file (serve_config.c). */
typedef struct bl_serve_config {
	/* Connection. The strings point into `root` and live as long as it. */
	const char *urls[BL_SERVE_URLS_MAX];
	size_t nurls;
	const char *name;
	const char *creds_file;
	const char *nkey_seed_file;
	const char *nkey_public;
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	int64_t connect_timeout_ms;
	int64_t request_timeout_ms;

	/* Streams and consumer. */
	bl_js_storage_t storage;
	int replicas;
	int64_t duplicate_window_ms;
	int64_t results_max_age_ms;
	int64_t dlq_max_age_ms;
	int64_t attempts_ttl_ms;
	int64_t ack_wait_ms;
	int max_deliver;          /* 0: unlimited */
	int max_ack_pending;      /* 0: max_in_flight x instances */
	unsigned instances;       /* engines expected to share the consumer, for max_ack_pending */
	unsigned fetch_batch;
	unsigned max_attempts;    /* for jobs whose retry gives no max_attempts */
	int64_t drain_timeout_ms;
	int64_t publish_retry_ms; /* how long a result publish is retried while the server is away */

	/* Engine. */
	unsigned max_in_flight;   /* jobs taken whose result has not gone out yet, per instance */
	unsigned result_publishers;
	bl_run_config_t run;      /* pools, folders, limits; strings point into `root` */

	json_t *root;             /* the whole file, owned */
	json_t *services;         /* the other sections, for the block services; owned */
} bl_serve_config_t;

/*
 * Read the config file at `path` into *cfg: the "nats" and "engine"
 * sections with their defaults, and the remaining sections kept for the
 * block services. Unknown keys, values of the wrong type or out of range
 * fail with *err naming the key ("nats.consumer.ack_wait_ms") and what was
 * expected. Returns 0 (free with bl_serve_config_free) or a negative code.
 */
int bl_serve_config_load(bl_serve_config_t *cfg, const char *path, bl_error_t *err);

/* Free what the config owns. */
void bl_serve_config_free(bl_serve_config_t *cfg);

/*
 * Run the service until SIGTERM or SIGINT, then drain. Takes over those
 * signals for the process: call it before starting any thread that does
 * not block them, or such a thread may take the signal. Returns 0 after a drain, or a negative code
 * with *err when setup failed (the server unreachable, a stream that
 * exists with other settings, the runtime not startable).
 */
int bl_serve_run(const bl_serve_config_t *cfg, bl_error_t *err);

#endif
