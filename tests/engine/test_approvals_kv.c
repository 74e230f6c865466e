/*
 * The approval store over the beamline_approvals bucket, against a real
 * nats-server (skipped where none is installed): the key mapping, posting
 * once with its announcement, the first decision winning across separate
 * connections, expiry, listing and damaged records.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <beamline/kv.h>
#include <nats/nats.h>

#include "../support/nats_server.h"
#include "approvals_kv.h"

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

typedef struct fixture {
	bl_test_nats_server_t server;
	bl_nats_t *nats;
	bl_approval_store_t *store;
} fixture_t;

static void connect_to(const fixture_t *f, bl_nats_t **out)
{
	const char *urls[] = {f->server.url};
	bl_nats_config_t config = {.urls = urls, .nurls = 1, .send_asap = true};
	bl_nats_error_t nerr = {0};
	cr_assert_eq(bl_nats_connect(out, &config, &nerr), 0, "connect: %s", nerr.error.message);
}

/* Start a server, make the bucket and open a store on it. */
static void fixture_init(fixture_t *f)
{
	bl_nats_error_t nerr = {0};
	bl_error_t err = {0};

	memset(f, 0, sizeof *f);
	int rc = bl_test_nats_start(&f->server);
	if (rc == -ENOENT)
		cr_skip_test("skipped: %s", f->server.error);
	cr_assert_eq(rc, 0, "cannot start nats-server: %s", f->server.error);
	connect_to(f, &f->nats);
	bl_kv_config_t kc = {.bucket = BL_APPROVALS_KV_BUCKET, .history = 1};
	cr_assert_geq(bl_kv_bucket_ensure(f->nats, &kc, NULL, &nerr), 0, "bucket: %s", nerr.error.message);
	cr_assert_eq(bl__approvals_kv_open(&f->store, f->nats, NULL, &err), 0, "open: %s", err.message);
}

static void fixture_fini(fixture_t *f)
{
	bl_approval_store_free(&f->store);
	bl_nats_free(f->nats);
	bl_test_nats_cleanup(&f->server);
}

/* A request as the human block builds it, created at `now` and expiring `ttl_ms` later. */
static json_t *request(const char *tenant, const char *job_id, int64_t now, int64_t ttl_ms)
{
	char id[300];
	snprintf(id, sizeof id, "%s:%s", tenant, job_id);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "id", id, "tenant", tenant, "job_id", job_id,
			 "summary", "deploy", "requested_by", "ci", "default_decision", "reject", "created_ms",
			 (json_int_t)now, "expires_ms", (json_int_t)(now + ttl_ms), "traceparent", TRACEPARENT);
}

static void post(fixture_t *f, const char *tenant, const char *job_id, int64_t now, int64_t ttl_ms)
{
	bl_approval_t a;
	bool created;
	json_t *r = request(tenant, job_id, now, ttl_ms);
	bl_error_t err = {0};

	int rc = bl_approval_store_post(f->store, r, &a, &created, &err);

	cr_assert_eq(rc, 0, "post %s: %s", job_id, err.message);
	bl_approval_clear(&a);
	json_decref(r);
}

/*
 * Each id maps to a key made of [-/_=.a-zA-Z0-9] with the tenant and the
 * job id as two tokens, and back. "a.b" and "a=2Eb" as job ids must not
 * meet, nor an escape of a plain byte decode.
 */
Test(engine_approvals_kv, key_mapping_round_trips)
{
	static const char *const cases[][2] = {
		{"acme:job-1", "acme.job-1"},
		{"acme:a.b", "acme.a=2Eb"},
		{"acme:a=2Eb", "acme.a=3D2Eb"},
		{"t_1:x/y", "t_1.x=2Fy"},
		{"acme:..", "acme.=2E=2E"},
	};
	char key[BL_APPROVALS_KV_KEY_MAX + 1], id[BL_APPROVAL_ID_MAX + 1];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int klen = bl__approvals_kv_key(key, sizeof key, cases[i][0]);
		int ilen = bl__approvals_kv_id(id, sizeof id, key);

		cr_assert_gt(klen, 0, "key of %s: %d", cases[i][0], klen);
		cr_assert_str_eq(key, cases[i][1], "key of %s: expected %s, got %s", cases[i][0], cases[i][1], key);
		cr_assert_eq(ilen, (int)strlen(cases[i][0]), "id of %s: length %d", key, ilen);
		cr_assert_str_eq(id, cases[i][0], "id of %s: expected %s, got %s", key, cases[i][0], id);
	}
}

/* Keys that no id maps to, and ids that have no key, are rejected. */
Test(engine_approvals_kv, key_mapping_rejects_strays)
{
	static const char *const bad_keys[] = {"acme", "acme.a.b", ".a", "a.", "a.=2", "a.=61", "a.=2e", "a.b*"};
	static const char *const bad_ids[] = {"acme", ":job", "acme:"};
	char out[BL_APPROVALS_KV_KEY_MAX + 1];

	for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
		int rc = bl__approvals_kv_id(out, sizeof out, bad_keys[i]);
		cr_assert_eq(rc, BL_EINVAL, "key %s: expected BL_EINVAL, got %d", bad_keys[i], rc);
	}
	for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
		int rc = bl__approvals_kv_key(out, sizeof out, bad_ids[i]);
		cr_assert_eq(rc, BL_EINVAL, "id %s: expected BL_EINVAL, got %d", bad_ids[i], rc);
	}
	cr_assert_eq(bl__approvals_kv_key(out, 8, "acme:job-1"), BL_ELIMIT, "a key longer than the buffer");
}

/*
 * The first post stores the record and publishes the request with its
 * traceparent header. A second post of the same id, as by a redelivered
 * job, finds the record, keeps its expiry and publishes nothing.
 */
Test(engine_approvals_kv, post_once_and_announce, .timeout = 30)
{
	fixture_t f;
	natsSubscription *sub = NULL;
	natsMsg *msg = NULL;
	const char *header = NULL;
	bl_approval_t a;
	bool created;
	fixture_init(&f);
	cr_assert_eq(natsConnection_SubscribeSync(&sub, bl_nats_raw(f.nats), "beamline.approvals.v1.>"), NATS_OK);
	cr_assert_eq(bl_nats_flush(f.nats, 2000, NULL), 0);
	json_t *first = request("acme", "j1", 1000, 60000);
	json_t *second = request("acme", "j1", 5000, 60000);

	int rc1 = bl_approval_store_post(f.store, first, &a, &created, NULL);
	bool created1 = created;
	bl_approval_clear(&a);
	int rc2 = bl_approval_store_post(f.store, second, &a, &created, NULL);

	cr_assert_eq(rc1, 0);
	cr_assert(created1, "the first post creates the record");
	cr_assert_eq(rc2, 0);
	cr_assert_not(created, "the second post finds the record");
	cr_assert_eq(bl_approval_expires_ms(&a), 61000, "the first expiry stays, got %lld",
		     (long long)bl_approval_expires_ms(&a));
	cr_assert_eq(natsSubscription_NextMsg(&msg, sub, 2000), NATS_OK, "the request was published");
	cr_assert_str_eq(natsMsg_GetSubject(msg), "beamline.approvals.v1.acme.j1");
	cr_assert_eq(natsMsgHeader_Get(msg, "traceparent", &header), NATS_OK, "the message has a traceparent");
	cr_assert_str_eq(header, TRACEPARENT);
	json_t *body = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(body, "id")), "acme:j1");
	natsMsg_Destroy(msg);
	msg = NULL;
	cr_assert_eq(natsSubscription_NextMsg(&msg, sub, 500), NATS_TIMEOUT, "the second post publishes nothing");
	json_decref(body);
	json_decref(first);
	json_decref(second);
	bl_approval_clear(&a);
	bl_nats_subscription_close(f.nats, sub);
	fixture_fini(&f);
}

typedef struct racer {
	bl_approval_store_t *store;
	const char *id;
	char by[32];
	pthread_barrier_t *start;
	int rc;
	char seen_by[32]; /* the decider in the decision the call returned */
} racer_t;

static void *race(void *arg)
{
	racer_t *r = arg;
	bl_approval_t a;
	bl_decision_input_t in = {.decision = BL_DECISION_APPROVE, .by = r->by};

	pthread_barrier_wait(r->start);
	r->rc = bl_approval_store_decide(r->store, r->id, &in, bl_approval_now_ms(), &a, NULL);
	snprintf(r->seen_by, sizeof r->seen_by, "%s",
		 a.decision ? json_string_value(json_object_get(a.decision, "decided_by")) : "");
	bl_approval_clear(&a);
	return NULL;
}

/*
 * Two deciders on two connections, as on two engine instances, decide
 * the same approval at once: exactly one wins, the other gets -EEXIST and
 * the winner's decision, and the stored decision is the winner's.
 * Repeated over ten approvals so that the race happens.
 */
Test(engine_approvals_kv, first_decision_wins_across_connections, .timeout = 60)
{
	fixture_t f;
	bl_nats_t *other_nats;
	bl_approval_store_t *other = NULL;
	pthread_barrier_t start;
	char job_id[16], id[32];
	fixture_init(&f);
	connect_to(&f, &other_nats);
	cr_assert_eq(bl__approvals_kv_open(&other, other_nats, NULL, NULL), 0);

	for (int round = 0; round < 10; round++) {
		snprintf(job_id, sizeof job_id, "r%d", round);
		snprintf(id, sizeof id, "acme:%s", job_id);
		post(&f, "acme", job_id, bl_approval_now_ms(), 60000);
		racer_t racers[2] = {{.store = f.store, .id = id, .by = "alice", .start = &start},
				     {.store = other, .id = id, .by = "bob", .start = &start}};
		pthread_t threads[2];
		pthread_barrier_init(&start, NULL, 2);

		for (int i = 0; i < 2; i++)
			pthread_create(&threads[i], NULL, race, &racers[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(threads[i], NULL);
		pthread_barrier_destroy(&start);

		int winner = racers[0].rc == 0 ? 0 : 1;
		int loser = 1 - winner;
		cr_assert_eq(racers[winner].rc, 0, "round %d: no decider won (%d, %d)", round, racers[0].rc,
			     racers[1].rc);
		cr_assert_eq(racers[loser].rc, -EEXIST, "round %d: the loser got %d, expected -EEXIST", round,
			     racers[loser].rc);
		cr_assert_str_eq(racers[loser].seen_by, racers[winner].by, "round %d: the loser sees the winner",
				 round);
		bl_approval_t a;
		cr_assert_eq(bl_approval_store_get(f.store, id, &a, NULL), 0);
		cr_assert_str_eq(json_string_value(json_object_get(a.decision, "decided_by")), racers[winner].by);
		bl_approval_clear(&a);
	}
	bl_approval_store_free(&other);
	bl_nats_free(other_nats);
	fixture_fini(&f);
}

/* After its expiry a person's decision is refused with the pending
 * approval; the engine's default decision is recorded. */
Test(engine_approvals_kv, expired_refuses_all_but_default, .timeout = 30)
{
	fixture_t f;
	bl_approval_t a;
	bl_decision_input_t person = {.decision = BL_DECISION_APPROVE, .by = "alice"};
	bl_decision_input_t fallback = {.decision = BL_DECISION_REJECT, .by = "beamline-engine", .defaulted = true};
	fixture_init(&f);
	post(&f, "acme", "late", 1000, 500);

	int late = bl_approval_store_decide(f.store, "acme:late", &person, 1500, &a, NULL);
	bool pending = a.request && !a.decision;
	bl_approval_clear(&a);
	int dflt = bl_approval_store_decide(f.store, "acme:late", &fallback, 1500, &a, NULL);

	cr_assert_eq(late, BL_ETIMEDOUT, "expected BL_ETIMEDOUT, got %d", late);
	cr_assert(pending, "the refusal returns the pending approval");
	cr_assert_eq(dflt, 0, "the default is recorded, got %d", dflt);
	cr_assert(json_is_true(json_object_get(a.decision, "defaulted")));
	bl_approval_clear(&a);
	fixture_fini(&f);
}

/*
 * The list contains the pending approvals only, oldest first. An unknown
 * id is -ENOENT, and a record that is not an approval is BL_EFORMAT
 * naming its key.
 */
Test(engine_approvals_kv, list_unknown_and_damaged, .timeout = 30)
{
	fixture_t f;
	json_t *list = NULL;
	bl_approval_t a;
	bl_error_t err = {0};
	bl_kv_t *kv;
	bl_decision_input_t yes = {.decision = BL_DECISION_APPROVE, .by = "alice"};
	fixture_init(&f);
	int64_t now = bl_approval_now_ms();
	post(&f, "acme", "newer", now + 10, 60000);
	post(&f, "acme", "older", now, 60000);
	post(&f, "acme", "done", now, 60000);
	cr_assert_eq(bl_approval_store_decide(f.store, "acme:done", &yes, now, &a, NULL), 0);
	bl_approval_clear(&a);
	cr_assert_eq(bl_kv_open(&kv, f.nats, BL_APPROVALS_KV_BUCKET, NULL), 0);
	cr_assert_eq(bl_kv_put(kv, "acme.bad", "{\"request\": 1}", 14, NULL, NULL), 0);

	int listed = bl_approval_store_list(f.store, &list, NULL);
	int unknown = bl_approval_store_get(f.store, "acme:none", &a, NULL);
	int damaged = bl_approval_store_get(f.store, "acme:bad", &a, &err);

	cr_assert_eq(listed, 0);
	cr_assert_eq(json_array_size(list), 2, "two pending, got %zu", json_array_size(list));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")), "acme:older");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "id")), "acme:newer");
	cr_assert_eq(unknown, -ENOENT, "expected -ENOENT, got %d", unknown);
	cr_assert_eq(damaged, BL_EFORMAT, "expected BL_EFORMAT, got %d", damaged);
	cr_assert_str_eq(err.field, "acme.bad");
	json_decref(list);
	bl_kv_free(kv);
	fixture_fini(&f);
}
