/*
 * JetStream over core NATS: stream and consumer setup, pull fetches, acks
 * and publishes with acknowledgement. Every call is a request to the
 * server's "$JS.API.*" subjects or a plain publish; cnats's JetStream
 * wrappers are never used (docs/nats.md explains why).
 *
 * Durations in configurations are nanoseconds, as in JetStream's own JSON;
 * waits are milliseconds. Every wait runs against a deadline on the
 * monotonic clock, so a wait of N ms ends after N ms, not earlier.
 */
#ifndef BEAMLINE_JS_H
#define BEAMLINE_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <beamline/nats.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bl_js_retention {
	BL_JS_RETENTION_LIMITS = 0,
	BL_JS_RETENTION_INTEREST,
	BL_JS_RETENTION_WORKQUEUE,
} bl_js_retention_t;

typedef enum bl_js_storage {
	BL_JS_STORAGE_FILE = 0,
	BL_JS_STORAGE_MEMORY,
} bl_js_storage_t;

/*
 * The settings of a stream that setup creates and verifies. A zero
 * duplicate_window takes the server's default (2 minutes) and is not
 * compared; zero max_age and max_msgs_per_subject mean unlimited; zero
 * replicas means 1.
 */
typedef struct bl_js_stream_config {
	const char *name;
	const char *const *subjects;
	size_t nsubjects;
	bl_js_retention_t retention;
	bl_js_storage_t storage;
	int64_t duplicate_window_ns;
	int64_t max_age_ns;
	int replicas;
	int64_t max_msgs_per_subject;
	/* Settings that KV buckets need: refuse new messages when full, no
	 * message deletion through the API, "Nats-Rollup" headers, direct gets. */
	bool discard_new;
	bool deny_delete;
	bool allow_rollup;
	bool allow_direct;
} bl_js_stream_config_t;

/*
 * The settings of a durable pull consumer. Acks are always explicit and
 * delivery starts with the first message. Zero ack_wait, max_deliver and
 * max_ack_pending take the server's defaults (30 s, unlimited, 1000) and
 * are not compared; filter_subject NULL means the whole stream.
 */
typedef struct bl_js_consumer_config {
	const char *stream;
	const char *durable;
	const char *filter_subject;
	int64_t ack_wait_ns;
	int max_deliver;
	int max_ack_pending;
} bl_js_consumer_config_t;

/* Fields that setup compares, as bits of a mismatch mask. */
enum {
	BL_JS_FIELD_SUBJECTS = 1u << 0,
	BL_JS_FIELD_RETENTION = 1u << 1,
	BL_JS_FIELD_STORAGE = 1u << 2,
	BL_JS_FIELD_DUPLICATE_WINDOW = 1u << 3,
	BL_JS_FIELD_MAX_AGE = 1u << 4,
	BL_JS_FIELD_REPLICAS = 1u << 5,
	BL_JS_FIELD_MAX_MSGS_PER_SUBJECT = 1u << 6,
	BL_JS_FIELD_DISCARD = 1u << 7,
	BL_JS_FIELD_DENY_DELETE = 1u << 8,
	BL_JS_FIELD_ALLOW_ROLLUP = 1u << 9,
	BL_JS_FIELD_ALLOW_DIRECT = 1u << 10,
	BL_JS_FIELD_ACK_POLICY = 1u << 11,
	BL_JS_FIELD_ACK_WAIT = 1u << 12,
	BL_JS_FIELD_MAX_DELIVER = 1u << 13,
	BL_JS_FIELD_MAX_ACK_PENDING = 1u << 14,
	BL_JS_FIELD_FILTER_SUBJECT = 1u << 15,
	BL_JS_FIELD_DELIVER_SUBJECT = 1u << 16,
};

/* The JSON name of one BL_JS_FIELD_* bit ("duplicate_window"), "unknown" otherwise. */
const char *bl_js_field_name(uint32_t field);

/*
 * Create the stream when it does not exist; when it does, compare the
 * fields above and never change it. Returns 1 when created, 0 when it
 * existed with the same settings, -EEXIST when it exists with different
 * ones: *mismatches (when not NULL) then contains a BL_JS_FIELD_* bit per
 * differing field and err lists each by name with both values. Other
 * failures: BL_EINVAL (bad config, err names the field), -ETIMEDOUT,
 * -ENOTSUP (no JetStream), -EREMOTEIO (the server refused; err has its
 * code). Running it twice with the same config changes nothing. Any
 * thread; borrows everything.
 */
int bl_js_stream_ensure(bl_nats_t *nats, const bl_js_stream_config_t *config, uint32_t *mismatches,
			bl_nats_error_t *err);

/* The same for a durable pull consumer: 1 created, 0 matched, -EEXIST with
 * *mismatches, -ENOENT when the stream does not exist. */
int bl_js_consumer_ensure(bl_nats_t *nats, const bl_js_consumer_config_t *config, uint32_t *mismatches,
			  bl_nats_error_t *err);

/* A stream's state. */
typedef struct bl_js_stream_state {
	uint64_t messages;
	uint64_t bytes;
	uint64_t first_seq;
	uint64_t last_seq;
	int consumers;
} bl_js_stream_state_t;

/* Read a stream's state. Returns 0, -ENOENT when it does not exist, or another negative code. */
int bl_js_stream_state(bl_nats_t *nats, const char *stream, bl_js_stream_state_t *out, bl_nats_error_t *err);

/* A consumer's state. */
typedef struct bl_js_consumer_state {
	/* Highest consumer and stream sequence delivered. */
	uint64_t delivered_consumer_seq;
	uint64_t delivered_stream_seq;
	/* Highest stream sequence below which every message is acknowledged. */
	uint64_t ack_floor_stream_seq;
	/* Delivered but not yet acknowledged. */
	uint64_t num_ack_pending;
	/* Delivered more than once and not yet acknowledged. */
	uint64_t num_redelivered;
	/* Pull requests waiting at the server. */
	uint64_t num_waiting;
	/* Not yet delivered. */
	uint64_t num_pending;
} bl_js_consumer_state_t;

/* Read a consumer's state. Returns 0, -ENOENT, or another negative code. */
int bl_js_consumer_state(bl_nats_t *nats, const char *stream, const char *consumer, bl_js_consumer_state_t *out,
			 bl_nats_error_t *err);

/* Delete a stream or a consumer (tests and tools). Returns 0, -ENOENT, or another negative code. */
int bl_js_stream_delete(bl_nats_t *nats, const char *stream, bl_nats_error_t *err);
int bl_js_consumer_delete(bl_nats_t *nats, const char *stream, const char *consumer, bl_nats_error_t *err);

/*
 * A delivered message's JetStream metadata, read from its reply subject:
 * "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>"
 * (9 tokens, servers before 2.9), or "$JS.ACK.<domain>.<account
 * hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<random>"
 * (12 or more tokens). The strings point into the buffer given to the
 * parser.
 */
typedef struct bl_js_meta {
	/* "" when the server has no JetStream domain ("_" on the wire). */
	const char *domain;
	const char *stream;
	const char *consumer;
	/* How many times this message has been delivered, 1 the first time. */
	uint64_t delivered;
	uint64_t stream_seq;
	uint64_t consumer_seq;
	/* When the message was stored, nanoseconds since the Unix epoch. */
	int64_t timestamp_ns;
	/* Messages still pending for the consumer after this one. */
	uint64_t pending;
} bl_js_meta_t;

/*
 * Parse `reply` into *out, copying its tokens into `buf`. Returns 0,
 * BL_EFORMAT when it is not an ack subject of either form (wrong prefix,
 * 10 or 11 tokens, an empty token, a number that does not parse), or
 * BL_ELIMIT when `buf` is too small (it needs strlen(reply) + 1 bytes).
 */
int bl_js_meta_parse(bl_js_meta_t *out, char *buf, size_t size, const char *reply);

/* A message delivered by a pull; owned by the caller that fetched it. */
typedef struct bl_js_msg bl_js_msg_t;

/* The payload (borrowed from the message) and its length. */
const void *bl_js_msg_data(const bl_js_msg_t *msg);
size_t bl_js_msg_len(const bl_js_msg_t *msg);
/* The subject it was published to. */
const char *bl_js_msg_subject(const bl_js_msg_t *msg);
/* A header's first value, borrowed from the message, or NULL when absent. */
const char *bl_js_msg_header(const bl_js_msg_t *msg, const char *key);
/* Its metadata, borrowed from the message. */
const bl_js_meta_t *bl_js_msg_meta(const bl_js_msg_t *msg);
/* Free a message (NULL is fine). Freeing without an ack leaves it to be redelivered after ack_wait. */
void bl_js_msg_free(bl_js_msg_t *msg);

/*
 * Acknowledgements. Each publishes to the message's reply subject; the
 * message stays owned by the caller and must not outlive its connection.
 * ack: done. ack_sync: done, and wait for the server to confirm it
 * (-ETIMEDOUT when it does not within the request timeout). nak: redeliver
 * after `delay_ns` (0: at once). in_progress: still working, restart the
 * ack_wait clock. term: never redeliver. Returns 0 or a negative code; a
 * message acknowledged once cannot be acknowledged again (BL_EINVAL),
 * except by in_progress, which may repeat.
 */
int bl_js_ack(bl_js_msg_t *msg, bl_nats_error_t *err);
int bl_js_ack_sync(bl_js_msg_t *msg, bl_nats_error_t *err);
int bl_js_nak(bl_js_msg_t *msg, int64_t delay_ns, bl_nats_error_t *err);
int bl_js_in_progress(bl_js_msg_t *msg, bl_nats_error_t *err);
int bl_js_term(bl_js_msg_t *msg, bl_nats_error_t *err);

/* Pulls from one durable consumer. One thread at a time. */
typedef struct bl_js_puller bl_js_puller_t;

/*
 * Make a puller for `consumer` of `stream` (both copied). It subscribes to
 * one inbox for its lifetime; each fetch uses its own reply subject under
 * it, so a reply meant for an earlier fetch is never taken for the current
 * one. Returns 0 with *out owned (free with bl_js_puller_free), or a
 * negative code. The consumer need not exist yet.
 */
int bl_js_puller_new(bl_js_puller_t **out, bl_nats_t *nats, const char *stream, const char *consumer,
		     bl_nats_error_t *err);

/* Free a puller (NULL is fine). Messages still queued for a later fetch
 * are dropped unacknowledged, so the server redelivers them after ack_wait. */
void bl_js_puller_free(bl_js_puller_t *puller);

/* The puller's inbox, borrowed: fetch n uses the reply subject "<inbox>.<n>", n from 1. */
const char *bl_js_puller_inbox(const bl_js_puller_t *puller);

/*
 * Fetch up to `cap` messages into msgs[0..count), waiting at most
 * `wait_ms` for the first (0: take only what is available now), then
 * taking what else the server has at that moment without waiting. Returns
 * the count (0 means no work, not an error); each message is owned by the
 * caller. Never
 * writes past msgs[cap - 1]: messages of an earlier fetch that arrive late
 * fill the array first, and any beyond `cap` stay queued for the next
 * fetch (their ack_wait runs meanwhile). Waits up to `wait_ms` plus 200 ms
 * for the server's end-of-pull status. Fails with -ENOENT when the consumer or stream does not exist,
 * -ENOTCONN when the connection is closed, or another negative code; when
 * messages were collected before the failure, it returns their count
 * instead.
 */
int bl_js_fetch(bl_js_puller_t *puller, bl_js_msg_t **msgs, size_t cap, int64_t wait_ms, bl_nats_error_t *err);

/* One message header for a publish; borrowed. */
typedef struct bl_nats_header {
	const char *key;
	const char *value;
} bl_nats_header_t;

/* Options of a publish; zero means "none" for every field. */
typedef struct bl_js_publish_opts {
	/* "Nats-Msg-Id": the stream drops a repeat within its duplicate window. */
	const char *msg_id;
	const bl_nats_header_t *headers;
	size_t nheaders;
	/* "Nats-Expected-Last-Subject-Sequence" when `expect_last_subject_seq` is set. */
	bool expect_last_subject_seq;
	uint64_t last_subject_seq;
	/* Wait for the acknowledgement; 0 takes the connection's request timeout. */
	int64_t timeout_ms;
} bl_js_publish_opts_t;

/* The stream's acknowledgement of a publish. */
typedef struct bl_js_pub_ack {
	char stream[256];
	uint64_t seq;
	/* The stream had this Nats-Msg-Id already; `seq` is the original's. */
	bool duplicate;
} bl_js_pub_ack_t;

/*
 * Publish `len` bytes of `data` (borrowed) to `subject` and wait for the
 * stream's acknowledgement, written to *ack (when not NULL) on success.
 * Returns 0; -ENOENT when no stream stores `subject`; -ETIMEDOUT when no
 * acknowledgement came in time (the message may still have been stored:
 * publish again with the same msg_id); -ESTALE when the expected last
 * subject sequence did not match; -EREMOTEIO for other refusals (err has
 * the code). Any thread.
 */
int bl_js_publish(bl_nats_t *nats, const char *subject, const void *data, size_t len,
		  const bl_js_publish_opts_t *opts, bl_js_pub_ack_t *ack, bl_nats_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
