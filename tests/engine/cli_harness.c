#define _GNU_SOURCE /* mkostemp */

#include "cli_harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BL_ENGINE_PATH
#error "BL_ENGINE_PATH must name the beamline-engine executable"
#endif

/* A temporary file, already unlinked, so a failed test leaves nothing. */
static int temp_file(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[256];
	snprintf(path, sizeof path, "%s/bl-cli-XXXXXX", tmp);
	int fd = mkostemp(path, O_CLOEXEC);
	cr_assert_geq(fd, 0, "cannot create a temporary file under %s", tmp);
	unlink(path);
	return fd;
}

static char *read_all(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	cr_assert_geq(size, 0);
	char *text = malloc((size_t)size + 1);
	cr_assert_not_null(text);
	ssize_t got = pread(fd, text, (size_t)size, 0);
	cr_assert_eq(got, size, "read %zd of %lld bytes of the child's output", got, (long long)size);
	text[size] = '\0';
	close(fd);
	return text;
}

/* In the forked child: redirect the output and execute the engine. The
 * copies made here are never freed, because the process image is replaced. */
static void run_child(const char *const *args, const char *env, int out_fd, int err_fd)
{
	char *argv[32] = {strdup(BL_ENGINE_PATH)};
	size_t n = 1;
	while (args[n - 1] && n + 1 < sizeof argv / sizeof argv[0]) {
		argv[n] = strdup(args[n - 1]);
		n++;
	}
	argv[n] = NULL;

	if (env)
		putenv(strdup(env));
	if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		_exit(126);
	execv(BL_ENGINE_PATH, argv);
	_exit(127);
}

void cli_run(cli_result_t *r, const char *const *args, const char *env)
{
	int out_fd = temp_file();
	int err_fd = temp_file();
	fflush(NULL);

	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork failed");
	if (pid == 0)
		run_child(args, env, out_fd, err_fd);

	int wstatus;
	cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
	r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	cr_assert_neq(r->status, 127, "cannot execute %s", BL_ENGINE_PATH);
	r->out = read_all(out_fd);
	r->err = read_all(err_fd);
	fputs(r->err, stderr);
}

void cli_result_free(cli_result_t *r)
{
	free(r->out);
	free(r->err);
	r->out = NULL;
	r->err = NULL;
}
