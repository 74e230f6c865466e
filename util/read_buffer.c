/*
 * Buffers for file reads (read_buffer.h).
 *
 * This was measured on one AMD EPYC machine, which has FSRM. There a
 * copy with rep movsb ran ten to twenty times slower when the destination
 * lay 4 to 28 bytes past the source modulo 4096, in steps of 4. At 0 and
 * from 32 on it ran at full speed. Both the kernel's copy to user space
 * and glibc's memcpy of a few KiB and more use rep movsb there.
 *
 * Page cache pages start at offset 0, so a 64 KiB read from the page
 * cache took 24 us into a buffer at offset 16 and 2.4 us at offset 64.
 * malloc puts the blocks it maps on their own (from 128 KiB, at first)
 * at offset 16. A buffer at offset 64 is on the fast path for the read,
 * and for a later memcpy from it into such a block. Buffers under a page
 * come from malloc.
 */
#include <beamline/read_buffer.h>

#include <stdint.h>
#include <stdlib.h>

#define PAGE_BYTES 4096u

void *bl_read_buffer_alloc(size_t len, void **block)
{
	if (len < PAGE_BYTES) {
		*block = malloc(len ? len : 1);
		return *block;
	}
	if (len > SIZE_MAX - BL_READ_BUFFER_OFFSET - PAGE_BYTES) {
		*block = NULL;
		return NULL;
	}

	size_t pages = (len + BL_READ_BUFFER_OFFSET + PAGE_BYTES - 1) / PAGE_BYTES;
	*block = aligned_alloc(PAGE_BYTES, pages * PAGE_BYTES);
	return *block ? (unsigned char *)*block + BL_READ_BUFFER_OFFSET : NULL;
}
