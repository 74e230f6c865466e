#include "nats_events.h"

#include "log.h"

void bl_engine_log_nats_event(const bl_nats_event_t *event, void *arg)
{
	(void)arg;
	bool degraded = event->kind == BL_NATS_EVENT_DISCONNECTED || event->kind == BL_NATS_EVENT_ERROR;
	bl_log_level_t level = degraded ? BL_LOG_WARN : BL_LOG_INFO;

	BL_LOG(level, "nats", bl_nats_event_name(event->kind), NULL, NULL, BL_LOG_S("url", event->url),
	       BL_LOG_S("reason", event->reason), BL_LOG_I("reconnects", event->reconnects));
}
