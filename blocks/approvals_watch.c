/*
 * The approvals folder watch: an actor on the I/O pool that waits for the
 * inotify descriptor to become readable (bl_io_poll_fd, so no thread
 * waits), reads the events, and tells the jobs waiting on each approval
 * whose decision file appeared. The inotify descriptor is non-blocking:
 * after a poll reports it readable, read() returns at once.
 */
#define _GNU_SOURCE /* struct inotify_event */

#include <errno.h>
#include <poll.h>
#include <stdalign.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "approvals_service.h"

enum {
	MSG_WATCH_START = 1,
	MSG_WATCH_STOP,
};

#define DECISION_SUFFIX ".decision.json"

typedef struct watch {
	bl_approvals_t *service;
	int fd;
	uint64_t op;   /* the poll in flight */
	bool polling;
	bool stopping;
} watch_t;

/* Give up watching: log why, and let waiting runs poll instead. */
static void give_up(watch_t *w, bl_actor_t *self, int code)
{
	json_t *fields = json_pack("{s:s}", "reason", bl_strerror(code));
	bl__approvals_log(w->service, BL_SERVICE_LOG_ERROR, "approvals_watch_failed", NULL,
			  "the approvals folder watch failed; waiting jobs now reread their decision periodically",
			  fields);
	json_decref(fields);
	bl__approvals_watch_failed(w->service);
	bl_actor_stop(self);
}

static void arm(watch_t *w, bl_actor_t *self)
{
	int rc = bl_io_poll_fd(&w->op, w->fd, POLLIN, 0);
	w->polling = rc == 0;
	if (rc < 0)
		give_up(w, self, rc);
}

/* Tell the waiters of the approval whose decision file is `name`. */
static void on_name(watch_t *w, const char *name)
{
	size_t n = strlen(name), k = sizeof DECISION_SUFFIX - 1;
	char id[BL_APPROVAL_ID_MAX + 1];

	if (n <= k || n - k > BL_APPROVAL_ID_MAX || strcmp(name + n - k, DECISION_SUFFIX) != 0)
		return;
	memcpy(id, name, n - k);
	id[n - k] = '\0';
	bl_approvals_notify(w->service, id);
}

/* Read every queued event. */
static void drain(watch_t *w)
{
	alignas(struct inotify_event) char buf[8192];

	for (;;) {
		ssize_t len = read(w->fd, buf, sizeof buf);
		if (len <= 0)
			return; /* EAGAIN: drained */
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if (e->mask & IN_Q_OVERFLOW)
				bl__approvals_notify_all(w->service);
			else if (e->len > 0)
				on_name(w, e->name);
			p += sizeof *e + e->len;
		}
	}
}

static void on_io(watch_t *w, bl_actor_t *self, const bl_io_result_t *r)
{
	w->polling = false;
	if (w->stopping) {
		bl_actor_stop(self);
		return;
	}
	if (r->res < 0) {
		give_up(w, self, (int)r->res);
		return;
	}
	drain(w);
	arm(w, self);
}

static int watch_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	watch_t *w = state;

	switch (msg->type) {
	case MSG_WATCH_START:
		arm(w, self);
		break;
	case MSG_WATCH_STOP:
		w->stopping = true;
		/* The poll's completion stops the actor; with none in flight,
		 * stop now. */
		if (!w->polling || bl_io_cancel(w->op) == -ENOENT)
			bl_actor_stop(self);
		break;
	case BL_MSG_IO:
		on_io(w, self, bl_msg_payload(msg));
		break;
	default:
		break;
	}
	return 0;
}

static const bl_behaviour_t watch_behaviour = {
	.name = "approvals_watch",
	.receive = watch_receive,
};

int bl__approvals_watch_spawn(bl_actor_t **out, bl_pool_t *io_pool, bl_approvals_t *a, int fd)
{
	watch_t init = {.service = a, .fd = fd};
	int rc = bl_actor_spawn(out, io_pool, &watch_behaviour, &init, sizeof init);
	if (rc == 0 && bl_send_u64(*out, MSG_WATCH_START, 0) < 0) {
		bl_actor_stop(*out);
		bl_actor_release(out);
		rc = BL_ENOMEM;
	}
	return rc;
}

void bl__approvals_watch_stop(bl_actor_t *watch)
{
	(void)bl_send_u64(watch, MSG_WATCH_STOP, 0);
}
