/* Buffers that the kernel copies file contents into. */
#ifndef BEAMLINE_READ_BUFFER_H
#define BEAMLINE_READ_BUFFER_H

#include <stddef.h>

/*
 * Allocate `len` bytes (at least 1) for reading a file into. Returns the
 * buffer, or NULL when memory runs out; *block receives the pointer to
 * pass to free(), which is not always the buffer itself.
 *
 * The buffer never starts less than 32 bytes into a page: one that malloc
 * would start there moves to BL_READ_BUFFER_OFFSET. That keeps the copies
 * from the page cache into it, and from it into a block from malloc, on
 * the fast path of rep movsb (read_buffer.c explains).
 */
void *bl_read_buffer_alloc(size_t len, void **block);

#define BL_READ_BUFFER_OFFSET 64u

#endif
