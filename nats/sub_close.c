/*
 * Ending a subscription while the connection may still deliver to it.
 *
 * cnats 3.4.1 (Debian 12) has a race, fixed in 3.6.0 (nats.c pull
 * request 638). Its read loop looks a subscription up, lets go of the
 * connection's lock, then locks the subscription. A subscription that
 * another thread unsubscribes and destroys in between is used after it
 * was freed. A KV watch that replaced its consumer after a
 * nats-server restart crashed the engine this way under AddressSanitizer.
 *
 * So a subscription is unsubscribed first, then the connection is
 * flushed: the read loop handles messages in order, so once it has
 * handled the PONG, no message for the subscription is still being
 * handled, and later ones no longer find it. Only then is it destroyed.
 * Without a connection, or when the flush fails, it is kept until
 * bl_nats_free, which destroys it after the connection is closed and the
 * read loop has stopped. A flush while disconnected would wait out the
 * whole timeout for each subscription, which would slow a shutdown while
 * the server is down.
 *
 * NOTE: kept subscriptions stay until the connection is freed, so a
 * process that lives through many outages keeps a few hundred bytes for
 * each subscription it ended during one (a KV watch ends one per reset).
 */
#include <stdlib.h>

#include "internal.h"

/* Keep `sub` for bl_nats_free; destroy it now when there is no room. */
static void retire(bl_nats_t *nats, natsSubscription *sub)
{
	pthread_mutex_lock(&nats->lock);
	if (nats->retired_count == nats->retired_cap) {
		size_t cap = nats->retired_cap ? nats->retired_cap * 2 : 8;
		natsSubscription **grown = realloc(nats->retired, cap * sizeof *grown);
		if (grown) {
			nats->retired = grown;
			nats->retired_cap = cap;
		}
	}
	bool stored = nats->retired_count < nats->retired_cap;
	if (stored)
		nats->retired[nats->retired_count++] = sub;
	pthread_mutex_unlock(&nats->lock);

	/* NOTE: without memory to keep it, the subscription is destroyed
	 * now, and the race above stays possible for it. */
	if (!stored)
		natsSubscription_Destroy(sub);
}

void bl_nats_subscription_close(bl_nats_t *nats, void *subscription)
{
	natsSubscription *sub = subscription;
	if (!sub)
		return;

	natsSubscription_Unsubscribe(sub);
	int64_t timeout_ms = nats->request_timeout_ms > 0 ? nats->request_timeout_ms : 1000;
	if (bl_nats_is_connected(nats) && natsConnection_FlushTimeout(nats->conn, timeout_ms) == NATS_OK)
		natsSubscription_Destroy(sub);
	else
		retire(nats, sub);
}

void bl__nats_destroy_retired(bl_nats_t *nats)
{
	for (size_t i = 0; i < nats->retired_count; i++)
		natsSubscription_Destroy(nats->retired[i]);
	free(nats->retired);
	nats->retired = NULL;
	nats->retired_count = 0;
	nats->retired_cap = 0;
}
