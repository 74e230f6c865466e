/*
 * Lines of job text from a file or a pipe, read in large blocks and split
 * with memchr. Reading a byte at a time with getc took 42 % of a run of
 * 1 MiB put jobs.
 */
#ifndef BL_ENGINE_LINE_READER_H
#define BL_ENGINE_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct bl_line_reader {
	int fd;       /* borrowed */
	size_t max;   /* maximum bytes of a line */
	char *buf;
	size_t cap;
	size_t start; /* first unread byte */
	size_t end;   /* one past the last byte read */
	bool eof;
	int error;    /* negative errno of a failed read, else 0 */
} bl_line_reader_t;

/* Read lines of at most `max` bytes from `fd`, which stays the caller's. */
void bl_line_reader_init(bl_line_reader_t *r, int fd, size_t max);

void bl_line_reader_free(bl_line_reader_t *r);

/*
 * Return the length of the next line, without its '\n', and point *line
 * at it, NUL-terminated and valid until the next call. A last line
 * without '\n' counts. A line longer than max is read to its end and
 * dropped: the call sets *too_long and returns max, with *line empty, so
 * that one bad line cannot make the reader hold without bound. Returns -1
 * at the end of the input, or when a read fails or memory runs out; then
 * r->error is the negative errno or BL_ENOMEM.
 */
ssize_t bl_line_reader_next(bl_line_reader_t *r, char **line, bool *too_long);

#endif
