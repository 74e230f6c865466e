/*
 * The fetch thread: pulls deliveries from the durable consumer in batches
 * no larger than the in-flight table's free slots, checks each one, and
 * hands good jobs to the dispatcher. It also sends the in-progress acks
 * of running jobs.
 *
 * A thread of its own rather than an actor: every call here blocks on the
 * network (the fetch, the results lookup), and an actor would hold a pool
 * worker for as long. One thread keeps the puller single-threaded, as
 * js.h requires.
 *
 * Each delivery that reaches the job actor is one attempt. A delivery
 * handed back before it ran (its results lookup failed, or the same job
 * is in flight here) is counted in beamline_attempts instead, and the
 * attempt number is the server's delivery count less those hand-backs.
 * A delivery that fails a check is acked once its dead letter is stored,
 * so a bad message never stalls the consumer. The checks, in order: the
 * job parses within the limits (invalid_job), and its tenant is the
 * subject's tenant token (tenant_mismatch). Tenant and id make a results
 * subject (name_not_subject_safe), and the attempt number does not exceed
 * the job's attempts (attempts_exhausted: the engine died in earlier
 * attempts). Then a stored result means the job already ran: ack without
 * running it.
 */
#define _DEFAULT_SOURCE /* usleep */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "serve_ctx.h"

/* Maximum wait of a fetch for its first message, so that a drain is noticed soon. */
#define FETCH_WAIT_MAX_MS 500

/* NAK delay for a delivery of a job that is in flight here already, or that
 * cannot be checked now (the results lookup failed). */
#define BUSY_NAK_MS 1000

/* Pause after a failed fetch (the server away), before the next. */
#define FETCH_ERROR_PAUSE_MS 250

/* Fetches in a row whose results lookup failed before the engine reports not ready. */
#define LOOKUP_FAILURES_NOT_READY 3

int bl__serve_parse_job(serve_t *s, const char *text, size_t len, bl_job_t **job, char *id, bl_error_t *err)
{
	const bl_job_limits_t *lim = &s->cfg->run.job_limits;
	id[0] = '\0';
	if (len > lim->max_bytes)
		return bl_error_set(err, BL_ELIMIT, NULL, "the job is %zu bytes, over the %zu-byte limit (engine.max_job_bytes)",
				    len, lim->max_bytes);
	return bl_job_parse(job, text, len, lim, id, NULL, SERVE_NAME_MAX, err);
}

/* The tenant token of a jobs subject, "" when the subject has none. */
static const char *subject_tenant(const char *subject)
{
	size_t n = strlen(SERVE_JOBS_PREFIX);
	return strncmp(subject, SERVE_JOBS_PREFIX, n) == 0 ? subject + n : "";
}

/* Dead-letter the delivery and ack it; when the dead letter cannot be
 * stored, NAK it so that it comes back later. While BEAMLINE_DLQ is known
 * to be missing, the NAK comes at once, and a publish that finds no
 * stream makes the next loop check the streams. Takes `msg`. Returns
 * whether the dead letter was stored. */
static bool reject(serve_t *s, bl_js_msg_t *msg, const char *tenant, const char *id, const char *reason,
		   const char *message, const json_t *attempts)
{
	int rc = s->dlq_missing ? -ENOENT : bl__serve_dead_letter(s, msg, tenant, id, reason, message, attempts);

	if (rc == 0)
		bl_js_ack(msg, NULL);
	else
		bl_js_nak(msg, (int64_t)BUSY_NAK_MS * 1000000, NULL);
	if (rc == -ENOENT)
		s->next_stream_check_ms = 0;
	bl_js_msg_free(msg);
	return rc == 0;
}

static void nak_later(serve_t *s, bl_js_msg_t *msg, uint64_t delay_ms)
{
	bl_js_nak(msg, (int64_t)delay_ms * 1000000, NULL);
	bl_js_msg_free(msg);
	atomic_fetch_add(&s->state.naks, 1);
}

/* The attempt number of a delivery: its delivery count less the deliveries
 * handed back before they ran. A count of hand-backs that is not below the
 * delivery count cannot be this message's (the current delivery has not
 * been handed back), so it counts as 0, as an unreadable one does. Reads
 * the bucket only for a redelivery. Never below the floor this instance
 * set when it NAKed the message (serve_floor.c). */
static unsigned attempt_of(serve_t *s, const bl_js_msg_t *msg, const char *tenant, const char *id)
{
	unsigned delivered = (unsigned)bl_js_msg_meta(msg)->delivered;
	uint64_t seq = bl_js_msg_meta(msg)->stream_seq;
	unsigned attempt = delivered;

	if (delivered > 1) {
		unsigned handed_back = bl__serve_handbacks_load(s, tenant, id, seq);
		if (handed_back < delivered)
			attempt = delivered - handed_back;
	}

	unsigned floor = bl__serve_floor_get(&s->floors, seq, tenant, id, bl__run_now_ms());
	return attempt > floor ? attempt : floor;
}

/*
 * Hand a delivery that did not run back to the server, first counting it
 * in beamline_attempts and in this instance's floors, so that the next
 * delivery keeps its attempt number. Takes `msg`.
 * NOTE: when the count cannot be stored (the bucket unreachable too), the
 * hand-back uses up one of the job's attempts if the next delivery goes
 * to another instance, as every delivery once did.
 */
static void hand_back(serve_t *s, bl_js_msg_t *msg, const char *tenant, const char *id, unsigned attempt)
{
	unsigned delivered = (unsigned)bl_js_msg_meta(msg)->delivered;
	uint64_t seq = bl_js_msg_meta(msg)->stream_seq;

	bl__serve_floor_raise(&s->floors, seq, tenant, id, attempt, BUSY_NAK_MS, bl__run_now_ms());
	bl__serve_handbacks_save(s, tenant, id, seq, delivered + 1 > attempt ? delivered + 1 - attempt : 0);
	nak_later(s, msg, BUSY_NAK_MS);
}

/* Hand back a delivery of a job that runs here now. Takes `msg`. */
static void hand_back_in_flight(serve_t *s, bl_js_msg_t *msg, const char *tenant, const char *id, unsigned attempt)
{
	BL_LOG(BL_LOG_INFO, "serve", "job_in_flight", NULL, "the same job is running; delivery handed back",
	       BL_LOG_S("tenant", tenant), BL_LOG_S("id", id));
	hand_back(s, msg, tenant, id, attempt);
}

/*
 * Hand the delivery back when an earlier delivery of the same message is
 * held on this instance: its in-progress acks were lost (an outage, a
 * paused process) and the server delivered it again. The held copy ends
 * the job. The delivery is handed back as the attempt after the held
 * copy's, so it is not taken for an attempt that ended without a result,
 * and a delivery after the held copy's own retry NAK is the next attempt.
 * A job held as an execute request or as another message with the same
 * tenant/id is left to submit, which hands the delivery back with its own
 * attempt number. Takes `msg` when it returns true.
 * NOTE: a redelivery that reaches another instance meanwhile is judged
 * there by its attempt number alone. Past max_attempts it is
 * dead-lettered there while the held copy runs on. Telling the two apart
 * needs a lease per job in a bucket, which is not built.
 */
static bool held_here(serve_t *s, bl_js_msg_t *msg, const bl_job_t *job)
{
	serve_job_t running;

	if (!bl__serve_table_find(&s->table, job->tenant, job->id, &running) ||
	    running.stream_seq != bl_js_msg_meta(msg)->stream_seq)
		return false;
	hand_back_in_flight(s, msg, job->tenant, job->id, running.attempt + 1);
	return true;
}

/* The checks that need only the message and the parsed job, and its
 * attempt number into *attempt. Returns true when the job may go on;
 * otherwise the message was dead-lettered or handed back. */
static bool check_job(serve_t *s, bl_js_msg_t *msg, const bl_job_t *job, unsigned *attempt)
{
	char message[512];
	const char *tenant = subject_tenant(bl_js_msg_subject(msg));

	if (strcmp(tenant, job->tenant) != 0) {
		snprintf(message, sizeof message, "the job's tenant '%s' is not the subject's tenant '%s' (subject %s)",
			 job->tenant, tenant, bl_js_msg_subject(msg));
		reject(s, msg, tenant, job->id, "tenant_mismatch", message, NULL);
		return false;
	}
	if (!bl__serve_names_subject_safe(job->tenant, job->id)) {
		snprintf(message, sizeof message,
			 "tenant '%s' or id '%s' cannot form the results subject: the tenant may not contain '.', the id "
			 "may not start or end with '.' or contain '..'",
			 job->tenant, job->id);
		reject(s, msg, job->tenant, job->id, "name_not_subject_safe", message, NULL);
		return false;
	}
	if (held_here(s, msg, job))
		return false;
	*attempt = attempt_of(s, msg, job->tenant, job->id);
	return true;
}

/* Dead-letter a delivery past its job's attempts that has no stored
 * result: the earlier attempts ended without one, because the instances
 * running them stopped. Takes `msg`. */
static void exhausted(serve_t *s, bl_js_msg_t *msg, const bl_job_t *job, unsigned max_attempts, unsigned attempt)
{
	char message[512];
	json_t *attempts = bl__serve_attempts_load(s, job->tenant, job->id);

	snprintf(message, sizeof message,
		 "attempt %u (delivery %u) of a job allowed %u attempts: earlier attempts ended without a result (the "
		 "engine running them stopped)",
		 attempt, (unsigned)bl_js_msg_meta(msg)->delivered, max_attempts);
	/* The earlier attempts' errors are kept until the dead letter that lists them is stored. */
	if (reject(s, msg, job->tenant, job->id, "attempts_exhausted", message, attempts))
		bl__serve_attempts_forget(s, job->tenant, job->id);
	json_decref(attempts);
}

/* Settle a delivery by its results lookup: a stored result means the job
 * ran already, so ack it; a failed lookup hands it back, since running the
 * job without the check could run it twice. Takes `msg`. */
static void settle_found(serve_t *s, bl_js_msg_t *msg, const bl_job_t *job, int found, unsigned attempt)
{
	if (found == 0) {
		atomic_fetch_add(&s->state.duplicates, 1);
		BL_LOG(BL_LOG_INFO, "serve", "job_duplicate", NULL, "the job has a stored result; acked without running",
		       BL_LOG_S("tenant", job->tenant), BL_LOG_S("id", job->id));
		bl_js_ack(msg, NULL);
		bl_js_msg_free(msg);
		return;
	}
	BL_LOG(BL_LOG_WARN, "serve", "result_lookup_failed", NULL,
	       "cannot look up the job's result; handed back without using an attempt", BL_LOG_S("tenant", job->tenant),
	       BL_LOG_S("id", job->id), BL_LOG_I("err", found));
	hand_back(s, msg, job->tenant, job->id, attempt);
}

/* Put the job in the table and hand it to the dispatcher. Takes msg and *job. */
static void submit(serve_t *s, bl_js_msg_t *msg, bl_job_t **job, unsigned max_attempts, unsigned attempt)
{
	bl_error_t err = {0};
	size_t len = bl_js_msg_len(msg);
	serve_job_t entry = {
		.msg = msg,
		.attempt = attempt,
		.delivered = (unsigned)bl_js_msg_meta(msg)->delivered,
		.stream_seq = bl_js_msg_meta(msg)->stream_seq,
		.max_attempts = max_attempts,
		.retry = (*job)->retry,
		.started_unix_ms = bl__serve_unix_ms(),
		.progress_ms = bl__run_now_ms(),
	};
	snprintf(entry.tenant, sizeof entry.tenant, "%s", (*job)->tenant);
	snprintf(entry.id, sizeof entry.id, "%s", (*job)->id);

	int64_t ticket = bl__serve_table_add(&s->table, &entry);
	if (ticket < 0) {
		/* -EEXIST: the same job runs here now, as an execute request
		 * or as a delivery of the same fetch. Once its result is
		 * stored, this delivery comes back and is acked. */
		hand_back_in_flight(s, msg, entry.tenant, entry.id, attempt);
		bl_job_free(job);
		return;
	}

	/* Each delivery is one attempt: the job actor must not retry on its own. */
	(*job)->retry.max_attempts = 1;
	bl__job_take_trace(*job, bl_js_msg_header(msg, "traceparent"));
	atomic_fetch_add(&s->state.jobs_received, 1);
	if (bl__job_submit(&s->ctx, job, len, (uint64_t)ticket, &err) < 0) {
		serve_job_t taken;
		if (bl__serve_table_take(&s->table, (uint64_t)ticket, &taken)) {
			hand_back(s, taken.msg, taken.tenant, taken.id, attempt);
			taken.msg = NULL;
			bl__serve_job_release(&taken);
		}
		bl_job_free(job);
		return;
	}
	bl__serve_submitted(s, (uint64_t)ticket, entry.tenant, entry.id);
}

/* Deliveries of one fetch that passed their checks, waiting for the results lookup. */
typedef struct batch {
	bl_js_msg_t **msgs;
	bl_job_t **jobs;
	unsigned *max_attempts;
	unsigned *attempt;
	int *found;
	size_t count;
} batch_t;

/* Check one delivery. A bad one is dead-lettered at once; a good one joins
 * the batch for the results lookup. Takes `msg`. */
static void check_delivery(serve_t *s, batch_t *b, bl_js_msg_t *msg)
{
	bl_error_t err = {0};
	bl_job_t *job = NULL;
	size_t len = bl_js_msg_len(msg);
	char id[SERVE_NAME_MAX];

	int rc = bl__serve_parse_job(s, bl_js_msg_data(msg), len, &job, id, &err);
	if (rc < 0) {
		char message[700];
		snprintf(message, sizeof message, "%s%s%s", err.field[0] ? err.field : "", err.field[0] ? ": " : "",
			 err.message);
		reject(s, msg, subject_tenant(bl_js_msg_subject(msg)), id, rc == BL_ELIMIT ? "job_too_large" : "invalid_job",
		       message, NULL);
		return;
	}

	unsigned max_attempts = job->retry.max_attempts_given ? job->retry.max_attempts : s->cfg->max_attempts;
	unsigned attempt = 0;
	if (!check_job(s, msg, job, &attempt)) {
		bl_job_free(&job);
		return;
	}
	b->msgs[b->count] = msg;
	b->jobs[b->count] = job;
	b->max_attempts[b->count] = max_attempts;
	b->attempt[b->count] = attempt;
	b->count++;
}

/* Keep lookups_failing current: it is set after LOOKUP_FAILURES_NOT_READY
 * fetches in a row had a failed lookup, and a failed one checks the
 * results stream at once. */
static void note_lookups(serve_t *s, bool failed)
{
	if (!failed) {
		if (s->lookup_failures >= LOOKUP_FAILURES_NOT_READY)
			BL_LOG(BL_LOG_INFO, "serve", "result_lookups_restored", NULL, NULL);
		s->lookup_failures = 0;
		atomic_store(&s->state.lookups_failing, false);
		return;
	}

	s->lookup_failures++;
	if (s->lookup_failures == LOOKUP_FAILURES_NOT_READY) {
		BL_LOG(BL_LOG_ERROR, "serve", "result_lookups_failing", NULL,
		       "results lookups failed in several fetches in a row; not ready until one works",
		       BL_LOG_I("fetches", s->lookup_failures));
		atomic_store(&s->state.lookups_failing, true);
	}
	bl__serve_streams_check(s, true);
}

/* Check every delivery of a fetch, look up their results together, then
 * run those without one. Takes the messages. */
static void take_batch(serve_t *s, serve_lookup_t *lookup, batch_t *b, bl_js_msg_t **msgs, int n)
{
	b->count = 0;
	for (int i = 0; i < n; i++)
		check_delivery(s, b, msgs[i]);
	if (b->count == 0)
		return;

	bl__serve_lookup_many(s, lookup, b->jobs, b->found, b->count);
	bool lookup_failed = false;
	for (size_t i = 0; i < b->count; i++) {
		lookup_failed |= b->found[i] != 0 && b->found[i] != -ENOENT;
		if (b->found[i] == -ENOENT && b->attempt[i] > b->max_attempts[i])
			exhausted(s, b->msgs[i], b->jobs[i], b->max_attempts[i], b->attempt[i]);
		else if (b->found[i] == -ENOENT)
			submit(s, b->msgs[i], &b->jobs[i], b->max_attempts[i], b->attempt[i]);
		else
			settle_found(s, b->msgs[i], b->jobs[i], b->found[i], b->attempt[i]);
		bl_job_free(&b->jobs[i]);
	}
	note_lookups(s, lookup_failed);
}

static int batch_init(batch_t *b, size_t cap)
{
	b->msgs = calloc(cap, sizeof *b->msgs);
	b->jobs = calloc(cap, sizeof *b->jobs);
	b->max_attempts = calloc(cap, sizeof *b->max_attempts);
	b->attempt = calloc(cap, sizeof *b->attempt);
	b->found = calloc(cap, sizeof *b->found);
	b->count = 0;
	return b->msgs && b->jobs && b->max_attempts && b->attempt && b->found ? 0 : BL_ENOMEM;
}

static void batch_destroy(batch_t *b)
{
	free(b->msgs);
	free(b->jobs);
	free(b->max_attempts);
	free(b->attempt);
	free(b->found);
}

/* The consumer vanished (a server that lost its store): set it up again. */
static void recover_consumer(serve_t *s)
{
	bl_error_t err = {0};
	atomic_store(&s->state.streams_verified, false);
	if (bl__serve_setup_streams(s, &err) == 0) {
		atomic_store(&s->state.streams_verified, true);
		return;
	}
	BL_LOG(BL_LOG_ERROR, "serve", "setup_failed", NULL, err.message, BL_LOG_S("object", err.field));
	usleep(FETCH_ERROR_PAUSE_MS * 1000);
}

static void *fetch_loop(void *arg)
{
	serve_t *s = arg;
	size_t cap = s->cfg->fetch_batch;
	bl_js_msg_t **msgs = calloc(cap, sizeof *msgs);
	batch_t batch;
	serve_lookup_t lookup;
	uint64_t progress_every = (uint64_t)s->cfg->ack_wait_ms / 3;
	int64_t wait_ms = s->cfg->ack_wait_ms / 4 < FETCH_WAIT_MAX_MS ? s->cfg->ack_wait_ms / 4 : FETCH_WAIT_MAX_MS;

	int rc = batch_init(&batch, cap);
	if (rc == 0)
		rc = bl__serve_lookup_init(s, &lookup);
	if (rc < 0 || !msgs) {
		BL_LOG(BL_LOG_ERROR, "serve", "fetch_thread_failed", NULL, "cannot start fetching; no jobs are taken",
		       BL_LOG_I("err", rc));
		free(msgs);
		batch_destroy(&batch);
		return NULL;
	}

	while (!atomic_load(&s->stopping)) {
		bl__serve_table_progress(&s->table, bl__run_now_ms(), progress_every);

		/* Without BEAMLINE_RESULTS no job can be checked for an earlier result: take none. */
		bl__serve_streams_check(s, false);
		if (s->results_missing) {
			usleep((useconds_t)wait_ms * 1000);
			continue;
		}

		/* Pull no more than the free slots: nothing waits in a buffer of ours. */
		size_t room = bl__serve_table_free_slots(&s->table);
		if (room == 0) {
			bl__serve_table_wait(&s->table, (uint64_t)wait_ms);
			continue;
		}
		bl_nats_error_t nerr = {0};
		int n = bl_js_fetch(s->puller, msgs, room < cap ? room : cap, wait_ms, &nerr);
		if (n == -ENOENT) {
			recover_consumer(s);
			continue;
		}
		if (n < 0) {
			usleep(FETCH_ERROR_PAUSE_MS * 1000);
			continue;
		}
		take_batch(s, &lookup, &batch, msgs, n);
	}
	bl__serve_lookup_destroy(&lookup);
	batch_destroy(&batch);
	free(msgs);
	return NULL;
}

int bl__serve_ingress_start(serve_t *s, bl_error_t *err)
{
	bl_nats_error_t nerr = {0};
	int rc = bl_js_puller_new(&s->puller, s->nats, SERVE_STREAM_JOBS, SERVE_CONSUMER, &nerr);
	if (rc < 0)
		return bl_error_set(err, rc, SERVE_CONSUMER, "cannot make the puller: %s", nerr.error.message);

	rc = pthread_create(&s->fetcher, NULL, fetch_loop, s);
	if (rc != 0)
		return bl_error_set(err, -rc, NULL, "cannot start the fetch thread: %s", strerror(rc));
	s->fetcher_started = true;
	return 0;
}

void bl__serve_ingress_join(serve_t *s)
{
	if (s->fetcher_started)
		pthread_join(s->fetcher, NULL);
	s->fetcher_started = false;
}
