/*
 * Attempt floors: for each message this instance NAKed, the lowest attempt
 * number its next delivery may take.
 *
 * The attempt number is the server's delivery count less the deliveries
 * handed back (serve_ingress.c). That count is not always right in
 * nats-server 2.9.10, which Debian 12 ships. Upstream fixed counts that
 * did not grow, or went back to 1, after a delivery the server took for
 * failed (nats-server pull requests 5305 and 5338, April 2024). With the
 * count alone, two attempts take the same number and the job runs once
 * more than its max_attempts. The floor set here when the delivery was
 * NAKed keeps the numbers rising on this instance.
 *
 * The floors are a fixed array indexed by stream sequence. A message whose
 * slot another message took since falls back to the delivery count, as
 * after a restart. Each slot also keeps a hash of tenant/id, and a floor
 * expires FLOOR_MARGIN_MS after its NAK's delay. A stream created again
 * numbers its messages from 1, and its messages get no floor of the old
 * stream unless one has the same tenant/id and comes before that.
 * NOTE: a redelivery that reaches another instance, or comes later than
 * that, is numbered by the delivery count and the hand-backs bucket alone.
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "serve_ctx.h"

/* Number of slots (32 bytes each): the messages that can have a floor at once. */
#define FLOOR_SLOTS 1024

/* How long a floor lasts after its NAK's delay: a redelivery comes then,
 * unless this instance's in-flight table is full. */
#define FLOOR_MARGIN_MS 30000

int bl__serve_floors_init(serve_floors_t *f)
{
	f->slots = calloc(FLOOR_SLOTS, sizeof *f->slots);
	if (!f->slots)
		return BL_ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	return 0;
}

void bl__serve_floors_destroy(serve_floors_t *f)
{
	if (!f->slots)
		return;
	free(f->slots);
	f->slots = NULL;
	pthread_mutex_destroy(&f->lock);
}

static uint64_t names_hash(const char *tenant, const char *id)
{
	uint64_t h = bl__hash_bytes(BL_HASH_INIT, tenant, strlen(tenant) + 1);
	return bl__hash_bytes(h, id, strlen(id));
}

/* Whether `slot` contains a floor of this message that has not expired by `now_ms`. */
static bool applies(const serve_floor_t *slot, uint64_t stream_seq, uint64_t names, uint64_t now_ms)
{
	return slot->stream_seq == stream_seq && slot->names == names && now_ms < slot->expires_ms;
}

void bl__serve_floor_raise(serve_floors_t *f, uint64_t stream_seq, const char *tenant, const char *id,
			   unsigned next_attempt, uint64_t nak_delay_ms, uint64_t now_ms)
{
	uint64_t names = names_hash(tenant, id);
	serve_floor_t *slot = &f->slots[stream_seq % FLOOR_SLOTS];
	serve_floor_t floor = {.stream_seq = stream_seq,
			       .names = names,
			       .next_attempt = next_attempt,
			       .expires_ms = now_ms + nak_delay_ms + FLOOR_MARGIN_MS};

	pthread_mutex_lock(&f->lock);
	if (applies(slot, stream_seq, names, now_ms) && slot->next_attempt > next_attempt)
		floor.next_attempt = slot->next_attempt;
	*slot = floor;
	pthread_mutex_unlock(&f->lock);
}

unsigned bl__serve_floor_get(serve_floors_t *f, uint64_t stream_seq, const char *tenant, const char *id,
			     uint64_t now_ms)
{
	uint64_t names = names_hash(tenant, id);
	const serve_floor_t *slot = &f->slots[stream_seq % FLOOR_SLOTS];

	pthread_mutex_lock(&f->lock);
	unsigned next = applies(slot, stream_seq, names, now_ms) ? slot->next_attempt : 0;
	pthread_mutex_unlock(&f->lock);
	return next;
}
