/*
 * The service mode's other JetStream traffic besides the jobs: results (looked up before a job runs, stored before it is acked), dead
 * letters, and the errors of earlier attempts in the KV bucket
 * beamline_attempts, keyed "<tenant>.<id>". The same bucket counts the
 * deliveries handed back before they ran under "<tenant>.<id>/handed_back":
 * names never contain '/', so no attempts key can take that form.
 */
#define _DEFAULT_SOURCE /* usleep */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include <beamline/json_dump.h>

#include "log.h"
#include "metrics_engine.h"
#include "serve_ctx.h"

/* Job text kept in a dead letter; longer text is cut and marked. */
#define DLQ_JOB_TEXT_MAX (64u << 10)

/* Pause between tries of a publish while the server is away. */
#define PUBLISH_RETRY_PAUSE_MS 250
/* How long a publish that finds no stream on its subject (no responders)
 * is tried again: long enough for a stream being recreated, while a
 * stream that was deleted would hold the publishing thread for the whole
 * publish_retry_ms. */
#define NO_STREAM_RETRY_MS 2000

int64_t bl__serve_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool bl__serve_names_subject_safe(const char *tenant, const char *id)
{
	size_t n = strlen(id);
	return strchr(tenant, '.') == NULL && id[0] != '.' && id[n - 1] != '.' && strstr(id, "..") == NULL;
}

int bl__serve_result_lookup(serve_t *s, const char *tenant, const char *id, char **out)
{
	char api[600];
	natsMsg *reply = NULL;
	const char *status = NULL;

	snprintf(api, sizeof api, "$JS.API.DIRECT.GET.%s.%s%s.%s", SERVE_STREAM_RESULTS, SERVE_RESULTS_PREFIX, tenant, id);
	natsStatus ns = natsConnection_RequestString(&reply, bl_nats_raw(s->nats), api, "", s->cfg->request_timeout_ms);
	if (ns != NATS_OK)
		return ns == NATS_TIMEOUT ? -ETIMEDOUT : -ENOTCONN;

	/* A reply without data and with a Status header is the server's "no message" (404) or another status. */
	if (natsMsg_GetDataLength(reply) == 0 && natsMsgHeader_Get(reply, "Status", &status) == NATS_OK) {
		int code = atoi(status);
		natsMsg_Destroy(reply);
		return code == 404 ? -ENOENT : -EREMOTEIO;
	}
	*out = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
	natsMsg_Destroy(reply);
	return *out ? 0 : BL_ENOMEM;
}

int bl__serve_lookup_init(serve_t *s, serve_lookup_t *l)
{
	natsInbox *inbox = NULL;
	char subject[160];

	memset(l, 0, sizeof *l);
	l->nats = s->nats;
	if (natsInbox_Create(&inbox) != NATS_OK)
		return BL_ENOMEM;
	l->inbox = strdup(inbox);
	natsInbox_Destroy(inbox);
	if (!l->inbox)
		return BL_ENOMEM;
	snprintf(subject, sizeof subject, "%s.*.*", l->inbox);
	natsSubscription *sub = NULL;
	if (natsConnection_SubscribeSync(&sub, bl_nats_raw(s->nats), subject) != NATS_OK)
		return -ENOTCONN;
	l->sub = sub;
	return 0;
}

void bl__serve_lookup_destroy(serve_lookup_t *l)
{
	bl_nats_subscription_close(l->nats, l->sub);
	free(l->inbox);
	memset(l, 0, sizeof *l);
}

/* The index of the current round's request that `subject` ("<inbox>.<round>.<i>") replies to, or -1. */
static long reply_index(const serve_lookup_t *l, const char *subject, size_t n)
{
	size_t len = strlen(l->inbox);
	char *end;
	if (strncmp(subject, l->inbox, len) != 0 || subject[len] != '.')
		return -1;
	unsigned long long round = strtoull(subject + len + 1, &end, 10);
	if (round != l->round || *end != '.')
		return -1;
	unsigned long i = strtoul(end + 1, &end, 10);
	return *end == '\0' && i < n ? (long)i : -1;
}

/* 0 for a stored result, -ENOENT for the server's "no message", -EREMOTEIO otherwise. */
static int lookup_outcome(natsMsg *reply)
{
	const char *status = NULL;
	if (natsMsg_GetDataLength(reply) > 0 || natsMsgHeader_Get(reply, "Status", &status) != NATS_OK)
		return 0;
	return atoi(status) == 404 ? -ENOENT : -EREMOTEIO;
}

void bl__serve_lookup_many(serve_t *s, serve_lookup_t *l, bl_job_t *const *jobs, int *found, size_t n)
{
	natsConnection *nc = bl_nats_raw(s->nats);
	char api[600], reply[200];
	size_t waiting = 0;

	l->round++;
	for (size_t i = 0; i < n; i++) {
		snprintf(api, sizeof api, "$JS.API.DIRECT.GET.%s.%s%s.%s", SERVE_STREAM_RESULTS, SERVE_RESULTS_PREFIX,
			 jobs[i]->tenant, jobs[i]->id);
		snprintf(reply, sizeof reply, "%s.%llu.%zu", l->inbox, (unsigned long long)l->round, i);
		/* The connection sends each publish at once (send_asap), so no flush is needed. */
		bool sent = natsConnection_PublishRequestString(nc, api, reply, "") == NATS_OK;
		found[i] = sent ? -ETIMEDOUT : -ENOTCONN;
		waiting += sent;
	}

	uint64_t deadline = bl__run_now_ms() + (uint64_t)s->cfg->request_timeout_ms;
	while (waiting > 0 && bl__run_now_ms() < deadline) {
		natsMsg *msg = NULL;
		if (natsSubscription_NextMsg(&msg, l->sub, (int64_t)(deadline - bl__run_now_ms())) != NATS_OK)
			break;
		long i = reply_index(l, natsMsg_GetSubject(msg), n);
		if (i >= 0 && found[i] == -ETIMEDOUT) {
			found[i] = lookup_outcome(msg);
			waiting--;
		}
		natsMsg_Destroy(msg);
	}
}

/* Publish, trying again while the connection is away (or the ack times
 * out), for up to publish_retry_ms, and while no stream takes the subject
 * for up to NO_STREAM_RETRY_MS of that, and never past the drain's
 * deadline: a delivery whose outcome is not stored stays unacked and comes
 * back after ack_wait. The message id makes a repeat of a publish that was
 * stored after all a no-op. */
static int publish_retrying(serve_t *s, const char *subject, const char *data, const char *msg_id,
			    bl_js_pub_ack_t *ack, bl_nats_error_t *nerr)
{
	bl_js_publish_opts_t opts = {.msg_id = msg_id};
	uint64_t start = bl__run_now_ms();
	uint64_t until = start + (uint64_t)s->cfg->publish_retry_ms;
	uint64_t no_stream_until = start + NO_STREAM_RETRY_MS;
	int rc;

	for (;;) {
		rc = bl_js_publish(s->nats, subject, data, strlen(data), &opts, ack, nerr);
		bool transient = rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -ECONNREFUSED || rc == -ENOENT;
		uint64_t now = bl__run_now_ms();
		uint64_t drain_end = atomic_load(&s->drain_deadline_ms);
		if (rc == 0 || !transient || now >= until || (rc == -ENOENT && now >= no_stream_until) ||
		    (drain_end && now >= drain_end))
			return rc;
		usleep(PUBLISH_RETRY_PAUSE_MS * 1000);
	}
}

int bl__serve_result_store(serve_t *s, const char *tenant, const char *id, const char *line)
{
	char subject[400], msg_id[300];
	bl_nats_error_t nerr = {0};

	snprintf(subject, sizeof subject, "%s%s.%s", SERVE_RESULTS_PREFIX, tenant, id);
	snprintf(msg_id, sizeof msg_id, "%s/%s", tenant, id);
	int rc = publish_retrying(s, subject, line, msg_id, NULL, &nerr);
	if (rc < 0)
		BL_LOG(BL_LOG_ERROR, "serve", "result_store_failed", msg_id,
		       "cannot store the result; the job is left unacknowledged and will run again", BL_LOG_I("err", rc),
		       BL_LOG_S("reason", nerr.error.message));
	return rc;
}

/* The job of a dead letter: its JSON when the text parses, else the text
 * (cut), else only its size. */
static void add_job(json_t *entry, const char *data, size_t len)
{
	json_t *job = len <= DLQ_JOB_TEXT_MAX ? json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (job) {
		json_object_set_new(entry, "job", job);
		return;
	}
	size_t kept = len < DLQ_JOB_TEXT_MAX ? len : DLQ_JOB_TEXT_MAX;
	json_t *text = json_stringn(data, kept);
	if (text)
		json_object_set_new(entry, "job_text", text);
	json_object_set_new(entry, "job_text_cut", json_boolean(kept < len || !text));
}

int bl__serve_dead_letter(serve_t *s, const bl_js_msg_t *msg, const char *tenant, const char *id, const char *reason,
			  const char *message, const json_t *attempts)
{
	char subject[300], msg_id[400];
	bl_nats_error_t nerr = {0};
	const bl_js_meta_t *meta = bl_js_msg_meta(msg);

	/* The names, the message and the subject come from the job's text,
	 * which need not be UTF-8: json_pack would refuse them, and the
	 * delivery would come back again and again without a dead letter. */
	json_t *entry = json_pack("{s:o, s:o, s:s, s:o, s:o, s:I, s:I, s:I}", "tenant", bl_json_string_lossy(tenant),
				  "id", bl_json_string_lossy(id), "reason", reason, "message",
				  bl_json_string_lossy(message), "subject", bl_json_string_lossy(bl_js_msg_subject(msg)),
				  "stream_seq", (json_int_t)meta->stream_seq, "delivered", (json_int_t)meta->delivered,
				  "job_bytes", (json_int_t)bl_js_msg_len(msg));
	if (!entry) {
		BL_LOG(BL_LOG_ERROR, "serve", "dead_letter_failed", NULL, "out of memory building a dead letter",
		       BL_LOG_S("reason", reason), BL_LOG_I("stream_seq", meta->stream_seq));
		return BL_ENOMEM;
	}
	json_object_set_new(entry, "instance", json_string(s->instance));
	json_object_set_new(entry, "attempts", attempts ? json_deep_copy(attempts) : json_array());
	add_job(entry, bl_js_msg_data(msg), bl_js_msg_len(msg));
	char *text = bl_json_dumps(entry, NULL);
	json_decref(entry);
	if (!text) {
		BL_LOG(BL_LOG_ERROR, "serve", "dead_letter_failed", NULL, "out of memory writing a dead letter",
		       BL_LOG_S("reason", reason), BL_LOG_I("stream_seq", meta->stream_seq));
		return BL_ENOMEM;
	}

	/* One dead letter per stored job message, even when the publish is repeated. */
	snprintf(subject, sizeof subject, "%s%s", SERVE_DLQ_PREFIX, tenant[0] ? tenant : "_unknown");
	snprintf(msg_id, sizeof msg_id, "dlq/%llu", (unsigned long long)meta->stream_seq);
	bl_js_pub_ack_t ack = {0};
	int rc = publish_retrying(s, subject, text, msg_id, &ack, &nerr);
	free(text);
	if (rc < 0) {
		BL_LOG(BL_LOG_ERROR, "serve", "dead_letter_failed", NULL, "cannot publish a dead letter; the job is retried",
		       BL_LOG_S("reason", reason), BL_LOG_S("error", nerr.error.message));
		return rc;
	}
	/* A redelivery of a message whose dead letter is stored already (it
	 * came in before the first was acked): the stream kept the first. */
	if (ack.duplicate) {
		BL_LOG(BL_LOG_INFO, "serve", "dead_letter_duplicate", NULL,
		       "the message's dead letter is stored already; acked without a second",
		       BL_LOG_S("tenant", tenant), BL_LOG_S("id", id), BL_LOG_I("stream_seq", meta->stream_seq));
		return 0;
	}
	atomic_fetch_add(&s->state.dead_letters, 1);
	bl_engine_metrics_dlq_add(s->ctx.metrics, tenant[0] ? tenant : "_unknown");
	BL_LOG(BL_LOG_WARN, "serve", "job_dead_lettered", NULL, message, BL_LOG_S("reason", reason),
	       BL_LOG_S("tenant", tenant), BL_LOG_S("id", id), BL_LOG_I("stream_seq", meta->stream_seq));
	return 0;
}

static void attempts_key(char *key, size_t size, const char *tenant, const char *id)
{
	snprintf(key, size, "%s.%s", tenant, id);
}

json_t *bl__serve_attempts_load(serve_t *s, const char *tenant, const char *id)
{
	char key[300];
	bl_kv_entry_t *e = NULL;

	attempts_key(key, sizeof key, tenant, id);
	int rc = bl_kv_get(&e, s->attempts, key, NULL);
	json_t *list = rc == 0 ? json_loadb(e->value, e->len, 0, NULL) : NULL;
	bl_kv_entry_free(e);
	if (rc < 0 && rc != -ENOENT)
		BL_LOG(BL_LOG_WARN, "serve", "attempts_unreadable", key,
		       "cannot read the earlier attempts; the dead letter lists only the last", BL_LOG_I("err", rc));
	if (json_is_array(list))
		return list;
	json_decref(list);
	return json_array();
}

void bl__serve_attempts_save(serve_t *s, const char *tenant, const char *id, const json_t *attempts)
{
	char key[300];
	bl_nats_error_t nerr = {0};

	attempts_key(key, sizeof key, tenant, id);
	char *text = json_dumps(attempts, JSON_COMPACT);
	int rc = text ? bl_kv_put(s->attempts, key, text, strlen(text), NULL, &nerr) : BL_ENOMEM;
	free(text);
	if (rc < 0)
		BL_LOG(BL_LOG_WARN, "serve", "attempts_not_saved", key,
		       "cannot save the attempt's error; a later dead letter will miss it",
		       BL_LOG_S("error", nerr.error.message));
}

static void handbacks_key(char *key, size_t size, const char *tenant, const char *id)
{
	snprintf(key, size, "%s.%s/handed_back", tenant, id);
}

void bl__serve_attempts_forget(serve_t *s, const char *tenant, const char *id)
{
	char key[320];

	attempts_key(key, sizeof key, tenant, id);
	int rc = bl_kv_delete(s->attempts, key, NULL);
	if (rc == 0) {
		handbacks_key(key, sizeof key, tenant, id);
		rc = bl_kv_delete(s->attempts, key, NULL);
	}
	if (rc < 0)
		BL_LOG(BL_LOG_WARN, "serve", "attempts_not_deleted", key,
		       "cannot delete the attempts record; it expires with the bucket's TTL", BL_LOG_I("err", rc));
}

unsigned bl__serve_handbacks_load(serve_t *s, const char *tenant, const char *id, uint64_t stream_seq)
{
	char key[320], text[48];
	bl_kv_entry_t *e = NULL;

	handbacks_key(key, sizeof key, tenant, id);
	int rc = bl_kv_get(&e, s->attempts, key, NULL);
	if (rc < 0) {
		if (rc != -ENOENT)
			BL_LOG(BL_LOG_WARN, "serve", "handbacks_unreadable", key,
			       "cannot read the deliveries handed back; each counts as an attempt", BL_LOG_I("err", rc));
		return 0;
	}
	snprintf(text, sizeof text, "%.*s", (int)(e->len < sizeof text ? e->len : sizeof text - 1), (const char *)e->value);
	bl_kv_entry_free(e);

	/* A count without "@<seq>", or of another message, does not apply. */
	char *end;
	unsigned long count = strtoul(text, &end, 10);
	if (*end != '@' || count > UINT32_MAX)
		return 0;
	char *seq_end;
	unsigned long long seq = strtoull(end + 1, &seq_end, 10);
	return *seq_end == '\0' && seq == stream_seq ? (unsigned)count : 0;
}

int bl__serve_handbacks_save(serve_t *s, const char *tenant, const char *id, uint64_t stream_seq, unsigned count)
{
	char key[320], text[48];
	bl_nats_error_t nerr = {0};

	handbacks_key(key, sizeof key, tenant, id);
	int len = snprintf(text, sizeof text, "%u@%llu", count, (unsigned long long)stream_seq);
	int rc = bl_kv_put(s->attempts, key, text, (size_t)len, NULL, &nerr);
	if (rc < 0)
		BL_LOG(BL_LOG_WARN, "serve", "handback_not_saved", key,
		       "cannot count the delivery handed back; it will count as an attempt",
		       BL_LOG_S("error", nerr.error.message));
	return rc;
}

uint64_t bl__serve_backoff_ms(const bl_job_retry_t *retry, unsigned attempt)
{
	uint64_t cap = retry->backoff_ms;
	for (unsigned i = 1; i < attempt && cap < retry->max_backoff_ms; i++)
		cap *= 2;
	if (cap > retry->max_backoff_ms)
		cap = retry->max_backoff_ms;
	return cap ? (uint64_t)rand() % (cap + 1) : 0;
}
