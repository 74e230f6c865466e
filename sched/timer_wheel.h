/*
 * Hierarchical timer wheel with millisecond ticks.
 *
 * A plain data structure: no locks, no threads, no clock. The owner (the
 * pool's timer thread, see timer.c) serialises every call and supplies the
 * current time in milliseconds.
 *
 * Layout: BL__WHEEL_LEVELS levels of 64 slots. A slot on level L spans
 * 64^L ms, so the wheel covers 64^6 ms (about 2.2 years) ahead of `now`;
 * deadlines beyond that are clamped to the last slot and re-filed as the
 * wheel turns. Insert and remove are O(1); advancing costs O(1) per tick
 * plus O(1) per entry moved down a level.
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
 * at or before the wheel's `now` expires on the next bl__wheel_advance().
 */
void bl__wheel_insert(bl__wheel_t *wheel, bl__wheel_entry_t *entry, uint64_t deadline_ms);

/* Take a filed entry out of the wheel. Removing an entry that is not filed
 * is a programming error. */
void bl__wheel_remove(bl__wheel_t *wheel, bl__wheel_entry_t *entry);

/*
 * Move the clock forward to `now_ms` (never backwards) and take out every
 * entry whose deadline is <= now_ms. The expired entries are returned as a
 * list linked through `next` (`prev` is unspecified), ordered by deadline
 * and, within one deadline, by insertion order. Returns the list head, or
 * NULL when nothing expired.
 */
bl__wheel_entry_t *bl__wheel_advance(bl__wheel_t *wheel, uint64_t now_ms);

/*
 * Return a time at or before the earliest deadline in the wheel, and at or
 * after `now`, at which the owner should call bl__wheel_advance() next; it
 * is exact when the earliest entry sits on level 0. Returns UINT64_MAX when
 * the wheel is empty.
 */
uint64_t bl__wheel_next_expiry(const bl__wheel_t *wheel);

#endif
