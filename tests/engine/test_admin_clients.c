/*
 * The admin endpoint's daemon under clients that open connections and
 * send nothing, or send slowly: an endpoint started in the test process
 * on 127.0.0.1.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "admin_health.h"
#include "http_client.h"
#include "metrics.h"

typedef struct fixture {
	char dir[64];
	bl_admin_t *admin;
	bl_metrics_t *metrics;
	int port;
} fixture_t;

/* Start an endpoint with the health routes on 127.0.0.1, any port. */
static void start(fixture_t *f)
{
	bl_admin_config_t cfg = {.port = 0, .max_body_bytes = 1024};
	bl_error_t err = {0};

	snprintf(f->dir, sizeof f->dir, "/tmp/bl-admin-clients-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	snprintf(cfg.host, sizeof cfg.host, "127.0.0.1");
	snprintf(cfg.token_file, sizeof cfg.token_file, "%s/token", f->dir);
	FILE *t = fopen(cfg.token_file, "w");
	cr_assert_not_null(t);
	fputs("clients-test-token\n", t);
	fclose(t);
	chmod(cfg.token_file, 0600);

	cr_assert_eq(bl_metrics_new(&f->metrics), 0);
	cr_assert_eq(bl_admin_new(&f->admin, &cfg, &err), 0, "%s", err.message);
	cr_assert_eq(bl__admin_health_register(f->admin, f->metrics), 0);
	cr_assert_eq(bl_admin_start(f->admin, &err), 0, "%s", err.message);
	f->port = bl_admin_port(f->admin);
}

static void stop(fixture_t *f)
{
	char path[128];
	bl_admin_free(&f->admin);
	bl_metrics_free(&f->metrics);
	snprintf(path, sizeof path, "%s/token", f->dir);
	unlink(path);
	rmdir(f->dir);
}

/* Open a TCP connection to the endpoint and send nothing. */
static int connect_idle(const fixture_t *f)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
	return fd;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait up to `limit_s` for the server to close `fd`; returns the seconds
 * it took, or -1 when it did not. */
static double wait_closed(int fd, double limit_s)
{
	double start = now_s();
	char byte;

	for (;;) {
		double left = limit_s - (now_s() - start);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			return -1;
		ssize_t n = recv(fd, &byte, 1, 0);
		if (n <= 0)
			return now_s() - start;
	}
}

/*
 * With 100 connections open that have sent nothing (more than the old
 * limit of 64), a client still gets a response from /health at once.
 */
Test(engine_admin_clients, answers_while_100_connections_idle, .timeout = 60)
{
	fixture_t f;
	int idle[100];
	start(&f);

	for (int i = 0; i < 100; i++)
		idle[i] = connect_idle(&f);
	usleep(200 * 1000); /* let the daemon accept them all */
	double begun = now_s();
	http_reply_t r = http_request(f.port, "GET", "/health", NULL);
	double took = now_s() - begun;

	cr_assert_eq(r.status, 200, "status %ld: %s", r.status, r.body);
	cr_assert_lt(took, 1.0, "the answer took %.2f s", took);
	http_reply_free(&r);
	for (int i = 0; i < 100; i++)
		close(idle[i]);
	stop(&f);
}

/*
 * A connection that sends nothing, or only part of its headers, is
 * closed after the 2 s header timeout rather than the 10 s one: within
 * 1.5 to 5 s of its last byte.
 */
Test(engine_admin_clients, silent_connection_closed_early, .timeout = 60)
{
	fixture_t f;
	start(&f);
	int silent = connect_idle(&f);
	int partial = connect_idle(&f);
	const char part[] = "GET /health HTTP/1.1\r\nHost: 127";
	cr_assert_eq(send(partial, part, sizeof part - 1, 0), (ssize_t)(sizeof part - 1));

	double silent_s = wait_closed(silent, 5.0);
	double partial_s = wait_closed(partial, 5.0);

	cr_assert_geq(silent_s, 1.5, "the silent connection was closed after %.2f s (-1: not within 5 s)", silent_s);
	cr_assert_gt(partial_s, 0, "the connection with partial headers was not closed within 5 s");
	close(silent);
	close(partial);
	stop(&f);
}

/*
 * Once the headers are complete, the longer timeout applies: a request
 * whose body starts 3 s after its headers still gets a response.
 */
Test(engine_admin_clients, slow_body_keeps_request_timeout, .timeout = 60)
{
	fixture_t f;
	char reply[512] = {0};
	start(&f);
	int fd = connect_idle(&f);
	const char head[] = "POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n";

	cr_assert_eq(send(fd, head, sizeof head - 1, 0), (ssize_t)(sizeof head - 1));
	sleep(3);
	ssize_t sent = send(fd, "{}", 2, MSG_NOSIGNAL);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int ready = poll(&p, 1, 5000);
	ssize_t n = ready > 0 ? recv(fd, reply, sizeof reply - 1, 0) : -1;

	cr_assert_eq(sent, 2, "the body could not be sent: %s", strerror(errno));
	cr_assert_gt(n, 0, "no reply after the slow body");
	cr_assert_eq(strncmp(reply, "HTTP/1.1 ", 9), 0, "reply: %s", reply);
	close(fd);
	stop(&f);
}
