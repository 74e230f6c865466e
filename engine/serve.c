/*
 * The service mode's lifecycle: connect, create or verify the streams,
 * start the runtime, the result sinks, the fetch thread and the request
 * handlers; then wait for SIGTERM or SIGINT and drain:
 *
 *   1. stop fetching and stop taking execute requests;
 *   2. wait, up to drain_timeout_ms, for the jobs in flight to finish and
 *      their results to be stored and acked (in-progress acks go on);
 *   3. NAK every delivery still in flight, with no delay, so that another
 *      instance takes it, and answer open requests with a retryable error;
 *   4. stop the runtime and close the connection.
 */
#define _GNU_SOURCE /* gethostname, usleep */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <beamline/services.h>

#include "admin.h"
#include "approvals_kv.h"
#include "log.h"
#include "nats_events.h"
#include "quota_watch.h"
#include "serve_ctx.h"

/* How often the drain checks whether the jobs in flight are done. */
#define DRAIN_POLL_MS 20

/* How long serve waits for the stored quotas before it starts. */
#define QUOTAS_READY_MS 10000

static _Atomic(bl_serve_state_t *) current_state;

bl_serve_state_t *bl_serve_state(void)
{
	return atomic_load(&current_state);
}

bool bl_serve_ready(const bl_serve_state_t *st)
{
	return st && atomic_load(&st->connected) && atomic_load(&st->streams_verified) &&
	       !atomic_load(&st->lookups_failing) && atomic_load(&st->pools_running) && !atomic_load(&st->draining);
}

bool bl_serve_alive(const bl_serve_state_t *st)
{
	return st && atomic_load(&st->pools_running);
}

/* Log the event and keep `connected` current; on a cnats thread. */
static void on_nats_event(const bl_nats_event_t *event, void *arg)
{
	serve_t *s = arg;
	bl_engine_log_nats_event(event, NULL);
	if (event->kind == BL_NATS_EVENT_DISCONNECTED || event->kind == BL_NATS_EVENT_CLOSED)
		atomic_store(&s->state.connected, false);
	else if (event->kind == BL_NATS_EVENT_RECONNECTED)
		atomic_store(&s->state.connected, true);

	/* Results stored while the connection was away, or dropped by a slow
	 * subscription (an asynchronous error), never reached the watch: the
	 * index is not trusted until a new watch has caught up. */
	bl__result_index_invalidate(&s->results_index);
}

/* Put `prefix` before the error's field: the NATS layer names its own
 * settings ("creds_file"), which the config file nests ("nats.creds_file"). */
static void nest_field(bl_error_t *err, const char *prefix)
{
	size_t len = strlen(err->field);
	size_t add = strlen(prefix);

	if (len == 0 || len + add >= sizeof err->field)
		return;
	memmove(err->field + add, err->field, len + 1);
	memcpy(err->field, prefix, add);
}

static int connect_nats(serve_t *s, bl_error_t *err)
{
	const bl_serve_config_t *cfg = s->cfg;
	bl_nats_error_t nerr = {0};
	bl_nats_config_t nc = {
		.urls = cfg->urls,
		.nurls = cfg->nurls,
		.name = cfg->name ? cfg->name : s->instance,
		.creds_file = cfg->creds_file,
		.nkey_seed_file = cfg->nkey_seed_file,
		.nkey_public = cfg->nkey_public,
		.tls_ca_file = cfg->tls_ca_file,
		.tls_cert_file = cfg->tls_cert_file,
		.tls_key_file = cfg->tls_key_file,
		.connect_timeout_ms = cfg->connect_timeout_ms,
		.request_timeout_ms = cfg->request_timeout_ms,
		/* A service keeps trying for as long as it runs. */
		.max_reconnects = -1,
		/* Replies to execute requests must not wait for cnats's flusher. */
		.send_asap = true,
		.on_event = on_nats_event,
		.on_event_arg = s,
	};

	int rc = bl_nats_connect(&s->nats, &nc, &nerr);
	if (rc < 0) {
		*err = nerr.error;
		nest_field(err, "nats.");
		bl_error_prefix(err, "cannot connect to NATS: ");
		return rc;
	}
	atomic_store(&s->state.connected, true);

	rc = bl__serve_setup_streams(s, err);
	if (rc == 0 && (rc = bl_kv_open(&s->attempts, s->nats, SERVE_BUCKET_ATTEMPTS, &nerr)) < 0)
		bl_error_set(err, rc, SERVE_BUCKET_ATTEMPTS, "cannot open the bucket: %s", nerr.error.message);
	if (rc == 0)
		atomic_store(&s->state.streams_verified, true);
	return rc;
}

/* /ready: connected, streams verified, lookups working, pools running, not draining. */
static bool serve_ready(void *arg, char *reason, size_t size)
{
	const bl_serve_state_t *st = arg;

	if (bl_serve_ready(st))
		return true;
	const char *cause = !atomic_load(&st->connected)		? "not connected to NATS"
			  : !atomic_load(&st->streams_verified) ? "the streams are not verified, or one went missing"
			  : atomic_load(&st->lookups_failing)	? "results lookups in BEAMLINE_RESULTS keep failing"
			  : !atomic_load(&st->pools_running)	? "the worker pools are not running"
								: "draining: no new jobs are taken";
	snprintf(reason, size, "%s", cause);
	return false;
}

/* Watch the quotas bucket and pass each change to the dispatcher, and
 * wait for the stored values before the first job is taken. */
static int watch_quotas(serve_t *s, bl_error_t *err)
{
	bl_quota_watch_config_t cfg = {
		.default_quota = s->ctx.quotas->default_quota,
		.on_change = bl__dispatcher_quota_fn,
		.arg = s->ctx.dispatcher,
	};
	int rc = bl_quota_watch_start(&s->quota_watch, s->nats, &cfg, err);
	if (rc == 0 && bl_quota_watch_wait_ready(s->quota_watch, QUOTAS_READY_MS) < 0)
		rc = bl_error_set(err, -ETIMEDOUT, "beamline_quotas",
				  "the quotas bucket's stored values did not arrive within %d ms", QUOTAS_READY_MS);
	return rc;
}

/* Keep the human block's approvals in the bucket instead of the state
 * folder, and watch the bucket for decisions made on any instance. */
static int use_approvals_bucket(serve_t *s, bl_error_t *err)
{
	bl_approvals_t *service = s->ctx.services->approvals;
	bl_approval_store_t *store = NULL;

	if (!service)
		return 0; /* no state folder: human jobs report the service missing */
	int rc = bl__approvals_kv_open(&store, s->nats, SERVE_BUCKET_APPROVALS, err);
	if (rc == 0 && bl_approvals_use_store(service, &store) < 0)
		rc = bl_error_set(err, -EBUSY, SERVE_BUCKET_APPROVALS, "the approvals service has a store already");
	bl_approval_store_free(&store);
	if (rc == 0)
		rc = bl__approvals_kv_watch_start(&s->approvals_watch, s->nats, service, SERVE_BUCKET_APPROVALS, err);
	return rc;
}

/* The parts of the run context that the jobs file's run sets up in bl_run_jobs. */
static int open_engine(serve_t *s, bl_error_t *err)
{
	const bl_run_config_t *run = &s->cfg->run;
	run_ctx_t *ctx = &s->ctx;

	ctx->data_root = open(run->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->data_root < 0)
		return bl_error_set(err, -errno, run->data_dir, "cannot open the data folder: %s", strerror(errno));
	int rc = run->quotas_path ? bl_quota_table_load(&ctx->quotas, run->quotas_path, err) : 0;
	if (rc == 0 && !ctx->quotas && !(ctx->quotas = bl_quota_table_default()))
		rc = bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	if (rc == 0)
		rc = bl__placement_start(ctx, err);
	if (rc == 0)
		rc = bl__runtime_start(ctx, err);
	ctx->config = json_incref(s->cfg->services);
	if (rc == 0)
		rc = bl__services_start(ctx, err);
	if (rc == 0)
		rc = use_approvals_bucket(s, err);
	if (rc == 0)
		rc = bl__serve_table_init(&s->table, s->cfg->max_in_flight);
	if (rc == 0)
		rc = bl__serve_floors_init(&s->floors);
	if (rc == 0)
		rc = bl__serve_sinks_start(s, err);
	if (rc == 0)
		rc = bl__dispatcher_spawn(&ctx->dispatcher, ctx, err);
	if (rc == 0 && ctx->admin)
		bl_admin_set_ready_fn(ctx->admin, serve_ready, &s->state);
	if (rc == 0)
		rc = watch_quotas(s, err);
	return rc;
}

static void make_instance_id(serve_t *s)
{
	char host[40] = "";
	struct timespec ts;

	gethostname(host, sizeof host - 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(s->instance, sizeof s->instance, "%s-%ld-%lx", host[0] ? host : "engine", (long)getpid(),
		 (unsigned long)(ts.tv_nsec ^ ts.tv_sec) & 0xffffff);
}

/* The thread that waits for SIGTERM and SIGINT in wait_for_signal. */
static pthread_t signal_waiter;

/*
 * Pass a signal on to the waiting thread. Every thread the engine starts
 * inherits the blocked mask, but OpenBLAS starts its thread pool when the
 * library loads, before bl_serve_run runs. The kernel may hand SIGTERM to
 * one of those threads whenever the waiter is not in sigwait (during the
 * drain, or right after SIGCONT), and its default action ended the process
 * without a drain. pthread_kill is async-signal-safe; the signal stays
 * pending on the waiter, where it is blocked.
 */
static void forward_signal(int sig)
{
	int saved = errno;
	pthread_kill(signal_waiter, sig);
	errno = saved;
}

/* Route SIGTERM and SIGINT that reach another thread to this one. */
static void catch_stray_signals(void)
{
	struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};

	signal_waiter = pthread_self();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* Wait for SIGTERM or SIGINT (blocked in every thread since setup). */
static int wait_for_signal(const sigset_t *set)
{
	int sig;
	while (sigwait(set, &sig) != 0)
		;
	return sig;
}

/*
 * Steps 2 and 3 of the drain, ending by `deadline` (bl__run_now_ms time),
 * which counts from the signal.
 * NOTE: while nats-server is down, step 1 can still take longer than the
 * drain timeout: the fetch thread finishes the calls it is in, and each
 * lookup or attempts call waits out the request timeout. Stopping the
 * runtime afterwards waits for human jobs' approval calls and the sinks'
 * attempts calls in the same way (publishes end at the deadline).
 */
static void drain(serve_t *s, uint64_t deadline)
{
	uint64_t progress_every = (uint64_t)s->cfg->ack_wait_ms / 3;
	serve_job_t job;
	unsigned handed_back = 0;

	while (bl__serve_table_free_slots(&s->table) < s->table.capacity && bl__run_now_ms() < deadline) {
		bl__serve_table_progress(&s->table, bl__run_now_ms(), progress_every);
		usleep(DRAIN_POLL_MS * 1000);
	}
	while (bl__serve_table_take_any(&s->table, &job)) {
		if (job.msg) {
			bl_js_nak(job.msg, 0, NULL);
		} else if (job.reply) {
			bl_error_t err;
			bl_error_set(&err, -ESHUTDOWN, NULL, "the engine stopped before the job finished; send it again");
			bl_job_result_t r = {.id = job.id, .tenant = job.tenant, .status = BL_JOB_ERROR,
					     .error_code = "engine_stopping", .error_message = err.message, .retryable = true};
			char *line = bl_job_result_encode(&r);
			if (line)
				bl__serve_reply(s, job.reply, line);
			free(line);
		}
		handed_back++;
		bl__serve_job_release(&job);
	}
	/* Without a connection the NAKs cannot go out, and a flush would
	 * wait out its timeout. */
	if (bl_nats_is_connected(s->nats))
		bl_nats_flush(s->nats, 2000, NULL);
	BL_LOG(BL_LOG_INFO, "serve", "serve_drained", NULL, NULL, BL_LOG_I("handed_back", handed_back));
}

static void shut_down(serve_t *s)
{
	atomic_store(&current_state, NULL);
	bl__serve_control_stop(s);
	bl__serve_index_join(s);
	bl_quota_watch_stop(&s->quota_watch);
	bl__approvals_kv_watch_stop(&s->approvals_watch);
	bl__services_quiesce(&s->ctx);
	if (s->ctx.rt) {
		bl_runtime_free(&s->ctx.rt);
		s->ctx.dispatcher = NULL;
		s->ctx.writer = NULL;
	}
	free(s->sinks);
	bl__services_stop(&s->ctx);
	bl__placement_stop(&s->ctx);
	bl__serve_table_destroy(&s->table);
	bl__serve_floors_destroy(&s->floors);
	bl_js_puller_free(s->puller);
	bl_kv_free(s->attempts);
	bl_nats_free(s->nats);
	bl__result_index_destroy(&s->results_index);
	if (s->ctx.data_root >= 0)
		close(s->ctx.data_root);
	bl_quota_table_free(&s->ctx.quotas);
}

int bl_serve_run(const bl_serve_config_t *cfg, bl_error_t *err)
{
	serve_t s = {.cfg = cfg, .ctx = {.cfg = &cfg->run, .data_root = -1}};
	sigset_t set;

	/* Before any thread starts, so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	catch_stray_signals();
	signal(SIGPIPE, SIG_IGN);

	pthread_mutex_init(&s.ctx.lock, NULL);
	pthread_cond_init(&s.ctx.room, NULL);
	bl_latch_init(&s.ctx.finished, 1);
	make_instance_id(&s);
	s.started_ms = bl__run_now_ms();

	int rc = bl__serve_index_init(&s);
	if (rc < 0)
		bl_error_set(err, rc, NULL, "out of memory for the results index");
	if (rc == 0)
		rc = connect_nats(&s, err);
	if (rc == 0)
		rc = open_engine(&s, err);
	if (rc == 0) {
		atomic_store(&s.state.pools_running, true);
		atomic_store(&current_state, &s.state);
		rc = bl__serve_ingress_start(&s, err);
	}
	if (rc == 0)
		rc = bl__serve_index_start(&s, err);
	if (rc == 0)
		rc = bl__serve_control_start(&s, err);
	if (rc < 0) {
		atomic_store(&s.stopping, true);
		bl__serve_ingress_join(&s);
		shut_down(&s);
		return rc;
	}

	bl_blas_single_threaded();
	BL_LOG(BL_LOG_INFO, "serve", "serve_started", NULL, NULL, BL_LOG_S("instance", s.instance),
	       BL_LOG_I("cpu_workers", bl_pool_worker_count(s.ctx.cpu)), BL_LOG_I("max_in_flight", cfg->max_in_flight),
	       BL_LOG_I("max_ack_pending", cfg->max_ack_pending));

	int sig = wait_for_signal(&set);
	uint64_t deadline = bl__run_now_ms() + (uint64_t)cfg->drain_timeout_ms;
	atomic_store(&s.drain_deadline_ms, deadline);
	BL_LOG(BL_LOG_INFO, "serve", "serve_draining", NULL, NULL, BL_LOG_S("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
	       BL_LOG_I("drain_timeout_ms", cfg->drain_timeout_ms));
	atomic_store(&s.state.draining, true);
	atomic_store(&s.stopping, true);
	bl__serve_control_stop_execute(&s);
	bl__serve_ingress_join(&s);
	drain(&s, deadline);
	shut_down(&s);
	pthread_mutex_destroy(&s.ctx.lock);
	pthread_cond_destroy(&s.ctx.room);
	BL_LOG(BL_LOG_INFO, "serve", "serve_stopped", NULL, NULL, BL_LOG_S("instance", s.instance));
	return 0;
}
