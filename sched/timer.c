#define _GNU_SOURCE /* pthread_setname_np */

#include "timer.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor.h"
#include "futex.h"
#include "runtime.h"
#include "sanitize.h"

#define PAGE_RECORDS 1024u
#define GENERATION_MASK 0xFFFFFFu
#define NO_RECORD UINT32_MAX

uint64_t bl__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t bl__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The current time rounded up to the next whole millisecond. The wheel
 * fires a deadline once the rounded-down clock reaches it, so counting a
 * delay from the rounded-up time never fires early. */
static uint64_t now_ms_rounded_up(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + ((uint64_t)ts.tv_nsec + 999999u) / 1000000u;
}

static bl__timer_rec_t *record_at(bl__timers_t *t, uint32_t index)
{
	return &t->pages[index / PAGE_RECORDS][index % PAGE_RECORDS];
}

static bl__timer_rec_t *record_of(bl__wheel_entry_t *entry)
{
	return (bl__timer_rec_t *)((char *)entry - offsetof(bl__timer_rec_t, entry));
}

static bl_timer_id_t make_id(bl__timers_t *t, uint32_t generation, uint32_t index)
{
	return ((uint64_t)(t->pool_index + 1) << 56) | ((uint64_t)generation << 32) | index;
}

/* Add a page of free records. Requires: `lock` held. */
static int add_page_locked(bl__timers_t *t)
{
	bl__timer_rec_t **pages = realloc(t->pages, (t->page_count + 1) * sizeof *pages);
	if (!pages)
		return BL_ENOMEM;
	t->pages = pages;

	bl__timer_rec_t *page = calloc(PAGE_RECORDS, sizeof *page);
	if (!page)
		return BL_ENOMEM;

	uint32_t base = t->page_count * PAGE_RECORDS;
	for (uint32_t i = 0; i < PAGE_RECORDS; i++) {
		page[i].index = base + i;
		page[i].next_free = i + 1 < PAGE_RECORDS ? base + i + 1 : t->free_head;
	}
	t->free_head = base;
	t->pages[t->page_count++] = page;
	return 0;
}

/* Requires: `lock` held. */
static bl__timer_rec_t *alloc_record_locked(bl__timers_t *t)
{
	if (t->free_head == NO_RECORD && add_page_locked(t) != 0)
		return NULL;

	bl__timer_rec_t *rec = record_at(t, t->free_head);
	t->free_head = rec->next_free;
	return rec;
}

/* Requires: `lock` held. */
static void free_record_locked(bl__timers_t *t, bl__timer_rec_t *rec)
{
	rec->pending = false;
	rec->target = NULL;
	rec->msg = NULL;
	rec->generation = (rec->generation + 1) & GENERATION_MASK;
	rec->next_free = t->free_head;
	t->free_head = rec->index;
}

/* Drop a timer's message through its target's discard callback. */
static void drop(bl_actor_t *target, bl_msg_t *msg)
{
	bl__msg_discard(target, msg);
	bl__msg_release(msg);
	bl_actor_release(&target);
}

/* ------------------------------------------------------------------------ */
/* The timer thread                                                          */
/* ------------------------------------------------------------------------ */

typedef struct delivery {
	bl_actor_t *target;
	bl_msg_t *msg;
} delivery_t;

typedef struct deliveries {
	delivery_t *items;
	size_t count;
	size_t capacity;
} deliveries_t;

/* Take every expired timer out of the wheel into `out`, in firing order.
 * Requires: `lock` held. */
static void collect_expired_locked(bl__timers_t *t, deliveries_t *out)
{
	bl__wheel_entry_t *entry = bl__wheel_advance(&t->wheel, bl__now_ms());

	while (entry) {
		bl__wheel_entry_t *next = entry->next;
		bl__timer_rec_t *rec = record_of(entry);

		if (out->count == out->capacity) {
			size_t capacity = out->capacity ? out->capacity * 2 : 64;
			delivery_t *items = realloc(out->items, capacity * sizeof *items);
			if (!items)
				bl__die("out of memory while firing timers");
			out->items = items;
			out->capacity = capacity;
		}
		out->items[out->count++] = (delivery_t){rec->target, rec->msg};
		free_record_locked(t, rec);
		entry = next;
	}
}

/* Send the collected messages in order, without the lock: a discard
 * callback of a terminated target may set timers itself. */
static void deliver(deliveries_t *batch)
{
	for (size_t i = 0; i < batch->count; i++) {
		delivery_t *d = &batch->items[i];
		bl_send(d->target, &d->msg);
		bl_actor_release(&d->target);
	}
	batch->count = 0;
}

static void sleep_until(bl__timers_t *t, uint32_t seq, uint64_t wake_at)
{
	if (wake_at == UINT64_MAX) {
		bl__futex_wait(&t->wake_seq, seq, NULL);
		return;
	}

	uint64_t now = bl__now_ms();
	if (wake_at <= now)
		return;
	uint64_t ms = wake_at - now;
	struct timespec timeout = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000l};
	bl__futex_wait(&t->wake_seq, seq, &timeout);
}

static void *timer_main(void *arg)
{
	bl__timers_t *t = arg;
	deliveries_t batch = {0};

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		collect_expired_locked(t, &batch);
		if (batch.count > 0) {
			pthread_mutex_unlock(&t->lock);
			deliver(&batch);
			pthread_mutex_lock(&t->lock);
			continue;
		}

		t->wake_at = bl__wheel_next_expiry(&t->wheel);
		uint64_t wake_at = t->wake_at;
		uint32_t seq = atomic_load_explicit(&t->wake_seq, memory_order_acquire);
		pthread_mutex_unlock(&t->lock);

		sleep_until(t, seq, wake_at);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);

	free(batch.items);
	return NULL;
}

static void kick(bl__timers_t *t)
{
	atomic_fetch_add_explicit(&t->wake_seq, 1, memory_order_release);
	bl__futex_wake(&t->wake_seq, 1);
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

int bl__timers_start(bl__timers_t *t, unsigned pool_index)
{
	memset(t, 0, sizeof *t);
	int rc = pthread_mutex_init(&t->lock, NULL);
	if (rc != 0)
		return -rc;

	bl__wheel_init(&t->wheel, bl__now_ms());
	t->free_head = NO_RECORD;
	t->wake_at = UINT64_MAX;
	t->pool_index = pool_index;
	atomic_init(&t->wake_seq, 0);
	t->initialised = true;

	rc = pthread_create(&t->thread, NULL, timer_main, t);
	if (rc != 0)
		return -rc;
	pthread_setname_np(t->thread, "bl-timer");
	t->started = true;
	return 0;
}

void bl__timers_stop(bl__timers_t *t)
{
	if (!t->started)
		return;

	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_mutex_unlock(&t->lock);
	kick(t);
	pthread_join(t->thread, NULL);
	t->started = false;
}

void bl__timers_destroy(bl__timers_t *t)
{
	if (!t->initialised)
		return;

	for (uint32_t p = 0; p < t->page_count; p++) {
		for (uint32_t i = 0; i < PAGE_RECORDS; i++) {
			bl__timer_rec_t *rec = &t->pages[p][i];
			if (rec->pending)
				drop(rec->target, rec->msg);
		}
		free(t->pages[p]);
	}
	free(t->pages);
	pthread_mutex_destroy(&t->lock);
	t->initialised = false;
}

/* ------------------------------------------------------------------------ */
/* Arming and cancelling                                                     */
/* ------------------------------------------------------------------------ */

int bl__timers_add(bl__timers_t *t, bl_timer_id_t *out, bl_actor_t *to, bl_msg_t *msg, uint64_t delay_ms)
{
	pthread_mutex_lock(&t->lock);
	bl__timer_rec_t *rec = t->stopping ? NULL : alloc_record_locked(t);
	if (!rec) {
		int rc = t->stopping ? BL_ESHUTDOWN : BL_ENOMEM;
		pthread_mutex_unlock(&t->lock);
		return rc;
	}

	bl_actor_retain(to);
	rec->target = to;
	rec->msg = msg;
	rec->pending = true;

	uint64_t now = now_ms_rounded_up();
	uint64_t deadline = delay_ms > UINT64_MAX - now ? UINT64_MAX - 1 : now + delay_ms;
	bl__wheel_insert(&t->wheel, &rec->entry, deadline);

	bl_timer_id_t id = make_id(t, rec->generation, rec->index);
	bool earlier = deadline < t->wake_at;
	if (earlier)
		t->wake_at = deadline;
	pthread_mutex_unlock(&t->lock);

	if (earlier)
		kick(t);
	if (out)
		*out = id;
	return 0;
}

int bl__timers_cancel(bl__timers_t *t, bl_timer_id_t id)
{
	uint32_t index = (uint32_t)id;
	uint32_t generation = (uint32_t)(id >> 32) & GENERATION_MASK;

	pthread_mutex_lock(&t->lock);
	bl__timer_rec_t *rec = index < t->page_count * PAGE_RECORDS ? record_at(t, index) : NULL;
	if (!rec || !rec->pending || rec->generation != generation) {
		pthread_mutex_unlock(&t->lock);
		return BL_ENOTIMER;
	}

	bl__wheel_remove(&t->wheel, &rec->entry);
	bl_actor_t *target = rec->target;
	bl_msg_t *msg = rec->msg;
	free_record_locked(t, rec);
	pthread_mutex_unlock(&t->lock);

	drop(target, msg);
	return 0;
}

int bl_send_after(bl_timer_id_t *out, bl_actor_t *to, bl_msg_t **msgp, uint64_t delay_ms)
{
	bl_msg_t *msg = *msgp;
	*msgp = NULL;

	int rc = BL_ESHUTDOWN;
	if (!atomic_load_explicit(&to->pool->rt->shutting_down, memory_order_acquire))
		rc = bl__timers_add(&to->pool->timers, out, to, msg, delay_ms);
	if (rc < 0) {
		bl__msg_discard(to, msg);
		bl__msg_release(msg);
	}
	return rc;
}

int bl_timer_cancel(bl_runtime_t *rt, bl_timer_id_t id)
{
	unsigned tag = (unsigned)(id >> 56);
	bl_pool_t *pool = tag ? bl__runtime_pool(rt, tag - 1) : NULL;
	if (!pool)
		return BL_ENOTIMER;
	return bl__timers_cancel(&pool->timers, id);
}
