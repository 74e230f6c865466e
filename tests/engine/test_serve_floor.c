/*
 * Attempt floors: the lowest attempt number of a message's next delivery,
 * kept per stream sequence and tenant/id when this instance NAKs it.
 */
#include <criterion/criterion.h>
#include <pthread.h>

#include "serve_ctx.h"

/* A bl__run_now_ms time for the tests. */
#define NOW 1000000u

static serve_floors_t floors;

static void setup(void)
{
	cr_assert_eq(bl__serve_floors_init(&floors), 0);
}

static void teardown(void)
{
	bl__serve_floors_destroy(&floors);
}

TestSuite(engine_serve_floor, .init = setup, .fini = teardown);

Test(engine_serve_floor, unknown_message_has_none)
{
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW), 0);
}

Test(engine_serve_floor, floor_only_rises)
{
	bl__serve_floor_raise(&floors, 7, "acme", "a", 2, 0, NOW);
	bl__serve_floor_raise(&floors, 7, "acme", "a", 1, 0, NOW);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW), 2);

	bl__serve_floor_raise(&floors, 7, "acme", "a", 3, 0, NOW);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW), 3);
}

/* A floor expires 30 s after its NAK's delay. A raise before then keeps
 * the higher floor, which then lasts from the new NAK. */
Test(engine_serve_floor, floor_expires_after_delay_and_margin)
{
	bl__serve_floor_raise(&floors, 7, "acme", "a", 3, 5000, NOW);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW + 5000 + 29999), 3);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW + 5000 + 30000), 0);

	bl__serve_floor_raise(&floors, 7, "acme", "a", 2, 0, NOW + 20000);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW + 49999), 3);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW + 50000), 0);

	bl__serve_floor_raise(&floors, 7, "acme", "a", 1, 0, NOW + 90000);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "a", NOW + 90000), 1);
}

/* A stream created again numbers its messages from 1: a floor of the
 * old message does not apply to a new one with other names. */
Test(engine_serve_floor, other_names_same_sequence_have_none)
{
	bl__serve_floor_raise(&floors, 7, "acme", "a", 3, 0, NOW);

	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acme", "b", NOW), 0);
	cr_assert_eq(bl__serve_floor_get(&floors, 7, "acmea", "", NOW), 0);
	cr_assert_eq(bl__serve_floor_get(&floors, 8, "acme", "a", NOW), 0);
}

/* A message whose slot another message took has no floor any more. The
 * newer message keeps its own, even when lower than the one it replaced. */
Test(engine_serve_floor, newer_message_takes_the_slot)
{
	bl__serve_floor_raise(&floors, 5, "acme", "old", 4, 0, NOW);
	bl__serve_floor_raise(&floors, 5 + 1024, "acme", "new", 2, 0, NOW);

	cr_assert_eq(bl__serve_floor_get(&floors, 5, "acme", "old", NOW), 0);
	cr_assert_eq(bl__serve_floor_get(&floors, 5 + 1024, "acme", "new", NOW), 2);
}

static void *raise_many(void *arg)
{
	unsigned base = *(unsigned *)arg;
	for (unsigned i = 1; i <= 2000; i++)
		bl__serve_floor_raise(&floors, 1 + i % 16, "acme", "x", base + i, 0, NOW);
	return NULL;
}

/* Sinks raise floors while the fetch thread reads them: the highest
 * raise wins whatever the order (run under ThreadSanitizer too). */
Test(engine_serve_floor, concurrent_raises_keep_the_highest)
{
	pthread_t threads[2];
	unsigned bases[2] = {0, 10};

	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, raise_many, &bases[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);

	for (uint64_t seq = 1; seq <= 16; seq++) {
		unsigned last = 0;
		for (unsigned i = 1; i <= 2000; i++)
			last = 1 + i % 16 == seq ? i : last;
		cr_assert_eq(bl__serve_floor_get(&floors, seq, "acme", "x", NOW), 10 + last, "sequence %llu",
			     (unsigned long long)seq);
	}
}
