/*
 * The results index: when an absent key may be trusted (only while the
 * index is current), how invalidation and stale epochs affect that, and
 * what happens at its size limit.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <beamline/error.h>

#include "result_index.h"

static result_index_t index_with(size_t max_keys)
{
	result_index_t ix;
	cr_assert_eq(bl__result_index_init(&ix, max_keys), 0, "init failed");
	return ix;
}

/* Before any watch has caught up, every key may have a stored result, known or not. */
Test(engine_result_index, new_index_trusts_no_absence)
{
	result_index_t ix = index_with(16);

	bool known = bl__result_index_add(&ix, "acme.j1") == 1;
	bool unknown_may_hold = bl__result_index_may_hold(&ix, "acme", "j2");

	cr_assert(known, "the first add of a key reports it new");
	cr_assert(unknown_may_hold, "an index that is not current must send every key to the stream");
	bl__result_index_destroy(&ix);
}

/* Once current, a key that was added may be present and any other is absent. */
Test(engine_result_index, current_index_answers_misses)
{
	result_index_t ix = index_with(16);
	bl__result_index_add(&ix, "acme.j1");
	bl__result_index_add(&ix, "acme.a.b");

	bl__result_index_caught_up(&ix, bl__result_index_epoch(&ix));

	cr_assert(bl__result_index_may_hold(&ix, "acme", "j1"), "acme/j1 was added");
	cr_assert(bl__result_index_may_hold(&ix, "acme", "a.b"), "an id with a '.' splits after the tenant");
	cr_assert_not(bl__result_index_may_hold(&ix, "acme", "j2"), "acme/j2 was never added");
	cr_assert_not(bl__result_index_may_hold(&ix, "globex", "j1"), "the tenant is part of the key");
	bl__result_index_destroy(&ix);
}

/* A key longer than the room on the stack is hashed like a short one. */
Test(engine_result_index, long_key_found_by_parts)
{
	result_index_t ix = index_with(16);
	char tenant[301], id[301], key[603];
	memset(tenant, 't', sizeof tenant - 1);
	tenant[sizeof tenant - 1] = '\0';
	memset(id, 'i', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	snprintf(key, sizeof key, "%s.%s", tenant, id);
	bl__result_index_add(&ix, key);

	bl__result_index_caught_up(&ix, bl__result_index_epoch(&ix));

	cr_assert(bl__result_index_may_hold(&ix, tenant, id), "the long key was added");
	id[0] = 'j';
	cr_assert_not(bl__result_index_may_hold(&ix, tenant, id), "another long key was not");
	bl__result_index_destroy(&ix);
}

/* An invalidation (the connection dropped) withdraws the trust in absent
 * keys, and a watch that started before it cannot restore that trust:
 * only a watch started in the new epoch can. */
Test(engine_result_index, invalidation_needs_new_watch)
{
	result_index_t ix = index_with(16);
	uint64_t old_epoch = bl__result_index_epoch(&ix);
	bl__result_index_caught_up(&ix, old_epoch);

	bl__result_index_invalidate(&ix);
	bool after_invalidate = bl__result_index_may_hold(&ix, "acme", "j2");
	bl__result_index_caught_up(&ix, old_epoch);
	bool after_stale_marker = bl__result_index_may_hold(&ix, "acme", "j2");
	bl__result_index_caught_up(&ix, bl__result_index_epoch(&ix));
	bool after_new_marker = bl__result_index_may_hold(&ix, "acme", "j2");

	cr_assert(after_invalidate, "an invalidated index must send every key to the stream");
	cr_assert(after_stale_marker, "the marker of a watch from before the invalidation must not count");
	cr_assert_not(after_new_marker, "a watch of the new epoch makes the index current again");
	bl__result_index_destroy(&ix);
}

/* Adding a key twice counts it once. */
Test(engine_result_index, repeated_key_counted_once)
{
	result_index_t ix = index_with(16);
	size_t count = 0;

	int first = bl__result_index_add(&ix, "acme.j1");
	int again = bl__result_index_add(&ix, "acme.j1");
	bl__result_index_is_current(&ix, &count);

	cr_assert_eq(first, 1, "first add: expected 1 (new), got %d", first);
	cr_assert_eq(again, 0, "second add: expected 0 (known), got %d", again);
	cr_assert_eq(count, 1, "expected 1 key, got %zu", count);
	bl__result_index_destroy(&ix);
}

/* 5,000 keys grow the table from its first 1,024 slots several times.
 * Every key is still found afterwards, and a sample of unknown keys is not. */
Test(engine_result_index, growth_keeps_every_key)
{
	result_index_t ix = index_with(10000);
	char key[32], id[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "acme.job-%d", i);
		cr_assert_eq(bl__result_index_add(&ix, key), 1, "key %s: expected new", key);
	}

	bl__result_index_caught_up(&ix, bl__result_index_epoch(&ix));

	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof id, "job-%d", i);
		cr_assert(bl__result_index_may_hold(&ix, "acme", id), "acme/%s was added but is not found", id);
	}
	int false_hits = 0;
	for (int i = 5000; i < 6000; i++) {
		snprintf(id, sizeof id, "job-%d", i);
		false_hits += bl__result_index_may_hold(&ix, "acme", id);
	}
	cr_assert_eq(false_hits, 0, "expected no 64-bit fingerprint collision among 1,000 unknown keys, got %d",
		     false_hits);
	bl__result_index_destroy(&ix);
}

/* At max_keys the index refuses more keys and is never current again, so
 * a key it could not hold is still sent to the stream. */
Test(engine_result_index, full_index_turns_off)
{
	result_index_t ix = index_with(2);
	bl__result_index_add(&ix, "acme.j1");
	bl__result_index_add(&ix, "acme.j2");
	bl__result_index_caught_up(&ix, bl__result_index_epoch(&ix));

	int rc = bl__result_index_add(&ix, "acme.j3");
	bl__result_index_caught_up(&ix, bl__result_index_epoch(&ix));

	cr_assert_eq(rc, BL_ELIMIT, "the third key: expected BL_ELIMIT, got %d", rc);
	cr_assert(bl__result_index_may_hold(&ix, "acme", "j3"), "a key the full index could not hold must go to the stream");
	cr_assert(bl__result_index_may_hold(&ix, "acme", "j4"), "a full index trusts no absence");
	bl__result_index_destroy(&ix);
}

typedef struct reader_arg {
	result_index_t *ix;
	atomic_bool *done;
	atomic_int *started; /* readers that made their first lookup */
	long checks;
} reader_arg_t;

/* Look up keys until the writer is done: the lookups only have to be safe, not to agree. */
static void *read_keys(void *arg)
{
	reader_arg_t *r = arg;
	char id[32];
	for (long i = 0; !atomic_load(r->done); i++) {
		snprintf(id, sizeof id, "job-%ld", i % 4000);
		bl__result_index_may_hold(r->ix, "acme", id);
		if (r->checks++ == 0)
			atomic_fetch_add(r->started, 1);
	}
	return NULL;
}

/* One writer thread (the indexer) adds 4,000 keys, growing the table,
 * and invalidates now and then (connection events) while two readers
 * (execute handlers) look keys up. Under ThreadSanitizer this checks that
 * every access goes through the lock; afterwards every key is found. */
Test(engine_result_index, concurrent_use_is_safe, .timeout = 30)
{
	result_index_t ix = index_with(10000);
	atomic_bool done = false;
	atomic_int started = 0;
	reader_arg_t readers[2] = {{&ix, &done, &started, 0}, {&ix, &done, &started, 0}};
	pthread_t threads[2];
	char key[32], id[32];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, read_keys, &readers[i]), 0, "cannot start a reader");
	/* On a busy machine the writer could finish before a reader runs at all. */
	while (atomic_load(&started) < 2)
		sched_yield();

	for (int i = 0; i < 4000; i++) {
		snprintf(key, sizeof key, "acme.job-%d", i);
		bl__result_index_add(&ix, key);
		if (i % 500 == 0)
			bl__result_index_invalidate(&ix);
	}
	atomic_store(&done, true);
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	bl__result_index_caught_up(&ix, bl__result_index_epoch(&ix));

	for (int i = 0; i < 4000; i++) {
		snprintf(id, sizeof id, "job-%d", i);
		cr_assert(bl__result_index_may_hold(&ix, "acme", id), "acme/%s was added but is not found", id);
	}
	bl__result_index_destroy(&ix);
}
