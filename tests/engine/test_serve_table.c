/*
 * The service mode's table of jobs in flight. A cancel that comes before
 * the job went to the dispatcher is kept for the job's submitter to send,
 * once. One that comes after is sent at once.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "serve_ctx.h"

static serve_table_t table;

static void setup(void)
{
	cr_assert_eq(bl__serve_table_init(&table, 4), 0);
}

static void teardown(void)
{
	bl__serve_table_destroy(&table);
}

static uint64_t add_job(const char *tenant, const char *id)
{
	serve_job_t job = {0};
	snprintf(job.tenant, sizeof job.tenant, "%s", tenant);
	snprintf(job.id, sizeof job.id, "%s", id);
	int64_t ticket = bl__serve_table_add(&table, &job);
	cr_assert_gt(ticket, 0);
	return (uint64_t)ticket;
}

TestSuite(engine_serve_table, .init = setup, .fini = teardown);

Test(engine_serve_table, cancel_before_submit_waits_for_submitter)
{
	uint64_t ticket = add_job("acme", "j1");

	cr_assert_eq(bl__serve_table_cancel(&table, "acme", "j1"), SERVE_CANCEL_LATER);
	cr_assert(bl__serve_table_submitted(&table, ticket), "the submitter is told to send the cancel");
	cr_assert_not(bl__serve_table_submitted(&table, ticket), "and told once");
}

Test(engine_serve_table, cancel_after_submit_is_sent_now)
{
	uint64_t ticket = add_job("acme", "j1");

	cr_assert_not(bl__serve_table_submitted(&table, ticket), "no cancel came");
	cr_assert_eq(bl__serve_table_cancel(&table, "acme", "j1"), SERVE_CANCEL_NOW);
	cr_assert_not(bl__serve_table_submitted(&table, ticket), "a sent cancel is not kept for the submitter");
}

Test(engine_serve_table, cancel_of_absent_job)
{
	uint64_t ticket = add_job("acme", "j1");
	serve_job_t removed;

	cr_assert_eq(bl__serve_table_cancel(&table, "acme", "j2"), SERVE_CANCEL_ABSENT);
	cr_assert_eq(bl__serve_table_cancel(&table, "beta", "j1"), SERVE_CANCEL_ABSENT);
	cr_assert(bl__serve_table_take(&table, ticket, &removed));
	cr_assert_eq(bl__serve_table_cancel(&table, "acme", "j1"), SERVE_CANCEL_ABSENT, "a taken job is gone");
	cr_assert_not(bl__serve_table_submitted(&table, ticket), "nor does its ticket find a slot");
}

Test(engine_serve_table, pending_cancel_stays_with_its_job)
{
	uint64_t first = add_job("acme", "j1");
	uint64_t second = add_job("acme", "j2");

	cr_assert_eq(bl__serve_table_cancel(&table, "acme", "j2"), SERVE_CANCEL_LATER);
	cr_assert_not(bl__serve_table_submitted(&table, first), "the other job has no cancel");
	cr_assert(bl__serve_table_submitted(&table, second));
}
