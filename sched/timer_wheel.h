/*
 * Hierarchical timer wheel with millisecond ticks.
 *
 * A plain data structure: no locks, no threads, no clock. The owner (the
 * pool's timer thread, see timer.c) serialises every call and supplies the
 * current time in milliseconds.
 *
 * Layout: BL__WHEEL_LEVELS levels of 64 slots. A slot on level L spans
 * 64^L ms, so the wheel covers 64^6 ms (about 2.2 years) ahead of `now`.
 * A deadline beyond that waits in the top-level slot that its bits 30 to 35
 * select, and is re-filed each time the clock enters that slot (once per
 * 64^6 ms) until it is in range. Insert and remove are O(1). Advancing
 * skips empty time through the occupancy bitmaps, so it costs O(1) per
 * occupied slot the clock reaches plus O(1) per entry moved down a level or
 * expired, however far it jumps.
 *
 * The clock must stay below 2^64 - 2^36 ms (about 584 million years on a
 * monotonic clock), because slot times are computed up to one span past
 * `now` without overflow checks. Any deadline is accepted, UINT64_MAX
 * included.
 */
#ifndef BL_SCHED_TIMER_WHEEL_H
#define BL_SCHED_TIMER_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define BL__WHEEL_LEVELS 6
#define BL__WHEEL_SLOTS 64

/*
 * An entry, embedded by the owner in its own timer record. The wheel uses
 * every field; the owner reads `deadline` and `seq` and must not write them.
 */
typedef struct bl__wheel_entry {
	struct bl__wheel_entry *next;
	struct bl__wheel_entry *prev;
	uint64_t deadline; /* ms, on the owner's clock */
	uint64_t seq;      /* insertion order, for ties on the same deadline */
	uint8_t level;     /* slot position while filed */
	uint8_t slot;
	uint8_t filed;     /* 1 while the entry is in the wheel */
} bl__wheel_entry_t;

typedef struct bl__wheel {
	uint64_t now;                                    /* every deadline < now has expired */
	uint64_t next_seq;
	size_t count;                                    /* entries filed */
	uint64_t occupied[BL__WHEEL_LEVELS];             /* bit s set: slot s not empty */
	bl__wheel_entry_t *slots[BL__WHEEL_LEVELS][BL__WHEEL_SLOTS];
} bl__wheel_t;

/* Initialise an empty wheel whose clock reads `now_ms`. */
void bl__wheel_init(bl__wheel_t *wheel, uint64_t now_ms);

/*
 * File `entry` (not currently filed) to expire at `deadline_ms`. A deadline
 * before the wheel's `now` is raised to `now`, and `entry->deadline` then
 * reads `now`. Any deadline at or before `now` expires on the next
 * bl__wheel_advance(), even one that does not move the clock.
 */
void bl__wheel_insert(bl__wheel_t *wheel, bl__wheel_entry_t *entry, uint64_t deadline_ms);

/* Take a filed entry out of the wheel. Removing an entry that is not filed
 * is a programming error, caught by an assert() unless NDEBUG is defined. */
void bl__wheel_remove(bl__wheel_t *wheel, bl__wheel_entry_t *entry);

/*
 * Move the clock forward to `now_ms` and take out every entry whose
 * deadline is <= now_ms. A `now_ms` before the wheel's `now` leaves the
 * clock where it is, because the clock never moves backwards. The expired
 * entries are returned as a list linked through `next` (`prev` is
 * unspecified), ordered by deadline and, within one deadline, by insertion
 * order. Returns the list head, or NULL when nothing expired.
 */
bl__wheel_entry_t *bl__wheel_advance(bl__wheel_t *wheel, uint64_t now_ms);

/*
 * Return a time at or after `now` and at or before the earliest deadline in
 * the wheel, at which the owner should call bl__wheel_advance() next. It is
 * exact when the earliest entry sits on level 0. Returns UINT64_MAX when the
 * wheel is empty.
 *
 * On a higher level the result is the time the clock reaches the earliest
 * entry's slot, found in O(1) from the bitmaps. An owner that sleeps until
 * each result therefore wakes at most 5 times before the wake-up that fires
 * an entry within the span, plus once per 64^6 ms for a deadline beyond it.
 */
uint64_t bl__wheel_next_expiry(const bl__wheel_t *wheel);

#endif
