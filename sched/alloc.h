/*
 * Size-class allocator for messages, tasks and actors.
 *
 * Objects of one size class are carved from 64 KiB chunks, themselves cut
 * from 2 MiB regions that the kernel is asked to back with transparent huge
 * pages, and recycled
 * through free lists that are arrays of pointers: one per class in each
 * thread's cache (no atomics on the hot path), and one per class shared by
 * all threads behind a mutex, which moves memory between threads in
 * batches, since a message is usually freed on a different thread than the
 * one that allocated it. Freeing never writes into the object: a message
 * freed by its consumer's core is not pulled back into that core's cache
 * in modified state, so the producer's core that reuses it takes one cache
 * miss instead of two. Chunks are never returned to the system while their
 * arena exists.
 *
 * An arena is a set of classes with its own chunks. Messages and tasks use
 * one process-wide arena with a thread-local cache. Each runtime owns an
 * arena for its actors, cached per worker, so that shutdown can walk every
 * actor the runtime ever carved (bl__arena_walk) and free them all.
 *
 * The allocator writes into an object only once: it zeroes the first 16
 * bytes when it carves the object from a chunk. Owners that walk an arena
 * mark live objects by keeping an odd value in their second word and
 * clearing it before freeing; those 16 bytes of a free object stay readable
 * under AddressSanitizer, and the rest is poisoned.
 */
#ifndef BL_SCHED_ALLOC_H
#define BL_SCHED_ALLOC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Classes: 16-byte steps up to 256, then four per power of two up to 8 KiB. */
#define BL__CLASS_COUNT 36u
#define BL__CLASS_LARGE 0xFFFFu
#define BL__CLASS_MAX_SIZE 8192u

struct bl__chunk;

/* A stack of free objects. */
typedef struct bl__free_stack {
	void **items;
	uint32_t count;
	uint32_t capacity;
} bl__free_stack_t;

typedef struct bl__arena_class {
	pthread_mutex_t lock;
	bl__free_stack_t free;
	struct bl__chunk *carving; /* newest chunk of the class; NULL before the first */
} bl__arena_class_t;

typedef struct bl__chunk {
	struct bl__chunk *next;
	unsigned cls;
	unsigned char *end;   /* carved high-water mark; objects lie in [data, end) */
	_Alignas(64) unsigned char data[];
} bl__chunk_t;

typedef struct bl__arena {
	pthread_mutex_t chunk_lock;
	/* Guarded by chunk_lock. */
	bl__chunk_t *chunks;
	unsigned char *region_next;    /* next chunk of the newest region */
	unsigned char *region_end;
	void **regions;                /* every region, for bl__arena_destroy */
	size_t region_count;
	bl__arena_class_t classes[BL__CLASS_COUNT];
} bl__arena_t;

/* Free objects held by one thread for one arena. */
typedef struct bl__cache {
	bl__arena_t *arena;
	bl__free_stack_t classes[BL__CLASS_COUNT];
} bl__cache_t;

/* Return the class for an object of `size` bytes, or BL__CLASS_LARGE above
 * BL__CLASS_MAX_SIZE. */
unsigned bl__class_of(size_t size);

/* Return the object size of class `cls`. */
size_t bl__class_size(unsigned cls);

/* Initialise an empty arena. Returns 0 or -errno. */
int bl__arena_init(bl__arena_t *arena);

/* Release every chunk of the arena; every object in it becomes invalid.
 * No thread may use the arena or a cache of it afterwards. */
void bl__arena_destroy(bl__arena_t *arena);

/*
 * Call visit(obj, ctx) for every object carved from `arena` in class order,
 * live or free. The caller must ensure no thread allocates from or frees to
 * the arena meanwhile.
 */
void bl__arena_walk(bl__arena_t *arena, void (*visit)(void *obj, void *ctx), void *ctx);

/* Bind an empty cache to `arena`. */
void bl__cache_init(bl__cache_t *cache, bl__arena_t *arena);

/* Return every object of the cache to its arena's shared lists and free
 * the cache's own arrays. The cache may be used again afterwards. */
void bl__cache_flush(bl__cache_t *cache);

/* Allocate an object of class `cls` through `cache`, or NULL when memory
 * runs out. */
void *bl__cache_alloc(bl__cache_t *cache, unsigned cls);

/* Free an object of class `cls` into `cache`. */
void bl__cache_free(bl__cache_t *cache, unsigned cls, void *obj);

/* Allocate or free through the arena's shared lists, for threads without a
 * cache of that arena. Slower: takes the class lock. */
void *bl__arena_alloc(bl__arena_t *arena, unsigned cls);
void bl__arena_free(bl__arena_t *arena, unsigned cls, void *obj);

/*
 * Allocate or free `size` bytes from the process-wide arena for messages
 * and tasks, through the calling thread's cache. Sizes above
 * BL__CLASS_MAX_SIZE go to malloc; *cls receives the class to pass back to
 * bl__shared_free.
 */
void *bl__shared_alloc(size_t size, unsigned *cls);
void bl__shared_free(void *obj, unsigned cls);

/*
 * Objects of the shared arena allocated and not yet freed: the count of
 * threads that have exited plus the calling thread's own, so it is exact
 * once every other thread that used the arena has exited. Leaked messages
 * and tasks sit in the arena, where LeakSanitizer cannot see them; tests
 * compare this count before and after a runtime's life.
 */
int64_t bl__shared_live_objects(void);

#endif
