/*
 * The approval store: posting finds an existing request, the first
 * decision wins (also between threads racing on it), expiry, listing,
 * damaged files, ids and the "approvals" config section.
 */
#define _GNU_SOURCE /* mkdtemp, nftw */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <beamline/approvals.h>

typedef struct fixture {
	char state[256];
	bl_approval_store_t *store;
} fixture_t;

static void fixture_init(fixture_t *f)
{
	bl_error_t err = {0};
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(f->state, sizeof f->state, "%s/bl-store-XXXXXX", tmp);
	cr_assert_not_null(mkdtemp(f->state));
	int rc = bl_approval_store_open(&f->store, f->state, "approvals", true, &err);
	cr_assert_eq(rc, 0, "open: %s", err.message);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void fixture_fini(fixture_t *f)
{
	bl_approval_store_free(&f->store);
	nftw(f->state, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A request for `id` that expires `in_ms` after `now`. */
static json_t *request(const char *id, int64_t now, int64_t in_ms)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", id, "tenant", "acme", "job_id", "j",
			 "summary", "deploy", "default_decision", "reject", "created_ms", (json_int_t)now, "expires_ms",
			 (json_int_t)(now + in_ms));
}

static void post(fixture_t *f, const char *id, int64_t now, int64_t in_ms)
{
	bl_approval_t a;
	bool created;
	bl_error_t err = {0};
	json_t *r = request(id, now, in_ms);
	int rc = bl_approval_store_post(f->store, r, &a, &created, &err);
	cr_assert_eq(rc, 0, "post %s: %s", id, err.message);
	cr_assert(created);
	bl_approval_clear(&a);
	json_decref(r);
}

/* Posting an id that exists keeps the first request, expiry included. */
Test(blocks_approval_store, post_keeps_existing_request)
{
	fixture_t f;
	bl_approval_t a;
	bool created;
	fixture_init(&f);
	post(&f, "acme:j", 1000, 5000);

	json_t *second = request("acme:j", 2000, 90000);
	int rc = bl_approval_store_post(f.store, second, &a, &created, NULL);

	cr_assert_eq(rc, 0);
	cr_assert(!created, "a second post created a new request");
	cr_assert_eq(bl_approval_expires_ms(&a), 6000, "expected the first expiry 6000, got %lld",
		     (long long)bl_approval_expires_ms(&a));
	cr_assert_null(a.decision);
	bl_approval_clear(&a);
	json_decref(second);
	fixture_fini(&f);
}

/* A post whose summary or details differ from the stored request's (a new
 * job reusing the id) gets -EEXIST naming the approval, and no approval. */
Test(blocks_approval_store, post_other_request_conflicts)
{
	fixture_t f;
	bl_approval_t a;
	bool created;
	bl_error_t err = {0};
	fixture_init(&f);
	post(&f, "acme:j", 1000, 5000);

	json_t *other_summary = request("acme:j", 2000, 5000);
	json_object_set_new(other_summary, "summary", json_string("deploy again"));
	int rc = bl_approval_store_post(f.store, other_summary, &a, &created, &err);
	cr_expect_eq(rc, -EEXIST, "another summary: expected -EEXIST, got %d", rc);
	cr_expect_str_eq(err.field, "acme:j");
	cr_expect_not_null(strstr(err.message, "summary"), "message: %s", err.message);
	cr_expect_null(a.request, "the conflicting post returned the stored request");

	json_t *other_details = request("acme:j", 2000, 5000);
	json_object_set_new(other_details, "details", json_pack("{s:i}", "build", 7));
	rc = bl_approval_store_post(f.store, other_details, &a, &created, &err);
	cr_expect_eq(rc, -EEXIST, "other details: expected -EEXIST, got %d", rc);

	json_decref(other_summary);
	json_decref(other_details);
	fixture_fini(&f);
}

/* The first decision stands; the second gets -EEXIST and the first. */
Test(blocks_approval_store, first_decision_wins)
{
	fixture_t f;
	bl_approval_t a, b;
	int64_t now = bl_approval_now_ms();
	fixture_init(&f);
	post(&f, "acme:j", now, 60000);
	bl_decision_input_t yes = {.decision = BL_DECISION_APPROVE, .by = "alice", .comment = "fine"};
	bl_decision_input_t no = {.decision = BL_DECISION_REJECT, .by = "bob"};

	int first = bl_approval_store_decide(f.store, "acme:j", &yes, now + 1, &a, NULL);
	int second = bl_approval_store_decide(f.store, "acme:j", &no, now + 2, &b, NULL);

	cr_assert_eq(first, 0);
	cr_assert_eq(second, -EEXIST, "expected -EEXIST, got %d", second);
	cr_assert_str_eq(json_string_value(json_object_get(b.decision, "decided_by")), "alice");
	cr_assert_str_eq(json_string_value(json_object_get(b.decision, "comment")), "fine");
	bl_approval_clear(&a);
	bl_approval_clear(&b);
	fixture_fini(&f);
}

typedef struct racer {
	bl_approval_store_t *store;
	char by[32];
	int rc;
} racer_t;

static void *race(void *arg)
{
	racer_t *r = arg;
	bl_approval_t a;
	bl_decision_input_t in = {.decision = BL_DECISION_APPROVE, .by = r->by};
	r->rc = bl_approval_store_decide(r->store, "acme:j", &in, bl_approval_now_ms(), &a, NULL);
	bl_approval_clear(&a);
	return NULL;
}

/* Eight deciders at once: exactly one wins, the rest see -EEXIST, and the
 * stored decision is the winner's. Repeated so that the race happens. */
Test(blocks_approval_store, concurrent_deciders_one_wins, .timeout = 60)
{
	for (int round = 0; round < 20; round++) {
		fixture_t f;
		racer_t racers[8];
		pthread_t threads[8];
		fixture_init(&f);
		post(&f, "acme:j", bl_approval_now_ms(), 60000);

		for (int i = 0; i < 8; i++) {
			racers[i] = (racer_t){.store = f.store};
			snprintf(racers[i].by, sizeof racers[i].by, "racer%d", i);
			pthread_create(&threads[i], NULL, race, &racers[i]);
		}
		for (int i = 0; i < 8; i++)
			pthread_join(threads[i], NULL);

		int winners = 0, winner = -1;
		for (int i = 0; i < 8; i++) {
			cr_assert(racers[i].rc == 0 || racers[i].rc == -EEXIST, "racer %d got %d", i, racers[i].rc);
			if (racers[i].rc == 0) {
				winners++;
				winner = i;
			}
		}
		cr_assert_eq(winners, 1, "round %d: %d deciders won", round, winners);
		bl_approval_t a;
		cr_assert_eq(bl_approval_store_get(f.store, "acme:j", &a, NULL), 0);
		cr_assert_str_eq(json_string_value(json_object_get(a.decision, "decided_by")), racers[winner].by);
		bl_approval_clear(&a);
		fixture_fini(&f);
	}
}

/* A person's decision after the expiry is refused; the engine's default
 * is not. */
Test(blocks_approval_store, expired_refuses_all_but_default)
{
	fixture_t f;
	bl_approval_t a;
	fixture_init(&f);
	post(&f, "acme:j", 1000, 500);
	bl_decision_input_t person = {.decision = BL_DECISION_APPROVE, .by = "alice"};
	bl_decision_input_t fallback = {.decision = BL_DECISION_REJECT, .by = "beamline-engine", .defaulted = true};

	int late = bl_approval_store_decide(f.store, "acme:j", &person, 1500, &a, NULL);
	bl_approval_clear(&a);
	int dflt = bl_approval_store_decide(f.store, "acme:j", &fallback, 1500, &a, NULL);

	cr_assert_eq(late, BL_ETIMEDOUT, "expected BL_ETIMEDOUT at the expiry, got %d", late);
	cr_assert_eq(dflt, 0);
	cr_assert(json_is_true(json_object_get(a.decision, "defaulted")));
	bl_approval_clear(&a);
	fixture_fini(&f);
}

/* Unknown ids, bad deciders (empty, or white space only) and damaged
 * files each fail on their own. */
Test(blocks_approval_store, errors_by_cause)
{
	fixture_t f;
	bl_approval_t a;
	bl_error_t err = {0};
	fixture_init(&f);
	post(&f, "acme:j", bl_approval_now_ms(), 60000);
	bl_decision_input_t nobody = {.decision = BL_DECISION_APPROVE, .by = ""};
	bl_decision_input_t blank = {.decision = BL_DECISION_APPROVE, .by = " \t "};
	bl_decision_input_t control = {.decision = BL_DECISION_APPROVE, .by = "x", .comment = "a\001b"};
	char damaged[512];
	snprintf(damaged, sizeof damaged, "%s/approvals/acme:bad.request.json", f.state);
	FILE *out = fopen(damaged, "w");
	fputs("{\"id\": ", out);
	fclose(out);

	int unknown = bl_approval_store_get(f.store, "acme:none", &a, NULL);
	int empty_by = bl_approval_store_decide(f.store, "acme:j", &nobody, 0, &a, &err);
	cr_assert_str_eq(err.field, "by");
	int blank_by = bl_approval_store_decide(f.store, "acme:j", &blank, 0, &a, &err);
	cr_assert_str_eq(err.field, "by");
	int bad_comment = bl_approval_store_decide(f.store, "acme:j", &control, 0, &a, &err);
	cr_assert_str_eq(err.field, "comment");
	int broken = bl_approval_store_get(f.store, "acme:bad", &a, &err);

	cr_assert_eq(unknown, -ENOENT);
	cr_assert_eq(empty_by, BL_EFORMAT);
	cr_assert_eq(blank_by, BL_EFORMAT, "a blank decider: expected BL_EFORMAT, got %d", blank_by);
	cr_assert_eq(bad_comment, BL_EFORMAT);
	cr_assert_eq(broken, BL_EFORMAT, "a damaged file: expected BL_EFORMAT, got %d", broken);
	fixture_fini(&f);
}

/* The listing holds pending approvals only, oldest first, and skips a
 * damaged file. */
Test(blocks_approval_store, list_pending_oldest_first)
{
	fixture_t f;
	json_t *list;
	bl_approval_t a;
	int64_t now = bl_approval_now_ms();
	fixture_init(&f);
	post(&f, "acme:b", now - 10, 60000);
	post(&f, "acme:a", now - 20, 60000);
	post(&f, "acme:done", now - 30, 60000);
	bl_decision_input_t yes = {.decision = BL_DECISION_APPROVE, .by = "x"};
	cr_assert_eq(bl_approval_store_decide(f.store, "acme:done", &yes, now, &a, NULL), 0);
	bl_approval_clear(&a);
	char damaged[512];
	snprintf(damaged, sizeof damaged, "%s/approvals/acme:bad.request.json", f.state);
	FILE *out = fopen(damaged, "w");
	fputs("[]", out);
	fclose(out);

	int rc = bl_approval_store_list(f.store, &list, NULL);

	cr_assert_eq(rc, 0);
	cr_assert_eq(json_array_size(list), 2, "expected 2 pending, got %zu", json_array_size(list));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")), "acme:a");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "id")), "acme:b");
	json_decref(list);
	fixture_fini(&f);
}

/* A folder with nothing pending lists an empty array. */
Test(blocks_approval_store, list_of_empty_folder)
{
	fixture_t f;
	json_t *list;
	fixture_init(&f);

	int rc = bl_approval_store_list(f.store, &list, NULL);

	cr_assert_eq(rc, 0);
	cr_assert(json_is_array(list), "expected an array");
	cr_assert_eq(json_array_size(list), 0);
	json_decref(list);
	fixture_fini(&f);
}

/* A damaged decision file is refused with its name in err.field, rather
 * than read back as a decision. */
Test(blocks_approval_store, damaged_decision_is_refused)
{
	static const char *const damaged[] = {
		"{\"id\":\"acme:x\",\"decision\":\"maybe\",\"decided_by\":\"a\","
		"\"decided_at\":\"t\",\"defaulted\":false}",
		"{\"id\":\"acme:x\",\"decision\":\"approve\",\"decided_by\":7,"
		"\"decided_at\":\"t\",\"defaulted\":false}",
		"{\"id\":\"acme:x\",\"decision\":\"approve\",\"decided_by\":\"a\",\"defaulted\":false}",
		"{\"id\":\"acme:x\",\"decision\":\"approve\",\"decided_by\":\"a\",\"decided_at\":\"t\"}",
		"{\"id\":\"acme:x\",\"decided_by\":\"a\",\"decided_at\":\"t\",\"defaulted\":false}",
	};
	fixture_t f;
	char path[512];
	fixture_init(&f);
	post(&f, "acme:x", bl_approval_now_ms(), 60000);
	snprintf(path, sizeof path, "%s/approvals/acme:x.decision.json", f.state);

	for (size_t i = 0; i < sizeof damaged / sizeof *damaged; i++) {
		bl_approval_t a;
		bl_error_t err = {0};
		FILE *out = fopen(path, "w");
		cr_assert_not_null(out);
		fputs(damaged[i], out);
		fclose(out);

		int rc = bl_approval_store_get(f.store, "acme:x", &a, &err);

		cr_assert_lt(rc, 0, "%s was accepted", damaged[i]);
		cr_assert_str_eq(err.field, "acme:x.decision.json");
	}
	fixture_fini(&f);
}

/* Ids are TENANT:JOB_ID of name characters, and fit a file name. */
Test(blocks_approval_store, id_rules)
{
	char id[BL_APPROVAL_ID_MAX + 1], long_job[BL_APPROVAL_ID_MAX];
	bl_error_t err = {0};
	memset(long_job, 'x', sizeof long_job - 1);
	long_job[sizeof long_job - 1] = '\0';

	cr_assert_eq(bl_approval_id(id, sizeof id, "acme", "job-1", NULL), 10);
	cr_assert_str_eq(id, "acme:job-1");
	cr_assert_eq(bl_approval_id(id, sizeof id, "acme", long_job, &err), BL_ELIMIT);
	cr_assert_str_eq(err.field, "id");
	cr_assert_eq(bl_approval_id_check("acme:job-1", "ID", NULL), 0);
	cr_assert_eq(bl_approval_id_check("acme", "ID", NULL), BL_EFORMAT);
	cr_assert_eq(bl_approval_id_check(":job", "ID", NULL), BL_EFORMAT);
	cr_assert_eq(bl_approval_id_check("acme:", "ID", NULL), BL_EFORMAT);
	cr_assert_eq(bl_approval_id_check(".x:job", "ID", NULL), BL_EFORMAT);
	cr_assert_eq(bl_approval_id_check("acme:a/b", "ID", NULL), BL_EFORMAT);
	cr_assert_eq(bl_approval_id_check("acme:a:b", "ID", NULL), BL_EFORMAT);
}

/* Every key of the "approvals" section is checked, and errors name it. */
Test(blocks_approval_store, config_errors_name_the_key)
{
	static const struct {
		const char *json;
		const char *field;
	} bad[] = {
		{"{\"default_decision\": \"maybe\"}", "approvals.default_decision"},
		{"{\"max_expiry_ms\": 0}", "approvals.max_expiry_ms"},
		{"{\"max_expiry_ms\": \"1\"}", "approvals.max_expiry_ms"},
		{"{\"rescan_ms\": 1}", "approvals.rescan_ms"},
		{"{\"dir\": \"../up\"}", "approvals.dir"},
		{"{\"dir\": \".hidden\"}", "approvals.dir"},
		{"{\"dirr\": \"x\"}", "approvals.dirr"},
		{"{\"watch\": \"no\"}", "approvals.watch"},
		{"[]", "approvals"},
	};
	bl_approvals_config_t cfg;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bl_error_t err = {0};
		json_t *section = json_loads(bad[i].json, 0, NULL);
		int rc = bl_approvals_config_parse(&cfg, section, &err);
		cr_assert_lt(rc, 0, "%s was accepted", bad[i].json);
		cr_assert_str_eq(err.field, bad[i].field, "%s", bad[i].json);
		json_decref(section);
	}
	json_t *good =
		json_loads("{\"default_decision\": \"approve\", \"max_expiry_ms\": 1000, \"dir\": \"ap\"}", 0, NULL);
	cr_assert_eq(bl_approvals_config_parse(&cfg, good, NULL), 0);
	cr_assert_eq(cfg.default_decision, BL_DECISION_APPROVE);
	cr_assert_eq(cfg.max_expiry_ms, 1000);
	cr_assert_str_eq(cfg.dir, "ap");
	json_decref(good);
}
