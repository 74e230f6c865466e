/*
 * The HTTP client actor: one per worker of the I/O pool, each owning a
 * curl multi handle and its connection cache. Jobs hand their requests to
 * a client round-robin; the client runs every transfer, the retries and
 * back-off waits, and reports each request once.
 *
 * curl's socket interface is driven from the I/O pool:
 * - CURLMOPT_SOCKETFUNCTION reports which sockets to watch. Each watched
 *   socket has one one-shot poll (bl_io_poll_fd) in flight; when it
 *   completes, the client calls curl_multi_socket_action() and arms the
 *   poll again if curl still wants the socket. When curl changes what it
 *   waits for, or removes the socket, the poll is cancelled with
 *   bl_io_cancel() and its generation number bumped, so the late
 *   completion of the old poll is recognised and ignored.
 * - CURLMOPT_TIMERFUNCTION sets one bl_send_after() timer; a newer timer
 *   replaces it, and a generation number discards a timer message that was
 *   already in the mailbox when it was replaced.
 * Nothing here blocks the worker: curl's sockets are non-blocking, and its
 * resolver runs on threads of its own.
 *
 * A job's cancel hook names this actor and a message type that carries the
 * low 30 bits of the request's id; the client removes the transfer (or
 * stops the back-off timer) and reports "cancelled".
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

enum {
	MSG_SUBMIT = 1,      /* payload: http_request_t *, taken */
	MSG_CURL_TIMER = 2,  /* payload: the timer's generation */
	MSG_BACKOFF = 3,     /* payload: the id of a request to try again */
	MSG_CANCEL = 0x40000000u, /* plus the low bits of a request's id */
};

#define CANCEL_ID_MASK 0x3FFFFFFFu

/* One socket curl asked to watch, indexed by descriptor. */
typedef struct sock {
	bool active;    /* curl wants it watched */
	bool in_flight; /* a poll is submitted and not yet completed */
	short events;   /* POLLIN / POLLOUT */
	uint32_t gen;   /* bumped whenever the poll in flight is abandoned */
	uint64_t op;    /* the poll's id, for bl_io_cancel */
} sock_t;

typedef struct client {
	bl_http_service_t *svc;
	bl_actor_t *self;          /* set at each activation */
	CURLM *multi;
	http_request_t *requests;  /* every request this client owns */
	sock_t *socks;
	size_t n_socks;
	bool timer_set;
	bl_timer_id_t timer;
	uint64_t timer_gen;
	uint64_t rng;              /* xorshift state for back-off jitter */
	bool stopping;
} client_t;

typedef struct client_state {
	client_t *c;
} client_state_t;

uint32_t http_client_cancel_type(uint64_t id)
{
	return MSG_CANCEL | (uint32_t)(id & CANCEL_ID_MASK);
}

static uint64_t next_random(client_t *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

/* ------------------------------------------------------------------------ */
/* Sockets and timers for curl                                               */
/* ------------------------------------------------------------------------ */

static sock_t *sock_at(client_t *c, curl_socket_t fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= c->n_socks) {
		size_t n = c->n_socks ? c->n_socks : 64;
		while (n <= (size_t)fd)
			n *= 2;
		sock_t *socks = realloc(c->socks, n * sizeof *socks);
		if (!socks)
			return NULL;
		memset(socks + c->n_socks, 0, (n - c->n_socks) * sizeof *socks);
		c->socks = socks;
		c->n_socks = n;
	}
	return &c->socks[fd];
}

static int arm(sock_t *s, curl_socket_t fd)
{
	uint64_t tag = (uint64_t)(uint32_t)fd << 32 | s->gen;
	int rc = bl_io_poll_fd(&s->op, fd, s->events, tag);

	s->in_flight = rc == 0;
	return rc;
}

/* Abandon the poll in flight: its completion will carry an old generation. */
static void abandon(sock_t *s)
{
	if (s->in_flight)
		(void)bl_io_cancel(s->op);
	s->in_flight = false;
	s->gen++;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	client_t *c = userp;
	sock_t *s = sock_at(c, fd);

	(void)easy;
	(void)socketp;
	if (!s)
		return -1;
	if (what == CURL_POLL_REMOVE) {
		abandon(s);
		s->active = false;
		return 0;
	}

	short events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	if (s->active && s->in_flight && s->events == events)
		return 0;
	abandon(s);
	s->active = true;
	s->events = events;
	if (c->stopping || events == 0)
		return 0;
	/* Failing the callback fails every transfer of this multi handle,
	 * which is what a poll that cannot be submitted deserves. */
	return arm(s, fd) == 0 ? 0 : -1;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	client_t *c = userp;

	(void)multi;
	if (c->timer_set)
		(void)bl_timer_cancel(bl_actor_runtime(c->self), c->timer);
	c->timer_set = false;
	c->timer_gen++;
	if (timeout_ms < 0 || c->stopping)
		return 0;

	bl_msg_t *msg = bl_msg_new(MSG_CURL_TIMER, sizeof(uint64_t));
	if (!msg)
		return -1;
	*(uint64_t *)bl_msg_payload(msg) = c->timer_gen;
	/* A timeout of 0 ms means "call back soon", but curl must not be called
	 * from inside this callback, so the client sends itself a message. */
	if (timeout_ms == 0)
		return bl_send(c->self, &msg) == 0 ? 0 : -1;
	if (bl_send_after(&c->timer, c->self, &msg, (uint64_t)timeout_ms) < 0)
		return -1;
	c->timer_set = true;
	return 0;
}

static void socket_action(client_t *c, curl_socket_t fd, int events)
{
	int running;
	(void)curl_multi_socket_action(c->multi, fd, events, &running);
}

static void on_poll(client_t *c, const bl_io_result_t *r)
{
	curl_socket_t fd = (curl_socket_t)(r->tag >> 32);
	sock_t *s = fd < (curl_socket_t)c->n_socks ? &c->socks[fd] : NULL;

	if (!s || !s->active || !s->in_flight || s->gen != (uint32_t)r->tag)
		return; /* a poll abandoned before it completed */
	s->in_flight = false;

	int events = 0;
	if (r->res < 0 || (r->res & (POLLERR | POLLNVAL)))
		events |= CURL_CSELECT_ERR;
	if (r->res > 0 && (r->res & (POLLIN | POLLHUP)))
		events |= CURL_CSELECT_IN;
	if (r->res > 0 && (r->res & POLLOUT))
		events |= CURL_CSELECT_OUT;
	socket_action(c, fd, events);

	/* curl may have removed the socket, or already armed a new poll from
	 * its callback; otherwise it still wants the same events. */
	s = &c->socks[fd]; /* the callback may have grown the table */
	if (s->active && !s->in_flight && s->events && arm(s, fd) < 0)
		socket_action(c, fd, CURL_CSELECT_ERR);
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                 */
/* ------------------------------------------------------------------------ */

static void unlink_request(client_t *c, http_request_t *req)
{
	if (req->prev)
		req->prev->next = req->next;
	else if (c->requests == req)
		c->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
}

/* The result of a failed request: how many attempts it made and the last
 * status, if any. The engine keeps results of successful jobs only,
 * so this serves tests and anyone calling the block directly. */
static json_t *failure_result(const http_request_t *req, const http_attempt_t *a)
{
	json_t *r = json_pack("{si}", "attempts", (int)req->attempts);
	if (r && a->status > 0)
		json_object_set_new(r, "status", json_integer(a->status));
	return r;
}

/* Report `req` and free it. `result` is taken; `a` is NULL on success. */
static void finish(client_t *c, http_request_t *req, json_t *result, const http_attempt_t *a)
{
	bl_block_outcome_t *o = bl_block_outcome_new();

	if (c)
		unlink_request(c, req);
	if (o) {
		o->pool = "io";
		o->result = result;
		result = NULL;
		if (a) {
			bl_error_set(&o->error, a->code, a->field, "%s", a->message);
			o->code = a->code;
			o->error_code = a->error_code;
			o->retryable = a->retryable;
		}
	}
	json_decref(result);
	if (o && a && !o->result)
		o->result = failure_result(req, a);
	/* Unwatch before reporting: the engine may free the hook as soon as
	 * the outcome arrives. */
	bl_cancel_hook_unwatch(req->hook);
	req->done(req->done_ctx, o);
	http_request_free(&req);
}

static void finish_error(client_t *c, http_request_t *req, int code, const char *error_code, bool retryable,
			 const char *field, const char *message)
{
	http_attempt_t a = {.code = code, .error_code = error_code, .retryable = retryable, .field = field};

	snprintf(a.message, sizeof a.message, "%.*s", (int)sizeof a.message - 1, message);
	finish(c, req, NULL, &a);
}

/* Take the request out of the multi handle or off its back-off timer. */
static void detach(client_t *c, http_request_t *req)
{
	if (req->in_multi) {
		curl_multi_remove_handle(c->multi, req->easy);
		req->in_multi = false;
		http_breakers_record(c->svc->breakers, req->params.host_key, req->pass, HTTP_BREAKER_NEUTRAL,
				     http_now_ns() / 1000000u);
	}
	if (req->waiting && c->self)
		(void)bl_timer_cancel(bl_actor_runtime(c->self), req->backoff_timer);
	req->waiting = false;
}

/* ------------------------------------------------------------------------ */
/* Attempts                                                                  */
/* ------------------------------------------------------------------------ */

static void start_attempt(client_t *c, http_request_t *req)
{
	uint64_t now = http_now_ns();
	uint64_t wait_ms;
	char message[BL_ERROR_MESSAGE_MAX + 64];

	if (bl_cancel_requested(req->cancel)) {
		finish_error(c, req, BL_ECANCELED, "cancelled", false, NULL, "the request was cancelled");
		return;
	}
	req->pass = http_breakers_acquire(c->svc->breakers, req->params.host_key, now / 1000000u, &wait_ms);
	if (req->pass == HTTP_BREAKER_REFUSE) {
		snprintf(message, sizeof message,
			 "%s: the circuit breaker is open after repeated failures; the next trial request is allowed in "
			 "%llu ms", req->params.host_key, (unsigned long long)wait_ms);
		finish_error(c, req, -EAGAIN, "circuit_open", true, "params.url", message);
		return;
	}
	if (http_request_prepare_attempt(req, now) < 0) {
		http_breakers_record(c->svc->breakers, req->params.host_key, req->pass, HTTP_BREAKER_NEUTRAL,
				     now / 1000000u);
		char url[HTTP_URL_SHOWN_MAX];
		snprintf(message, sizeof message, "%s %s timed out after %llu ms (params.timeout_ms)",
			 req->params.method, http_url_for_message(url, req->params.url),
			 (unsigned long long)req->params.timeout_ms);
		finish_error(c, req, BL_ETIMEDOUT, "timeout", true, "params.timeout_ms", message);
		return;
	}
	req->attempts++;
	if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
		http_breakers_record(c->svc->breakers, req->params.host_key, req->pass, HTTP_BREAKER_NEUTRAL,
				     now / 1000000u);
		finish_error(c, req, BL_ENOMEM, "out_of_memory", true, NULL, "cannot add the transfer to curl");
		return;
	}
	req->in_multi = true;
}

static void schedule_retry(client_t *c, http_request_t *req, const http_attempt_t *a, uint64_t wait_ms)
{
	bl_msg_t *msg = bl_msg_new(MSG_BACKOFF, sizeof(uint64_t));

	if (msg) {
		*(uint64_t *)bl_msg_payload(msg) = req->id;
		if (bl_send_after(&req->backoff_timer, c->self, &msg, wait_ms) == 0) {
			req->waiting = true;
			return;
		}
	}
	finish(c, req, NULL, a);
}

/* Start the next hop of a redirect on the same breaker pass. Returns
 * false, with *result to judge the transfer by, when there is none. */
static bool follow_redirect(client_t *c, http_request_t *req, uint64_t now, CURLcode *result)
{
	bool followed;

	*result = http_request_next_hop(req, now, &followed);
	if (!followed)
		return false;
	if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
		*result = CURLE_OUT_OF_MEMORY;
		return false;
	}
	req->in_multi = true;
	return true;
}

static void on_transfer_done(client_t *c, http_request_t *req, CURLcode result)
{
	uint64_t now = http_now_ns();
	http_attempt_t a;

	req->in_multi = false;
	if (result == CURLE_OK && follow_redirect(c, req, now, &result))
		return;
	http_attempt_judge(&a, req, result, now);
	http_breakers_record(c->svc->breakers, req->params.host_key, req->pass, a.verdict, now / 1000000u);

	int64_t wait = a.transient ? http_retry_wait_ms(req, &a, now, next_random(c)) : -1;
	if (wait >= 0) {
		schedule_retry(c, req, &a, (uint64_t)wait);
		return;
	}
	if (a.code < 0) {
		finish(c, req, NULL, &a);
		return;
	}
	json_t *r = http_result_build(req, &a);
	finish(c, req, r, r ? NULL : &a);
}

/* Hand every finished transfer to on_transfer_done(). */
static void drain(client_t *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *easy = m->easy_handle;
		CURLcode result = m->data.result;
		http_request_t *req = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
		curl_multi_remove_handle(c->multi, easy);
		on_transfer_done(c, req, result);
	}
}

static http_request_t *find(client_t *c, uint64_t id, uint64_t mask)
{
	for (http_request_t *r = c->requests; r; r = r->next) {
		if ((r->id & mask) == (id & mask))
			return r;
	}
	return NULL;
}

static void on_submit(client_t *c, http_request_t *req)
{
	req->next = c->requests;
	if (c->requests)
		c->requests->prev = req;
	c->requests = req;
	if (req->hook && bl_cancel_hook_watch(req->hook, c->self, http_client_cancel_type(req->id)) < 0) {
		finish_error(c, req, BL_ENOMEM, "out_of_memory", true, NULL, "cannot watch the job's cancellation");
		return;
	}
	start_attempt(c, req);
}

static void on_cancel(client_t *c, uint32_t type)
{
	http_request_t *req = find(c, type & CANCEL_ID_MASK, CANCEL_ID_MASK);
	if (!req)
		return; /* finished before the cancel arrived */
	detach(c, req);
	finish_error(c, req, BL_ECANCELED, "cancelled", false, NULL,
		     "the request was cancelled (the job timed out or was cancelled)");
}

/* ------------------------------------------------------------------------ */
/* The actor                                                                 */
/* ------------------------------------------------------------------------ */

static int client_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	client_t *c = ((client_state_t *)state)->c;
	uint64_t value;

	c->self = self;
	if (msg->type == BL_MSG_IO) {
		on_poll(c, bl_msg_payload(msg));
	} else if (msg->type == MSG_SUBMIT) {
		http_request_t *req;
		memcpy(&req, bl_msg_payload(msg), sizeof req);
		on_submit(c, req);
	} else if (msg->type == MSG_CURL_TIMER) {
		memcpy(&value, bl_msg_payload(msg), sizeof value);
		if (value == c->timer_gen) {
			c->timer_set = false;
			socket_action(c, CURL_SOCKET_TIMEOUT, 0);
		}
	} else if (msg->type == MSG_BACKOFF) {
		memcpy(&value, bl_msg_payload(msg), sizeof value);
		http_request_t *req = find(c, value, UINT64_MAX);
		if (req && req->waiting) {
			req->waiting = false;
			start_attempt(c, req);
		}
	} else if (msg->type >= MSG_CANCEL && msg->type <= (MSG_CANCEL | CANCEL_ID_MASK)) {
		on_cancel(c, msg->type);
	}
	drain(c);
	return 0;
}

/* Report every request still owned as stopped, then close curl. */
static void client_stop(bl_actor_t *self, void *state, int reason)
{
	client_t *c = ((client_state_t *)state)->c;

	(void)reason;
	c->self = self;
	c->stopping = true;
	while (c->requests) {
		http_request_t *req = c->requests;
		detach(c, req);
		finish_error(c, req, BL_ESHUTDOWN, "shutdown", true, NULL, "the http service stopped before the request "
			     "finished");
	}
	if (c->timer_set)
		(void)bl_timer_cancel(bl_actor_runtime(self), c->timer);
	curl_multi_cleanup(c->multi);
	free(c->socks);
	free(c);
}

/* A request handed over after the client stopped is reported here. */
static void client_discard(bl_msg_t *msg)
{
	if (msg->type != MSG_SUBMIT)
		return;
	http_request_t *req;
	memcpy(&req, bl_msg_payload(msg), sizeof req);
	http_attempt_t a = {.code = BL_ESHUTDOWN, .error_code = "shutdown", .retryable = true};
	snprintf(a.message, sizeof a.message, "the http service stopped before the request started");
	finish(NULL, req, NULL, &a);
}

static const bl_behaviour_t client_behaviour = {
	.name = "http_client",
	.receive = client_receive,
	.stop = client_stop,
	.discard = client_discard,
};

int http_client_spawn(bl_actor_t **out, bl_pool_t *pool, bl_http_service_t *svc)
{
	client_t *c = calloc(1, sizeof *c);
	if (!c)
		return BL_ENOMEM;
	c->svc = svc;
	c->rng = (uint64_t)(uintptr_t)c ^ http_now_ns() ^ 0x9e3779b97f4a7c15u;
	c->multi = curl_multi_init();
	if (!c->multi) {
		free(c);
		return BL_ENOMEM;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);

	client_state_t state = {.c = c};
	int rc = bl_actor_spawn(out, pool, &client_behaviour, &state, sizeof state);
	if (rc < 0) {
		curl_multi_cleanup(c->multi);
		free(c);
	}
	return rc;
}

void http_client_submit(bl_actor_t *client, http_request_t **req)
{
	bl_msg_t *msg = bl_msg_new(MSG_SUBMIT, sizeof *req);

	if (!msg) {
		http_attempt_t a = {.code = BL_ENOMEM, .error_code = "out_of_memory", .retryable = true};
		snprintf(a.message, sizeof a.message, "out of memory handing the request to the http client");
		finish(NULL, *req, NULL, &a);
		*req = NULL;
		return;
	}
	memcpy(bl_msg_payload(msg), req, sizeof *req);
	*req = NULL;
	/* When the client has stopped, the discard callback reports. */
	(void)bl_send(client, &msg);
}
