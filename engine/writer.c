/*
 * The writer actor: writes each result as one line of the output, keeps the
 * counts for the progress line and the summary, and ends the run once every
 * job read has its result.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "run_ctx.h"

/* Results written in place (a pipe, a terminal) reach their reader at most
 * this long after they are written, even while the run goes on. */
#define FLUSH_DELAY_MS 100

typedef struct writer {
	run_ctx_t *ctx;
	uint64_t expected;
	bool expecting;
	bool flush_pending;
} writer_t;

static void count_block(bl_run_summary_t *s, const result_item_t *item)
{
	unsigned i = 0;
	while (i < s->block_count && strcmp(s->blocks[i].name, item->block) != 0)
		i++;
	if (i == s->block_count) {
		if (s->block_count == BL_RUN_BLOCKS_MAX)
			return;
		snprintf(s->blocks[i].name, sizeof s->blocks[i].name, "%s", item->block);
		s->block_count++;
	}
	s->blocks[i].jobs++;
	s->blocks[i].ok += item->status == BL_JOB_OK;
}

static void keep_run_time(run_ctx_t *ctx, double run_ms)
{
	if (run_ms < 0)
		return;
	if (ctx->run_ms_count == ctx->run_ms_capacity) {
		size_t capacity = ctx->run_ms_capacity ? ctx->run_ms_capacity * 2 : 1024;
		double *grown = realloc(ctx->run_ms, capacity * sizeof *grown);
		if (!grown)
			return; /* the percentiles then miss this job; nothing else does */
		ctx->run_ms = grown;
		ctx->run_ms_capacity = capacity;
	}
	ctx->run_ms[ctx->run_ms_count++] = run_ms;
}

static void write_line(run_ctx_t *ctx, const char *line, size_t len)
{
	if (ctx->write_error)
		return;
	if (fwrite(line, 1, len, ctx->out) != len || fputc('\n', ctx->out) == EOF) {
		ctx->write_error = -(errno ? errno : EIO);
		BL_LOG(BL_LOG_ERROR, "writer", "output_failed", NULL, "cannot write the results",
		       BL_LOG_S("error", strerror(-ctx->write_error)));
	}
}

static void maybe_finish(writer_t *w)
{
	run_ctx_t *ctx = w->ctx;
	if (!w->expecting || atomic_load(&ctx->written) != w->expected)
		return;
	if (fflush(ctx->out) == EOF && !ctx->write_error)
		ctx->write_error = -(errno ? errno : EIO);
	w->expecting = false;
	bl_latch_count_down(&ctx->finished);
}

/* Characters of a job's figures shown in the summary. */
#define DIGEST_FIGURES_MAX 160

/*
 * One line for the summary: the job's id and status, then its metrics, or
 * its outputs when it reports no metrics, cut to a readable width.
 */
static void keep_digest(run_ctx_t *ctx, const char *line)
{
	bl_run_summary_t *s = &ctx->summary;
	if (!ctx->cfg->print_metrics || s->digest_count == BL_RUN_DIGESTS_MAX)
		return;
	if (!s->digests && !(s->digests = calloc(BL_RUN_DIGESTS_MAX, sizeof *s->digests)))
		return;

	json_t *r = json_loads(line, 0, NULL);
	json_t *result = json_object_get(r, "result");
	json_t *figures = json_object_get(result, "metrics");
	if (!json_object_size(figures))
		figures = json_object_get(result, "outputs");
	if (!figures)
		figures = json_object_get(r, "error");
	char *text = figures ? json_dumps(figures, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
	bool cut = text && strlen(text) > DIGEST_FIGURES_MAX;

	char digest[256];
	snprintf(digest, sizeof digest, "%-20.20s %-8s %.*s%s",
		 json_string_value(json_object_get(r, "id")) ? json_string_value(json_object_get(r, "id")) : "?",
		 json_string_value(json_object_get(r, "status")) ? json_string_value(json_object_get(r, "status")) : "?",
		 DIGEST_FIGURES_MAX, text ? text : "", cut ? " ... (cut; the whole result is in the output)" : "");
	free(text);
	json_decref(r);
	s->digests[s->digest_count] = strdup(digest);
	s->digest_count += s->digests[s->digest_count] != NULL;
}

static void take_result(writer_t *w, result_item_t *item)
{
	run_ctx_t *ctx = w->ctx;

	write_line(ctx, item->line, item->line_len);
	keep_digest(ctx, item->line);
	atomic_fetch_add(&ctx->by_status[item->status], 1);
	ctx->summary.by_status[item->status]++;
	ctx->summary.jobs++;
	count_block(&ctx->summary, item);
	keep_run_time(ctx, item->run_ms);

	pthread_mutex_lock(&ctx->lock);
	ctx->in_flight--;
	ctx->in_flight_bytes -= item->cost;
	pthread_cond_signal(&ctx->room);
	pthread_mutex_unlock(&ctx->lock);
	free(item->line);
	free(item);
	atomic_fetch_add(&ctx->written, 1);
}

/* Flush a little later rather than after every line, so that a busy run
 * makes one write per batch while a slow one (jobs waiting for approval)
 * still shows each result soon after it is written. */
static void schedule_flush(writer_t *w, bl_actor_t *self)
{
	if (w->flush_pending || !w->ctx->out_in_place)
		return;
	bl_msg_t *flush = bl_msg_new(MSG_FLUSH, 0);
	w->flush_pending = flush && bl_send_after(NULL, self, &flush, FLUSH_DELAY_MS) == 0;
	bl_msg_free(&flush);
}

static void flush_now(writer_t *w)
{
	run_ctx_t *ctx = w->ctx;
	w->flush_pending = false;
	if (!ctx->write_error && fflush(ctx->out) == EOF)
		ctx->write_error = -(errno ? errno : EIO);
}

static int writer_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	writer_t *w = state;

	if (msg->type == MSG_RESULT) {
		take_result(w, bl__msg_ptr(msg));
		schedule_flush(w, self);
	} else if (msg->type == MSG_FLUSH) {
		flush_now(w);
	} else if (msg->type == MSG_EXPECT) {
		w->expected = bl_msg_u64(msg);
		w->expecting = true;
	}
	maybe_finish(w);
	return 0;
}

/* A result that was never written still holds its line. */
static void writer_discard(bl_msg_t *msg)
{
	if (msg->type != MSG_RESULT)
		return;
	result_item_t *item = bl__msg_ptr(msg);
	free(item->line);
	free(item);
}

const bl_behaviour_t bl__writer_behaviour = {
	.name = "writer",
	.receive = writer_receive,
	.discard = writer_discard,
};

int bl__writer_spawn(bl_actor_t **out, run_ctx_t *ctx)
{
	writer_t init = {.ctx = ctx};
	return bl_actor_spawn(out, ctx->control, &bl__writer_behaviour, &init, sizeof init);
}
