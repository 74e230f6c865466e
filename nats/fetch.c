/*
 * Pull fetches without cnats's Fetch.
 *
 * A puller subscribes once to "<inbox>.*". Each fetch publishes a pull
 * request to "$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>" with its own
 * reply subject "<inbox>.<n>", n counting up. Server status messages (404
 * no messages, 408 request expired, 409 ...) end a fetch only when they
 * carry the current n: a status left from an earlier fetch that gave up
 * first is recognised as stale and dropped. Messages are different: a
 * message delivered for an earlier fetch is real work the server has
 * already handed out, so it is returned by whichever fetch reads it.
 *
 * A fetch first takes what is already queued. With nothing in hand it
 * sends a pull for one message that waits at the server. So a lone message
 * is returned as soon as it arrives, not when a whole batch has filled or
 * the wait has run out. Then a no-wait pull requests the room
 * left in the caller's array, which the server answers at once with what
 * it has. Reading stops once the array is full; messages that arrive after
 * that stay queued in the subscription for the next fetch, so nothing is
 * written past the array and nothing is dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "setup.h"

/* How long a fetch waits past the pull's expiry for the server's 408. */
#define FETCH_GRACE_MS 200

struct bl_js_puller {
	bl_nats_t *nats;
	natsSubscription *sub;
	char *inbox;
	char *next_subject;
	char *stream;
	char *consumer;
	/* The token of the current (last) pull; 0 is never used. */
	uint64_t token;
};

/* What a fetch has collected so far. */
typedef struct fetch {
	bl_js_msg_t **msgs;
	size_t cap;
	size_t count;
	/* Messages received for the current pull, and how many it asked for. */
	size_t current;
	size_t batch;
	bool done;
	int rc;
} fetch_t;

int bl_js_puller_new(bl_js_puller_t **out, bl_nats_t *nats, const char *stream, const char *consumer,
		     bl_nats_error_t *err)
{
	int rc = bl__js_check_name(stream, "stream", err);
	if (rc == 0)
		rc = bl__js_check_name(consumer, "consumer", err);
	if (rc < 0)
		return rc;

	bl_js_puller_t *p = calloc(1, sizeof *p);
	if (!p)
		return bl__nats_fail(err, BL_ENOMEM, NULL, "out of memory for a puller");
	p->nats = nats;
	p->inbox = bl__nats_new_inbox();
	p->stream = strdup(stream);
	p->consumer = strdup(consumer);
	size_t size = strlen(stream) + strlen(consumer) + 64;
	p->next_subject = malloc(size);
	if (!p->inbox || !p->stream || !p->consumer || !p->next_subject) {
		bl_js_puller_free(p);
		return bl__nats_fail(err, BL_ENOMEM, NULL, "out of memory for a puller");
	}
	snprintf(p->next_subject, size, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, consumer);

	char wildcard[128];
	snprintf(wildcard, sizeof wildcard, "%s.*", p->inbox);
	natsStatus s = natsConnection_SubscribeSync(&p->sub, nats->conn, wildcard);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(p->sub, -1, -1);
	if (s != NATS_OK) {
		bl_js_puller_free(p);
		return bl__nats_status_fail(err, s, consumer, "cannot subscribe to the puller's inbox");
	}

	*out = p;
	return 0;
}

void bl_js_puller_free(bl_js_puller_t *puller)
{
	if (!puller)
		return;
	bl_nats_subscription_close(puller->nats, puller->sub);
	free(puller->inbox);
	free(puller->next_subject);
	free(puller->stream);
	free(puller->consumer);
	free(puller);
}

const char *bl_js_puller_inbox(const bl_js_puller_t *puller)
{
	return puller->inbox;
}

/* The pull a reply subject belongs to: its last token, or 0 when it is not "<inbox>.<n>". */
static uint64_t token_of(const bl_js_puller_t *p, const char *subject)
{
	size_t len = strlen(p->inbox);
	if (strncmp(subject, p->inbox, len) != 0 || subject[len] != '.')
		return 0;
	char *end = NULL;
	unsigned long long token = strtoull(subject + len + 1, &end, 10);
	return *end ? 0 : token;
}

static void on_status(fetch_t *f, const bl_js_puller_t *p, int status, const char *description,
		      bl_nats_error_t *err)
{
	switch (status) {
	case 100:
		/* An idle heartbeat: the pull is alive. */
		return;
	case 404:
	case 408:
		f->done = true;
		return;
	case 503:
		f->done = true;
		f->rc = bl__nats_fail(err, -ENOENT, p->next_subject, "%s: no such consumer or stream (no responders)",
				      p->next_subject);
		return;
	default:
		break;
	}

	/* 409: the pull ended at the server. A leadership change or shutdown is not the caller's problem. */
	f->done = true;
	if (strstr(description, "Leadership Change") || strstr(description, "Server Shutdown"))
		return;
	int code = strstr(description, "Consumer Deleted") ? -ENOENT : -EREMOTEIO;
	f->rc = bl__nats_fail(err, code, p->next_subject, "%s: pull ended with status %d %s", p->next_subject, status,
			      description);
	if (err)
		err->status = status;
}

/* File one received message: a status of the current pull, a stale status, or work. */
static void on_message(fetch_t *f, bl_js_puller_t *p, natsMsg *msg, bl_nats_error_t *err)
{
	const char *description = NULL;
	int status = bl__nats_msg_status(msg, &description);
	uint64_t token = token_of(p, natsMsg_GetSubject(msg));

	if (status) {
		/* batch is 0 until this fetch's pull is sent: every status read before that is stale. */
		if (token == p->token && f->batch > 0)
			on_status(f, p, status, description, err);
		natsMsg_Destroy(msg);
		return;
	}

	bl_js_msg_t *m = NULL;
	if (bl__js_msg_new(&m, p->nats, &msg) < 0) {
		/* Not a JetStream delivery: nothing to ack, nothing to return. */
		natsMsg_Destroy(msg);
		return;
	}
	f->msgs[f->count++] = m;
	if (f->batch > 0 && token == p->token && ++f->current == f->batch)
		f->done = true;
}

/* Take what is already queued, without waiting, until the array is full. */
static int drain_queued(fetch_t *f, bl_js_puller_t *p, bl_nats_error_t *err)
{
	int queued = 0;
	natsStatus s = natsSubscription_GetPending(p->sub, &queued, NULL);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, p->next_subject, "cannot read the puller's queue");

	for (int i = 0; i < queued && f->count < f->cap; i++) {
		natsMsg *msg = NULL;
		if (natsSubscription_NextMsg(&msg, p->sub, 1) != NATS_OK)
			break;
		on_message(f, p, msg, err);
	}
	return 0;
}

static int send_pull(bl_js_puller_t *p, size_t batch, int64_t wait_ms, bl_nats_error_t *err)
{
	char body[128];
	if (wait_ms > 0)
		snprintf(body, sizeof body, "{\"batch\":%zu,\"expires\":%" PRId64 "}", batch, wait_ms * 1000000);
	else
		snprintf(body, sizeof body, "{\"batch\":%zu,\"no_wait\":true}", batch);

	char reply[128];
	p->token++;
	snprintf(reply, sizeof reply, "%s.%" PRIu64, p->inbox, p->token);
	natsStatus s = natsConnection_PublishRequestString(p->nats->conn, p->next_subject, reply, body);
	if (s != NATS_OK)
		return bl__nats_status_fail(err, s, p->next_subject, "cannot send the pull request");
	return 0;
}

/*
 * A pull that ends without any status is unusual: a live consumer always replies with
 * 404 or 408. The server does not reply to pulls for a consumer that does not exist, so
 * ask it, and report -ENOENT rather than "no work" for ever.
 */
static int check_consumer(bl_js_puller_t *p, bl_nats_error_t *err)
{
	/* Without a connection the pull was lost on the way; asking would only wait out the timeout. */
	if (!bl_nats_is_connected(p->nats))
		return 0;

	int rc = bl__js_api(p->nats, NULL, NULL, err, "CONSUMER.INFO.%s.%s", p->stream, p->consumer);
	return rc == -ENOENT ? rc : 0;
}

/*
 * Send one pull for `batch` messages, waiting up to `wait_ms` at the server (0: no wait),
 * and read until the batch is complete, a status of this pull ends it, the array is full,
 * or the deadline passes. The server replies to a no-wait pull at once, so it gets the API
 * timeout. Returns 0, or a negative code when the pull failed with nothing collected.
 */
static int run_pull(fetch_t *f, bl_js_puller_t *p, size_t batch, int64_t wait_ms, bl_nats_error_t *err)
{
	f->batch = batch;
	f->current = 0;
	f->done = false;
	f->rc = 0;
	size_t before = f->count;
	int rc = send_pull(p, batch, wait_ms, err);
	if (rc < 0)
		return rc;

	int64_t deadline = bl__nats_deadline(wait_ms > 0 ? wait_ms + FETCH_GRACE_MS : p->nats->request_timeout_ms);
	/* A waiting pull requests one message, and any message in hand (an earlier pull's too) ends its wait. */
	while (!f->done && f->count < f->cap && !(wait_ms > 0 && f->count > before)) {
		int64_t left = bl__nats_remaining(deadline);
		if (left == 0)
			break;
		natsMsg *msg = NULL;
		natsStatus s = natsSubscription_NextMsg(&msg, p->sub, left);
		if (s == NATS_TIMEOUT)
			break;
		if (s != NATS_OK)
			return bl__nats_status_fail(err, s, p->next_subject, "fetch failed");
		on_message(f, p, msg, err);
	}

	if (f->count > before || f->rc < 0)
		return f->rc;
	return f->done ? 0 : check_consumer(p, err);
}

int bl_js_fetch(bl_js_puller_t *puller, bl_js_msg_t **msgs, size_t cap, int64_t wait_ms, bl_nats_error_t *err)
{
	if (wait_ms < 0 || wait_ms > 24 * 3600 * 1000)
		return bl__nats_fail(err, BL_EINVAL, "wait_ms", "fetch wait %" PRId64 " ms is outside 0 .. 1 day",
				     wait_ms);
	if (cap > INT_MAX)
		return bl__nats_fail(err, BL_EINVAL, "cap", "fetch of %zu messages is more than INT_MAX", cap);
	fetch_t f = {.msgs = msgs, .cap = cap};
	if (cap == 0)
		return 0;

	/* 1. Messages of earlier pulls that are already here. */
	int rc = drain_queued(&f, puller, err);
	if (rc < 0 || f.count == cap)
		return rc < 0 ? rc : (int)f.count;

	/* 2. With nothing in hand, wait for one message; then take whatever else is there now. */
	if (f.count == 0 && wait_ms > 0) {
		rc = run_pull(&f, puller, 1, wait_ms, err);
		if (rc < 0 || f.count == 0)
			return rc;
	}
	if (f.count < cap) {
		rc = run_pull(&f, puller, cap - f.count, 0, err);
		if (rc < 0 && f.count == 0)
			return rc;
	}
	return (int)f.count;
}
