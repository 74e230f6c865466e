/*
 * Runs beamline-engine as a background child process, for tests that act
 * on a running engine (decide its approvals, kill it, call its admin
 * endpoint). The child's standard output and error go to files in a
 * temporary folder of the test's own; the child is killed when the test
 * process dies, so a failed test leaves no engine behind.
 */
#ifndef BL_TEST_ENGINE_CHILD_H
#define BL_TEST_ENGINE_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct engine_child {
	pid_t pid;
	int status;          /* exit status, or 128 + signal; valid once exited */
	bool exited;
	char out_path[512];  /* its standard output */
	char err_path[512];  /* its standard error */
} engine_child_t;

/* Make a temporary folder into `dir` (`size` bytes). */
void test_dir_make(char *dir, size_t size);

/* Remove `dir` and everything beneath it. */
void test_dir_remove(const char *dir);

/* Write `text` to `path` with `mode`. */
void test_file_write(const char *path, const char *text, unsigned mode);

/* Read the whole of `path`; NULL when it does not exist. Owned. */
char *test_file_read(const char *path);

/* Start beamline-engine with the NULL-terminated `args` (without the
 * program name); its output goes to `tag`.out and `tag`.err in `dir`. */
void child_start(engine_child_t *c, const char *dir, const char *tag, const char *const *args);

/* Wait up to `timeout_ms` for the child to exit; returns whether it did. */
bool child_wait(engine_child_t *c, int timeout_ms);

/* Kill the child with SIGKILL and reap it. */
void child_kill(engine_child_t *c);

/* Return the number of threads of the running child, from /proc. */
int child_threads(const engine_child_t *c);

/* Wait up to `timeout_ms` until `path` exists; returns whether it does. */
bool wait_for_path(const char *path, int timeout_ms);

/* Wait up to `timeout_ms` until the child's standard error contains
 * `needle`; returns a copy of the text from the match on, or NULL. */
char *wait_for_err(const engine_child_t *c, const char *needle, int timeout_ms);

/* Listen on a free port of 127.0.0.1 and never accept: a postgres client
 * connecting there hangs until its connect timeout, then fails with the
 * retryable connection_failed. Returns the socket; *port gets its port. */
int silent_listener(int *port);

/* Sleep `ms` milliseconds. */
void sleep_ms(int ms);

/* Milliseconds on the monotonic clock. */
long long now_ms(void);

#endif
