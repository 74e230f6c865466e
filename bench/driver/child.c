#define _GNU_SOURCE /* pipe2 */

#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KILL_GRACE_S 10.0

/* Written by the signal handler, read between children. */
static volatile sig_atomic_t interrupted;
/* The process group of the running child, 0 between children. */
static volatile sig_atomic_t running_group;

typedef struct capture {
	child_result_t *r;
	size_t capacity;
	size_t tail_len;
} capture_t;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void exec_child(char *const argv[], char *const env[], int out_fd, int err_fd)
{
	setpgid(0, 0);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	for (size_t i = 0; env && env[i]; i++)
		putenv(env[i]);
	execvp(argv[0], argv);
	fprintf(stderr, "beamline-bench: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Append to the captured output. Once CHILD_OUTPUT_MAX is reached, the
 * part of `buf` that fits is kept and everything after it is dropped, so
 * the output is always a contiguous head of what the child printed. */
static int keep_output(capture_t *c, const char *buf, size_t n)
{
	child_result_t *r = c->r;
	if (r->output_truncated)
		return 0;
	if (r->output_len + n + 1 > CHILD_OUTPUT_MAX) {
		n = CHILD_OUTPUT_MAX - 1 - r->output_len;
		r->output_truncated = true;
	}

	if (r->output_len + n + 1 > c->capacity) {
		size_t capacity = c->capacity ? c->capacity : 4096;
		while (capacity < r->output_len + n + 1)
			capacity *= 2;
		capacity = capacity < CHILD_OUTPUT_MAX ? capacity : CHILD_OUTPUT_MAX;
		char *grown = realloc(r->output, capacity);
		if (!grown)
			return -ENOMEM;
		r->output = grown;
		c->capacity = capacity;
	}
	memcpy(r->output + r->output_len, buf, n);
	r->output_len += n;
	r->output[r->output_len] = '\0';
	return 0;
}

/* Pass standard error through and keep its last CHILD_STDERR_TAIL - 1 bytes. */
static void keep_stderr(capture_t *c, const char *buf, size_t n)
{
	child_result_t *r = c->r;
	size_t keep = CHILD_STDERR_TAIL - 1;

	fwrite(buf, 1, n, stderr);
	if (n >= keep) {
		memcpy(r->stderr_tail, buf + n - keep, keep);
		c->tail_len = keep;
	} else {
		size_t drop = c->tail_len + n > keep ? c->tail_len + n - keep : 0;
		memmove(r->stderr_tail, r->stderr_tail + drop, c->tail_len - drop);
		memcpy(r->stderr_tail + c->tail_len - drop, buf, n);
		c->tail_len += n - drop;
	}
	r->stderr_tail[c->tail_len] = '\0';
}

/* Read both pipes until both close. Returns 0, -ETIMEDOUT past the
 * deadline, or -ENOMEM. */
static int drain(capture_t *c, int out_fd, int err_fd, double deadline)
{
	struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
	char buf[8192];

	while (fds[0].fd >= 0 || fds[1].fd >= 0) {
		double left = deadline - now_s();
		if (left <= 0)
			return -ETIMEDOUT;
		int rc = poll(fds, 2, (int)(left * 1000) + 1);
		if (rc < 0 && errno != EINTR)
			return -errno;

		for (int i = 0; rc > 0 && i < 2; i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			ssize_t n = read(fds[i].fd, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				fds[i].fd = -1;
				continue;
			}
			if (i == 1)
				keep_stderr(c, buf, (size_t)n);
			else if (keep_output(c, buf, (size_t)n) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Stop the child's whole process group: TERM first, so that scripts run
 * their cleanup traps, then KILL once the grace period is over. */
static int stop_group(pid_t pid)
{
	int status = 0;
	kill(-pid, SIGTERM);

	double until = now_s() + KILL_GRACE_S;
	while (now_s() < until) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(50 * 1000);
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

static void forward(int signo)
{
	(void)signo;
	interrupted = 1;
	if (running_group > 0)
		kill(-(pid_t)running_group, SIGTERM);
}

void child_forward_signals(void)
{
	struct sigaction sa = {.sa_handler = forward};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool child_interrupted(void)
{
	return interrupted != 0;
}

int child_run(child_result_t *out, char *const argv[], char *const env[], unsigned timeout_s)
{
	int out_pipe[2], err_pipe[2];
	child_result_t r = {0};
	capture_t c = {.r = &r};

	if (pipe2(out_pipe, O_CLOEXEC) != 0)
		return -errno;
	if (pipe2(err_pipe, O_CLOEXEC) != 0) {
		int rc = -errno;
		close(out_pipe[0]);
		close(out_pipe[1]);
		return rc;
	}

	double start = now_s();
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0)
		exec_child(argv, env, out_pipe[1], err_pipe[1]);
	int fork_errno = errno;
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (pid < 0) {
		close(out_pipe[0]);
		close(err_pipe[0]);
		return -fork_errno;
	}
	/* NOTE: a signal that arrives between fork and this line reaches no
	 * child. The run still stops after this child, when it finishes. */
	setpgid(pid, pid);
	running_group = pid;

	int rc = drain(&c, out_pipe[0], err_pipe[0], start + timeout_s);
	close(out_pipe[0]);
	close(err_pipe[0]);

	int status = 0;
	if (rc < 0) {
		r.timed_out = rc == -ETIMEDOUT;
		status = stop_group(pid);
	} else {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	running_group = 0;
	r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r.elapsed_s = now_s() - start;
	if (!r.output && keep_output(&c, "", 0) < 0) {
		child_result_free(&r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void child_result_free(child_result_t *r)
{
	free(r->output);
	*r = (child_result_t){0};
}
