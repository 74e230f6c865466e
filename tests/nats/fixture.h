/*
 * What the NATS tests share: a real nats-server per test, a connection to
 * it, and the streams and consumer of the engine's contract in small.
 */
#ifndef BL_TEST_NATS_FIXTURE_H
#define BL_TEST_NATS_FIXTURE_H

#include <errno.h>
#include <pthread.h>

#include <beamline/js.h>
#include <beamline/kv.h>
#include <beamline/nats.h>

#include "../support/nats_server.h"

/* The server of the running test; stopped by fixture_stop (the tests' .fini). */
extern bl_test_nats_server_t fixture_server;

/* Start fixture_server, skipping the test when nats-server is not installed. */
#define FIXTURE_START()                                                                                         \
	do {                                                                                                    \
		int fixture_rc_ = bl_test_nats_start(&fixture_server);                                          \
		if (fixture_rc_ == -ENOENT)                                                                     \
			cr_skip_test("skipped: %s", fixture_server.error);                                      \
		cr_assert_eq(fixture_rc_, 0, "cannot start nats-server: %s", fixture_server.error);            \
	} while (0)

/* Stop the server and remove its folder; safe when it never started. */
void fixture_stop(void);

/* Connect to fixture_server; fails the test on error. */
bl_nats_t *fixture_connect(void);

/* A work-queue stream "JOBS" on "jobs.>" and a durable pull consumer "worker" with `ack_wait_ms`. */
void fixture_jobs_stream(bl_nats_t *nats, int64_t ack_wait_ms);

/* Publish `count` messages "job-<i>" to "jobs.t", each with Nats-Msg-Id "id-<first + i>". */
void fixture_publish_jobs(bl_nats_t *nats, int first, int count);

/* Monotonic milliseconds. */
long long fixture_now_ms(void);

void fixture_sleep_ms(long ms);

/* An action run on a thread of its own after a delay, for changes that must happen while the
 * test's thread waits. */
typedef struct fixture_later {
	pthread_t thread;
	long delay_ms;
	void (*action)(void *arg);
	void *arg;
} fixture_later_t;

/* Start `action(arg)` after `delay_ms` on a new thread; fails the test when it cannot. */
void fixture_later_start(fixture_later_t *later, long delay_ms, void (*action)(void *arg), void *arg);

/* Wait for the action to have run. */
void fixture_later_join(fixture_later_t *later);

#endif
