/*
 * The request-reply side of the service mode, on cnats's subscription
 * threads:
 *
 *   beamline.engine.v1.execute  (queue group beamline-engine) a job. The
 *       reply is its result once it ran, or at once a stored result of the
 *       same tenant/id. Results of requests are not stored.
 *   beamline.engine.v1.status   every instance replies with its id,
 *       uptime, jobs in flight, running and queued, pools and counters.
 *   beamline.engine.v1.cancel   {"tenant": ..., "id": ...}. Only the
 *       instance that holds the job replies, after asking the dispatcher to
 *       cancel it. A job that no instance holds gets no reply.
 *   beamline.engine.v1.approve  (queue group beamline-engine) a decision
 *       on an approval (serve_approve.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "log.h"
#include "serve_ctx.h"

enum { SUB_EXECUTE = 0, SUB_STATUS, SUB_CANCEL, SUB_APPROVE, SUB_COUNT };

/* The connection sends each publish at once (send_asap), so the reply
 * leaves now rather than when cnats's flusher thread next runs. */
void bl__serve_reply(serve_t *s, const char *reply, const char *text)
{
	natsStatus ns = natsConnection_Publish(bl_nats_raw(s->nats), reply, text, (int)strlen(text));
	if (ns != NATS_OK)
		BL_LOG(BL_LOG_WARN, "serve", "reply_failed", NULL, "cannot send a reply", BL_LOG_S("reason", natsStatus_GetText(ns)));
}

/* Reply with an error result for a request that did not become a job. */
static void reply_error(serve_t *s, const char *reply, const char *tenant, const char *id, const char *code,
			const bl_error_t *err, bool retryable)
{
	bl_job_result_t r = {
		.id = id,
		.tenant = tenant,
		.status = BL_JOB_ERROR,
		.error_code = code,
		.error_field = err->field[0] ? err->field : NULL,
		.error_message = err->message,
		.retryable = retryable,
	};
	char *line = bl_job_result_encode(&r);
	if (line)
		bl__serve_reply(s, reply, line);
	free(line);
}

/*
 * Reply with the job's stored result when BEAMLINE_RESULTS contains one,
 * because a job whose result exists does not run again. The results
 * index answers most misses without a round trip, and serve_index.c says
 * when it can miss a result stored a moment ago. A failed lookup lets the
 * job run. Returns whether the reply went out.
 */
static bool reply_stored(serve_t *s, const char *reply, const bl_job_t *job)
{
	char *stored = NULL;
	if (!bl__result_index_may_hold(&s->results_index, job->tenant, job->id))
		return false;

	atomic_fetch_add(&s->state.result_lookups, 1);
	if (bl__serve_result_lookup(s, job->tenant, job->id, &stored) < 0)
		return false;
	atomic_fetch_add(&s->state.duplicates, 1);
	bl__serve_reply(s, reply, stored);
	free(stored);
	return true;
}

/* Take an execute request as a job, or reply at once. */
static void execute(serve_t *s, natsMsg *msg)
{
	const char *reply = natsMsg_GetReply(msg);
	bl_error_t err = {0};
	bl_job_t *job = NULL;
	size_t len = (size_t)natsMsg_GetDataLength(msg);
	char id[SERVE_NAME_MAX];

	if (!reply)
		return;
	if (bl__serve_parse_job(s, natsMsg_GetData(msg), len, &job, id, &err) < 0) {
		reply_error(s, reply, "", id, "invalid_job", &err, false);
		return;
	}
	if (!bl__serve_names_subject_safe(job->tenant, job->id)) {
		bl_error_set(&err, BL_EFORMAT, "id", "the tenant may not contain '.'; the id may not start or end with '.' or contain '..'");
		reply_error(s, reply, job->tenant, job->id, "name_not_subject_safe", &err, false);
		bl_job_free(&job);
		return;
	}
	if (reply_stored(s, reply, job)) {
		bl_job_free(&job);
		return;
	}

	serve_job_t entry = {.reply = strdup(reply), .max_attempts = job->retry.max_attempts, .retry = job->retry};
	snprintf(entry.tenant, sizeof entry.tenant, "%s", job->tenant);
	snprintf(entry.id, sizeof entry.id, "%s", job->id);
	int64_t ticket = entry.reply ? bl__serve_table_add(&s->table, &entry) : BL_ENOMEM;
	if (ticket < 0) {
		free(entry.reply);
		bl_error_set(&err, (int)ticket, NULL,
			     ticket == -EEXIST ? "the same job (tenant and id) is running; ask again once it finished"
					       : "the engine is at its in-flight limit; ask again later");
		reply_error(s, reply, job->tenant, job->id, ticket == -EEXIST ? "job_in_flight" : "engine_busy", &err, true);
		bl_job_free(&job);
		return;
	}
	atomic_fetch_add(&s->state.jobs_received, 1);
	const char *traceparent = NULL;
	if (natsMsgHeader_Get(msg, "traceparent", &traceparent) != NATS_OK)
		traceparent = NULL;
	bl__job_take_trace(job, traceparent);
	if (bl__job_submit(&s->ctx, &job, len, (uint64_t)ticket, &err) < 0) {
		serve_job_t taken;
		if (bl__serve_table_take(&s->table, (uint64_t)ticket, &taken))
			bl__serve_job_release(&taken);
		reply_error(s, reply, job->tenant, job->id, "engine_error", &err, true);
		bl_job_free(&job);
		return;
	}
	bl__serve_submitted(s, (uint64_t)ticket, entry.tenant, entry.id);
}

static json_t *pool_json(const char *name, bl_pool_t *pool)
{
	return json_pack("{s:s, s:i}", "name", name, "workers", pool ? (int)bl_pool_worker_count(pool) : 0);
}

/* Add the results index's state and the lookups of execute requests to the status reply `r` (NULL is fine). */
static void add_index_status(serve_t *s, json_t *r)
{
	size_t keys = 0;
	bool current = bl__result_index_is_current(&s->results_index, &keys);

	json_object_set_new(json_object_get(r, "counters"), "result_lookups",
			    json_integer((json_int_t)atomic_load(&s->state.result_lookups)));
	json_object_set_new(r, "results_index", json_pack("{s:b, s:I}", "current", current, "keys", (json_int_t)keys));
}

static void status(serve_t *s, natsMsg *msg)
{
	const char *reply = natsMsg_GetReply(msg);
	bl_serve_state_t *st = &s->state;
	if (!reply)
		return;

	json_t *pools = json_array();
	json_array_append_new(pools, pool_json("control", s->ctx.control));
	json_array_append_new(pools, pool_json("cpu", s->ctx.cpu));
	if (s->ctx.gpu)
		json_array_append_new(pools, pool_json("gpu", s->ctx.gpu));
	if (s->ctx.io)
		json_array_append_new(pools, pool_json("io", s->ctx.io));
	json_array_append_new(pools, pool_json("blocking", s->ctx.blocking));
	json_array_append_new(pools, pool_json("results", s->results_pool));

	json_t *r = json_pack(
		"{s:s, s:f, s:b, s:b, s:{s:I, s:I, s:I, s:I}, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "instance",
		s->instance, "uptime_s", (double)(bl__run_now_ms() - s->started_ms) / 1000.0, "ready", bl_serve_ready(st),
		"draining", atomic_load(&st->draining), "jobs", "in_flight",
		(json_int_t)(s->table.capacity - bl__serve_table_free_slots(&s->table)), "running",
		(json_int_t)atomic_load(&s->ctx.jobs_running), "queued", (json_int_t)atomic_load(&s->ctx.jobs_queued),
		"capacity", (json_int_t)s->table.capacity, "pools", pools, "counters", "received",
		(json_int_t)atomic_load(&st->jobs_received), "results_stored", (json_int_t)atomic_load(&st->results_stored),
		"replies", (json_int_t)atomic_load(&st->replies_sent), "duplicates", (json_int_t)atomic_load(&st->duplicates),
		"dead_letters", (json_int_t)atomic_load(&st->dead_letters), "naks", (json_int_t)atomic_load(&st->naks));
	add_index_status(s, r);
	char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
	if (text)
		bl__serve_reply(s, reply, text);
	free(text);
	json_decref(r);
}

void bl__serve_send_cancel(serve_t *s, const char *tenant, const char *id)
{
	size_t size = strlen(tenant) + strlen(id) + 2;
	char *corr_id = malloc(size);
	if (!corr_id)
		return;
	snprintf(corr_id, size, "%s/%s", tenant, id);
	if (bl__send_ptr(s->ctx.dispatcher, MSG_CANCEL, corr_id) < 0)
		free(corr_id);
}

void bl__serve_submitted(serve_t *s, uint64_t ticket, const char *tenant, const char *id)
{
	if (bl__serve_table_submitted(&s->table, ticket))
		bl__serve_send_cancel(s, tenant, id);
}

/* A job is put in the table before it is handed to the dispatcher, which
 * ignores a cancel of a job it does not hold yet. So a cancel that comes
 * between the two is left for the submitter to send after the job. The
 * dispatcher's mailbox delivers messages in the order they were sent. */
static void cancel(serve_t *s, natsMsg *msg)
{
	const char *reply = natsMsg_GetReply(msg);
	json_t *req = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
	const char *tenant = json_string_value(json_object_get(req, "tenant"));
	const char *id = json_string_value(json_object_get(req, "id"));

	serve_cancel_t found = tenant && id ? bl__serve_table_cancel(&s->table, tenant, id) : SERVE_CANCEL_ABSENT;
	if (found == SERVE_CANCEL_NOW)
		bl__serve_send_cancel(s, tenant, id);
	if (found != SERVE_CANCEL_ABSENT) {
		BL_LOG(BL_LOG_INFO, "serve", "job_cancel_requested", NULL, NULL, BL_LOG_S("tenant", tenant), BL_LOG_S("id", id));
		json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "tenant", tenant, "id", id, "status", "cancelling", "instance",
				      s->instance);
		char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
		if (text && reply)
			bl__serve_reply(s, reply, text);
		free(text);
		json_decref(r);
	}
	json_decref(req);
}

/* cnats calls these on a subscription's thread; each takes the message. */
static void on_execute(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	execute(closure, msg);
	natsMsg_Destroy(msg);
}

static void on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	status(closure, msg);
	natsMsg_Destroy(msg);
}

static void on_cancel(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	cancel(closure, msg);
	natsMsg_Destroy(msg);
}

static void on_approve(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	bl__serve_approve(closure, natsMsg_GetReply(msg), natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
	natsMsg_Destroy(msg);
}

int bl__serve_control_start(serve_t *s, bl_error_t *err)
{
	natsConnection *nc = bl_nats_raw(s->nats);
	natsSubscription **subs = (natsSubscription **)s->subs;

	natsStatus ns = natsConnection_Subscribe(&subs[SUB_STATUS], nc, SERVE_SUBJECT_STATUS, on_status, s);
	if (ns == NATS_OK)
		ns = natsConnection_Subscribe(&subs[SUB_CANCEL], nc, SERVE_SUBJECT_CANCEL, on_cancel, s);
	if (ns == NATS_OK)
		ns = natsConnection_QueueSubscribe(&subs[SUB_EXECUTE], nc, SERVE_SUBJECT_EXECUTE, SERVE_QUEUE_GROUP,
						   on_execute, s);
	if (ns == NATS_OK)
		ns = natsConnection_QueueSubscribe(&subs[SUB_APPROVE], nc, SERVE_SUBJECT_APPROVE, SERVE_QUEUE_GROUP,
						   on_approve, s);
	if (ns != NATS_OK)
		return bl_error_set(err, -ENOTCONN, NULL, "cannot subscribe to the control subjects: %s",
				    natsStatus_GetText(ns));

	/* Once the server has answered a ping it has the subscriptions, so a
	 * request sent after serve_started is logged finds a responder. */
	bl_nats_error_t nerr = {0};
	int rc = bl_nats_flush(s->nats, s->cfg->request_timeout_ms, &nerr);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot subscribe to the control subjects: %s", nerr.error.message);
	return 0;
}

void bl__serve_control_stop_execute(serve_t *s)
{
	natsSubscription *sub = s->subs[SUB_EXECUTE];
	if (sub)
		natsSubscription_Unsubscribe(sub);
}

void bl__serve_control_stop(serve_t *s)
{
	for (int i = 0; i < SUB_COUNT; i++) {
		natsSubscription *sub = s->subs[i];
		if (!sub)
			continue;
		bl_nats_subscription_close(s->nats, sub);
		s->subs[i] = NULL;
	}
}
