/* A throwaway PostgreSQL server for tests; see pg_server.h. */
#define _GNU_SOURCE /* pipe2, mkdtemp */

#include "pg_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#define PORT_TRIES 5

static void set_why(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

bool pg_server_find(char *bindir, size_t size)
{
	const char *env = getenv("BL_PG_BINDIR");
	char probe[512];

	if (env && env[0]) {
		snprintf(probe, sizeof probe, "%s/initdb", env);
		snprintf(bindir, size, "%s", env);
		return access(probe, X_OK) == 0;
	}

	int best = 0;
	DIR *d = opendir("/usr/lib/postgresql");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int version = atoi(e->d_name);
		snprintf(probe, sizeof probe, "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
		if (version > best && access(probe, X_OK) == 0) {
			best = version;
			snprintf(bindir, size, "/usr/lib/postgresql/%d/bin", version);
		}
	}
	if (d)
		closedir(d);
	return best > 0;
}

/* Run the NULL-terminated `argv` (argv[0] a program in bindir, or an
 * absolute path), as "postgres" when needed, with output to `log`.
 * Returns the exit status, or -1. */
static int run_tool(const pg_server_t *s, const char *const *argv, const char *log)
{
	const char *full[32];
	char program[512];
	size_t n = 0;

	if (s->as_postgres) {
		full[n++] = "runuser";
		full[n++] = "-u";
		full[n++] = "postgres";
		full[n++] = "--";
	}
	snprintf(program, sizeof program, "%s%s%s", argv[0][0] == '/' ? "" : s->bindir, argv[0][0] == '/' ? "" : "/",
		 argv[0]);
	full[n++] = program;
	for (size_t i = 1; argv[i] && n + 1 < sizeof full / sizeof *full; i++)
		full[n++] = argv[i];
	full[n] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(full[0], (char *const *)(uintptr_t)full);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int free_port(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof addr;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
	    getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
		port = ntohs(addr.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* pg_ctl's own output goes to ctl.log: the server writes server.log as
 * "postgres", and a file the harness made as root would shut it out. */
static int pg_ctl_start(pg_server_t *s)
{
	char data[300], log[300], ctl_log[300], options[512];
	snprintf(data, sizeof data, "%s/data", s->dir);
	snprintf(log, sizeof log, "%s/server.log", s->dir);
	snprintf(ctl_log, sizeof ctl_log, "%s/ctl.log", s->dir);
	snprintf(options, sizeof options,
		 "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off "
		 "-c full_page_writes=off -c max_connections=60",
		 s->port, s->dir);
	const char *argv[] = {"pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start", NULL};
	return run_tool(s, argv, ctl_log) == 0 ? 0 : -1;
}

static int pg_ctl_stop(const pg_server_t *s)
{
	char data[300], log[300];
	snprintf(data, sizeof data, "%s/data", s->dir);
	snprintf(log, sizeof log, "%s/ctl.log", s->dir);
	const char *argv[] = {"pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL};
	return run_tool(s, argv, log) == 0 ? 0 : -1;
}

/* The guard: wait until the test process closes its end of the pipe (or
 * dies), then stop the server and remove the folder. */
static void guard_main(pg_server_t *s, int read_fd)
{
	char byte;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	while (read(read_fd, &byte, 1) > 0 || errno == EINTR)
		;
	pg_ctl_stop(s);

	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/rm", "rm", "-rf", s->dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	_exit(0);
}

static int start_guard(pg_server_t *s, char *why, size_t why_size)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		set_why(why, why_size, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		set_why(why, why_size, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[1]);
		guard_main(s, fds[0]);
	}
	close(fds[0]);
	s->guard = pid;
	s->guard_fd = fds[1];
	return 0;
}

static int make_folder(pg_server_t *s, char *why, size_t why_size)
{
	const char *tmp = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
	snprintf(s->dir, sizeof s->dir, "%s/bl-pg-XXXXXX", tmp);
	if (!mkdtemp(s->dir)) {
		set_why(why, why_size, "mkdtemp under %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (!s->as_postgres)
		return 0;

	struct passwd *pw = getpwnam("postgres");
	if (!pw || chown(s->dir, pw->pw_uid, pw->pw_gid) != 0) {
		set_why(why, why_size, "running as root needs the 'postgres' user to own %s: %s", s->dir,
			pw ? strerror(errno) : "no such user");
		return -1;
	}
	return 0;
}

int pg_server_start(pg_server_t *s, char *why, size_t why_size)
{
	char data[300], log[300];

	memset(s, 0, sizeof *s);
	s->guard_fd = -1;
	s->as_postgres = geteuid() == 0;
	if (!pg_server_find(s->bindir, sizeof s->bindir)) {
		set_why(why, why_size,
			"no PostgreSQL programs (initdb) under /usr/lib/postgresql/*/bin or $BL_PG_BINDIR");
		return -1;
	}
	if (make_folder(s, why, why_size) < 0)
		return -1;
	if (start_guard(s, why, why_size) < 0)
		return -1;

	snprintf(data, sizeof data, "%s/data", s->dir);
	snprintf(log, sizeof log, "%s/initdb.log", s->dir);
	const char *initdb[] = {"initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
				"--locale=C.UTF-8", "--no-sync", NULL};
	if (run_tool(s, initdb, log) != 0) {
		set_why(why, why_size, "initdb failed; see %s", log);
		return -1;
	}
	for (int i = 0; i < PORT_TRIES; i++) {
		s->port = free_port();
		if (s->port > 0 && pg_ctl_start(s) == 0)
			return 0;
	}
	char tail[256] = "";
	snprintf(log, sizeof log, "%s/ctl.log", s->dir);
	FILE *f = fopen(log, "r");
	if (f) {
		fseek(f, -(long)(sizeof tail - 1), SEEK_END);
		size_t n = fread(tail, 1, sizeof tail - 1, f);
		tail[n] = '\0';
		fclose(f);
	}
	set_why(why, why_size, "pg_ctl start failed %d times; the last said: %s", PORT_TRIES, tail);
	return -1;
}

int pg_server_crash(pg_server_t *s)
{
	return pg_ctl_stop(s);
}

int pg_server_restart(pg_server_t *s)
{
	return pg_ctl_start(s);
}

void pg_server_stop(pg_server_t *s)
{
	if (s->guard_fd < 0)
		return;
	close(s->guard_fd);
	s->guard_fd = -1;
	while (waitpid(s->guard, NULL, 0) < 0 && errno == EINTR)
		;
}

void pg_server_dsn(const pg_server_t *s, char *out, size_t size, const char *dbname, const char *user)
{
	snprintf(out, size, "host=127.0.0.1 port=%d dbname=%s user=%s", s->port, dbname, user);
}

int pg_server_exec(const pg_server_t *s, const char *dbname, const char *sql, char *why, size_t why_size)
{
	char dsn[256];
	pg_server_dsn(s, dsn, sizeof dsn, dbname, "postgres");

	PGconn *pg = PQconnectdb(dsn);
	if (PQstatus(pg) != CONNECTION_OK) {
		set_why(why, why_size, "connect: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return -1;
	}
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
	if (rc < 0)
		set_why(why, why_size, "%s", PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(pg);
	return rc;
}
