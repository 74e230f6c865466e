/*
 * The job actor: one per started job. It starts the job's block, arms the
 * job's timeout, retries transient failures with exponential back-off and
 * full jitter, and reports one result.
 *
 * On timeout the result ("timeout") goes out at once and the run's cancel
 * flag is set; the block stops at its next poll of the flag, and only then
 * does the actor hand the job back to the dispatcher, so the job's CPU
 * time and memory stay counted against its tenant until its work has
 * really stopped.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "run_ctx.h"

typedef struct job_actor {
	job_state_t *js;
	bool running; /* the block was started and has not reported */
} job_actor_t;

/* Called by the block, from a CPU worker: hand the outcome to the actor. */
static void block_done(void *ctx, bl_block_outcome_t *outcome)
{
	job_state_t *js = ctx;
	if (bl__send_ptr(js->actor, MSG_OUTCOME, outcome) < 0)
		bl_block_outcome_free(&outcome);
}

static void finish(job_actor_t *ja, bl_actor_t *self)
{
	job_state_t *js = ja->js;
	if (js->timer_set)
		bl_timer_cancel(bl_actor_runtime(self), js->timer);
	ja->js = NULL;
	if (bl__send_ptr(js->ctx->dispatcher, MSG_JOB_DONE, js) < 0)
		bl__job_state_free(js);
	bl_actor_stop(self);
}

static void report(job_state_t *js, bl_job_status_t status, const bl_block_outcome_t *o, const char *code,
		   const char *message, const char *field)
{
	bl_job_result_t r = {
		.id = js->job->id,
		.tenant = js->job->tenant,
		.status = status,
		.result = o && status == BL_JOB_OK ? o->result : NULL,
		.attached = o && status == BL_JOB_OK ? &o->attached : NULL,
		.error_code = code,
		.error_field = field && field[0] ? field : NULL,
		.error_message = message,
		.retryable = o && o->retryable,
		.attempts = js->attempts,
		.pool = o ? o->pool : NULL,
		.device = o ? o->device : NULL,
		.traceparent = js->job->traceparent,
		.queued_us = js->queued_us,
		.run_us = js->run_ns / 1000u,
	};
	js->result_line = bl__report(js->ctx, &r, js->job->block, (double)js->run_ns / 1e6, js->cost, js->ticket);
	js->result_status = status;
	js->reported = true;
}

/* Milliseconds the job may still run, from its timeout and deadline; 0 when
 * it is already late. */
static uint64_t time_left(const job_state_t *js)
{
	uint64_t timeout = js->job->timeout_ms ? js->job->timeout_ms : js->ctx->cfg->default_timeout_ms;
	if (!js->job->has_deadline)
		return timeout;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	int64_t until = js->job->deadline_ms - now;
	if (until <= 0)
		return 0;
	return (uint64_t)until < timeout ? (uint64_t)until : timeout;
}

static void start_block(job_actor_t *ja, bl_actor_t *self)
{
	job_state_t *js = ja->js;
	js->attempts++;
	js->started_ns = bl__run_now_ns();

	int rc = js->block->start(js->job->params, &js->env, block_done, js);
	if (rc == 0) {
		ja->running = true;
		return;
	}
	bl_error_t err;
	bl_error_set(&err, rc, NULL, "cannot start the block: %s", bl_strerror(rc));
	report(js, BL_JOB_ERROR, NULL, "engine_error", err.message, NULL);
	finish(ja, self);
}

static void on_start(job_actor_t *ja, bl_actor_t *self)
{
	job_state_t *js = ja->js;
	uint64_t left = time_left(js);

	js->started_ns = bl__run_now_ns();
	js->queued_us = (js->started_ns - js->read_ns) / 1000u;
	if (left == 0) {
		report(js, BL_JOB_TIMEOUT, NULL, "deadline_passed", "the job's deadline passed before it could start", "deadline");
		finish(ja, self);
		return;
	}

	bl_msg_t *timeout = bl_msg_new(MSG_TIMEOUT, 0);
	js->timer_set = timeout && bl_send_after(&js->timer, self, &timeout, left) == 0;
	BL_LOG(BL_LOG_DEBUG, "job", "job_started", js->corr_id, NULL, BL_LOG_S("block", js->job->block),
	       BL_LOG_I("timeout_ms", left), BL_LOG_S("traceparent", js->job->traceparent));
	start_block(ja, self);
}

/* Back-off before attempt `attempt` (2, 3, ...): uniform in
 * [0, min(max_backoff, backoff * 2^(attempt - 2))], "full jitter". */
static uint64_t backoff_ms(const bl_job_retry_t *retry, unsigned attempt)
{
	uint64_t cap = retry->backoff_ms;
	for (unsigned i = 2; i < attempt && cap < retry->max_backoff_ms; i++)
		cap *= 2;
	if (cap > retry->max_backoff_ms)
		cap = retry->max_backoff_ms;
	return cap ? (uint64_t)rand() % (cap + 1) : 0;
}

static void on_outcome(job_actor_t *ja, bl_actor_t *self, bl_block_outcome_t *o)
{
	job_state_t *js = ja->js;
	ja->running = false;
	js->run_ns += bl__run_now_ns() - js->started_ns;
	js->cpu_ms += o ? o->cpu_ms : 0;

	if (js->timed_out) {
		/* The timeout result went out already; the work has now stopped. */
		bl_block_outcome_free(&o);
		finish(ja, self);
		return;
	}

	if (!o) {
		report(js, BL_JOB_ERROR, NULL, "out_of_memory", "out of memory while running the job", NULL);
	} else if (o->code == 0) {
		report(js, BL_JOB_OK, o, NULL, NULL, NULL);
	} else if (o->rejected) {
		BL_LOG(BL_LOG_WARN, "job", "job_rejected", js->corr_id, o->error.message, BL_LOG_S("code", o->error_code),
		       BL_LOG_S("traceparent", js->job->traceparent));
		report(js, BL_JOB_REJECTED, o, o->error_code, o->error.message, o->error.field);
	} else if (o->retryable && js->attempts < js->job->retry.max_attempts) {
		uint64_t wait = backoff_ms(&js->job->retry, js->attempts + 1);
		BL_LOG(BL_LOG_WARN, "job", "job_retry", js->corr_id, o->error.message, BL_LOG_I("attempt", js->attempts),
		       BL_LOG_I("backoff_ms", wait), BL_LOG_S("traceparent", js->job->traceparent));
		bl_block_outcome_free(&o);
		bl_msg_t *retry = bl_msg_new(MSG_RETRY, 0);
		if (retry && bl_send_after(NULL, self, &retry, wait) == 0)
			return;
		report(js, BL_JOB_ERROR, NULL, "engine_error", "cannot schedule the retry", NULL);
		finish(ja, self);
		return;
	} else {
		BL_LOG(BL_LOG_WARN, "job", "job_failed", js->corr_id, o->error.message, BL_LOG_S("code", o->error_code),
		       BL_LOG_S("field", o->error.field), BL_LOG_S("traceparent", js->job->traceparent));
		report(js, BL_JOB_ERROR, o, o->error_code, o->error.message, o->error.field);
	}
	bl_block_outcome_free(&o);
	finish(ja, self);
}

static void on_timeout(job_actor_t *ja, bl_actor_t *self)
{
	job_state_t *js = ja->js;
	js->timer_set = false;
	if (js->reported)
		return;

	uint64_t limit = js->job->timeout_ms ? js->job->timeout_ms : js->ctx->cfg->default_timeout_ms;
	char message[128];
	snprintf(message, sizeof message, "the job ran out of time (timeout %llu ms)", (unsigned long long)limit);
	BL_LOG(BL_LOG_WARN, "job", "job_timeout", js->corr_id, message, BL_LOG_S("traceparent", js->job->traceparent));

	js->timed_out = true;
	bl_cancel_hook_fire(js->cancel_hook);
	report(js, BL_JOB_TIMEOUT, NULL, "timeout", message, NULL);
	/* Waiting for a retry, nothing runs: done now. Otherwise wait for the
	 * block to notice the cancellation. */
	if (!ja->running)
		finish(ja, self);
}

/* A cancel request: the result ("cancelled") goes out at once and the
 * block is told to stop; as for a timeout, the job is handed back once
 * its work has stopped. */
static void on_cancel(job_actor_t *ja, bl_actor_t *self)
{
	job_state_t *js = ja->js;
	if (js->reported)
		return;

	BL_LOG(BL_LOG_INFO, "job", "job_cancelled", js->corr_id, "the job was cancelled on request");
	js->timed_out = true; /* the outcome still to come only means the work stopped */
	bl_cancel_hook_fire(js->cancel_hook);
	report(js, BL_JOB_CANCELLED, NULL, "cancelled", "the job was cancelled on request", NULL);
	if (!ja->running)
		finish(ja, self);
}

static int job_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	job_actor_t *ja = state;
	if (!ja->js)
		return 0; /* finished: late messages mean nothing */

	switch (msg->type) {
	case MSG_START:
		on_start(ja, self);
		break;
	case MSG_OUTCOME:
		on_outcome(ja, self, bl__msg_ptr(msg));
		break;
	case MSG_TIMEOUT:
		on_timeout(ja, self);
		break;
	case MSG_CANCEL:
		on_cancel(ja, self);
		break;
	case MSG_RETRY:
		if (!ja->js->timed_out)
			start_block(ja, self);
		break;
	default:
		break;
	}
	return 0;
}

static void job_discard(bl_msg_t *msg)
{
	if (msg->type == MSG_OUTCOME) {
		bl_block_outcome_t *o = bl__msg_ptr(msg);
		bl_block_outcome_free(&o);
	}
}

/* Only a runtime shut down mid-run stops a job actor that still owns its
 * job; free it then. */
static void job_stop(bl_actor_t *self, void *state, int reason)
{
	job_actor_t *ja = state;
	(void)self;
	(void)reason;
	bl__job_state_free(ja->js);
	ja->js = NULL;
}

const bl_behaviour_t bl__job_behaviour = {
	.name = "job",
	.receive = job_receive,
	.stop = job_stop,
	.discard = job_discard,
};

int bl__job_spawn(bl_actor_t **out, run_ctx_t *ctx, job_state_t *js)
{
	job_actor_t init = {.js = js};
	return bl_actor_spawn(out, ctx->control, &bl__job_behaviour, &init, sizeof init);
}
