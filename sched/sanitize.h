/*
 * Hooks into the sanitizers and the last-resort abort path.
 */
#ifndef BL_SCHED_SANITIZE_H
#define BL_SCHED_SANITIZE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* Mark memory the allocator holds as unusable, so AddressSanitizer reports
 * a use after free of a recycled object as it would for malloc. */
#define bl__poison(addr, size) ASAN_POISON_MEMORY_REGION((addr), (size))
#define bl__unpoison(addr, size) ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#else
#define bl__poison(addr, size) ((void)(addr), (void)(size))
#define bl__unpoison(addr, size) ((void)(addr), (void)(size))
#endif

/*
 * Print `why` to stderr and abort. For states the runtime cannot continue
 * from (a mutex that fails to initialise, a broken invariant); never for
 * errors a caller can handle. Does not allocate.
 */
_Noreturn void bl__die(const char *why);

#endif
