/* Buffers that the kernel copies file contents into. */
#ifndef BEAMLINE_READ_BUFFER_H
#define BEAMLINE_READ_BUFFER_H

#include <stddef.h>

/*
 * Allocate `len` bytes (at least 1) for reading a file into. Returns the
 * buffer, or NULL when memory runs out; *block receives the pointer to
 * pass to free(), which is not always the buffer itself.
 *
 * A buffer of a page or more starts BL_READ_BUFFER_OFFSET bytes into a
 * page, which keeps the copies from the page cache into it, and from it
 * into a block from malloc, on the fast path of rep movsb (read_buffer.c
 * explains).
 */
void *bl_read_buffer_alloc(size_t len, void **block);

#define BL_READ_BUFFER_OFFSET 64u

#endif
