/*
 * The keyed hash (keyed_hash.h). The key is drawn at the first call.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <beamline/keyed_hash.h>

static unsigned char key[crypto_shorthash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Fill `key` from getrandom(2). Should that fail (a kernel without it),
 * the clock, the process id and an address still vary the key from one
 * run to the next, though a local user could guess it. */
static void draw_key(void)
{
	if (getrandom(key, sizeof key, 0) == (ssize_t)sizeof key)
		return;

	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t parts[2] = {(uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32), (uint64_t)getpid() ^ (uintptr_t)&ts};
	memcpy(key, parts, sizeof key < sizeof parts ? sizeof key : sizeof parts);
}

uint64_t bl_keyed_hash(const void *data, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	pthread_once(&key_once, draw_key);
	crypto_shorthash(out, data, len, key);
	memcpy(&h, out, sizeof h);
	return h;
}
