#define _DEFAULT_SOURCE /* madvise */

#include "alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sanitize.h"

#define CHUNK_SIZE (64u * 1024u)

/*
 * Chunks are cut from regions of one huge page. A message backlog of
 * hundreds of megabytes is walked in an order unrelated to its addresses,
 * so with 4 KiB pages nearly every message costs a TLB miss. Measured with the
 * fjthroughput benchmark (2 workers, 12 M messages): about 3.2 s with
 * 4 KiB pages, about 1.1 s with huge pages.
 */
#define REGION_SIZE (2u * 1024u * 1024u)

/* Bytes of a free object that stay readable under AddressSanitizer: owners
 * that walk an arena read the second word to tell live objects from free
 * ones. */
#define FREE_PREFIX 16u

static const uint32_t class_sizes[BL__CLASS_COUNT] = {
	16,   32,   48,   64,   80,   96,   112,  128,  144,  160,  176,  192,
	208,  224,  240,  256,  320,  384,  448,  512,  640,  768,  896,  1024,
	1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
};

unsigned bl__class_of(size_t size)
{
	if (size <= 256)
		return size == 0 ? 0 : (unsigned)((size + 15) / 16 - 1);
	for (unsigned cls = 16; cls < BL__CLASS_COUNT; cls++) {
		if (size <= class_sizes[cls])
			return cls;
	}
	return BL__CLASS_LARGE;
}

size_t bl__class_size(unsigned cls)
{
	return class_sizes[cls];
}

/* Objects moved between a cache and the shared stack at a time: about
 * 4 KiB worth, at least 8 and at most 256. A cache holds up to twice that. */
static uint32_t batch_objects(unsigned cls)
{
	uint32_t n = 4096u / class_sizes[cls];
	if (n < 8)
		return 8;
	return n > 256 ? 256 : n;
}

static void poison_free(void *obj, unsigned cls)
{
	bl__poison((unsigned char *)obj + FREE_PREFIX, class_sizes[cls] - FREE_PREFIX);
}

/* ------------------------------------------------------------------------ */
/* Free stacks                                                               */
/* ------------------------------------------------------------------------ */

static int stack_reserve(bl__free_stack_t *s, uint32_t capacity)
{
	if (s->capacity >= capacity)
		return 0;

	void **items = realloc(s->items, capacity * sizeof *items);
	if (!items)
		return -ENOMEM;
	s->items = items;
	s->capacity = capacity;
	return 0;
}

/* Move the `n` objects at the bottom of `from` (the oldest) onto `to`. */
static void stack_move_bottom(bl__free_stack_t *to, bl__free_stack_t *from, uint32_t n)
{
	memcpy(to->items + to->count, from->items, n * sizeof *from->items);
	to->count += n;
	memmove(from->items, from->items + n, (from->count - n) * sizeof *from->items);
	from->count -= n;
}

/* Move the `n` objects at the top of `from` onto `to`. */
static void stack_move_top(bl__free_stack_t *to, bl__free_stack_t *from, uint32_t n)
{
	from->count -= n;
	memcpy(to->items + to->count, from->items + from->count, n * sizeof *from->items);
	to->count += n;
}

/* ------------------------------------------------------------------------ */
/* Arenas                                                                    */
/* ------------------------------------------------------------------------ */

int bl__arena_init(bl__arena_t *arena)
{
	memset(arena, 0, sizeof *arena);
	int rc = pthread_mutex_init(&arena->chunk_lock, NULL);
	if (rc != 0)
		return -rc;

	for (unsigned cls = 0; cls < BL__CLASS_COUNT; cls++) {
		rc = pthread_mutex_init(&arena->classes[cls].lock, NULL);
		if (rc != 0) {
			while (cls-- > 0)
				pthread_mutex_destroy(&arena->classes[cls].lock);
			pthread_mutex_destroy(&arena->chunk_lock);
			return -rc;
		}
	}
	return 0;
}

void bl__arena_destroy(bl__arena_t *arena)
{
	for (size_t i = 0; i < arena->region_count; i++) {
		bl__unpoison(arena->regions[i], REGION_SIZE);
		free(arena->regions[i]);
	}
	free(arena->regions);

	for (unsigned cls = 0; cls < BL__CLASS_COUNT; cls++) {
		free(arena->classes[cls].free.items);
		pthread_mutex_destroy(&arena->classes[cls].lock);
	}
	pthread_mutex_destroy(&arena->chunk_lock);
	memset(arena, 0, sizeof *arena);
}

void bl__arena_walk(bl__arena_t *arena, void (*visit)(void *obj, void *ctx), void *ctx)
{
	for (bl__chunk_t *chunk = arena->chunks; chunk; chunk = chunk->next) {
		size_t size = class_sizes[chunk->cls];
		for (unsigned char *obj = chunk->data; obj + size <= chunk->end; obj += size)
			visit(obj, ctx);
	}
}

/* Start a region. Requires: chunk_lock held. */
static int add_region_locked(bl__arena_t *arena)
{
	void **regions = realloc(arena->regions, (arena->region_count + 1) * sizeof *regions);
	if (!regions)
		return -ENOMEM;
	arena->regions = regions;

	unsigned char *region = aligned_alloc(REGION_SIZE, REGION_SIZE);
	if (!region)
		return -ENOMEM;
#ifdef MADV_HUGEPAGE
	/* Advice only: without transparent huge pages the region still works. */
	int saved = errno;
	madvise(region, REGION_SIZE, MADV_HUGEPAGE);
	errno = saved;
#endif
	bl__poison(region, REGION_SIZE);

	arena->regions[arena->region_count++] = region;
	arena->region_next = region;
	arena->region_end = region + REGION_SIZE;
	return 0;
}

static bl__chunk_t *new_chunk(bl__arena_t *arena, unsigned cls)
{
	bl__chunk_t *chunk = NULL;

	pthread_mutex_lock(&arena->chunk_lock);
	if (arena->region_next == arena->region_end && add_region_locked(arena) != 0)
		goto out;

	chunk = (bl__chunk_t *)arena->region_next;
	arena->region_next += CHUNK_SIZE;
	bl__unpoison(chunk, offsetof(bl__chunk_t, data));
	chunk->cls = cls;
	chunk->end = chunk->data;
	chunk->next = arena->chunks;
	arena->chunks = chunk;
out:
	pthread_mutex_unlock(&arena->chunk_lock);
	return chunk;
}

/*
 * Carve up to `want` fresh objects from the class's newest chunk onto `to`,
 * which has room for them, starting a chunk when the newest is used up.
 * Returns how many were carved; 0 when no chunk can be allocated. Only
 * each object's first FREE_PREFIX bytes are written (zeroed).
 */
/* Requires: the class lock held. */
static uint32_t carve_locked(bl__arena_t *arena, unsigned cls, bl__free_stack_t *to, uint32_t want)
{
	bl__arena_class_t *c = &arena->classes[cls];
	size_t size = class_sizes[cls];
	unsigned char *limit = c->carving ? (unsigned char *)c->carving + CHUNK_SIZE : NULL;

	if (!c->carving || c->carving->end + size > limit) {
		c->carving = new_chunk(arena, cls);
		if (!c->carving)
			return 0;
		limit = (unsigned char *)c->carving + CHUNK_SIZE;
	}

	uint32_t n = 0;
	while (n < want && c->carving->end + size <= limit) {
		/* A carved object reads as free to an arena walk even before its
		 * first use: region memory may hold stale bytes. */
		bl__unpoison(c->carving->end, FREE_PREFIX);
		memset(c->carving->end, 0, FREE_PREFIX);
		to->items[to->count++] = c->carving->end;
		c->carving->end += size;
		n++;
	}
	return n;
}

/* Refill an empty cache stack with up to one batch. Returns how many
 * objects it now holds. */
static uint32_t refill(bl__arena_t *arena, unsigned cls, bl__free_stack_t *to)
{
	bl__arena_class_t *c = &arena->classes[cls];
	uint32_t batch = batch_objects(cls);

	pthread_mutex_lock(&c->lock);
	if (c->free.count > 0)
		stack_move_top(to, &c->free, c->free.count < batch ? c->free.count : batch);
	else
		carve_locked(arena, cls, to, batch);
	pthread_mutex_unlock(&c->lock);
	return to->count;
}

/* Move the `n` oldest objects of a cache stack to the shared stack. Returns
 * false when the shared stack cannot grow; nothing moves then. */
static bool spill(bl__arena_t *arena, unsigned cls, bl__free_stack_t *from, uint32_t n)
{
	bl__arena_class_t *c = &arena->classes[cls];
	bool ok;

	pthread_mutex_lock(&c->lock);
	/* Grow by doubling, so the copies of a growing stack stay linear. */
	uint32_t needed = c->free.count + n;
	ok = needed <= c->free.capacity ||
	     stack_reserve(&c->free, needed < 64 ? 64 : needed * 2) == 0;
	if (ok)
		stack_move_bottom(&c->free, from, n);
	pthread_mutex_unlock(&c->lock);
	return ok;
}

void *bl__arena_alloc(bl__arena_t *arena, unsigned cls)
{
	bl__arena_class_t *c = &arena->classes[cls];
	void *obj = NULL;
	void *one[1];
	bl__free_stack_t fresh = {.items = one, .capacity = 1};

	pthread_mutex_lock(&c->lock);
	if (c->free.count > 0)
		obj = c->free.items[--c->free.count];
	else if (carve_locked(arena, cls, &fresh, 1) == 1)
		obj = one[0];
	pthread_mutex_unlock(&c->lock);

	if (obj)
		bl__unpoison(obj, class_sizes[cls]);
	return obj;
}

void bl__arena_free(bl__arena_t *arena, unsigned cls, void *obj)
{
	bl__arena_class_t *c = &arena->classes[cls];

	poison_free(obj, cls);
	pthread_mutex_lock(&c->lock);
	bool ok = c->free.count < c->free.capacity ||
		  stack_reserve(&c->free, c->free.capacity ? c->free.capacity * 2 : 64) == 0;
	if (ok)
		c->free.items[c->free.count++] = obj;
	pthread_mutex_unlock(&c->lock);

	/* NOTE: when even the stack of free objects cannot grow, memory is
	 * already exhausted. The object then stays unused, but valid, until
	 * its arena is destroyed. */
	(void)ok;
}

/* ------------------------------------------------------------------------ */
/* Caches                                                                    */
/* ------------------------------------------------------------------------ */

void bl__cache_init(bl__cache_t *cache, bl__arena_t *arena)
{
	memset(cache, 0, sizeof *cache);
	cache->arena = arena;
}

void bl__cache_flush(bl__cache_t *cache)
{
	for (unsigned cls = 0; cls < BL__CLASS_COUNT; cls++) {
		bl__free_stack_t *s = &cache->classes[cls];
		while (s->count > 0) {
			if (!spill(cache->arena, cls, s, s->count)) {
				for (uint32_t i = 0; i < s->count; i++)
					bl__arena_free(cache->arena, cls, s->items[i]);
				s->count = 0;
			}
		}
		free(s->items);
		s->items = NULL;
		s->capacity = 0;
	}
}

void *bl__cache_alloc(bl__cache_t *cache, unsigned cls)
{
	bl__free_stack_t *s = &cache->classes[cls];

	if (s->count == 0) {
		if (stack_reserve(s, 2 * batch_objects(cls)) != 0)
			return bl__arena_alloc(cache->arena, cls);
		if (refill(cache->arena, cls, s) == 0)
			return NULL;
	}

	void *obj = s->items[--s->count];
	bl__unpoison(obj, class_sizes[cls]);
	return obj;
}

void bl__cache_free(bl__cache_t *cache, unsigned cls, void *obj)
{
	bl__free_stack_t *s = &cache->classes[cls];

	poison_free(obj, cls);
	if (s->count == s->capacity) {
		uint32_t batch = batch_objects(cls);
		if (s->capacity < 2 * batch && stack_reserve(s, 2 * batch) != 0) {
			bl__arena_free(cache->arena, cls, obj);
			return;
		}
		/* Full: hand the oldest batch to other threads, keep the warm
		 * objects freed last. */
		if (s->count == s->capacity && !spill(cache->arena, cls, s, batch)) {
			bl__arena_free(cache->arena, cls, obj);
			return;
		}
	}
	s->items[s->count++] = obj;
}

/* ------------------------------------------------------------------------ */
/* The process-wide arena for messages and tasks                            */
/* ------------------------------------------------------------------------ */

static bl__arena_t shared_arena;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static pthread_key_t shared_key;
static _Thread_local bl__cache_t shared_cache;
static _Thread_local bool shared_cache_ready;
/* Allocations minus frees on this thread, and of the threads that exited. */
static _Thread_local int64_t shared_live;
static int64_t _Atomic shared_live_exited;

/* Runs at thread exit: hand the thread's cached objects to other threads. */
static void flush_at_exit(void *cache)
{
	bl__cache_flush(cache);
	atomic_fetch_add_explicit(&shared_live_exited, shared_live, memory_order_relaxed);
	shared_live = 0;
}

static void init_shared(void)
{
	if (bl__arena_init(&shared_arena) != 0 || pthread_key_create(&shared_key, flush_at_exit) != 0)
		bl__die("cannot initialise the shared allocator");
}

static bl__cache_t *thread_cache(void)
{
	if (__builtin_expect(!shared_cache_ready, 0)) {
		pthread_once(&shared_once, init_shared);
		bl__cache_init(&shared_cache, &shared_arena);
		pthread_setspecific(shared_key, &shared_cache);
		shared_cache_ready = true;
	}
	return &shared_cache;
}

void *bl__shared_alloc(size_t size, unsigned *cls)
{
	bl__cache_t *cache = thread_cache();
	void *obj;

	*cls = bl__class_of(size);
	if (*cls == BL__CLASS_LARGE)
		obj = malloc(size);
	else
		obj = bl__cache_alloc(cache, *cls);
	shared_live += obj != NULL;
	return obj;
}

void bl__shared_free(void *obj, unsigned cls)
{
	bl__cache_t *cache = thread_cache();

	shared_live--;
	if (cls == BL__CLASS_LARGE) {
		free(obj);
		return;
	}
	bl__cache_free(cache, cls, obj);
}

int64_t bl__shared_live_objects(void)
{
	return atomic_load_explicit(&shared_live_exited, memory_order_relaxed) + shared_live;
}
