/*
 * One run of the human block, as an actor on the control pool.
 *
 * The actor holds no thread while it waits: it is only a mailbox until a
 * message arrives. Store work (posting the request, reading or writing a
 * decision, in the folder or the bucket) runs as a task on the blocking
 * pool, one at a time, and comes back as RUN_TASK_DONE. These messages
 * make the actor look at its approval again:
 *   RUN_CHECK   the folder watch, the bucket watch, the admin endpoint or
 *               an approve request saw a decision for its id;
 *   RUN_RESCAN  while nothing watches the store, every rescan_ms;
 *   RUN_EXPIRE  the request's expiry passed: the default decision is
 *               written, unless a person's decision got there first;
 *   RUN_CANCEL  the job timed out: the job's result is out already, and
 *               the request stays pending in the store.
 * The actor registers with the service before the request is posted, so
 * a decision made between the post and the first wait is not missed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "human_run.h"

enum {
	RUN_START = 1,
	RUN_TASK_DONE, /* payload: store_task_t * */
	RUN_CHECK,
	RUN_RESCAN,
	RUN_EXPIRE,
	RUN_CANCEL,
};

typedef enum task_kind {
	TASK_POST,    /* post the request, or find the existing one */
	TASK_LOAD,    /* read the approval again */
	TASK_DEFAULT, /* write the default decision on expiry */
} task_kind_t;

/* One piece of file work, on the blocking pool. It owns its copies, so it
 * may outlive the run. */
typedef struct store_task {
	task_kind_t kind;
	bl_approvals_t *service;
	bl_actor_t *actor;      /* one reference, dropped after the reply */
	json_t *request;        /* TASK_POST; owned */
	char id[BL_APPROVAL_ID_MAX + 1];
	bl_decision_t fallback; /* TASK_DEFAULT */
	/* Results. */
	int rc;
	bool created;
	bl_approval_t approval;
	bl_error_t err;
} store_task_t;

typedef struct human_run {
	bl_approvals_t *service;
	bl_cancel_hook_t *hook;
	bl_block_done_fn done;
	void *done_ctx;
	json_t *request; /* owned */
	char id[BL_APPROVAL_ID_MAX + 1];
	char corr_id[300];
	bl_decision_t fallback;
	bool fail_on_reject;
	bool posted;       /* the request is in the store */
	bool task_running;
	bool check_again;  /* a RUN_CHECK came while a task ran */
	bool expire_due;   /* a RUN_EXPIRE came while a task ran */
	bool finished;
	bl_timer_id_t expiry_timer;
	bool expiry_set;
	bl_timer_id_t rescan_timer;
	bool rescan_set;
} human_run_t;

typedef struct run_state {
	human_run_t *run;
} run_state_t;

static void task_free(store_task_t *t)
{
	json_decref(t->request);
	bl_approval_clear(&t->approval);
	free(t);
}

/* ------------------------------------------------------------------------ */
/* File work on the blocking pool                                            */
/* ------------------------------------------------------------------------ */

static void do_task(store_task_t *t)
{
	bl_approval_store_t *store;
	bl_decision_input_t fallback = {
		.decision = t->fallback,
		.by = "beamline-engine",
		.comment = "the request expired; the default decision applies",
		.defaulted = true,
	};

	t->rc = bl_approvals_store(t->service, &store, &t->err);
	if (t->rc < 0)
		return;
	switch (t->kind) {
	case TASK_POST:
		t->rc = bl_approval_store_post(store, t->request, &t->approval, &t->created, &t->err);
		break;
	case TASK_LOAD:
		t->rc = bl_approval_store_get(store, t->id, &t->approval, &t->err);
		break;
	case TASK_DEFAULT:
		t->rc = bl_approval_store_decide(store, t->id, &fallback, bl_approval_now_ms(), &t->approval, &t->err);
		if (t->rc == -EEXIST)
			t->rc = 0; /* someone decided first, and their decision is kept */
		break;
	}
}

static void run_task(void *arg)
{
	store_task_t *t = arg;
	bl_actor_t *actor = t->actor;

	do_task(t);
	bl_msg_t *msg = bl_msg_new(RUN_TASK_DONE, sizeof t);
	if (!msg) {
		task_free(t);
	} else {
		memcpy(bl_msg_payload(msg), &t, sizeof t);
		/* A run that stopped meanwhile discards the reply (run_discard). */
		(void)bl_send(actor, &msg);
	}
	bl_actor_release(&actor);
}

/* A task that will not run (the runtime stopped first) gives up its actor. */
static void drop_task(void *arg)
{
	store_task_t *t = arg;

	bl_actor_release(&t->actor);
	task_free(t);
}

static int submit(human_run_t *run, bl_actor_t *self, task_kind_t kind)
{
	store_task_t *t = calloc(1, sizeof *t);
	if (!t)
		return BL_ENOMEM;
	t->kind = kind;
	t->service = run->service;
	t->fallback = run->fallback;
	snprintf(t->id, sizeof t->id, "%s", run->id);
	if (kind == TASK_POST && !(t->request = json_deep_copy(run->request))) {
		free(t);
		return BL_ENOMEM;
	}
	bl_actor_retain(self);
	t->actor = self;

	int rc = bl_pool_submit_with_drop(bl__approvals_blocking_pool(run->service), run_task, drop_task, t);
	if (rc < 0) {
		drop_task(t);
		return rc;
	}
	run->task_running = true;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                 */
/* ------------------------------------------------------------------------ */

static void log_event(human_run_t *run, int level, const char *event, const char *msg, json_t *fields)
{
	bl__approvals_log(run->service, level, event, run->corr_id, msg, fields);
	json_decref(fields);
}

/* Stop the timers and the registrations, report `o` and stop. */
static void finish(human_run_t *run, bl_actor_t *self, bl_block_outcome_t *o)
{
	bl_runtime_t *rt = bl_actor_runtime(self);
	if (run->expiry_set)
		bl_timer_cancel(rt, run->expiry_timer);
	if (run->rescan_set)
		bl_timer_cancel(rt, run->rescan_timer);
	run->expiry_set = run->rescan_set = false;
	bl_cancel_hook_unwatch(run->hook);
	bl__approvals_unwait(run->service, self);
	run->finished = true;
	run->done(run->done_ctx, o);
	bl_actor_stop(self);
}

static void fail(human_run_t *run, bl_actor_t *self, int code, const char *error_code, const bl_error_t *err,
		 bool retryable)
{
	bl_block_outcome_t *o = bl_block_outcome_new();
	if (o) {
		o->code = code;
		o->error = *err;
		o->error.code = code;
		o->error_code = error_code;
		o->retryable = retryable;
	}
	finish(run, self, o);
}

static json_t *decision_result(const human_run_t *run, const json_t *d)
{
	const json_t *comment = json_object_get(d, "comment");
	return json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "approval_id", run->id, "decision",
			 json_object_get(d, "decision"), "decided_by", json_object_get(d, "decided_by"), "comment",
			 comment ? comment : json_null(), "decided_at", json_object_get(d, "decided_at"), "defaulted",
			 json_object_get(d, "defaulted"));
}

/* Report the decision of `a`. */
static void report_decision(human_run_t *run, bl_actor_t *self, const bl_approval_t *a)
{
	const json_t *d = a->decision;
	const char *word = json_string_value(json_object_get(d, "decision"));
	const char *by = json_string_value(json_object_get(d, "decided_by"));
	bool defaulted = json_is_true(json_object_get(d, "defaulted"));

	log_event(run, BL_SERVICE_LOG_INFO, defaulted ? "approval_expired" : "approval_decided",
		  defaulted ? "the request expired; the default decision applies" : NULL,
		  json_pack("{s:s, s:s, s:s, s:b}", "approval_id", run->id, "decision", word ? word : "",
			    "decided_by", by ? by : "", "defaulted", defaulted));

	if (run->fail_on_reject && word && strcmp(word, "reject") == 0) {
		bl_error_t err;
		const char *comment = json_string_value(json_object_get(d, "comment"));
		bl_error_set(&err, BL_ECANCELED, NULL, "approval %s was rejected by %s%s%s", run->id, by ? by : "?",
			     comment ? ": " : "", comment ? comment : "");
		fail(run, self, BL_ECANCELED, "approval_rejected", &err, false);
		return;
	}

	bl_block_outcome_t *o = bl_block_outcome_new();
	if (o && !(o->result = decision_result(run, d)))
		bl_block_outcome_free(&o);
	finish(run, self, o);
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                   */
/* ------------------------------------------------------------------------ */

static void set_timer(bl_actor_t *self, uint32_t type, uint64_t delay_ms, bl_timer_id_t *id, bool *set)
{
	bl_msg_t *msg = bl_msg_new(type, 0);
	*set = msg && bl_send_after(id, self, &msg, delay_ms) == 0;
}

/* Pending and nothing running: start whatever is due, else wait. */
static void wait_more(human_run_t *run, bl_actor_t *self)
{
	int rc = 0;
	if (run->expire_due) {
		run->expire_due = false;
		rc = submit(run, self, TASK_DEFAULT);
	} else if (run->check_again) {
		run->check_again = false;
		rc = submit(run, self, TASK_LOAD);
	} else if (!bl__approvals_watched(run->service) && !run->rescan_set) {
		set_timer(self, RUN_RESCAN, bl_approvals_config(run->service)->rescan_ms, &run->rescan_timer,
			  &run->rescan_set);
	}
	if (rc < 0) {
		bl_error_t err;
		bl_error_set(&err, rc, NULL, "cannot read the approval: %s", bl_strerror(rc));
		fail(run, self, rc, "engine_error", &err, true);
	}
}

/* The request is stored and pending: arm its expiry. */
static void on_posted(human_run_t *run, bl_actor_t *self, const bl_approval_t *a, bool created)
{
	char expires[40];
	int64_t until = bl_approval_expires_ms(a);
	int64_t left = until - bl_approval_now_ms();

	bl_approval_format_time(expires, sizeof expires, until);
	log_event(run, BL_SERVICE_LOG_INFO, created ? "approval_posted" : "approval_found",
		  created ? NULL : "the request was posted by an earlier run; it keeps its expiry",
		  json_pack("{s:s, s:s, s:I}", "approval_id", run->id, "expires", expires, "expires_in_ms",
			    (json_int_t)(left > 0 ? left : 0)));
	run->posted = true;
	/* The stored request's default, which an earlier run chose. */
	bl_decision_parse(&run->fallback, json_string_value(json_object_get(a->request, "default_decision")));
	if (left <= 0)
		run->expire_due = true;
	else
		set_timer(self, RUN_EXPIRE, (uint64_t)left, &run->expiry_timer, &run->expiry_set);
	if (!run->expiry_set && left > 0)
		run->expire_due = true; /* no timer: apply the default now rather than wait forever */
}

static void on_task_done(human_run_t *run, bl_actor_t *self, store_task_t *t)
{
	run->task_running = false;
	if (t->rc < 0) {
		/* A record that is not this approval's (unreadable, another id's, another request's) stays so on every
		 * retry, so the job ends at once, as it does for a removed record. */
		const char *code = t->rc == -ENOENT	 ? "approval_lost"
				   : t->rc == BL_EFORMAT ? "approval_record_invalid"
				   : t->rc == -EEXIST	 ? "approval_conflict"
							 : "approval_store_failed";
		if (t->rc == -ENOENT)
			bl_error_set(&t->err, -ENOENT, NULL, "the approval %s was removed from the approval store",
				     run->id);
		log_event(run, BL_SERVICE_LOG_WARN, "approval_store_failed", t->err.message,
			  json_pack("{s:s, s:s}", "approval_id", run->id, "field", t->err.field));
		fail(run, self, t->rc, code, &t->err, strcmp(code, "approval_store_failed") == 0);
		return;
	}
	if (t->approval.decision) {
		report_decision(run, self, &t->approval);
		return;
	}
	if (t->kind == TASK_POST)
		on_posted(run, self, &t->approval, t->created);
	wait_more(run, self);
}

static void on_check(human_run_t *run, bl_actor_t *self, bool from_timer)
{
	if (from_timer)
		run->rescan_set = false;
	run->check_again = true;
	if (run->posted && !run->task_running)
		wait_more(run, self);
}

static void on_expire(human_run_t *run, bl_actor_t *self)
{
	run->expiry_set = false;
	run->expire_due = true;
	if (!run->task_running)
		wait_more(run, self);
}

static void on_cancel(human_run_t *run, bl_actor_t *self)
{
	bl_error_t err;
	bl_error_set(&err, BL_ECANCELED, NULL, "the job was cancelled while approval %s was pending; it stays pending",
		     run->id);
	fail(run, self, BL_ECANCELED, "cancelled", &err, false);
}

static void on_start(human_run_t *run, bl_actor_t *self)
{
	int rc = bl__approvals_wait(run->service, run->id, self, RUN_CHECK);
	if (rc == 0 && run->hook)
		rc = bl_cancel_hook_watch(run->hook, self, RUN_CANCEL);
	if (rc == 0)
		rc = submit(run, self, TASK_POST);
	if (rc < 0) {
		bl_error_t err;
		bl_error_set(&err, rc, NULL, "cannot post the approval request: %s", bl_strerror(rc));
		fail(run, self, rc, "engine_error", &err, true);
	}
}

/* ------------------------------------------------------------------------ */
/* The actor                                                                 */
/* ------------------------------------------------------------------------ */

static int run_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	human_run_t *run = ((run_state_t *)state)->run;
	store_task_t *t;

	if (run->finished) {
		if (msg->type == RUN_TASK_DONE) {
			memcpy(&t, bl_msg_payload(msg), sizeof t);
			task_free(t);
		}
		return 0;
	}
	switch (msg->type) {
	case RUN_START:
		on_start(run, self);
		break;
	case RUN_TASK_DONE:
		memcpy(&t, bl_msg_payload(msg), sizeof t);
		on_task_done(run, self, t);
		task_free(t);
		break;
	case RUN_CHECK:
	case RUN_RESCAN:
		on_check(run, self, msg->type == RUN_RESCAN);
		break;
	case RUN_EXPIRE:
		on_expire(run, self);
		break;
	case RUN_CANCEL:
		on_cancel(run, self);
		break;
	default:
		break;
	}
	return 0;
}

/* Also runs when the runtime shuts down with the run still waiting: the
 * run is dropped without a report, as blocks.h allows. The cancel hook
 * may be freed by then, so only the service is touched. */
static void run_stop(bl_actor_t *self, void *state, int reason)
{
	human_run_t *run = ((run_state_t *)state)->run;
	(void)reason;

	bl__approvals_unwait(run->service, self);
	json_decref(run->request);
	free(run);
}

static void run_discard(bl_msg_t *msg)
{
	if (msg->type == RUN_TASK_DONE) {
		store_task_t *t;
		memcpy(&t, bl_msg_payload(msg), sizeof t);
		task_free(t);
	}
}

static const bl_behaviour_t run_behaviour = {
	.name = "human_run",
	.receive = run_receive,
	.stop = run_stop,
	.discard = run_discard,
};

int bl__human_run_start(human_run_spec_t *spec)
{
	human_run_t *run = calloc(1, sizeof *run);
	if (!run) {
		json_decref(spec->request);
		return BL_ENOMEM;
	}
	run->service = spec->service;
	run->hook = spec->env->cancel_hook;
	run->done = spec->done;
	run->done_ctx = spec->done_ctx;
	run->request = spec->request;
	run->fail_on_reject = spec->fail_on_reject;
	snprintf(run->id, sizeof run->id, "%s", json_string_value(json_object_get(spec->request, "id")));
	snprintf(run->corr_id, sizeof run->corr_id, "%s", spec->env->corr_id ? spec->env->corr_id : "");
	bl_decision_parse(&run->fallback, json_string_value(json_object_get(spec->request, "default_decision")));

	bl_actor_t *actor;
	run_state_t init = {run};
	int rc = bl_actor_spawn(&actor, bl__approvals_control_pool(run->service), &run_behaviour, &init, sizeof init);
	if (rc < 0) {
		json_decref(run->request);
		free(run);
		return rc;
	}
	rc = bl_send_u64(actor, RUN_START, 0);
	if (rc < 0) {
		/* Never started: stopping it frees the run without a report. */
		bl_actor_stop(actor);
	}
	bl_actor_release(&actor);
	return rc;
}
