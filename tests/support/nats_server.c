#define _GNU_SOURCE /* mkdtemp, nftw */

#include "nats_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { START_TIMEOUT_MS = 10000, STOP_TIMEOUT_MS = 5000 };

static int fail(bl_test_nats_server_t *srv, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(bl_test_nats_server_t *srv, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(srv->error, sizeof srv->error, fmt, ap);
	va_end(ap);
	return code;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static bool executable(const char *path)
{
	return access(path, X_OK) == 0;
}

static bool find_server(char *out, size_t size)
{
	const char *env = getenv("BL_NATS_SERVER");
	if (env && env[0]) {
		snprintf(out, size, "%s", env);
		return executable(out);
	}

	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "");
	bool found = false;
	for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/nats-server", dir);
		found = executable(out);
	}
	free(copy);
	/* Debian installs it in /usr/sbin, which is not on every user's PATH. */
	for (const char *const *dir = (const char *const[]){"/usr/sbin", "/usr/bin", NULL}; *dir && !found; dir++) {
		snprintf(out, size, "%s/nats-server", *dir);
		found = executable(out);
	}
	return found;
}

static int write_config(bl_test_nats_server_t *srv)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/server.conf", srv->dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return fail(srv, -errno, "cannot write %s: %s", path, strerror(errno));

	/* Port -1 lets the server pick a free one; a restart reuses the port it picked. */
	if (srv->port > 0)
		fprintf(f, "listen: 127.0.0.1:%d\n", srv->port);
	else
		fprintf(f, "listen: 127.0.0.1:-1\n");
	fprintf(f, "server_name: beamline_test\n"
		   "jetstream {\n"
		   "  store_dir: \"%s/js\"\n"
		   "  max_memory_store: 256MB\n"
		   "  max_file_store: 1GB\n"
		   "}\n"
		   "%s\n",
		srv->dir, srv->extra_config);
	return fclose(f) == 0 ? 0 : fail(srv, -EIO, "cannot write %s", path);
}

static pid_t spawn(bl_test_nats_server_t *srv, const char *exe)
{
	char conf[PATH_MAX + 32], log[PATH_MAX + 32];
	snprintf(conf, sizeof conf, "%s/server.conf", srv->dir);
	snprintf(log, sizeof log, "%s/server.log", srv->dir);

	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* A test that fails half-way exits without cleaning up: take the server down with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	execl(exe, "nats-server", "-c", conf, "--ports_file_dir", srv->dir, (char *)NULL);
	_exit(127);
}

/* Read "nats://127.0.0.1:PORT" from the ports file the server writes once it listens. */
static int read_ports_file(bl_test_nats_server_t *srv)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/nats-server_%d.ports", srv->dir, (int)srv->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -ENOENT;
	char text[512] = "";
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';

	/* A server that requires TLS lists its URL with the tls:// scheme. */
	const char *scheme = "nats";
	const char *url = strstr(text, "nats://127.0.0.1:");
	if (!url) {
		scheme = "tls";
		url = strstr(text, "tls://127.0.0.1:");
	}
	if (!url)
		return -EAGAIN;
	int port = atoi(strchr(url, ':') + strlen("://127.0.0.1:"));
	if (port <= 0)
		return -EAGAIN;
	srv->port = port;
	snprintf(srv->url, sizeof srv->url, "%s://127.0.0.1:%d", scheme, port);
	return 0;
}

static bool accepts_connections(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
	close(fd);
	return ok;
}

static bool reap(bl_test_nats_server_t *srv, int *status, bool wait)
{
	pid_t r = waitpid(srv->pid, status, wait ? 0 : WNOHANG);
	if (r == srv->pid) {
		srv->pid = 0;
		return true;
	}
	return false;
}

static int wait_ready(bl_test_nats_server_t *srv)
{
	long long deadline = now_ms() + START_TIMEOUT_MS;
	bool listening = false;
	while (now_ms() < deadline) {
		int status = 0;
		if (reap(srv, &status, false))
			return fail(srv, -ECHILD, "nats-server exited at start (status %d); see %s/server.log", status,
				    srv->dir);
		if (!listening)
			listening = read_ports_file(srv) == 0;
		if (listening && accepts_connections(srv->port))
			return 0;
		sleep_ms(20);
	}
	bl_test_nats_kill(srv);
	return fail(srv, -ETIMEDOUT, "nats-server did not accept connections within %d ms; see %s/server.log",
		    START_TIMEOUT_MS, srv->dir);
}

static int launch(bl_test_nats_server_t *srv)
{
	char exe[PATH_MAX];
	if (!find_server(exe, sizeof exe))
		return fail(srv, -ENOENT, "nats-server not found ($BL_NATS_SERVER, PATH, /usr/sbin, /usr/bin)");
	int rc = write_config(srv);
	if (rc < 0)
		return rc;
	srv->pid = spawn(srv, exe);
	if (srv->pid < 0) {
		srv->pid = 0;
		return fail(srv, -errno, "cannot fork nats-server: %s", strerror(errno));
	}
	return wait_ready(srv);
}

int bl_test_nats_start(bl_test_nats_server_t *srv)
{
	return bl_test_nats_start_with(srv, "");
}

int bl_test_nats_start_with(bl_test_nats_server_t *srv, const char *extra_config)
{
	memset(srv, 0, sizeof *srv);
	if (strlen(extra_config) >= sizeof srv->extra_config)
		return fail(srv, -E2BIG, "extra configuration of %zu bytes is too long", strlen(extra_config));
	strcpy(srv->extra_config, extra_config);

	/* Look first, so that a skipped test leaves no folder behind. */
	char exe[PATH_MAX];
	if (!find_server(exe, sizeof exe))
		return fail(srv, -ENOENT, "nats-server not found ($BL_NATS_SERVER, PATH, /usr/sbin, /usr/bin)");
	const char *tmp = getenv("TMPDIR");
	snprintf(srv->dir, sizeof srv->dir, "%s/bl-nats-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(srv->dir))
		return fail(srv, -errno, "cannot create a temporary folder %s: %s", srv->dir, strerror(errno));
	return launch(srv);
}

static int signal_and_wait(bl_test_nats_server_t *srv, int sig, int timeout_ms)
{
	if (srv->pid == 0)
		return 0;
	kill(srv->pid, sig);
	long long deadline = now_ms() + timeout_ms;
	int status = 0;
	while (now_ms() < deadline) {
		if (reap(srv, &status, false))
			return 0;
		sleep_ms(10);
	}
	kill(srv->pid, SIGKILL);
	reap(srv, &status, true);
	return fail(srv, -ETIMEDOUT, "nats-server did not stop within %d ms of signal %d", timeout_ms, sig);
}

int bl_test_nats_stop(bl_test_nats_server_t *srv)
{
	return signal_and_wait(srv, SIGTERM, STOP_TIMEOUT_MS);
}

int bl_test_nats_kill(bl_test_nats_server_t *srv)
{
	return signal_and_wait(srv, SIGKILL, STOP_TIMEOUT_MS);
}

int bl_test_nats_restart(bl_test_nats_server_t *srv)
{
	if (srv->pid != 0)
		return fail(srv, -EBUSY, "nats-server is still running (pid %d)", (int)srv->pid);
	return launch(srv);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void bl_test_nats_cleanup(bl_test_nats_server_t *srv)
{
	bl_test_nats_stop(srv);
	if (srv->dir[0])
		nftw(srv->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	srv->dir[0] = '\0';
}
