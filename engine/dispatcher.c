/*
 * The dispatcher actor: admits each job (block known, parameters valid,
 * quotas allow it), queues it, and starts job actors while capacity lasts.
 * A job id seen before in the same run, for the same tenant, is not run
 * again (dedupe.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/json_dump.h>

#include "dedupe.h"
#include "log.h"
#include "metrics_engine.h"
#include "run_ctx.h"
#include "tenant_dirs.h"

/* I/O jobs running at once per I/O worker. */
#define IO_JOBS_PER_WORKER 256u

/* The error of jobs cancelled because the run was asked to stop. */
#define STOPPING_MESSAGE "the engine was asked to stop (SIGTERM or SIGINT) before the job started"

/* A refill more than this far away is worth a warning: jobs wait for it. */
#define SLOW_REFILL_MS 1000

typedef struct dispatcher {
	run_ctx_t *ctx;
	bl_admission_t *adm;
	/* Jobs running at once, over all tenants, by what they occupy; the
	 * BL_LOAD_NONE entries are unused, since such jobs are not limited. */
	size_t capacity[BL_LOAD_KINDS];
	size_t running[BL_LOAD_KINDS];
	/* A job that admission picked while its kind was full; it starts
	 * first once a place frees. */
	bl_admission_entry_t *held[BL_LOAD_KINDS];
	bool tick_pending;
	bool stopping;     /* MSG_STOP came: jobs that arrive now are cancelled */
	job_state_t *live; /* admitted jobs, for cancel requests */
	bl_tenant_dirs_t dirs;
	bl_dedupe_t dedupe;
} dispatcher_t;

/* ------------------------------------------------------------------------ */
/* Duplicates                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Answer one duplicate of a finished job: the first result with
 * "duplicate": true, or, when that result was too large to keep, a short
 * result with the first job's status that points back to it.
 */
static void report_duplicate(run_ctx_t *ctx, const bl_job_t *job, const bl_dedupe_entry_t *first, size_t cost)
{
	json_t *r = first->line ? json_loads(first->line, 0, NULL) : NULL;
	if (!r)
		r = json_pack("{s:s, s:s, s:s, s:s}", "id", job->id, "tenant", job->tenant, "status",
			      bl_job_status_name(first->status), "note",
			      "the same job ran earlier in this run; its result, too large to repeat, is earlier in the output");
	if (r)
		json_object_set_new(r, "duplicate", json_true());
	size_t len = 0;
	char *text = r ? bl_json_dumps(r, &len) : NULL;
	json_decref(r);

	result_item_t *item = calloc(1, sizeof *item);
	if (!item || !text) {
		free(item);
		free(text);
		BL_LOG(BL_LOG_ERROR, "dispatcher", "duplicate_lost", NULL, "out of memory reporting a duplicate job");
		return;
	}
	item->line = text;
	item->line_len = len;
	item->cost = cost;
	item->status = first->status;
	snprintf(item->block, sizeof item->block, "%s", job->block);
	item->run_ms = -1;
	if (bl__send_ptr(ctx->writer, MSG_RESULT, item) < 0) {
		free(item->line);
		free(item);
	}
}

static void fail_job(dispatcher_t *d, job_state_t *js, bl_job_status_t status, const char *code, const bl_error_t *err,
		     bool retryable);

/* Returns true when `js` repeats a job id of this run; it is then answered
 * (now, or when the first job finishes) and freed. */
static bool take_duplicate(dispatcher_t *d, job_state_t *js)
{
	if (!d->ctx->dedupe_ids)
		return false;

	uint64_t fingerprint = bl_dedupe_fingerprint(js->job);
	bl_dedupe_entry_t *first = bl_dedupe_lookup(&d->dedupe, js->job, fingerprint);
	if (!first)
		return false;

	if (first->fingerprint != fingerprint) {
		bl_error_t err;
		bl_error_set(&err, BL_EINVAL, "id",
			     "id '%s' was already used in this run by a different job (other block, params, priority "
			     "or timeout); ids must be unique per tenant",
			     js->job->id);
		/* Not fail_job: that would record this job as the id's result. */
		BL_LOG(BL_LOG_WARN, "dispatcher", "job_id_conflict", js->corr_id, err.message);
		free(bl__report_failure(d->ctx, js->job->id, js->job->tenant, js->job->block, js->job->traceparent,
					BL_JOB_ERROR, "duplicate_id_conflict", &err, false, js->cost, js->ticket));
		bl__job_state_free(js);
		return true;
	}

	BL_LOG(BL_LOG_INFO, "dispatcher", "job_duplicate", js->corr_id, "job id already seen in this run; not run again");
	if (first->finished) {
		report_duplicate(d->ctx, js->job, first, js->cost);
	} else {
		first->waiting++;
		first->waiting_cost += js->cost;
	}
	bl__job_state_free(js);
	return true;
}

/* Record the result `line` (taken) of the first job of an id, and report
 * it for each duplicate that waited. The last report releases all their
 * text from the window. */
static void record_result(dispatcher_t *d, job_state_t *js, char *line, bl_job_status_t status)
{
	if (!d->ctx->dedupe_ids) {
		free(line);
		return;
	}

	bl_dedupe_finish(&d->dedupe, js->job, line, status);
	atomic_store(&d->ctx->dedupe_room, d->dedupe.budget - d->dedupe.kept_bytes);
	bl_dedupe_entry_t *first = bl_dedupe_get(&d->dedupe, js->job);
	if (!first)
		return;

	for (; first->waiting > 0; first->waiting--)
		report_duplicate(d->ctx, js->job, first, first->waiting == 1 ? first->waiting_cost : 0);
	first->waiting_cost = 0;
}

/* ------------------------------------------------------------------------ */
/* Admitted jobs, for cancel requests                                         */
/* ------------------------------------------------------------------------ */

static void live_add(dispatcher_t *d, job_state_t *js)
{
	js->live_next = d->live;
	js->live_prev = NULL;
	if (d->live)
		d->live->live_prev = js;
	d->live = js;
	js->live = true;
}

static void live_remove(dispatcher_t *d, job_state_t *js)
{
	if (!js->live)
		return;
	if (js->live_prev)
		js->live_prev->live_next = js->live_next;
	else
		d->live = js->live_next;
	if (js->live_next)
		js->live_next->live_prev = js->live_prev;
	js->live = false;
}

static job_state_t *live_find(const dispatcher_t *d, const char *corr_id)
{
	for (job_state_t *js = d->live; js; js = js->live_next) {
		if (strcmp(js->corr_id, corr_id) == 0)
			return js;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Admission and dispatch                                                    */
/* ------------------------------------------------------------------------ */

static void fail_job(dispatcher_t *d, job_state_t *js, bl_job_status_t status, const char *code, const bl_error_t *err,
		     bool retryable)
{
	const char *event = status == BL_JOB_REJECTED	? "job_rejected"
			    : status == BL_JOB_CANCELLED ? "job_cancelled"
							 : "job_invalid";
	BL_LOG(BL_LOG_WARN, "dispatcher", event, js->corr_id,
	       err->message, BL_LOG_S("code", code), BL_LOG_S("field", err->field));
	char *line = bl__report_failure(d->ctx, js->job->id, js->job->tenant, js->job->block, js->job->traceparent,
					status, code, err, retryable, js->cost, js->ticket);
	live_remove(d, js);
	record_result(d, js, line, status);
	bl__job_state_free(js);
}

/* Hold the tenant's folder for `js`. A tenant without one gets -1, which
 * the block reports if the job names any file. Any other failure (too many
 * open files, a name leading out of the data folder) fills *err and
 * returns a negative errno. */
static int hold_folder(dispatcher_t *d, job_state_t *js, bl_error_t *err)
{
	int fd = bl_tenant_dirs_acquire(&d->dirs, js->job->tenant);
	js->env.data_dir = fd >= 0 ? fd : -1;
	js->holds_folder = fd >= 0;
	if (fd >= 0 || fd == -ENOENT)
		return 0;

	return bl_error_set(err, fd, "tenant", "cannot open the folder of tenant '%s' in the data folder: %s",
			    js->job->tenant, strerror(-fd));
}

/* Fail `js` because hold_folder failed with `rc`. */
static void fail_on_folder(dispatcher_t *d, job_state_t *js, int rc, const bl_error_t *err)
{
	bool transient = rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -EAGAIN;
	const char *code = rc == -EXDEV || rc == -ELOOP ? "path_outside_tenant_folder" : "io_error";
	fail_job(d, js, BL_JOB_ERROR, code, err, transient);
}

static void let_go_of_folder(dispatcher_t *d, job_state_t *js)
{
	if (js->holds_folder)
		bl_tenant_dirs_release(&d->dirs, js->job->tenant);
	js->holds_folder = false;
	js->env.data_dir = -1;
}

static void start_job(dispatcher_t *d, job_state_t *js)
{
	bl_actor_t *actor;
	bl_error_t err = {0};

	/* The quota may have changed since the job was read. */
	js->env.device_mem_limit = bl_admission_entry_quota(&js->entry)->mem_bytes;
	int rc = hold_folder(d, js, &err);
	if (rc < 0) {
		bl_admission_finish(d->adm, &js->entry, 0, bl__run_now_ms());
		fail_on_folder(d, js, rc, &err);
		return;
	}

	rc = bl__job_spawn(&actor, d->ctx, js);
	if (rc == 0) {
		js->actor = actor;
		rc = bl_send_u64(actor, MSG_START, 0);
	}
	if (rc < 0) {
		bl_error_set(&err, rc, NULL, "cannot start the job: %s", bl_strerror(rc));
		bl_admission_finish(d->adm, &js->entry, 0, bl__run_now_ms());
		let_go_of_folder(d, js);
		fail_job(d, js, BL_JOB_ERROR, "engine_error", &err, true);
		return;
	}
	d->running[js->block->load]++;
}

static void schedule_tick(dispatcher_t *d, bl_actor_t *self)
{
	uint64_t now = bl__run_now_ms();
	uint64_t at = bl_admission_next_refill(d->adm, now);
	if (d->tick_pending || at == UINT64_MAX)
		return;

	if (at - now > SLOW_REFILL_MS)
		BL_LOG(BL_LOG_WARN, "dispatcher", "jobs_wait_for_cpu_budget", NULL,
		       "queued jobs wait for a tenant's CPU budget (quota cpu_ms_per_s) to refill",
		       BL_LOG_I("wait_ms", at - now), BL_LOG_I("queued", bl_admission_queued(d->adm)));
	bl_msg_t *tick = bl_msg_new(MSG_TICK, 0);
	if (tick && bl_send_after(NULL, self, &tick, at - now) == 0)
		d->tick_pending = true;
}

static bool has_room(const dispatcher_t *d, bl_block_load_t load)
{
	return load == BL_LOAD_NONE || d->running[load] < d->capacity[load];
}

/* Whether admission's next pick can be placed: every kind is either not
 * full or has no job held yet. */
static bool can_take_next(const dispatcher_t *d)
{
	for (int load = 0; load < BL_LOAD_KINDS; load++) {
		if (!has_room(d, (bl_block_load_t)load) && d->held[load])
			return false;
	}
	return true;
}

/*
 * Start jobs in admission's order while there is room. A job whose kind is
 * full is held (one per kind) and the next is tried, so a full I/O limit
 * does not stop kernels. NOTE: admission counts a held job as running for
 * its tenant's max_concurrent from the moment it is picked.
 */
static void dispatch(dispatcher_t *d, bl_actor_t *self)
{
	uint64_t now = bl__run_now_ms();

	for (int load = 0; load < BL_LOAD_KINDS; load++) {
		bl_admission_entry_t *e = d->held[load];
		if (e && has_room(d, (bl_block_load_t)load)) {
			d->held[load] = NULL;
			start_job(d, e->job);
		}
	}

	while (can_take_next(d)) {
		bl_admission_entry_t *e = bl_admission_next(d->adm, now);
		if (!e)
			break;
		job_state_t *js = e->job;
		if (has_room(d, js->block->load))
			start_job(d, js);
		else
			d->held[js->block->load] = e;
	}
	if (bl_admission_queued(d->adm) > 0)
		schedule_tick(d, self);
}

static const char *prepare_error_code(int rc)
{
	switch (rc) {
	case -ENOENT:
	case -ENOTDIR:
		return "input_not_found";
	case -EXDEV:
	case -ELOOP:
		return "path_outside_tenant_folder";
	case -EISDIR:
		return "invalid_input";
	case BL_ELIMIT:
		return "limit_exceeded";
	default:
		return rc > -4096 ? "io_error" : "invalid_params";
	}
}

static void admit(dispatcher_t *d, job_state_t *js)
{
	bl_error_t err = {0};

	if (take_duplicate(d, js))
		return;
	if (d->stopping) {
		bl_error_set(&err, BL_ECANCELED, NULL, "%s", STOPPING_MESSAGE);
		fail_job(d, js, BL_JOB_CANCELLED, "cancelled", &err, false);
		return;
	}

	js->block = bl_block_find(js->job->block);
	if (!js->block) {
		char names[128];
		bl_block_names(names, sizeof names);
		bl_error_set(&err, BL_EFORMAT, "block", "unknown block '%s'; expected one of: %s", js->job->block, names);
		fail_job(d, js, BL_JOB_ERROR, "unknown_block", &err, false);
		return;
	}

	/* The folder is held only while the parameters are checked; a queued
	 * job keeps no descriptor open. */
	uint64_t mem = 0;
	int rc = hold_folder(d, js, &err);
	if (rc < 0) {
		fail_on_folder(d, js, rc, &err);
		return;
	}
	rc = js->block->prepare(js->job->params, &js->env, &mem, &err);
	let_go_of_folder(d, js);
	if (rc < 0) {
		bool transient = rc == -EMFILE || rc == -ENFILE || rc == BL_ENOMEM;
		fail_job(d, js, BL_JOB_ERROR, prepare_error_code(rc), &err, transient);
		return;
	}

	js->entry.job = js;
	js->entry.priority = js->job->priority;
	js->entry.mem_estimate = mem;
	rc = bl_admission_enqueue(d->adm, &js->entry, js->job->tenant, bl__run_now_ms(), &err);
	if (rc == BL_ELIMIT)
		bl_engine_metrics_quota_rejected(d->ctx->metrics, js->job->tenant, &err);
	if (rc < 0) {
		fail_job(d, js, BL_JOB_REJECTED, rc == BL_ENOMEM ? "engine_error" : "quota_exceeded", &err, rc == BL_ENOMEM);
		return;
	}
	live_add(d, js);
}

/* Reject the queued jobs a new quota can never start (admission.h). */
static void reject_unfit(dispatcher_t *d, bl_admission_entry_t *unfit, const char *tenant)
{
	while (unfit) {
		bl_admission_entry_t *next = unfit->next;
		job_state_t *js = unfit->job;
		bl_error_t err = {0};
		bl_error_set(&err, BL_ELIMIT, "params",
			     "the job needs about %llu bytes of memory, and tenant '%s' now has a quota mem_bytes of %llu",
			     (unsigned long long)unfit->mem_estimate, tenant,
			     (unsigned long long)bl_admission_entry_quota(unfit)->mem_bytes);
		fail_job(d, js, BL_JOB_REJECTED, "quota_exceeded", &err, false);
		unfit = next;
	}
}

static void change_quota(dispatcher_t *d, const bl_quota_change_t *c)
{
	bl_admission_entry_t *unfit = NULL;
	bl_error_t err = {0};
	uint64_t now = bl__run_now_ms();
	int rc = 0;

	if (c->kind == BL_QUOTA_READY) {
		BL_LOG(BL_LOG_INFO, "dispatcher", "quotas_loaded", NULL, "the live quotas stored at start are applied");
		return;
	}
	if (c->kind == BL_QUOTA_PUT)
		rc = bl_admission_set_quota(d->adm, c->tenant, &c->quota, now, &unfit, &err);
	else
		rc = bl_admission_unset_quota(d->adm, c->tenant, now, &unfit);
	if (rc < 0) {
		BL_LOG(BL_LOG_ERROR, "dispatcher", "quota_change_failed", NULL, err.message, BL_LOG_S("tenant", c->tenant));
		return;
	}

	if (c->kind == BL_QUOTA_DELETE)
		BL_LOG(BL_LOG_INFO, "dispatcher", "quota_removed", NULL,
		       "the tenant's live quota was deleted; the quota file's or the default quota applies",
		       BL_LOG_S("tenant", c->tenant), BL_LOG_I("jobs_rejected", rc));
	else
		BL_LOG(BL_LOG_INFO, "dispatcher", "quota_changed", NULL, NULL, BL_LOG_S("tenant", c->tenant),
		       BL_LOG_I("max_concurrent", c->quota.max_concurrent),
		       BL_LOG_I("max_queued", c->quota.max_queued), BL_LOG_I("weight", c->quota.weight),
		       BL_LOG_I("cpu_ms_per_s", c->quota.cpu_ms_per_s), BL_LOG_I("mem_bytes", c->quota.mem_bytes),
		       BL_LOG_I("jobs_rejected", rc));
	reject_unfit(d, unfit, c->tenant);
}

int bl__dispatcher_send_quota(bl_actor_t *dispatcher, const bl_quota_change_t *change)
{
	bl_quota_change_t *copy = malloc(sizeof *copy);
	if (!copy)
		return BL_ENOMEM;

	*copy = *change;
	int rc = bl__send_ptr(dispatcher, MSG_QUOTA, copy);
	if (rc < 0)
		free(copy);
	return rc;
}

void bl__dispatcher_quota_fn(const bl_quota_change_t *change, void *dispatcher)
{
	int rc = bl__dispatcher_send_quota(dispatcher, change);
	if (rc < 0)
		BL_LOG(BL_LOG_ERROR, "dispatcher", "quota_change_lost", NULL,
		       "cannot pass a quota change to the dispatcher; the tenant keeps its previous quota",
		       BL_LOG_S("tenant", change->tenant), BL_LOG_S("err_name", bl_err_name(rc)));
}

static void job_done(dispatcher_t *d, job_state_t *js)
{
	bl_admission_finish(d->adm, &js->entry, js->cpu_ms, bl__run_now_ms());
	d->running[js->block->load]--;
	let_go_of_folder(d, js);
	live_remove(d, js);
	record_result(d, js, js->result_line, js->result_status);
	js->result_line = NULL;
	bl__job_state_free(js);
}

/*
 * Cancel the admitted job `corr_id` ("tenant/id"): a queued or held job
 * gets its "cancelled" result at once; a running one is told through its
 * actor, which reports "cancelled" and stops the block. An unknown id, or
 * a job that already finished, is ignored.
 */
/* Take a job that has not started out of admission and report it
 * cancelled with `why`. Returns false when it was not queued. */
static bool cancel_queued(dispatcher_t *d, job_state_t *js, const char *why)
{
	bl_error_t err;
	bool was_held = false;
	for (int load = 0; load < BL_LOAD_KINDS; load++) {
		if (d->held[load] == &js->entry) {
			d->held[load] = NULL;
			was_held = true;
		}
	}
	if (was_held)
		bl_admission_finish(d->adm, &js->entry, 0, bl__run_now_ms());
	else if (!bl_admission_remove(d->adm, &js->entry))
		return false;
	bl_error_set(&err, BL_ECANCELED, NULL, "%s", why);
	fail_job(d, js, BL_JOB_CANCELLED, "cancelled", &err, false);
	return true;
}

static void cancel_job(dispatcher_t *d, const char *corr_id)
{
	job_state_t *js = live_find(d, corr_id);
	if (!js)
		return;

	if (js->actor) {
		bl_send_u64(js->actor, MSG_CANCEL, 0);
		return;
	}
	cancel_queued(d, js, "the job was cancelled before it started");
}

/* Cancel every job that has not started, and those that wait for a person
 * (their requests stay pending for the next run); the others finish. From
 * now on each job that arrives is cancelled too. */
static void stop_queued(dispatcher_t *d)
{
	job_state_t *next;

	d->stopping = true;
	for (job_state_t *js = d->live; js; js = next) {
		next = js->live_next;
		if (!js->actor)
			cancel_queued(d, js, STOPPING_MESSAGE);
		else if (js->block->load == BL_LOAD_NONE)
			bl_send_u64(js->actor, MSG_CANCEL, 0);
	}
}

/* ------------------------------------------------------------------------ */
/* The actor                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct dispatcher_init {
	dispatcher_t *d;
} dispatcher_init_t;

static int dispatcher_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	dispatcher_t *d = ((dispatcher_init_t *)state)->d;

	switch (msg->type) {
	case MSG_JOB:
		admit(d, bl__msg_ptr(msg));
		break;
	case MSG_JOB_DONE:
		job_done(d, bl__msg_ptr(msg));
		break;
	case MSG_CANCEL: {
		char *corr_id = bl__msg_ptr(msg);
		cancel_job(d, corr_id);
		free(corr_id);
		break;
	}
	case MSG_TICK:
		d->tick_pending = false;
		break;
	case MSG_STOP:
		stop_queued(d);
		break;
	case MSG_QUOTA:
		change_quota(d, bl__msg_ptr(msg));
		free(bl__msg_ptr(msg));
		break;
	default:
		break;
	}
	dispatch(d, self);
	bl_engine_metrics_queue(d->ctx->metrics, bl_admission_queued(d->adm), bl_admission_running(d->adm));
	atomic_store_explicit(&d->ctx->jobs_running, bl_admission_running(d->adm), memory_order_relaxed);
	atomic_store_explicit(&d->ctx->jobs_queued, bl_admission_queued(d->adm), memory_order_relaxed);
	return 0;
}

/* Free the jobs that never started: admission still queued or held them,
 * and no job actor has their state. A started job's state comes back in
 * its MSG_JOB_DONE, which the discard callback frees. */
static void free_unstarted(dispatcher_t *d)
{
	job_state_t *next;

	for (job_state_t *js = d->live; js; js = next) {
		next = js->live_next;
		if (js->actor)
			continue;
		live_remove(d, js);
		bl__job_state_free(js);
	}
}

static void dispatcher_stop(bl_actor_t *self, void *state, int reason)
{
	dispatcher_t *d = ((dispatcher_init_t *)state)->d;
	(void)self;
	(void)reason;

	free_unstarted(d);
	bl_admission_free(&d->adm);
	bl_tenant_dirs_clear(&d->dirs);
	bl_dedupe_clear(&d->dedupe);
	free(d);
}

/* A job that never reached the dispatcher still owns its state. */
static void dispatcher_discard(bl_msg_t *msg)
{
	if (msg->type == MSG_JOB || msg->type == MSG_JOB_DONE)
		bl__job_state_free(bl__msg_ptr(msg));
	else if (msg->type == MSG_QUOTA || msg->type == MSG_CANCEL)
		free(bl__msg_ptr(msg));
}

const bl_behaviour_t bl__dispatcher_behaviour = {
	.name = "dispatcher",
	.receive = dispatcher_receive,
	.stop = dispatcher_stop,
	.discard = dispatcher_discard,
};

int bl__dispatcher_spawn(bl_actor_t **out, run_ctx_t *ctx, bl_error_t *err)
{
	dispatcher_t *d = calloc(1, sizeof *d);
	if (!d)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory starting the dispatcher");
	d->ctx = ctx;
	/* Two compute jobs per CPU worker, so one job's loading overlaps
	 * another's compute; I/O jobs mostly wait, so many more. */
	d->capacity[BL_LOAD_COMPUTE] = 2u * bl_pool_worker_count(ctx->cpu);
	d->capacity[BL_LOAD_IO] = IO_JOBS_PER_WORKER * (ctx->io ? bl_pool_worker_count(ctx->io) : 1u);
	bl_tenant_dirs_init(&d->dirs, ctx->data_root);
	bl_dedupe_init(&d->dedupe, ctx->cfg->dedupe_bytes);
	atomic_store(&ctx->dedupe_room, ctx->cfg->dedupe_bytes);

	bl_admission_config_t cfg;
	bl_admission_config_init(&cfg);
	cfg.ageing_ms = ctx->cfg->ageing_ms;
	int rc = bl_admission_new(&d->adm, &cfg, ctx->quotas);
	dispatcher_init_t init = {d};
	if (rc == 0)
		rc = bl_actor_spawn(out, ctx->control, &bl__dispatcher_behaviour, &init, sizeof init);
	if (rc < 0) {
		bl_admission_free(&d->adm);
		free(d);
		return bl_error_set(err, rc, NULL, "cannot start the dispatcher: %s", bl_strerror(rc));
	}
	return 0;
}
