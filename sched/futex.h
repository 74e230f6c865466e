/*
 * Thin wrappers over the Linux futex system call on a 32-bit atomic word.
 */
#ifndef BL_SCHED_FUTEX_H
#define BL_SCHED_FUTEX_H

#include <stdint.h>
#include <time.h>

/*
 * Sleep while *word == expected, until woken, interrupted, or (when
 * `timeout` is not NULL) the relative time passes. Returns 0 when woken,
 * -EAGAIN when *word already differed, -EINTR or -ETIMEDOUT. Callers loop:
 * a return says nothing about the word's new value.
 */
int bl__futex_wait(uint32_t _Atomic *word, uint32_t expected, const struct timespec *timeout);

/* Wake up to `count` threads sleeping on `word`. */
void bl__futex_wake(uint32_t _Atomic *word, int count);

#endif
