/*
 * The keyed hash: stable within a process, keyed differently in each
 * process, and spread over the low bits that slot indexes use, for keys
 * as alike as job ids in a sequence.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <beamline/keyed_hash.h>

#define KEYS 65536
#define SLOTS 1024

static uint64_t hash_text(const char *text)
{
	return bl_keyed_hash(text, strlen(text));
}

/* The hash of "job-1" in a new child process, which draws its own key. */
static uint64_t hash_in_child(void)
{
	int fds[2];
	uint64_t h = 0;
	cr_assert_eq(pipe(fds), 0);

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint64_t mine = hash_text("job-1");
		_exit(write(fds[1], &mine, sizeof mine) == (ssize_t)sizeof mine ? 0 : 1);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &h, sizeof h), (ssize_t)sizeof h);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return h;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

Test(util_keyed_hash, same_key_same_hash)
{
	cr_assert_eq(hash_text("acme.job-1"), hash_text("acme.job-1"));
	cr_assert_neq(hash_text("acme.job-1"), hash_text("acme.job-2"));
	cr_assert_eq(bl_keyed_hash("", 0), bl_keyed_hash("x", 0), "no bytes hash alike whatever the pointer");
}

Test(util_keyed_hash, each_process_has_own_key)
{
	uint64_t first = hash_in_child();
	uint64_t second = hash_in_child();

	cr_assert_neq(first, second, "two processes hashed \"job-1\" alike: the key is not drawn per process");
}

/* 65,536 ids in a sequence: no two share a hash, and their low 10 bits
 * fill 1,024 slots as evenly as random numbers would. The chi-square of
 * the slot counts (1,023 degrees of freedom: mean 1,023, standard
 * deviation 45) stays under 1,300, six standard deviations up, so a
 * fresh key fails the check about once in a billion runs. */
Test(util_keyed_hash, sequential_ids_spread)
{
	uint64_t *hashes = malloc(KEYS * sizeof *hashes);
	unsigned counts[SLOTS] = {0};
	char id[32];
	cr_assert_not_null(hashes);

	for (unsigned i = 0; i < KEYS; i++) {
		snprintf(id, sizeof id, "acme.job-%u", i);
		hashes[i] = hash_text(id);
		counts[hashes[i] % SLOTS]++;
	}
	qsort(hashes, KEYS, sizeof *hashes, compare_u64);

	for (unsigned i = 1; i < KEYS; i++)
		cr_assert_neq(hashes[i], hashes[i - 1], "two ids share the hash %016llx", (unsigned long long)hashes[i]);
	double expected = (double)KEYS / SLOTS, chi_square = 0;
	for (unsigned s = 0; s < SLOTS; s++)
		chi_square += (counts[s] - expected) * (counts[s] - expected) / expected;
	cr_assert_lt(chi_square, 1300, "the slot counts are uneven: chi-square %.1f", chi_square);
	free(hashes);
}
