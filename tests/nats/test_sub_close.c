/*
 * bl_nats_subscription_close ends subscriptions that are still receiving:
 * many times over while another connection floods their subject, and once
 * while the server is down, when the subscription is kept until the
 * connection is freed. The debug build runs these under AddressSanitizer
 * and LeakSanitizer, which report a use after free or a subscription that
 * is never destroyed.
 */
#include <criterion/criterion.h>
#include <nats/nats.h>
#include <stdatomic.h>

#include "fixture.h"

#define FLOOD_SUBJECT "flood.x"

/* A publisher to FLOOD_SUBJECT on a connection of its own, until `stop`. */
typedef struct flood {
	pthread_t thread;
	bl_nats_t *nats;
	atomic_bool stop;
} flood_t;

static void *flood_main(void *arg)
{
	flood_t *f = arg;
	natsConnection *conn = bl_nats_raw(f->nats);

	while (!atomic_load(&f->stop))
		natsConnection_PublishString(conn, FLOOD_SUBJECT, "x");
	return NULL;
}

Test(nats_sub_close, closes_while_messages_arrive, .fini = fixture_stop, .timeout = 60)
{
	FIXTURE_START();
	bl_nats_t *nats = fixture_connect();
	flood_t flood = {.nats = fixture_connect()};
	cr_assert_eq(pthread_create(&flood.thread, NULL, flood_main, &flood), 0);

	int received = 0;
	for (int round = 0; round < 200; round++) {
		natsSubscription *sub = NULL;
		cr_assert_eq(natsConnection_SubscribeSync(&sub, bl_nats_raw(nats), FLOOD_SUBJECT), NATS_OK);
		natsMsg *msg = NULL;
		if (natsSubscription_NextMsg(&msg, sub, 1000) == NATS_OK)
			received++;
		natsMsg_Destroy(msg);
		bl_nats_subscription_close(nats, sub);
	}

	atomic_store(&flood.stop, true);
	pthread_join(flood.thread, NULL);
	cr_assert_gt(received, 100, "only %d of 200 subscriptions saw a message, so little was in flight",
		     received);
	bl_nats_free(flood.nats);
	bl_nats_free(nats);
}

Test(nats_sub_close, keeps_subscription_while_server_is_down, .fini = fixture_stop, .timeout = 60)
{
	FIXTURE_START();
	const char *urls[] = {fixture_server.url};
	bl_nats_config_t config = {
		.urls = urls,
		.nurls = 1,
		.max_reconnects = -1,
		.reconnect_wait_ms = 50,
		.reconnect_wait_max_ms = 200,
		.request_timeout_ms = 300,
	};
	bl_nats_t *nats = NULL;
	bl_nats_error_t err = {0};
	cr_assert_eq(bl_nats_connect(&nats, &config, &err), 0, "%s", err.error.message);
	natsSubscription *sub = NULL;
	cr_assert_eq(natsConnection_SubscribeSync(&sub, bl_nats_raw(nats), "idle.x"), NATS_OK);

	cr_assert_eq(bl_test_nats_stop(&fixture_server), 0, "%s", fixture_server.error);
	for (int i = 0; i < 100 && bl_nats_is_connected(nats); i++)
		fixture_sleep_ms(20);
	cr_assert_not(bl_nats_is_connected(nats), "still connected 2 s after the server stopped");
	long long start = fixture_now_ms();
	bl_nats_subscription_close(nats, sub);
	long long waited = fixture_now_ms() - start;

	cr_assert_lt(waited, 100, "closing without a connection took %lld ms; it must not wait for a flush",
		     waited);
	bl_nats_free(nats);
}
