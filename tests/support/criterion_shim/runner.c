/*
 * Test runner for the Criterion stand-in declared in criterion/criterion.h:
 * the test registry, failure reports, timeouts and main().
 *
 * Tests run one after another on the thread that calls main(), called the
 * runner thread here. A fatal check or a skip on that thread returns to the
 * runner through longjmp(). A test that sets .signal or .exit_code runs in a
 * forked child instead, and the parent judges it from the child's wait
 * status and from an outcome byte the child writes to a pipe.
 *
 * Exit status, first match wins:
 * - 2 for an invalid command line.
 * - 1 when a selected test failed.
 * - 77 when every selected test was skipped, or none matched the filter.
 * - 1 when a test logged a warning or an error, as Criterion 2.4 does unless
 *   given --ignore-warnings.
 * - 0 otherwise.
 * On a normal exit, ThreadSanitizer replaces the status with 66 (its default
 * exitcode) once it has reported a data race.
 */
#include "criterion/criterion.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The process exit status for a skipped test, as CTest's SKIP_RETURN_CODE expects. */
#define EXIT_SKIPPED 77
#define EXIT_USAGE 2

/* ThreadSanitizer's default exit status after it reported a data race. */
#define TSAN_EXIT_STATUS 66

/*
 * What a forked child writes to the outcome pipe: 'W' once, as soon as a
 * warning is logged (the child may then die by a signal), and at the end the
 * outcome byte followed by any skip reason.
 */
#define WARNING_BYTE 'W'

typedef enum outcome {
	OUTCOME_PASSED,
	OUTCOME_FAILED,
	OUTCOME_SKIPPED,
} outcome_t;

typedef struct options {
	const char *filter;
	bool list;
	bool verbose;
	bool short_filename;
	bool ignore_warnings;
} options_t;

/* A test's attributes after its suite's are applied. */
typedef struct effective {
	double timeout;
	int signal;
	int exit_code;
	bool disabled;
} effective_t;

/* A bounded text buffer. Text past its capacity is dropped. */
typedef struct text {
	char data[4096];
	size_t length;
} text_t;

typedef struct watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct timespec deadline;
	const bl__criterion_test_t *test;
	double timeout;
	/* Guarded by lock. */
	bool stopped;
} watchdog_t;

/* Set before main() by the constructors, sorted by file and then line. */
static bl__criterion_test_t *tests;
static bl__criterion_suite_t *suites;

/* Set by main() before any test starts, read-only afterwards. */
static options_t options;
static pthread_t runner_thread;

/*
 * The running test, or NULL between tests. It is atomic because a fatal
 * check reads it on any thread, including threads that an earlier test left
 * running while the runner moved on.
 */
static _Atomic(const bl__criterion_test_t *) current_test;

/* Where a fatal check or a skip on the runner thread returns to. */
static jmp_buf test_exit;

/* The write end of the outcome pipe in a forked child, else -1. */
static int outcome_pipe = -1;

/* Any thread of the test may mark it failed. */
static atomic_bool test_failed;

/* Set by cr_log at warning or error severity, on any thread. */
static atomic_bool logged_warning;

/*
 * Written by the thread that skips the test just before it ends the test,
 * and read by the runner thread after the test has ended or from a child
 * process that has exited.
 */
static bool test_skipped;
static char skip_reason[256];

/* ------------------------------------------------------------------------ */
/* Registry                                                                 */
/* ------------------------------------------------------------------------ */

static bool runs_before(const bl__criterion_test_t *a, const bl__criterion_test_t *b)
{
	int by_file = strcmp(a->file, b->file);

	return by_file < 0 || (by_file == 0 && a->line < b->line);
}

void bl__criterion_register_test(bl__criterion_test_t *test)
{
	bl__criterion_test_t **link = &tests;

	while (*link != NULL && runs_before(*link, test))
		link = &(*link)->next;
	test->next = *link;
	*link = test;
}

void bl__criterion_register_suite(bl__criterion_suite_t *suite)
{
	suite->next = suites;
	suites = suite;
}

static const bl__criterion_suite_t *find_suite(const char *name)
{
	for (const bl__criterion_suite_t *suite = suites; suite != NULL; suite = suite->next) {
		if (strcmp(suite->name, name) == 0)
			return suite;
	}
	return NULL;
}

static effective_t effective_attributes(const bl__criterion_test_t *test,
					const bl__criterion_suite_t *suite)
{
	const bl__criterion_attributes_t *own = &test->attributes;
	bl__criterion_attributes_t none = {0};
	const bl__criterion_attributes_t *shared = suite != NULL ? &suite->attributes : &none;

	return (effective_t){
		.timeout = own->timeout != 0 ? own->timeout : shared->timeout,
		.signal = own->signal != 0 ? own->signal : shared->signal,
		.exit_code = own->exit_code != 0 ? own->exit_code : shared->exit_code,
		.disabled = own->disabled || shared->disabled,
	};
}

/* ------------------------------------------------------------------------ */
/* Text                                                                     */
/* ------------------------------------------------------------------------ */

BL__CRITERION_PRINTF(2, 0)
static void text_append_list(text_t *text, const char *format, va_list args)
{
	size_t room = sizeof text->data - text->length;
	int written = vsnprintf(text->data + text->length, room, format, args);

	if (written < 0)
		return;
	text->length += (size_t)written < room ? (size_t)written : room - 1;
}

BL__CRITERION_PRINTF(2, 3)
static void text_append(text_t *text, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	text_append_list(text, format, args);
	va_end(args);
}

/* One fwrite per report, so that reports from several threads do not interleave. */
static void text_print(const text_t *text)
{
	fwrite(text->data, 1, text->length, stderr);
}

static const char *display_path(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!options.short_filename || slash == NULL)
		return path;
	return slash + 1;
}

static const char *signal_name(int signal_number)
{
	const char *name = strsignal(signal_number);

	return name != NULL ? name : "unknown signal";
}

/* ------------------------------------------------------------------------ */
/* Failure reports                                                          */
/* ------------------------------------------------------------------------ */

/*
 * Split `source`, the stringized arguments of a check macro, at its top-level
 * commas. Commas inside brackets or inside string and character literals do
 * not split. Stores the first `max` arguments, trimmed, and returns how many
 * there are in all.
 */
static size_t split_arguments(const char *source, const char **starts, size_t *lengths, size_t max)
{
	size_t count = 0;
	int depth = 0;
	char quote = '\0';
	const char *start = source;
	const char *p;

	for (p = source;; p++) {
		bool at_end = *p == '\0';

		if (at_end || (*p == ',' && depth == 0 && quote == '\0')) {
			while (*start == ' ')
				start++;
			if (count < max) {
				starts[count] = start;
				lengths[count] = (size_t)(p - start);
			}
			count++;
			start = p + 1;
			if (at_end)
				return count;
		} else if (quote != '\0') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == quote)
				quote = '\0';
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '(' || *p == '[' || *p == '{') {
			depth++;
		} else if (*p == ')' || *p == ']' || *p == '}') {
			depth--;
		}
	}
}

/* Append `form` with each @1, @2 or @3 replaced by that argument's source text. */
static void append_form(text_t *text, const char *form, const char *source)
{
	const char *starts[3];
	size_t lengths[3];
	size_t count = split_arguments(source, starts, lengths, 3);

	for (const char *f = form; *f != '\0'; f++) {
		size_t index = (size_t)(f[1] - '1');

		if (f[0] == '@' && f[1] >= '1' && f[1] <= '3' && index < count) {
			text_append(text, "%.*s", (int)lengths[index], starts[index]);
			f++;
		} else {
			text_append(text, "%c", *f);
		}
	}
}

static void append_string_value(text_t *text, const char *label, const char *value)
{
	if (value == NULL)
		text_append(text, "  %s NULL\n", label);
	else
		text_append(text, "  %s \"%s\"\n", label, value);
}

/* Print "file:line: <verdict>: <expression>", the message and the compared values. */
static void report_check(const char *verdict, const bl__criterion_check_t *check,
			 const char *message)
{
	text_t report = {.length = 0};

	text_append(&report, "%s:%d: %s", display_path(check->file), check->line, verdict);
	if (check->form != NULL) {
		text_append(&report, ": ");
		append_form(&report, check->form, check->source);
	}
	text_append(&report, "\n");
	if (message != NULL)
		text_append(&report, "  %s\n", message);
	if (check->has_strings) {
		append_string_value(&report, "left: ", check->strings[0]);
		append_string_value(&report, "right:", check->strings[1]);
	}
	if (check->has_numbers) {
		text_append(&report, "  left: %Lg, right: %Lg, epsilon: %Lg\n", check->numbers[0],
			    check->numbers[1], check->numbers[2]);
	}
	text_print(&report);
}

static char outcome_byte(outcome_t outcome)
{
	switch (outcome) {
	case OUTCOME_PASSED:
		return 'P';
	case OUTCOME_FAILED:
		return 'F';
	case OUTCOME_SKIPPED:
		return 'S';
	}
	return 'F';
}

/* In a forked child: send the outcome byte and any skip reason to the parent
 * in one write, atomic because it is shorter than PIPE_BUF. */
static void send_outcome(outcome_t outcome)
{
	char message[1 + sizeof skip_reason];
	size_t reason_length = strlen(skip_reason);

	message[0] = outcome_byte(outcome);
	memcpy(message + 1, skip_reason, reason_length);
	if (write(outcome_pipe, message, 1 + reason_length) < 0)
		perror("criterion shim: failed to send the test outcome to the runner");
}

/*
 * End the running test with `outcome`. The runner thread returns to the
 * runner. Any other thread cannot unwind the runner's stack, so it reports
 * and ends the whole program (the child, for a forked test).
 */
static _Noreturn void end_test(outcome_t outcome)
{
	const bl__criterion_test_t *test = atomic_load(&current_test);

	if (test != NULL && pthread_equal(pthread_self(), runner_thread))
		longjmp(test_exit, 1);

	if (outcome_pipe >= 0) {
		send_outcome(outcome);
		_exit(0);
	}
	if (test == NULL) {
		fprintf(stderr, "[FAIL] a check failed outside a running test\n");
		_exit(EXIT_FAILURE);
	}
	if (outcome == OUTCOME_SKIPPED) {
		fprintf(stderr, "[SKIP] %s::%s: %s (skipped on a thread the test started)\n",
			test->suite, test->name, skip_reason);
		_exit(EXIT_SKIPPED);
	}
	fprintf(stderr,
		"[FAIL] %s::%s: a fatal check failed on a thread the test started, "
		"so the runner stops here\n",
		test->suite, test->name);
	_exit(EXIT_FAILURE);
}

_Noreturn void bl__criterion_assert_failed(const bl__criterion_check_t *check)
{
	report_check("assertion failed", check, NULL);
	atomic_store(&test_failed, true);
	end_test(OUTCOME_FAILED);
}

_Noreturn void bl__criterion_assert_failed_message(const bl__criterion_check_t *check,
						   const char *format, ...)
{
	char message[2048];
	va_list args;

	va_start(args, format);
	vsnprintf(message, sizeof message, format, args);
	va_end(args);
	report_check("assertion failed", check, message);
	atomic_store(&test_failed, true);
	end_test(OUTCOME_FAILED);
}

void bl__criterion_expect_failed(const bl__criterion_check_t *check)
{
	report_check("expectation failed", check, NULL);
	atomic_store(&test_failed, true);
}

void bl__criterion_expect_failed_message(const bl__criterion_check_t *check, const char *format,
					 ...)
{
	char message[2048];
	va_list args;

	va_start(args, format);
	vsnprintf(message, sizeof message, format, args);
	va_end(args);
	report_check("expectation failed", check, message);
	atomic_store(&test_failed, true);
}

_Noreturn void bl__criterion_skip(const char *file, int line)
{
	snprintf(skip_reason, sizeof skip_reason, "skipped at %s:%d", display_path(file), line);
	test_skipped = true;
	end_test(OUTCOME_SKIPPED);
}

_Noreturn void bl__criterion_skip_message(const char *file, int line, const char *format, ...)
{
	va_list args;

	(void)file;
	(void)line;
	va_start(args, format);
	vsnprintf(skip_reason, sizeof skip_reason, format, args);
	va_end(args);
	test_skipped = true;
	end_test(OUTCOME_SKIPPED);
}

/* Record that a warning was logged, and tell the parent of a forked child. */
static void note_warning(void)
{
	static const char warning = WARNING_BYTE;

	if (atomic_exchange(&logged_warning, true) || outcome_pipe < 0)
		return;
	if (write(outcome_pipe, &warning, 1) < 0)
		perror("criterion shim: failed to send a warning to the runner");
}

void cr_log(enum criterion_severity severity, const char *format, ...)
{
	const char *prefix = "[ERR ]";
	text_t line = {.length = 0};
	va_list args;

	switch (severity) {
	case CR_LOG_INFO:
		if (!options.verbose)
			return;
		prefix = "[INFO]";
		break;
	case CR_LOG_WARNING:
		prefix = "[WARN]";
		note_warning();
		break;
	case CR_LOG_ERROR:
		note_warning();
		break;
	}

	text_append(&line, "%s ", prefix);
	va_start(args, format);
	text_append_list(&line, format, args);
	va_end(args);
	text_append(&line, "\n");
	text_print(&line);
}

/* ------------------------------------------------------------------------ */
/* Timeouts                                                                 */
/* ------------------------------------------------------------------------ */

static double now_seconds(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static struct timespec monotonic_after(double seconds)
{
	struct timespec at;
	time_t whole;

	/* Longer than any test can run, and small enough for time_t. */
	if (seconds > 1e9)
		seconds = 1e9;
	whole = (time_t)seconds;
	clock_gettime(CLOCK_MONOTONIC, &at);
	at.tv_sec += whole;
	at.tv_nsec += (long)((seconds - (double)whole) * 1e9);
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	return at;
}

/* Report the timeout and end the program. write() and _exit() do not take
 * locks that the stuck test might hold. */
static _Noreturn void fail_timed_out(const bl__criterion_test_t *test, double timeout)
{
	char line[512];
	int length = snprintf(line, sizeof line, "[FAIL] %s::%s: timed out after %g s\n",
			      test->suite, test->name, timeout);

	if (length > 0 && write(STDERR_FILENO, line, (size_t)length) < 0)
		_exit(EXIT_FAILURE);
	_exit(EXIT_FAILURE);
}

static void *watch(void *arg)
{
	watchdog_t *watchdog = arg;
	int rc = 0;

	pthread_mutex_lock(&watchdog->lock);
	while (!watchdog->stopped && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&watchdog->wake, &watchdog->lock, &watchdog->deadline);
	if (!watchdog->stopped)
		fail_timed_out(watchdog->test, watchdog->timeout);
	pthread_mutex_unlock(&watchdog->lock);
	return NULL;
}

/*
 * Start a thread that ends the program once `timeout` seconds have passed.
 * NOTE: alarm() would be simpler, but ThreadSanitizer delivers a signal
 * only when the thread next calls an intercepted function, so SIGALRM never
 * interrupts a test spinning in plain code or blocked in a raw futex call.
 * Returns 0, or -errno when the thread cannot be started.
 */
static int watchdog_start(watchdog_t *watchdog, const bl__criterion_test_t *test, double timeout)
{
	pthread_condattr_t attributes;
	int rc;

	watchdog->test = test;
	watchdog->timeout = timeout;
	watchdog->stopped = false;
	watchdog->deadline = monotonic_after(timeout);
	pthread_mutex_init(&watchdog->lock, NULL);
	pthread_condattr_init(&attributes);
	pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
	pthread_cond_init(&watchdog->wake, &attributes);
	pthread_condattr_destroy(&attributes);

	rc = pthread_create(&watchdog->thread, NULL, watch, watchdog);
	if (rc != 0) {
		pthread_cond_destroy(&watchdog->wake);
		pthread_mutex_destroy(&watchdog->lock);
		return -rc;
	}
	return 0;
}

static void watchdog_stop(watchdog_t *watchdog)
{
	pthread_mutex_lock(&watchdog->lock);
	watchdog->stopped = true;
	pthread_cond_signal(&watchdog->wake);
	pthread_mutex_unlock(&watchdog->lock);
	pthread_join(watchdog->thread, NULL);
	pthread_cond_destroy(&watchdog->wake);
	pthread_mutex_destroy(&watchdog->lock);
}

/* ------------------------------------------------------------------------ */
/* Running tests                                                            */
/* ------------------------------------------------------------------------ */

static outcome_t current_outcome(void)
{
	if (atomic_load(&test_failed))
		return OUTCOME_FAILED;
	if (test_skipped)
		return OUTCOME_SKIPPED;
	return OUTCOME_PASSED;
}

/*
 * Run the fixtures and the body on the runner thread. A fatal check or a
 * skip in an .init function skips the body, and the .fini functions run in
 * every case.
 */
static void run_phases(const bl__criterion_test_t *test, const bl__criterion_suite_t *suite)
{
	if (setjmp(test_exit) == 0) {
		if (suite != NULL && suite->attributes.init != NULL)
			suite->attributes.init();
		if (test->attributes.init != NULL)
			test->attributes.init();
		test->body();
	}
	if (setjmp(test_exit) == 0) {
		if (test->attributes.fini != NULL)
			test->attributes.fini();
	}
	if (setjmp(test_exit) == 0) {
		if (suite != NULL && suite->attributes.fini != NULL)
			suite->attributes.fini();
	}
}

static outcome_t run_in_process(const bl__criterion_test_t *test, const bl__criterion_suite_t *suite,
				double timeout, text_t *failure)
{
	watchdog_t watchdog;
	int rc;

	if (timeout > 0) {
		rc = watchdog_start(&watchdog, test, timeout);
		if (rc < 0) {
			text_append(failure, "failed to start the thread that enforces the %g s timeout: %s",
				    timeout, strerror(-rc));
			return OUTCOME_FAILED;
		}
	}

	run_phases(test, suite);

	if (timeout > 0)
		watchdog_stop(&watchdog);
	return current_outcome();
}

/* Wait for the child, killing it once `timeout` seconds (0 for none) have
 * passed. Returns 0, or -errno when waitpid() fails. */
static int wait_child(pid_t pid, double timeout, int *status, bool *timed_out)
{
	const struct timespec poll_interval = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
	double deadline = now_seconds() + timeout;

	*timed_out = false;
	for (;;) {
		pid_t done = waitpid(pid, status, timeout > 0 ? WNOHANG : 0);

		if (done == pid)
			return 0;
		if (done < 0 && errno != EINTR)
			return -errno;
		if (timeout > 0 && now_seconds() >= deadline) {
			kill(pid, SIGKILL);
			*timed_out = true;
			while (waitpid(pid, status, 0) < 0) {
				if (errno != EINTR)
					return -errno;
			}
			return 0;
		}
		if (done == 0)
			nanosleep(&poll_interval, NULL);
	}
}

/* Decide the outcome of a child that did not report a failure or a skip,
 * from its wait status. */
static outcome_t judge_status(int status, const effective_t *expected, text_t *failure)
{
	if (WIFSIGNALED(status)) {
		int caught = WTERMSIG(status);

		if (caught == expected->signal)
			return OUTCOME_PASSED;
		text_append(failure, "killed by signal %d (%s)", caught, signal_name(caught));
		if (expected->signal != 0)
			text_append(failure, ", expected signal %d (%s)", expected->signal,
				    signal_name(expected->signal));
		return OUTCOME_FAILED;
	}

	int code = WEXITSTATUS(status);

	if (expected->signal == 0 && code == expected->exit_code)
		return OUTCOME_PASSED;
	text_append(failure, "exited with status %d", code);
	if (expected->signal != 0)
		text_append(failure, ", expected signal %d (%s)", expected->signal,
			    signal_name(expected->signal));
	else
		text_append(failure, ", expected %d", expected->exit_code);
	if (code == TSAN_EXIT_STATUS)
		text_append(failure, "; %d is ThreadSanitizer's status after a report", TSAN_EXIT_STATUS);
	return OUTCOME_FAILED;
}

/* Run the test in a forked child, for tests that expect a signal or an exit status. */
static outcome_t run_forked(const bl__criterion_test_t *test, const bl__criterion_suite_t *suite,
			    const effective_t *expected, text_t *failure)
{
	/* Room for the warning byte, the outcome byte and the skip reason. */
	char message[1 + 1 + sizeof skip_reason];
	const char *outcome;
	ssize_t received;
	int fds[2], status, rc;
	bool timed_out;
	pid_t pid;

	if (pipe(fds) != 0) {
		text_append(failure, "failed to create the outcome pipe: %s", strerror(errno));
		return OUTCOME_FAILED;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		text_append(failure, "fork failed: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return OUTCOME_FAILED;
	}
	if (pid == 0) {
		close(fds[0]);
		outcome_pipe = fds[1];
		run_phases(test, suite);
		send_outcome(current_outcome());
		/* exit(), not _exit(), so that ThreadSanitizer can set its status. */
		exit(EXIT_SUCCESS);
	}

	close(fds[1]);
	rc = wait_child(pid, expected->timeout, &status, &timed_out);
	/* Non-blocking: a grandchild may still hold the write end open. */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	received = read(fds[0], message, sizeof message - 1);
	close(fds[0]);
	message[received > 0 ? received : 0] = '\0';
	outcome = message;
	if (outcome[0] == WARNING_BYTE) {
		atomic_store(&logged_warning, true);
		outcome++;
	}

	if (rc < 0) {
		text_append(failure, "waitpid failed: %s", strerror(-rc));
		return OUTCOME_FAILED;
	}
	if (timed_out) {
		text_append(failure, "timed out after %g s", expected->timeout);
		return OUTCOME_FAILED;
	}
	if (outcome[0] == 'F')
		return OUTCOME_FAILED;
	if (outcome[0] == 'S') {
		snprintf(skip_reason, sizeof skip_reason, "%s", outcome + 1);
		return OUTCOME_SKIPPED;
	}
	return judge_status(status, expected, failure);
}

static void print_result(const bl__criterion_test_t *test, outcome_t outcome, const text_t *failure,
			 double seconds)
{
	switch (outcome) {
	case OUTCOME_PASSED:
		fprintf(stderr, "[PASS] %s::%s (%.2f s)\n", test->suite, test->name, seconds);
		break;
	case OUTCOME_FAILED:
		if (failure->length > 0)
			fprintf(stderr, "[FAIL] %s::%s: %s (%.2f s)\n", test->suite, test->name,
				failure->data, seconds);
		else
			fprintf(stderr, "[FAIL] %s::%s (%.2f s)\n", test->suite, test->name, seconds);
		break;
	case OUTCOME_SKIPPED:
		fprintf(stderr, "[SKIP] %s::%s: %s\n", test->suite, test->name,
			skip_reason[0] != '\0' ? skip_reason : "skipped");
		break;
	}
}

static outcome_t run_test(const bl__criterion_test_t *test)
{
	const bl__criterion_suite_t *suite = find_suite(test->suite);
	effective_t effective = effective_attributes(test, suite);
	text_t failure = {.length = 0};
	outcome_t outcome;
	double started;

	atomic_store(&test_failed, false);
	test_skipped = false;
	snprintf(skip_reason, sizeof skip_reason, "%s", "");
	if (effective.disabled) {
		snprintf(skip_reason, sizeof skip_reason, "test is disabled");
		print_result(test, OUTCOME_SKIPPED, &failure, 0);
		return OUTCOME_SKIPPED;
	}
	/* The negated comparison also rejects NaN. */
	if (!(effective.timeout >= 0)) {
		text_append(&failure, "invalid .timeout %g: expected seconds, or 0 for none",
			    effective.timeout);
		print_result(test, OUTCOME_FAILED, &failure, 0);
		return OUTCOME_FAILED;
	}
	if (options.verbose) {
		fprintf(stderr, "[RUN ] %s::%s%s%s\n", test->suite, test->name,
			test->attributes.description != NULL ? ": " : "",
			test->attributes.description != NULL ? test->attributes.description : "");
	}

	started = now_seconds();
	atomic_store(&current_test, test);
	if (effective.signal != 0 || effective.exit_code != 0)
		outcome = run_forked(test, suite, &effective, &failure);
	else
		outcome = run_in_process(test, suite, effective.timeout, &failure);
	atomic_store(&current_test, NULL);

	print_result(test, outcome, &failure, now_seconds() - started);
	return outcome;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void print_usage(FILE *to, const char *program)
{
	fprintf(to,
		"usage: %s [options]\n"
		"Runs the tests of this program in its own process: a stand-in for Criterion\n"
		"in ThreadSanitizer builds, where Criterion cannot start.\n"
		"  --filter=PATTERN  run the tests whose suite/name matches the glob PATTERN\n"
		"  -l, --list        print the suite/name of every test and exit\n"
		"  --verbose[=N]     print each test as it starts, and cr_log_info lines\n"
		"  -S                print only the base name of source files in reports\n"
		"  --jobs=N, -jN     accepted for Criterion compatibility; tests run one at a time\n"
		"  --ascii           accepted for Criterion compatibility; output is always ASCII\n"
		"  --ignore-warnings exit with 0 even when a test logged a warning or an error\n"
		"Exit status: 0 passed, 1 failed or logged a warning, 77 all skipped,\n"
		"2 invalid command line.\n",
		program);
}

static bool has_prefix(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/*
 * Parse the command line into `options`. Returns 0 to run, 1 when --help
 * was handled, or -1 after printing an error for an invalid argument.
 */
static int parse_options(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		bool takes_value = strcmp(arg, "--filter") == 0 || strcmp(arg, "--jobs") == 0 ||
				   strcmp(arg, "-j") == 0;

		if (takes_value && i + 1 >= argc) {
			fprintf(stderr, "%s: missing value for option %s\n", argv[0], arg);
			return -1;
		}
		if (has_prefix(arg, "--filter="))
			options.filter = arg + strlen("--filter=");
		else if (strcmp(arg, "--filter") == 0)
			options.filter = argv[++i];
		else if (strcmp(arg, "--jobs") == 0 || strcmp(arg, "-j") == 0)
			i++;
		else if (has_prefix(arg, "--jobs=") || has_prefix(arg, "-j"))
			continue;
		else if (strcmp(arg, "--ascii") == 0)
			continue;
		else if (strcmp(arg, "-S") == 0 || strcmp(arg, "--short-filename") == 0)
			options.short_filename = true;
		else if (strcmp(arg, "--verbose") == 0)
			options.verbose = true;
		else if (has_prefix(arg, "--verbose="))
			options.verbose = atoi(arg + strlen("--verbose=")) > 0;
		else if (strcmp(arg, "-l") == 0 || strcmp(arg, "--list") == 0)
			options.list = true;
		else if (strcmp(arg, "--ignore-warnings") == 0)
			options.ignore_warnings = true;
		else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			print_usage(stdout, argv[0]);
			return 1;
		} else {
			fprintf(stderr, "%s: unknown option '%s'\n", argv[0], arg);
			print_usage(stderr, argv[0]);
			return -1;
		}
	}
	return 0;
}

static bool is_selected(const bl__criterion_test_t *test)
{
	char path[512];

	if (options.filter == NULL)
		return true;
	snprintf(path, sizeof path, "%s/%s", test->suite, test->name);
	return fnmatch(options.filter, path, 0) == 0;
}

int main(int argc, char **argv)
{
	size_t counts[3] = {0};
	size_t selected = 0;
	int rc = parse_options(argc, argv);

	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	runner_thread = pthread_self();

	for (const bl__criterion_test_t *test = tests; test != NULL; test = test->next) {
		if (!is_selected(test))
			continue;
		selected++;
		if (options.list)
			printf("%s/%s\n", test->suite, test->name);
		else
			counts[run_test(test)]++;
	}
	if (options.list)
		return EXIT_SUCCESS;

	if (selected == 0) {
		fprintf(stderr, "[SKIP] no test matches --filter=%s; --list prints the test names\n",
			options.filter != NULL ? options.filter : "*");
		return EXIT_SKIPPED;
	}
	fprintf(stderr, "[====] tested %zu: %zu passed, %zu failed, %zu skipped\n", selected,
		counts[OUTCOME_PASSED], counts[OUTCOME_FAILED], counts[OUTCOME_SKIPPED]);
	if (counts[OUTCOME_FAILED] > 0)
		return EXIT_FAILURE;
	if (counts[OUTCOME_PASSED] == 0)
		return EXIT_SKIPPED;
	if (atomic_load(&logged_warning) && !options.ignore_warnings) {
		fprintf(stderr, "[====] exit status 1: a test logged a warning or an error, which "
				"fails the run as in Criterion; --ignore-warnings allows it\n");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
