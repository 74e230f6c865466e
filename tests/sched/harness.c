#include "harness.h"

#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

bl_runtime_t *start_runtime(unsigned workers, bl_pool_t **pool)
{
	bl_runtime_t *rt = NULL;
	bl_pool_config_t cfg;

	int rc = bl_runtime_new(&rt);
	cr_assert_eq(rc, 0, "bl_runtime_new returned %s (%d), expected 0", bl_err_name(rc), rc);

	bl_pool_config_init(&cfg);
	cfg.workers = workers;
	/* Binding would add nothing here, and CI machines may have fewer cores
	 * than a test has workers. */
	cfg.pin_workers = false;
	rc = bl_runtime_add_pool(rt, &cfg, pool);
	cr_assert_eq(rc, 0, "bl_runtime_add_pool returned %s (%d), expected 0", bl_err_name(rc), rc);
	return rt;
}

void await_latch(bl_latch_t *latch, const char *awaited)
{
	int rc = bl_latch_wait_for(latch, AWAIT_MS);

	cr_assert_eq(rc, 0, "timed out after %u ms waiting for %s", AWAIT_MS, awaited);
}

static void count_down_task(void *arg)
{
	bl_latch_count_down(arg);
}

void flush_worker(bl_pool_t *pool)
{
	bl_latch_t ran;

	cr_assert_eq(bl_pool_worker_count(pool), 1, "flush_worker needs a one-worker pool, got %u workers",
		     bl_pool_worker_count(pool));
	bl_latch_init(&ran, 1);
	int rc = bl_pool_submit(pool, count_down_task, &ran);
	cr_assert_eq(rc, 0, "bl_pool_submit returned %s (%d), expected 0", bl_err_name(rc), rc);
	await_latch(&ran, "the flush task");
}

int send_ptr(bl_actor_t *to, uint32_t type, const void *ptr)
{
	bl_msg_t *msg = bl_msg_new(type, sizeof ptr);
	if (!msg)
		return BL_ENOMEM;

	memcpy(bl_msg_payload(msg), &ptr, sizeof ptr);
	return bl_send(to, &msg);
}

void *msg_ptr(bl_msg_t *msg)
{
	void *ptr;

	memcpy(&ptr, bl_msg_payload(msg), sizeof ptr);
	return ptr;
}

int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Probe actor                                                               */
/* ------------------------------------------------------------------------ */

typedef struct probe_state {
	probe_report_t *report;
} probe_state_t;

/* Payload of a command. `report` is NULL when one probe sends a command to
 * another, because no test thread waits for that one. */
typedef struct probe_order {
	bl_actor_t *target;
	probe_report_t *report;
} probe_order_t;

static int send_order(bl_actor_t *to, enum probe_command command, bl_actor_t *target, probe_report_t *report)
{
	bl_msg_t *msg = bl_msg_new(command, sizeof(probe_order_t));
	if (!msg)
		return BL_ENOMEM;

	probe_order_t order = {.target = target, .report = report};
	memcpy(bl_msg_payload(msg), &order, sizeof order);
	return bl_send(to, &msg);
}

static void record_event(probe_report_t *report, uint32_t type, const bl_exit_info_t *info)
{
	uint32_t k = atomic_load_explicit(&report->event_count, memory_order_relaxed);
	if (k >= PROBE_EVENTS_MAX)
		return;

	report->events[k] = (probe_event_t){.type = type, .actor = info->actor, .reason = info->reason};
	atomic_store_explicit(&report->event_count, k + 1, memory_order_relaxed);
	bl_latch_count_down(&report->events_seen[k]);
}

/* Run `command` and return what its call returned. */
static int run_order(bl_actor_t *self, enum probe_command command, bl_actor_t *target)
{
	switch (command) {
	case PROBE_PING:
		return 0;
	case PROBE_LINK:
		return bl_actor_link(self, target);
	case PROBE_UNLINK:
		bl_actor_unlink(self, target);
		return 0;
	case PROBE_MONITOR:
		return bl_actor_monitor(self, target);
	case PROBE_DEMONITOR:
		bl_actor_demonitor(self, target);
		return 0;
	case PROBE_LINK_AS_TARGET:
		return bl_actor_link(target, self);
	case PROBE_MONITOR_AS_TARGET:
		return bl_actor_monitor(target, self);
	case PROBE_TELL_FAIL:
		return send_order(target, PROBE_FAIL, NULL, NULL);
	case PROBE_TELL_FINISH:
		return send_order(target, PROBE_FINISH, NULL, NULL);
	case PROBE_FAIL:
		return TEST_FAILURE;
	case PROBE_FINISH:
		bl_actor_stop(self);
		return 0;
	}
	return BL_EINVAL;
}

static int probe_receive(bl_actor_t *self, void *state, bl_msg_t *msg)
{
	probe_state_t *s = state;

	if (msg->type == BL_MSG_EXIT || msg->type == BL_MSG_DOWN) {
		record_event(s->report, msg->type, bl_msg_payload(msg));
		return 0;
	}

	probe_order_t order;
	memcpy(&order, bl_msg_payload(msg), sizeof order);
	enum probe_command command = (enum probe_command)msg->type;
	int rc = run_order(self, command, order.target);
	if (order.report) {
		order.report->command_rc = rc;
		bl_latch_count_down(&order.report->acked);
	}
	return command == PROBE_FAIL ? rc : 0;
}

static void probe_stop(bl_actor_t *self, void *state, int reason)
{
	probe_state_t *s = state;
	(void)self;

	s->report->stop_reason = reason;
	bl_latch_count_down(&s->report->stopped);
}

/* A command that reached a terminated probe still opens the waiting test's latch. */
static void probe_discard(bl_msg_t *msg)
{
	probe_order_t order;

	memcpy(&order, bl_msg_payload(msg), sizeof order);
	if (order.report) {
		order.report->command_rc = BL_EDEAD;
		bl_latch_count_down(&order.report->acked);
	}
}

const bl_behaviour_t probe_behaviour = {
	.name = "probe",
	.receive = probe_receive,
	.stop = probe_stop,
	.discard = probe_discard,
};

const bl_behaviour_t trapping_probe_behaviour = {
	.name = "trapping_probe",
	.receive = probe_receive,
	.stop = probe_stop,
	.discard = probe_discard,
	.flags = BL_BEHAVIOUR_TRAP_EXIT,
};

bl_actor_t *spawn_probe(bl_pool_t *pool, const bl_behaviour_t *behaviour, probe_report_t *report)
{
	bl_actor_t *probe = NULL;

	memset(report, 0, sizeof *report);
	bl_latch_init(&report->acked, 1);
	bl_latch_init(&report->stopped, 1);
	atomic_init(&report->event_count, 0);
	for (uint32_t k = 0; k < PROBE_EVENTS_MAX; k++)
		bl_latch_init(&report->events_seen[k], 1);

	probe_state_t state = {.report = report};
	int rc = bl_actor_spawn(&probe, pool, behaviour, &state, sizeof state);
	cr_assert_eq(rc, 0, "spawning a probe returned %s (%d), expected 0", bl_err_name(rc), rc);
	return probe;
}

int probe_run(bl_actor_t *probe, probe_report_t *report, enum probe_command command, bl_actor_t *target)
{
	/* The previous command's ack was awaited, so nothing else touches the
	 * latch while it is armed again. */
	bl_latch_init(&report->acked, 1);
	int rc = send_order(probe, command, target, report);
	cr_assert(rc == 0 || rc == BL_EDEAD, "sending probe command %#x returned %s (%d)", (unsigned)command,
		  bl_err_name(rc), rc);

	await_latch(&report->acked, "the probe's command");
	return report->command_rc;
}

const probe_event_t *probe_await_event(probe_report_t *report, uint32_t index)
{
	cr_assert_lt(index, PROBE_EVENTS_MAX, "probe records only %u events, asked for event %u",
		     PROBE_EVENTS_MAX, index);
	await_latch(&report->events_seen[index], "a BL_MSG_EXIT or BL_MSG_DOWN at the probe");
	return &report->events[index];
}

int probe_await_stop(probe_report_t *report)
{
	await_latch(&report->stopped, "the probe's stop callback");
	return report->stop_reason;
}
