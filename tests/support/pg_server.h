/*
 * A throwaway PostgreSQL server for tests: initdb in a temporary folder,
 * trust authentication for user "postgres", listening on 127.0.0.1 on a
 * free port with its Unix socket in the same folder, fsync off.
 *
 * initdb refuses to run as root, so as root the server runs as the
 * "postgres" user (through runuser) in a folder that user owns.
 *
 * A guard process stops the server and removes the folder when the test
 * process ends, however it ends (a failed assertion, a crash, a timeout
 * kill): it waits on a pipe that only the test process holds open.
 */
#ifndef BL_TEST_PG_SERVER_H
#define BL_TEST_PG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct pg_server {
	char dir[256];   /* the temporary folder; the cluster is in dir/data */
	char bindir[256];
	int port;
	pid_t guard;
	int guard_fd;    /* write end of the guard's pipe; -1 when none */
	bool as_postgres; /* commands run through runuser -u postgres */
} pg_server_t;

/*
 * Find PostgreSQL's programs: $BL_PG_BINDIR, else the newest
 * /usr/lib/postgresql/N/bin holding initdb. Returns false when there are
 * none.
 */
bool pg_server_find(char *bindir, size_t size);

/* Make the cluster and start the server. Returns 0, or -1 with the reason
 * in `why`. */
int pg_server_start(pg_server_t *s, char *why, size_t why_size);

/* Stop the server as a crash would (pg_ctl stop -m immediate), keeping the
 * cluster. Returns 0 or -1. */
int pg_server_crash(pg_server_t *s);

/* Start the stopped server again on the same port. Returns 0 or -1. */
int pg_server_restart(pg_server_t *s);

/* Stop the server and remove its folder. Safe to call twice. */
void pg_server_stop(pg_server_t *s);

/* Write a libpq connection string for `dbname` as `user` into `out`. */
void pg_server_dsn(const pg_server_t *s, char *out, size_t size, const char *dbname, const char *user);

/* Run `sql` (several statements allowed) as "postgres" on `dbname`.
 * Returns 0, or -1 with the server's message in `why`. */
int pg_server_exec(const pg_server_t *s, const char *dbname, const char *sql, char *why, size_t why_size);

#endif
