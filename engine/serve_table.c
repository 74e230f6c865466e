/*
 * The in-flight table of the service mode: one slot per job taken from a
 * delivery or a request whose result has not gone out yet. Its size is the engine's
 * admission capacity for the service (engine.max_in_flight), so the fetch
 * thread pulls only as many messages as there are free slots and nothing
 * is buffered beyond it.
 *
 * A ticket names a slot and the job in it: (n * capacity) + slot + 1 for
 * the n-th job taken, so a late result of a job the drain already handed
 * back cannot take the slot's next job for its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve_ctx.h"

int bl__serve_table_init(serve_table_t *t, size_t capacity)
{
	memset(t, 0, sizeof *t);
	t->slots = calloc(capacity, sizeof *t->slots);
	if (!t->slots)
		return BL_ENOMEM;
	t->capacity = capacity;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->changed, NULL);
	return 0;
}

void bl__serve_table_destroy(serve_table_t *t)
{
	if (!t->slots)
		return;
	for (size_t i = 0; i < t->capacity; i++) {
		if (t->slots[i].ticket)
			bl__serve_job_release(&t->slots[i]);
	}
	free(t->slots);
	t->slots = NULL;
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->changed);
}

void bl__serve_job_release(serve_job_t *job)
{
	bl_js_msg_free(job->msg);
	free(job->reply);
	job->msg = NULL;
	job->reply = NULL;
	job->ticket = 0;
}

size_t bl__serve_table_free_slots(serve_table_t *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->capacity - t->used;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void bl__serve_table_wait(serve_table_t *t, uint64_t ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&t->lock);
	if (t->used == t->capacity)
		pthread_cond_timedwait(&t->changed, &t->lock, &until);
	pthread_mutex_unlock(&t->lock);
}

/* The slot holding tenant/id, or NULL. Call with t->lock held. */
static serve_job_t *find_locked(serve_table_t *t, const char *tenant, const char *id)
{
	for (size_t i = 0; i < t->capacity; i++) {
		serve_job_t *j = &t->slots[i];
		if (j->ticket && strcmp(j->id, id) == 0 && strcmp(j->tenant, tenant) == 0)
			return j;
	}
	return NULL;
}

int64_t bl__serve_table_add(serve_table_t *t, const serve_job_t *job)
{
	int64_t rc = -ENOSPC;

	pthread_mutex_lock(&t->lock);
	if (find_locked(t, job->tenant, job->id)) {
		rc = -EEXIST;
	} else if (t->used < t->capacity) {
		size_t i = 0;
		while (t->slots[i].ticket)
			i++;
		t->generation++;
		t->slots[i] = *job;
		t->slots[i].ticket = t->generation * t->capacity + i + 1;
		t->used++;
		rc = (int64_t)t->slots[i].ticket;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* Free slot `j` into *out. Call with t->lock held. */
static void take_locked(serve_table_t *t, serve_job_t *j, serve_job_t *out)
{
	*out = *j;
	memset(j, 0, sizeof *j);
	t->used--;
	pthread_cond_broadcast(&t->changed);
}

bool bl__serve_table_take(serve_table_t *t, uint64_t ticket, serve_job_t *out)
{
	bool found = false;
	if (ticket == 0)
		return false;

	pthread_mutex_lock(&t->lock);
	serve_job_t *j = &t->slots[(ticket - 1) % t->capacity];
	if (j->ticket == ticket) {
		take_locked(t, j, out);
		found = true;
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

bool bl__serve_table_finish(serve_table_t *t, uint64_t ticket, serve_job_t *view)
{
	bool found = false;
	if (ticket == 0)
		return false;

	pthread_mutex_lock(&t->lock);
	serve_job_t *j = &t->slots[(ticket - 1) % t->capacity];
	if (j->ticket == ticket && !j->finishing) {
		j->finishing = true;
		*view = *j;
		found = true;
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

bool bl__serve_table_take_request(serve_table_t *t, uint64_t ticket, serve_job_t *out)
{
	bool found = false;
	if (ticket == 0)
		return false;

	pthread_mutex_lock(&t->lock);
	serve_job_t *j = &t->slots[(ticket - 1) % t->capacity];
	if (j->ticket == ticket && j->reply) {
		take_locked(t, j, out);
		found = true;
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

serve_cancel_t bl__serve_table_cancel(serve_table_t *t, const char *tenant, const char *id)
{
	serve_cancel_t found = SERVE_CANCEL_ABSENT;

	pthread_mutex_lock(&t->lock);
	serve_job_t *j = find_locked(t, tenant, id);
	if (j && j->submitted) {
		found = SERVE_CANCEL_NOW;
	} else if (j) {
		j->cancel_pending = true;
		found = SERVE_CANCEL_LATER;
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

bool bl__serve_table_submitted(serve_table_t *t, uint64_t ticket)
{
	bool cancel = false;
	if (ticket == 0)
		return false;

	pthread_mutex_lock(&t->lock);
	serve_job_t *j = &t->slots[(ticket - 1) % t->capacity];
	if (j->ticket == ticket) {
		j->submitted = true;
		cancel = j->cancel_pending;
		j->cancel_pending = false;
	}
	pthread_mutex_unlock(&t->lock);
	return cancel;
}

bool bl__serve_table_find(serve_table_t *t, const char *tenant, const char *id, serve_job_t *out)
{
	pthread_mutex_lock(&t->lock);
	serve_job_t *j = find_locked(t, tenant, id);
	if (j) {
		*out = *j;
		out->msg = NULL; /* the copy owns nothing */
		out->reply = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	return j != NULL;
}

bool bl__serve_table_take_any(serve_table_t *t, serve_job_t *out)
{
	bool found = false;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->capacity && !found; i++) {
		if (t->slots[i].ticket && !t->slots[i].finishing) {
			take_locked(t, &t->slots[i], out);
			found = true;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

/*
 * The ack goes out under the lock: the sink takes a job (and frees its
 * message) under the same lock, so the message cannot be freed while
 * this publishes on it. A finishing job is skipped, since its sink acks
 * or NAKs the message meanwhile. A publish only queues bytes for cnats's flusher,
 * so the lock is held briefly.
 */
void bl__serve_table_progress(serve_table_t *t, uint64_t now_ms, uint64_t interval_ms)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->capacity; i++) {
		serve_job_t *j = &t->slots[i];
		if (!j->ticket || !j->msg || j->finishing || now_ms - j->progress_ms < interval_ms)
			continue;
		j->progress_ms = now_ms;
		bl_js_in_progress(j->msg, NULL);
	}
	pthread_mutex_unlock(&t->lock);
}
