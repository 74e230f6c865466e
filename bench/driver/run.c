#define _GNU_SOURCE /* pipe2 */

#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_MAX 65536

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Read the child's output until EOF or the deadline. Returns the bytes
 * read, or -1 on timeout. */
static ssize_t read_until(int fd, char *buf, size_t size, double deadline)
{
	size_t len = 0;

	for (;;) {
		double left = deadline - now_s();
		if (left <= 0)
			return -1;

		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int rc = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;

		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			break;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

static pid_t spawn(char *const argv[], int *out_fd)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;

	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "beamline-bench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	*out_fd = fds[0];
	return pid;
}

json_t *bench_run(char *const argv[], unsigned timeout_s, bool *timed_out, char *error, size_t error_size)
{
	static char output[OUTPUT_MAX];
	int fd = -1;

	*timed_out = false;
	pid_t pid = spawn(argv, &fd);
	if (pid < 0) {
		snprintf(error, error_size, "cannot start %s: %s", argv[0], strerror(errno));
		return NULL;
	}

	ssize_t len = read_until(fd, output, sizeof output, now_s() + timeout_s);
	close(fd);
	if (len < 0)
		kill(pid, SIGKILL);

	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (len < 0) {
		*timed_out = true;
		snprintf(error, error_size, "%s %s timed out after %u s", argv[0], argv[1], timeout_s);
		return NULL;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(error, error_size, "%s %s failed (%s %d)", argv[0], argv[1],
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return NULL;
	}

	char *newline = strchr(output, '\n');
	if (newline)
		*newline = '\0';
	json_error_t jerr;
	json_t *result = json_loads(output, 0, &jerr);
	if (!json_is_object(result)) {
		json_decref(result);
		snprintf(error, error_size, "%s %s printed no JSON object: %s", argv[0], argv[1], jerr.text);
		return NULL;
	}
	return result;
}
