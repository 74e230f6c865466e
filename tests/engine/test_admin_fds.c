/*
 * The admin endpoint's connections against the process's descriptor
 * limit: clients that connect and keep sending a byte at a time must not
 * take every descriptor of the engine, whose jobs, NATS connection and
 * files need them too. The endpoint runs in the test process on
 * 127.0.0.1; the clients run in a child process with a limit of their own.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"
#include "admin_health.h"
#include "metrics.h"

/* The soft descriptor limit of the test process, far under 1024, the
 * endpoint's largest connection limit, as a service started with the
 * common default soft limit of 1024 has against 1024 clients. */
#define PROCESS_FD_LIMIT 256
#define CLIENTS 400

typedef struct fixture {
	char dir[64];
	bl_admin_t *admin;
	bl_metrics_t *metrics;
	int port;
} fixture_t;

static void start(fixture_t *f)
{
	bl_admin_config_t cfg = {.port = 0, .max_body_bytes = 1024};
	bl_error_t err = {0};

	snprintf(f->dir, sizeof f->dir, "/tmp/bl-admin-fds-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	snprintf(cfg.host, sizeof cfg.host, "127.0.0.1");
	snprintf(cfg.token_file, sizeof cfg.token_file, "%s/token", f->dir);
	FILE *t = fopen(cfg.token_file, "w");
	cr_assert_not_null(t);
	fputs("fds-test-token\n", t);
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

/* In a child: open CLIENTS connections, each sending "G", then one more
 * byte of a request line every half second so that none goes silent. */
static void trickle_clients(int port, struct rlimit original)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fds[CLIENTS];

	setrlimit(RLIMIT_NOFILE, &original);
	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) != 0)
			_exit(1);
		send(fds[i], "G", 1, MSG_NOSIGNAL);
	}
	for (;;) {
		usleep(500 * 1000);
		for (int i = 0; i < CLIENTS; i++)
			send(fds[i], "E", 1, MSG_NOSIGNAL);
	}
}

/* Count how many of `tries` descriptors the process can still open. */
static int open_spare(int tries)
{
	int fds[64], opened = 0;

	for (int i = 0; i < tries && i < 64; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fds[i] >= 0)
			opened++;
	}
	for (int i = 0; i < tries && i < 64; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	return opened;
}

/*
 * 400 clients that trickle bytes against a process limited to 256
 * descriptors: the process can still open files. With a connection limit
 * of 1024 whatever the process's limit, the clients would take every
 * descriptor and the open would fail (EMFILE), which in the engine fails
 * every fs job with "Too many open files".
 */
Test(engine_admin_fds, clients_leave_descriptors_spare, .timeout = 60)
{
	struct rlimit original, low;
	fixture_t f;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &original), 0);
	low = original;
	low.rlim_cur = PROCESS_FD_LIMIT;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0, "setrlimit: %s", strerror(errno));
	start(&f);

	pid_t child = fork();
	cr_assert_geq(child, 0, "fork: %s", strerror(errno));
	if (child == 0)
		trickle_clients(f.port, original);
	sleep(2); /* let the clients connect and the daemon accept them */
	int spare = open_spare(16);

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	stop(&f);
	cr_expect_eq(spare, 16, "only %d of 16 files could be opened while %d clients were connected", spare,
		     CLIENTS);
}
