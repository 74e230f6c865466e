/*
 * The dispatcher actor: admits each job (block known, parameters valid,
 * quotas allow it), queues it, and starts job actors while capacity lasts.
 * A job id seen before in the same run, for the same tenant, is not run
 * again: it gets the first job's result, marked as a duplicate.
 */
#define _GNU_SOURCE /* openat2 through syscall */

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "run_ctx.h"
#include "strmap.h"

/* The first result of a job id, and how many duplicates wait for it. */
typedef struct seen {
	char *line; /* NULL until the first job reported */
	unsigned waiting;
} seen_t;

typedef struct dispatcher {
	run_ctx_t *ctx;
	bl_admission_t *adm;
	size_t capacity; /* jobs running at once, over all tenants */
	size_t running;
	bool tick_pending;
	bl_strmap_t tenant_dirs; /* tenant -> folder fd + 1 (0 is "absent") */
	bl_strmap_t seen;        /* "tenant/id" -> seen_t */
} dispatcher_t;

/* ------------------------------------------------------------------------ */
/* Tenant folders                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Open DATA_DIR/TENANT beneath the data root, so no tenant name (".",
 * "..", a symbolic link) can reach another tenant's files. Returns the fd,
 * or -1 when the tenant has no folder (jobs that read no files still run).
 */
static int open_tenant_dir(run_ctx_t *ctx, const char *tenant)
{
	if (strcmp(tenant, ".") == 0 || strcmp(tenant, "..") == 0)
		return -1;

	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, ctx->data_root, tenant, &how, sizeof how);
	return fd < 0 ? -1 : fd;
}

static int tenant_dir(dispatcher_t *d, const char *tenant)
{
	uintptr_t stored = (uintptr_t)bl_strmap_get(&d->tenant_dirs, tenant);
	if (stored)
		return (int)stored - 1;

	int fd = open_tenant_dir(d->ctx, tenant);
	if (bl_strmap_put(&d->tenant_dirs, tenant, (void *)(uintptr_t)(fd + 1)) != 0 && fd >= 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void close_dir(void *value)
{
	int fd = (int)(uintptr_t)value - 1;
	if (fd >= 0)
		close(fd);
}

/* ------------------------------------------------------------------------ */
/* Duplicates                                                                */
/* ------------------------------------------------------------------------ */

static void dedupe_key(char *out, size_t size, const bl_job_t *job)
{
	snprintf(out, size, "%s/%s", job->tenant, job->id);
}

static bl_job_status_t status_of(const json_t *result)
{
	const char *name = json_string_value(json_object_get(result, "status"));
	for (int s = BL_JOB_OK; name && s <= BL_JOB_CANCELLED; s++) {
		if (strcmp(name, bl_job_status_name((bl_job_status_t)s)) == 0)
			return (bl_job_status_t)s;
	}
	return BL_JOB_ERROR;
}

/* The first result's line with "duplicate": true added. */
static void report_duplicate(run_ctx_t *ctx, const char *line, const char *block)
{
	json_t *r = json_loads(line, 0, NULL);
	bl_job_status_t status = status_of(r);
	if (r)
		json_object_set_new(r, "duplicate", json_true());
	char *text = r ? json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(r);

	result_item_t *item = calloc(1, sizeof *item);
	if (!item || !text) {
		free(item);
		free(text);
		BL_LOG(BL_LOG_ERROR, "dispatcher", "duplicate_lost", NULL, "out of memory reporting a duplicate job");
		return;
	}
	item->line = text;
	item->status = status;
	snprintf(item->block, sizeof item->block, "%s", block);
	item->run_ms = -1;
	if (bl__send_ptr(ctx->writer, MSG_RESULT, item) < 0) {
		free(item->line);
		free(item);
	}
}

/* Returns true when `js` repeats a job id of this run; the duplicate is
 * then answered (now, or when the first job finishes) and freed. */
static bool take_duplicate(dispatcher_t *d, job_state_t *js)
{
	char key[512];
	dedupe_key(key, sizeof key, js->job);
	seen_t *seen = bl_strmap_get(&d->seen, key);

	if (!seen) {
		seen = calloc(1, sizeof *seen);
		if (!seen || bl_strmap_put(&d->seen, key, seen) != 0)
			free(seen); /* without the record, a later duplicate runs again */
		return false;
	}

	BL_LOG(BL_LOG_INFO, "dispatcher", "job_duplicate", js->corr_id, "job id already seen in this run; not run again");
	if (seen->line)
		report_duplicate(d->ctx, seen->line, js->job->block);
	else
		seen->waiting++;
	bl__job_state_free(js);
	return true;
}

/* The first job of an id finished: answer the duplicates that waited. */
static void record_result(dispatcher_t *d, job_state_t *js, const char *line)
{
	char key[512];
	dedupe_key(key, sizeof key, js->job);
	seen_t *seen = bl_strmap_get(&d->seen, key);
	if (!seen || !line)
		return;

	free(seen->line);
	seen->line = strdup(line);
	for (; seen->waiting > 0 && seen->line; seen->waiting--)
		report_duplicate(d->ctx, seen->line, js->job->block);
}

static void free_seen(void *value)
{
	seen_t *seen = value;
	free(seen->line);
	free(seen);
}

/* ------------------------------------------------------------------------ */
/* Admission and dispatch                                                    */
/* ------------------------------------------------------------------------ */

static void fail_job(dispatcher_t *d, job_state_t *js, bl_job_status_t status, const char *code, const bl_error_t *err)
{
	BL_LOG(status == BL_JOB_REJECTED ? BL_LOG_WARN : BL_LOG_INFO, "dispatcher",
	       status == BL_JOB_REJECTED ? "job_rejected" : "job_invalid", js->corr_id, err->message,
	       BL_LOG_S("code", code), BL_LOG_S("field", err->field));
	char *line = bl__report_failure(d->ctx, js->job->id, js->job->tenant, js->job->block, status, code, err, false);
	record_result(d, js, line);
	free(line);
	bl__job_state_free(js);
}

static void start_job(dispatcher_t *d, job_state_t *js)
{
	bl_actor_t *actor;
	bl_error_t err = {0};

	int rc = bl__job_spawn(&actor, d->ctx, js);
	if (rc == 0) {
		js->actor = actor;
		rc = bl_send_u64(actor, MSG_START, 0);
	}
	if (rc < 0) {
		bl_error_set(&err, rc, NULL, "cannot start the job: %s", bl_strerror(rc));
		bl_admission_finish(d->adm, &js->entry, 0, bl__run_now_ms());
		fail_job(d, js, BL_JOB_ERROR, "engine_error", &err);
		return;
	}
	d->running++;
}

static void schedule_tick(dispatcher_t *d, bl_actor_t *self)
{
	uint64_t now = bl__run_now_ms();
	uint64_t at = bl_admission_next_refill(d->adm, now);
	if (d->tick_pending || at == UINT64_MAX)
		return;

	bl_msg_t *tick = bl_msg_new(MSG_TICK, 0);
	if (tick && bl_send_after(NULL, self, &tick, at - now) == 0)
		d->tick_pending = true;
}

static void dispatch(dispatcher_t *d, bl_actor_t *self)
{
	uint64_t now = bl__run_now_ms();
	while (d->running < d->capacity) {
		bl_admission_entry_t *e = bl_admission_next(d->adm, now);
		if (!e)
			break;
		start_job(d, e->job);
	}
	if (bl_admission_queued(d->adm) > 0)
		schedule_tick(d, self);
}

static void admit(dispatcher_t *d, job_state_t *js)
{
	bl_error_t err = {0};

	if (take_duplicate(d, js))
		return;

	js->block = bl_block_find(js->job->block);
	if (!js->block) {
		bl_error_set(&err, BL_EFORMAT, "block", "unknown block '%s'; this engine runs: kernel", js->job->block);
		fail_job(d, js, BL_JOB_ERROR, "unknown_block", &err);
		return;
	}

	js->env.data_dir = tenant_dir(d, js->job->tenant);
	uint64_t mem = 0;
	int rc = js->block->prepare(js->job->params, &js->env, &mem, &err);
	if (rc < 0) {
		fail_job(d, js, BL_JOB_ERROR, rc == -ENOENT ? "input_not_found" : "invalid_params", &err);
		return;
	}

	js->entry.job = js;
	js->entry.priority = js->job->priority;
	js->entry.mem_estimate = mem;
	rc = bl_admission_enqueue(d->adm, &js->entry, js->job->tenant, bl__run_now_ms(), &err);
	if (rc < 0)
		fail_job(d, js, BL_JOB_REJECTED, rc == BL_ENOMEM ? "engine_error" : "quota_exceeded", &err);
}

static void job_done(dispatcher_t *d, job_state_t *js, const char *line)
{
	bl_admission_finish(d->adm, &js->entry, js->cpu_ms, bl__run_now_ms());
	d->running--;
	record_result(d, js, line);
	bl__job_state_free(js);
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
	case MSG_JOB_DONE: {
		job_state_t *js = bl__msg_ptr(msg);
		job_done(d, js, js->result_line);
		break;
	}
	case MSG_TICK:
		d->tick_pending = false;
		break;
	default:
		break;
	}
	dispatch(d, self);
	return 0;
}

static void dispatcher_stop(bl_actor_t *self, void *state, int reason)
{
	dispatcher_t *d = ((dispatcher_init_t *)state)->d;
	(void)self;
	(void)reason;

	bl_admission_free(&d->adm);
	bl_strmap_clear(&d->tenant_dirs, close_dir);
	bl_strmap_clear(&d->seen, free_seen);
	free(d);
}

/* A job that never reached the dispatcher still owns its state. */
static void dispatcher_discard(bl_msg_t *msg)
{
	if (msg->type == MSG_JOB || msg->type == MSG_JOB_DONE)
		bl__job_state_free(bl__msg_ptr(msg));
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
	/* Two jobs per CPU worker, so one job's loading overlaps another's
	 * compute. */
	d->capacity = 2u * bl_pool_worker_count(ctx->cpu);

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
