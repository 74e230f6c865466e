/*
 * Hierarchical timer wheel. The contract is in timer_wheel.h.
 *
 * Placement. Split a time into 6-bit groups, group L selecting the slot on
 * level L. An entry sits on the level of the highest group in which its
 * deadline differs from `now` (capped at the top level), in the slot that
 * the deadline's own group selects there. An entry that shares every group
 * above the lowest with `now` sits on level 0, where one slot covers exactly
 * one millisecond.
 *
 * Reaching a slot. The clock reaches a slot on level L >= 1 when it enters
 * the span that slot covers. The wheel then re-files that slot's entries
 * against the new clock, which moves each one down at least one level.
 * Below the top level an occupied slot always lies ahead of the clock's own
 * slot on that level. The top level wraps: a slot at or behind the clock's
 * slot there is reached on the next turn, 64^6 ms later, which is how
 * deadlines beyond the span wait without a separate overflow list.
 *
 * Tie order. Because an entry's position depends only on its deadline and
 * the clock, entries with one deadline always share one slot list and move
 * down together. A list grows only by appending a newly inserted entry or
 * by re-filing a whole slot in list order, so within one deadline each list
 * stays in insertion order. That is true whether an entry reached level 0 by
 * a cascade or by a direct insert. A placement by distance (deadline - now)
 * would break it: an entry inserted 40 ms before its deadline would land on
 * level 0 ahead of an older entry for the same deadline still waiting on
 * level 1.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "timer_wheel.h"

#define GROUP_BITS 6
#define TOP_LEVEL (BL__WHEEL_LEVELS - 1)

static_assert(BL__WHEEL_SLOTS == 1 << GROUP_BITS, "one occupancy bit per slot in a uint64_t");
static_assert(BL__WHEEL_LEVELS * GROUP_BITS < 64, "a full turn of the top level must fit in 64 bits");

typedef struct {
	bl__wheel_entry_t *head;
	bl__wheel_entry_t *tail;
} chain_t;

static unsigned slot_of(uint64_t time, unsigned level)
{
	return (unsigned)(time >> (GROUP_BITS * level)) & (BL__WHEEL_SLOTS - 1);
}

static unsigned level_of(uint64_t deadline, uint64_t now)
{
	uint64_t diff = deadline ^ now;

	if (diff < BL__WHEEL_SLOTS)
		return 0;

	unsigned level = (unsigned)(63 - __builtin_clzll(diff)) / GROUP_BITS;
	return level < TOP_LEVEL ? level : TOP_LEVEL;
}

/* Slot lists are circular, so the head's `prev` is the tail and appending is O(1). */
static void append(bl__wheel_t *wheel, bl__wheel_entry_t *entry, unsigned level, unsigned slot)
{
	bl__wheel_entry_t **head = &wheel->slots[level][slot];

	entry->level = (uint8_t)level;
	entry->slot = (uint8_t)slot;

	if (*head == NULL) {
		entry->next = entry;
		entry->prev = entry;
		*head = entry;
		wheel->occupied[level] |= UINT64_C(1) << slot;
		return;
	}

	bl__wheel_entry_t *tail = (*head)->prev;
	entry->prev = tail;
	entry->next = *head;
	tail->next = entry;
	(*head)->prev = entry;
}

static void unlink_entry(bl__wheel_t *wheel, bl__wheel_entry_t *entry)
{
	bl__wheel_entry_t **head = &wheel->slots[entry->level][entry->slot];

	if (entry->next == entry) {
		*head = NULL;
		wheel->occupied[entry->level] &= ~(UINT64_C(1) << entry->slot);
		return;
	}

	entry->prev->next = entry->next;
	entry->next->prev = entry->prev;
	if (*head == entry)
		*head = entry->next;
}

/* Empty a slot and return its entries as a NULL-terminated list, in list order. */
static bl__wheel_entry_t *take_slot(bl__wheel_t *wheel, unsigned level, unsigned slot)
{
	bl__wheel_entry_t *head = wheel->slots[level][slot];

	if (head == NULL)
		return NULL;

	head->prev->next = NULL;
	wheel->slots[level][slot] = NULL;
	wheel->occupied[level] &= ~(UINT64_C(1) << slot);
	return head;
}

static void file_entry(bl__wheel_t *wheel, bl__wheel_entry_t *entry)
{
	unsigned level = level_of(entry->deadline, wheel->now);

	append(wheel, entry, level, slot_of(entry->deadline, level));
}

/*
 * Return when the clock next reaches an occupied slot of a non-empty
 * `level`. On level 0 that is the earliest deadline there, and the clock's
 * own slot counts because its entries are due now. On higher levels the
 * clock's own slot was reached already, so only the next turn reaches it.
 */
static uint64_t level_next_time(const bl__wheel_t *wheel, unsigned level)
{
	unsigned shift = GROUP_BITS * level;
	uint64_t turn = UINT64_C(1) << (shift + GROUP_BITS);
	uint64_t turn_start = wheel->now & ~(turn - 1);
	uint64_t occupied = wheel->occupied[level];
	unsigned first = slot_of(wheel->now, level) + (level == 0 ? 0 : 1);

	uint64_t ahead = first < BL__WHEEL_SLOTS ? occupied & (~UINT64_C(0) << first) : 0;
	if (ahead != 0)
		return turn_start + ((uint64_t)__builtin_ctzll(ahead) << shift);

	/* Only the top level wraps, by the placement rule. */
	assert(level == TOP_LEVEL);
	return turn_start + turn + ((uint64_t)__builtin_ctzll(occupied) << shift);
}

/*
 * Re-file every slot the clock has just reached. The clock reaches slot
 * slot_of(now, L) of level L exactly when its groups below L are all zero.
 * Re-filing never lands an entry in another slot reached at this instant,
 * because each one moves below the level it came from, into a slot ahead of
 * the clock's.
 */
static void cascade(bl__wheel_t *wheel)
{
	for (unsigned level = 1; level < BL__WHEEL_LEVELS; level++) {
		uint64_t below = (UINT64_C(1) << (GROUP_BITS * level)) - 1;
		if ((wheel->now & below) != 0)
			return;

		bl__wheel_entry_t *entry = take_slot(wheel, level, slot_of(wheel->now, level));
		while (entry != NULL) {
			bl__wheel_entry_t *next = entry->next;
			file_entry(wheel, entry);
			entry = next;
		}
	}
}

/* Move the entries due at `now` (the clock's level-0 slot) to the end of `expired`. */
static void expire_due(bl__wheel_t *wheel, chain_t *expired)
{
	bl__wheel_entry_t *head = take_slot(wheel, 0, slot_of(wheel->now, 0));
	bl__wheel_entry_t *tail = NULL;

	for (bl__wheel_entry_t *entry = head; entry != NULL; entry = entry->next) {
		entry->filed = 0;
		wheel->count--;
		tail = entry;
	}

	if (head == NULL)
		return;

	if (expired->tail == NULL)
		expired->head = head;
	else
		expired->tail->next = head;
	expired->tail = tail;
}

void bl__wheel_init(bl__wheel_t *wheel, uint64_t now_ms)
{
	*wheel = (bl__wheel_t){.now = now_ms};
}

void bl__wheel_insert(bl__wheel_t *wheel, bl__wheel_entry_t *entry, uint64_t deadline_ms)
{
	/* A past deadline becomes `now`, which files the entry in the clock's own
	 * level-0 slot. The next advance empties that slot first, and keeps the
	 * entry behind older entries due now because it appends. */
	entry->deadline = deadline_ms > wheel->now ? deadline_ms : wheel->now;
	entry->seq = wheel->next_seq++;
	entry->filed = 1;

	file_entry(wheel, entry);
	wheel->count++;
}

void bl__wheel_remove(bl__wheel_t *wheel, bl__wheel_entry_t *entry)
{
	assert(entry->filed && "bl__wheel_remove: entry is not in the wheel");
	assert(wheel->count > 0);

	unlink_entry(wheel, entry);
	entry->filed = 0;
	wheel->count--;
}

bl__wheel_entry_t *bl__wheel_advance(bl__wheel_t *wheel, uint64_t now_ms)
{
	chain_t expired = {NULL, NULL};

	if (now_ms < wheel->now)
		now_ms = wheel->now;

	/* Each pass takes what is due at the clock, then jumps the clock straight
	 * to the next occupied slot, so empty milliseconds cost nothing. Positions
	 * of entries the jump passes over stay correct because no occupied slot
	 * is reached in between. */
	for (;;) {
		expire_due(wheel, &expired);
		if (wheel->now == now_ms)
			break;

		uint64_t next = bl__wheel_next_expiry(wheel);
		assert(next > wheel->now);
		if (next > now_ms) {
			wheel->now = now_ms;
			break;
		}

		wheel->now = next;
		cascade(wheel);
	}

	return expired.head;
}

uint64_t bl__wheel_next_expiry(const bl__wheel_t *wheel)
{
	/* An entry on level L is due before the clock reaches any occupied slot
	 * above L, because it lies inside the clock's current level-(L+1) slot
	 * and those slots lie beyond it. So the lowest occupied level decides. */
	for (unsigned level = 0; level < BL__WHEEL_LEVELS; level++) {
		if (wheel->occupied[level] != 0)
			return level_next_time(wheel, level);
	}

	return UINT64_MAX;
}
