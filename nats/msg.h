/*
 * Internal to the NATS client layer: a delivered JetStream message.
 */
#ifndef BL_NATS_MSG_H
#define BL_NATS_MSG_H

#include <stdbool.h>

#include <beamline/js.h>

#include "internal.h"

struct bl_js_msg {
	natsMsg *msg;
	bl_nats_t *nats;
	bl_js_meta_t meta;
	/* Set by a final ack (ack, nak, term); in_progress may repeat. */
	bool acked;
	/* The reply subject's tokens, which `meta` points into. */
	char meta_buf[];
};

/*
 * Wrap `*msg` (taken: *msg is set to NULL on success) with its metadata.
 * Returns 0, BL_EFORMAT when its reply subject is not a JetStream ack
 * subject (the message stays with the caller), or BL_ENOMEM.
 */
int bl__js_msg_new(bl_js_msg_t **out, bl_nats_t *nats, natsMsg **msg);

#endif
