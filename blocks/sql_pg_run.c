/*
 * One SQL job on PostgreSQL, run by an actor on the I/O pool. The actor
 * takes a pooled connection, opens one, or waits in the pool's queue. It
 * sends the statement with libpq's non-blocking API, reads the rows one at
 * a time (single-row mode) and gives the connection back.
 *
 * The actor waits on the connection's socket through bl_io_poll_fd, so no
 * thread ever blocks on the server. Only PQcancel blocks (it opens a
 * connection of its own): it runs on the blocking pool, and the actor
 * waits for it to finish before the connection goes back, so that a late
 * cancel request cannot hit the next job's statement on that session.
 *
 * At most one poll is in flight. Before the actor reports, it cancels that
 * poll and waits for its completion, so no operation outlives the job.
 *
 * Single-row mode still reads a whole row into libpq's buffer before
 * handing it over. No libpq splits a row (17's chunked mode groups whole
 * rows), so one huge value would cost its full size in memory, twice,
 * before the result cap could drop it. The actor therefore reads the
 * bytes the kernel has received on the connection (TCP_INFO) before each
 * PQconsumeInput. Once a single row has passed sql.max_result_bytes by
 * ROW_MARGIN_BYTES, it stops reading, cancels the statement and closes
 * the connection.
 * NOTE: this bounds the memory only when the server sends more slowly
 * than the actor reads, as over a network. One PQconsumeInput keeps
 * calling recv() while the socket has data, so from a server on the same
 * machine it can take a whole row before the next check. Such a row is
 * then dropped at the cap, as before, and the result is truncated. A
 * Unix-domain socket has no byte counter, so there every row is read
 * whole. A full fix needs a libpq that can stream one message.
 */
#define _GNU_SOURCE /* POLLIN, POLLOUT */

#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received, which glibc's lacks */
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_pg_pool.h"
#include "sql_pg_values.h"
#include "sql_run.h"

/* Message types of the run actor, next to SQL_MSG_GRANT. */
enum {
	MSG_BEGIN = 0x53510010u,
	MSG_CANCEL,      /* from the job's cancel hook */
	MSG_GUARD,       /* the connect timeout, or the statement's deadline plus grace */
	MSG_CANCEL_SENT, /* PQcancel returned */
};

/* How long past the statement timeout the actor waits for the server's
 * own timeout error before it gives the connection up as broken. */
#define GUARD_GRACE_MS 2000u

/* Rows read and thrown away past the row cap before the rest of the
 * statement is cancelled. A cancel request opens a new connection to the
 * server, so for a short remainder reading is cheaper (an estimate, not
 * measured). */
#define DISCARD_BEFORE_CANCEL 1000u

/* Bytes a single row may take on the wire beyond sql.max_result_bytes
 * before the statement is given up: the protocol's framing is 7 bytes
 * per row and 4 per value, so this leaves room for rows of over 16000
 * columns. */
#define ROW_MARGIN_BYTES (64u * 1024u)

static const char set_timeout_sql[] = "SELECT pg_catalog.set_config('statement_timeout', $1, false)";

typedef enum phase {
	PHASE_WAITING = 0, /* queued for a connection */
	PHASE_CONNECTING,
	PHASE_SETTING,     /* setting the session's statement_timeout */
	PHASE_QUERYING,
	PHASE_FINISHING,   /* waiting for the last poll or cancel to end */
} phase_t;

typedef enum why_cancel {
	CANCEL_NONE = 0,
	CANCEL_ROWS, /* the row cap was reached: the rest is not wanted */
	CANCEL_JOB,  /* the job was cancelled or timed out */
	CANCEL_ROW_SIZE, /* a row passed the result cap: the connection is dropped */
} why_cancel_t;

typedef struct pg_run {
	/* Set at start. */
	sql_request_t req;
	const bl_block_env_t *env;
	bl_block_done_fn done;
	void *ctx;
	sql_pg_pool_t *pool;
	sql_pg_params_t params;
	uint64_t connect_timeout_ms;

	/* Owned by the actor. */
	phase_t phase;
	sql_pg_waiter_t waiter;
	sql_pg_conn_t *conn;     /* the connection in use */
	PGconn *opening;         /* a connection still being opened */
	bool holds_slot;         /* a pool slot without a connection yet */
	bool reused;             /* conn came idle from the pool; a failed send may retry once */
	bool retried;
	bool poll_pending;
	uint64_t poll_id;
	bool flushing;           /* PQflush left data to send */
	bool guard_set;
	bl_timer_id_t guard;
	why_cancel_t cancel;     /* why a cancel request was sent */
	bool cancel_running;     /* the PQcancel task has not reported */
	bool job_cancelled;
	bool broken;             /* the connection must not go back to the pool */
	bool dirty;              /* the statement changed session state */
	uint64_t discarded;
	bool counting_bytes;     /* the socket is TCP: row_start_bytes is valid */
	uint64_t row_start_bytes; /* bytes received when the last complete result was read */
	sql_result_t result;
	sql_failure_t failure;
	bool reported;
} pg_run_t;

static void try_finish(pg_run_t *run, bl_actor_t *self);

/* ------------------------------------------------------------------------ */
/* Failures                                                                  */
/* ------------------------------------------------------------------------ */

/* libpq's messages end in a newline; a message reads better without. */
static const char *pq_message(PGconn *pg, char *buf, size_t size)
{
	snprintf(buf, size, "%s", pg ? PQerrorMessage(pg) : "out of memory");
	size_t len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return buf;
}

static void fail_connection(pg_run_t *run, PGconn *pg, const char *what)
{
	char message[BL_ERROR_MESSAGE_MAX];
	sql_fail(&run->failure, -ECONNRESET, "connection_failed", true, NULL, "%s (database %s): %s", what,
		 sql_pg_pool_label(run->pool), pq_message(pg, message, sizeof message));
	run->broken = true;
}

/* Map a statement's error by SQLSTATE (PostgreSQL's "Errcodes" appendix). */
static void fail_statement(pg_run_t *run, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	sql_failure_t *f = &run->failure;

	state = state ? state : "";
	primary = primary ? primary : PQresultErrorMessage(res);

	if (strcmp(state, "57014") == 0 && run->cancel == CANCEL_ROWS && !run->job_cancelled)
		return; /* our own cancel after the row cap: the result is complete as truncated */
	if (strcmp(state, "57014") == 0 && run->job_cancelled)
		sql_fail(&run->failure, BL_ECANCELED, "cancelled", false, NULL, "the job was cancelled: %s", primary);
	else if (strcmp(state, "57014") == 0)
		sql_fail(&run->failure, BL_ETIMEDOUT, "timeout", false, "params.timeout_ms",
			 "the statement ran past its timeout: %s", primary);
	else if (strncmp(state, "08", 2) == 0 && strcmp(state, "08P01") != 0)
		sql_fail(f, -ECONNRESET, "connection_failed", true, NULL, "PostgreSQL error %s: %s", state, primary);
	else if (strcmp(state, "08P01") == 0)
		sql_fail(f, BL_EFORMAT, "invalid_params", false, "params.params", "PostgreSQL error %s: %s", state,
			 primary);
	else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		sql_fail(f, -EAGAIN, "conflict", true, NULL, "PostgreSQL error %s: %s", state, primary);
	else if (strncmp(state, "53", 2) == 0 || strncmp(state, "57P", 3) == 0)
		sql_fail(f, -EAGAIN, "server_unavailable", true, NULL, "PostgreSQL error %s: %s", state, primary);
	else if (strncmp(state, "22", 2) == 0)
		sql_fail(f, BL_EINVAL, "sql_error", false, "params.params", "PostgreSQL error %s: %s", state, primary);
	else
		sql_fail(f, BL_EINVAL, "sql_error", false, "params.sql", "PostgreSQL error %s: %s", state, primary);
	if (PQstatus(run->conn->pg) != CONNECTION_OK)
		run->broken = true;
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                   */
/* ------------------------------------------------------------------------ */

static PGconn *current_pg(const pg_run_t *run)
{
	if (run->opening)
		return run->opening;
	if (run->conn)
		return run->conn->pg;
	return NULL;
}

static void wait_socket(pg_run_t *run, bl_actor_t *self, short events)
{
	int fd = PQsocket(current_pg(run));
	int rc = fd < 0 ? BL_EINVAL : bl_io_poll_fd(&run->poll_id, fd, events, 0);
	if (rc < 0) {
		sql_fail(&run->failure, rc, "engine_error", true, NULL, "cannot wait on the connection: %s",
			 bl_strerror(rc));
		run->broken = true;
		try_finish(run, self);
		return;
	}
	run->poll_pending = true;
}

static void set_guard(pg_run_t *run, bl_actor_t *self, uint64_t ms)
{
	if (run->guard_set)
		bl_timer_cancel(bl_actor_runtime(self), run->guard);
	bl_msg_t *msg = bl_msg_new(MSG_GUARD, 0);
	run->guard_set = msg && bl_send_after(&run->guard, self, &msg, ms) == 0;
}

static void clear_guard(pg_run_t *run, bl_actor_t *self)
{
	if (run->guard_set)
		bl_timer_cancel(bl_actor_runtime(self), run->guard);
	run->guard_set = false;
}

/* ------------------------------------------------------------------------ */
/* Cancelling a statement                                                    */
/* ------------------------------------------------------------------------ */

typedef struct cancel_task {
	PGcancel *cancel;
	bl_actor_t *actor; /* a reference */
} cancel_task_t;

static void cancel_task_free(void *arg)
{
	cancel_task_t *t = arg;

	PQfreeCancel(t->cancel);
	bl_actor_release(&t->actor);
	free(t);
}

/* On the blocking pool: PQcancel connects to the server and waits until it
 * has signalled the backend. */
static void cancel_task_run(void *arg)
{
	cancel_task_t *t = arg;
	char errbuf[256];

	int ok = PQcancel(t->cancel, errbuf, sizeof errbuf);
	bl_send_u64(t->actor, MSG_CANCEL_SENT, (uint64_t)ok);
	cancel_task_free(t);
}

static void send_cancel(pg_run_t *run, bl_actor_t *self, why_cancel_t why)
{
	if (run->cancel != CANCEL_NONE)
		return;
	run->cancel = why;

	cancel_task_t *t = calloc(1, sizeof *t);
	if (t)
		t->cancel = PQgetCancel(run->conn->pg);
	if (!t || !t->cancel) {
		free(t);
		return; /* the guard timer still ends the wait */
	}
	bl_actor_retain(self);
	t->actor = self;
	/* A task that will not run (the runtime stopped first) is freed unsent. */
	if (bl_pool_submit_with_drop(run->env->blocking_pool, cancel_task_run, cancel_task_free, t) < 0) {
		cancel_task_free(t);
		return;
	}
	run->cancel_running = true;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

static int add_columns(pg_run_t *run, const PGresult *res)
{
	char other[32];
	for (int c = 0; c < PQnfields(res); c++) {
		const char *type = sql_pg_type_name(PQftype(res, c));
		if (!type) {
			snprintf(other, sizeof other, "oid:%u", PQftype(res, c));
			type = other;
		}
		if (sql_result_add_column(&run->result, PQfname(res, c), type) < 0)
			return -1;
	}
	return 0;
}

static void add_row(pg_run_t *run, bl_actor_t *self, const PGresult *res)
{
	uint64_t bytes = 0;
	int n = PQnfields(res);
	for (int c = 0; c < n; c++)
		bytes += (uint64_t)PQgetlength(res, 0, c) + 1;

	if (!sql_result_room(&run->result, bytes)) {
		if (++run->discarded >= DISCARD_BEFORE_CANCEL)
			send_cancel(run, self, CANCEL_ROWS);
		return;
	}
	json_t *row = json_array();
	for (int c = 0; row && c < n; c++) {
		if (json_array_append_new(row, sql_pg_value(res, 0, c)) < 0) {
			json_decref(row);
			row = NULL;
		}
	}
	if (!row || sql_result_add_row(&run->result, row, bytes) < 0)
		sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s",
			 "out of memory building the result");
}

/* Statements that change the session for later statements; the
 * connection is closed after them rather than handed to the next job. */
static bool changes_session(const char *tag)
{
	static const char *const tags[] = {"SET", "RESET", "DISCARD", "PREPARE", "DEALLOCATE", "LISTEN",
					   "UNLISTEN", "LOAD", NULL};
	for (size_t i = 0; tags[i]; i++) {
		size_t len = strlen(tags[i]);
		if (strncmp(tag, tags[i], len) == 0 && (tag[len] == '\0' || tag[len] == ' '))
			return true;
	}
	return false;
}

static void note_command(pg_run_t *run, const PGresult *res)
{
	const char *tag = PQcmdStatus((PGresult *)(uintptr_t)res);
	if (changes_session(tag))
		run->dirty = true;
	if (strncmp(tag, "INSERT", 6) == 0 || strncmp(tag, "UPDATE", 6) == 0 || strncmp(tag, "DELETE", 6) == 0 ||
	    strncmp(tag, "MERGE", 5) == 0)
		run->result.affected = strtoll(PQcmdTuples((PGresult *)(uintptr_t)res), NULL, 10);
}

static void handle_result(pg_run_t *run, bl_actor_t *self, const PGresult *res)
{
	ExecStatusType status = PQresultStatus(res);

	if (run->phase == PHASE_SETTING) {
		if (status != PGRES_TUPLES_OK)
			fail_statement(run, res);
		return;
	}
	if ((status == PGRES_SINGLE_TUPLE || status == PGRES_TUPLES_OK) && !sql_result_has_columns(&run->result) &&
	    add_columns(run, res) < 0)
		sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s",
			 "out of memory building the result");

	if (status == PGRES_SINGLE_TUPLE) {
		add_row(run, self, res);
	} else if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
		note_command(run, res);
	} else if (status == PGRES_EMPTY_QUERY) {
		sql_fail(&run->failure, BL_EFORMAT, "invalid_params", false, "params.sql", "%s",
			 "the statement is empty");
	} else if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
		sql_fail(&run->failure, BL_EINVAL, "sql_error", false, "params.sql", "%s",
			 "COPY to or from the client is not supported; use INSERT or SELECT");
		run->broken = true;
	} else {
		fail_statement(run, res);
	}
}

/* ------------------------------------------------------------------------ */
/* The statement                                                             */
/* ------------------------------------------------------------------------ */

static void take_connection(pg_run_t *run, bl_actor_t *self);

/* Send the data libpq has buffered and wait for the server. */
static void flush_and_wait(pg_run_t *run, bl_actor_t *self)
{
	int rc = PQflush(run->conn->pg);
	if (rc < 0) {
		fail_connection(run, run->conn->pg, "sending the statement failed");
		try_finish(run, self);
		return;
	}
	run->flushing = rc == 1;
	wait_socket(run, self, (short)(POLLIN | (run->flushing ? POLLOUT : 0)));
}

/* A send failed before the server saw anything. A connection that sat idle
 * in the pool may have died unseen: try once more on another. */
static void send_failed(pg_run_t *run, bl_actor_t *self)
{
	if (run->reused && !run->retried) {
		run->retried = true;
		sql_pg_pool_give_back(run->pool, &run->conn, false);
		take_connection(run, self);
		return;
	}
	fail_connection(run, run->conn->pg, "sending the statement failed");
	try_finish(run, self);
}

/* Read the bytes the kernel has received on `pg`'s socket into *out.
 * Returns false when the socket does not count them (not TCP). */
static bool bytes_received(PGconn *pg, uint64_t *out)
{
	struct tcp_info info;
	socklen_t len = sizeof info;
	int fd = PQsocket(pg);

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received)
		return false;
	*out = info.tcpi_bytes_received;
	return true;
}

/* Start counting the current row's bytes from what has been received. */
static void mark_row_start(pg_run_t *run)
{
	run->counting_bytes = bytes_received(run->conn->pg, &run->row_start_bytes);
}

/*
 * Give the statement up when the row being read has passed the result
 * cap by ROW_MARGIN_BYTES. The count starts after the last complete
 * result, so libpq's buffer contains at most that much of the row, plus
 * what one read took from the socket's receive buffer. Returns true when
 * given up.
 */
static bool row_too_large(pg_run_t *run, bl_actor_t *self)
{
	uint64_t now, cap = run->result.max_bytes;

	if (run->phase != PHASE_QUERYING || !run->counting_bytes || !bytes_received(run->conn->pg, &now) ||
	    now - run->row_start_bytes <= cap + ROW_MARGIN_BYTES)
		return false;

	sql_fail(&run->failure, BL_ELIMIT, "limit_exceeded", false, "params.sql",
		 "a row of the result is larger than sql.max_result_bytes (%llu bytes); the statement was "
		 "cancelled and its connection closed. Select a part of the value (substring) or raise the limit",
		 (unsigned long long)cap);
	run->broken = true;
	send_cancel(run, self, CANCEL_ROW_SIZE);
	try_finish(run, self);
	return true;
}

static void send_query(pg_run_t *run, bl_actor_t *self)
{
	PGconn *pg = run->conn->pg;
	run->phase = PHASE_QUERYING;
	if (!PQsendQueryParams(pg, run->req.sql, run->params.count, NULL, (const char *const *)run->params.values,
			       NULL, NULL, 0)) {
		send_failed(run, self);
		return;
	}
	/* Rows then arrive one PGresult each, so none is held beyond the cap. */
	PQsetSingleRowMode(pg);
	mark_row_start(run);
	flush_and_wait(run, self);
}

static void begin_statement(pg_run_t *run, bl_actor_t *self)
{
	if (run->job_cancelled) {
		sql_fail(&run->failure, BL_ECANCELED, "cancelled", false, NULL, "%s",
			 "the job was cancelled before its statement ran");
		try_finish(run, self);
		return;
	}
	set_guard(run, self, run->req.timeout_ms + GUARD_GRACE_MS);
	if (run->conn->timeout_ms == run->req.timeout_ms) {
		send_query(run, self);
		return;
	}

	char value[32];
	const char *values[1] = {value};
	snprintf(value, sizeof value, "%llu", (unsigned long long)run->req.timeout_ms);
	run->phase = PHASE_SETTING;
	if (!PQsendQueryParams(run->conn->pg, set_timeout_sql, 1, NULL, values, NULL, NULL, 0)) {
		send_failed(run, self);
		return;
	}
	flush_and_wait(run, self);
}

/* Every result of the current statement has been read. */
static void statement_done(pg_run_t *run, bl_actor_t *self)
{
	if (run->phase == PHASE_SETTING && run->failure.code == 0) {
		run->conn->timeout_ms = run->req.timeout_ms;
		send_query(run, self);
		return;
	}
	try_finish(run, self);
}

/* Read what the socket has and handle every complete result. */
static void on_socket(pg_run_t *run, bl_actor_t *self, int64_t events)
{
	PGconn *pg = run->conn->pg;
	bool got_result = false;

	if (row_too_large(run, self))
		return;
	if ((events & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pg)) {
		fail_connection(run, pg, "the connection was lost");
		try_finish(run, self);
		return;
	}
	if (run->flushing) {
		int rc = PQflush(pg);
		if (rc < 0) {
			fail_connection(run, pg, "sending the statement failed");
			try_finish(run, self);
			return;
		}
		run->flushing = rc == 1;
	}
	while (!PQisBusy(pg)) {
		PGresult *res = PQgetResult(pg);
		if (!res) {
			statement_done(run, self);
			return;
		}
		handle_result(run, self, res);
		PQclear(res);
		got_result = true;
		if (run->broken) {
			try_finish(run, self);
			return;
		}
	}
	/* Once per read rather than per row, since getsockopt is a system call. */
	if (got_result)
		mark_row_start(run);
	wait_socket(run, self, (short)(POLLIN | (run->flushing ? POLLOUT : 0)));
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */
/* ------------------------------------------------------------------------ */

/* libpq prints server notices (RAISE NOTICE, warnings) to stderr by
 * default, and workers must not write there: they are dropped. */
static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void open_connection(pg_run_t *run, bl_actor_t *self)
{
	run->phase = PHASE_CONNECTING;
	run->holds_slot = true;
	run->opening = PQconnectStartParams(sql_pg_pool_keywords(run->pool), sql_pg_pool_values(run->pool), 0);
	if (!run->opening || PQstatus(run->opening) == CONNECTION_BAD) {
		fail_connection(run, run->opening, "cannot connect");
		try_finish(run, self);
		return;
	}
	PQsetNoticeProcessor(run->opening, drop_notice, NULL);
	set_guard(run, self, run->connect_timeout_ms);
	/* A new connection starts as if PQconnectPoll had asked to write. */
	wait_socket(run, self, POLLOUT);
}

static void on_connect_progress(pg_run_t *run, bl_actor_t *self)
{
	PostgresPollingStatusType st = PQconnectPoll(run->opening);
	if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
		wait_socket(run, self, st == PGRES_POLLING_READING ? POLLIN : POLLOUT);
		return;
	}
	if (st != PGRES_POLLING_OK || PQsetnonblocking(run->opening, 1) != 0) {
		fail_connection(run, run->opening, "cannot connect");
		try_finish(run, self);
		return;
	}

	run->conn = calloc(1, sizeof *run->conn);
	if (!run->conn) {
		sql_fail(&run->failure, BL_ENOMEM, "out_of_memory", true, NULL, "%s",
			 "out of memory opening a connection");
		try_finish(run, self);
		return;
	}
	run->conn->pg = run->opening;
	run->conn->timeout_ms = sql_pg_pool_session_timeout(run->pool);
	run->opening = NULL;
	run->holds_slot = false;
	clear_guard(run, self);
	begin_statement(run, self);
}

static void take_connection(pg_run_t *run, bl_actor_t *self)
{
	run->phase = PHASE_WAITING;
	run->waiter.actor = self;
	switch (sql_pg_pool_take(run->pool, &run->waiter, &run->conn)) {
	case SQL_PG_TAKEN:
		run->reused = true;
		begin_statement(run, self);
		break;
	case SQL_PG_OPEN:
		run->reused = false;
		open_connection(run, self);
		break;
	case SQL_PG_QUEUED:
		break;
	}
}

static void on_grant(pg_run_t *run, bl_actor_t *self, const sql_pg_grant_t *g)
{
	sql_pg_conn_t *conn = g->conn;
	if (run->phase != PHASE_WAITING || run->job_cancelled) {
		/* Cancelled while the grant was on its way: pass it on. */
		sql_pg_pool_give_back(g->pool, &conn, true);
		try_finish(run, self);
		return;
	}
	if (!conn) {
		run->reused = false;
		open_connection(run, self);
		return;
	}
	run->conn = conn;
	run->reused = true;
	begin_statement(run, self);
}

/* ------------------------------------------------------------------------ */
/* Finishing                                                                 */
/* ------------------------------------------------------------------------ */

static bool connection_reusable(const pg_run_t *run)
{
	PGconn *pg = run->conn->pg;
	return !run->broken && !run->dirty && PQstatus(pg) == CONNECTION_OK &&
	       PQtransactionStatus(pg) == PQTRANS_IDLE && !PQisBusy(pg);
}

static void give_back(pg_run_t *run)
{
	if (run->opening) {
		PQfinish(run->opening);
		run->opening = NULL;
	}
	if (run->conn) {
		bool healthy = connection_reusable(run);
		sql_pg_pool_give_back(run->pool, &run->conn, healthy);
	} else if (run->holds_slot) {
		sql_pg_conn_t *none = NULL;
		sql_pg_pool_give_back(run->pool, &none, false);
	}
	run->holds_slot = false;
}

static void report(pg_run_t *run, bl_actor_t *self)
{
	clear_guard(run, self);
	if (run->env->cancel_hook)
		bl_cancel_hook_unwatch(run->env->cancel_hook);
	give_back(run);
	run->reported = true;

	bl_block_outcome_t *o = sql_outcome_make(&run->failure, &run->result, "io");
	run->done(run->ctx, o);
	bl_actor_stop(self);
}

/* Finish once the last poll and cancel request have ended. */
static void try_finish(pg_run_t *run, bl_actor_t *self)
{
	if (run->reported)
		return;
	if (run->phase != PHASE_FINISHING) {
		run->phase = PHASE_FINISHING;
		if (run->poll_pending)
			bl_io_cancel(run->poll_id);
	}
	if (!run->poll_pending && !run->cancel_running)
		report(run, self);
}

static void on_cancel(pg_run_t *run, bl_actor_t *self)
{
	if (run->job_cancelled || run->phase == PHASE_FINISHING)
		return;
	run->job_cancelled = true;

	switch (run->phase) {
	case PHASE_WAITING:
		sql_fail(&run->failure, BL_ECANCELED, "cancelled", false, NULL, "%s",
			 "the job was cancelled while waiting for a connection");
		/* Not queued any more: the grant is on its way, and on_grant
		 * passes it on and finishes. */
		if (sql_pg_pool_withdraw(run->pool, &run->waiter))
			try_finish(run, self);
		break;
	case PHASE_CONNECTING:
		sql_fail(&run->failure, BL_ECANCELED, "cancelled", false, NULL, "%s",
			 "the job was cancelled while connecting");
		try_finish(run, self);
		break;
	case PHASE_SETTING:
	case PHASE_QUERYING:
		sql_fail(&run->failure, BL_ECANCELED, "cancelled", false, NULL, "%s", "the job was cancelled");
		if (run->cancel == CANCEL_ROWS)
			break; /* a cancel is already on its way */
		send_cancel(run, self, CANCEL_JOB);
		break;
	case PHASE_FINISHING:
		break;
	}
}

/* The guard timer: connecting took too long, or the server did not end a
 * statement well after its own timeout should have. */
static void on_guard(pg_run_t *run, bl_actor_t *self)
{
	run->guard_set = false;
	if (run->phase == PHASE_CONNECTING) {
		sql_fail(&run->failure, -ETIMEDOUT, "connection_failed", true, NULL,
			 "no connection to database %s after %llu ms", sql_pg_pool_label(run->pool),
			 (unsigned long long)run->connect_timeout_ms);
	} else if (run->phase == PHASE_SETTING || run->phase == PHASE_QUERYING) {
		sql_fail(&run->failure, BL_ETIMEDOUT, "timeout", true, NULL, "no answer from the server within %llu ms",
			 (unsigned long long)(run->req.timeout_ms + GUARD_GRACE_MS));
		/* The server's own timeout did not end the statement: a job may
		 * have turned it off for the session (set_config looks like any
		 * SELECT). Cancel it, so that closing the connection does not
		 * leave it running on the server. */
		send_cancel(run, self, CANCEL_JOB);
	} else {
		return;
	}
	run->broken = true;
	try_finish(run, self);
}

static void on_io(pg_run_t *run, bl_actor_t *self, const bl_io_result_t *io)
{
	run->poll_pending = false;
	if (run->phase == PHASE_FINISHING) {
		try_finish(run, self);
		return;
	}
	if (io->res < 0) {
		sql_fail(&run->failure, (int)io->res, "connection_failed", true, NULL,
			 "cannot wait on the connection: %s", bl_strerror((int)io->res));
		run->broken = true;
		try_finish(run, self);
		return;
	}
	if (run->phase == PHASE_CONNECTING)
		on_connect_progress(run, self);
	else
		on_socket(run, self, io->res);
}

/* ------------------------------------------------------------------------ */
/* The actor                                                                 */
/* ------------------------------------------------------------------------ */

static int pg_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	pg_run_t *run = *(pg_run_t **)state;
	if (run->reported)
		return 0;

	switch (msg->type) {
	case MSG_BEGIN:
		if (run->env->cancel_hook)
			bl_cancel_hook_watch(run->env->cancel_hook, self, MSG_CANCEL);
		take_connection(run, self);
		break;
	case SQL_MSG_GRANT:
		on_grant(run, self, bl_msg_payload(msg));
		break;
	case BL_MSG_IO:
		on_io(run, self, bl_msg_payload(msg));
		break;
	case MSG_CANCEL:
		on_cancel(run, self);
		break;
	case MSG_GUARD:
		on_guard(run, self);
		break;
	case MSG_CANCEL_SENT:
		run->cancel_running = false;
		if (run->phase == PHASE_FINISHING)
			try_finish(run, self);
		break;
	default:
		break;
	}
	return 0;
}

static void free_run(pg_run_t *run)
{
	sql_pg_params_free(&run->params);
	sql_result_fini(&run->result);
	free(run);
}

/* A run stopped by the runtime's shutdown gives its connection back
 * without reporting. */
static void pg_stop(bl_actor_t *self, void *state, int reason)
{
	pg_run_t *run = *(pg_run_t **)state;
	(void)self;
	(void)reason;
	if (!run->reported) {
		if (run->phase == PHASE_WAITING)
			sql_pg_pool_withdraw(run->pool, &run->waiter);
		run->broken = true;
		give_back(run);
	}
	free_run(run);
}

/* A grant that reaches a terminated run goes back to its pool. */
static void pg_discard(bl_msg_t *msg)
{
	if (msg->type != SQL_MSG_GRANT)
		return;
	sql_pg_grant_t *g = bl_msg_payload(msg);
	sql_pg_pool_give_back(g->pool, &g->conn, true);
}

static const bl_behaviour_t pg_behaviour = {
	.name = "sql_pg",
	.receive = pg_receive,
	.stop = pg_stop,
	.discard = pg_discard,
};

int sql_pg_start(const sql_request_t *req, const bl_block_env_t *env, bl_block_done_fn done, void *ctx)
{
	bl_error_t err = {0};
	pg_run_t *run = calloc(1, sizeof *run);
	if (!run)
		return BL_ENOMEM;

	run->req = *req;
	run->env = env;
	run->done = done;
	run->ctx = ctx;
	run->pool = req->target->pool;
	run->connect_timeout_ms = env->services->sql->connect_timeout_ms;
	int rc = sql_pg_params_make(&run->params, req->params, &err);
	if (rc < 0) {
		free(run);
		return sql_report_now(rc, "invalid_params", &err, done, ctx);
	}
	if (sql_result_init(&run->result, req->max_rows, env->services->sql->max_result_bytes) < 0) {
		free_run(run);
		return BL_ENOMEM;
	}

	bl_actor_t *actor;
	rc = bl_actor_spawn(&actor, env->io_pool, &pg_behaviour, &run, sizeof run);
	if (rc < 0) {
		free_run(run);
		return rc;
	}
	rc = bl_send_u64(actor, MSG_BEGIN, 0);
	if (rc < 0)
		bl_actor_stop(actor); /* its stop callback frees the run */
	bl_actor_release(&actor);
	return rc < 0 ? rc : 0;
}
