/*
 * Attempt numbers of deliveries that fail retryably, against a real
 * nats-server. The cases: pauses past ack_wait, kill -9 and a restart, two
 * instances on one consumer, and a tenant/id published again after its
 * dead letter. A dead letter lists attempts 1..max_attempts once each,
 * less any attempt lost with a killed engine. No job runs more than
 * max_attempts times.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve_harness.h"

/* A job that fails retryably on every attempt: a printf format taking its id and max_attempts. */
#define FAILING_SQL_JOB                                                                                     \
	"{\"id\":\"%s\",\"tenant\":\"acme\",\"block\":\"sql\",\"params\":{\"database\":\"pg\",\"sql\":\"SELECT " \
	"1\"},\"retry\":{\"max_attempts\":%d,\"backoff_ms\":50,\"max_backoff_ms\":100}}"

static void publish_failing(serve_harness_t *h, const char *id, int max_attempts)
{
	char job[512];
	snprintf(job, sizeof job, FAILING_SQL_JOB, id, max_attempts);
	serve_publish(h, "acme", job, NULL);
}

/* Count the lines of the log at `path` with `event` about acme/`id`. A job
 * module line names the job in corr_id, a serve module line in its id field. */
static int count_lines(const char *path, const char *event, const char *id)
{
	char by_corr_id[300], by_id[300], by_event[100];
	char *text = test_file_read(path);
	int n = 0;

	snprintf(by_corr_id, sizeof by_corr_id, "\"corr_id\":\"acme/%s\"", id);
	snprintf(by_id, sizeof by_id, "\"id\":\"%s\"", id);
	snprintf(by_event, sizeof by_event, "\"event\":\"%s\"", event);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, by_event) && (strstr(line, by_corr_id) || strstr(line, by_id)))
			n++;
	free(text);
	return n;
}

/* Check the `nth` dead letter of `id`: attempts_exhausted, and its
 * attempts list numbered 1..max_attempts with no repeat or gap. */
static void expect_numbered(serve_harness_t *h, const char *id, int nth, int max_attempts, const char *log)
{
	json_t *entry = serve_dead_letter_nth(h, id, nth);
	cr_assert_not_null(entry, "no dead letter %d for %s; log:\n%s", nth, id, log);
	json_t *attempts = json_object_get(entry, "attempts");
	char *text = json_dumps(entry, JSON_COMPACT);

	cr_expect_eq(json_array_size(attempts), (size_t)max_attempts, "%s: expected %d attempts: %s", id, max_attempts,
		     text);
	for (size_t i = 0; i < json_array_size(attempts); i++) {
		json_int_t number = json_integer_value(json_object_get(json_array_get(attempts, i), "attempt"));
		cr_expect_eq(number, (json_int_t)i + 1, "%s: attempt %zu is numbered %lld: %s", id, i + 1,
			     (long long)number, text);
	}
	free(text);
	json_decref(entry);
}

/* Stop the harness's server and close the silent listener `fd`. */
static void finish(serve_harness_t *h, int fd)
{
	serve_harness_fini(h);
	close(fd);
}

Test(serve_attempts, numbered_for_max_1_2_3, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	int fd = serve_harness_init_silent_postgres(&h, "", 300);
	serve_start(&h, &engine, "engine");

	publish_failing(&h, "a1", 1);
	publish_failing(&h, "a2", 2);
	publish_failing(&h, "a3", 3);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 3, 40000);
	char *log = test_file_read(engine.err_path);

	cr_assert_eq(n, 3, "expected 3 dead letters, got %llu; log:\n%s", (unsigned long long)n, log);
	expect_numbered(&h, "a1", 0, 1, log);
	expect_numbered(&h, "a2", 0, 2, log);
	expect_numbered(&h, "a3", 0, 3, log);
	const char *ids[] = {"a1", "a2", "a3"};
	for (int i = 0; i < 3; i++)
		cr_expect_eq(count_lines(engine.err_path, "job_failed", ids[i]), i + 1, "%s ran %d times; log:\n%s", ids[i],
			     count_lines(engine.err_path, "job_failed", ids[i]), log);
	free(log);

	serve_stop(&engine);
	finish(&h, fd);
}

/* The engine paused past ack_wait_ms twice while jobs with 2 and 3 attempts run. */
Test(serve_attempts, numbered_through_pauses, .timeout = 120)
{
	serve_harness_t h;
	engine_child_t engine;
	int fd = serve_harness_init_silent_postgres(&h, ", \"consumer\": {\"ack_wait_ms\": 600}", 1500);
	serve_start(&h, &engine, "engine");

	publish_failing(&h, "p2", 2);
	publish_failing(&h, "p3", 3);
	for (int i = 0; i < 2; i++) {
		sleep_ms(700);
		cr_assert_eq(kill(engine.pid, SIGSTOP), 0);
		sleep_ms(1500);
		cr_assert_eq(kill(engine.pid, SIGCONT), 0);
	}
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 2, 60000);
	char *log = test_file_read(engine.err_path);

	cr_assert_eq(n, 2, "expected 2 dead letters, got %llu; log:\n%s", (unsigned long long)n, log);
	expect_numbered(&h, "p2", 0, 2, log);
	expect_numbered(&h, "p3", 0, 3, log);
	cr_log_info("hand-backs of held jobs: p2 %d, p3 %d", count_lines(engine.err_path, "job_in_flight", "p2"),
		    count_lines(engine.err_path, "job_in_flight", "p3"));
	cr_expect_leq(count_lines(engine.err_path, "job_failed", "p2"), 2, "p2 ran more than 2 times; log:\n%s", log);
	cr_expect_leq(count_lines(engine.err_path, "job_failed", "p3"), 3, "p3 ran more than 3 times; log:\n%s", log);
	free(log);

	serve_stop(&engine);
	finish(&h, fd);
}

/* kill -9 while attempt 2 of 3 runs, then a new engine: the killed attempt
 * counts and has no record, so the dead letter lists attempts 1 and 3,
 * and no more than two attempts fail besides the killed one. */
Test(serve_attempts, numbered_after_kill_and_restart, .timeout = 120)
{
	serve_harness_t h;
	engine_child_t first, second;
	int fd = serve_harness_init_silent_postgres(&h, ", \"consumer\": {\"ack_wait_ms\": 1000}", 1500);
	serve_start(&h, &first, "first");

	publish_failing(&h, "k3", 3);
	free(wait_for_err(&first, "\"job_retry\"", 10000));
	sleep_ms(700); /* attempt 2 is connecting */
	kill(first.pid, SIGKILL);
	child_wait(&first, 5000);
	serve_start(&h, &second, "second");
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 1, 60000);
	char *log1 = test_file_read(first.err_path);
	char *log2 = test_file_read(second.err_path);

	cr_assert_eq(n, 1, "expected 1 dead letter; first log:\n%s\nsecond log:\n%s", log1, log2);
	json_t *entry = serve_dead_letter_nth(&h, "k3", 0);
	char *text = json_dumps(entry, JSON_COMPACT);
	int runs = count_lines(first.err_path, "job_failed", "k3") + count_lines(second.err_path, "job_failed", "k3");
	cr_expect_leq(runs, 2, "k3 failed %d times besides the killed attempt: %s\nfirst log:\n%s\nsecond log:\n%s", runs,
		      text, log1, log2);
	json_t *attempts = json_object_get(entry, "attempts");
	json_int_t last = 0;
	for (size_t i = 0; i < json_array_size(attempts); i++) {
		json_int_t number = json_integer_value(json_object_get(json_array_get(attempts, i), "attempt"));
		cr_expect_gt(number, last, "attempt numbers repeat or fall: %s", text);
		cr_expect_leq(number, 3, "an attempt is numbered past max_attempts: %s", text);
		last = number;
	}
	free(text);
	free(log1);
	free(log2);
	json_decref(entry);

	serve_stop(&second);
	finish(&h, fd);
}

/* Two instances on one consumer share four jobs of 3 attempts. */
Test(serve_attempts, numbered_with_two_instances, .timeout = 120)
{
	serve_harness_t h;
	engine_child_t one, two;
	int fd = serve_harness_init_silent_postgres(&h, "", 300);
	serve_start(&h, &one, "one");
	serve_start(&h, &two, "two");

	const char *ids[] = {"t1", "t2", "t3", "t4"};
	for (int i = 0; i < 4; i++)
		publish_failing(&h, ids[i], 3);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 4, 60000);
	char *log1 = test_file_read(one.err_path);
	char *log2 = test_file_read(two.err_path);

	cr_assert_eq(n, 4, "expected 4 dead letters; log one:\n%s\nlog two:\n%s", log1, log2);
	for (int i = 0; i < 4; i++) {
		expect_numbered(&h, ids[i], 0, 3, log1);
		int runs = count_lines(one.err_path, "job_failed", ids[i]) + count_lines(two.err_path, "job_failed", ids[i]);
		cr_expect_eq(runs, 3, "%s ran %d times", ids[i], runs);
	}
	free(log1);
	free(log2);

	serve_stop(&one);
	serve_stop(&two);
	finish(&h, fd);
}

/* The same tenant/id published again after its dead letter starts at attempt 1. */
Test(serve_attempts, republished_starts_at_one, .timeout = 90)
{
	serve_harness_t h;
	engine_child_t engine;
	int fd = serve_harness_init_silent_postgres(&h, "", 300);
	serve_start(&h, &engine, "engine");

	publish_failing(&h, "r", 2);
	cr_assert_eq(serve_wait_count(&h, "BEAMLINE_DLQ", 1, 30000), 1, "no first dead letter");
	publish_failing(&h, "r", 3);
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 2, 30000);
	char *log = test_file_read(engine.err_path);

	cr_assert_eq(n, 2, "expected 2 dead letters; log:\n%s", log);
	expect_numbered(&h, "r", 0, 2, log);
	expect_numbered(&h, "r", 1, 3, log);
	cr_expect_eq(count_lines(engine.err_path, "job_failed", "r"), 5, "r ran %d times in all",
		     count_lines(engine.err_path, "job_failed", "r"));
	free(log);

	serve_stop(&engine);
	finish(&h, fd);
}

/* Two instances on one consumer, and one of them paused past ack_wait_ms
 * twice while it runs jobs of 3 attempts. */
Test(serve_attempts, numbered_with_two_instances_one_paused, .timeout = 150)
{
	serve_harness_t h;
	engine_child_t one, two;
	int fd = serve_harness_init_silent_postgres(&h, ", \"consumer\": {\"ack_wait_ms\": 600}", 1000);
	serve_start(&h, &one, "one");
	serve_start(&h, &two, "two");

	char ids[12][16];
	for (int i = 0; i < 12; i++) {
		snprintf(ids[i], sizeof ids[i], "q%d", i);
		publish_failing(&h, ids[i], 3);
	}
	for (int i = 0; i < 2; i++) {
		sleep_ms(500);
		cr_assert_eq(kill(one.pid, SIGSTOP), 0);
		sleep_ms(1500);
		cr_assert_eq(kill(one.pid, SIGCONT), 0);
	}
	uint64_t n = serve_wait_count(&h, "BEAMLINE_DLQ", 12, 90000);
	char *log1 = test_file_read(one.err_path);
	char *log2 = test_file_read(two.err_path);

	cr_assert_eq(n, 12, "expected 12 dead letters; log one:\n%s\nlog two:\n%s", log1, log2);
	for (int i = 0; i < 12; i++) {
		json_t *entry = serve_dead_letter_nth(&h, ids[i], 0);
		char *text = json_dumps(json_object_get(entry, "attempts"), JSON_COMPACT);
		int runs = count_lines(one.err_path, "job_failed", ids[i]) + count_lines(two.err_path, "job_failed", ids[i]);
		cr_log_info("%s: %d runs, %s %s", ids[i], runs, json_string_value(json_object_get(entry, "reason")), text);
		cr_expect_leq(runs, 3, "%s ran %d times: %s", ids[i], runs, text);
		free(text);
		json_decref(entry);
	}
	free(log1);
	free(log2);

	serve_stop(&one);
	serve_stop(&two);
	finish(&h, fd);
}
