#include <stdatomic.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include <beamline/sched.h>

#include "harness.h"

/*
 * Probes make every link and monitor call from their own handlers, as the
 * API requires. A probe that sends another the command to fail does so
 * after its link or monitor call, so the request is queued ahead of the
 * failure.
 *
 * Tests of something that must not happen use a one-worker pool. After
 * the other actor's stop callback, flush_worker() waits until that
 * activation has sent its exit notifications. A ping queued behind them
 * then proves that the probe handled them and is still alive.
 */

static void assert_rc(int rc, int expected, const char *call)
{
	cr_assert_eq(rc, expected, "%s returned %s (%d), expected %s (%d)", call, bl_err_name(rc), rc,
		     bl_err_name(expected), expected);
}

static void assert_event(const probe_event_t *event, uint32_t type, const bl_actor_t *actor, int reason)
{
	cr_assert_eq(event->type, type, "probe got message type %#x, expected %#x", event->type, type);
	cr_assert_eq(event->actor, actor, "message names actor %p, expected %p", (const void *)event->actor,
		     (const void *)actor);
	cr_assert_eq(event->reason, reason, "message carries reason %s (%d), expected %s (%d)",
		     bl_err_name(event->reason), event->reason, bl_err_name(reason), reason);
}

static void assert_stop_reason(probe_report_t *report, int expected, const char *actor_label)
{
	int reason = probe_await_stop(report);

	cr_assert_eq(reason, expected, "%s stopped with %s (%d), expected %s (%d)", actor_label,
		     bl_err_name(reason), reason, bl_err_name(expected), expected);
}

static uint32_t event_count(probe_report_t *report)
{
	return atomic_load(&report->event_count);
}

/* ------------------------------------------------------------------------ */
/* Exit propagation                                                          */
/* ------------------------------------------------------------------------ */

/* A links to B and B fails: A does not trap exits, so it terminates with
 * BL_ELINKED while B keeps its own reason. */
Test(sched_link, failure_of_linked_actor_kills_linker, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");

	probe_run(a, &a_report, PROBE_TELL_FAIL, b);

	assert_stop_reason(&b_report, TEST_FAILURE, "B");
	assert_stop_reason(&a_report, BL_ELINKED, "A");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* The link works the other way too: A links to B and A fails, so B
 * terminates with BL_ELINKED. */
Test(sched_link, failure_of_linker_kills_linked_actor, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");

	probe_run(a, &a_report, PROBE_FAIL, NULL);

	assert_stop_reason(&a_report, TEST_FAILURE, "A");
	assert_stop_reason(&b_report, BL_ELINKED, "B");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* A normal exit is not a failure: B stops normally, and A, linked to it and
 * not trapping exits, still handles a ping afterwards. */
Test(sched_link, normal_exit_spares_linked_actor, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");

	probe_run(a, &a_report, PROBE_TELL_FINISH, b);
	assert_stop_reason(&b_report, 0, "B");
	flush_worker(pool);
	int ping = probe_run(a, &a_report, PROBE_PING, NULL);

	assert_rc(ping, 0, "pinging A after B's normal exit");
	bl_actor_stop(a);
	assert_stop_reason(&a_report, 0, "A");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* A trapping actor receives the failure of a linked actor as a BL_MSG_EXIT
 * naming that actor and its reason, and keeps running. */
Test(sched_link, trapping_actor_receives_exit_with_reason, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &trapping_probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");

	probe_run(a, &a_report, PROBE_TELL_FAIL, b);
	const probe_event_t *exit_event = probe_await_event(&a_report, 0);

	assert_event(exit_event, BL_MSG_EXIT, b, TEST_FAILURE);
	assert_rc(probe_run(a, &a_report, PROBE_PING, NULL), 0, "pinging the trapping actor");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* A trapping actor also receives BL_MSG_EXIT for a linked actor's normal
 * exit, with reason 0. A supervisor relies on it to restart a permanent
 * child. */
Test(sched_link, trapping_actor_sees_normal_exit, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &trapping_probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");

	probe_run(a, &a_report, PROBE_TELL_FINISH, b);
	const probe_event_t *exit_event = probe_await_event(&a_report, 0);

	assert_event(exit_event, BL_MSG_EXIT, b, 0);
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* bl_actor_kill counts as a failure for links: a trapping linked actor
 * gets BL_MSG_EXIT with the kill reason, -4242, a code the runtime never
 * uses. */
Test(sched_link, kill_reason_reaches_linked_actor, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &trapping_probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");

	/* A acknowledged after its link call, so the link request is ahead of
	 * the kill in B's mailbox. */
	bl_actor_kill(b, -4242);
	const probe_event_t *exit_event = probe_await_event(&a_report, 0);

	assert_event(exit_event, BL_MSG_EXIT, b, -4242);
	assert_stop_reason(&b_report, -4242, "B");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Unlink                                                                    */
/* ------------------------------------------------------------------------ */

/* After A unlinks B, B's failure no longer reaches A. A sends B the command
 * to fail after the unlink, so B handles the unlink first and no exit is
 * in flight when it fails. */
Test(sched_link, unlinked_actor_failure_does_not_propagate, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");
	probe_run(a, &a_report, PROBE_UNLINK, b);

	probe_run(a, &a_report, PROBE_TELL_FAIL, b);
	assert_stop_reason(&b_report, TEST_FAILURE, "B");
	flush_worker(pool);
	int ping = probe_run(a, &a_report, PROBE_PING, NULL);

	assert_rc(ping, 0, "pinging A after the unlinked B failed");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* Unlinking also protects the other side: A unlinks B and then fails, and
 * B still handles a ping. */
Test(sched_link, unlinking_actor_failure_does_not_propagate, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);
	assert_rc(probe_run(a, &a_report, PROBE_LINK, b), 0, "bl_actor_link");
	probe_run(a, &a_report, PROBE_UNLINK, b);

	probe_run(a, &a_report, PROBE_FAIL, NULL);
	assert_stop_reason(&a_report, TEST_FAILURE, "A");
	flush_worker(pool);
	int ping = probe_run(b, &b_report, PROBE_PING, NULL);

	assert_rc(ping, 0, "pinging B after the unlinked A failed");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Monitors                                                                  */
/* ------------------------------------------------------------------------ */

/* A monitor gets exactly one BL_MSG_DOWN with the failure reason and is
 * not itself terminated: after the flush, a ping finds one event. */
Test(sched_link, monitor_receives_one_down_with_reason, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t m_report, t_report;
	bl_actor_t *m = spawn_probe(pool, &probe_behaviour, &m_report);
	bl_actor_t *t = spawn_probe(pool, &probe_behaviour, &t_report);
	assert_rc(probe_run(m, &m_report, PROBE_MONITOR, t), 0, "bl_actor_monitor");

	probe_run(m, &m_report, PROBE_TELL_FAIL, t);
	const probe_event_t *down = probe_await_event(&m_report, 0);
	flush_worker(pool);
	int ping = probe_run(m, &m_report, PROBE_PING, NULL);

	assert_event(down, BL_MSG_DOWN, t, TEST_FAILURE);
	assert_rc(ping, 0, "pinging the monitor");
	cr_assert_eq(event_count(&m_report), 1, "monitor got %u messages, expected one BL_MSG_DOWN",
		     event_count(&m_report));
	bl_actor_release(&m);
	bl_actor_release(&t);
	bl_runtime_free(&rt);
}

/* A normal exit also produces one BL_MSG_DOWN, with reason 0. */
Test(sched_link, monitor_receives_down_for_normal_exit, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t m_report, t_report;
	bl_actor_t *m = spawn_probe(pool, &probe_behaviour, &m_report);
	bl_actor_t *t = spawn_probe(pool, &probe_behaviour, &t_report);
	assert_rc(probe_run(m, &m_report, PROBE_MONITOR, t), 0, "bl_actor_monitor");

	probe_run(m, &m_report, PROBE_TELL_FINISH, t);
	const probe_event_t *down = probe_await_event(&m_report, 0);
	flush_worker(pool);
	probe_run(m, &m_report, PROBE_PING, NULL);

	assert_event(down, BL_MSG_DOWN, t, 0);
	cr_assert_eq(event_count(&m_report), 1, "monitor got %u messages, expected one BL_MSG_DOWN",
		     event_count(&m_report));
	bl_actor_release(&m);
	bl_actor_release(&t);
	bl_runtime_free(&rt);
}

/* Monitoring an actor that already terminated delivers its BL_MSG_DOWN,
 * with the reason it terminated with, once and without further action. */
Test(sched_link, monitoring_terminated_actor_delivers_down_at_once, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t m_report, t_report;
	bl_actor_t *m = spawn_probe(pool, &probe_behaviour, &m_report);
	bl_actor_t *t = spawn_probe(pool, &probe_behaviour, &t_report);
	probe_run(t, &t_report, PROBE_FAIL, NULL);
	assert_stop_reason(&t_report, TEST_FAILURE, "the target");
	flush_worker(pool);

	int rc = probe_run(m, &m_report, PROBE_MONITOR, t);
	const probe_event_t *down = probe_await_event(&m_report, 0);
	flush_worker(pool);
	probe_run(m, &m_report, PROBE_PING, NULL);

	assert_rc(rc, 0, "bl_actor_monitor on a terminated actor");
	assert_event(down, BL_MSG_DOWN, t, TEST_FAILURE);
	cr_assert_eq(event_count(&m_report), 1, "monitor got %u messages, expected one BL_MSG_DOWN",
		     event_count(&m_report));
	bl_actor_release(&m);
	bl_actor_release(&t);
	bl_runtime_free(&rt);
}

/* Linking to an actor that already failed delivers its exit at once: a
 * trapping linker gets BL_MSG_EXIT with the failure reason. */
Test(sched_link, linking_terminated_actor_delivers_exit_at_once, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t a_report, t_report;
	bl_actor_t *a = spawn_probe(pool, &trapping_probe_behaviour, &a_report);
	bl_actor_t *t = spawn_probe(pool, &probe_behaviour, &t_report);
	probe_run(t, &t_report, PROBE_FAIL, NULL);
	assert_stop_reason(&t_report, TEST_FAILURE, "the target");
	flush_worker(pool);

	int rc = probe_run(a, &a_report, PROBE_LINK, t);
	const probe_event_t *exit_event = probe_await_event(&a_report, 0);

	assert_rc(rc, 0, "bl_actor_link on a terminated actor");
	assert_event(exit_event, BL_MSG_EXIT, t, TEST_FAILURE);
	bl_actor_release(&a);
	bl_actor_release(&t);
	bl_runtime_free(&rt);
}

/* The same late link from an actor that does not trap exits terminates
 * that actor with BL_ELINKED. */
Test(sched_link, linking_failed_actor_kills_linker, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t a_report, t_report;
	bl_actor_t *a = spawn_probe(pool, &probe_behaviour, &a_report);
	bl_actor_t *t = spawn_probe(pool, &probe_behaviour, &t_report);
	probe_run(t, &t_report, PROBE_FAIL, NULL);
	assert_stop_reason(&t_report, TEST_FAILURE, "the target");
	flush_worker(pool);

	int rc = probe_run(a, &a_report, PROBE_LINK, t);

	assert_rc(rc, 0, "bl_actor_link on a terminated actor");
	assert_stop_reason(&a_report, BL_ELINKED, "the linker");
	bl_actor_release(&a);
	bl_actor_release(&t);
	bl_runtime_free(&rt);
}

/* After demonitor, the target's failure sends no BL_MSG_DOWN. The monitor
 * sends the target the command to fail after demonitoring, so no DOWN is
 * in flight. */
Test(sched_link, demonitor_cancels_down, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(1, &pool);
	probe_report_t m_report, t_report;
	bl_actor_t *m = spawn_probe(pool, &probe_behaviour, &m_report);
	bl_actor_t *t = spawn_probe(pool, &probe_behaviour, &t_report);
	assert_rc(probe_run(m, &m_report, PROBE_MONITOR, t), 0, "bl_actor_monitor");
	probe_run(m, &m_report, PROBE_DEMONITOR, t);

	probe_run(m, &m_report, PROBE_TELL_FAIL, t);
	assert_stop_reason(&t_report, TEST_FAILURE, "the target");
	flush_worker(pool);
	probe_run(m, &m_report, PROBE_PING, NULL);

	cr_assert_eq(event_count(&m_report), 0, "monitor got %u messages after demonitor, expected none",
		     event_count(&m_report));
	bl_actor_release(&m);
	bl_actor_release(&t);
	bl_runtime_free(&rt);
}

/* ------------------------------------------------------------------------ */
/* Calls outside the caller's own handler                                    */
/* ------------------------------------------------------------------------ */

/* Link and monitor must be called from self's handler: from the test
 * thread, and from a handler of another actor than `self`, they return
 * BL_EINVAL. */
Test(sched_link, link_outside_own_handler_returns_einval, .timeout = TEST_TIMEOUT_S)
{
	bl_pool_t *pool;
	bl_runtime_t *rt = start_runtime(2, &pool);
	probe_report_t a_report, b_report;
	bl_actor_t *a = spawn_probe(pool, &probe_behaviour, &a_report);
	bl_actor_t *b = spawn_probe(pool, &probe_behaviour, &b_report);

	int link_outside = bl_actor_link(a, b);
	int monitor_outside = bl_actor_monitor(a, b);
	int link_as_other = probe_run(a, &a_report, PROBE_LINK_AS_TARGET, b);
	int monitor_as_other = probe_run(a, &a_report, PROBE_MONITOR_AS_TARGET, b);

	assert_rc(link_outside, BL_EINVAL, "bl_actor_link from the test thread");
	assert_rc(monitor_outside, BL_EINVAL, "bl_actor_monitor from the test thread");
	assert_rc(link_as_other, BL_EINVAL, "bl_actor_link(B, A) from A's handler");
	assert_rc(monitor_as_other, BL_EINVAL, "bl_actor_monitor(B, A) from A's handler");
	bl_actor_release(&a);
	bl_actor_release(&b);
	bl_runtime_free(&rt);
}
