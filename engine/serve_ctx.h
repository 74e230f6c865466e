/*
 * The service mode's shared state and the interfaces between its parts:
 *
 *   serve.c          lifecycle: connect, set up, start, wait for a signal, drain
 *   serve_setup.c    streams, consumer and buckets: create or verify
 *   serve_table.c    the jobs taken whose result has not gone out yet (the in-flight table)
 *   serve_ingress.c  the fetch thread: pull, check, hand jobs to the dispatcher
 *   serve_control.c  execute, status, cancel and approve requests (cnats threads)
 *   serve_approve.c  decisions on approvals, into the approvals bucket
 *   serve_sink.c     the result sink actors: store, ack, NAK, dead-letter, reply
 *   serve_store.c    results lookups and publishes, DLQ entries, attempt records
 *   serve_index.c    the indexer thread: keeps the results index in step with BEAMLINE_RESULTS
 *
 * Threads: the fetch thread owns the puller, and the indexer thread owns
 * the results watch. cnats calls the control handlers on its own threads.
 * The sink actors run on the "results" pool. They meet only in the
 * in-flight table and the results index (each with its own mutex) and in
 * the runtime's mailboxes.
 */
#ifndef BL_ENGINE_SERVE_CTX_H
#define BL_ENGINE_SERVE_CTX_H

#include <pthread.h>
#include <stdatomic.h>

#include <beamline/js.h>
#include <beamline/kv.h>
#include <beamline/nats.h>

#include "result_index.h"
#include "run_ctx.h"
#include "serve.h"
#include "serve_state.h"

#define SERVE_STREAM_JOBS "BEAMLINE_JOBS"
#define SERVE_STREAM_RESULTS "BEAMLINE_RESULTS"
#define SERVE_STREAM_DLQ "BEAMLINE_DLQ"
#define SERVE_CONSUMER "beamline-engine"
#define SERVE_BUCKET_QUOTAS "beamline_quotas"
#define SERVE_BUCKET_APPROVALS "beamline_approvals"
#define SERVE_BUCKET_ATTEMPTS "beamline_attempts"
#define SERVE_JOBS_PREFIX "beamline.jobs.v1."
#define SERVE_RESULTS_PREFIX "beamline.results.v1."
#define SERVE_DLQ_PREFIX "beamline.dlq.v1."
#define SERVE_SUBJECT_EXECUTE "beamline.engine.v1.execute"
#define SERVE_SUBJECT_STATUS "beamline.engine.v1.status"
#define SERVE_SUBJECT_CANCEL "beamline.engine.v1.cancel"
#define SERVE_SUBJECT_APPROVE "beamline.engine.v1.approve"
#define SERVE_QUEUE_GROUP "beamline-engine"

/* Names are at most 128 bytes (bl_job_limits_t.max_name_bytes). */
#define SERVE_NAME_MAX 129

/* One job taken from a delivery or a request whose result has not gone out yet. */
typedef struct serve_job {
	uint64_t ticket;            /* 0: the slot is free */
	char tenant[SERVE_NAME_MAX];
	char id[SERVE_NAME_MAX];
	bl_js_msg_t *msg;           /* the delivery, owned; NULL for a request */
	char *reply;                /* the request's reply subject, owned; NULL for a delivery */
	unsigned attempt;           /* deliveries less those handed back before running: 1 the first time */
	unsigned delivered;         /* the server's delivery count */
	uint64_t stream_seq;        /* the delivery's message in BEAMLINE_JOBS; 0 for a request */
	unsigned max_attempts;
	bl_job_retry_t retry;       /* the job's back-off settings, for NAK delays */
	int64_t started_unix_ms;    /* when this attempt was taken */
	uint64_t progress_ms;       /* when the last in-progress ack went */
	bool finishing;             /* a sink is storing its outcome (bl__serve_table_finish) */
	bool submitted;             /* handed to the dispatcher (bl__serve_table_submitted) */
	bool cancel_pending;        /* a cancel came before that; the submitter sends it */
} serve_job_t;

typedef struct serve_table {
	pthread_mutex_t lock;
	pthread_cond_t changed;     /* a slot was freed */
	serve_job_t *slots;
	size_t capacity;
	size_t used;
	uint64_t generation;        /* tickets are generation * capacity + slot + 1 */
} serve_table_t;

/* The lowest attempt number of a message's next delivery (serve_floor.c). */
typedef struct serve_floor {
	uint64_t stream_seq;        /* 0: the slot is free */
	uint64_t names;             /* hash of the message's tenant and id */
	uint64_t expires_ms;        /* bl__run_now_ms time after which it no longer applies */
	unsigned next_attempt;
} serve_floor_t;

typedef struct serve_floors {
	pthread_mutex_t lock;
	serve_floor_t *slots;
} serve_floors_t;

typedef struct serve {
	const bl_serve_config_t *cfg;
	run_ctx_t ctx;
	bl_serve_state_t state;
	bl_nats_t *nats;
	bl_kv_t *attempts;          /* earlier attempts' errors, by tenant.id */
	bl_js_puller_t *puller;
	struct bl_quota_watch *quota_watch; /* live quotas from the KV bucket */
	struct bl_approvals_kv_watch *approvals_watch; /* wakes jobs whose approval changed */
	serve_table_t table;
	serve_floors_t floors;
	pthread_t fetcher;
	bool fetcher_started;
	atomic_bool stopping;
	/* When the drain must end (bl__run_now_ms time); 0 until a signal
	 * comes. Publishes stop trying again from then. */
	_Atomic uint64_t drain_deadline_ms;
	bl_pool_t *results_pool;
	bl_actor_t **sinks;
	unsigned nsinks;
	result_index_t results_index; /* tenant/id keys with a stored result, for execute */
	pthread_t indexer;
	bool indexer_started;
	void *subs[4];              /* natsSubscription *: execute, status, cancel, approve */

	/* Fetch thread only: the check of BEAMLINE_RESULTS (serve_setup.c). */
	uint64_t next_stream_check_ms;
	bool results_missing;       /* the last check found the stream missing */
	bool dlq_missing;           /* the last check found BEAMLINE_DLQ missing */
	unsigned lookup_failures;   /* fetches in a row whose results lookup failed */
	char instance[64];
	uint64_t started_ms;
} serve_t;

/* --- serve_table.c: every call takes the table's lock itself. --- */

int bl__serve_table_init(serve_table_t *t, size_t capacity);
void bl__serve_table_destroy(serve_table_t *t);

/* Slots free now. */
size_t bl__serve_table_free_slots(serve_table_t *t);

/* Wait up to `ms` for a slot to free. */
void bl__serve_table_wait(serve_table_t *t, uint64_t ms);

/*
 * Take a slot for *job (copied; its msg and reply are taken). Returns the
 * ticket (> 0), -EEXIST when the same tenant/id is in flight already, or
 * -ENOSPC when the table is full; then the caller keeps msg and reply.
 */
int64_t bl__serve_table_add(serve_table_t *t, const serve_job_t *job);

/* Remove the job of `ticket` into *out (the caller then owns its msg and
 * reply). Returns false when the ticket is not in the table (drained). */
bool bl__serve_table_take(serve_table_t *t, uint64_t ticket, serve_job_t *out);

/*
 * Copy the job of `ticket` into *view, whose msg and reply stay the
 * table's, and mark it finishing: the drain and the in-progress acks
 * leave it alone, and bl__serve_table_find still finds it, so that a
 * redelivery meanwhile is handed back. The caller then stores the
 * outcome and takes the job with bl__serve_table_take. Returns false when
 * the ticket is not in the table (drained) or is finishing already.
 */
bool bl__serve_table_finish(serve_table_t *t, uint64_t ticket, serve_job_t *view);

/* As bl__serve_table_take, but only when the job is a request (it has a reply subject). */
bool bl__serve_table_take_request(serve_table_t *t, uint64_t ticket, serve_job_t *out);

/* What a cancel request found in the table (bl__serve_table_cancel). */
typedef enum serve_cancel {
	SERVE_CANCEL_ABSENT, /* no such job here */
	SERVE_CANCEL_NOW,    /* the dispatcher has the job: send it the cancel */
	SERVE_CANCEL_LATER,  /* not handed over yet: its submitter sends the cancel after it */
} serve_cancel_t;

/*
 * Look up tenant/id for a cancel request. A job that is in the table but
 * not yet handed to the dispatcher is marked. bl__serve_table_submitted
 * then returns true to its submitter, so the submitter sends the cancel
 * after the job.
 */
serve_cancel_t bl__serve_table_cancel(serve_table_t *t, const char *tenant, const char *id);

/* Record that the job of `ticket` went to the dispatcher. Returns true
 * when a cancel came before, which the caller must now send. */
bool bl__serve_table_submitted(serve_table_t *t, uint64_t ticket);

/* Copy the job of tenant/id into *out without taking it. Returns whether it is there. */
bool bl__serve_table_find(serve_table_t *t, const char *tenant, const char *id, serve_job_t *out);

/* Send an in-progress ack for every delivery whose last one is `interval_ms` old. */
void bl__serve_table_progress(serve_table_t *t, uint64_t now_ms, uint64_t interval_ms);

/* Remove any one job that is not finishing into *out; false when there is none. */
bool bl__serve_table_take_any(serve_table_t *t, serve_job_t *out);

/* Free what a taken job still owns. */
void bl__serve_job_release(serve_job_t *job);

/* --- serve_setup.c --- */

/* Create or verify the streams, the consumer and the buckets. Returns 0 or
 * a negative code with *err naming the object and each mismatching field. */
int bl__serve_setup_streams(serve_t *s, bl_error_t *err);

/*
 * Check that BEAMLINE_RESULTS and BEAMLINE_DLQ exist, at most every few
 * seconds unless `due` is set. The first check that finds the results
 * stream missing clears streams_verified, so /ready fails. A missing DLQ
 * is only logged, because its dead letters are handed back meanwhile.
 * A second check that still finds a stream missing runs
 * bl__serve_setup_streams, which recreates it, or reports a stream that
 * reappeared with other settings and leaves it unchanged. Fetch thread
 * only.
 */
void bl__serve_streams_check(serve_t *s, bool due);

/* --- serve_store.c --- */

/* Milliseconds since the Unix epoch, for the times in dead letters. */
int64_t bl__serve_unix_ms(void);

/* Whether tenant and id make valid subject tokens (no empty token, no
 * wildcard): "a..b" or ".a" do not. */
bool bl__serve_names_subject_safe(const char *tenant, const char *id);

/*
 * Read the stored result of tenant/id from BEAMLINE_RESULTS. Returns 0
 * with *out an owned string (free), -ENOENT when there is none, or another
 * negative code (the server away).
 */
int bl__serve_result_lookup(serve_t *s, const char *tenant, const char *id, char **out);

/* Results lookups of a whole batch at once, for the fetch thread. */
typedef struct serve_lookup {
	bl_nats_t *nats;  /* borrowed: the connection of `sub` */
	void *sub;        /* natsSubscription * on "<inbox>.*.*", synchronous */
	char *inbox;      /* owned */
	uint64_t round;   /* replies of an earlier round are dropped */
} serve_lookup_t;

/* Subscribe for batch lookups. Returns 0 or a negative code. */
int bl__serve_lookup_init(serve_t *s, serve_lookup_t *l);
void bl__serve_lookup_destroy(serve_lookup_t *l);

/*
 * Look up the stored results of `n` jobs with one round trip: every
 * request goes out before the first reply is read. found[i] is 0 when job
 * i has a result, -ENOENT when it has none, or another negative code when
 * the lookup failed (no reply within request_timeout_ms).
 */
void bl__serve_lookup_many(serve_t *s, serve_lookup_t *l, bl_job_t *const *jobs, int *found, size_t n);

/* Publish a result line to BEAMLINE_RESULTS with Nats-Msg-Id tenant/id,
 * retried while the server is away, up to publish_retry_ms. Returns 0 or a
 * negative code. */
int bl__serve_result_store(serve_t *s, const char *tenant, const char *id, const char *line);

/*
 * Publish a dead letter for the delivery `msg` (borrowed) on
 * beamline.dlq.v1.<tenant>: `reason` (a snake_case code), `message`, the
 * job (its JSON when it parses, else its text, cut to 64 KiB), and
 * `attempts` (borrowed; may be NULL). Returns 0 or a negative code.
 */
int bl__serve_dead_letter(serve_t *s, const bl_js_msg_t *msg, const char *tenant, const char *id, const char *reason,
			  const char *message, const json_t *attempts);

/* The earlier attempts of tenant/id, as a JSON array (owned; empty when none). */
json_t *bl__serve_attempts_load(serve_t *s, const char *tenant, const char *id);

/* Store `attempts` (borrowed) for tenant/id; failures are logged. */
void bl__serve_attempts_save(serve_t *s, const char *tenant, const char *id, const json_t *attempts);

/* Forget the attempts and hand-backs of tenant/id; failures are logged. */
void bl__serve_attempts_forget(serve_t *s, const char *tenant, const char *id);

/*
 * The deliveries of tenant/id's message `stream_seq` in BEAMLINE_JOBS
 * handed back before they ran (a failed results lookup, the same job in
 * flight here). The attempt number is the delivery count less this.
 * Returns 0 when there is no record, when it belongs to another message
 * of the same tenant/id (one published again later), or when it cannot be
 * read (logged).
 */
unsigned bl__serve_handbacks_load(serve_t *s, const char *tenant, const char *id, uint64_t stream_seq);

/* Store `count` hand-backs of message `stream_seq` for tenant/id, as
 * "<count>@<stream_seq>". Returns 0, or a negative code (logged). */
int bl__serve_handbacks_save(serve_t *s, const char *tenant, const char *id, uint64_t stream_seq, unsigned count);

/* --- serve_floor.c: every call takes the floors' lock itself. --- */

int bl__serve_floors_init(serve_floors_t *f);
void bl__serve_floors_destroy(serve_floors_t *f);

/* Record that the next delivery of message `stream_seq` of tenant/id takes
 * an attempt number of at least `next_attempt`. Called before its NAK,
 * whose delay is `nak_delay_ms`; times are bl__run_now_ms times. */
void bl__serve_floor_raise(serve_floors_t *f, uint64_t stream_seq, const char *tenant, const char *id,
			   unsigned next_attempt, uint64_t nak_delay_ms, uint64_t now_ms);

/* Return the lowest attempt number of the message's next delivery; 0 when
 * this instance has none for it, or it has expired. */
unsigned bl__serve_floor_get(serve_floors_t *f, uint64_t stream_seq, const char *tenant, const char *id,
			     uint64_t now_ms);

/* NAK delay for the next attempt after `attempt`: uniform in
 * [0, min(max_backoff, backoff * 2^(attempt - 1))] ("full jitter"), in ms. */
uint64_t bl__serve_backoff_ms(const bl_job_retry_t *retry, unsigned attempt);

/* --- serve_ingress.c --- */

/* Start and join the fetch thread. */
int bl__serve_ingress_start(serve_t *s, bl_error_t *err);
void bl__serve_ingress_join(serve_t *s);

/* Parse and take one job: `text` of `len` bytes. Shared with the execute
 * handler. Returns 0 with *job owned, or a negative code with *err. On
 * failure, `id` (SERVE_NAME_MAX bytes) contains the job's id where the
 * text before the fault shows it, else "". */
int bl__serve_parse_job(serve_t *s, const char *text, size_t len, bl_job_t **job, char *id, bl_error_t *err);

/* --- serve_index.c --- */

/* Make the empty results index. Call it before connecting, because
 * connection events invalidate the index. Returns 0 or BL_ENOMEM. */
int bl__serve_index_init(serve_t *s);

/* Start the indexer thread, which ends once s->stopping is set. Returns 0
 * or a negative code with *err set. */
int bl__serve_index_start(serve_t *s, bl_error_t *err);

/* Wait for the indexer thread to end (set s->stopping first). */
void bl__serve_index_join(serve_t *s);

/* --- serve_control.c --- */

int bl__serve_control_start(serve_t *s, bl_error_t *err);
/* Stop taking execute requests (the drain). */
void bl__serve_control_stop_execute(serve_t *s);
void bl__serve_control_stop(serve_t *s);

/* Reply to a request with `text` (borrowed). */
void bl__serve_reply(serve_t *s, const char *reply, const char *text);

/* Ask the dispatcher to cancel tenant/id; it ignores a job it does not hold. */
void bl__serve_send_cancel(serve_t *s, const char *tenant, const char *id);

/* Record that the job of `ticket`, tenant/id, went to the dispatcher, and
 * send a cancel that came before (bl__serve_table_submitted). */
void bl__serve_submitted(serve_t *s, uint64_t ticket, const char *tenant, const char *id);

/* --- serve_approve.c --- */

/* Decide an approval from the `len` bytes of an approve request's body
 * (borrowed) and send the outcome to `reply`. On a cnats thread; blocks on
 * the approvals bucket. */
void bl__serve_approve(serve_t *s, const char *reply, const char *data, size_t len);

/* --- serve_sink.c --- */

int bl__serve_sinks_start(serve_t *s, bl_error_t *err);

#endif
