/*
 * Buffers for file reads never start less than 32 bytes into a page,
 * every byte of the requested length is usable, and an impossible size
 * fails cleanly.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/read_buffer.h>

/* Sizes around malloc's own mapping threshold, with blocks of other
 * sizes kept alive in between so that the buffers land at many offsets. */
Test(util_read_buffer, buffers_avoid_the_page_start)
{
	static const size_t sizes[] = {0, 1, 4095, 4096, 65536, 128 * 1024, 1u << 20, (1u << 20) + 1};
	void *kept[64] = {0};

	for (size_t round = 0; round < 64; round++) {
		kept[round] = malloc(16 * (round + 1));
		for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
			void *block = NULL;
			unsigned char *buf = bl_read_buffer_alloc(sizes[k], &block);
			cr_assert_not_null(buf, "no buffer for %zu bytes", sizes[k]);
			size_t offset = (uintptr_t)buf % 4096;
			cr_assert_geq(offset, 32, "%zu bytes start at page offset %zu", sizes[k], offset);
			memset(buf, 0xA5, sizes[k]); /* the sanitizer checks every byte */
			free(block);
		}
	}
	for (size_t round = 0; round < 64; round++)
		free(kept[round]);
}

Test(util_read_buffer, impossible_size_fails)
{
	void *block = &block;
	cr_assert_null(bl_read_buffer_alloc(SIZE_MAX, &block));
	cr_assert_null(block, "a failed allocation leaves nothing to free");
}
