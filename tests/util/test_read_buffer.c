/*
 * Buffers for file reads: small ones come from malloc, those of a page or
 * more start BL_READ_BUFFER_OFFSET bytes into a page, every byte of the
 * requested length is usable, and an impossible size fails cleanly.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/read_buffer.h>

Test(util_read_buffer, large_buffers_start_inside_a_page)
{
	static const size_t sizes[] = {4096, 4097, 65536, 1u << 20, (1u << 20) + 1};
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		void *block = NULL;
		unsigned char *buf = bl_read_buffer_alloc(sizes[k], &block);
		cr_assert_not_null(buf, "no buffer for %zu bytes", sizes[k]);
		cr_assert_eq((uintptr_t)buf % 4096, BL_READ_BUFFER_OFFSET, "%zu bytes start at page offset %zu",
			     sizes[k], (size_t)((uintptr_t)buf % 4096));
		memset(buf, 0xA5, sizes[k]); /* the sanitizer checks every byte */
		free(block);
	}
}

Test(util_read_buffer, small_buffers_come_from_malloc)
{
	static const size_t sizes[] = {0, 1, 4095};
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		void *block = NULL;
		unsigned char *buf = bl_read_buffer_alloc(sizes[k], &block);
		cr_assert_not_null(buf, "no buffer for %zu bytes", sizes[k]);
		cr_assert_eq((void *)buf, block, "a small buffer is its own block");
		memset(buf, 0x5A, sizes[k] ? sizes[k] : 1);
		free(block);
	}
}

Test(util_read_buffer, impossible_size_fails)
{
	void *block = &block;
	cr_assert_null(bl_read_buffer_alloc(SIZE_MAX, &block));
	cr_assert_null(block, "a failed allocation leaves nothing to free");
}
