#define _GNU_SOURCE /* mkdtemp, nftw, prctl */

#include "engine_child.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BL_ENGINE_PATH
#error "BL_ENGINE_PATH must name the beamline-engine executable"
#endif

void test_dir_make(char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, size, "%s/bl-human-XXXXXX", tmp);
	cr_assert_not_null(mkdtemp(dir), "cannot make a temporary folder under %s", tmp);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void test_dir_remove(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void test_file_write(const char *path, const char *text, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	cr_assert_geq(fd, 0, "cannot write %s", path);
	size_t len = strlen(text);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	fchmod(fd, mode);
	close(fd);
}

char *test_file_read(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(out);
	fclose(f);
	return text;
}

void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the forked child: execute the engine. The copies are never freed,
 * because the process image is replaced. */
static void exec_engine(const char *const *args)
{
	char *argv[48] = {strdup(BL_ENGINE_PATH)};
	size_t n = 1;
	while (args[n - 1] && n + 1 < sizeof argv / sizeof argv[0]) {
		argv[n] = strdup(args[n - 1]);
		n++;
	}
	argv[n] = NULL;
	execv(BL_ENGINE_PATH, argv);
}

void child_start(engine_child_t *c, const char *dir, const char *tag, const char *const *args)
{
	memset(c, 0, sizeof *c);
	snprintf(c->out_path, sizeof c->out_path, "%s/%s.out", dir, tag);
	snprintf(c->err_path, sizeof c->err_path, "%s/%s.err", dir, tag);
	int out = open(c->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err = open(c->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(out >= 0 && err >= 0, "cannot create the child's output files in %s", dir);
	fflush(NULL);

	pid_t parent = getpid();
	c->pid = fork();
	cr_assert_geq(c->pid, 0, "fork failed");
	if (c->pid == 0) {
		/* Die with the test, and not before it started watching. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(125);
		if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
			_exit(126);
		exec_engine(args);
		_exit(127);
	}
	close(out);
	close(err);
}

static void reap(engine_child_t *c, int wstatus)
{
	c->exited = true;
	c->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	/* Sanitizer reports from the child belong in the test's log. */
	char *text = test_file_read(c->err_path);
	if (text && (strstr(text, "Sanitizer") || strstr(text, "runtime error")))
		fputs(text, stderr);
	free(text);
}

bool child_wait(engine_child_t *c, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	int wstatus;

	while (!c->exited) {
		pid_t got = waitpid(c->pid, &wstatus, WNOHANG);
		if (got == c->pid) {
			reap(c, wstatus);
			break;
		}
		if (now_ms() >= until)
			return false;
		sleep_ms(10);
	}
	return true;
}

void child_kill(engine_child_t *c)
{
	int wstatus;
	if (c->exited)
		return;
	kill(c->pid, SIGKILL);
	if (waitpid(c->pid, &wstatus, 0) == c->pid) {
		c->exited = true;
		c->status = 128 + SIGKILL;
	}
}

int child_threads(const engine_child_t *c)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)c->pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "cannot list %s", path);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

bool wait_for_path(const char *path, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	while (access(path, F_OK) != 0) {
		if (now_ms() >= until)
			return false;
		sleep_ms(10);
	}
	return true;
}

char *wait_for_err(const engine_child_t *c, const char *needle, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;
	for (;;) {
		char *text = test_file_read(c->err_path);
		char *at = text ? strstr(text, needle) : NULL;
		if (at) {
			char *copy = strdup(at);
			free(text);
			return copy;
		}
		free(text);
		if (now_ms() >= until)
			return NULL;
		sleep_ms(20);
	}
}

int silent_listener(int *port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof addr;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	*port = ntohs(addr.sin_port);
	return fd;
}
