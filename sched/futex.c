#define _GNU_SOURCE /* syscall */

#include "futex.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel reads the word itself; an _Atomic uint32_t has the layout of a
 * uint32_t on every target that has futexes. */
static uint32_t *plain(uint32_t _Atomic *word)
{
	return (uint32_t *)(uintptr_t)word;
}

int bl__futex_wait(uint32_t _Atomic *word, uint32_t expected, const struct timespec *timeout)
{
	int saved = errno;
	long rc = syscall(SYS_futex, plain(word), FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
	int err = rc == 0 ? 0 : -errno;
	errno = saved;
	return err;
}

void bl__futex_wake(uint32_t _Atomic *word, int count)
{
	int saved = errno;
	syscall(SYS_futex, plain(word), FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
	errno = saved;
}
