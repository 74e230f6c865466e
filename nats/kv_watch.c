/*
 * KV watches: an ordered push consumer, made by hand.
 *
 * The watch creates an ephemeral consumer on the bucket's stream that
 * pushes to a fresh inbox: no acks, one delivery, flow control and idle
 * heartbeats, starting with the last entry of every key. The consumer
 * numbers its deliveries 1, 2, 3 and so on. Something was lost when a
 * delivery comes out of that order, when a heartbeat reports a later
 * delivery than the last one seen, or after three heartbeat intervals of
 * silence. The watch then replaces its consumer with one that starts just
 * after the last stream sequence it delivered.
 *
 * Every wait is bounded by an absolute deadline on the monotonic clock, so
 * heartbeats and flow-control messages that wake the wait never shorten it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

#define DEFAULT_HEARTBEAT_MS 5000

struct bl_kv_watch {
	bl_kv_t *kv;
	/* The handle made for a stream watch (bl_kv_watch_stream_new); NULL for a bucket's. */
	bl_kv_t *own_kv;
	char *filter;
	bool headers_only;
	int64_t heartbeat_ms;

	/* The current consumer and its inbox subscription. */
	natsSubscription *sub;
	char *consumer;
	/* The next consumer sequence expected, and the last stream sequence delivered. */
	uint64_t next_cseq;
	uint64_t last_sseq;
	/* When the consumer last showed signs of life. */
	int64_t last_seen_ms;

	/* The initial values are all delivered; the marker is still to be returned. */
	bool initial_done;
	bool marker_pending;
};

static void drop_consumer(bl_kv_watch_t *w)
{
	if (w->sub) {
		bl_nats_subscription_close(w->kv->nats, w->sub);
		w->sub = NULL;
	}
	if (w->consumer) {
		/* Best effort: an ephemeral consumer without interest goes away by itself, so the
		 * request is not even sent without a connection, where it would wait out its timeout. */
		if (bl_nats_is_connected(w->kv->nats))
			bl__js_api(w->kv->nats, NULL, NULL, NULL, "CONSUMER.DELETE.%s.%s", w->kv->stream,
				   w->consumer);
		free(w->consumer);
		w->consumer = NULL;
	}
}

static json_t *consumer_request(const bl_kv_watch_t *w, const char *inbox, uint64_t start_seq)
{
	json_t *config = json_pack("{s:s, s:s, s:i, s:s, s:b, s:I, s:b, s:s, s:b, s:i}", "deliver_subject", inbox,
				   "ack_policy", "none", "max_deliver", 1, "filter_subject", w->filter,
				   "flow_control", 1, "idle_heartbeat", (json_int_t)(w->heartbeat_ms * 1000000),
				   "headers_only", w->headers_only, "replay_policy", "instant", "mem_storage", 1,
				   "num_replicas", 1);
	if (!config)
		return NULL;
	if (start_seq > 0) {
		json_object_set_new(config, "deliver_policy", json_string("by_start_sequence"));
		json_object_set_new(config, "opt_start_seq", json_integer((json_int_t)start_seq));
	} else {
		json_object_set_new(config, "deliver_policy", json_string("last_per_subject"));
	}
	return json_pack("{s:s, s:o}", "stream_name", w->kv->stream, "config", config);
}

/* Subscribe to a fresh inbox and create a consumer pushing to it, from `start_seq` (0: last per key). */
static int make_consumer(bl_kv_watch_t *w, uint64_t start_seq, bl_nats_error_t *err)
{
	char *inbox = bl__nats_new_inbox();
	if (!inbox)
		return bl__nats_fail(err, BL_ENOMEM, w->kv->bucket, "out of memory for a watch inbox");
	natsStatus s = natsConnection_SubscribeSync(&w->sub, w->kv->nats->conn, inbox);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(w->sub, -1, -1);
	json_t *body = s == NATS_OK ? consumer_request(w, inbox, start_seq) : NULL;
	free(inbox);
	if (s != NATS_OK || !body) {
		drop_consumer(w);
		if (s != NATS_OK)
			return bl__nats_status_fail(err, s, w->kv->bucket, "cannot subscribe to the watch inbox");
		return bl__nats_fail(err, BL_ENOMEM, w->kv->bucket, "out of memory for a watch");
	}

	json_t *info = NULL;
	int rc = bl__js_api(w->kv->nats, &info, body, err, "CONSUMER.CREATE.%s", w->kv->stream);
	json_decref(body);
	if (rc < 0) {
		drop_consumer(w);
		return rc;
	}

	const char *name = json_string_value(json_object_get(info, "name"));
	w->consumer = strdup(name ? name : "");
	uint64_t pending = (uint64_t)json_integer_value(json_object_get(info, "num_pending"));
	json_decref(info);
	if (!w->consumer) {
		drop_consumer(w);
		return bl__nats_fail(err, BL_ENOMEM, w->kv->bucket, "out of memory for a watch");
	}

	w->next_cseq = 1;
	w->last_seen_ms = bl__nats_now_ms();
	if (!w->initial_done && pending == 0) {
		w->initial_done = true;
		w->marker_pending = true;
	}
	return 0;
}

/*
 * Replace the consumer. Once the initial values are out, the new one starts just after the
 * last stream sequence delivered. Before that it starts over with the last entry of every
 * key: starting after a sequence would replay older revisions of keys not yet delivered,
 * while repeating an entry already delivered is harmless to a caller that applies them.
 */
static int reset(bl_kv_watch_t *w, bl_nats_error_t *err)
{
	drop_consumer(w);
	return make_consumer(w, w->initial_done ? w->last_sseq + 1 : 0, err);
}

int bl_kv_watch_new(bl_kv_watch_t **out, bl_kv_t *kv, const bl_kv_watch_opts_t *opts, bl_nats_error_t *err)
{
	static const bl_kv_watch_opts_t defaults;
	if (!opts)
		opts = &defaults;
	const char *keys = opts->keys ? opts->keys : ">";
	int rc = bl__kv_check_key(keys, true, err);
	if (rc < 0)
		return rc;
	if (opts->idle_heartbeat_ms < 0)
		return bl__nats_fail(err, BL_EINVAL, "idle_heartbeat_ms",
				     "heartbeat interval %" PRId64 " ms is negative", opts->idle_heartbeat_ms);

	bl_kv_watch_t *w = calloc(1, sizeof *w);
	if (!w)
		return bl__nats_fail(err, BL_ENOMEM, kv->bucket, "out of memory for a watch");
	w->kv = kv;
	w->headers_only = opts->headers_only;
	w->heartbeat_ms = opts->idle_heartbeat_ms ? opts->idle_heartbeat_ms : DEFAULT_HEARTBEAT_MS;
	size_t size = strlen(kv->prefix) + strlen(keys) + 1;
	w->filter = malloc(size);
	if (!w->filter) {
		free(w);
		return bl__nats_fail(err, BL_ENOMEM, kv->bucket, "out of memory for a watch");
	}
	snprintf(w->filter, size, "%s%s", kv->prefix, keys);

	rc = make_consumer(w, 0, err);
	if (rc < 0) {
		bl_kv_watch_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int bl_kv_watch_stream_new(bl_kv_watch_t **out, bl_nats_t *nats, const char *stream, const char *prefix,
			   const bl_kv_watch_opts_t *opts, bl_nats_error_t *err)
{
	bl_kv_t *kv = calloc(1, sizeof *kv);
	if (!kv)
		return bl__nats_fail(err, BL_ENOMEM, stream, "out of memory for a watch on stream %s", stream);

	/* The bucket name only labels errors, so the stream's name serves. */
	kv->nats = nats;
	kv->bucket = strdup(stream);
	kv->stream = strdup(stream);
	kv->prefix = strdup(prefix);
	if (!kv->bucket || !kv->stream || !kv->prefix) {
		bl_kv_free(kv);
		return bl__nats_fail(err, BL_ENOMEM, stream, "out of memory for a watch on stream %s", stream);
	}

	int rc = bl_kv_watch_new(out, kv, opts, err);
	if (rc < 0) {
		bl_kv_free(kv);
		return rc;
	}
	(*out)->own_kv = kv;
	return 0;
}

void bl_kv_watch_free(bl_kv_watch_t *watch)
{
	if (!watch)
		return;
	drop_consumer(watch);
	bl_kv_free(watch->own_kv);
	free(watch->filter);
	free(watch);
}

/*
 * A status message: a heartbeat (replied to when it reports a stalled
 * flow), a flow-control request (replied to), or the consumer's end. Returns true when
 * the watch must recreate its consumer.
 */
static bool on_status(bl_kv_watch_t *w, natsMsg *msg, int status)
{
	natsConnection *conn = w->kv->nats->conn;
	if (status != 100)
		return true;

	const char *reply = natsMsg_GetReply(msg);
	if (reply && reply[0]) {
		natsConnection_Publish(conn, reply, NULL, 0);
		return false;
	}
	const char *stalled = bl__nats_msg_header(msg, "Nats-Consumer-Stalled");
	if (stalled && stalled[0])
		natsConnection_Publish(conn, stalled, NULL, 0);

	/* A heartbeat reports the consumer's last delivery; one later than ours means a delivery was lost. */
	const char *last = bl__nats_msg_header(msg, "Nats-Last-Consumer");
	return last && strtoull(last, NULL, 10) != w->next_cseq - 1;
}

/* Turn a delivery into an entry, or report a gap (returns 1) or a failure. */
static int on_delivery(bl_kv_watch_t *w, natsMsg *msg, bl_kv_entry_t **out, bl_nats_error_t *err)
{
	const char *reply = natsMsg_GetReply(msg);
	char buf[512];
	bl_js_meta_t meta;
	if (bl_js_meta_parse(&meta, buf, sizeof buf, reply) < 0)
		return 0;
	if (meta.consumer_seq != w->next_cseq)
		return 1;

	w->next_cseq++;
	w->last_sseq = meta.stream_seq;
	const char *subject = natsMsg_GetSubject(msg);
	const char *key = subject + strlen(w->kv->prefix);
	bl_kv_op_t op = bl__kv_op_of(bl__nats_msg_header(msg, "KV-Operation"));
	*out = bl__kv_entry_new(key, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), meta.stream_seq,
				meta.timestamp_ns, op);
	if (!*out)
		return bl__nats_fail(err, BL_ENOMEM, key, "out of memory for key %s", key);
	if (!w->initial_done && meta.pending == 0) {
		w->initial_done = true;
		w->marker_pending = true;
	}
	return 0;
}

int bl_kv_watch_next(bl_kv_watch_t *watch, bl_kv_entry_t **out, int64_t timeout_ms, bl_nats_error_t *err)
{
	*out = NULL;
	int64_t deadline = bl__nats_deadline(timeout_ms);
	for (;;) {
		/* The marker follows the last initial entry, so it is returned on the call after it. */
		if (watch->marker_pending && !*out) {
			watch->marker_pending = false;
			return 0;
		}

		/* A consumer that could not be recreated last time (server away) is tried again. */
		if (!watch->sub) {
			int rc = reset(watch, err);
			if (rc < 0)
				return rc;
		}

		/* Wake at the deadline or when three heartbeats are overdue, whichever comes first. */
		int64_t silence_deadline = watch->last_seen_ms + 3 * watch->heartbeat_ms;
		int64_t wake = deadline < silence_deadline ? deadline : silence_deadline;
		int64_t left = bl__nats_remaining(wake);
		natsMsg *msg = NULL;
		natsStatus s = left > 0 ? natsSubscription_NextMsg(&msg, watch->sub, left) : NATS_TIMEOUT;

		if (s == NATS_TIMEOUT) {
			if (bl__nats_now_ms() >= silence_deadline) {
				int rc = reset(watch, err);
				if (rc < 0)
					return rc;
				continue;
			}
			if (bl__nats_remaining(deadline) == 0)
				return bl__nats_fail(err, -ETIMEDOUT, watch->kv->bucket,
						     "no change in bucket %s within %" PRId64 " ms", watch->kv->bucket,
						     timeout_ms);
			continue;
		}
		if (s != NATS_OK)
			return bl__nats_status_fail(err, s, watch->kv->bucket, "watch failed");

		watch->last_seen_ms = bl__nats_now_ms();
		int status = bl__nats_msg_status(msg, NULL);
		int gap = status ? on_status(watch, msg, status) : on_delivery(watch, msg, out, err);
		natsMsg_Destroy(msg);
		if (gap < 0)
			return gap;
		if (gap > 0) {
			int rc = reset(watch, err);
			if (rc < 0)
				return rc;
			continue;
		}
		if (*out)
			return 1;
	}
}

static int append_key(char ***list, size_t *count, size_t *cap, const char *key)
{
	if (*count == *cap) {
		size_t grown_cap = *cap ? *cap * 2 : 64;
		char **grown = realloc(*list, grown_cap * sizeof *grown);
		if (!grown)
			return BL_ENOMEM;
		*list = grown;
		*cap = grown_cap;
	}
	char *copy = strdup(key);
	if (!copy)
		return BL_ENOMEM;
	(*list)[(*count)++] = copy;
	return 0;
}

int bl_kv_keys(char ***keys, bl_kv_t *kv, bl_nats_error_t *err)
{
	bl_kv_watch_opts_t opts = {.headers_only = true};
	bl_kv_watch_t *watch = NULL;
	int rc = bl_kv_watch_new(&watch, kv, &opts, err);
	if (rc < 0)
		return rc;

	char **list = NULL;
	size_t count = 0, cap = 0;
	for (;;) {
		bl_kv_entry_t *entry = NULL;
		rc = bl_kv_watch_next(watch, &entry, kv->nats->request_timeout_ms, err);
		if (rc <= 0)
			break;
		rc = entry->op == BL_KV_PUT ? append_key(&list, &count, &cap, entry->key) : 0;
		bl_kv_entry_free(entry);
		if (rc < 0) {
			bl__nats_fail(err, rc, kv->bucket, "out of memory after %zu keys", count);
			break;
		}
	}
	bl_kv_watch_free(watch);

	if (rc < 0) {
		bl_kv_keys_free(list, count);
		return rc;
	}
	*keys = list;
	return (int)count;
}

void bl_kv_keys_free(char **keys, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(keys[i]);
	free(keys);
}
