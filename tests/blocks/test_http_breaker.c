/*
 * The per-host circuit breaker as a state machine on a clock the test
 * controls: closed, open after N failures within the window, one trial
 * when half-open, closed on success, open again on failure. Then many
 * threads at once against one half-open breaker.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "http_breaker.h"

static const http_breaker_config_t config = {.failures = 3, .window_ms = 1000, .cooldown_ms = 500};

static http_breakers_t *make(void)
{
	http_breakers_t *set = NULL;
	cr_assert_eq(http_breakers_new(&set, &config, 16), 0);
	return set;
}

static void fail_at(http_breakers_t *set, const char *host, uint64_t now)
{
	http_breaker_pass_t pass = http_breakers_acquire(set, host, now, NULL);
	cr_assert_neq(pass, HTTP_BREAKER_REFUSE, "a request at %llu ms was refused", (unsigned long long)now);
	http_breakers_record(set, host, pass, HTTP_BREAKER_FAILURE, now);
}

/* Three failures within 1 s open the breaker, for that host only. It
 * rejects requests for the 500 ms cool-down and reports the time left. */
Test(blocks_http_breaker, opens_after_failures_within_window)
{
	http_breakers_t *set = make();
	uint64_t wait = 0;

	fail_at(set, "a:80", 0);
	fail_at(set, "a:80", 400);
	cr_assert_eq(http_breakers_acquire(set, "a:80", 500, NULL), HTTP_BREAKER_ALLOW, "two failures keep it closed");
	fail_at(set, "a:80", 900);

	cr_assert_eq(http_breakers_acquire(set, "a:80", 1000, &wait), HTTP_BREAKER_REFUSE);
	cr_assert_eq(wait, 400, "expected 400 ms left of the cool-down, got %llu", (unsigned long long)wait);
	cr_assert_eq(http_breakers_acquire(set, "b:80", 1000, NULL), HTTP_BREAKER_ALLOW, "other hosts are unaffected");
	http_breakers_free(&set);
}

/* Failures spread wider than the window never open it. */
Test(blocks_http_breaker, failures_outside_window_do_not_open)
{
	http_breakers_t *set = make();

	fail_at(set, "a:80", 0);
	fail_at(set, "a:80", 600);
	fail_at(set, "a:80", 1200); /* the oldest of the last three is 1200 ms old */
	fail_at(set, "a:80", 1700); /* 1100 ms since 600 */

	cr_assert_eq(http_breakers_acquire(set, "a:80", 1800, NULL), HTTP_BREAKER_ALLOW);
	http_breakers_free(&set);
}

static void open_at_zero(http_breakers_t *set)
{
	fail_at(set, "a:80", 0);
	fail_at(set, "a:80", 0);
	fail_at(set, "a:80", 0);
}

/* After the cool-down exactly one trial passes; while it runs every other
 * request is refused; its success closes the breaker. */
Test(blocks_http_breaker, half_open_trial_success_closes)
{
	http_breakers_t *set = make();
	open_at_zero(set);

	http_breaker_pass_t trial = http_breakers_acquire(set, "a:80", 500, NULL);
	http_breaker_pass_t other = http_breakers_acquire(set, "a:80", 510, NULL);
	http_breakers_record(set, "a:80", trial, HTTP_BREAKER_SUCCESS, 520);

	cr_assert_eq(trial, HTTP_BREAKER_TRIAL);
	cr_assert_eq(other, HTTP_BREAKER_REFUSE);
	cr_assert_eq(http_breakers_acquire(set, "a:80", 530, NULL), HTTP_BREAKER_ALLOW);
	/* Closed again with its failures forgotten: two more keep it closed. */
	fail_at(set, "a:80", 540);
	fail_at(set, "a:80", 550);
	cr_assert_eq(http_breakers_acquire(set, "a:80", 560, NULL), HTTP_BREAKER_ALLOW);
	http_breakers_free(&set);
}

/* A failed trial opens the breaker for another full cool-down. */
Test(blocks_http_breaker, half_open_trial_failure_reopens)
{
	http_breakers_t *set = make();
	uint64_t wait = 0;
	open_at_zero(set);

	http_breaker_pass_t trial = http_breakers_acquire(set, "a:80", 600, NULL);
	http_breakers_record(set, "a:80", trial, HTTP_BREAKER_FAILURE, 700);

	cr_assert_eq(trial, HTTP_BREAKER_TRIAL);
	cr_assert_eq(http_breakers_acquire(set, "a:80", 1100, &wait), HTTP_BREAKER_REFUSE);
	cr_assert_eq(wait, 100);
	cr_assert_eq(http_breakers_acquire(set, "a:80", 1200, NULL), HTTP_BREAKER_TRIAL);
	http_breakers_free(&set);
}

/* A trial that ends without a verdict (cancelled) hands the slot back. */
Test(blocks_http_breaker, neutral_trial_frees_the_slot)
{
	http_breakers_t *set = make();
	open_at_zero(set);

	http_breaker_pass_t trial = http_breakers_acquire(set, "a:80", 500, NULL);
	http_breakers_record(set, "a:80", trial, HTTP_BREAKER_NEUTRAL, 510);

	cr_assert_eq(http_breakers_acquire(set, "a:80", 520, NULL), HTTP_BREAKER_TRIAL);
	http_breakers_free(&set);
}

/* Late verdicts of requests let through while closed do not move an open
 * breaker. */
Test(blocks_http_breaker, stale_verdicts_are_ignored)
{
	http_breakers_t *set = make();
	open_at_zero(set);

	http_breakers_record(set, "a:80", HTTP_BREAKER_ALLOW, HTTP_BREAKER_SUCCESS, 100);

	cr_assert_eq(http_breakers_acquire(set, "a:80", 200, NULL), HTTP_BREAKER_REFUSE);
	http_breakers_free(&set);
}

/* A full table reuses the slot of a host with no recent failures, and a
 * table full of live hosts lets an untracked host through. */
Test(blocks_http_breaker, full_table_reuses_idle_slots)
{
	http_breakers_t *set = NULL;
	cr_assert_eq(http_breakers_new(&set, &config, 2), 0);

	fail_at(set, "a:80", 0);
	fail_at(set, "b:80", 0);
	fail_at(set, "c:80", 100); /* table full of live hosts: untracked */
	fail_at(set, "c:80", 100);
	fail_at(set, "c:80", 100);
	cr_assert_eq(http_breakers_acquire(set, "c:80", 100, NULL), HTTP_BREAKER_ALLOW);

	fail_at(set, "c:80", 5000); /* a and b are idle by now */
	fail_at(set, "c:80", 5000);
	fail_at(set, "c:80", 5000);
	cr_assert_eq(http_breakers_acquire(set, "c:80", 5001, NULL), HTTP_BREAKER_REFUSE);
	http_breakers_free(&set);
}

Test(blocks_http_breaker, bad_config_is_refused)
{
	http_breakers_t *set = NULL;
	http_breaker_config_t zero = {.failures = 0, .window_ms = 1, .cooldown_ms = 1};

	cr_assert_eq(http_breakers_new(&set, &zero, 4), BL_EINVAL);
	cr_assert_null(set);
}

typedef struct race {
	http_breakers_t *set;
	atomic_int trials;
	atomic_int refused;
} race_t;

static void *acquire_once(void *arg)
{
	race_t *r = arg;
	http_breaker_pass_t pass = http_breakers_acquire(r->set, "a:80", 1000, NULL);
	if (pass == HTTP_BREAKER_TRIAL)
		atomic_fetch_add(&r->trials, 1);
	else if (pass == HTTP_BREAKER_REFUSE)
		atomic_fetch_add(&r->refused, 1);
	return NULL;
}

/* Sixteen threads at once against a half-open breaker: one trial, fifteen
 * refusals. */
Test(blocks_http_breaker, one_trial_among_racing_threads, .timeout = 30)
{
	race_t r = {.set = make()};
	pthread_t threads[16];
	open_at_zero(r.set);

	for (int i = 0; i < 16; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, acquire_once, &r), 0);
	for (int i = 0; i < 16; i++)
		pthread_join(threads[i], NULL);

	cr_assert_eq(atomic_load(&r.trials), 1, "expected 1 trial, got %d", atomic_load(&r.trials));
	cr_assert_eq(atomic_load(&r.refused), 15);
	http_breakers_free(&r.set);
}
