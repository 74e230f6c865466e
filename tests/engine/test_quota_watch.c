/*
 * Live quotas from the key-value bucket against a real nats-server
 * (skipped where none is installed). The watch's callback queues each
 * change, and the test thread applies it to an admission, as the
 * dispatcher actor does on its own thread.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <beamline/kv.h>

#include "../support/nats_server.h"
#include "admission.h"
#include "log.h"
#include "quota_watch.h"

static bl_test_nats_server_t server;

static void stop_server(void)
{
	bl_test_nats_cleanup(&server);
}

/* Changes as the callback received them, for the test thread. */
typedef struct inbox {
	pthread_mutex_t lock;
	pthread_cond_t arrived;
	bl_quota_change_t changes[64];
	size_t count;
	size_t taken;
} inbox_t;

static inbox_t inbox = {.lock = PTHREAD_MUTEX_INITIALIZER, .arrived = PTHREAD_COND_INITIALIZER};

static void on_change(const bl_quota_change_t *change, void *arg)
{
	inbox_t *in = arg;
	pthread_mutex_lock(&in->lock);
	if (in->count < sizeof in->changes / sizeof *in->changes)
		in->changes[in->count++] = *change;
	pthread_cond_broadcast(&in->arrived);
	pthread_mutex_unlock(&in->lock);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait at most `timeout_ms` for the next change; false when none came. */
static bool next_change(bl_quota_change_t *out, long timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000 + 1;
	bool got = false;

	pthread_mutex_lock(&inbox.lock);
	while (inbox.taken == inbox.count &&
	       pthread_cond_timedwait(&inbox.arrived, &inbox.lock, &until) == 0)
		;
	if (inbox.taken < inbox.count) {
		*out = inbox.changes[inbox.taken++];
		got = true;
	}
	pthread_mutex_unlock(&inbox.lock);
	return got;
}

/* Apply a change to `adm` as the dispatcher does. */
static void apply(bl_admission_t *adm, const bl_quota_change_t *c)
{
	if (c->kind == BL_QUOTA_PUT)
		cr_assert_eq(bl_admission_set_quota(adm, c->tenant, &c->quota, 0, NULL, NULL), 0);
	else if (c->kind == BL_QUOTA_DELETE)
		bl_admission_unset_quota(adm, c->tenant, 0, NULL);
}

typedef struct world {
	bl_nats_t *nats;
	bl_kv_t *kv;
	bl_quota_watch_t *watch;
	bl_quota_table_t *quotas;
	bl_admission_t *adm;
} world_t;

/* Start a server, connect, start the watch (defaults: max_queued 100) and
 * an admission on `quotas`; skips when nats-server is missing. */
static world_t start_world(bool reject_unknown)
{
	world_t w = {0};
	int rc = bl_test_nats_start(&server);
	if (rc == -ENOENT)
		cr_skip_test("skipped: %s", server.error);
	cr_assert_eq(rc, 0, "cannot start nats-server: %s", server.error);

	const char *urls[] = {server.url};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .name = "quota-watch-test"};
	bl_nats_error_t nerr = {0};
	cr_assert_eq(bl_nats_connect(&w.nats, &config, &nerr), 0, "connect: %s", nerr.error.message);

	w.quotas = bl_quota_table_default();
	w.quotas->default_quota.max_queued = 100;
	w.quotas->reject_unknown = reject_unknown;
	bl_admission_config_t acfg;
	bl_admission_config_init(&acfg);
	cr_assert_eq(bl_admission_new(&w.adm, &acfg, w.quotas), 0);

	bl_quota_watch_config_t wcfg = {.default_quota = w.quotas->default_quota, .on_change = on_change, .arg = &inbox};
	bl_error_t err = {0};
	cr_assert_eq(bl_quota_watch_start(&w.watch, w.nats, &wcfg, &err), 0, "watch: %s", err.message);
	cr_assert_eq(bl_kv_open(&w.kv, w.nats, BL_QUOTA_WATCH_BUCKET, &nerr), 0, "open: %s", nerr.error.message);
	cr_assert_eq(bl_quota_watch_wait_ready(w.watch, 5000), 0, "the watch never delivered its initial values");
	bl_quota_change_t ready;
	cr_assert(next_change(&ready, 1000) && ready.kind == BL_QUOTA_READY, "the first change must be READY");
	return w;
}

static void stop_world(world_t *w)
{
	bl_quota_watch_stop(&w->watch);
	cr_assert_null(w->watch);
	bl_kv_free(w->kv);
	bl_nats_free(w->nats);
	bl_admission_free(&w->adm);
	bl_quota_table_free(&w->quotas);
}

static void put(world_t *w, const char *tenant, const char *value)
{
	bl_nats_error_t nerr = {0};
	cr_assert_eq(bl_kv_put(w->kv, tenant, value, strlen(value), NULL, &nerr), 0, "put: %s", nerr.error.message);
}

/* Queue `count` jobs for `tenant`; returns how many were accepted. */
static int enqueue_jobs(world_t *w, const char *tenant, bl_admission_entry_t *entries, int count)
{
	int accepted = 0;
	for (int i = 0; i < count; i++) {
		entries[i].priority = BL_PRIORITY_NORMAL;
		accepted += bl_admission_enqueue(w->adm, &entries[i], tenant, 0, NULL) == 0;
	}
	return accepted;
}

/* A put reaches the admission within a second (measured from the put's
 * return to the change being applied), and fields it leaves out keep the
 * default: max_queued 2 admits 2 of 3 jobs, max_concurrent stays 4. */
Test(engine_quota_watch, put_applies_within_a_second, .timeout = 30, .fini = stop_server)
{
	world_t w = start_world(false);
	bl_admission_entry_t entries[3] = {0};
	bl_quota_change_t c;

	put(&w, "acme", "{\"max_queued\": 2}");
	long long put_at = now_ms();
	bool got = next_change(&c, 2000);
	long long latency = now_ms() - put_at;
	apply(w.adm, &c);
	int accepted = enqueue_jobs(&w, "acme", entries, 3);

	cr_assert(got, "no change within 2 s of the put");
	cr_log_info("quota put applied %lld ms after the put returned", latency);
	cr_assert_lt(latency, 1000, "the put took %lld ms to arrive, expected under 1000", latency);
	cr_assert_eq(c.kind, BL_QUOTA_PUT, "expected a put, got kind %d", c.kind);
	cr_assert_str_eq(c.tenant, "acme");
	cr_assert_eq(c.quota.max_concurrent, 4, "an omitted field keeps the default 4, got %u", c.quota.max_concurrent);
	cr_assert_eq(accepted, 2, "max_queued 2 must admit 2 of 3 jobs, admitted %d", accepted);
	stop_world(&w);
}

/* A delete takes the tenant back to the default quota (max_queued 100). */
Test(engine_quota_watch, delete_falls_back_to_default, .timeout = 30, .fini = stop_server)
{
	world_t w = start_world(false);
	bl_admission_entry_t entries[3] = {0};
	bl_nats_error_t nerr = {0};
	bl_quota_change_t c;

	put(&w, "acme", "{\"max_queued\": 1}");
	cr_assert(next_change(&c, 2000), "no change for the put");
	apply(w.adm, &c);
	cr_assert_eq(bl_kv_delete(w.kv, "acme", &nerr), 0, "delete: %s", nerr.error.message);
	bool got = next_change(&c, 2000);
	apply(w.adm, &c);
	int accepted = enqueue_jobs(&w, "acme", entries, 3);

	cr_assert(got, "no change for the delete");
	cr_assert_eq(c.kind, BL_QUOTA_DELETE, "expected a delete, got kind %d", c.kind);
	cr_assert_eq(accepted, 3, "the default max_queued 100 must admit all 3 jobs, admitted %d", accepted);
	stop_world(&w);
}

/* A value that does not validate is logged with the field it breaks and
 * skipped: the next change seen is the following good one, and the tenant
 * keeps max_queued 1 from before. */
Test(engine_quota_watch, bad_value_ignored_with_log, .timeout = 30, .fini = stop_server)
{
	int pipe_fds[2];
	cr_assert_eq(pipe(pipe_fds), 0);
	cr_assert_eq(bl_log_start(BL_LOG_WARN, pipe_fds[1]), 0);
	world_t w = start_world(false);
	bl_admission_entry_t entries[2] = {0};
	bl_quota_change_t first, next;

	put(&w, "acme", "{\"max_queued\": 1}");
	put(&w, "acme", "{\"max_queued\": \"ten\"}");
	put(&w, "beta", "{\"weight\": 2}");
	cr_assert(next_change(&first, 2000), "no change for the first put");
	cr_assert(next_change(&next, 2000), "no change for beta's put");
	apply(w.adm, &first);
	int accepted = enqueue_jobs(&w, "acme", entries, 2);
	stop_world(&w);
	bl_log_stop();
	close(pipe_fds[1]);
	char text[8192] = {0};
	ssize_t n = read(pipe_fds[0], text, sizeof text - 1);
	close(pipe_fds[0]);

	cr_assert_str_eq(next.tenant, "beta", "the bad value must be skipped, got a change for '%s'", next.tenant);
	cr_assert_eq(accepted, 1, "acme keeps max_queued 1, admitted %d of 2", accepted);
	cr_assert_gt(n, 0, "nothing was logged");
	cr_assert(strstr(text, "\"event\":\"quota_invalid\""), "no quota_invalid record in: %s", text);
	cr_assert(strstr(text, "acme.max_queued"), "the record must name the field acme.max_queued: %s", text);
}

/* With unknown tenants rejected, a tenant without a quota is rejected with
 * a message naming it, until a quota for it arrives through the bucket. */
Test(engine_quota_watch, unknown_tenant_rejected_until_put, .timeout = 30, .fini = stop_server)
{
	world_t w = start_world(true);
	bl_admission_entry_t before = {.priority = BL_PRIORITY_NORMAL}, after = before;
	bl_error_t err = {0};
	bl_quota_change_t c;

	int rejected = bl_admission_enqueue(w.adm, &before, "stranger", 0, &err);
	put(&w, "stranger", "{}");
	cr_assert(next_change(&c, 2000), "no change for the put");
	apply(w.adm, &c);
	int accepted = bl_admission_enqueue(w.adm, &after, "stranger", 0, NULL);

	cr_assert_eq(rejected, BL_ELIMIT, "expected BL_ELIMIT (the dispatcher's 'rejected'), got %d", rejected);
	cr_assert(strstr(err.message, "tenant 'stranger' has no quota"), "unclear message: %s", err.message);
	cr_assert_eq(accepted, 0, "with a quota from the bucket the job must be admitted, got %d", accepted);
	stop_world(&w);
}

/* Values stored before the watch starts come before its READY change. */
Test(engine_quota_watch, stored_values_come_first, .timeout = 30, .fini = stop_server)
{
	world_t w = start_world(false);
	put(&w, "early", "{\"weight\": 5}");
	bl_quota_change_t c;
	cr_assert(next_change(&c, 2000), "no change for the put");
	bl_quota_watch_stop(&w.watch);
	bl_quota_watch_config_t wcfg = {.default_quota = w.quotas->default_quota, .on_change = on_change, .arg = &inbox};
	bl_error_t err = {0};

	cr_assert_eq(bl_quota_watch_start(&w.watch, w.nats, &wcfg, &err), 0, "watch: %s", err.message);
	cr_assert_eq(bl_quota_watch_wait_ready(w.watch, 5000), 0, "no READY within 5 s");
	bool got_put = next_change(&c, 1000);
	bl_quota_change_t ready;
	bool got_ready = next_change(&ready, 1000);

	cr_assert(got_put && c.kind == BL_QUOTA_PUT, "the stored value must come first");
	cr_assert_str_eq(c.tenant, "early");
	cr_assert_eq(c.quota.weight, 5, "expected weight 5, got %u", c.quota.weight);
	cr_assert(got_ready && ready.kind == BL_QUOTA_READY, "READY must follow the stored value");
	stop_world(&w);
}
