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
 * after a restart. Each slot also keeps a hash of tenant/id, so that a
 * floor does not apply to a message of a stream created again, whose
 * sequences start over.
 * NOTE: a redelivery that reaches another instance is numbered there by
 * the delivery count and the hand-backs bucket alone.
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "serve_ctx.h"

/* Number of slots (24 bytes each): the messages that can have a floor at once. */
#define FLOOR_SLOTS 1024

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

void bl__serve_floor_raise(serve_floors_t *f, uint64_t stream_seq, const char *tenant, const char *id,
			   unsigned next_attempt)
{
	uint64_t names = names_hash(tenant, id);
	serve_floor_t *slot = &f->slots[stream_seq % FLOOR_SLOTS];

	pthread_mutex_lock(&f->lock);
	bool same = slot->stream_seq == stream_seq && slot->names == names;
	if (!same || slot->next_attempt < next_attempt)
		*slot = (serve_floor_t){.stream_seq = stream_seq, .names = names, .next_attempt = next_attempt};
	pthread_mutex_unlock(&f->lock);
}

unsigned bl__serve_floor_get(serve_floors_t *f, uint64_t stream_seq, const char *tenant, const char *id)
{
	uint64_t names = names_hash(tenant, id);
	const serve_floor_t *slot = &f->slots[stream_seq % FLOOR_SLOTS];

	pthread_mutex_lock(&f->lock);
	unsigned next = slot->stream_seq == stream_seq && slot->names == names ? slot->next_attempt : 0;
	pthread_mutex_unlock(&f->lock);
	return next;
}
