/*
 * The JetStream objects of the service mode, created when missing and
 * verified when present; an existing object with other settings is
 * reported field by field and never changed.
 */
#include <errno.h>
#include <stdio.h>

#include <beamline/js.h>

#include "log.h"
#include "serve_ctx.h"

#define MS_TO_NS(ms) ((int64_t)(ms) * 1000000)

/*
 * Interval between checks that BEAMLINE_RESULTS and BEAMLINE_DLQ exist. A
 * missing stream is recreated at the check after the one that found it
 * missing, so an operator who deleted it to add it again with other
 * settings has one interval to do so. Those settings are then reported,
 * never overwritten.
 */
#define STREAM_CHECK_MS 3000

/* Log the outcome of one ensure call and turn a mismatch into the run's error. */
static int report(const char *kind, const char *name, int rc, const bl_nats_error_t *nerr, bl_error_t *err)
{
	if (rc >= 0) {
		BL_LOG(BL_LOG_INFO, "serve", rc == 1 ? "nats_object_created" : "nats_object_verified", NULL, NULL,
		       BL_LOG_S("kind", kind), BL_LOG_S("name", name));
		return 0;
	}
	/* The NATS layer's message names the object and each mismatching field. */
	if (rc == -EEXIST)
		return bl_error_set(err, rc, name, "%s; change the config to match, or remove the %s",
				    nerr->error.message, kind);
	return bl_error_set(err, rc, name, "cannot create or verify the %s: %s", kind, nerr->error.message);
}

static int ensure_stream(serve_t *s, const char *name, const char *subject, bl_js_retention_t retention,
			 int64_t max_age_ms, bool allow_direct, bl_error_t *err)
{
	const char *subjects[] = {subject};
	bl_nats_error_t nerr = {0};
	bl_js_stream_config_t sc = {
		.name = name,
		.subjects = subjects,
		.nsubjects = 1,
		.retention = retention,
		.storage = s->cfg->storage,
		.duplicate_window_ns = MS_TO_NS(s->cfg->duplicate_window_ms),
		.max_age_ns = MS_TO_NS(max_age_ms),
		.replicas = s->cfg->replicas,
		.allow_direct = allow_direct,
	};

	int rc = bl_js_stream_ensure(s->nats, &sc, NULL, &nerr);
	return report("stream", name, rc, &nerr, err);
}

static int ensure_bucket(serve_t *s, const char *bucket, int64_t ttl_ms, bl_error_t *err)
{
	bl_nats_error_t nerr = {0};
	bl_kv_config_t kc = {
		.bucket = bucket,
		.history = 1,
		.ttl_ns = MS_TO_NS(ttl_ms),
		.storage = s->cfg->storage,
		.replicas = s->cfg->replicas,
	};

	int rc = bl_kv_bucket_ensure(s->nats, &kc, NULL, &nerr);
	return report("bucket", bucket, rc, &nerr, err);
}

int bl__serve_setup_streams(serve_t *s, bl_error_t *err)
{
	const bl_serve_config_t *cfg = s->cfg;
	bl_nats_error_t nerr = {0};

	int rc = ensure_stream(s, SERVE_STREAM_JOBS, SERVE_JOBS_PREFIX ">", BL_JS_RETENTION_WORKQUEUE, 0, false, err);
	if (rc == 0)
		rc = ensure_stream(s, SERVE_STREAM_RESULTS, SERVE_RESULTS_PREFIX ">", BL_JS_RETENTION_LIMITS,
				   cfg->results_max_age_ms, true, err);
	if (rc == 0)
		rc = ensure_stream(s, SERVE_STREAM_DLQ, SERVE_DLQ_PREFIX ">", BL_JS_RETENTION_LIMITS, cfg->dlq_max_age_ms,
				   true, err);
	if (rc < 0)
		return rc;

	bl_js_consumer_config_t cc = {
		.stream = SERVE_STREAM_JOBS,
		.durable = SERVE_CONSUMER,
		.ack_wait_ns = MS_TO_NS(cfg->ack_wait_ms),
		.max_deliver = cfg->max_deliver,
		.max_ack_pending = cfg->max_ack_pending,
	};
	rc = report("consumer", SERVE_CONSUMER, bl_js_consumer_ensure(s->nats, &cc, NULL, &nerr), &nerr, err);
	if (rc == 0)
		rc = ensure_bucket(s, SERVE_BUCKET_QUOTAS, 0, err);
	if (rc == 0)
		rc = ensure_bucket(s, SERVE_BUCKET_APPROVALS, 0, err);
	if (rc == 0)
		rc = ensure_bucket(s, SERVE_BUCKET_ATTEMPTS, cfg->attempts_ttl_ms, err);
	return rc;
}

/* A stream that the fetch thread checks for and recreates when it is deleted. */
typedef struct watched_stream {
	const char *name;
	const char *missing_event;
	const char *missing_message;
	const char *recreated_event;
	const char *recreated_message;
	const char *until_back;   /* what happens until it is back, for the log */
	bool gates_ready;         /* /ready fails and no jobs are taken meanwhile */
} watched_stream_t;

static const watched_stream_t results_stream = {
	.name = SERVE_STREAM_RESULTS,
	.missing_event = "results_stream_missing",
	.missing_message = "BEAMLINE_RESULTS does not exist; not ready, and no jobs are taken until it is back",
	.recreated_event = "results_stream_recreated",
	.recreated_message = "BEAMLINE_RESULTS is back and verified; the results stored before it went missing are lost",
	.until_back = "not ready; checked again in a few seconds",
	.gates_ready = true,
};

/* A dead letter cannot be stored meanwhile, so its delivery is NAKed and
 * stays in BEAMLINE_JOBS, and other jobs go on being taken. */
static const watched_stream_t dlq_stream = {
	.name = SERVE_STREAM_DLQ,
	.missing_event = "dlq_stream_missing",
	.missing_message = "BEAMLINE_DLQ does not exist; dead letters are handed back until it is back",
	.recreated_event = "dlq_stream_recreated",
	.recreated_message = "BEAMLINE_DLQ is back and verified; the dead letters stored before it went missing are lost",
	.until_back = "dead letters handed back; checked again in a few seconds",
	.gates_ready = false,
};

/* Check stream `w`. *missing records whether the last check found it
 * missing. The first check that finds it missing logs that, and the next
 * one runs the start's create-or-verify again. */
static void check_stream(serve_t *s, const watched_stream_t *w, bool *missing)
{
	bl_js_stream_state_t st;
	bl_nats_error_t nerr = {0};
	bl_error_t err = {0};

	int rc = bl_js_stream_state(s->nats, w->name, &st, &nerr);
	if (rc == -ENOENT && !*missing) {
		BL_LOG(BL_LOG_ERROR, "serve", w->missing_event, NULL, w->missing_message,
		       BL_LOG_I("recreate_in_ms", STREAM_CHECK_MS));
		*missing = true;
		if (w->gates_ready)
			atomic_store(&s->state.streams_verified, false);
		return;
	}
	if ((rc == 0 && !*missing) || (rc != 0 && rc != -ENOENT))
		return;

	/* Missing at two checks in a row, or back after one. */
	if (bl__serve_setup_streams(s, &err) < 0) {
		BL_LOG(BL_LOG_ERROR, "serve", "setup_failed", NULL, err.message, BL_LOG_S("object", err.field),
		       BL_LOG_S("action", w->until_back));
		return;
	}
	BL_LOG(BL_LOG_WARN, "serve", w->recreated_event, NULL, w->recreated_message);
	*missing = false;
	if (w->gates_ready)
		atomic_store(&s->state.streams_verified, true);
}

void bl__serve_streams_check(serve_t *s, bool due)
{
	uint64_t now = bl__run_now_ms();

	if (!due && now < s->next_stream_check_ms)
		return;
	s->next_stream_check_ms = now + STREAM_CHECK_MS;

	check_stream(s, &results_stream, &s->results_missing);
	check_stream(s, &dlq_stream, &s->dlq_missing);
}
