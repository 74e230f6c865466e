/*
 * Live quota changes through a local run: the test hands quota changes to
 * the run's dispatcher actor, as the quota watch does in the service mode.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_ctx.h"
#include "run_harness.h"

static const char *status_of(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static bl_quota_change_t put_change(const char *tenant, uint32_t max_concurrent, uint32_t weight)
{
	bl_quota_change_t c = {.kind = BL_QUOTA_PUT};
	snprintf(c.tenant, sizeof c.tenant, "%s", tenant);
	bl_quota_init(&c.quota);
	c.quota.max_concurrent = max_concurrent;
	c.quota.weight = weight;
	return c;
}

static void admit_t(bl_actor_t *dispatcher, void *arg)
{
	(void)arg;
	bl_quota_change_t c = put_change("t", 2, 1);
	cr_assert_eq(bl__dispatcher_send_quota(dispatcher, &c), 0);
}

/*
 * With unknown tenants rejected by the quota file, a live quota for "t"
 * sent before the jobs admits its three jobs, while the job of "u", which
 * has none, is rejected with a message naming it.
 */
Test(engine_run_quota, live_quota_admits_tenant, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	harness_quotas(&h, "{\"unknown_tenants\": \"reject\"}");
	h.cfg.on_dispatcher = admit_t;
	const char *jobs = "{\"id\":\"1\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"
			   "{\"id\":\"2\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"
			   "{\"id\":\"3\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"
			   "{\"id\":\"4\",\"tenant\":\"u\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n";

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0, "the run must complete, got %d", rc);
	for (size_t i = 0; i < h.count; i++) {
		json_t *r = h.results[i];
		const char *tenant = json_string_value(json_object_get(r, "tenant"));
		if (strcmp(tenant, "t") == 0) {
			cr_assert_str_eq(status_of(r), "ok", "job %s of t", json_string_value(json_object_get(r, "id")));
			continue;
		}
		cr_assert_str_eq(status_of(r), "rejected");
		const char *message = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
		cr_assert(strstr(message, "tenant 'u' has no quota"), "unclear message: %s", message);
	}
	cr_assert_eq(h.count, 4, "expected 4 results, got %zu", h.count);
	harness_fini(&h);
}

typedef struct churn {
	bl_actor_t *dispatcher;
	int sent;
} churn_t;

/* Send 200 changes for "t" from a thread of its own: puts with limits
 * from 1 to 4 and deletes, ending with a put of max_concurrent 3. */
static void *send_changes(void *arg)
{
	churn_t *churn = arg;
	for (int i = 0; i < 200; i++) {
		bl_quota_change_t c = put_change("t", (uint32_t)(i % 4 + 1), (uint32_t)(i % 3 + 1));
		if (i % 5 == 4 && i != 199)
			c.kind = BL_QUOTA_DELETE;
		if (i == 199)
			c.quota.max_concurrent = 3;
		churn->sent += bl__dispatcher_send_quota(churn->dispatcher, &c) == 0;
	}
	return NULL;
}

static void start_churn(bl_actor_t *dispatcher, void *arg)
{
	churn_t *churn = arg;
	pthread_t thread;
	churn->dispatcher = dispatcher;
	cr_assert_eq(pthread_create(&thread, NULL, send_changes, churn), 0);
	pthread_join(thread, NULL);
}

/*
 * 200 quota changes sent from another thread while 100 jobs are read and
 * run: every change reaches the dispatcher (each send succeeds), and since
 * no change drops a limit below 1, every job ends ok. Run under the tsan
 * preset, this checks that changes cross threads only inside messages.
 */
Test(engine_run_quota, changes_while_jobs_run, .timeout = 120)
{
	harness_t h;
	harness_init(&h);
	churn_t churn = {0};
	h.cfg.on_dispatcher = start_churn;
	h.cfg.on_dispatcher_arg = &churn;
	size_t cap = 100 * 96;
	char *jobs = malloc(cap);
	size_t len = 0;
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(jobs + len, cap - len,
					"{\"id\":\"%d\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n",
					i);

	int rc = harness_run(&h, jobs);

	cr_assert_eq(rc, 0, "the run must complete, got %d", rc);
	cr_assert_eq(churn.sent, 200, "every change must be sent, %d were", churn.sent);
	cr_assert_eq(h.count, 100, "expected 100 results, got %zu", h.count);
	for (size_t i = 0; i < h.count; i++)
		cr_assert_str_eq(status_of(h.results[i]), "ok", "result %zu is not ok", i);
	free(jobs);
	harness_fini(&h);
}
