/*
 * A throttling TCP proxy for tests (see slow_proxy.h). Each connection
 * has one thread that polls both sockets with a short timeout, so that
 * slow_proxy_stop() is noticed within that timeout.
 */
#define _GNU_SOURCE /* usleep */

#include "slow_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LINKS 16
#define POLL_MS 50

typedef struct link {
	slow_proxy_t *proxy;
	int client, server;
	pthread_t thread;
} link_t;

struct slow_proxy {
	int listen_fd;
	int target_port;
	size_t chunk;
	unsigned pause_us;
	atomic_bool stopping;
	pthread_t acceptor;
	pthread_mutex_t lock;
	link_t *links[MAX_LINKS]; /* guarded by lock */
	size_t n_links;           /* guarded by lock */
};

static int connect_target(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Write all of `len` bytes; false when the peer is gone. */
static bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* Move one read's worth from `from` to `to`, at most `max` bytes. */
static bool forward(int from, int to, char *buf, size_t max)
{
	ssize_t n = recv(from, buf, max, 0);
	if (n <= 0)
		return false;
	return write_all(to, buf, (size_t)n);
}

static void *run_link(void *arg)
{
	link_t *l = arg;
	slow_proxy_t *p = l->proxy;
	char *buf = malloc(p->chunk);

	while (buf && !atomic_load(&p->stopping)) {
		struct pollfd fds[2] = {{.fd = l->client, .events = POLLIN}, {.fd = l->server, .events = POLLIN}};
		if (poll(fds, 2, POLL_MS) < 0 && errno != EINTR)
			break;
		if (fds[0].revents && !forward(l->client, l->server, buf, p->chunk))
			break;
		if (fds[1].revents) {
			if (!forward(l->server, l->client, buf, p->chunk))
				break;
			usleep(p->pause_us);
		}
	}
	free(buf);
	shutdown(l->client, SHUT_RDWR);
	shutdown(l->server, SHUT_RDWR);
	return NULL;
}

static void add_link(slow_proxy_t *p, int client)
{
	link_t *l = calloc(1, sizeof *l);
	int server = connect_target(p->target_port);

	pthread_mutex_lock(&p->lock);
	bool room = p->n_links < MAX_LINKS;
	if (l && server >= 0 && room) {
		*l = (link_t){.proxy = p, .client = client, .server = server};
		if (pthread_create(&l->thread, NULL, run_link, l) == 0) {
			p->links[p->n_links++] = l;
			pthread_mutex_unlock(&p->lock);
			return;
		}
	}
	pthread_mutex_unlock(&p->lock);
	free(l);
	if (server >= 0)
		close(server);
	close(client);
}

static void *run_acceptor(void *arg)
{
	slow_proxy_t *p = arg;

	while (!atomic_load(&p->stopping)) {
		struct pollfd pfd = {.fd = p->listen_fd, .events = POLLIN};
		if (poll(&pfd, 1, POLL_MS) <= 0)
			continue;
		int client = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (client >= 0)
			add_link(p, client);
	}
	return NULL;
}

static int listen_loopback(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int slow_proxy_start(slow_proxy_t **out, int target_port, size_t chunk, unsigned pause_us)
{
	int port = -1;
	slow_proxy_t *p = calloc(1, sizeof *p);

	*out = NULL;
	if (!p)
		return -1;
	p->target_port = target_port;
	p->chunk = chunk ? chunk : 1;
	p->pause_us = pause_us;
	pthread_mutex_init(&p->lock, NULL);
	p->listen_fd = listen_loopback(&port);
	if (p->listen_fd < 0 || pthread_create(&p->acceptor, NULL, run_acceptor, p) != 0) {
		if (p->listen_fd >= 0)
			close(p->listen_fd);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -1;
	}
	*out = p;
	return port;
}

void slow_proxy_stop(slow_proxy_t **proxy)
{
	slow_proxy_t *p = *proxy;
	if (!p)
		return;

	atomic_store(&p->stopping, true);
	pthread_join(p->acceptor, NULL);
	for (size_t i = 0; i < p->n_links; i++) {
		pthread_join(p->links[i]->thread, NULL);
		close(p->links[i]->client);
		close(p->links[i]->server);
		free(p->links[i]);
	}
	close(p->listen_fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
	*proxy = NULL;
}
