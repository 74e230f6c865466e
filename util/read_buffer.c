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
 * at offset 16, and a memcpy from a buffer at offset 0 into such a block
 * is slow too. So a buffer that malloc places at offset 0 or 16 moves to
 * offset 64, within 64 bytes of slack. The block stays an ordinary malloc
 * block: aligned_alloc of each buffer instead made glibc map and unmap
 * 1 MiB buffers for every read, which cost more than the slow copy.
 */
#include <beamline/read_buffer.h>

#include <stdint.h>
#include <stdlib.h>

#define PAGE_BYTES 4096u
/* Page offsets below this put a buffer on the slow path. */
#define SLOW_BELOW 32u

void *bl_read_buffer_alloc(size_t len, void **block)
{
	if (len > SIZE_MAX - BL_READ_BUFFER_OFFSET) {
		*block = NULL;
		return NULL;
	}

	unsigned char *buf = malloc(len + BL_READ_BUFFER_OFFSET);
	*block = buf;
	if (!buf)
		return NULL;
	size_t offset = (uintptr_t)buf % PAGE_BYTES;
	return offset < SLOW_BELOW ? buf + (BL_READ_BUFFER_OFFSET - offset) : buf;
}
