/*
 * Per-host circuit breakers: a table of hosts under one mutex. Requests
 * take the lock twice (acquire and record), each time for a table lookup,
 * which is cheap next to a network round trip.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http_breaker.h"

#define FAILURES_MAX 1000u
#define HOST_MAX 256u

typedef enum state { CLOSED, OPEN, HALF_OPEN } state_t;

typedef struct host {
	char name[HOST_MAX];
	state_t state;
	uint64_t opened_ms;    /* when it last opened */
	bool trial_running;    /* half-open: the trial request is in flight */
	unsigned count;        /* failures recorded in `times` while closed */
	unsigned next;         /* where the next failure time goes */
	uint64_t *times;       /* the last `failures` failure times, a ring */
	uint64_t last_used_ms; /* for reusing the slot of an idle host */
} host_t;

struct http_breakers {
	http_breaker_config_t cfg;
	pthread_mutex_t lock;
	host_t *hosts;
	unsigned n_hosts;
	unsigned max_hosts;
};

int http_breakers_new(http_breakers_t **out, const http_breaker_config_t *cfg, unsigned max_hosts)
{
	*out = NULL;
	if (cfg->failures == 0 || cfg->failures > FAILURES_MAX || max_hosts == 0)
		return BL_EINVAL;

	http_breakers_t *set = calloc(1, sizeof *set);
	if (!set)
		return BL_ENOMEM;
	set->hosts = calloc(max_hosts, sizeof *set->hosts);
	if (!set->hosts) {
		free(set);
		return BL_ENOMEM;
	}
	set->cfg = *cfg;
	set->max_hosts = max_hosts;
	pthread_mutex_init(&set->lock, NULL);
	*out = set;
	return 0;
}

void http_breakers_free(http_breakers_t **set)
{
	http_breakers_t *s = *set;
	if (!s)
		return;
	for (unsigned i = 0; i < s->n_hosts; i++)
		free(s->hosts[i].times);
	free(s->hosts);
	pthread_mutex_destroy(&s->lock);
	free(s);
	*set = NULL;
}

/* A closed host whose failures have all left the window carries no state
 * worth keeping. */
static bool is_idle_locked(const http_breakers_t *s, const host_t *h, uint64_t now_ms)
{
	return h->state == CLOSED && now_ms - h->last_used_ms > s->cfg.window_ms;
}

/* Find `name`, or make room for it. Returns NULL when the table is full of
 * hosts with live state: such a host goes untracked (always allowed).
 * Caller holds the lock. */
static host_t *find_locked(http_breakers_t *s, const char *name, uint64_t now_ms, bool create)
{
	host_t *reusable = NULL;

	for (unsigned i = 0; i < s->n_hosts; i++) {
		if (strcmp(s->hosts[i].name, name) == 0)
			return &s->hosts[i];
		if (!reusable && is_idle_locked(s, &s->hosts[i], now_ms))
			reusable = &s->hosts[i];
	}
	if (!create || strlen(name) >= HOST_MAX)
		return NULL;

	host_t *h = s->n_hosts < s->max_hosts ? &s->hosts[s->n_hosts] : reusable;
	if (!h)
		return NULL;
	if (!h->times) {
		h->times = calloc(s->cfg.failures, sizeof *h->times);
		if (!h->times)
			return NULL;
	}
	if (h == &s->hosts[s->n_hosts])
		s->n_hosts++;
	strcpy(h->name, name);
	h->state = CLOSED;
	h->trial_running = false;
	h->count = 0;
	h->next = 0;
	h->last_used_ms = now_ms;
	return h;
}

http_breaker_pass_t http_breakers_acquire(http_breakers_t *s, const char *host, uint64_t now_ms,
					  uint64_t *retry_in_ms)
{
	http_breaker_pass_t pass = HTTP_BREAKER_ALLOW;
	uint64_t wait = 0;

	pthread_mutex_lock(&s->lock);
	host_t *h = find_locked(s, host, now_ms, false);
	if (h && h->state == OPEN) {
		uint64_t since = now_ms - h->opened_ms;
		if (since >= s->cfg.cooldown_ms) {
			h->state = HALF_OPEN;
			h->trial_running = false;
		} else {
			wait = s->cfg.cooldown_ms - since;
			pass = HTTP_BREAKER_REFUSE;
		}
	}
	if (h && h->state == HALF_OPEN) {
		pass = h->trial_running ? HTTP_BREAKER_REFUSE : HTTP_BREAKER_TRIAL;
		h->trial_running = true;
	}
	if (h)
		h->last_used_ms = now_ms;
	pthread_mutex_unlock(&s->lock);

	if (retry_in_ms)
		*retry_in_ms = wait;
	return pass;
}

/* Count a failure of a closed breaker; open it when the oldest of the last
 * `failures` failures is within the window. */
static void add_failure_locked(http_breakers_t *s, host_t *h, uint64_t now_ms)
{
	unsigned n = s->cfg.failures;

	h->times[h->next] = now_ms;
	h->next = (h->next + 1) % n;
	if (h->count < n)
		h->count++;
	/* With the ring full, `next` points at the oldest entry. */
	if (h->count == n && now_ms - h->times[h->next % n] <= s->cfg.window_ms) {
		h->state = OPEN;
		h->opened_ms = now_ms;
		h->count = 0;
		h->next = 0;
	}
}

void http_breakers_record(http_breakers_t *s, const char *host, http_breaker_pass_t pass,
			  http_breaker_verdict_t verdict, uint64_t now_ms)
{
	pthread_mutex_lock(&s->lock);
	host_t *h = find_locked(s, host, now_ms, verdict == HTTP_BREAKER_FAILURE);
	if (!h) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	h->last_used_ms = now_ms;

	if (pass == HTTP_BREAKER_TRIAL && h->state == HALF_OPEN) {
		h->trial_running = false;
		if (verdict == HTTP_BREAKER_SUCCESS) {
			h->state = CLOSED;
			h->count = 0;
			h->next = 0;
		} else if (verdict == HTTP_BREAKER_FAILURE) {
			h->state = OPEN;
			h->opened_ms = now_ms;
		}
	} else if (h->state == CLOSED && verdict == HTTP_BREAKER_FAILURE) {
		add_failure_locked(s, h, now_ms);
	}
	/* Requests let through before the breaker opened may end while it is
	 * open or half-open; their verdicts are stale and ignored. */
	pthread_mutex_unlock(&s->lock);
}
