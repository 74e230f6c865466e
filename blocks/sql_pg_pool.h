/*
 * A pool of PostgreSQL connections for one database and tenant.
 *
 * The pool counts connections up to its size: idle ones, ones lent to a
 * job, and ones a job is still opening. A job that finds no idle connection
 * and no room to open one waits in a FIFO queue. The next connection given
 * back goes to the first waiter as a message to its actor; when the
 * returned connection was broken, the message grants the right to open a
 * new one instead. Thread-safe: one mutex guards the lists and counts. The
 * pool never blocks on the network, because jobs open and drive their
 * connections themselves (sql_pg_run.c).
 */
#ifndef BL_BLOCKS_SQL_PG_POOL_H
#define BL_BLOCKS_SQL_PG_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <beamline/sched.h>

/* Message type of a grant: the payload is a sql_pg_grant_t. */
#define SQL_MSG_GRANT 0x53510001u

typedef struct sql_pg_pool sql_pg_pool_t;

/* One open connection, owned by the pool while idle and by one job while
 * lent. */
typedef struct sql_pg_conn {
	PGconn *pg;
	uint64_t timeout_ms;      /* statement_timeout now set on the session */
	struct sql_pg_conn *next; /* idle list; guarded by the pool's lock */
} sql_pg_conn_t;

/* A queued job: its actor gets one SQL_MSG_GRANT. Lives in the job's state
 * until granted or withdrawn. */
typedef struct sql_pg_waiter {
	bl_actor_t *actor;          /* a reference, held while queued */
	struct sql_pg_waiter *next; /* guarded by the pool's lock */
} sql_pg_waiter_t;

/* Payload of SQL_MSG_GRANT. */
typedef struct sql_pg_grant {
	sql_pg_pool_t *pool;
	sql_pg_conn_t *conn; /* NULL: a slot, open a connection */
} sql_pg_grant_t;

typedef enum sql_pg_take {
	SQL_PG_TAKEN = 0, /* *conn is an idle connection, now the caller's */
	SQL_PG_OPEN,      /* no idle one, but room: the caller opens one */
	SQL_PG_QUEUED,    /* full: the waiter gets a grant later */
} sql_pg_take_t;

/*
 * Make a pool of at most `size` connections opened with the NULL-terminated
 * `keywords` and `values` (copied) as PQconnectStartParams takes them, whose
 * sessions start with statement_timeout `timeout_ms`. `label` ("db" or
 * "db/tenant") is copied for messages. Returns NULL when memory runs out.
 */
sql_pg_pool_t *sql_pg_pool_new(const char *label, const char *const *keywords, const char *const *values,
			       unsigned size, uint64_t timeout_ms);

/* The pool's label, for messages; borrowed for the pool's life. */
const char *sql_pg_pool_label(const sql_pg_pool_t *pool);

/* The connection parameters, for PQconnectStartParams; borrowed. */
const char *const *sql_pg_pool_keywords(const sql_pg_pool_t *pool);
const char *const *sql_pg_pool_values(const sql_pg_pool_t *pool);

/* The statement_timeout a new session starts with, in milliseconds. */
uint64_t sql_pg_pool_session_timeout(const sql_pg_pool_t *pool);

/*
 * Take a connection for the caller's actor `waiter->actor` (borrowed; the
 * pool retains it when the job is queued). Idle connections whose server
 * went away are closed on the way. Returns what happened; with
 * SQL_PG_TAKEN, *conn is the caller's.
 */
sql_pg_take_t sql_pg_pool_take(sql_pg_pool_t *pool, sql_pg_waiter_t *waiter, sql_pg_conn_t **conn);

/*
 * Give back a connection (takes *conn; NULL gives back the slot of a
 * connection that could not be opened). A healthy one goes to the first
 * waiter or the idle list; a broken one is closed and its slot goes to the
 * first waiter.
 */
void sql_pg_pool_give_back(sql_pg_pool_t *pool, sql_pg_conn_t **conn, bool healthy);

/* Remove `waiter` from the queue. Returns false when it was not queued:
 * its grant is then on its way. */
bool sql_pg_pool_withdraw(sql_pg_pool_t *pool, sql_pg_waiter_t *waiter);

/* Drop the queued waiters' actor references (the engine is stopping). */
void sql_pg_pool_stop(sql_pg_pool_t *pool);

/* Close every idle connection and free the pool; every lent connection must
 * be back. Takes *pool; NULL is fine. */
void sql_pg_pool_free(sql_pg_pool_t **pool);

/* Close a connection that is not in a pool. Takes *conn. */
void sql_pg_conn_close(sql_pg_conn_t **conn);

#endif
