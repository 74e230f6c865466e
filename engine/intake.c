/*
 * The job source's side of the engine: turn a parsed job into the state
 * the dispatcher and its job actor work on, and hand it over. The jobs
 * file (run.c) and the NATS ingress (serve_ingress.c) both come here.
 */
#include <stdlib.h>
#include <string.h>

#include <beamline/trace.h>

#include "run_ctx.h"

/* The block environment of `js`, from the run's pools and limits. */
static void fill_env(run_ctx_t *ctx, job_state_t *js)
{
	bl_job_t *job = js->job;

	js->env.cpu_pool = ctx->cpu;
	js->env.gpu_pool = ctx->gpu;
	js->env.device = ctx->device;
	js->env.placement = ctx->placement;
	const bl_quota_t *quota = bl_quota_table_find(ctx->quotas, job->tenant);
	js->env.device_mem_limit = quota ? quota->mem_bytes : 0;
	js->env.data_dir = -1;
	js->env.npy_limits = &ctx->cfg->npy_limits;
	js->env.json_limits = &ctx->cfg->json_limits;
	js->env.inline_max_elements = ctx->cfg->inline_max_elements;
	js->env.cancel = &js->cancel;
	js->env.corr_id = js->corr_id;
	js->env.tenant = job->tenant;
	js->env.job_id = job->id;
	js->env.traceparent = job->traceparent;
	js->env.timeout_ms = job->timeout_ms ? job->timeout_ms : ctx->cfg->default_timeout_ms;
	js->env.io_pool = ctx->io;
	js->env.blocking_pool = ctx->blocking;
	js->env.services = ctx->services;
	js->env.attach_text = true; /* bl__report encodes with the outcome's text */
}

void bl__job_take_trace(bl_job_t *job, const char *header)
{
	bl_trace_t trace;
	if (job->traceparent[0] || !header || bl_trace_continue(&trace, header) < 0)
		return;
	memcpy(job->traceparent, trace.traceparent, sizeof job->traceparent);
}

int bl__job_submit(run_ctx_t *ctx, bl_job_t **job, size_t cost, uint64_t ticket, bl_error_t *err)
{
	job_state_t *js = calloc(1, sizeof *js);
	if (!js)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory queueing the job");

	/* Keep the job's own trace context, else start one. */
	bl_trace_t trace;
	if (!(*job)->traceparent[0] && bl_trace_new(&trace) == 0)
		memcpy((*job)->traceparent, trace.traceparent, sizeof (*job)->traceparent);

	js->ctx = ctx;
	js->job = *job;
	js->cost = cost;
	js->ticket = ticket;
	js->read_ns = bl__run_now_ns();
	snprintf(js->corr_id, sizeof js->corr_id, "%s/%s", js->job->tenant, js->job->id);
	fill_env(ctx, js);
	js->env.cancel_hook = js->cancel_hook = bl_cancel_hook_new(&js->cancel);

	int rc = js->cancel_hook ? bl__send_ptr(ctx->dispatcher, MSG_JOB, js) : BL_ENOMEM;
	if (rc < 0) {
		/* The caller keeps the job, to report it. */
		js->job = NULL;
		bl__job_state_free(js);
		return bl_error_set(err, rc, NULL, "out of memory queueing the job");
	}
	*job = NULL;
	return 0;
}
