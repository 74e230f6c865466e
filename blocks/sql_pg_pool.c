/*
 * The PostgreSQL connection pool: counts, the idle list and the FIFO queue
 * of waiting jobs, under one mutex. Grants are sent after the mutex is let
 * go, because a grant to an actor that has terminated runs its discard
 * callback at once, and that gives the connection back to this pool.
 */
#define _GNU_SOURCE /* poll */

#include "sql_pg_pool.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sql_pg_pool {
	/* Set once at creation. */
	char *label;
	char **keywords;
	char **values;
	unsigned size;
	uint64_t timeout_ms;

	pthread_mutex_t lock;
	unsigned open;           /* idle + lent + being opened; guarded by lock */
	sql_pg_conn_t *idle;     /* guarded by lock */
	sql_pg_waiter_t *head;   /* guarded by lock */
	sql_pg_waiter_t *tail;   /* guarded by lock */
};

static void free_strings(char **list)
{
	if (!list)
		return;
	for (size_t i = 0; list[i]; i++)
		free(list[i]);
	free(list);
}

static char **copy_strings(const char *const *list)
{
	size_t n = 0;
	while (list[n])
		n++;

	char **copy = calloc(n + 1, sizeof *copy);
	for (size_t i = 0; copy && i < n; i++) {
		copy[i] = strdup(list[i]);
		if (!copy[i]) {
			free_strings(copy);
			return NULL;
		}
	}
	return copy;
}

sql_pg_pool_t *sql_pg_pool_new(const char *label, const char *const *keywords, const char *const *values,
			       unsigned size, uint64_t timeout_ms)
{
	sql_pg_pool_t *pool = calloc(1, sizeof *pool);
	if (!pool)
		return NULL;

	pool->label = strdup(label);
	pool->keywords = copy_strings(keywords);
	pool->values = copy_strings(values);
	pool->size = size;
	pool->timeout_ms = timeout_ms;
	pthread_mutex_init(&pool->lock, NULL);
	if (!pool->label || !pool->keywords || !pool->values)
		sql_pg_pool_free(&pool);
	return pool;
}

const char *sql_pg_pool_label(const sql_pg_pool_t *pool)
{
	return pool->label;
}

const char *const *sql_pg_pool_keywords(const sql_pg_pool_t *pool)
{
	return (const char *const *)pool->keywords;
}

const char *const *sql_pg_pool_values(const sql_pg_pool_t *pool)
{
	return (const char *const *)pool->values;
}

uint64_t sql_pg_pool_session_timeout(const sql_pg_pool_t *pool)
{
	return pool->timeout_ms;
}

void sql_pg_conn_close(sql_pg_conn_t **conn)
{
	if (!*conn)
		return;
	PQfinish((*conn)->pg);
	free(*conn);
	*conn = NULL;
}

/*
 * Whether an idle connection can still take a statement. An idle session
 * has nothing to say, so a readable socket means the server closed it or
 * sent a notice; PQconsumeInput tells the two apart without blocking.
 */
static bool still_open(sql_pg_conn_t *conn)
{
	if (PQstatus(conn->pg) != CONNECTION_OK)
		return false;

	struct pollfd pfd = {.fd = PQsocket(conn->pg), .events = POLLIN};
	if (pfd.fd < 0)
		return false;
	if (poll(&pfd, 1, 0) == 0)
		return true;
	return PQconsumeInput(conn->pg) == 1 && PQstatus(conn->pg) == CONNECTION_OK && !PQisBusy(conn->pg);
}

sql_pg_take_t sql_pg_pool_take(sql_pg_pool_t *pool, sql_pg_waiter_t *waiter, sql_pg_conn_t **conn)
{
	sql_pg_conn_t *dead = NULL;
	sql_pg_take_t taken;

	*conn = NULL;
	pthread_mutex_lock(&pool->lock);
	while (pool->idle && !*conn) {
		sql_pg_conn_t *c = pool->idle;
		pool->idle = c->next;
		c->next = NULL;
		if (still_open(c)) {
			*conn = c;
		} else {
			pool->open--;
			c->next = dead;
			dead = c;
		}
	}
	/* A queue ahead of us keeps its turn: a new job opens a connection
	 * only when nobody waits. */
	if (*conn) {
		taken = SQL_PG_TAKEN;
	} else if (pool->open < pool->size && !pool->head) {
		pool->open++;
		taken = SQL_PG_OPEN;
	} else {
		bl_actor_retain(waiter->actor);
		waiter->next = NULL;
		if (pool->tail)
			pool->tail->next = waiter;
		else
			pool->head = waiter;
		pool->tail = waiter;
		taken = SQL_PG_QUEUED;
	}
	pthread_mutex_unlock(&pool->lock);

	while (dead) {
		sql_pg_conn_t *next = dead->next;
		sql_pg_conn_close(&dead);
		dead = next;
	}
	return taken;
}

/* Pop the first waiter and return its actor reference, or NULL when none
 * waits. The waiter's memory belongs to its job again once popped, so only
 * the reference leaves the lock. The caller holds the lock. */
static bl_actor_t *pop_waiter_locked(sql_pg_pool_t *pool)
{
	sql_pg_waiter_t *w = pool->head;
	if (!w)
		return NULL;
	pool->head = w->next;
	if (!pool->head)
		pool->tail = NULL;
	w->next = NULL;
	bl_actor_t *actor = w->actor;
	w->actor = NULL;
	return actor;
}

/* Send `conn` (NULL: a slot) to `actor` and drop the queue's reference. */
static void grant(sql_pg_pool_t *pool, bl_actor_t *actor, sql_pg_conn_t *conn)
{
	bl_msg_t *msg = bl_msg_new(SQL_MSG_GRANT, sizeof(sql_pg_grant_t));
	if (msg) {
		*(sql_pg_grant_t *)bl_msg_payload(msg) = (sql_pg_grant_t){.pool = pool, .conn = conn};
		/* An actor that terminated meanwhile gives the grant back from
		 * its discard callback. */
		bl_send(actor, &msg);
	} else {
		/* Out of memory: the waiter is lost, and so is its slot's turn;
		 * close the connection so that the slot is not leaked. */
		sql_pg_conn_close(&conn);
		pthread_mutex_lock(&pool->lock);
		pool->open--;
		pthread_mutex_unlock(&pool->lock);
	}
	bl_actor_release(&actor);
}

void sql_pg_pool_give_back(sql_pg_pool_t *pool, sql_pg_conn_t **conn, bool healthy)
{
	sql_pg_conn_t *c = *conn;
	*conn = NULL;
	if (c && !healthy)
		sql_pg_conn_close(&c);

	pthread_mutex_lock(&pool->lock);
	bl_actor_t *w = pop_waiter_locked(pool);
	if (!w && c) {
		c->next = pool->idle;
		pool->idle = c;
	} else if (!w) {
		pool->open--;
	}
	pthread_mutex_unlock(&pool->lock);

	/* A waiter inherits the slot: the connection, or the right to open
	 * one in place of the broken one. */
	if (w)
		grant(pool, w, c);
}

bool sql_pg_pool_withdraw(sql_pg_pool_t *pool, sql_pg_waiter_t *waiter)
{
	bool found = false;

	pthread_mutex_lock(&pool->lock);
	for (sql_pg_waiter_t **p = &pool->head, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
		if (*p != waiter)
			continue;
		*p = waiter->next;
		if (pool->tail == waiter)
			pool->tail = prev;
		waiter->next = NULL;
		found = true;
		break;
	}
	bl_actor_t *actor = found ? waiter->actor : NULL;
	if (found)
		waiter->actor = NULL;
	pthread_mutex_unlock(&pool->lock);

	bl_actor_release(&actor);
	return found;
}

void sql_pg_pool_stop(sql_pg_pool_t *pool)
{
	pthread_mutex_lock(&pool->lock);
	bl_actor_t *actor;
	while ((actor = pop_waiter_locked(pool)))
		bl_actor_release(&actor);
	pthread_mutex_unlock(&pool->lock);
}

void sql_pg_pool_free(sql_pg_pool_t **pool)
{
	sql_pg_pool_t *p = *pool;
	if (!p)
		return;

	while (p->idle) {
		sql_pg_conn_t *c = p->idle;
		p->idle = c->next;
		sql_pg_conn_close(&c);
	}
	pthread_mutex_destroy(&p->lock);
	free_strings(p->keywords);
	free_strings(p->values);
	free(p->label);
	free(p);
	*pool = NULL;
}
