/*
 * The PostgreSQL pool's bookkeeping, without a server: slots up to the
 * pool's size, the FIFO queue of waiting jobs, withdrawal, and grants to
 * a job that terminated.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "sql_pg_pool.h"

#define WAITERS 4

typedef struct log {
	int _Atomic order[WAITERS]; /* which waiter got the nth grant */
	int _Atomic grants;
	sql_pg_conn_t *_Atomic conn; /* the last connection granted */
	bl_latch_t got;
} grant_log_t;

typedef struct waiter_state {
	grant_log_t *log;
	int index;
} waiter_state_t;

static int on_grant(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	waiter_state_t *w = state;
	(void)self;
	if (msg->type == SQL_MSG_GRANT) {
		sql_pg_grant_t *g = bl_msg_payload(msg);
		int n = atomic_fetch_add(&w->log->grants, 1);
		if (n < WAITERS)
			atomic_store(&w->log->order[n], w->index);
		atomic_store(&w->log->conn, g->conn);
		bl_latch_count_down(&w->log->got);
	}
	return 0;
}

static const bl_behaviour_t waiter_behaviour = {.name = "waiter", .receive = on_grant};

typedef struct fixture {
	bl_runtime_t *rt;
	bl_pool_t *pool;
	sql_pg_pool_t *pg;
	grant_log_t log;
	sql_pg_waiter_t waiters[WAITERS];
	bl_actor_t *actors[WAITERS];
} fixture_t;

static void setup(fixture_t *f, unsigned size)
{
	static const char *const keywords[] = {"host", NULL};
	static const char *const values[] = {"127.0.0.1", NULL};
	bl_pool_config_t cfg;

	cr_assert_eq(bl_runtime_new(&f->rt), 0);
	bl_pool_config_init(&cfg);
	cfg.workers = 1;
	cfg.pin_workers = false;
	cr_assert_eq(bl_runtime_add_pool(f->rt, &cfg, &f->pool), 0);
	f->pg = sql_pg_pool_new("test", keywords, values, size, 1000);
	cr_assert_not_null(f->pg);
	for (int i = 0; i < WAITERS; i++) {
		waiter_state_t st = {.log = &f->log, .index = i};
		cr_assert_eq(bl_actor_spawn(&f->actors[i], f->pool, &waiter_behaviour, &st, sizeof st), 0);
		f->waiters[i].actor = f->actors[i];
	}
}

static void teardown(fixture_t *f)
{
	sql_pg_pool_stop(f->pg);
	for (int i = 0; i < WAITERS; i++)
		bl_actor_release(&f->actors[i]);
	bl_runtime_free(&f->rt);
	sql_pg_pool_free(&f->pg);
}

static sql_pg_take_t take(fixture_t *f, int i)
{
	sql_pg_conn_t *conn = NULL;
	f->waiters[i].actor = f->actors[i];
	sql_pg_take_t t = sql_pg_pool_take(f->pg, &f->waiters[i], &conn);
	cr_assert_null(conn, "an empty pool lent a connection");
	return t;
}

static void give_back_slot(fixture_t *f)
{
	sql_pg_conn_t *none = NULL;
	sql_pg_pool_give_back(f->pg, &none, false);
}

/* A pool of one: the first job opens, the next three queue; slots given
 * back go to the waiters in the order they queued, skipping one that
 * withdrew, and once no job waits the slot is free again. */
Test(blocks_sql_pg_pool, slots_go_to_waiters_in_order, .timeout = 30)
{
	fixture_t f = {0};
	bl_latch_init(&f.log.got, 2);
	setup(&f, 1);

	cr_assert_eq(take(&f, 0), SQL_PG_OPEN);
	cr_assert_eq(take(&f, 1), SQL_PG_QUEUED);
	cr_assert_eq(take(&f, 2), SQL_PG_QUEUED);
	cr_assert_eq(take(&f, 3), SQL_PG_QUEUED);
	cr_assert(sql_pg_pool_withdraw(f.pg, &f.waiters[2]), "waiter 2 was not queued");
	cr_assert_not(sql_pg_pool_withdraw(f.pg, &f.waiters[2]), "waiter 2 withdrew twice");
	give_back_slot(&f); /* job 0 done: to waiter 1 */
	give_back_slot(&f); /* waiter 1 done: to waiter 3 */
	cr_assert_eq(bl_latch_wait_for(&f.log.got, 10000), 0, "the grants did not arrive");
	give_back_slot(&f); /* waiter 3 done: no job waits */

	cr_assert_eq(atomic_load(&f.log.grants), 2);
	cr_assert_eq(atomic_load(&f.log.order[0]), 1, "first grant went to waiter %d", atomic_load(&f.log.order[0]));
	cr_assert_eq(atomic_load(&f.log.order[1]), 3, "second grant went to waiter %d", atomic_load(&f.log.order[1]));
	cr_assert_eq(take(&f, 0), SQL_PG_OPEN, "the slot was not freed once no job waited");
	give_back_slot(&f);
	teardown(&f);
}

/* A healthy connection given back goes to the first waiter as is. Given
 * back again with no job waiting it turns idle, and an idle connection
 * whose session is gone is closed when the next job looks for one, which
 * then gets the freed slot. */
Test(blocks_sql_pg_pool, connection_passes_to_waiter, .timeout = 30)
{
	fixture_t f = {0};
	bl_latch_init(&f.log.got, 1);
	setup(&f, 1);
	sql_pg_conn_t *conn = calloc(1, sizeof *conn); /* no session: PQstatus(NULL) is CONNECTION_BAD */
	cr_assert_not_null(conn);

	cr_assert_eq(take(&f, 0), SQL_PG_OPEN);
	cr_assert_eq(take(&f, 1), SQL_PG_QUEUED);
	sql_pg_conn_t *lent = conn;
	sql_pg_pool_give_back(f.pg, &lent, true);
	cr_assert_null(lent, "give_back did not take the connection");
	cr_assert_eq(bl_latch_wait_for(&f.log.got, 10000), 0);
	cr_assert_eq(atomic_load(&f.log.conn), conn, "the waiter did not get the connection itself");

	lent = conn;
	sql_pg_pool_give_back(f.pg, &lent, true);
	cr_assert_eq(take(&f, 2), SQL_PG_OPEN, "a dead idle connection was lent or kept its slot");
	give_back_slot(&f);
	teardown(&f);
}

/* Stopping the pool drops its waiters, which get no grant, and a slot
 * given back afterwards is free for a new job. */
Test(blocks_sql_pg_pool, stop_drops_waiters, .timeout = 30)
{
	fixture_t f = {0};
	bl_latch_init(&f.log.got, 1);
	setup(&f, 1);

	cr_assert_eq(take(&f, 0), SQL_PG_OPEN);
	cr_assert_eq(take(&f, 1), SQL_PG_QUEUED);
	sql_pg_pool_stop(f.pg);
	give_back_slot(&f);

	cr_assert_not(sql_pg_pool_withdraw(f.pg, &f.waiters[1]), "stop left waiter 1 queued");
	cr_assert_eq(take(&f, 2), SQL_PG_OPEN, "the slot given back after stop was lost");
	give_back_slot(&f);
	cr_assert_eq(atomic_load(&f.log.grants), 0, "a waiter dropped by stop got a grant");
	teardown(&f);
}
