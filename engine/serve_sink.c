/*
 * The result sink of the service mode. A router actor on the control pool
 * takes every result (it is ctx->writer) and passes it, by ticket, to one
 * of `result_publishers` sink actors on the "results" pool, whose workers
 * may block: each result is a publish that waits for the stream's ack.
 *
 * The router replies to requests itself (reply_now). For a delivery, a sink:
 *   - stores the result (Nats-Msg-Id tenant/id) and only then acks;
 *   - for a retryable error before the last attempt, records the attempt's
 *     error in beamline_attempts and NAKs with a back-off delay;
 *   - for a retryable error on the last attempt, publishes the job with
 *     every attempt to BEAMLINE_DLQ and then acks.
 * A result that cannot be stored leaves the delivery unacked: it comes
 * back after ack_wait, finds no result, and runs again. The result of a
 * request is not stored. A result larger than the server takes in one
 * message (its max_payload) could never be stored or sent, so the router
 * puts an error result in its place first (fit_result).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include <beamline/json_load.h>

#include "log.h"
#include "serve_ctx.h"

typedef struct sink_init {
	serve_t *s;
} sink_init_t;

static void free_item(result_item_t *item)
{
	free(item->line);
	free(item);
}

/* This attempt as a record of the attempts list: its number, error, and timing. */
static json_t *attempt_record(const serve_t *s, const serve_job_t *job, const char *line)
{
	json_t *r = json_loads(line, 0, NULL);
	json_t *error = json_object_get(r, "error");
	json_t *timing = json_object_get(r, "timing_us");
	json_t *rec = json_pack("{s:i, s:s, s:I, s:I}", "attempt", (int)job->attempt, "instance", s->instance,
				"started_unix_ms", (json_int_t)job->started_unix_ms, "ended_unix_ms",
				(json_int_t)bl__serve_unix_ms());
	if (rec && error)
		json_object_set(rec, "error", error);
	if (rec && timing)
		json_object_set(rec, "timing_us", timing);
	json_decref(r);
	return rec;
}

/* A retryable failure: NAK for another attempt, or dead-letter the last. */
static void retry_or_dead_letter(serve_t *s, serve_job_t *job, const char *line)
{
	json_t *attempts = bl__serve_attempts_load(s, job->tenant, job->id);
	json_array_append_new(attempts, attempt_record(s, job, line));

	if (job->attempt < job->max_attempts) {
		uint64_t delay = bl__serve_backoff_ms(&job->retry, job->attempt);
		bl__serve_attempts_save(s, job->tenant, job->id, attempts);
		bl__serve_floor_raise(&s->floors, job->stream_seq, job->tenant, job->id, job->attempt + 1, delay,
				      bl__run_now_ms());
		BL_LOG(BL_LOG_WARN, "serve", "job_retry", NULL, "retryable failure; the delivery goes back for another attempt",
		       BL_LOG_S("tenant", job->tenant), BL_LOG_S("id", job->id), BL_LOG_I("attempt", job->attempt),
		       BL_LOG_I("max_attempts", job->max_attempts), BL_LOG_I("backoff_ms", delay));
		bl_js_nak(job->msg, (int64_t)delay * 1000000, NULL);
		atomic_fetch_add(&s->state.naks, 1);
		json_decref(attempts);
		return;
	}

	char message[160];
	snprintf(message, sizeof message, "the job failed with a retryable error in each of its %u attempts",
		 job->max_attempts);
	if (bl__serve_dead_letter(s, job->msg, job->tenant, job->id, "attempts_exhausted", message, attempts) == 0) {
		bl_js_ack(job->msg, NULL);
		bl__serve_attempts_forget(s, job->tenant, job->id);
	} else {
		/* Not acked: the delivery comes back, over max_attempts, and the ingress dead-letters it. */
		bl__serve_attempts_save(s, job->tenant, job->id, attempts);
	}
	json_decref(attempts);
}

static void store_and_ack(serve_t *s, serve_job_t *job, const char *line)
{
	if (bl__serve_result_store(s, job->tenant, job->id, line) < 0)
		return;
	atomic_fetch_add(&s->state.results_stored, 1);
	bl_js_ack(job->msg, NULL);
	if (job->delivered > 1)
		bl__serve_attempts_forget(s, job->tenant, job->id);
}

/* Store the outcome of the job of item->ticket. The job stays in the
 * table, finishing, until its outcome is stored and its delivery acked or
 * NAKed, so that a redelivery meanwhile is handed back rather than run or
 * dead-lettered. */
static void take_result(serve_t *s, result_item_t *item)
{
	serve_job_t job;
	if (!bl__serve_table_finish(&s->table, item->ticket, &job)) {
		/* The drain handed this job back already. */
		BL_LOG(BL_LOG_INFO, "serve", "result_dropped", NULL, "a result came after its job was handed back");
		return;
	}

	if (job.reply) {
		bl__serve_reply(s, job.reply, item->line);
		atomic_fetch_add(&s->state.replies_sent, 1);
	} else if (item->status == BL_JOB_ERROR && item->retryable) {
		retry_or_dead_letter(s, &job, item->line);
	} else {
		store_and_ack(s, &job, item->line);
	}
	if (bl__serve_table_take(&s->table, item->ticket, &job))
		bl__serve_job_release(&job);
}

static int sink_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	serve_t *s = ((sink_init_t *)state)->s;
	(void)self;

	if (msg->type == MSG_RESULT) {
		result_item_t *item = bl__msg_ptr(msg);
		take_result(s, item);
		free_item(item);
	}
	return 0;
}

/*
 * Reply to a request here, on the control pool: with send_asap the reply
 * is one write, so it does not need a sink's blocking worker, and skipping
 * the hop to a sink saves the requester a thread wake-up. Returns whether
 * the item was a request's result.
 */
static bool reply_now(serve_t *s, const result_item_t *item)
{
	serve_job_t job;
	if (!bl__serve_table_take_request(&s->table, item->ticket, &job))
		return false;

	bl__serve_reply(s, job.reply, item->line);
	atomic_fetch_add(&s->state.replies_sent, 1);
	bl__serve_job_release(&job);
	return true;
}

/* Bytes of a message that a result's headers and subject may need, kept
 * free below the server's max_payload. */
#define RESULT_HEADROOM 4096

static json_int_t int_at(json_t *obj, const char *outer, const char *inner)
{
	return json_integer_value(json_object_get(json_object_get(obj, outer), inner));
}

/*
 * Put an error result in place of a result line too large for one NATS
 * message: the server refuses such a publish, so the result could be
 * neither stored nor sent, and the job would run again on every delivery.
 * The error keeps the job's id, tenant, trace and timing. Where the limit
 * is not known (no connection), the line stays as it is.
 */
static void fit_result(serve_t *s, result_item_t *item)
{
	int64_t max_payload = natsConnection_GetMaxPayload(bl_nats_raw(s->nats));
	if (max_payload <= RESULT_HEADROOM || item->line_len <= (uint64_t)(max_payload - RESULT_HEADROOM))
		return;

	json_t *r = bl_json_loadb(item->line, item->line_len, 0, NULL);
	char message[300];
	snprintf(message, sizeof message,
		 "the result is %zu bytes, more than the NATS server takes in one message (max_payload %lld bytes, "
		 "less %d for headers); ask for less per job, such as an fs get with params.length",
		 item->line_len, (long long)max_payload, RESULT_HEADROOM);
	bl_job_result_t small = {
		.id = json_string_value(json_object_get(r, "id")),
		.tenant = json_string_value(json_object_get(r, "tenant")),
		.status = BL_JOB_ERROR,
		.error_code = "result_too_large",
		.error_message = message,
		.attempts = (unsigned)json_integer_value(json_object_get(r, "attempts")),
		.traceparent = json_string_value(json_object_get(r, "traceparent")),
		.queued_us = (uint64_t)int_at(r, "timing_us", "queued"),
		.run_us = (uint64_t)int_at(r, "timing_us", "run"),
	};
	size_t len = 0;
	char *line = bl_job_result_encode_len(&small, &len);
	BL_LOG(BL_LOG_WARN, "serve", "result_too_large", NULL, message, BL_LOG_S("tenant", small.tenant),
	       BL_LOG_S("id", small.id));
	json_decref(r);
	if (!line)
		return; /* out of memory: the publish fails as it would have */
	free(item->line);
	item->line = line;
	item->line_len = len;
	item->status = BL_JOB_ERROR;
	item->retryable = false;
}

static int router_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	serve_t *s = ((sink_init_t *)state)->s;
	(void)self;

	if (msg->type != MSG_RESULT)
		return 0;
	result_item_t *item = bl__msg_ptr(msg);
	fit_result(s, item);
	if (reply_now(s, item)) {
		free_item(item);
		return 0;
	}
	if (bl__send_ptr(s->sinks[item->ticket % s->nsinks], MSG_RESULT, item) < 0) {
		BL_LOG(BL_LOG_ERROR, "serve", "result_lost", NULL, "out of memory passing a result on; the job runs again");
		free_item(item);
	}
	return 0;
}

static void discard(bl_msg_t *msg)
{
	if (msg->type == MSG_RESULT)
		free_item(bl__msg_ptr(msg));
}

static const bl_behaviour_t sink_behaviour = {.name = "result_sink", .receive = sink_receive, .discard = discard};
static const bl_behaviour_t router_behaviour = {.name = "result_router", .receive = router_receive, .discard = discard};

int bl__serve_sinks_start(serve_t *s, bl_error_t *err)
{
	bl_pool_config_t cfg;
	sink_init_t init = {s};

	bl_pool_config_init(&cfg);
	cfg.name = "results";
	cfg.workers = s->cfg->result_publishers;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(s->ctx.rt, &cfg, &s->results_pool);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot start the results pool: %s", bl_strerror(rc));

	s->sinks = calloc(s->cfg->result_publishers, sizeof *s->sinks);
	if (!s->sinks)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	for (; s->nsinks < s->cfg->result_publishers; s->nsinks++) {
		rc = bl_actor_spawn(&s->sinks[s->nsinks], s->results_pool, &sink_behaviour, &init, sizeof init);
		if (rc < 0)
			return bl_error_set(err, rc, NULL, "cannot start a result sink: %s", bl_strerror(rc));
	}
	rc = bl_actor_spawn(&s->ctx.writer, s->ctx.control, &router_behaviour, &init, sizeof init);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot start the result router: %s", bl_strerror(rc));
	return 0;
}
