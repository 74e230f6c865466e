/*
 * The NATS layer's connection events as structured log records. The layer
 * itself does not log; the service mode passes this function as
 * bl_nats_config_t.on_event.
 */
#ifndef BL_ENGINE_NATS_EVENTS_H
#define BL_ENGINE_NATS_EVENTS_H

#include <beamline/nats.h>

/*
 * Log one connection event: module "nats", event "nats_disconnected",
 * "nats_reconnected", "nats_closed" or "nats_async_error", with the server
 * URL, the library's reason and the reconnection count. Disconnections and
 * asynchronous errors are warnings, the others info. `arg` is unused.
 * Called on a cnats thread; it only formats and queues the record.
 */
void bl_engine_log_nats_event(const bl_nats_event_t *event, void *arg);

#endif
