#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "fixture.h"

bl_test_nats_server_t fixture_server;

void fixture_stop(void)
{
	bl_test_nats_cleanup(&fixture_server);
}

bl_nats_t *fixture_connect(void)
{
	const char *urls[] = {fixture_server.url};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .name = "beamline-test"};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};

	int rc = bl_nats_connect(&nats, &config, &err);

	cr_assert_eq(rc, 0, "cannot connect to %s: %s", fixture_server.url, err.error.message);
	return nats;
}

void fixture_jobs_stream(bl_nats_t *nats, int64_t ack_wait_ms)
{
	const char *subjects[] = {"jobs.>"};
	bl_js_stream_config_t stream = {
		.name = "JOBS",
		.subjects = subjects,
		.nsubjects = 1,
		.retention = BL_JS_RETENTION_WORKQUEUE,
		.storage = BL_JS_STORAGE_FILE,
	};
	bl_js_consumer_config_t consumer = {
		.stream = "JOBS",
		.durable = "worker",
		.ack_wait_ns = ack_wait_ms * 1000000,
	};
	bl_nats_error_t err = {0};

	int rc = bl_js_stream_ensure(nats, &stream, NULL, &err);
	cr_assert_geq(rc, 0, "stream: %s", err.error.message);
	rc = bl_js_consumer_ensure(nats, &consumer, NULL, &err);
	cr_assert_geq(rc, 0, "consumer: %s", err.error.message);
}

void fixture_publish_jobs(bl_nats_t *nats, int first, int count)
{
	for (int i = 0; i < count; i++) {
		char id[32], body[32];
		snprintf(id, sizeof id, "id-%d", first + i);
		snprintf(body, sizeof body, "job-%d", first + i);
		bl_js_publish_opts_t opts = {.msg_id = id};
		bl_nats_error_t err = {0};

		int rc = bl_js_publish(nats, "jobs.t", body, strlen(body), &opts, NULL, &err);

		cr_assert_eq(rc, 0, "publish %s: %s", id, err.error.message);
	}
}

long long fixture_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fixture_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void *run_later(void *arg)
{
	fixture_later_t *later = arg;
	fixture_sleep_ms(later->delay_ms);
	later->action(later->arg);
	return NULL;
}

void fixture_later_start(fixture_later_t *later, long delay_ms, void (*action)(void *arg), void *arg)
{
	later->delay_ms = delay_ms;
	later->action = action;
	later->arg = arg;
	cr_assert_eq(pthread_create(&later->thread, NULL, run_later, later), 0, "cannot start a thread");
}

void fixture_later_join(fixture_later_t *later)
{
	pthread_join(later->thread, NULL);
}
