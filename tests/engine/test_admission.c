#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"

typedef struct fixture {
	bl_quota_table_t *quotas;
	bl_admission_t *adm;
	bl_admission_entry_t *entries;
	size_t used;
} fixture_t;

/* A table with the given tenants and weights, every other quota generous. */
static fixture_t setup(const char *const *tenants, const uint32_t *weights, size_t n, uint64_t ageing_ms)
{
	fixture_t f = {0};
	f.quotas = bl_quota_table_default();
	f.quotas->default_quota.max_concurrent = 1000000;
	f.quotas->default_quota.max_queued = 1000000;
	f.quotas->entries = calloc(n, sizeof *f.quotas->entries);
	for (size_t i = 0; i < n; i++) {
		f.quotas->entries[i].tenant = strdup(tenants[i]);
		f.quotas->entries[i].quota = f.quotas->default_quota;
		f.quotas->entries[i].quota.weight = weights[i];
	}
	f.quotas->count = n;

	bl_admission_config_t cfg;
	bl_admission_config_init(&cfg);
	cfg.ageing_ms = ageing_ms;
	cr_assert_eq(bl_admission_new(&f.adm, &cfg, f.quotas), 0);
	f.entries = calloc(100000, sizeof *f.entries);
	return f;
}

static void teardown(fixture_t *f)
{
	bl_admission_free(&f->adm);
	bl_quota_table_free(&f->quotas);
	free(f->entries);
}

/* Queue one job; the entry's `job` field carries the tenant name back. */
static bl_admission_entry_t *enqueue(fixture_t *f, const char *tenant, bl_priority_t p, uint64_t now)
{
	bl_admission_entry_t *e = &f->entries[f->used++];
	e->job = (void *)(uintptr_t)tenant;
	e->priority = p;
	int rc = bl_admission_enqueue(f->adm, e, tenant, now, NULL);
	cr_assert_eq(rc, 0, "enqueue for %s failed with %d", tenant, rc);
	return e;
}

/* Under saturation, tenants with weights 3 and 1 are served 3:1: of 400
 * picks from 400 queued jobs each, deficit round robin gives 300 and 100. */
Test(engine_admission, weights_share_throughput, .timeout = 10)
{
	static const char *const names[] = {"heavy", "light"};
	static const uint32_t weights[] = {3, 1};
	fixture_t f = setup(names, weights, 2, 1000000);
	for (int i = 0; i < 400; i++) {
		enqueue(&f, "heavy", BL_PRIORITY_NORMAL, 0);
		enqueue(&f, "light", BL_PRIORITY_NORMAL, 0);
	}
	int heavy = 0, light = 0;

	for (int i = 0; i < 400; i++) {
		bl_admission_entry_t *e = bl_admission_next(f.adm, 1);
		cr_assert_not_null(e, "pick %d found nothing", i);
		if (strcmp(e->job, "heavy") == 0)
			heavy++;
		else
			light++;
		bl_admission_finish(f.adm, e, 0, 1);
	}

	cr_assert_eq(heavy, 300, "heavy got %d of 400 picks, expected 300", heavy);
	cr_assert_eq(light, 100, "light got %d of 400 picks, expected 100", light);
	teardown(&f);
}

/* Within one tenant, classes go strictly by priority: critical, high,
 * normal, low, whatever the order they were queued in. */
Test(engine_admission, priority_classes_in_order, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	bl_admission_entry_t *low = enqueue(&f, "t", BL_PRIORITY_LOW, 0);
	bl_admission_entry_t *normal = enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);
	bl_admission_entry_t *high = enqueue(&f, "t", BL_PRIORITY_HIGH, 0);
	bl_admission_entry_t *critical = enqueue(&f, "t", BL_PRIORITY_CRITICAL, 0);

	bl_admission_entry_t *order[4];
	for (int i = 0; i < 4; i++)
		order[i] = bl_admission_next(f.adm, 0);

	cr_assert_eq(order[0], critical, "critical must go first");
	cr_assert_eq(order[1], high, "high must go second");
	cr_assert_eq(order[2], normal, "normal must go third");
	cr_assert_eq(order[3], low, "low must go last");
	teardown(&f);
}

/* Ageing, 100 ms per class: a low job queued at 0 competes as normal at
 * 150 ms and loses to high jobs queued at 100 ms; at 300 ms it competes as
 * critical, as do those high jobs by then, and as the older job it wins. */
Test(engine_admission, low_ages_past_a_flood_of_high, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 100);
	bl_admission_entry_t *low = enqueue(&f, "t", BL_PRIORITY_LOW, 0);
	for (int i = 0; i < 1000; i++)
		enqueue(&f, "t", BL_PRIORITY_HIGH, 100);

	bl_admission_entry_t *at_150 = bl_admission_next(f.adm, 150);
	bl_admission_finish(f.adm, at_150, 0, 150);
	bl_admission_entry_t *at_300 = bl_admission_next(f.adm, 300);

	cr_assert_neq(at_150, low, "at 150 ms the low job competes as normal and must wait");
	cr_assert_eq(at_150->priority, BL_PRIORITY_HIGH, "at 150 ms a high job must go first");
	cr_assert_eq(at_300, low, "at 300 ms the low job competes as critical and is the oldest: it must go first");
	teardown(&f);
}

/* A tenant over max_queued gets its next job rejected with a message that
 * names the quota; other tenants are not affected. */
Test(engine_admission, max_queued_rejects_with_reason, .timeout = 10)
{
	static const char *const names[] = {"small", "other"};
	static const uint32_t weights[] = {1, 1};
	fixture_t f = setup(names, weights, 2, 1000);
	f.quotas->entries[0].quota.max_queued = 2;
	bl_admission_free(&f.adm);
	bl_admission_config_t cfg;
	bl_admission_config_init(&cfg);
	cr_assert_eq(bl_admission_new(&f.adm, &cfg, f.quotas), 0);
	enqueue(&f, "small", BL_PRIORITY_NORMAL, 0);
	enqueue(&f, "small", BL_PRIORITY_NORMAL, 0);
	bl_admission_entry_t extra = {.priority = BL_PRIORITY_NORMAL};
	bl_error_t err = {0};

	int rc = bl_admission_enqueue(f.adm, &extra, "small", 0, &err);

	cr_assert_eq(rc, BL_ELIMIT, "expected BL_ELIMIT, got %d", rc);
	cr_assert(strstr(err.message, "max_queued"), "message must name the quota: %s", err.message);
	enqueue(&f, "other", BL_PRIORITY_NORMAL, 0);
	teardown(&f);
}

/* max_concurrent 2: a third job waits until one of the two finishes. */
Test(engine_admission, max_concurrent_holds_jobs_back, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000);
	f.quotas->entries[0].quota.max_concurrent = 2;
	bl_admission_free(&f.adm);
	bl_admission_config_t cfg;
	bl_admission_config_init(&cfg);
	cr_assert_eq(bl_admission_new(&f.adm, &cfg, f.quotas), 0);
	for (int i = 0; i < 3; i++)
		enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);

	bl_admission_entry_t *a = bl_admission_next(f.adm, 0);
	bl_admission_entry_t *b = bl_admission_next(f.adm, 0);
	bl_admission_entry_t *c = bl_admission_next(f.adm, 0);
	bl_admission_finish(f.adm, a, 0, 1);
	bl_admission_entry_t *after = bl_admission_next(f.adm, 1);

	cr_assert_not_null(b, "the second job must start");
	cr_assert_null(c, "the third job must wait while two run");
	cr_assert_not_null(after, "the third job must start once one finished");
	teardown(&f);
}

/* cpu_ms_per_s 100: a job that used 150 ms leaves the budget at -50 ms, so
 * the next job waits until the budget is positive again, 500 ms later at
 * 100 ms per second. */
Test(engine_admission, cpu_budget_delays_next_job, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	f.quotas->entries[0].quota.cpu_ms_per_s = 100;
	bl_admission_free(&f.adm);
	bl_admission_config_t cfg;
	bl_admission_config_init(&cfg);
	cr_assert_eq(bl_admission_new(&f.adm, &cfg, f.quotas), 0);
	enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);
	enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);

	bl_admission_entry_t *first = bl_admission_next(f.adm, 0);
	bl_admission_finish(f.adm, first, 150, 0);
	bl_admission_entry_t *too_early = bl_admission_next(f.adm, 400);
	uint64_t refill = bl_admission_next_refill(f.adm, 400);
	bl_admission_entry_t *in_time = bl_admission_next(f.adm, refill);

	cr_assert_null(too_early, "at 400 ms the budget is still spent");
	cr_assert(refill >= 500 && refill <= 502, "refill expected at about 500 ms, got %llu", (unsigned long long)refill);
	cr_assert_not_null(in_time, "at the refill time the job must start");
	teardown(&f);
}

/* mem_bytes 1000: a job estimated at 2000 bytes is rejected outright; two
 * of 600 bytes cannot run together. */
Test(engine_admission, mem_quota_rejects_and_holds, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000);
	f.quotas->entries[0].quota.mem_bytes = 1000;
	bl_admission_free(&f.adm);
	bl_admission_config_t cfg;
	bl_admission_config_init(&cfg);
	cr_assert_eq(bl_admission_new(&f.adm, &cfg, f.quotas), 0);
	bl_admission_entry_t huge = {.priority = BL_PRIORITY_NORMAL, .mem_estimate = 2000};
	bl_error_t err = {0};

	int rc = bl_admission_enqueue(f.adm, &huge, "t", 0, &err);
	bl_admission_entry_t *a = &f.entries[f.used++], *b = &f.entries[f.used++];
	a->mem_estimate = b->mem_estimate = 600;
	bl_admission_enqueue(f.adm, a, "t", 0, NULL);
	bl_admission_enqueue(f.adm, b, "t", 0, NULL);
	bl_admission_entry_t *first = bl_admission_next(f.adm, 0);
	bl_admission_entry_t *second = bl_admission_next(f.adm, 0);

	cr_assert_eq(rc, BL_ELIMIT, "expected BL_ELIMIT for the oversized job, got %d", rc);
	cr_assert(strstr(err.message, "mem_bytes"), "message must name the quota: %s", err.message);
	cr_assert_not_null(first, "the first 600-byte job must start");
	cr_assert_null(second, "the second must wait: 1200 bytes exceed the quota");
	teardown(&f);
}

/* With unknown tenants rejected, a tenant the table does not name is
 * refused, and the message names it. */
Test(engine_admission, unknown_tenant_rejected_when_configured, .timeout = 10)
{
	static const char *const names[] = {"known"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000);
	f.quotas->reject_unknown = true;
	bl_admission_entry_t e = {.priority = BL_PRIORITY_NORMAL};
	bl_error_t err = {0};

	int rc = bl_admission_enqueue(f.adm, &e, "stranger", 0, &err);

	cr_assert_eq(rc, BL_ELIMIT, "expected BL_ELIMIT, got %d", rc);
	cr_assert(strstr(err.message, "stranger"), "message must name the tenant: %s", err.message);
	teardown(&f);
}

/* A removed job is never handed out. */
Test(engine_admission, removed_job_never_runs, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000);
	bl_admission_entry_t *a = enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);
	bl_admission_entry_t *b = enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);

	bool removed = bl_admission_remove(f.adm, a);
	bl_admission_entry_t *next = bl_admission_next(f.adm, 0);
	bl_admission_entry_t *none = bl_admission_next(f.adm, 0);

	cr_assert(removed, "the queued job must be removable");
	cr_assert_eq(next, b, "the remaining job must be next");
	cr_assert_null(none, "nothing else is queued");
	teardown(&f);
}

/* ------------------------------------------------------------------------ */
/* Quotas changed at run time                                                */
/* ------------------------------------------------------------------------ */

/* A quota equal to the fixture's default, to change one field at a time. */
static bl_quota_t generous(const fixture_t *f)
{
	return f->quotas->default_quota;
}

/* Lowering max_concurrent below the running count stops no running job:
 * with 3 running and the limit at 2, nothing starts until two finish (one
 * left running, so a 4th starts), and raising it to 10 starts the 5th at
 * once although 2 run. */
Test(engine_admission, live_max_concurrent_lowered, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	for (int i = 0; i < 5; i++)
		enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);
	bl_admission_entry_t *running[3];
	for (int i = 0; i < 3; i++)
		running[i] = bl_admission_next(f.adm, 0);
	bl_quota_t q = generous(&f);
	q.max_concurrent = 2;

	int rc = bl_admission_set_quota(f.adm, "t", &q, 0, NULL, NULL);
	bl_admission_entry_t *held = bl_admission_next(f.adm, 0);
	bl_admission_finish(f.adm, running[0], 0, 0);
	bl_admission_entry_t *still_held = bl_admission_next(f.adm, 0);
	bl_admission_finish(f.adm, running[1], 0, 0);
	bl_admission_entry_t *started = bl_admission_next(f.adm, 0);

	cr_assert_eq(rc, 0, "set_quota returned %d", rc);
	cr_assert_eq(bl_admission_running(f.adm), 2, "expected 2 running, got %zu", bl_admission_running(f.adm));
	cr_assert_null(held, "3 running against a limit of 2: nothing may start");
	cr_assert_null(still_held, "2 running against a limit of 2: nothing may start");
	cr_assert_not_null(started, "1 running against a limit of 2: one job must start");

	q.max_concurrent = 10;
	cr_assert_eq(bl_admission_set_quota(f.adm, "t", &q, 0, NULL, NULL), 0);
	cr_assert_not_null(bl_admission_next(f.adm, 0), "raised to 10: the 5th job must start");
	cr_assert_eq(bl_admission_queued(f.adm), 0, "expected nothing queued, got %zu", bl_admission_queued(f.adm));
	teardown(&f);
}

/* Lowering max_queued below the queue keeps the 5 queued jobs (all still
 * start) and rejects the next one with the new limit in the message. */
Test(engine_admission, live_max_queued_lowered, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	for (int i = 0; i < 5; i++)
		enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);
	bl_quota_t q = generous(&f);
	q.max_queued = 2;
	bl_admission_entry_t extra = {.priority = BL_PRIORITY_NORMAL};
	bl_error_t err = {0};

	cr_assert_eq(bl_admission_set_quota(f.adm, "t", &q, 0, NULL, NULL), 0);
	int rc = bl_admission_enqueue(f.adm, &extra, "t", 0, &err);

	cr_assert_eq(rc, BL_ELIMIT, "expected BL_ELIMIT, got %d", rc);
	cr_assert(strstr(err.message, "max_queued is 2"), "message must give the new limit: %s", err.message);
	cr_assert_eq(bl_admission_queued(f.adm), 5, "the 5 queued jobs stay, got %zu", bl_admission_queued(f.adm));
	for (int i = 0; i < 5; i++)
		cr_assert_not_null(bl_admission_next(f.adm, 0), "queued job %d must still start", i);
	teardown(&f);
}

/* A new weight applies to the next turns: equal weights changed to 3:1
 * before any pick give 300 and 100 of 400 picks, as a table with 3:1. */
Test(engine_admission, live_weight_changes_share, .timeout = 10)
{
	static const char *const names[] = {"heavy", "light"};
	static const uint32_t weights[] = {1, 1};
	fixture_t f = setup(names, weights, 2, 1000000);
	for (int i = 0; i < 400; i++) {
		enqueue(&f, "heavy", BL_PRIORITY_NORMAL, 0);
		enqueue(&f, "light", BL_PRIORITY_NORMAL, 0);
	}
	bl_quota_t q = generous(&f);
	q.weight = 3;
	int heavy = 0;

	cr_assert_eq(bl_admission_set_quota(f.adm, "heavy", &q, 0, NULL, NULL), 0);
	for (int i = 0; i < 400; i++) {
		bl_admission_entry_t *e = bl_admission_next(f.adm, 1);
		cr_assert_not_null(e, "pick %d found nothing", i);
		heavy += strcmp(e->job, "heavy") == 0;
		bl_admission_finish(f.adm, e, 0, 1);
	}

	cr_assert_eq(heavy, 300, "heavy got %d of 400 picks, expected 300", heavy);
	teardown(&f);
}

/* A CPU budget set at run time holds the tenant back once spent: 100 ms
 * per second, charged 200 ms, leaves a debt of 100 ms, so nothing starts
 * at once; lifting the limit (0) starts the next job at once. */
Test(engine_admission, live_cpu_budget_set_and_lifted, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);
	enqueue(&f, "t", BL_PRIORITY_NORMAL, 0);
	bl_quota_t q = generous(&f);
	q.cpu_ms_per_s = 100;

	cr_assert_eq(bl_admission_set_quota(f.adm, "t", &q, 0, NULL, NULL), 0);
	bl_admission_entry_t *first = bl_admission_next(f.adm, 0);
	cr_assert_not_null(first, "a fresh budget of 100 ms must start the first job");
	bl_admission_finish(f.adm, first, 200, 0);
	bl_admission_entry_t *held = bl_admission_next(f.adm, 0);
	uint64_t refill = bl_admission_next_refill(f.adm, 0);
	q.cpu_ms_per_s = 0;
	cr_assert_eq(bl_admission_set_quota(f.adm, "t", &q, 0, NULL, NULL), 0);
	bl_admission_entry_t *second = bl_admission_next(f.adm, 0);

	cr_assert_null(held, "a spent budget must hold the second job back");
	cr_assert(refill > 0 && refill != UINT64_MAX, "a refill time must be known, got %llu",
		  (unsigned long long)refill);
	cr_assert_not_null(second, "with the limit lifted the second job must start");
	teardown(&f);
}

/* Lowering mem_bytes to 500 hands back the queued job that needs 1000
 * bytes (it could never start) and keeps the one that needs 100. */
Test(engine_admission, live_mem_lowered_hands_back_unfit, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	bl_admission_entry_t small = {.priority = BL_PRIORITY_NORMAL, .mem_estimate = 100};
	bl_admission_entry_t big = {.priority = BL_PRIORITY_NORMAL, .mem_estimate = 1000};
	cr_assert_eq(bl_admission_enqueue(f.adm, &big, "t", 0, NULL), 0);
	cr_assert_eq(bl_admission_enqueue(f.adm, &small, "t", 0, NULL), 0);
	bl_quota_t q = generous(&f);
	q.mem_bytes = 500;
	bl_admission_entry_t *unfit = NULL;

	int rc = bl_admission_set_quota(f.adm, "t", &q, 0, &unfit, NULL);
	bl_admission_entry_t *next = bl_admission_next(f.adm, 0);

	cr_assert_eq(rc, 1, "expected 1 job handed back, got %d", rc);
	cr_assert_eq(unfit, &big, "the 1000-byte job must be handed back");
	cr_assert_null(unfit->next, "only one job is unfit");
	cr_assert_eq(next, &small, "the 100-byte job must still start");
	cr_assert_null(bl_admission_next(f.adm, 0), "nothing else is queued");
	teardown(&f);
}

/* Deleting a live quota goes back to the default: with max_queued 1 the
 * second job is rejected; after the delete it is accepted. */
Test(engine_admission, live_quota_unset_uses_default, .timeout = 10)
{
	static const char *const names[] = {"other"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	bl_quota_t q = generous(&f);
	q.max_queued = 1;
	bl_admission_entry_t a = {.priority = BL_PRIORITY_NORMAL}, b = a, c = a;

	cr_assert_eq(bl_admission_set_quota(f.adm, "t", &q, 0, NULL, NULL), 0);
	cr_assert_eq(bl_admission_enqueue(f.adm, &a, "t", 0, NULL), 0);
	int limited = bl_admission_enqueue(f.adm, &b, "t", 0, NULL);
	bl_admission_unset_quota(f.adm, "t", 0, NULL);
	int after = bl_admission_enqueue(f.adm, &c, "t", 0, NULL);

	cr_assert_eq(limited, BL_ELIMIT, "max_queued 1 must reject the second job, got %d", limited);
	cr_assert_eq(after, 0, "the default quota must accept it, got %d", after);
	cr_assert_eq(bl_admission_entry_quota(&c)->max_queued, f.quotas->default_quota.max_queued,
		     "expected the default max_queued %u, got %u", f.quotas->default_quota.max_queued,
		     bl_admission_entry_quota(&c)->max_queued);
	teardown(&f);
}

/* With unknown tenants rejected, a live quota admits a tenant the table
 * does not name, and deleting it rejects new jobs again while the job
 * already queued still starts. */
Test(engine_admission, live_quota_unset_rejects_unknown, .timeout = 10)
{
	static const char *const names[] = {"other"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	f.quotas->reject_unknown = true;
	bl_quota_t q = generous(&f);
	bl_admission_entry_t a = {.priority = BL_PRIORITY_NORMAL}, b = a;
	bl_error_t err = {0};

	cr_assert_eq(bl_admission_set_quota(f.adm, "newcomer", &q, 0, NULL, NULL), 0);
	int accepted = bl_admission_enqueue(f.adm, &a, "newcomer", 0, NULL);
	bl_admission_unset_quota(f.adm, "newcomer", 0, NULL);
	int rejected = bl_admission_enqueue(f.adm, &b, "newcomer", 0, &err);
	bl_admission_entry_t *next = bl_admission_next(f.adm, 0);

	cr_assert_eq(accepted, 0, "a live quota must admit the tenant, got %d", accepted);
	cr_assert_eq(rejected, BL_ELIMIT, "after the delete the tenant is unknown, got %d", rejected);
	cr_assert(strstr(err.message, "'newcomer' has no quota"), "message must name the tenant: %s", err.message);
	cr_assert_eq(next, &a, "the job queued before the delete must still start");
	teardown(&f);
}

/* A quota with max_concurrent 0 would block the tenant for good; it is refused. */
Test(engine_admission, live_quota_zero_limit_refused, .timeout = 10)
{
	static const char *const names[] = {"t"};
	static const uint32_t weights[] = {1};
	fixture_t f = setup(names, weights, 1, 1000000);
	bl_quota_t q = generous(&f);
	q.max_concurrent = 0;
	bl_error_t err = {0};

	int rc = bl_admission_set_quota(f.adm, "t", &q, 0, NULL, &err);

	cr_assert_eq(rc, BL_EINVAL, "expected BL_EINVAL, got %d", rc);
	cr_assert(strstr(err.message, "max_concurrent"), "message must name the field: %s", err.message);
	teardown(&f);
}
