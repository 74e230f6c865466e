/*
 * Helpers shared by the test suites of the public runtime API. They start a
 * runtime and wait on latches with a deadline. A probe actor runs commands
 * sent by the test thread, because link, monitor and their inverses must be
 * called from a handler.
 *
 * Handlers never call Criterion's assertions: they run on worker threads,
 * where a failed assertion cannot end the test. They record what they saw,
 * and the test thread asserts after a latch orders the records before it.
 */
#ifndef BL_TESTS_SCHED_HARNESS_H
#define BL_TESTS_SCHED_HARNESS_H

#include <stdatomic.h>
#include <stdint.h>

#include <beamline/sched.h>

/* Criterion's per-test limit. Every test starts worker threads. */
#define TEST_TIMEOUT_S 60

/* How long a latch wait may take before the test fails as hung. It is below
 * TEST_TIMEOUT_S, so the failure message names what was awaited. */
#define AWAIT_MS 30000u

#define NS_PER_MS INT64_C(1000000)

/* A failure reason that the runtime itself never uses. */
#define TEST_FAILURE (-71) /* -EPROTO */

/*
 * Create a runtime with one CPU pool of `workers` unpinned workers and the
 * default batch. The test fails if either step fails. Returns the runtime
 * (free with bl_runtime_free) and the pool in *pool.
 */
bl_runtime_t *start_runtime(unsigned workers, bl_pool_t **pool);

/* Wait for `latch` to open. The test fails after AWAIT_MS, naming `awaited`. */
void await_latch(bl_latch_t *latch, const char *awaited);

/*
 * Wait until the only worker of the one-worker `pool` has finished every
 * activation it started before this call, by running a task behind them.
 * What those activations sent is then queued in its targets' mailboxes.
 */
void flush_worker(bl_pool_t *pool);

/* Send a message of `type` whose payload is the pointer `ptr`. */
int send_ptr(bl_actor_t *to, uint32_t type, const void *ptr);

/* Read the pointer payload of a message built by send_ptr(). */
void *msg_ptr(bl_msg_t *msg);

/* Nanoseconds on CLOCK_MONOTONIC, the clock the runtime's timers use. */
int64_t monotonic_ns(void);

/* ------------------------------------------------------------------------ */
/* Probe actor                                                               */
/* ------------------------------------------------------------------------ */

/* Commands the probe runs in its handler. Each message names a target actor. */
enum probe_command {
	PROBE_PING = 0x100,      /* nothing: proves the probe is alive */
	PROBE_LINK,              /* bl_actor_link(self, target) */
	PROBE_UNLINK,            /* bl_actor_unlink(self, target) */
	PROBE_MONITOR,           /* bl_actor_monitor(self, target) */
	PROBE_DEMONITOR,         /* bl_actor_demonitor(self, target) */
	PROBE_LINK_AS_TARGET,    /* bl_actor_link(target, self): target is not running */
	PROBE_MONITOR_AS_TARGET, /* bl_actor_monitor(target, self) */
	PROBE_TELL_FAIL,         /* send PROBE_FAIL to target */
	PROBE_TELL_FINISH,       /* send PROBE_FINISH to target */
	PROBE_FAIL,              /* return TEST_FAILURE from the handler */
	PROBE_FINISH,            /* bl_actor_stop(self) */
};

#define PROBE_EVENTS_MAX 8u

/* A BL_MSG_EXIT or BL_MSG_DOWN as the probe's receive callback saw it. */
typedef struct probe_event {
	uint32_t type;
	const bl_actor_t *actor; /* compared, never dereferenced */
	int reason;
} probe_event_t;

/* What one probe saw. Lives on the test's stack and outlives the probe. */
typedef struct probe_report {
	/* Opened once per command, by the handler or, for a command that
	 * reached a terminated probe, by the discard callback. */
	bl_latch_t acked;
	int command_rc;

	/* Opened by the stop callback. */
	bl_latch_t stopped;
	int stop_reason;

	/* events_seen[k] opens when events[k] is recorded. */
	uint32_t _Atomic event_count;
	probe_event_t events[PROBE_EVENTS_MAX];
	bl_latch_t events_seen[PROBE_EVENTS_MAX];
} probe_report_t;

/* A probe that terminates with BL_ELINKED when a linked actor fails. */
extern const bl_behaviour_t probe_behaviour;
/* A probe that traps exits: it records BL_MSG_EXIT and keeps running. */
extern const bl_behaviour_t trapping_probe_behaviour;

/* Spawn a probe on `pool` that records into `report`. The test fails if
 * the spawn fails. Returns one owned reference. */
bl_actor_t *spawn_probe(bl_pool_t *pool, const bl_behaviour_t *behaviour, probe_report_t *report);

/*
 * Send `command` to `probe` and wait until it ran. Returns what the call
 * made by the command returned (0 for calls without a result), or BL_EDEAD
 * when the probe had terminated and the command was discarded.
 */
int probe_run(bl_actor_t *probe, probe_report_t *report, enum probe_command command, bl_actor_t *target);

/* Wait for the probe's event number `index` (from 0) and return it. */
const probe_event_t *probe_await_event(probe_report_t *report, uint32_t index);

/* Wait for the probe's stop callback and return the reason it was given. */
int probe_await_stop(probe_report_t *report);

#endif
