/*
 * The local run: set up the runtime and the actors of run_ctx.h, read the
 * jobs file on the calling thread, wait for every result, tear down.
 */
#define _GNU_SOURCE /* mkstemp, renameat */

#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "line_reader.h"
#include "log.h"
#include "metrics_engine.h"
#include "output.h"
#include "run_ctx.h"

void bl_run_config_init(bl_run_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->data_dir = ".";
	cfg->default_timeout_ms = 60000;
	cfg->window = 4096;
	cfg->window_bytes = 64u << 20;
	cfg->dedupe_bytes = 64u << 20;
	cfg->inline_max_elements = 10000;
	cfg->ageing_ms = 1000;
	bl_job_limits_init(&cfg->job_limits);
	bl_npy_limits_init(&cfg->npy_limits);
	bl_json_tensor_limits_init(&cfg->json_limits);
	cfg->gpu_device = -1;
	cfg->gpu_queues = 2;
	cfg->io_workers = 1;
	cfg->blocking_workers = 2;
}

uint64_t bl__run_now_ms(void)
{
	return bl__run_now_ns() / 1000000u;
}

uint64_t bl__run_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bl__send_ptr(bl_actor_t *to, uint32_t type, void *ptr)
{
	bl_msg_t *msg = bl_msg_new(type, sizeof ptr);
	if (!msg)
		return BL_ENOMEM;
	memcpy(bl_msg_payload(msg), &ptr, sizeof ptr);
	return bl_send(to, &msg);
}

void *bl__msg_ptr(bl_msg_t *msg)
{
	void *ptr;
	memcpy(&ptr, bl_msg_payload(msg), sizeof ptr);
	return ptr;
}

void bl__job_state_free(job_state_t *js)
{
	if (!js)
		return;
	bl_job_free(&js->job);
	bl_actor_release(&js->actor);
	free(js->result_line);
	bl_cancel_hook_free(&js->cancel_hook);
	free(js);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

char *bl__report(run_ctx_t *ctx, const bl_job_result_t *r, const char *block, double run_ms, size_t cost,
		 uint64_t ticket)
{
	/* Every result carries a trace context; a line that never became a
	 * job gets a trace of its own. */
	bl_job_result_t traced = *r;
	bl_trace_t fresh;
	if ((!r->traceparent || !r->traceparent[0]) && bl_trace_new(&fresh) == 0)
		traced.traceparent = fresh.traceparent;

	result_item_t *item = calloc(1, sizeof *item);
	size_t len = 0;
	char *line = bl_job_result_encode_len(&traced, &len);
	/* The copy is reported to duplicates of the job (dedupe.h), unless
	 * the table has no room left to keep it. */
	bool keep = ctx->dedupe_ids && len <= atomic_load(&ctx->dedupe_room);
	char *copy = line && keep ? strndup(line, len) : NULL;
	if (!item || !line || (keep && !copy)) {
		free(item);
		free(line);
		free(copy);
		BL_LOG(BL_LOG_ERROR, "engine", "result_lost", NULL, "out of memory writing a result",
		       BL_LOG_S("id", r->id), BL_LOG_S("tenant", r->tenant));
		return NULL;
	}

	bl_engine_metrics_job_finished(ctx->metrics, r, block, run_ms);
	item->line = line;
	item->line_len = len;
	item->cost = cost;
	item->ticket = ticket;
	item->status = r->status;
	item->retryable = r->retryable;
	snprintf(item->block, sizeof item->block, "%s", block ? block : "");
	item->run_ms = run_ms;
	if (bl__send_ptr(ctx->writer, MSG_RESULT, item) < 0) {
		free(item->line);
		free(item);
	}
	return copy;
}

char *bl__report_failure(run_ctx_t *ctx, const char *id, const char *tenant, const char *block, const char *traceparent,
			 bl_job_status_t status, const char *code, const bl_error_t *err, bool retryable, size_t cost,
			 uint64_t ticket)
{
	bl_job_result_t r = {
		.id = id,
		.tenant = tenant,
		.traceparent = traceparent,
		.status = status,
		.error_code = code,
		.error_field = err->field[0] ? err->field : NULL,
		.error_message = err->message,
		.retryable = retryable,
	};
	return bl__report(ctx, &r, block, -1, cost, ticket);
}

/* ------------------------------------------------------------------------ */
/* Reading jobs                                                              */
/* ------------------------------------------------------------------------ */

/* Wait until the writer has caught up to within the window, in jobs and in
 * bytes of job text, then count a job of `bytes` as in flight. A single
 * job larger than the byte window still goes through, alone. */
static void wait_for_room(run_ctx_t *ctx, size_t bytes)
{
	pthread_mutex_lock(&ctx->lock);
	while ((ctx->in_flight >= ctx->cfg->window ||
		(ctx->in_flight > 0 && ctx->in_flight_bytes + bytes > ctx->cfg->window_bytes)) &&
	       !atomic_load(&ctx->stop_requested))
		pthread_cond_wait(&ctx->room, &ctx->lock);
	ctx->in_flight++;
	ctx->in_flight_bytes += bytes;
	pthread_mutex_unlock(&ctx->lock);
}

static void submit_line(run_ctx_t *ctx, const char *text, size_t len, unsigned long line_no, bool too_long)
{
	char id[256], tenant[256];
	bl_error_t err = {0};
	bl_job_t *job = NULL;

	int rc = too_long ? bl_error_set(&err, BL_ELIMIT, NULL, "the line is longer than the %zu-byte job limit",
					 ctx->cfg->job_limits.max_bytes)
			  : bl_job_parse(&job, text, len, &ctx->cfg->job_limits, id, tenant, sizeof id, &err);
	if (too_long)
		id[0] = tenant[0] = '\0';

	if (rc == 0 && (rc = bl__job_submit(ctx, &job, len, 0, &err)) == 0)
		return;
	if (job) {
		free(bl__report_failure(ctx, job->id, job->tenant, job->block, job->traceparent, BL_JOB_ERROR, "engine_error",
					&err, true, len, 0));
		bl_job_free(&job);
		return;
	}
	bl_error_prefix(&err, "line %lu: ", line_no);
	BL_LOG(BL_LOG_WARN, "reader", "job_invalid", NULL, err.message, BL_LOG_S("field", err.field));
	free(bl__report_failure(ctx, id, tenant, NULL, NULL, BL_JOB_ERROR, "invalid_job", &err, false, len, 0));
}

/* Read every line; returns the number of results to expect. */
static uint64_t read_jobs(run_ctx_t *ctx, FILE *in)
{
	bl_line_reader_t reader;
	char *line;
	bool too_long;
	ssize_t len;
	unsigned long line_no = 0;
	uint64_t jobs = 0;

	/* NOTE: a stop takes effect at the next line, so an idle pipe that
	 * stays open keeps the run waiting until a line arrives or a second
	 * signal ends the process. */
	bl_line_reader_init(&reader, fileno(in), ctx->cfg->job_limits.max_bytes);
	while (!atomic_load(&ctx->stop_requested) && (len = bl_line_reader_next(&reader, &line, &too_long)) >= 0) {
		line_no++;
		/* Blank lines (and a trailing newline) are not jobs. */
		if (!too_long && strspn(line, " \t\r") == (size_t)len)
			continue;
		wait_for_room(ctx, (size_t)len);
		submit_line(ctx, line, (size_t)len, line_no, too_long);
		jobs++;
		atomic_store(&ctx->read, jobs);
	}
	if (reader.error)
		ctx->read_error = reader.error;
	bl_line_reader_free(&reader);
	return jobs;
}

/* ------------------------------------------------------------------------ */
/* Stopping on SIGTERM or SIGINT                                              */
/* ------------------------------------------------------------------------ */

/* The handler's end of the watcher's pipe, and the signals so far. A
 * process runs one such watch at a time. */
static int signal_pipe = -1;
static volatile sig_atomic_t signals_seen;

/* Async-signal-safe: count, hand the signal to the watcher, or end the
 * process on the second one, without leaving a temporary output behind. */
static void on_stop_signal(int sig)
{
	if (signals_seen++ > 0) {
		bl_output_remove_pending();
		_exit(128 + sig);
	}
	unsigned char byte = (unsigned char)sig;
	if (write(signal_pipe, &byte, 1) < 0) {
		/* The pipe cannot be full with one byte in it. */
	}
}

typedef struct signal_watch {
	run_ctx_t *ctx;
	pthread_t thread;
	int pipe[2];
	struct sigaction old_term, old_int;
	bool started;
} signal_watch_t;

/* The watcher thread: waits for the first signal (or the stop byte 0). */
static void *watch_signals(void *arg)
{
	signal_watch_t *w = arg;
	run_ctx_t *ctx = w->ctx;
	unsigned char sig = 0;

	while (read(w->pipe[0], &sig, 1) < 0 && errno == EINTR)
		;
	if (sig == 0)
		return NULL;
	BL_LOG(BL_LOG_WARN, "engine", "run_stopping", NULL,
	       "stopping: no further jobs are read, queued ones are cancelled, running ones finish; a second signal "
	       "ends the process at once",
	       BL_LOG_S("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
	atomic_store(&ctx->stop_requested, true);
	bl_send_u64(ctx->dispatcher, MSG_STOP, 0);
	pthread_mutex_lock(&ctx->lock);
	pthread_cond_broadcast(&ctx->room);
	pthread_mutex_unlock(&ctx->lock);
	return NULL;
}

static void start_signal_watch(signal_watch_t *w, run_ctx_t *ctx)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};

	w->ctx = ctx;
	if (!ctx->cfg->handle_signals || pipe2(w->pipe, O_CLOEXEC) != 0)
		return;
	signal_pipe = w->pipe[1];
	signals_seen = 0;
	sigemptyset(&sa.sa_mask);
	if (pthread_create(&w->thread, NULL, watch_signals, w) != 0) {
		close(w->pipe[0]);
		close(w->pipe[1]);
		return;
	}
	sigaction(SIGTERM, &sa, &w->old_term);
	sigaction(SIGINT, &sa, &w->old_int);
	w->started = true;
}

/* Put the old handlers back and end the watcher. A signal that comes
 * after this gets the process's own handling. */
static void stop_signal_watch(signal_watch_t *w)
{
	if (!w->started)
		return;
	sigaction(SIGTERM, &w->old_term, NULL);
	sigaction(SIGINT, &w->old_int, NULL);
	unsigned char stop = 0;
	if (write(w->pipe[1], &stop, 1) < 0) {
		/* The watcher already read a signal and ended. */
	}
	pthread_join(w->thread, NULL);
	close(w->pipe[0]);
	close(w->pipe[1]);
	signal_pipe = -1;
	w->started = false;
}

/* ------------------------------------------------------------------------ */
/* Setting up and tearing down                                               */
/* ------------------------------------------------------------------------ */

static int start_actors(run_ctx_t *ctx, bl_error_t *err)
{
	int rc = bl__writer_spawn(&ctx->writer, ctx);
	if (rc < 0)
		return bl_error_set(err, rc, NULL, "cannot start the result writer: %s", bl_strerror(rc));
	return bl__dispatcher_spawn(&ctx->dispatcher, ctx, err);
}

static void show_progress(run_ctx_t *ctx, bool final)
{
	fprintf(stderr, "\r\033[K%llu read, %llu done: %llu ok, %llu error, %llu timeout, %llu rejected, %llu cancelled%s",
		(unsigned long long)atomic_load(&ctx->read), (unsigned long long)atomic_load(&ctx->written),
		(unsigned long long)atomic_load(&ctx->by_status[BL_JOB_OK]),
		(unsigned long long)atomic_load(&ctx->by_status[BL_JOB_ERROR]),
		(unsigned long long)atomic_load(&ctx->by_status[BL_JOB_TIMEOUT]),
		(unsigned long long)atomic_load(&ctx->by_status[BL_JOB_REJECTED]),
		(unsigned long long)atomic_load(&ctx->by_status[BL_JOB_CANCELLED]), final ? "\n" : "");
}

static void wait_for_results(run_ctx_t *ctx)
{
	if (!ctx->cfg->progress) {
		bl_latch_wait(&ctx->finished);
		return;
	}
	while (bl_latch_wait_for(&ctx->finished, 200) != 0)
		show_progress(ctx, false);
	show_progress(ctx, true);
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)ceil(p * (double)n);
	return sorted[(i ? i : 1) - 1];
}

static void finish_summary(run_ctx_t *ctx, bl_run_summary_t *s, double elapsed)
{
	*s = ctx->summary;
	if (ctx->run_ms_count > 0)
		qsort(ctx->run_ms, ctx->run_ms_count, sizeof *ctx->run_ms, compare_double);
	s->run_p50_ms = percentile(ctx->run_ms, ctx->run_ms_count, 0.50);
	s->run_p99_ms = percentile(ctx->run_ms, ctx->run_ms_count, 0.99);
	s->elapsed_s = elapsed;
	s->jobs_per_s = elapsed > 0 ? (double)s->jobs / elapsed : 0;
}

/* Open the jobs file and stat it (for bl_output_open's check). A folder is
 * refused: reading one fails only later, and would look like an empty
 * file. */
static FILE *open_input(const char *path, struct stat *st, bl_error_t *err)
{
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!in) {
		bl_error_set(err, -errno, path, "cannot open the jobs file: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fileno(in), st) != 0 || S_ISDIR(st->st_mode)) {
		bl_error_set(err, -EISDIR, path, "the jobs file is a folder; give a file of JSON lines");
		if (in != stdin)
			fclose(in);
		return NULL;
	}
	return in;
}

int bl_run_jobs(const bl_run_config_t *cfg, bl_run_summary_t *summary, bl_error_t *err)
{
	run_ctx_t ctx = {.cfg = cfg, .data_root = -1, .dedupe_ids = true};
	signal_watch_t signals = {0};
	bl_output_t output = {0};
	struct stat input_st;
	FILE *in = NULL;
	int rc;

	pthread_mutex_init(&ctx.lock, NULL);
	pthread_cond_init(&ctx.room, NULL);
	bl_latch_init(&ctx.finished, 1);

	ctx.data_root = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx.data_root < 0) {
		rc = bl_error_set(err, -errno, cfg->data_dir, "cannot open the data folder: %s", strerror(errno));
		goto out;
	}
	rc = cfg->quotas_path ? bl_quota_table_load(&ctx.quotas, cfg->quotas_path, err) : 0;
	if (rc == 0 && !ctx.quotas && !(ctx.quotas = bl_quota_table_default()))
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	if (rc < 0)
		goto out;
	in = open_input(cfg->jobs_path, &input_st, err);
	if (!in) {
		rc = err ? err->code : -ENOENT;
		goto out;
	}
	rc = bl_output_open(&output, cfg->output_path, &input_st, err);
	ctx.out = output.file;
	ctx.out_in_place = output.temp_path == NULL;
	if (rc == 0)
		rc = bl__placement_start(&ctx, err);
	if (rc == 0)
		rc = bl__runtime_start(&ctx, err);
	if (rc == 0)
		rc = bl__services_start(&ctx, err);
	if (rc == 0)
		rc = start_actors(&ctx, err);
	if (rc < 0)
		goto out;
	start_signal_watch(&signals, &ctx);

	bl_blas_single_threaded();
	if (cfg->on_dispatcher)
		cfg->on_dispatcher(ctx.dispatcher, cfg->on_dispatcher_arg);
	uint64_t start = bl__run_now_ms();
	BL_LOG(BL_LOG_INFO, "engine", "run_started", NULL, NULL, BL_LOG_S("jobs", cfg->jobs_path),
	       BL_LOG_I("cpu_workers", bl_pool_worker_count(ctx.cpu)), BL_LOG_S("blas_core", bl_blas_core_name()));
	uint64_t jobs = read_jobs(&ctx, in);
	bl_send_u64(ctx.dispatcher, MSG_INPUT_END, 0);
	bl_send_u64(ctx.writer, MSG_EXPECT, jobs);
	wait_for_results(&ctx);
	stop_signal_watch(&signals);
	if (ctx.read_error)
		rc = bl_error_set(err, ctx.read_error, cfg->jobs_path, "cannot read the jobs file after %llu jobs: %s",
				  (unsigned long long)jobs, bl_strerror(ctx.read_error));
	else if (jobs == 0)
		BL_LOG(BL_LOG_WARN, "reader", "no_jobs", NULL, "the jobs file holds no jobs", BL_LOG_S("jobs", cfg->jobs_path));
	finish_summary(&ctx, summary, (double)(bl__run_now_ms() - start) / 1000.0);
	BL_LOG(BL_LOG_INFO, "engine", "run_finished", NULL, NULL, BL_LOG_I("jobs", jobs),
	       BL_LOG_I("ok", summary->by_status[BL_JOB_OK]));

out:
	/*
	 * A job that timed out has its result written while its kernel may
	 * still be stopping, and that kernel's job actor then reports to the
	 * dispatcher. Freeing the runtime first lets those last activations
	 * finish with valid handles; the handles are invalid afterwards, so
	 * they are cleared, not released.
	 */
	bl__services_quiesce(&ctx);
	if (ctx.rt) {
		bl_runtime_free(&ctx.rt);
		ctx.dispatcher = NULL;
		ctx.writer = NULL;
	}
	bl__services_stop(&ctx);
	bl__placement_stop(&ctx);
	if (ctx.write_error && rc == 0)
		rc = bl_error_set(err, ctx.write_error, cfg->output_path ? cfg->output_path : "output",
				  "cannot write the results: %s", strerror(-ctx.write_error));
	int close_rc = bl_output_close(&output, rc == 0, rc == 0 ? err : NULL);
	rc = rc < 0 ? rc : close_rc;
	if (in && in != stdin)
		fclose(in);
	if (ctx.data_root >= 0)
		close(ctx.data_root);
	bl_quota_table_free(&ctx.quotas);
	free(ctx.run_ms);
	pthread_mutex_destroy(&ctx.lock);
	pthread_cond_destroy(&ctx.room);
	return rc;
}

void bl_run_summary_print(const bl_run_summary_t *s, FILE *to)
{
	fprintf(to, "\n%-12s %10s\n", "status", "jobs");
	for (int st = BL_JOB_OK; st <= BL_JOB_CANCELLED; st++)
		fprintf(to, "%-12s %10llu\n", bl_job_status_name((bl_job_status_t)st),
			(unsigned long long)s->by_status[st]);
	fprintf(to, "%-12s %10llu\n", "total", (unsigned long long)s->jobs);

	fprintf(to, "\n%-12s %10s %10s\n", "block", "jobs", "ok");
	for (unsigned i = 0; i < s->block_count; i++)
		fprintf(to, "%-12s %10llu %10llu\n", s->blocks[i].name[0] ? s->blocks[i].name : "(unparsed)",
			(unsigned long long)s->blocks[i].jobs, (unsigned long long)s->blocks[i].ok);

	fprintf(to, "\nrun time p50 %.3f ms, p99 %.3f ms; %.1f jobs/s over %.3f s\n", s->run_p50_ms, s->run_p99_ms,
		s->jobs_per_s, s->elapsed_s);

	if (s->digest_count > 0)
		fprintf(to, "\n%-20s %-8s %s\n", "job", "status", "figures");
	for (size_t i = 0; i < s->digest_count; i++)
		fprintf(to, "%s\n", s->digests[i]);
}

void bl_run_summary_free(bl_run_summary_t *s)
{
	for (size_t i = 0; i < s->digest_count; i++)
		free(s->digests[i]);
	free(s->digests);
	s->digests = NULL;
	s->digest_count = 0;
}
