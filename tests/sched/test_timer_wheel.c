#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "timer_wheel.h"

/* The wheel spans 64^6 ms: 64 slots on each of 6 levels, 1 ms apart on level 0. */
#define WHEEL_SPAN (UINT64_C(1) << (6 * BL__WHEEL_LEVELS))

/* Advance to `now_ms` and store the index (into `base`) of each expired entry
 * in fire order. Returns how many expired, failing the test beyond `max`. */
static size_t advance_indices(bl__wheel_t *wheel, uint64_t now_ms, const bl__wheel_entry_t *base,
			      size_t *out, size_t max)
{
	size_t n = 0;

	for (bl__wheel_entry_t *e = bl__wheel_advance(wheel, now_ms); e != NULL; e = e->next) {
		cr_assert_lt(n, max, "advance to %llu expired more than the %zu entries expected",
			     (unsigned long long)now_ms, max);
		out[n++] = (size_t)(e - base);
	}
	return n;
}

static void assert_fire_order(const size_t *fired, size_t fired_count, const size_t *expected,
			      size_t expected_count)
{
	cr_assert_eq(fired_count, expected_count, "expired %zu entries, expected %zu", fired_count,
		     expected_count);
	for (size_t i = 0; i < expected_count; i++) {
		cr_assert_eq(fired[i], expected[i], "position %zu fired entry %zu, expected entry %zu", i,
			     fired[i], expected[i]);
	}
}

static void assert_wheel_empty(const bl__wheel_t *wheel)
{
	cr_assert_eq(wheel->count, 0, "wheel holds %zu entries, expected 0", wheel->count);
	for (unsigned level = 0; level < BL__WHEEL_LEVELS; level++) {
		cr_assert_eq(wheel->occupied[level], 0,
			     "level %u occupancy is %#llx, expected 0 once the wheel is empty", level,
			     (unsigned long long)wheel->occupied[level]);
	}
}

/* Eight entries share the 10 ms deadline and so one level-0 slot, which
 * shows any reordering of a slot list, not only a reversal of two. */
Test(sched_timer_wheel, same_deadline_fires_in_insertion_order)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[8];
	size_t fired[8];
	size_t expected[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	bl__wheel_init(&wheel, 0);
	for (size_t i = 0; i < 8; i++)
		bl__wheel_insert(&wheel, &entries[i], 10);

	size_t n = advance_indices(&wheel, 10, entries, fired, 8);

	assert_fire_order(fired, n, expected, 8);
	assert_wheel_empty(&wheel);
}

/* One deadline per level, 5 ms on level 0 to 2^31 ms on level 5, inserted
 * latest first so that insertion order and deadline order disagree. */
Test(sched_timer_wheel, deadlines_across_levels_fire_in_order)
{
	const uint64_t deadlines[6] = {5, 100, 5000, 300000, 20000000, UINT64_C(1) << 31};
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[6];
	size_t fired[6];
	size_t expected[6] = {5, 4, 3, 2, 1, 0};
	bl__wheel_init(&wheel, 0);
	for (size_t i = 0; i < 6; i++) {
		bl__wheel_insert(&wheel, &entries[i], deadlines[5 - i]);
		cr_assert_eq(entries[i].level, 5 - i, "deadline %llu filed on level %u, expected %zu",
			     (unsigned long long)deadlines[5 - i], entries[i].level, 5 - i);
	}

	size_t n = advance_indices(&wheel, deadlines[5], entries, fired, 6);

	assert_fire_order(fired, n, expected, 6);
	assert_wheel_empty(&wheel);
}

/* Three entries for 4200 ms: A filed on level 2 at 0 ms, B on level 1 at
 * 4100 ms (after A cascaded there at 4096 ms), C on level 0 at 4170 ms
 * (after both cascaded at 4160 ms). They must still fire A, B, C. */
Test(sched_timer_wheel, cascaded_and_direct_ties_keep_order)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[3];
	size_t fired[3];
	size_t expected[3] = {0, 1, 2};
	bl__wheel_init(&wheel, 0);
	bl__wheel_insert(&wheel, &entries[0], 4200);
	cr_assert_eq(entries[0].level, 2, "A filed on level %u, expected 2", entries[0].level);

	cr_assert_null(bl__wheel_advance(&wheel, 4100), "nothing is due by 4100 ms");
	bl__wheel_insert(&wheel, &entries[1], 4200);
	cr_assert_eq(entries[0].level, 1, "A on level %u after 4096 ms, expected 1", entries[0].level);
	cr_assert_eq(entries[1].level, 1, "B filed on level %u, expected 1", entries[1].level);

	cr_assert_null(bl__wheel_advance(&wheel, 4170), "nothing is due by 4170 ms");
	bl__wheel_insert(&wheel, &entries[2], 4200);
	cr_assert_eq(entries[0].level, 0, "A on level %u after 4160 ms, expected 0", entries[0].level);
	cr_assert_eq(entries[2].level, 0, "C filed on level %u, expected 0", entries[2].level);

	size_t n = advance_indices(&wheel, 4200, entries, fired, 3);

	assert_fire_order(fired, n, expected, 3);
}

/* A is filed at 0 ms for 100 ms. B is filed at 60 ms for 100 ms, only 40 ms
 * ahead but in the next 64 ms block. Placing B by distance would put it on
 * level 0 ahead of A, which waits on level 1 until 64 ms. */
Test(sched_timer_wheel, tie_across_block_boundary_keeps_order)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[2];
	size_t fired[2];
	size_t expected[2] = {0, 1};
	bl__wheel_init(&wheel, 0);
	bl__wheel_insert(&wheel, &entries[0], 100);
	cr_assert_null(bl__wheel_advance(&wheel, 60), "nothing is due by 60 ms");
	bl__wheel_insert(&wheel, &entries[1], 100);

	size_t n = advance_indices(&wheel, 100, entries, fired, 2);

	assert_fire_order(fired, n, expected, 2);
}

/* Removing the middle one of three entries due at 50 ms leaves the other two
 * firing in order, and nothing of the removed one in the wheel. */
Test(sched_timer_wheel, removed_entry_never_fires)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[3];
	size_t fired[3];
	size_t expected[2] = {0, 2};
	bl__wheel_init(&wheel, 0);
	for (size_t i = 0; i < 3; i++)
		bl__wheel_insert(&wheel, &entries[i], 50);

	bl__wheel_remove(&wheel, &entries[1]);
	size_t n = advance_indices(&wheel, 1000, entries, fired, 3);

	cr_assert_eq(entries[1].filed, 0, "removed entry still marked filed");
	assert_fire_order(fired, n, expected, 2);
	assert_wheel_empty(&wheel);
}

/* An entry for 5000 ms starts on level 2 and cascades to level 1 at 4096 ms.
 * Removing it there must unlink it from its new slot, not its first one. */
Test(sched_timer_wheel, removed_after_cascade_never_fires)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entry;
	bl__wheel_init(&wheel, 0);
	bl__wheel_insert(&wheel, &entry, 5000);
	cr_assert_eq(entry.level, 2, "filed on level %u, expected 2", entry.level);
	cr_assert_null(bl__wheel_advance(&wheel, 4100), "nothing is due by 4100 ms");
	cr_assert_eq(entry.level, 1, "on level %u after 4096 ms, expected 1", entry.level);

	bl__wheel_remove(&wheel, &entry);
	bl__wheel_entry_t *fired = bl__wheel_advance(&wheel, 10000);

	cr_assert_null(fired, "removed entry fired with deadline %llu",
		       fired ? (unsigned long long)fired->deadline : 0ULL);
	assert_wheel_empty(&wheel);
}

/* At 1000 ms, deadlines of 10 ms and 1000 ms are both due. They fire on the
 * next advance even though it does not move the clock, in insertion order,
 * and the past one reads 1000 ms because the wheel raised it. */
Test(sched_timer_wheel, past_deadline_fires_on_next_advance)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[2];
	size_t fired[2];
	size_t expected[2] = {0, 1};
	bl__wheel_init(&wheel, 0);
	cr_assert_null(bl__wheel_advance(&wheel, 1000), "empty wheel expired entries");
	bl__wheel_insert(&wheel, &entries[0], 10);
	bl__wheel_insert(&wheel, &entries[1], 1000);

	size_t n = advance_indices(&wheel, 1000, entries, fired, 2);

	assert_fire_order(fired, n, expected, 2);
	cr_assert_eq(entries[0].deadline, 1000, "past deadline reads %llu, expected 1000",
		     (unsigned long long)entries[0].deadline);
}

/* For deadlines on each level, from a clock of 123456789 ms so that no group
 * of it is zero, an advance to one ms before the deadline expires nothing and
 * an advance to the deadline expires the entry. */
Test(sched_timer_wheel, entry_fires_at_deadline_not_before)
{
	const uint64_t start = 123456789;
	const uint64_t delays[] = {1, 63, 64, 4095, 4096, 300000, 20000000, UINT64_C(1) << 33};

	for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
		bl__wheel_t wheel;
		bl__wheel_entry_t entry;
		uint64_t deadline = start + delays[i];
		bl__wheel_init(&wheel, start);
		bl__wheel_insert(&wheel, &entry, deadline);

		bl__wheel_entry_t *early = bl__wheel_advance(&wheel, deadline - 1);
		bl__wheel_entry_t *on_time = bl__wheel_advance(&wheel, deadline);

		cr_assert_null(early, "entry for %llu fired at %llu",
			       (unsigned long long)deadline, (unsigned long long)(deadline - 1));
		cr_assert_eq(on_time, &entry, "entry for %llu did not fire at its deadline",
			     (unsigned long long)deadline);
		cr_assert_null(on_time->next, "only one entry was filed, but the list goes on");
	}
}

/* 600 entries one second apart, inserted in reverse, all fire in deadline
 * order from a single 10-minute advance, which crosses levels 1 to 3. */
Test(sched_timer_wheel, ten_minute_jump_fires_in_order)
{
	enum { COUNT = 600 };
	bl__wheel_t wheel;
	static bl__wheel_entry_t entries[COUNT];
	static size_t fired[COUNT];
	static size_t expected[COUNT];
	bl__wheel_init(&wheel, 0);
	for (size_t i = 0; i < COUNT; i++) {
		bl__wheel_insert(&wheel, &entries[i], (COUNT - i) * 1000);
		expected[i] = COUNT - 1 - i;
	}

	size_t n = advance_indices(&wheel, 600000, entries, fired, COUNT);

	assert_fire_order(fired, n, expected, COUNT);
	assert_wheel_empty(&wheel);
	cr_assert_eq(wheel.now, 600000, "clock reads %llu after the advance, expected 600000",
		     (unsigned long long)wheel.now);
}

/* Crossing 2^40 ms (about 35 years) in two calls with one entry at the far
 * end must finish well within the 10 s timeout. Ticking each millisecond
 * would take 2^40 iterations, so this fails by timing out. */
Test(sched_timer_wheel, long_jump_skips_empty_ticks, .timeout = 10)
{
	const uint64_t deadline = UINT64_C(1) << 40;
	bl__wheel_t wheel;
	bl__wheel_entry_t entry;
	bl__wheel_init(&wheel, 7);
	bl__wheel_insert(&wheel, &entry, deadline);

	bl__wheel_entry_t *early = bl__wheel_advance(&wheel, deadline - 1);
	bl__wheel_entry_t *on_time = bl__wheel_advance(&wheel, deadline);

	cr_assert_null(early, "entry for 2^40 ms fired one ms early");
	cr_assert_eq(on_time, &entry, "entry for 2^40 ms did not fire at its deadline");
	assert_wheel_empty(&wheel);
}

/* A deadline three spans plus 12345 ms ahead is re-filed at each turn of the
 * top level. Advancing a little past every turn, and to one ms before the
 * deadline, must never fire it early, and the deadline itself must fire it. */
Test(sched_timer_wheel, deadline_beyond_span_fires_on_time)
{
	const uint64_t deadline = 3 * WHEEL_SPAN + 12345;
	bl__wheel_t wheel;
	bl__wheel_entry_t entry;
	bl__wheel_init(&wheel, 0);
	bl__wheel_insert(&wheel, &entry, deadline);

	for (uint64_t turn = 1; turn <= 3; turn++) {
		uint64_t at = turn * WHEEL_SPAN + 1;
		bl__wheel_entry_t *early = bl__wheel_advance(&wheel, at);
		cr_assert_null(early, "entry for %llu fired at %llu", (unsigned long long)deadline,
			       (unsigned long long)at);
	}
	bl__wheel_entry_t *early = bl__wheel_advance(&wheel, deadline - 1);
	bl__wheel_entry_t *on_time = bl__wheel_advance(&wheel, deadline);

	cr_assert_null(early, "entry fired one ms before its deadline");
	cr_assert_eq(on_time, &entry, "entry did not fire at its deadline %llu",
		     (unsigned long long)deadline);
	cr_assert_eq(entry.deadline, deadline, "deadline reads %llu, expected %llu unchanged",
		     (unsigned long long)entry.deadline, (unsigned long long)deadline);
}

/* At 2^30 ms, A is filed for 2^36 + 2^31 + 5 ms, beyond the span. At
 * 2^31 + 10 ms, B is filed for the same deadline, now inside the span.
 * Parking A in the top-level slot furthest from the clock, rather than the
 * one its deadline selects, would re-file it behind B at 2^36 + 2^30 ms. */
Test(sched_timer_wheel, beyond_span_tie_keeps_order)
{
	const uint64_t deadline = WHEEL_SPAN + (UINT64_C(1) << 31) + 5;
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[2];
	size_t fired[2];
	size_t expected[2] = {0, 1};
	bl__wheel_init(&wheel, UINT64_C(1) << 30);
	bl__wheel_insert(&wheel, &entries[0], deadline);
	cr_assert_null(bl__wheel_advance(&wheel, (UINT64_C(1) << 31) + 10), "nothing is due yet");
	bl__wheel_insert(&wheel, &entries[1], deadline);

	size_t n = advance_indices(&wheel, deadline, entries, fired, 2);

	assert_fire_order(fired, n, expected, 2);
}

/* An empty wheel has no expiry to report. */
Test(sched_timer_wheel, empty_wheel_next_expiry_is_max)
{
	bl__wheel_t wheel;
	bl__wheel_init(&wheel, 500);

	uint64_t next = bl__wheel_next_expiry(&wheel);

	cr_assert_eq(next, UINT64_MAX, "next expiry of an empty wheel is %llu, expected UINT64_MAX",
		     (unsigned long long)next);
}

/* 1003 ms lies in the clock's 64 ms block (960 to 1023 ms), so the entry
 * sits on level 0 and the next expiry must equal its deadline. A later entry
 * for 1020 ms, filed first, checks that the earliest one is chosen. */
Test(sched_timer_wheel, next_expiry_exact_on_level_zero)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entries[2];
	bl__wheel_init(&wheel, 1000);
	bl__wheel_insert(&wheel, &entries[0], 1020);
	bl__wheel_insert(&wheel, &entries[1], 1003);
	cr_assert_eq(entries[1].level, 0, "filed on level %u, expected 0", entries[1].level);

	uint64_t next = bl__wheel_next_expiry(&wheel);

	cr_assert_eq(next, 1003, "next expiry is %llu, expected 1003", (unsigned long long)next);
}

/* An entry due now, from a past deadline, makes the next expiry `now`. */
Test(sched_timer_wheel, next_expiry_of_due_entry_is_now)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entry;
	bl__wheel_init(&wheel, 1000);
	bl__wheel_insert(&wheel, &entry, 200);

	uint64_t next = bl__wheel_next_expiry(&wheel);

	cr_assert_eq(next, 1000, "next expiry is %llu, expected 1000", (unsigned long long)next);
}

/* From 123456789 ms, for one deadline per level and one three spans ahead,
 * an owner that sleeps until each next expiry must never pass the deadline.
 * It must reach it within 6 wake-ups (one per level above 0, then the
 * firing) plus one per turn of the top level for a deadline beyond the span. */
Test(sched_timer_wheel, next_expiry_never_passes_deadline)
{
	const uint64_t start = 123456789;
	const uint64_t delays[] = {17, 1000, 100000, 5000000, 300000000, UINT64_C(40000000000),
				   3 * WHEEL_SPAN};

	for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
		bl__wheel_t wheel;
		bl__wheel_entry_t entry;
		uint64_t deadline = start + delays[i];
		bl__wheel_init(&wheel, start);
		bl__wheel_insert(&wheel, &entry, deadline);

		uint64_t max_wakeups = BL__WHEEL_LEVELS + delays[i] / WHEEL_SPAN;
		uint64_t wakeups = 0;
		bl__wheel_entry_t *fired = NULL;
		while (fired == NULL && wakeups <= max_wakeups) {
			uint64_t next = bl__wheel_next_expiry(&wheel);
			cr_assert_leq(next, deadline, "next expiry %llu is after the deadline %llu",
				      (unsigned long long)next, (unsigned long long)deadline);
			cr_assert_geq(next, wheel.now, "next expiry %llu is before the clock %llu",
				      (unsigned long long)next, (unsigned long long)wheel.now);
			if (entry.level == 0)
				cr_assert_eq(next, deadline, "level 0 expiry is %llu, expected %llu",
					     (unsigned long long)next, (unsigned long long)deadline);
			fired = bl__wheel_advance(&wheel, next);
			wakeups++;
		}

		cr_assert_eq(fired, &entry, "entry for %llu did not fire within %llu wake-ups",
			     (unsigned long long)deadline, (unsigned long long)(max_wakeups + 1));
		cr_assert_eq(wheel.now, deadline, "entry fired at %llu, expected %llu",
			     (unsigned long long)wheel.now, (unsigned long long)deadline);
		cr_assert_leq(wakeups, max_wakeups, "%llu wake-ups for a delay of %llu ms, expected at most %llu",
			      (unsigned long long)wakeups, (unsigned long long)delays[i],
			      (unsigned long long)max_wakeups);
	}
}

/* After an advance to 5000 ms, an advance to 4000 ms keeps the clock at 5000
 * and still expires an entry filed for 4500 ms, which is in the past. */
Test(sched_timer_wheel, earlier_advance_keeps_clock)
{
	bl__wheel_t wheel;
	bl__wheel_entry_t entry;
	bl__wheel_init(&wheel, 0);
	cr_assert_null(bl__wheel_advance(&wheel, 5000), "empty wheel expired entries");
	bl__wheel_insert(&wheel, &entry, 4500);

	bl__wheel_entry_t *fired = bl__wheel_advance(&wheel, 4000);

	cr_assert_eq(wheel.now, 5000, "clock reads %llu, expected 5000", (unsigned long long)wheel.now);
	cr_assert_eq(fired, &entry, "entry due now did not fire");
}

/* With NDEBUG the assertion is compiled out, and the test skips itself
 * rather than expect a signal that cannot come. */
#ifdef NDEBUG
#define ASSERTION_SIGNAL 0
#else
#define ASSERTION_SIGNAL SIGABRT
#endif

/* Removing an entry that is not filed is a programming error, caught by an
 * assertion in builds without NDEBUG. */
Test(sched_timer_wheel, remove_unfiled_entry_aborts, .signal = ASSERTION_SIGNAL)
{
#ifdef NDEBUG
	cr_skip_test("assertions are compiled out (NDEBUG), so nothing aborts");
#endif
	bl__wheel_t wheel;
	bl__wheel_entry_t entry;
	bl__wheel_init(&wheel, 0);
	bl__wheel_insert(&wheel, &entry, 10);
	cr_assert_not_null(bl__wheel_advance(&wheel, 10), "entry did not fire at its deadline");

	bl__wheel_remove(&wheel, &entry);
}

/* ------------------------------------------------------------------------ */
/* Randomized comparison against a reference model                          */
/* ------------------------------------------------------------------------ */

/*
 * The model is a binary min-heap of timer indices keyed by (deadline, index).
 * Every insert uses a fresh timer record, so the index is the insertion
 * order. A removed timer stays in the heap and is skipped once it reaches
 * the top.
 */
typedef struct {
	bl__wheel_entry_t entry;
	uint64_t deadline; /* requested deadline, raised to the clock if it was past */
	size_t pending_pos; /* position in model_t.pending while filed */
	bool filed;
} model_timer_t;

typedef struct {
	model_timer_t *timers;
	size_t timer_count;
	uint32_t *heap;
	size_t heap_len;
	uint32_t *pending; /* filed timers, in no order, for picking one to remove */
	size_t pending_len;
	uint64_t random_state;
} model_t;

/* xorshift64 (Marsaglia, 2003): fast, and reproducible from a fixed seed. */
static uint64_t next_random(model_t *m)
{
	uint64_t x = m->random_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	m->random_state = x;
	return x;
}

static uint64_t random_below(model_t *m, uint64_t bound)
{
	return bound == 0 ? 0 : next_random(m) % bound;
}

static bool fires_before(const model_t *m, uint32_t a, uint32_t b)
{
	uint64_t da = m->timers[a].deadline;
	uint64_t db = m->timers[b].deadline;

	return da < db || (da == db && a < b);
}

static void heap_push(model_t *m, uint32_t index)
{
	size_t i = m->heap_len++;

	while (i > 0 && fires_before(m, index, m->heap[(i - 1) / 2])) {
		m->heap[i] = m->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	m->heap[i] = index;
}

static void heap_pop(model_t *m)
{
	uint32_t last = m->heap[--m->heap_len];
	size_t i = 0;

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= m->heap_len)
			break;
		if (child + 1 < m->heap_len && fires_before(m, m->heap[child + 1], m->heap[child]))
			child++;
		if (!fires_before(m, m->heap[child], last))
			break;
		m->heap[i] = m->heap[child];
		i = child;
	}
	if (m->heap_len > 0)
		m->heap[i] = last;
}

/* Return the filed timer that must fire first, or -1 when none is filed. */
static long model_earliest(model_t *m)
{
	while (m->heap_len > 0 && !m->timers[m->heap[0]].filed)
		heap_pop(m);
	return m->heap_len > 0 ? (long)m->heap[0] : -1;
}

static void model_forget(model_t *m, uint32_t index)
{
	model_timer_t *t = &m->timers[index];
	uint32_t moved = m->pending[--m->pending_len];

	m->pending[t->pending_pos] = moved;
	m->timers[moved].pending_pos = t->pending_pos;
	t->filed = false;
}

static void model_insert(model_t *m, bl__wheel_t *wheel, uint64_t deadline)
{
	uint32_t index = (uint32_t)m->timer_count++;
	model_timer_t *t = &m->timers[index];

	t->deadline = deadline > wheel->now ? deadline : wheel->now;
	t->filed = true;
	t->pending_pos = m->pending_len;
	m->pending[m->pending_len++] = index;
	heap_push(m, index);

	bl__wheel_insert(wheel, &t->entry, deadline);
	cr_assert_eq(t->entry.deadline, t->deadline, "timer %u filed for %llu reads %llu, expected %llu",
		     index, (unsigned long long)deadline, (unsigned long long)t->entry.deadline,
		     (unsigned long long)t->deadline);
}

static void model_remove_random(model_t *m, bl__wheel_t *wheel)
{
	if (m->pending_len == 0)
		return;

	uint32_t index = m->pending[random_below(m, m->pending_len)];
	bl__wheel_remove(wheel, &m->timers[index].entry);
	model_forget(m, index);
}

/* Advance both, and check that the wheel expired exactly the timers due in
 * the model, in the model's order. */
static void model_advance(model_t *m, bl__wheel_t *wheel, uint64_t now_ms)
{
	bl__wheel_entry_t *fired = bl__wheel_advance(wheel, now_ms);

	for (long next = model_earliest(m); next >= 0 && m->timers[next].deadline <= now_ms;
	     next = model_earliest(m)) {
		model_timer_t *t = &m->timers[next];
		cr_assert_not_null(fired, "advance to %llu: timer %ld due at %llu did not fire",
				   (unsigned long long)now_ms, next, (unsigned long long)t->deadline);
		cr_assert_eq(fired, &t->entry,
			     "advance to %llu: fired timer %td (deadline %llu), expected timer %ld (deadline %llu)",
			     (unsigned long long)now_ms, (model_timer_t *)(void *)fired - m->timers,
			     (unsigned long long)fired->deadline, next, (unsigned long long)t->deadline);
		fired = fired->next;
		heap_pop(m);
		model_forget(m, (uint32_t)next);
	}

	cr_assert_null(fired, "advance to %llu: timer %td fired early, its deadline is %llu",
		       (unsigned long long)now_ms,
		       fired ? (model_timer_t *)(void *)fired - m->timers : -1,
		       fired ? (unsigned long long)fired->deadline : 0ULL);
}

static void check_next_expiry(model_t *m, const bl__wheel_t *wheel)
{
	uint64_t next = bl__wheel_next_expiry(wheel);
	long earliest = model_earliest(m);

	cr_assert_eq(wheel->count, m->pending_len, "wheel holds %zu entries, model %zu", wheel->count,
		     m->pending_len);
	if (earliest < 0) {
		cr_assert_eq(next, UINT64_MAX, "next expiry of an empty wheel is %llu",
			     (unsigned long long)next);
		return;
	}

	const model_timer_t *t = &m->timers[earliest];
	cr_assert_geq(next, wheel->now, "next expiry %llu is before the clock %llu",
		      (unsigned long long)next, (unsigned long long)wheel->now);
	cr_assert_leq(next, t->deadline, "next expiry %llu is after the earliest deadline %llu",
		      (unsigned long long)next, (unsigned long long)t->deadline);
	if (t->entry.level == 0)
		cr_assert_eq(next, t->deadline, "earliest entry is on level 0 at %llu, next expiry %llu",
			     (unsigned long long)t->deadline, (unsigned long long)next);
}

/* How a randomized run picks deadlines and clock steps. */
typedef struct {
	uint64_t seed;
	size_t inserts;
	uint64_t (*pick_deadline)(model_t *m, uint64_t now, const uint64_t *recent);
	uint64_t (*pick_step)(model_t *m, const bl__wheel_t *wheel);
} random_run_t;

enum { RECENT_DEADLINES = 16 };

static void run_random(const random_run_t *run)
{
	model_t m = {.random_state = run->seed};
	uint64_t recent[RECENT_DEADLINES] = {0};
	uint64_t latest_deadline = 0;
	bl__wheel_t wheel;
	m.timers = calloc(run->inserts, sizeof *m.timers);
	m.heap = calloc(run->inserts, sizeof *m.heap);
	m.pending = calloc(run->inserts, sizeof *m.pending);
	cr_assert(m.timers && m.heap && m.pending, "out of memory for %zu model timers", run->inserts);
	bl__wheel_init(&wheel, next_random(&m) % 1000000);

	/* About 55 % inserts, 15 % removes and 30 % advances. */
	while (m.timer_count < run->inserts) {
		uint64_t roll = random_below(&m, 100);
		if (roll < 55) {
			uint64_t deadline = run->pick_deadline(&m, wheel.now, recent);
			recent[m.timer_count % RECENT_DEADLINES] = deadline;
			latest_deadline = deadline > latest_deadline ? deadline : latest_deadline;
			model_insert(&m, &wheel, deadline);
		} else if (roll < 70) {
			model_remove_random(&m, &wheel);
		} else {
			model_advance(&m, &wheel, wheel.now + run->pick_step(&m, &wheel));
		}
		check_next_expiry(&m, &wheel);
	}
	model_advance(&m, &wheel, latest_deadline > wheel.now ? latest_deadline : wheel.now);

	assert_wheel_empty(&wheel);
	cr_assert_eq(m.pending_len, 0, "model still holds %zu timers", m.pending_len);
	free(m.timers);
	free(m.heap);
	free(m.pending);
}

/* Deadlines mostly within a few seconds, a tenth in the past and a quarter
 * copied from the last 16 inserts, so ties and cascades into level-0 slots
 * that direct inserts also use are common. */
static uint64_t pick_dense_deadline(model_t *m, uint64_t now, const uint64_t *recent)
{
	uint64_t kind = random_below(m, 20);

	if (kind < 2)
		return now - random_below(m, now < 100 ? now + 1 : 100);
	if (kind < 7)
		return recent[random_below(m, RECENT_DEADLINES)];
	if (kind < 12)
		return now + random_below(m, 64);
	if (kind < 17)
		return now + random_below(m, 4096);
	return now + random_below(m, 300000);
}

/* Steps mostly under 20 ms, so entries cascade one slot at a time, with the
 * occasional jump of up to 5 minutes. */
static uint64_t pick_dense_step(model_t *m, const bl__wheel_t *wheel)
{
	(void)wheel;
	return random_below(m, 50) == 0 ? random_below(m, 300000) : random_below(m, 20);
}

/* 300000 timers with dense deadlines. */
Test(sched_timer_wheel, random_dense_timers_match_model, .timeout = 120)
{
	random_run_t run = {
		.seed = 0x5eed0001, .inserts = 300000,
		.pick_deadline = pick_dense_deadline, .pick_step = pick_dense_step,
	};

	run_random(&run);
}

/* Deadlines spread evenly over the orders of magnitude of every level and
 * up to 64 times beyond the span, plus deadlines right at a top-level turn. */
static uint64_t pick_wide_deadline(model_t *m, uint64_t now, const uint64_t *recent)
{
	uint64_t kind = random_below(m, 20);

	if (kind == 0)
		return now - random_below(m, now < 100000 ? now + 1 : 100000);
	if (kind < 4)
		return recent[random_below(m, RECENT_DEADLINES)];
	if (kind == 4)
		return (now / WHEEL_SPAN + 1 + random_below(m, 2)) * WHEEL_SPAN - 2 + random_below(m, 4);
	return now + random_below(m, UINT64_C(1) << random_below(m, 43));
}

/* Steps of every order of magnitude up to a whole span, and steps that land
 * on or one ms short of the earliest deadline. A quarter go to the wheel's
 * next expiry, as an owner that sleeps until then would. */
static uint64_t pick_wide_step(model_t *m, const bl__wheel_t *wheel)
{
	uint64_t kind = random_below(m, 4);
	long earliest = model_earliest(m);
	uint64_t deadline = earliest >= 0 ? m->timers[earliest].deadline : wheel->now;

	if (kind == 0)
		return deadline - wheel->now;
	if (kind == 1)
		return deadline > wheel->now ? deadline - wheel->now - 1 : 0;
	if (kind == 2 && earliest >= 0)
		return bl__wheel_next_expiry(wheel) - wheel->now;
	return random_below(m, UINT64_C(1) << random_below(m, 37));
}

/* 300000 timers spread over every level and beyond the span. */
Test(sched_timer_wheel, random_wide_timers_match_model, .timeout = 120)
{
	random_run_t run = {
		.seed = 0x5eed0002, .inserts = 300000,
		.pick_deadline = pick_wide_deadline, .pick_step = pick_wide_step,
	};

	run_random(&run);
}
