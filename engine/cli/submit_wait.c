/*
 * Waiting for the results of submitted jobs. Each tenant gets two durable
 * pull consumers for the run, deleted at its end: one on BEAMLINE_RESULTS
 * filtered to beamline.results.v1.<tenant>.>, one on BEAMLINE_DLQ
 * filtered to beamline.dlq.v1.<tenant>. Both start at the first stored
 * message, so a result stored before submit ran (a resubmitted job that
 * the stream dropped as a duplicate) counts as well as one stored later.
 *
 * TODO(engine/cli): the consumers read every retained result and dead
 * letter of the tenant, not only this run's. With a results stream that
 * keeps millions of messages per tenant, waiting costs a full scan. A
 * last-by-subject get per job (STREAM.MSG.GET, not yet in the NATS layer)
 * would read one message each. Consumers of a run killed before its end
 * stay on the server until deleted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beamline/trace.h>

#include "submit.h"

#define FETCH_BATCH 64
/* Pause between rounds that found nothing, in ms. */
#define IDLE_PAUSE_MS 50

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int make_puller(submit_t *s, const char *stream, const char *durable, const char *filter,
		       bl_js_puller_t **out, bl_error_t *err)
{
	bl_js_consumer_config_t config = {.stream = stream, .durable = durable, .filter_subject = filter};
	bl_nats_error_t nerr = {0};

	int rc = bl_js_consumer_ensure(s->nats, &config, NULL, &nerr);
	if (rc >= 0)
		rc = bl_js_puller_new(out, s->nats, stream, durable, &nerr);
	if (rc < 0)
		return bl_error_set(err, rc, stream, "cannot read %s from %s: %s", filter, stream, nerr.error.message);
	return 0;
}

int bl__submit_watch_tenant(submit_t *s, const char *tenant, bl_error_t *err)
{
	for (size_t i = 0; i < s->tenant_count; i++) {
		if (strcmp(s->tenants[i].name, tenant) == 0)
			return 0;
	}
	if (s->tenant_count == s->tenant_capacity) {
		size_t capacity = s->tenant_capacity ? 2 * s->tenant_capacity : 8;
		submit_tenant_t *grown = realloc(s->tenants, capacity * sizeof *grown);
		if (!grown)
			return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
		s->tenants = grown;
		s->tenant_capacity = capacity;
	}

	submit_tenant_t *t = &s->tenants[s->tenant_count];
	memset(t, 0, sizeof *t);
	if (!(t->name = strdup(tenant)))
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory");
	s->tenant_count++;
	snprintf(t->results_consumer, sizeof t->results_consumer, "submit_%s_%zu_results", s->run_tag, s->tenant_count);
	snprintf(t->dlq_consumer, sizeof t->dlq_consumer, "submit_%s_%zu_dlq", s->run_tag, s->tenant_count);

	char filter[320];
	snprintf(filter, sizeof filter, "beamline.results.v1.%s.>", tenant);
	int rc = make_puller(s, SUBMIT_RESULTS_STREAM, t->results_consumer, filter, &t->results, err);
	snprintf(filter, sizeof filter, "beamline.dlq.v1.%s", tenant);
	if (rc == 0)
		rc = make_puller(s, SUBMIT_DLQ_STREAM, t->dlq_consumer, filter, &t->dlq, err);
	if (rc < 0) {
		/* Forget the tenant, so that its next job tries again. */
		bl_js_puller_free(t->results);
		bl_js_consumer_delete(s->nats, SUBMIT_RESULTS_STREAM, t->results_consumer, NULL);
		free(t->name);
		s->tenant_count--;
	}
	return rc;
}

static void show_progress(const submit_t *s, bool final)
{
	fprintf(stderr, "\r\033[K%llu of %llu done: %llu ok, %llu error, %llu timeout, %llu rejected, %llu cancelled%s",
		(unsigned long long)s->written, (unsigned long long)s->lines,
		(unsigned long long)s->by_status[BL_JOB_OK], (unsigned long long)s->by_status[BL_JOB_ERROR],
		(unsigned long long)s->by_status[BL_JOB_TIMEOUT], (unsigned long long)s->by_status[BL_JOB_REJECTED],
		(unsigned long long)s->by_status[BL_JOB_CANCELLED], final ? "\n" : "");
}

void bl__submit_write(submit_t *s, json_t *result)
{
	char *line = json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER);
	const char *status = json_string_value(json_object_get(result, "status"));

	int rc = 0;
	if (!line)
		rc = BL_ENOMEM;
	else if (fprintf(s->out, "%s\n", line) < 0 || fflush(s->out) != 0)
		rc = errno ? -errno : -EIO;
	if (rc < 0 && !s->write_error)
		s->write_error = rc;
	free(line);
	s->written++;
	for (int st = BL_JOB_OK; status && st <= BL_JOB_CANCELLED; st++) {
		if (strcmp(status, bl_job_status_name((bl_job_status_t)st)) == 0)
			s->by_status[st]++;
	}
}

/* A result the engine did not produce (a line never published, a dead
 * letter, a timeout) as a JSON object; NULL when memory runs out. */
static json_t *own_result(const bl_job_result_t *r)
{
	char *text = bl_job_result_encode(r);
	json_t *result = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return result;
}

void bl__submit_write_error(submit_t *s, const char *id, const char *tenant, const char *traceparent,
			    const char *code, const bl_error_t *err, bool retryable)
{
	bl_job_result_t r = {
		.id = id,
		.tenant = tenant,
		.status = BL_JOB_ERROR,
		.error_code = code,
		.error_field = err->field[0] ? err->field : NULL,
		.error_message = err->message,
		.retryable = retryable,
		.traceparent = traceparent,
	};
	json_t *result = own_result(&r);
	if (result)
		bl__submit_write(s, result);
	else
		s->write_error = s->write_error ? s->write_error : BL_ENOMEM;
	json_decref(result);
}

/* The awaited job `id` of `tenant`, or NULL when this run did not submit
 * it or it already has its result. */
static submit_job_t *awaited_job(submit_t *s, const char *tenant, const char *id)
{
	char key[600];
	snprintf(key, sizeof key, "%s/%s", tenant, id);
	submit_job_t *job = bl_strmap_get(&s->awaited, key);
	return job && !job->done ? job : NULL;
}

/* Write `result` once per line that submitted `job`, and mark it done. */
static void finish_job(submit_t *s, submit_job_t *job, json_t *result)
{
	for (unsigned i = 0; i < job->copies; i++)
		bl__submit_write(s, result);
	job->done = true;
	s->waiting -= job->copies;
}

/*
 * NOTE: tenant names and ids may contain '.', which NATS reads as a token
 * separator, so the subject of tenant "a" and id "b.c" equals that of
 * tenant "a.b" and id "c". Both are submitted under their own key, and the
 * filter of tenant "a" also delivers tenant "a.b"'s results: one of them
 * then takes the other's result. The subject scheme itself would need to
 * escape '.' to tell them apart.
 */
static void take_result(submit_t *s, const submit_tenant_t *t, const bl_js_msg_t *msg)
{
	const char *subject = bl_js_msg_subject(msg);
	size_t prefix = strlen("beamline.results.v1.") + strlen(t->name) + 1;
	if (strlen(subject) <= prefix)
		return;
	submit_job_t *job = awaited_job(s, t->name, subject + prefix);
	if (!job)
		return;

	json_t *result = json_loadb(bl_js_msg_data(msg), bl_js_msg_len(msg), 0, NULL);
	if (json_is_object(result)) {
		finish_job(s, job, result);
	} else {
		bl_job_result_t r = {.id = job->id, .tenant = job->tenant, .status = BL_JOB_ERROR,
				     .error_code = "result_unreadable",
				     .error_message = "the stored result is not a JSON object"};
		json_t *own = own_result(&r);
		if (own)
			finish_job(s, job, own);
		json_decref(own);
	}
	json_decref(result);
}

/* The job id of a dead letter: its "id", else its job's "id". */
static const char *dead_letter_id(const json_t *entry)
{
	const char *id = json_string_value(json_object_get(entry, "id"));
	return id ? id : json_string_value(json_object_get(json_object_get(entry, "job"), "id"));
}

static void take_dead_letter(submit_t *s, const submit_tenant_t *t, const bl_js_msg_t *msg)
{
	json_t *entry = json_loadb(bl_js_msg_data(msg), bl_js_msg_len(msg), 0, NULL);
	const char *id = entry ? dead_letter_id(entry) : NULL;
	submit_job_t *job = id ? awaited_job(s, t->name, id) : NULL;
	if (!job) {
		json_decref(entry);
		return;
	}

	bl_job_result_t r = {
		.id = job->id,
		.tenant = job->tenant,
		.status = BL_JOB_ERROR,
		.error_code = "dead_lettered",
		.error_message = "the job failed every attempt and went to the dead-letter queue; \"dlq\" contains "
				 "its entry",
		.traceparent = bl_js_msg_header(msg, "traceparent"),
	};
	json_t *result = own_result(&r);
	if (result) {
		json_object_set(result, "dlq", entry);
		finish_job(s, job, result);
	}
	json_decref(result);
	json_decref(entry);
}

/* Fetch what `puller` has now and hand each message to `take`. Returns
 * the number of messages, or a negative code. */
static int drain(submit_t *s, const submit_tenant_t *t, bl_js_puller_t *puller,
		 void (*take)(submit_t *, const submit_tenant_t *, const bl_js_msg_t *), bl_nats_error_t *err)
{
	bl_js_msg_t *msgs[FETCH_BATCH];
	int n = bl_js_fetch(puller, msgs, FETCH_BATCH, 0, err);

	for (int i = 0; i < n; i++) {
		take(s, t, msgs[i]);
		bl_js_ack(msgs[i], NULL);
		bl_js_msg_free(msgs[i]);
	}
	return n;
}

/* Write a timeout result for every job still without one. */
static void time_out_rest(submit_t *s)
{
	char message[200];
	snprintf(message, sizeof message,
		 "no result within %llu s (--timeout-s); the job may still run, and its result will be stored on "
		 "beamline.results.v1.<tenant>.<id>",
		 (unsigned long long)s->opts->timeout_s);
	for (size_t i = 0; i < s->awaited.capacity; i++) {
		submit_job_t *job = s->awaited.slots[i].key ? s->awaited.slots[i].value : NULL;
		if (!job || job->done)
			continue;
		bl_job_result_t r = {.id = job->id, .tenant = job->tenant, .status = BL_JOB_TIMEOUT,
				     .error_code = "result_timeout", .error_message = message, .retryable = true};
		json_t *result = own_result(&r);
		if (result)
			finish_job(s, job, result);
		json_decref(result);
	}
}

void bl__submit_wait(submit_t *s)
{
	uint64_t deadline = now_ms() + s->opts->timeout_s * 1000u;
	uint64_t progress_shown_ms = 0;
	bool warned = false;

	while (s->waiting > 0 && now_ms() < deadline) {
		int found = 0;
		for (size_t i = 0; i < s->tenant_count; i++) {
			submit_tenant_t *t = &s->tenants[i];
			bl_nats_error_t err = {0};
			int n = drain(s, t, t->results, take_result, &err);
			if (n >= 0)
				n = drain(s, t, t->dlq, take_dead_letter, &err);
			if (n < 0 && !warned)
				fprintf(stderr, "beamline-engine submit: reading results failed, retrying: %s\n",
					err.error.message);
			warned = warned || n < 0;
			found += n > 0 ? n : 0;
		}
		if (s->opts->progress && now_ms() - progress_shown_ms >= 200) {
			show_progress(s, false);
			progress_shown_ms = now_ms();
		}
		if (found == 0) {
			struct timespec pause = {.tv_nsec = IDLE_PAUSE_MS * 1000000L};
			nanosleep(&pause, NULL);
		}
	}
	time_out_rest(s);
	if (s->opts->progress)
		show_progress(s, true);
}

static void free_job(void *value)
{
	submit_job_t *job = value;
	free(job->tenant);
	free(job->id);
	free(job);
}

void bl__submit_cleanup(submit_t *s)
{
	for (size_t i = 0; i < s->tenant_count; i++) {
		submit_tenant_t *t = &s->tenants[i];
		bl_js_puller_free(t->results);
		bl_js_puller_free(t->dlq);
		if (s->nats) {
			bl_js_consumer_delete(s->nats, SUBMIT_RESULTS_STREAM, t->results_consumer, NULL);
			bl_js_consumer_delete(s->nats, SUBMIT_DLQ_STREAM, t->dlq_consumer, NULL);
		}
		free(t->name);
	}
	free(s->tenants);
	s->tenants = NULL;
	s->tenant_count = 0;
	bl_strmap_clear(&s->awaited, free_job);
}
